"""On-site visit, delivery and reminders in a real headless Chromium, desktop and 390 px phone.

A customer writes; the ticket's engineer accepts it and finds 已解决 disabled with
the reason (no stable run yet); plans a visit 450 km away — refused until the
agreed date is filled in, then shown; the visit's day passes with nobody on site:
the reminders land in the navigation's count, the queue's badges, the ticket's
提醒与时限 panel and the manager page; the engineer sends the reschedule line,
marks the reminders read, records the arrival and ticks the 上门 list; the
manager waives the stable run with a reason; the engineer confirms accessories
and packaging, sends the return line with the tracking number (the customer
sees it) and resolves.

The app runs as in `tests/console/browser_support.py` (real app, loopback port,
fresh SQLite or PostgreSQL, demo accounts), on a clock that runs in real time from Monday
2026-11-23 10:00 and that the test moves forward to fire the timers.
Screenshots go under the test's tmp_path.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bot.lifecycle import BY_NAME, parse_body
from compliance.calendar import SHANGHAI
from tests.console.browser_support import CHROMIUM, LiveApp, sizes_on_databases

playwright_sync = pytest.importorskip(
    "playwright.sync_api", reason="Playwright for Python is not installed (pip install playwright)"
)

if not Path(CHROMIUM).exists():
    pytest.skip(
        "Debian's chromium is not installed (apt-get install chromium chromium-driver)",
        allow_module_level=True,
    )

WAIT_MS = 20_000
ACCOUNTS = {"1818": ("zhangsan", "demo1818"), "2046": ("lisi", "demo2046")}
SIZES = {"desktop": (1366, 900), "phone": (390, 844)}


def sign_in(browser: Any, base: str, username: str, password: str, size: str) -> Any:
    width, height = SIZES[size]
    context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{base}/console/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r"/console/(queue|qa|manager)"))
    return page


def fire_timers(live: LiveApp, moment: datetime) -> list[str]:
    live.clock.jump_to(moment)
    fired = live.call(live.services.scheduler.run_due())
    return [f"{f.kind}:{f.detail}" for f in fired]


UNLABELLED = """
() => Array.from(document.querySelectorAll('input, select, textarea, button'))
  .filter((el) => el.type !== 'hidden' && el.offsetParent !== null)
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                  && !(el.tagName === 'BUTTON' && el.textContent.trim()))
  .map((el) => el.outerHTML.slice(0, 80))
