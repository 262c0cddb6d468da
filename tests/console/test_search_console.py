"""The console's search page and knowledge panel over HTTP: scopes, links, highlighting,
the close refusal in the console's words, query text that is never syntax."""

from __future__ import annotations

import pytest

from bot.cli import build_parser
from bot.lifecycle import parse_body
from bot.lifecycle.actions.closing import ArchiveBody, CloseBody
from bot.lifecycle.actions.drafts import DraftBody
from bot.search_cli import run_search_command
from tests.console.conftest import Console, csrf_of, post_json

RECORD = {"process": "更换 2 号电源模块", "test_report": "双电源切换测试通过"}


async def _archived(console: Console, text: str, problem: str) -> str:
    number = await console.customer_says(text, who=f"c-{problem}")
    tickets = console.services.tickets
    staff = (await console.services.views.ticket(number))["engineer"]["staff_no"]
    await tickets.run("accept", number, staff)
    await tickets.run("messages", number, staff, DraftBody(text="好的，我们马上处理"))
    await tickets.run("close", number, staff, parse_body(CloseBody, RECORD, text_limit=4000))
    await tickets.run("archive", number, staff, ArchiveBody(problem=problem))
    return number


async def test_search_page_scopes_links_and_marks(console: Console) -> None:
    number = await _archived(console, "服务器电源模块告警，红灯常亮", "电源模块告警")
    zhangsan = await console.sign_in("zhangsan")
    page = await (await zhangsan.get("/console/search", params={"q": "电源模块"})).text()
    assert f'<a href="/console/tickets/{number}">{number}</a>' in page
    assert "<mark>电源模块</mark>告警，红灯常亮" in page  # the customer's line, closed ticket
    assert "处理过程：更换 2 号<mark>电源模块</mark>" in page

    lisi = await console.sign_in("lisi")
    page = await (await lisi.get("/console/search", params={"q": "电源模块"})).text()
    assert "没有匹配的消息" in page and "红灯常亮" not in page
    assert f"{number} · 归档" in page  # the archive, by number: not his ticket to open
    assert f'href="/console/tickets/{number}"' not in page

    qa = await console.sign_in("qa")
    page = await (await qa.get("/console/search", params={"q": "红灯"})).text()
    assert f'href="/console/qa/sessions/{number}"' in page


@pytest.mark.parametrize("query", ['" OR *', "NEAR(电源 模块)", "'; DROP TABLE x; --", "(((", "✓"])
async def test_query_text_is_never_syntax(console: Console, query: str) -> None:
    await _archived(console, "电源模块告警", "电源模块告警")
    manager = await console.sign_in("manager")
    response = await manager.get("/console/search", params={"q": query})
    assert response.status == 200
    api = await manager.get("/console/search", params={"q": "电源 模块"})
    assert "<mark>电源</mark>" in await api.text()


async def test_the_ticket_page_shows_the_record_and_similar_solutions(console: Console) -> None:
    archived = await _archived(console, "电源模块告警，双电源切换失败", "双电源切换失败")
    new = await console.customer_says("您好，我们的服务器双电源切换失败了", who="c-new")
    manager = await console.sign_in("manager")
    page = await (await manager.get(f"/console/tickets/{new}")).text()
    assert 'id="similar-solutions"' in page and archived in page
    page = await (await manager.get(f"/console/tickets/{archived}")).text()
    assert "已归档" in page and "双电源切换测试通过" in page
    assert 'id="similar-solutions"' not in page  # a closed ticket lists none


async def test_closing_in_the_console_names_the_missing_field(console: Console) -> None:
    number = await console.customer_says("硬盘告警")
    staff = (await console.services.views.ticket(number))["engineer"]["staff_no"]
    user = "zhangsan" if staff == "1818" else "lisi"
    client = await console.sign_in(user)
    token = await csrf_of(client, f"/console/tickets/{number}")
    await post_json(client, f"/console/api/tickets/{number}/accept", {}, token)
    await post_json(
        client, f"/console/api/tickets/{number}/messages", {"text": "好的，我们检查硬盘"}, token
    )
    refused = await post_json(client, f"/console/api/tickets/{number}/close", {}, token)
    body = await refused.json()
    assert (refused.status, body["field"]) == (400, "process")
    assert body["message"] == "关闭工单须填写解决记录：处理过程"
    closed = await post_json(client, f"/console/api/tickets/{number}/close", RECORD, token)
    assert closed.status == 200


async def test_the_command_line_rebuilds_and_queries(
    console: Console, capsys: pytest.CaptureFixture[str]
) -> None:
    await _archived(console, "阵列卡电池告警", "阵列卡电池告警")
    url = console.services.settings.db_url
    args = build_parser().parse_args(["search", "reindex", "--db", url])
    assert await _in_thread(run_search_command, args) == 0
    assert '"documents": ' in capsys.readouterr().out
    args = build_parser().parse_args(["search", "query", "阵列卡", "--db", url])
    assert await _in_thread(run_search_command, args) == 0
    out = capsys.readouterr().out
    assert '"solutions": [' in out and "阵列卡电池告警" in out


async def _in_thread(function: object, *args: object) -> object:
    import asyncio

    # The command runs its own event loop (asyncio.run), as from a shell.
    return await asyncio.to_thread(function, *args)  # type: ignore[arg-type]
