"""Issue 17's desk in a real headless Chromium, on a desktop and on a 390 px phone.

The newcomer's QA dashboard already shows the demo's sample sessions (17.8); a customer
who introduces themselves as 张总 sees timestamps, is told the ticket number when the
engineer accepts and can ask for its status (17.2); the engineer's buttons wait for the
lifecycle and say why (17.6), the ticket page names the customer and lists their earlier
tickets (17.3); a warning-level draft sent with a reason shows that reason to QA (17.6);
the survey follows an unanswered suggestion question, a rating after close joins the
closed ticket and 不满意 asks seed 003's reason, all on the manager page (17.1); a
reassignment says 已为您转接 (17.6).  Out of hours the centre says when a person answers.

The app is that of ``browser_support.py`` (real app on a loopback port, fresh SQLite or
PostgreSQL, ``--demo``); the clock here can be moved forward for the survey's timer.
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
from tests.console.browser_support import SQLITE_ONLY, MovableClock, serve_app, sizes_on_databases
from tests.console.test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LiveApp,
    assert_labelled,
    new_context,
    playwright_sync,
    sign_in,
)

WAIT_MS = 20_000
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)
MONDAY_NIGHT = datetime(2026, 11, 23, 22, 0, tzinfo=SHANGHAI)
SIZES = {"desktop": (1366, 900), "phone": (390, 844)}


@pytest.fixture
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless (as `test_browser.py` drives it)."""
    with playwright_sync.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(MONDAY_10)


@pytest.fixture
def desk_app(live_db_url: str, clock: MovableClock) -> Iterator[LiveApp]:
    with serve_app(live_db_url, clock, instance_id="browser-desk") as app:
        yield app


