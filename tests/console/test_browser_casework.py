"""Issue 16's casework in a real headless Chromium, on a desktop and on a 390 px phone.

- Repair paths (16.2): after an in-warranty decision the engineer starts an in-house
  repair (its 7-working-day limit shown) and finishes it with the old part handed back;
  sends the part to the vendor (RMA): the progress update says so, the chase falls due
  three days later and reaches the ticket's reminders; the product manager's promised
  date is stored and said; the part comes back; a replacement unit goes out and returns.
- Seed 002 live (16.7): under ``--policy seed002`` the ticket shows its fault level
  with the response clocks; the engineer changes the level (reason recorded) and
  registers a complaint, shown with its 2 h first-reply and 15-day clocks, then closes it.
- On-call duty (16.8): the manager puts 李四 on the November rota; a Sunday ticket
  is routed to him; he records a call and a visit with their durations; the duty page
  counts them; he submits the month's hand-over.
- Suggestions (16.9): a resolved ticket asks for a suggestion, the customer gives one;
  the manager's month shows it with its 0.1 point.

The app and browser are those of ``browser_support.py``; the repair flow is this file's
PostgreSQL run (desktop), the others run on SQLite only to keep the browser time bounded.
Screenshots go to the test's ``tmp_path`` (never committed).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bot.lifecycle import BY_NAME, parse_body
from compliance.calendar import SHANGHAI
from compliance.policy import load_policy
from tests.console.browser_support import (
    SQLITE_ONLY,
    LiveApp,
    MovableClock,
    serve_app,
    sizes_on_databases,
)
from tests.console.test_browser import assert_labelled, new_context, playwright_sync
from tests.support import MONDAY_10

WAIT_MS = 20_000
SIZES = {"desktop": (1366, 900), "phone": (390, 844)}
ACCOUNTS = {
    "1818": ("zhangsan", "demo1818"),
    "2046": ("lisi", "demo2046"),
    "9001": ("manager", "demo9001"),
}
SUNDAY_11 = datetime(2026, 11, 22, 11, 0, tzinfo=SHANGHAI)
FITS = "() => document.documentElement.scrollWidth <= window.innerWidth + 1"


@pytest.fixture
def seed002_app(live_db_url: str) -> Iterator[LiveApp]:
    clock = MovableClock(MONDAY_10)
    with serve_app(
        live_db_url, clock, instance_id="browser-seed002", policy=load_policy("seed002")
    ) as app:
        yield app


@pytest.fixture
def sunday_app(live_db_url: str) -> Iterator[LiveApp]:
    with serve_app(live_db_url, MovableClock(SUNDAY_11), instance_id="browser-sunday") as app:
        yield app


class Customer:
    """A web-chat customer, through the chat's own JSON API (another browser's requests)."""

    def __init__(self, browser: Any, base: str) -> None:
        self.base = base
        self.request = browser.new_context(locale="zh-CN").request
        self.visitor = self.request.post(f"{base}/chat/api/visitors", data={}).json()["visitor"]
        self.sent = 0

    def says(self, text: str) -> str:
        self.sent += 1
        said = self.request.post(
            f"{self.base}/chat/api/messages",
            data={"visitor": self.visitor, "client_id": f"client-{self.sent:04d}", "text": text},
        )
        assert said.status == 201, said.text()
        return str(said.json()["ticket"])

    def agent_lines(self) -> list[str]:
        seen = self.request.get(
            f"{self.base}/chat/api/messages", params={"visitor": self.visitor}
        ).json()
        return [m["text"] for m in seen["messages"] if m["role"] == "agent"]


def _sign_in(browser: Any, base: str, staff_no: str, size: str) -> Any:
    width, height = SIZES[size]
    page = new_context(browser, width, height).new_page()
    username, password = ACCOUNTS[staff_no]
    page.goto(f"{base}/console/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r"/console/(queue|qa|manager)"))
    return page


def _owner(app: LiveApp, number: str) -> str:
    return str(app.call(app.services.views.ticket(number))["engineer"]["staff_no"])


def _run(app: LiveApp, action: str, number: str, staff_no: str, body: dict[str, Any]) -> None:
    parsed = parse_body(BY_NAME[action].body, body, text_limit=1000)
    app.call(app.services.tickets.run(action, number, staff_no, parsed))


def _form(page: Any, action: str) -> Any:
    return page.locator(f'form.action-form[data-action="{action}"]')


def _more(page: Any) -> None:
    details = page.locator("details.more-actions")
    if details.get_attribute("open") is None:
        details.locator("> summary").click()


@pytest.mark.parametrize(
    ("size", "live_db_url"),
    sizes_on_databases({size: size for size in SIZES}, postgres="desktop"),
    indirect=["live_db_url"],
)
def test_repair_rma_and_replacement_unit(
    live_app: LiveApp, browser: Any, tmp_path: Path, size: str
) -> None:
    base = live_app.base_url
    expect = playwright_sync.expect
    expect.set_options(timeout=WAIT_MS)

    def shot(page: Any, name: str) -> None:
        page.screenshot(path=str(tmp_path / f"{size}-{name}.png"), full_page=True)

    customer = Customer(browser, base)
    number = customer.says("服务器有一块硬盘亮红灯，阵列降级了")
    owner = _owner(live_app, number)
    page = _sign_in(browser, base, owner, size)
    page.goto(f"{base}/console/tickets/{number}")
    page.get_by_role("button", name="受理", exact=True).click()
    expect(page.locator("#ticket-status")).to_have_text("处理中")
    # The warranty decision has its own browser test; here: signed for 1½ years ago, proof
    # on file, so free repair.
    _run(
        live_app,
        "warranty",
        number,
        owner,
        {"signed_for": "2025-05-20", "serial_no": "SN-RAID-7", "proof_reference": "INV-88"},
    )
    page.reload()
    panel = page.locator("#warranty-panel")
    expect(panel).to_contain_text("SN-RAID-7")

    # -- in-house repair: the 7-working-day limit, finished with the old part handed back ---
    _more(page)
    repair = _form(page, "repair")
    repair.get_by_label("进展").select_option("start")
    repair.get_by_label("维修方式").select_option("in_house")
    repair.get_by_role("button", name="维修", exact=True).click()
    jobs = page.locator("#repair-jobs")
    expect(jobs).to_contain_text("在司维修")
    # 7 working days from Monday 11-23 (朴赛 works on Saturdays): Tuesday 12-01.
    expect(jobs).to_contain_text("时限 2026-12-01")
    expect(jobs).to_contain_text("进行中")
    expect(page.locator("#progress-status")).to_contain_text("设备正在我司维修，预计")
    assert page.evaluate(FITS)
    shot(page, "01-in-house-repair")
    repair.get_by_label("进展").select_option("finish")
    repair.get_by_label(re.compile("换下的配件")).select_option("returned")
    repair.get_by_role("button", name="维修", exact=True).click()
    expect(jobs).to_contain_text("换下的配件已交客户")

    # -- the part goes to the vendor: the update pauses and says so; the chase falls due ----
    rma = _form(page, "rma")
    rma.get_by_label("进展").select_option("start")
    rma.get_by_label("厂商").fill("希捷")
    rma.get_by_role("button", name="原厂保修跟进").click()
    expect(jobs).to_contain_text("原厂保修（希捷）")
    expect(page.locator("#progress-status")).to_contain_text(
        "故障配件已送原厂保修（希捷），我们每3天跟进催促一次原厂进度"
    )
    fired = live_app.call(_fire(live_app, datetime(2026, 11, 26, 10, 5, tzinfo=SHANGHAI)))
    assert any(f.startswith("rma_chase") for f in fired), fired
    page.reload()
    expect(page.locator("#ticket-reminders")).to_contain_text("须催促原厂保修进度")
    shot(page, "02-rma-chase-due")

    # -- the product manager promises a date; then the part comes back -----------------------
    _more(page)
    rma.get_by_label("进展").select_option("promise")
    rma.get_by_label("原厂承诺返回日期").fill("2026-12-04")
    rma.get_by_role("button", name="原厂保修跟进").click()
    expect(jobs).to_contain_text("原厂承诺 2026-12-04 返回")
    expect(page.locator("#progress-status")).to_contain_text("原厂承诺")
    rma.get_by_label("进展").select_option("returned")
    rma.get_by_role("button", name="原厂保修跟进").click()
    expect(jobs).not_to_contain_text("进行中")

    # -- a replacement unit goes out and comes back -----------------------------------------
    loaner = _form(page, "loaner")
    loaner.get_by_label("进展").select_option("sent")
    loaner.get_by_label("备用机序列号").fill("LOAN-0042")
    loaner.get_by_label("备用机型号").fill("NF5280M6")
    loaner.get_by_role("button", name="备用机").click()
    units = page.locator("#loaners")
    expect(units).to_contain_text("LOAN-0042（NF5280M6）")
    expect(units).to_contain_text("在客户处，待换回")
    expect(page.locator("#progress-status")).to_contain_text("备用机已在您处使用")
    assert_labelled(page)
    shot(page, "03-loaner-out")
    loaner.get_by_label("进展").select_option("returned")
    loaner.get_by_role("button", name="备用机").click()
    expect(units).to_contain_text("已归还")
    expect(jobs).to_contain_text(re.compile(r"原厂保修（希捷）.*已完成"))
    shot(page, "04-repair-history")


async def _fire(app: LiveApp, moment: datetime) -> list[str]:
    app.clock.jump_to(moment)
    fired = await app.services.scheduler.run_due()
    return [f"{f.kind}:{f.detail}" for f in fired]


@SQLITE_ONLY
@pytest.mark.parametrize("size", list(SIZES))
def test_fault_level_and_complaint_under_seed002(
    seed002_app: LiveApp, browser: Any, tmp_path: Path, size: str
) -> None:
    base = seed002_app.base_url
    expect = playwright_sync.expect
    expect.set_options(timeout=WAIT_MS)
    number = Customer(browser, base).says("服务器开不了机了，业务全部中断")
    owner = _owner(seed002_app, number)
    page = _sign_in(browser, base, owner, size)
    page.goto(f"{base}/console/tickets/{number}")
    levels = page.locator("#ticket-levels")
    expect(levels).to_contain_text("一级故障")
    expect(levels).to_contain_text("响应时限30分钟，截止 11-23 10:30")
    expect(levels).to_contain_text("投诉无")
    page.get_by_role("button", name="受理", exact=True).click()
    expect(page.locator("#ticket-status")).to_have_text("处理中")

    _more(page)
    change = _form(page, "fault-level")
    change.get_by_label("故障等级").select_option("L3")
    change.get_by_role("button", name="调整故障等级").click()
    reason = change.get_by_label("调整原因")
    assert reason.evaluate("el => el.validity.valueMissing")  # the browser asks for the reason
    expect(levels).to_contain_text("一级故障")
    reason.fill("客户确认只是开机变慢，业务未中断")
    change.get_by_role("button", name="调整故障等级").click()
    expect(page.locator("#action-status")).to_contain_text("已完成")
    page.reload()
    expect(levels).to_contain_text("三级故障")
    expect(levels).to_contain_text(
        "将故障等级由一级故障调整为三级故障：客户确认只是开机变慢，业务未中断"
    )

    _more(page)
    complaint = _form(page, "complaint")
    complaint.get_by_label("投诉", exact=True).select_option("open")
    complaint.get_by_label(re.compile("^说明")).fill("客户来电投诉响应慢")
    complaint.get_by_role("button", name="投诉跟踪").click()
    expect(page.locator("#action-status")).to_contain_text("已完成")
    page.reload()
    expect(levels).to_contain_text("处理中，首次回复截止 11-23 1")
    expect(levels).to_contain_text("处理完毕截止 12-08")
    expect(levels).to_contain_text("首次回复 2小时，15 天内处理完毕")
    expect(levels).to_contain_text("登记投诉：客户来电投诉响应慢")
    assert page.evaluate(FITS)
    assert_labelled(page)
    page.screenshot(path=str(tmp_path / f"{size}-complaint-open.png"), full_page=True)

    _more(page)
    complaint.get_by_label("投诉", exact=True).select_option("resolve")
    complaint.get_by_label(re.compile("^说明")).fill("已致电致歉，客户满意")
    complaint.get_by_role("button", name="投诉跟踪").click()
    expect(page.locator("#action-status")).to_contain_text("已完成")
    page.reload()
    expect(levels).to_contain_text("投诉已处理：已致电致歉，客户满意")
    expect(levels).not_to_contain_text("首次回复截止")


@SQLITE_ONLY
@pytest.mark.parametrize("size", list(SIZES))
def test_on_call_rota_contacts_and_hand_over(
    sunday_app: LiveApp, browser: Any, tmp_path: Path, size: str
) -> None:
    base = sunday_app.base_url
    expect = playwright_sync.expect
    expect.set_options(timeout=WAIT_MS)

    def shot(page: Any, name: str) -> None:
        page.screenshot(path=str(tmp_path / f"{size}-{name}.png"), full_page=True)

    manager = _sign_in(browser, base, "9001", size)
    manager.goto(f"{base}/console/duty?month=2026-11")
    expect(manager.locator("#duty-rota")).to_contain_text("未排班")
    rota = manager.locator("#rota-form")
    rota.get_by_label("值班工程师").select_option("2046")
    rota.get_by_label("备注").fill("十一月值班")
    rota.get_by_role("button", name="保存排班").click()
    expect(manager.locator("#duty-rota")).to_contain_text("李四")
    assert manager.evaluate(FITS)
    shot(manager, "01-rota-saved")

    # A Sunday ticket goes to the engineer on duty.
    number = Customer(browser, base).says("服务器开不了机了")
    assert _owner(sunday_app, number) == "2046"
    lisi = _sign_in(browser, base, "2046", size)
    lisi.goto(f"{base}/console/tickets/{number}")
    duty = lisi.locator("#ticket-duty")
    expect(duty).to_contain_text("休息日工单，已转2026-11值班工程师（工号 2046）")
    lisi.get_by_role("button", name="受理", exact=True).click()
    expect(lisi.locator("#ticket-status")).to_have_text("处理中")
    for kind, minutes, result in (
        ("call", "15", "电话指导客户更换电源线"),
        ("visit", "90", "上门更换电源模块"),
    ):
        _more(lisi)
        contact = _form(lisi, "contact")
        contact.get_by_label("类型").select_option(kind)
        contact.get_by_label("时长（分钟）").fill(minutes)
        contact.get_by_label("处理结果").fill(result)
        contact.get_by_role("button", name="记录通话/上门").click()
        expect(lisi.locator("#action-status")).to_contain_text("已完成")
    lisi.reload()
    expect(duty).to_contain_text("电话（值班）")
    expect(duty).to_contain_text("15分钟")
    expect(duty).to_contain_text("上门更换电源模块")
    assert_labelled(lisi)
    shot(lisi, "02-ticket-contacts")

    lisi.goto(f"{base}/console/duty?month=2026-11")
    main = lisi.locator("main")
    expect(main).to_contain_text("电话 1 通，通话时长 15分钟")
    expect(lisi.locator("#duty-tickets")).to_contain_text(number)
    expect(lisi.locator("#duty-alerts")).to_contain_text("工单已转值班工程师（通知工号 9001）")
    expect(lisi.locator("#duty-contacts")).to_contain_text("上门更换电源模块")
    expect(lisi.locator("#rota-form")).to_have_count(0)  # an engineer reads the rota only
    handover = lisi.locator("#handover-form")
    handover.get_by_label(re.compile("^交接说明")).fill("电源模块待返修，下月继续跟踪")
    handover.get_by_role("button", name="提交值班记录并交接").click()
    expect(main).to_contain_text("值班记录已提交")
    expect(lisi.locator("#handover-done")).to_contain_text("电源模块待返修，下月继续跟踪")
    assert lisi.evaluate(FITS)
    shot(lisi, "03-handed-over")


@SQLITE_ONLY
@pytest.mark.parametrize("size", list(SIZES))
def test_the_manager_month_counts_suggestions(
    live_app: LiveApp, browser: Any, tmp_path: Path, size: str
) -> None:
    base = live_app.base_url
    expect = playwright_sync.expect
    expect.set_options(timeout=WAIT_MS)
    customer = Customer(browser, base)
    number = customer.says("服务器风扇一直高速转")
    owner = _owner(live_app, number)
    page = _sign_in(browser, base, owner, size)
    page.goto(f"{base}/console/tickets/{number}")
    page.get_by_role("button", name="受理", exact=True).click()
    expect(page.locator("#ticket-status")).to_have_text("处理中")
    _run(live_app, "solution", number, owner, {"summary": "清理风扇灰尘并更新风扇策略"})
    _run(live_app, "stable-run", number, owner, {"intermittent": False})
    live_app.clock.advance(hours=25)
    page.reload()
    resolve = page.locator('#lifecycle [data-action="resolve"]')
    expect(resolve).to_be_enabled()
    resolve.click()
    expect(page.locator("#ticket-status")).to_have_text("已解决")
    assert any("建议" in line for line in customer.agent_lines())
    customer.says("希望以后能提供远程巡检服务")
    expect(page.locator("#log")).to_contain_text("希望以后能提供远程巡检服务")

    manager = _sign_in(browser, base, "9001", size)
    manager.goto(f"{base}/console/manager?month=2026-11")
    table = manager.locator("#suggestion-months")
    row = table.locator("tbody tr").filter(has_text=owner)
    expect(row.locator("td.num").nth(0)).to_have_text("1")
    expect(row.locator("td.num").nth(1)).to_have_text("0.1")
    expect(row).to_contain_text(f"{number}：希望以后能提供远程巡检服务")
    other = table.locator("tbody tr").filter(has_text="1818" if owner == "2046" else "2046")
    expect(other.locator("td.num").nth(1)).to_have_text("0.0")
    assert manager.evaluate(FITS)
    manager.screenshot(path=str(tmp_path / f"{size}-manager-suggestions.png"), full_page=True)
    row.get_by_role("link", name=number).click()
    expect(manager.get_by_role("heading", name=re.compile(f"工单 {number}"))).to_be_visible()
