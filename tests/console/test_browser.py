"""The whole console flow in a real headless Chromium, as the people who use it would.

A customer writes in /chat; engineer 张三 signs in, sees the ticket appear in
his queue, accepts it, cannot start remote access until the backup line was
sent and the customer confirmed it, types a draft with a forbidden phrase
(refused, the span shown), resolves; QA signs in, runs the check over the
stored sessions, finds this session clean, marks the finding of another
(seeded) session as a false positive, and exports the findings as XLSX.

The app is the real one (`create_app`, console mounted) on a loopback port in
a thread of this process, over a fresh database migrated at start (SQLite, then
PostgreSQL for the first flow: `tests/console/browser_support.py`), with
``--demo`` accounts; its clock starts on Monday 2026-11-23 10:00 (a working
day, inside attended hours) and runs in real time, so the test does not
depend on when it runs.  Screenshots of every step go to
``test-output/console/`` (not committed).

Driven by Playwright for Python on Debian's Chromium (never a downloaded
browser); skipped with the reason when either is missing.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from bot.lifecycle import BY_NAME, parse_body
from tests.console.browser_support import (  # noqa: F401  (re-exported for the other files)
    CHROMIUM,
    CHROMIUM_ARGS,
    SQLITE_ONLY,
    LiveApp,
)
from tests.console.conftest import FALSE_POSITIVE_SESSION, seed_session

playwright_sync = pytest.importorskip(
    "playwright.sync_api", reason="Playwright for Python is not installed (pip install playwright)"
)

if not Path(CHROMIUM).exists():
    pytest.skip(
        "Debian's chromium is not installed (apt-get install chromium chromium-driver)",
        allow_module_level=True,
    )

SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "console"
WAIT_MS = 20_000
SEEDED = "PS-20261121-0002"


def new_context(browser: Any, width: int, height: int, **options: Any) -> Any:
    """A browser profile as a user in China has it (Chinese locale); the browser's own
    time zone stays UTC, so the page must show Shanghai times by itself."""
    return browser.new_context(
        viewport={"width": width, "height": height}, locale="zh-CN", **options
    )


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


UNLABELLED_CONTROLS = """
() => Array.from(document.querySelectorAll('input, select, textarea, button'))
  .filter((el) => el.type !== 'hidden' && el.offsetParent !== null)
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                  && !(el.tagName === 'BUTTON' && el.textContent.trim()))
  .map((el) => el.outerHTML.slice(0, 80))
