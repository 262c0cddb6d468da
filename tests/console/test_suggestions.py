"""The manager's month per engineer counts recorded customer suggestions, 0.1 point each
(seed 000 协商执行动作 1②); a declined request counts nothing."""

from __future__ import annotations

import re

from tests.console.conftest import Console, csrf_of, post_json

NAMES = {"1818": "zhangsan", "2046": "lisi"}


async def _resolve_and_answer(console: Console, who: str, answer: str) -> tuple[str, str]:
    number = await console.customer_says("服务器开不了机了", who=who)
    owner = (await console.services.views.ticket(number))["engineer"]["staff_no"]
    browser = await console.sign_in(NAMES[owner])
    token = await csrf_of(browser, "/console/queue")
    base = f"/console/api/tickets/{number}"
    for action, body in (("accept", {}), ("stable-run", {"intermittent": False})):
        response = await post_json(browser, f"{base}/{action}", body, token)
        assert response.status == 200, await response.text()
    console.clock.advance(hours=25)
    resolved = await post_json(browser, f"{base}/resolve", {"ask_suggestion": True}, token)
    assert resolved.status == 200, await resolved.text()
    assert "suggestion_requested" in (await resolved.json())["events"]
    await console.customer_says(answer, who=who)
    return number, owner


async def test_the_manager_sees_suggestions_and_their_points(console: Console) -> None:
    number, owner = await _resolve_and_answer(console, "c1", "希望以后能提供远程巡检服务")
    declined, declined_owner = await _resolve_and_answer(console, "c2", "暂时没有")
    manager = await console.sign_in("manager")
    page = await (await manager.get("/console/manager?month=2026-11")).text()
    table = re.search(r'<table id="suggestion-months">.*?</table>', page, re.S)
    assert table is not None, "the manager page has the suggestions table"
    rows = {
        staff: (count, points)
        for staff, count, points in re.findall(
            r'<th scope="row">[^<]* (\d+)</th>\s*<td class="num">(\d+)</td>\s*'
            r'<td class="num">([\d.]+)</td>',
            table.group(0),
        )
    }
    assert rows[owner] == ("1", "0.1")
    if declined_owner != owner:
        assert rows[declined_owner] == ("0", "0.0")
    assert f"{number}</a>：希望以后能提供远程巡检服务" in table.group(0)
    assert declined not in table.group(0)
    # Another month has none.
    other = await (await manager.get("/console/manager?month=2026-10")).text()
    october = re.search(r'<table id="suggestion-months">.*?</table>', other, re.S)
    assert october is not None and "远程巡检" not in october.group(0)