"""


# Both sizes on SQLite; the desktop run on PostgreSQL too (a browser run costs seconds).
@pytest.mark.parametrize(
    ("size", "live_db_url"),
    sizes_on_databases({size: size for size in SIZES}, postgres="desktop"),
    indirect=["live_db_url"],
)
def test_visit_delivery_and_reminders_in_the_browser(
    live_app: LiveApp, browser: Any, tmp_path: Path, size: str
) -> None:
    base = live_app.base_url
    expect = playwright_sync.expect
    expect.set_options(timeout=WAIT_MS)

    def shot(page: Any, name: str) -> None:
        page.screenshot(path=str(tmp_path / f"{size}-{name}.png"), full_page=True)

    # -- the customer writes; the ticket's engineer signs in and accepts ---------------------
    customer = browser.new_context(locale="zh-CN").request
    visitor = customer.post(f"{base}/chat/api/visitors", data={}).json()["visitor"]
    said = customer.post(
        f"{base}/chat/api/messages",
        data={"visitor": visitor, "client_id": "client-0001", "text": "服务器开不了机了"},
    )
    assert said.status == 201, said.text()
    number = said.json()["ticket"]
    owner = live_app.call(live_app.services.views.ticket(number))["engineer"]["staff_no"]
    page = sign_in(browser, base, *ACCOUNTS[owner], size)
    page.goto(f"{base}/console/tickets/{number}")
    page.get_by_role("button", name="受理", exact=True).click()
    expect(page.locator("#ticket-status")).to_have_text("处理中")
    resolve = page.locator('#lifecycle [data-action="resolve"]')
    expect(resolve).to_be_disabled()
    expect(page.locator("#lifecycle-hint")).to_contain_text("须先给出方案")
    expect(page.locator("#delivery-resolve-hint")).to_contain_text("稳定运行至少24小时")

    # -- a visit 450 km away needs the date agreed with the customer ---------------------------
    page.locator("details.more-actions > summary").click()
    plan = page.locator('form.action-form[data-action="onsite"]')
    plan.get_by_label("距离（公里）").fill("450")
    plan.get_by_role("button", name="安排上门").click()
    expect(page.locator("#action-status")).to_contain_text("超过300公里须与客户商定上门日期")
    plan.get_by_label(re.compile("与客户商定的上门日期")).fill("2026-11-25")
    plan.get_by_role("button", name="安排上门").click()
    expect(page.locator("#onsite-date")).to_contain_text("2026-11-25（与客户商定）")
    expect(page.locator("#ticket-timers")).to_contain_text("上门时限")
    assert page.evaluate(UNLABELLED) == []
    shot(page, "01-visit-agreed")

    # -- the day passes with nobody on site: the reminders reach the engineer ------------------
    fired = fire_timers(live_app, datetime(2026, 11, 25, 18, 1, tzinfo=SHANGHAI))
    assert "onsite_due:engineer reminded" in fired and "onsite_due:reschedule drafted" in fired
    page.reload()
    # No plan within 4 h of acceptance either: warned, then escalated (two more reminders).
    assert "solution_due:escalated" in fired, fired
    expect(page.locator("#nav-reminders-count")).to_have_text("4")
    expect(page.locator("#ticket-reminders")).to_contain_text("方案超时，已升级技术部")
    expect(page.locator("#ticket-reminders")).to_contain_text("上门时限已过仍未到达")
    expect(page.locator("#onsite-arrival")).to_contain_text("已过上门日期，尚未到达")
    expect(page.locator("#drafts")).to_contain_text("建议：上门改期")
    shot(page, "02-late-reminded")

    moved = page.locator('form.action-form[data-action="onsite-reschedule"]')
    moved.get_by_label("新的上门日期").fill("2026-11-26")
    moved.get_by_label(re.compile("^原因")).fill("暴雨封路")
    moved.get_by_role("button", name="发送改期话术").click()
    expect(page.locator("#log")).to_contain_text("因暴雨封路，工程师无法按原定时间到达现场")
    expect(page.locator("#onsite-date")).to_contain_text("2026-11-26（与客户商定） · 已改期 1 次")

    page.goto(f"{base}/console/queue")
    row = page.locator(f'#queue-rows tr[data-ticket="{number}"]')
    expect(row).to_contain_text("提醒 4")
    expect(row).to_contain_text("上门时限：剩余")
    shot(page, "03-queue-badges")

    page.get_by_role("link", name=re.compile("^提醒")).click()
    expect(page.locator("#reminder-list")).to_contain_text("今天是上门时限")
    expect(page.locator("#reminders-unread")).to_contain_text("4 条新提醒")
    shot(page, "04-reminders-page")
    page.get_by_role("button", name="全部标为已读").click()
    expect(page.locator("main")).to_contain_text("提醒已全部标为已读")
    expect(page.locator("#nav-reminders-count")).to_be_hidden()

    # -- on site: arrival, the 上门 list ticked ---------------------------------------------------
    page.goto(f"{base}/console/tickets/{number}")
    page.get_by_role("button", name="记录到达现场").click()
    expect(page.locator("#onsite-arrival")).to_contain_text("工号")
    onsite = page.locator('form.checklist[data-checklist="onsite"]')
    for box in onsite.locator('input[type="checkbox"]').all():
        box.check()
    onsite.get_by_role("button", name="保存上门检查项").click()
    expect(page.locator('form.checklist[data-checklist="onsite"] legend').first).to_contain_text(
        "已完成"
    )
    shipment = page.locator('form.action-form[data-action="shipment"]').get_by_role(
        "button", name="发送归还预约话术"
    )
    expect(shipment).to_be_disabled()
    expect(page.locator("#shipment-hint")).to_contain_text("稳定运行")
    shot(page, "05-on-site-ticked")

    # The plan, given now (after the solution timer's escalation above); then the stable run.
    plan_given = parse_body(BY_NAME["solution"].body, {"summary": "更换电源模块"}, text_limit=1000)
    live_app.call(live_app.services.tickets.run("solution", number, owner, plan_given))
    page.reload()
    expect(page.locator("#lifecycle-hint")).to_contain_text("稳定运行至少24小时")

    # -- the manager waives the stable run, with the reason, and sees the clocks -----------------
    manager = sign_in(browser, base, "manager", "demo9001", size)
    manager.goto(f"{base}/console/manager")
    expect(manager.locator("#manager-reminders")).to_contain_text("上门时限已过仍未到达")
    shot(manager, "06-manager-reminders")
    manager.goto(f"{base}/console/tickets/{number}")
    waiver = manager.locator('form.action-form[data-action="stable-run-waiver"]')
    waiver.get_by_label("原因（将被记录）").fill("客户现场验收，急需上线")
    waiver.get_by_role("button", name="免除并记录原因").click()
    expect(manager.locator("#stable-run")).to_contain_text("已免除")
    expect(manager.locator("#stable-run")).to_contain_text("客户现场验收，急需上线")

    # -- accessories and packaging, the return line with its tracking number, resolved ---------
    page.reload()
    returning = page.locator('form.checklist[data-checklist="return"]')
    for box in returning.locator('input[type="checkbox"]').all():
        box.check()
    returning.get_by_role("button", name="保存归还前确认").click()
    expect(shipment).to_be_enabled()
    form = page.locator('form.action-form[data-action="shipment"]')
    form.get_by_label("物流公司").fill("顺丰速运")
    form.get_by_label("物流单号").fill("SF1234567890")
    form.get_by_role("button", name="发送归还预约话术").click()
    expect(page.locator("#log")).to_contain_text("物流单号SF1234567890")
    expect(resolve).to_be_enabled()
    resolve.click()
    expect(page.locator("#ticket-status")).to_have_text("已解决")
    shot(page, "07-shipped-and-resolved")

    seen = customer.get(f"{base}/chat/api/messages", params={"visitor": visitor}).json()
    texts = [m["text"] for m in seen["messages"] if m["role"] == "agent"]
    assert any("顺丰速运" in t and "SF1234567890" in t for t in texts)
    assert any("暴雨封路" in t for t in texts)