"""


def assert_labelled(page: Any) -> None:
    """Every visible form control has a label a screen reader can announce."""
    assert page.evaluate(UNLABELLED_CONTROLS) == []


def sign_in(context: Any, base: str, username: str, password: str) -> Any:
    page = context.new_page()
    page.goto(f"{base}/console/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r"/console/(queue|qa|manager)"))
    return page


def test_customer_engineer_and_qa_in_a_real_browser(
    live_app: LiveApp, browser: Any, tmp_path: Path
) -> None:
    base = live_app.base_url
    expect = playwright_sync.expect
    expect.set_options(timeout=WAIT_MS)
    # Another session, stored earlier, whose one finding QA will judge a false positive.
    live_app.call(
        seed_session(
            live_app.services,
            SEEDED,
            FALSE_POSITIVE_SESSION,
            start=datetime.fromisoformat("2026-11-21T10:00:00+08:00"),
        )
    )

    # -- the engineer signs in: nothing in his queue yet -------------------------------
    engineer_context = new_context(browser, 1366, 900)
    engineer = sign_in(engineer_context, base, "zhangsan", "demo1818")
    expect(engineer.get_by_role("heading", name="我的工单")).to_be_visible()
    expect(engineer.locator("#queue-rows")).to_contain_text("暂无进行中的工单")
    shot(engineer, "01-engineer-empty-queue")

    # -- a customer writes in the web chat and gets the greeting at once -----------------
    customer_context = new_context(browser, 390, 780)
    customer = customer_context.new_page()
    customer.goto(f"{base}/chat")
    customer.get_by_label(re.compile("请描述您的问题")).fill("服务器开不了机了，电源灯是橙色的")
    customer.get_by_role("button", name="发送").click()
    expect(customer.locator("#chat-log")).to_contain_text("工号1818")
    shot(customer, "02-customer-greeted")

    # -- the ticket appears in the engineer's queue without a reload ----------------------
    row = engineer.locator("#queue-rows tr[data-ticket]")
    expect(row).to_have_count(1)
    number = row.get_attribute("data-ticket")
    assert number and number.startswith("PS-20261123-")
    expect(row).to_contain_text("受理：剩余")
    expect(engineer.locator("#queue-news")).to_contain_text(number)
    shot(engineer, "03-ticket-appears")

    row.get_by_role("link", name=number).click()
    expect(engineer.get_by_role("heading", name=re.compile(f"工单 {number}"))).to_be_visible()
    expect(engineer.locator("#log")).to_contain_text("服务器开不了机了")
    remote = engineer.locator('#lifecycle [data-action="remote"]')
    expect(remote).to_be_disabled()
    engineer.get_by_role("button", name="受理", exact=True).click()
    expect(engineer.locator("#ticket-status")).to_have_text("处理中")
    # Added by the page's script from the live poll, in Shanghai time (the app's clock
    # started at 10:00 there; the browser itself runs on UTC).
    expect(engineer.locator("#log")).to_contain_text(re.compile(r"工程师已受理 · 10:0\d"))
    expect(engineer.locator("#remote-hint")).to_contain_text("须先发送数据备份确认")
    expect(remote).to_be_disabled()
    shot(engineer, "04-accepted-remote-locked")

    # -- asking for remote access in a draft: held, the backup line goes out first --------
    draft = engineer.get_by_role("textbox", name=re.compile("^草稿"))
    draft.fill("请您发一下向日葵的识别码，我远程帮您看一下")
    expect(engineer.locator("#precheck")).to_contain_text("涉及远程操作")
    engineer.get_by_role("button", name="发送", exact=True).click()
    expect(engineer.locator("#action-status")).to_contain_text("须先发送数据备份确认")
    expect(engineer.locator("#log")).to_contain_text("数据是否均有备份")
    expect(remote).to_be_disabled()
    expect(engineer.locator("#remote-hint")).to_contain_text("等待客户确认已备份")
    shot(engineer, "05-remote-held-backup-line-sent")

    # -- the customer confirms; the engineer's page unlocks remote access by itself -------
    expect(customer.locator("#chat-log")).to_contain_text("数据是否均有备份")
    customer.get_by_label(re.compile("请描述您的问题")).fill("数据都已经备份好了")
    customer.get_by_role("button", name="发送").click()
    expect(engineer.locator("#log")).to_contain_text("数据都已经备份好了")
    expect(remote).to_be_enabled()
    remote.click()
    expect(engineer.locator("#log")).to_contain_text("开始远程操作")
    shot(engineer, "06-backup-confirmed-remote-started")

    # -- the warranty decision, from its form on the ticket page ---------------------------
    engineer.locator(".more-actions > summary").click()
    engineer.get_by_label("签收日期").fill("2026-08-31")
    engineer.get_by_label("购买凭证：发票号或订单号").fill("INV-20260831")
    engineer.get_by_role("button", name="判定保修").click()
    expect(engineer.locator("#action-status")).to_contain_text("判定保修：已完成")
    expect(engineer.locator("#log")).to_contain_text("保修已判定")

    # -- a draft with a forbidden phrase is refused, the span marked ---------------------
    draft.fill("这种傻逼问题你自己重启一下不就好了")
    precheck = engineer.locator("#precheck")
    expect(precheck).to_contain_text("不能发送")
    expect(precheck.locator("mark", has_text="傻逼")).to_be_visible()
    expect(precheck).to_contain_text("合规建议")
    shot(engineer, "07-forbidden-phrase-refused")
    assert_labelled(engineer)
    engineer.get_by_role("button", name="发送", exact=True).click()
    expect(engineer.locator("#action-status")).to_contain_text("禁用语")
    expect(engineer.locator("#log")).not_to_contain_text("傻逼")

    draft.fill("故障已经排除：电源模块松动，重新插紧后服务器已经可以正常开机了")
    expect(precheck).to_contain_text("未发现禁用语")
    engineer.get_by_role("button", name="发送", exact=True).click()
    expect(engineer.locator("#log")).to_contain_text("重新插紧后")
    # 已解决 waits for a solution: it says so until one is given.
    resolve = engineer.get_by_role("button", name="已解决")
    expect(resolve).to_be_disabled()
    expect(engineer.locator("#lifecycle-hint")).to_contain_text("须先给出方案")
    engineer.get_by_role("button", name="给出方案").click()
    engineer.locator("#action-dialog-input").fill("电源模块松动，重新插紧")
    engineer.get_by_role("button", name="确定").click()
    # Delivery then waits for the stable run; here a manager waives it (the customer saw it boot).
    expect(resolve).to_be_disabled()
    expect(engineer.locator("#lifecycle-hint")).to_contain_text("稳定运行")
    assert number is not None
    waiver = parse_body(
        BY_NAME["stable-run-waiver"].body, {"reason": "客户确认已正常开机"}, text_limit=1000
    )
    live_app.call(live_app.services.tickets.run("stable-run-waiver", number, "9001", waiver))
    expect(resolve).to_be_enabled()
    resolve.click()
    expect(engineer.locator("#ticket-status")).to_have_text("已解决")
    expect(engineer.locator("#log")).to_contain_text("感谢您对我们本次服务的理解和支持")
    shot(engineer, "08-resolved")
    expect(customer.locator("#chat-log")).to_contain_text("随时联络我们")
    shot(customer, "09-customer-after-resolve")

    # The ticket page on a phone: one column, nothing cut off.
    phone_context = new_context(browser, 390, 844)
    phone = phone_context.new_page()
    phone.context.add_cookies(engineer_context.cookies())
    phone.goto(f"{base}/console/tickets/{number}")
    expect(phone.locator("#log")).to_contain_text("随时联络我们")
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot(phone, "10-ticket-on-a-phone")

    # -- QA: run the check, this session is clean -----------------------------------------
    qa_context = new_context(browser, 1366, 900, accept_downloads=True)
    qa = sign_in(qa_context, base, "qa", "demo7001")
    expect(qa.get_by_role("heading", name=re.compile("质检概览"))).to_be_visible()
    qa.get_by_role("button", name="运行质检").click()
    expect(qa.locator("main .notice--ok")).to_contain_text("质检已完成")
    # This session, the seeded one and the demo's three sample sessions.
    expect(qa.locator("#stat-sessions")).to_have_text("5")
    shot(qa, "11-qa-dashboard-after-run")

    qa.goto(f"{base}/console/qa/sessions/{number}")
    expect(qa.locator("#session-clean")).to_contain_text("未发现问题")
    expect(qa.locator("#session-score")).to_have_text("100")
    shot(qa, "12-qa-session-clean")

    # -- the seeded session's finding is a false positive -----------------------------------
    qa.get_by_role("link", name="问题列表").click()
    expect(qa.locator("#findings")).to_contain_text(SEEDED)
    shot(qa, "13-qa-findings")
    assert_labelled(qa)
    qa.locator("#findings").get_by_role("link", name=SEEDED).click()
    expect(qa.locator("mark", has_text="垃圾")).to_be_visible()
    qa.get_by_label("误报原因").fill("说的是散热设计，不是客户")
    qa.get_by_role("button", name="标记为误报").click()
    expect(qa.locator("main .notice--ok")).to_contain_text("已标记为误报")
    expect(qa.locator("#session-score")).to_have_text("100")
    expect(qa.get_by_role("button", name="撤销误报")).to_be_visible()
    shot(qa, "14-qa-false-positive")

    qa.get_by_role("link", name="误报清单").click()
    expect(qa.locator("main")).to_contain_text("说的是散热设计，不是客户")
    shot(qa, "15-qa-false-positives-per-phrase")

    # -- export what is on screen as XLSX ----------------------------------------------------
    qa.get_by_role("link", name="问题列表").click()
    with qa.expect_download() as download_info:
        qa.get_by_role("link", name=re.compile("导出 Excel")).click()
    download = download_info.value
    target = tmp_path / download.suggested_filename
    download.save_as(str(target))
    assert target.name.endswith(".xlsx")
    sheet = load_workbook(target)["问题明细"]
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    flagged = [row for row in rows if SEEDED in row]
    assert flagged and any("LNG002" in row for row in flagged)
    assert not any(number in row for row in rows)

    # The manager sees the month (scores, satisfaction) and the team's tickets.
    manager_context = new_context(browser, 1366, 900)
    manager = sign_in(manager_context, base, "manager", "demo9001")
    expect(manager.locator("#engineer-months")).to_contain_text("李四")
    shot(manager, "16-manager")
    assert_labelled(manager)
    # Keyboard only: Tab from the top reaches the skip link first, then the navigation.
    manager.keyboard.press("Tab")
    assert manager.evaluate("document.activeElement.textContent") == "跳到正文"


@SQLITE_ONLY  # the first flow above is this file's PostgreSQL run
def test_the_warranty_panel_in_a_real_browser(live_app: LiveApp, browser: Any) -> None:
    """No proof of purchase: out-of-warranty handling, the quote, the customer's yes in the
    chat, then repair — the panel follows each step without a reload."""
    base = live_app.base_url
    expect = playwright_sync.expect
    expect.set_options(timeout=WAIT_MS)
    customer = new_context(browser, 390, 780).new_page()
    customer.goto(f"{base}/chat")
    customer.get_by_label(re.compile("请描述您的问题")).fill("服务器硬盘坏了，没有发票了")
    customer.get_by_role("button", name="发送").click()
    expect(customer.locator("#chat-log")).to_contain_text("工号1818")

    engineer = sign_in(new_context(browser, 1366, 900), base, "zhangsan", "demo1818")
    row = engineer.locator("#queue-rows tr[data-ticket]")
    expect(row).to_have_count(1)
    number = row.get_attribute("data-ticket")
    assert number
    row.get_by_role("link", name=number).click()
    panel = engineer.locator("#warranty-panel")
    expect(panel).to_contain_text("尚未判定保修")
    engineer.get_by_role("button", name="受理", exact=True).click()
    expect(engineer.locator("#ticket-status")).to_have_text("处理中")

    engineer.locator(".more-actions > summary").click()
    engineer.get_by_label("产品序列号").fill("SN-2026-42")
    engineer.get_by_role("button", name="判定保修").click()
    expect(engineer.locator("#action-status")).to_contain_text("判定保修：已完成")
    expect(panel).to_contain_text("未提供（按非保修期范围处理）")
    expect(panel).to_contain_text("有偿维修须先向客户报价")
    expect(customer.locator("#chat-log")).to_contain_text("本次属于有偿维修")

    engineer.get_by_label("报价金额（元）").fill("880")
    engineer.get_by_label(re.compile("^报价明细")).fill("硬盘 1 块；检测费")
    engineer.get_by_role("button", name="维修报价").click()
    expect(panel).to_contain_text("等待客户确认")
    expect(customer.locator("#chat-log")).to_contain_text("合计880.00元")
    customer.get_by_label(re.compile("请描述您的问题")).fill("可以，按这个报价修吧")
    customer.get_by_role("button", name="发送").click()
    expect(engineer.locator("#log")).to_contain_text("按这个报价修吧")
    agreed = engineer.locator("#log li.msg--customer").last.get_attribute("data-message-id")
    assert agreed
    engineer.get_by_label("客户确认的消息编号").fill(agreed)
    engineer.get_by_role("button", name="记录客户确认报价").click()
    expect(panel).to_contain_text("客户已确认")
    repair = engineer.locator('.action-form[data-action="repair"]')
    repair.get_by_label("维修方式").select_option("in_house")
    repair.get_by_role("button", name="维修").click()
    expect(panel).to_contain_text("在司维修")
    expect(panel).to_contain_text("进行中")
    shot(engineer, "20-warranty-panel-paid-repair")
    assert_labelled(engineer)