def _shot(page: Any, folder: Path, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def _chat(chromium: Any, base: str, width: int, height: int) -> Any:
    # A customer in China: the browser's clock is Shanghai's.
    context = new_context(chromium, width, height, timezone_id="Asia/Shanghai")
    page = context.new_page()
    page.goto(f"{base}/chat")
    return page


def _write(page: Any, text: str) -> None:
    page.get_by_label(re.compile("请描述您的问题")).fill(text)
    page.get_by_role("button", name="发送").click()


# Both sizes on SQLite, the desktop on PostgreSQL too; the night notice on SQLite only.
@pytest.mark.parametrize(
    ("size", "live_db_url"),
    sizes_on_databases({size: size for size in SIZES}, postgres="desktop"),
    indirect=["live_db_url"],
)
def test_the_desk_of_issue_17(
    desk_app: LiveApp, chromium: Any, clock: MovableClock, tmp_path: Path, size: str
) -> None:
    base = desk_app.base_url
    width, height = SIZES[size]
    shots = tmp_path / "shots"
    expect = playwright_sync.expect
    expect.set_options(timeout=WAIT_MS)

    # -- 17.8: the newcomer's QA dashboard shows the demo's sample sessions -------------
    qa = sign_in(new_context(chromium, width, height), base, "qa", "demo7001")
    expect(qa.locator("#stat-sessions")).to_have_text("3")
    qa.goto(f"{base}/console/qa/findings")
    expect(qa.locator("#findings")).to_contain_text("PS-20261123-9002")
    expect(qa.locator("#findings")).not_to_contain_text("PS-20261123-9001")
    _shot(qa, shots, f"{size}-01-qa-demo-findings")

    # -- 17.2 / 17.3: the customer introduces themselves; timestamps in the chat --------
    customer = _chat(chromium, base, 390 if size == "phone" else width, height)
    _write(customer, "我是张总，服务器开不了机了，电话13800138000")
    log = customer.locator("#chat-log")
    expect(log).to_contain_text("工号")
    expect(customer.locator("#chat-log .msg__time").first).to_have_text(re.compile(r"10:0\d"))

    engineer_context = new_context(chromium, width, height)
    engineer = sign_in(engineer_context, base, "zhangsan", "demo1818")
    row = engineer.locator("#queue-rows tr[data-ticket]")
    expect(row).to_have_count(1)
    number = row.get_attribute("data-ticket")
    assert number
    row.get_by_role("link", name=number).click()
    expect(engineer.locator("#customer-address")).to_have_text("张总")
    expect(engineer.locator("#customer-history-empty")).to_be_visible()
    # 17.6: close, escalate and resolve wait for 受理 and say so.
    for name in ("关闭工单", "升级技术部", "已解决"):
        expect(engineer.get_by_role("button", name=name, exact=True)).to_be_disabled()
    expect(engineer.locator("#lifecycle-hint")).to_contain_text("受理后才能关闭工单")
    _shot(engineer, shots, f"{size}-02-ticket-before-accept")
    assert_labelled(engineer)

    engineer.get_by_role("button", name="受理", exact=True).click()
    expect(engineer.locator("#ticket-status")).to_have_text("处理中")
    expect(engineer.get_by_role("button", name="关闭工单", exact=True)).to_be_enabled()
    expect(engineer.locator("#lifecycle-hint")).to_have_text(re.compile("^须先给出方案"))
    expect(log).to_contain_text(f"工单号：{number}")
    _write(customer, f"查询工单 {number}")
    expect(log).to_contain_text(f"工单{number}当前状态：处理中")
    expect(customer.locator("#chat-log .msg--system").last).to_contain_text("朴赛售后服务中心")
    _shot(customer, shots, f"{size}-03-chat-number-and-status")

    # -- 17.6: a warning-level draft, sent with a reason (no internal names shown) -----
    draft = engineer.get_by_role("textbox", name=re.compile("^草稿"))
    draft.fill("你好，请把服务器型号发一下")
    engineer.get_by_role("button", name="发送", exact=True).click()
    expect(engineer.locator("#action-status")).to_contain_text("仍要发送的原因")
    expect(engineer.locator("main")).not_to_contain_text("override_reason")
    engineer.get_by_label(re.compile("仍要发送")).fill("客户要求简短回复")
    engineer.get_by_role("button", name="发送", exact=True).click()
    expect(engineer.locator("#log")).to_contain_text("请把服务器型号发一下")

    # -- 17.1: resolve, the suggestion question unanswered: the survey follows ----------
    engineer.get_by_role("button", name="给出方案").click()
    engineer.locator("#action-dialog-input").fill("电源模块松动，重新插紧")
    engineer.get_by_role("button", name="确定").click()
    # Delivery needs the stable run (issue 16.4): the manager waives it for this desk.
    expect(engineer.locator("#lifecycle-hint")).to_contain_text("稳定运行")
    waiver = parse_body(
        BY_NAME["stable-run-waiver"].body, {"reason": "客户确认已正常开机"}, text_limit=1000
    )
    desk_app.call(desk_app.services.tickets.run("stable-run-waiver", number, "9001", waiver))
    expect(engineer.get_by_role("button", name="已解决")).to_be_enabled()
    engineer.get_by_role("button", name="已解决").click()
    expect(engineer.locator("#ticket-status")).to_have_text("已解决")
    expect(log).to_contain_text("建议")
    clock.advance(minutes=31)
    fired = desk_app.call(desk_app.services.scheduler.run_due())
    assert [(f.kind, f.detail) for f in fired if f.kind == "survey_due"] == [
        ("survey_due", "survey sent")
    ]
    expect(log).to_contain_text("请问张总对本次服务是否满意")
    # 关闭工单 opens the solution record (issue 16.5), filled in before it closes.
    engineer.get_by_role("button", name="关闭工单", exact=True).click()
    record = engineer.locator('.action-form[data-action="close"]')
    record.get_by_label("处理过程（必填）").fill("电源模块松动，重新插紧")
    record.get_by_label("测试报告（必填）").fill("开机自检通过，运行正常")
    record.get_by_role("button", name="关闭工单").click()
    expect(engineer.locator("#ticket-status")).to_have_text("已关闭")
    # The rating after close joins the closed ticket: no second greeting.
    _write(customer, "不满意")
    expect(log).to_contain_text("服务态度")
    _write(customer, "响应速度太慢了")
    expect(customer.locator("#chat-log li").last).to_contain_text("感谢您的提议和指导")
    assert customer.locator("#chat-log").inner_text().count("很高兴为您服务") == 1
    _shot(customer, shots, f"{size}-04-chat-survey-after-close")

    # -- 17.3: a new problem is a new ticket, with the earlier one listed ---------------
    _write(customer, "另一台服务器的电源灯不亮")
    expect(customer.locator("#chat-log")).to_contain_text("另一台服务器")
    engineer.goto(f"{base}/console/queue")
    newer = engineer.locator("#queue-rows tr[data-ticket]")
    expect(newer).to_have_count(1)
    second = newer.get_attribute("data-ticket")
    assert second and second != number
    newer.get_by_role("link", name=second).click()
    history = engineer.locator("#customer-history")
    expect(history).to_contain_text(number)
    expect(history).to_contain_text("已关闭")
    _shot(engineer, shots, f"{size}-05-ticket-with-history")

    # -- 17.6 / 17.1: the manager hands it over; the month counts the loop --------------
    manager = sign_in(new_context(chromium, width, height), base, "manager", "demo9001")
    manager.goto(f"{base}/console/tickets/{second}")
    manager.get_by_label("改派给").select_option("2046")
    manager.get_by_role("button", name="改派", exact=True).click()
    expect(log).to_contain_text("已为张总转接至运维工程师李四（工号2046）")
    manager.goto(f"{base}/console/manager?month=2026-11")
    loop_row = manager.locator("#satisfaction-months tr", has_text="张三")
    expect(loop_row).to_contain_text("响应速度 1")
    _shot(manager, shots, f"{size}-06-manager-satisfaction")

    # -- 17.6: QA reads the override reason, lines numbered as the CLI numbers them ------
    qa.goto(f"{base}/console/qa")
    qa.get_by_role("button", name="运行质检").click()
    expect(qa.locator("main .notice--ok")).to_contain_text("质检已完成")
    qa.goto(f"{base}/console/qa/sessions/{number}")
    expect(qa.locator(".override-reason")).to_contain_text("客户要求简短回复")
    expect(qa.locator("main")).not_to_contain_text("override_reason")
    _shot(qa, shots, f"{size}-07-qa-override-reason")
    assert (shots / f"{size}-07-qa-override-reason.png").exists()


@pytest.fixture
def night_app(live_db_url: str) -> Iterator[LiveApp]:
    with serve_app(live_db_url, MovableClock(MONDAY_NIGHT), instance_id="browser-night") as app:
        yield app


@SQLITE_ONLY
@pytest.mark.parametrize("size", list(SIZES))
def test_out_of_hours_the_centre_says_when_a_person_answers(
    night_app: LiveApp, chromium: Any, tmp_path: Path, size: str
) -> None:
    expect = playwright_sync.expect
    expect.set_options(timeout=WAIT_MS)
    width, height = SIZES[size]
    customer = _chat(chromium, night_app.base_url, width, height)
    _write(customer, "服务器开不了机了")
    notice = customer.locator("#chat-log .msg--system")
    expect(notice).to_contain_text("运维工程师将于11月24日（周二）09:30起回复您")
    expect(notice).to_contain_text("朴赛售后服务中心")
    assert "工号" not in customer.locator("#chat-log").inner_text()
    expect(customer.locator("#chat-log .msg__time").first).to_have_text(re.compile(r"22:0\d"))
    _shot(customer, tmp_path / "shots", f"{size}-night-notice")
    icon = customer.evaluate("document.querySelector('link[rel=icon]').href")
    assert icon.endswith("/chat/static/favicon.svg")
