"""Reminders reach people in the console (without a browser): the nav count and the
reminders page, marking them read, the queue's badges and archive table, the manager's
clocks, and the ticket page's 提醒与时限 and 上门与交付 panels (issue 16 item 6)."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from tests.console.conftest import FORM_TOKEN, Console, csrf_of, post_json


async def _ticket(console: Console) -> tuple[str, str, str]:
    number = await console.customer_says("服务器开不了机了")
    owner = (await console.services.views.ticket(number))["engineer"]["staff_no"]
    return number, owner, {"1818": "zhangsan", "2046": "lisi"}[owner]


async def _signed_in(console: Console, username: str) -> tuple[TestClient[Any, Any], str]:
    browser = await console.sign_in(username)
    return browser, await csrf_of(browser, "/console/queue")


async def test_a_fired_timer_reaches_the_nav_the_page_and_the_queue(console: Console) -> None:
    number, _owner, username = await _ticket(console)
    browser, token = await _signed_in(console, username)
    assert (await (await browser.get("/console/api/reminders")).json())["unread"] == 0
    console.clock.advance(minutes=6)  # the 5-minute accept limit passes
    await console.services.scheduler.run_due()
    count = await (await browser.get("/console/api/reminders")).json()
    assert count["unread"] == 1 and count["items"][0]["label"] == "工单超时未受理"
    page = await (await browser.get("/console/queue")).text()
    assert re.search(r'id="nav-reminders-count"\s*>1<', page)
    row = re.search(rf'data-ticket="{number}">.*?</tr>', page, re.S)
    assert row is not None and "提醒 1" in row.group(0)
    listed = await (await browser.get("/console/reminders")).text()
    assert "工单超时未受理" in listed and "1 条新提醒" in listed
    form = FORM_TOKEN.search(listed)
    assert form is not None
    read = await browser.post(
        "/console/reminders/read", data={"csrf_token": form.group(1)}, allow_redirects=False
    )
    assert read.status == 303
    assert (await (await browser.get("/console/api/reminders")).json())["unread"] == 0
    forged = await browser.post("/console/reminders/read", data={}, allow_redirects=False)
    assert forged.status == 403
    ticket = await (await browser.get(f"/console/tickets/{number}")).text()
    assert 'id="reminders-panel"' in ticket and "工单超时未受理 → 工号" in ticket
    assert 'id="delivery-panel"' in ticket
    live = await (await browser.get(f"/console/api/tickets/{number}/live")).json()
    assert "工单超时未受理" in live["reminders_html"] and "上门与交付" in live["delivery_html"]
    assert token


async def test_the_manager_sees_the_clocks_and_the_tickets_to_archive(console: Console) -> None:
    number, owner, username = await _ticket(console)
    engineer, token = await _signed_in(console, username)
    base = f"/console/api/tickets/{number}"
    assert (await post_json(engineer, f"{base}/accept", {}, token)).status == 200
    plan = await post_json(engineer, f"{base}/onsite", {"distance_km": 30}, token)
    assert plan.status == 200
    manager = await console.sign_in("manager")
    page = await (await manager.get("/console/manager")).text()
    assert 'id="manager-reminders"' in page and "方案时限" in page
    solved = await post_json(engineer, f"{base}/solution", {"summary": "上门更换风扇模块"}, token)
    assert solved.status == 200
    resolve = await post_json(engineer, f"{base}/resolve", {}, token)
    assert resolve.status == 409 and (await resolve.json())["error"] == "stable_run_required"
    live = await (await engineer.get(f"{base}/live")).json()
    assert not live["actions"]["resolve"]["enabled"]
    assert "稳定运行" in live["actions"]["resolve"]["hint"]
    assert live["actions"]["onsite_arrival"]["enabled"]
    assert not live["actions"]["stable_run_waiver"]["enabled"]  # an engineer cannot waive
    manager_token = await csrf_of(manager, "/console/manager")
    waived = await post_json(
        manager, f"{base}/stable-run-waiver", {"reason": "客户确认已恢复"}, manager_token
    )
    assert waived.status == 200
    items = [i.code for i in console.services.policy.delivery.checklist("onsite")]
    ticked = await post_json(
        engineer, f"{base}/checklist", {"checklist": "onsite", "items": items}, token
    )
    assert ticked.status == 200
    assert (await post_json(engineer, f"{base}/resolve", {}, token)).status == 200
    console.clock.advance(minutes=1)
    record = {"process": "更换风扇模块后开机正常", "test_report": "自检通过，运行 24 小时无告警"}
    assert (await post_json(engineer, f"{base}/close", record, token)).status == 200
    queue = await (await engineer.get("/console/queue")).text()
    archive = re.search(r'id="archive-queue">.*?</ul>', queue, re.S)
    assert archive is not None and number in archive.group(0) and "归档时限" in archive.group(0)
    assert owner
