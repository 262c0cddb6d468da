"""The solution record, the archive, similar solutions and search in a real headless Chromium,
on a desktop and a 390 px phone.

Engineer 张三 closes a ticket about a noisy fan: the close form refuses without a
test report (the page says which field), then closes with the record; he archives
it.  A new customer writes about a loud fan: the new ticket's page lists the
archived solution.  He searches "风扇" — the closed ticket, the customer's lines
with the word marked, the archived solution.  李四 finds only the archive (not
张三's conversations); QA finds everything.  The first customer is forgotten:
their words are no longer found.

Same app and browser set-up as `tests/console/test_browser.py` (`browser_support.py`);
screenshots go to the test's tmp_path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.lifecycle.actions.drafts import DraftBody
from bot.messages import InboundMessage
from tests.console.browser_support import sizes_on_databases
from tests.console.test_browser import (
    WAIT_MS,
    LiveApp,
    new_context,
    playwright_sync,
    sign_in,
)

# Both sizes on SQLite; the desktop run on PostgreSQL too (its full-text search).
SIZES = sizes_on_databases({"desktop": (1280, 900), "phone": (390, 844)}, postgres="desktop")
FITS = "() => document.documentElement.scrollWidth <= window.innerWidth + 1"


def _customer_writes(app: LiveApp, who: str, n: int, text: str) -> str:
    inbound = InboundMessage(
        channel="web",
        customer_id=who,
        external_id=f"{who}:{n}",
        sent_at=app.services.now(),
        text=text,
    )
    receipt = app.call(app.services.tickets.receive(inbound))
    return str(receipt.ticket_number)


def _answered(app: LiveApp, number: str, text: str) -> None:
    tickets = app.services.tickets
    app.call(tickets.run("accept", number, "1818"))
    app.call(tickets.run("messages", number, "1818", DraftBody(text=text)))


@pytest.mark.parametrize(("size", "live_db_url"), SIZES, indirect=["live_db_url"])
def test_close_archive_similar_and_search(
    live_app: LiveApp,
    browser: Any,
    tmp_path: Path,
    size: tuple[int, int],
) -> None:
    width, height = size
    name = "phone" if width < 600 else "desktop"
    base = live_app.base_url
    expect = playwright_sync.expect
    expect.set_options(timeout=WAIT_MS)

    def shot(page: Any, step: str, at: str | None = None) -> None:
        # The ticket page is long on a phone: `at` shows the part that matters.
        if at is not None:
            page.locator(at).scroll_into_view_if_needed()
        page.screenshot(path=str(tmp_path / f"{name}-{step}.png"), full_page=at is None)

    first = _customer_writes(live_app, "visitor-fan", 1, "机房里服务器风扇噪音特别大，吵得受不了")
    _answered(live_app, first, "您好，请告诉我们服务器型号，我们安排清理风扇")

    context = new_context(browser, width, height)
    page = sign_in(context, base, "zhangsan", "demo1818")
    page.goto(f"{base}/console/tickets/{first}")
    # 关闭工单 opens the close form: the solution record.
    page.locator('#lifecycle [data-action="close"]').click()
    form = page.locator('.action-form[data-action="close"]')
    expect(form).to_be_visible()
    form.get_by_label("处理过程（必填）").fill("清理风扇灰尘，更换 3 号风扇")
    form.get_by_role("button", name="关闭工单").click()
    expect(page.locator("#action-status")).to_contain_text("关闭工单须填写解决记录：测试报告")
    shot(page, "1-close-refused", at="#action-status")
    form.get_by_label("测试报告（必填）").fill("满载运行 2 小时，风扇转速和噪音正常")
    form.get_by_label("附件（文件名或聊天第N条，每行一项）").fill("风扇.jpg")
    form.get_by_role("button", name="关闭工单").click()
    expect(page.locator("#ticket-status")).to_have_text("已关闭")
    archive = page.locator('.action-form[data-action="archive"]')
    archive.get_by_label("问题描述（工单无摘要时必填）").fill("服务器风扇噪音大")
    archive.get_by_role("button", name="归档").click()
    expect(page.locator("#action-status")).to_contain_text("归档：已完成")
    page.reload()
    expect(page.locator("#archive-state")).to_contain_text("已归档")
    expect(page.locator("#solution-record")).to_contain_text("更换 3 号风扇")
    shot(page, "2-archived", at="#knowledge-panel")

    # A new customer with the same trouble: the archived solution shows on the new ticket.
    second = _customer_writes(live_app, "visitor-loud", 1, "你好，我们的服务器风扇声音很大")
    page.goto(f"{base}/console/tickets/{second}")
    similar = page.locator("#similar-solutions")
    expect(similar).to_contain_text(first)
    expect(similar.locator("mark", has_text="风扇").first).to_be_visible()
    assert page.evaluate(FITS)
    shot(page, "3-similar", at="#knowledge-panel")

    # The search page: the closed ticket, the lines with the word marked, the archive.
    page.get_by_role("link", name="搜索").click()
    page.get_by_label("关键词（中文自动分词；已关闭的工单也能搜到）").fill("风扇")
    page.get_by_role("button", name="搜索", exact=True).click()
    expect(page.locator("#search-tickets")).to_contain_text(first)
    expect(page.locator("#search-tickets")).to_contain_text(second)
    expect(page.locator("#search-messages mark", has_text="风扇").first).to_be_visible()
    expect(page.locator("#search-solutions")).to_contain_text("更换 3 号风扇")
    assert page.evaluate(FITS)
    shot(page, "4-search")
    # 噪音 appears inside a sentence only: found after jieba cut it out.
    page.goto(f"{base}/console/search?q=噪音")
    expect(page.locator("#search-messages")).to_contain_text("噪音特别大")
    context.close()

    # 李四 finds the shared archive, not 张三's conversations.
    other = new_context(browser, width, height)
    page = sign_in(other, base, "lisi", "demo2046")
    page.goto(f"{base}/console/search?q=风扇")
    expect(page.locator("#search-solutions")).to_contain_text(first)
    expect(page.locator("#search-messages")).to_contain_text("没有匹配的消息")
    shot(page, "5-search-other-engineer")
    other.close()

    # QA finds everything; then the first customer is forgotten and their words go.
    qa = new_context(browser, width, height)
    page = sign_in(qa, base, "qa", "demo7001")
    page.goto(f"{base}/console/search?q=噪音特别大")
    expect(page.locator("#search-messages")).to_contain_text(first)
    live_app.call(live_app.services.tickets.forget_ticket_customer(first, "9001"))
    page.goto(f"{base}/console/search?q=噪音特别大")
    expect(page.locator("#search-empty")).to_be_visible()
    page.goto(f"{base}/console/search?q=风扇")
    expect(page.locator("#search-solutions")).to_contain_text(first)  # the engineer's words
    expect(page.locator("#search-messages")).not_to_contain_text("噪音特别大")
    assert page.evaluate(FITS)
    shot(page, "6-search-after-forget")
    qa.close()
