"""The engineer's queue and ticket page, driven through the console's own endpoints."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from tests.console.conftest import Console, csrf_of, post_json


async def _owned_ticket(console: Console, text: str = "服务器开不了机了") -> tuple[str, str]:
    number = await console.customer_says(text)
    detail = await console.services.views.ticket(number)
    owner = detail["engineer"]["staff_no"]
    return number, {"1818": "zhangsan", "2046": "lisi"}[owner]


async def _signed_in(console: Console, username: str) -> tuple[TestClient[Any, Any], str]:
    browser = await console.sign_in(username)
    return browser, await csrf_of(browser, "/console/queue")


async def test_queue_shows_the_accept_clock_and_turns_red_when_breached(console: Console) -> None:
    number, username = await _owned_ticket(console)
    browser, _token = await _signed_in(console, username)
    page = await (await browser.get("/console/queue")).text()
    row = re.search(rf'<tr class="[^"]*" data-ticket="{number}">.*?</tr>', page, re.S)
    assert row is not None
    assert "is-breached" not in row.group(0)
    assert "受理：剩余 5分钟" in row.group(0)
    console.clock.advance(minutes=7)
    data = await (await browser.get("/console/api/queue")).json()
    assert data["breached"] == [number]
    assert 'class="is-breached"' in data["rows_html"]
    assert "受理：已超时 2分钟" in data["rows_html"]


async def test_ticket_page_offers_this_tickets_script_lines(console: Console) -> None:
    number, username = await _owned_ticket(console)
    browser, _token = await _signed_in(console, username)
    page = await (await browser.get(f"/console/tickets/{number}")).text()
    name = "张三" if username == "zhangsan" else "李四"
    greeting = re.search(r'data-key="greeting" data-text="([^"]*)"', page)
    assert greeting is not None and name in greeting.group(1)
    assert 'data-key="backup_warning"' in page
    # The customer's first line and the bot's greeting are in the transcript.
    assert "服务器开不了机了" in page and f"{name} · " in page
    # Remote access is disabled until the ticket is accepted and the backup confirmed.
    assert re.search(r'data-action="remote"[^>]*disabled', page)


async def test_lifecycle_through_the_console(console: Console) -> None:
    number, username = await _owned_ticket(console)
    browser, token = await _signed_in(console, username)
    base = f"/console/api/tickets/{number}"

    live = await (await browser.get(f"{base}/live?after=0")).json()
    assert live["actions"]["accept"]["enabled"] and not live["actions"]["remote"]["enabled"]
    last_id = max(item["id"] for item in live["items"] if item["kind"] == "message")

    assert (await post_json(browser, f"{base}/accept", {}, token)).status == 200
    blocked = await post_json(browser, f"{base}/remote", {}, token)
    assert blocked.status == 409
    assert (await blocked.json())["error"] == "backup_confirmation_required"
    live = await (await browser.get(f"{base}/live?after={last_id}")).json()
    warning = [i for i in live["items"] if i["kind"] == "message" and "备份" in i["text"]]
    assert warning, "the backup warning went out when remote access was asked for"
    assert live["actions"]["remote"]["hint"] == "已发送数据备份确认，等待客户确认已备份"

    # The customer confirms in the chat; the page's next poll shows it and unlocks remote.
    await console.customer_says("数据都已经备份好了")
    live = await (await browser.get(f"{base}/live?after={last_id}")).json()
    assert any(i.get("text") == "数据都已经备份好了" for i in live["items"])
    assert live["actions"]["remote"]["enabled"]
    assert (await post_json(browser, f"{base}/remote", {"tool": "向日葵"}, token)).status == 200

    check = await (
        await post_json(browser, f"{base}/presend", {"text": "你是傻逼吗"}, token)
    ).json()
    assert check["verdict"] == "refused"
    profanity = next(h for h in check["hits"] if h["rule"] == "LNG001")
    assert profanity["span"] == [2, 4] and profanity["evidence"] == "傻逼"
    assert check["suggestion"] and "傻逼" not in check["suggestion"]
    refused = await post_json(browser, f"{base}/messages", {"text": "你是傻逼吗"}, token)
    assert refused.status == 422
    assert (await refused.json())["presend"]["hits"]

    sent = await post_json(
        browser,
        f"{base}/messages",
        {"text": "您好，故障已经排除，请您重启后确认", "prompted_by": None},
        token,
    )
    assert sent.status == 200, await sent.text()
    early = await post_json(browser, f"{base}/resolve", {}, token)
    assert early.status == 409 and (await early.json())["error"] == "stable_run_required"
    assert (await post_json(browser, f"{base}/stable-run", {}, token)).status == 200
    console.clock.advance(hours=25)
    resolved = await post_json(browser, f"{base}/resolve", {}, token)
    assert resolved.status == 200
    lines = [line["text"] for line in (await resolved.json())["sent"]]
    assert any("感谢您对我们本次服务的理解和支持" in text for text in lines)
    live = await (await browser.get(f"{base}/live?after=0")).json()
    assert live["status"] == "resolved" and live["status_label"] == "已解决"
    assert not live["actions"]["resolve"]["enabled"]


async def test_actions_report_service_errors_as_json(console: Console) -> None:
    number, username = await _owned_ticket(console)
    browser, token = await _signed_in(console, username)
    unknown = await post_json(browser, f"/console/api/tickets/{number}/explode", {}, token)
    assert unknown.status == 404
    assert (await unknown.json())["error"] == "no_such_action"
    missing = await post_json(browser, f"/console/api/tickets/{number}/escalate", {}, token)
    assert missing.status == 400
    assert (await missing.json())["field"] == "reason"
    not_yet = await post_json(browser, f"/console/api/tickets/{number}/resolve", {}, token)
    assert not_yet.status == 409
    assert (await not_yet.json())["error"] == "wrong_status"


async def test_extension_request_reaches_the_manager_who_grants_it(console: Console) -> None:
    number, username = await _owned_ticket(console)
    browser, token = await _signed_in(console, username)
    assert (
        await post_json(browser, f"/console/api/tickets/{number}/accept", {}, token)
    ).status == 200
    request = await post_json(
        browser,
        f"/console/api/tickets/{number}/extension-request",
        {"reason": "等待厂商返回诊断结果"},
        token,
    )
    assert request.status == 200, await request.text()
    reminders = await console.services.views.reminders_for("9001")
    assert any(
        r["ticket"] == number and r["data"]["reason"] == "extension_requested" for r in reminders
    )

    manager, manager_token = await _signed_in(console, "manager")
    page = await (await manager.get("/console/manager")).text()
    assert "等待厂商返回诊断结果" in page and f'name="number" value="{number}"' in page
    granted = await manager.post(
        "/console/manager/extension",
        data={
            "csrf_token": manager_token,
            "number": number,
            "call_note": "已电话告知客户延期4小时",
        },
        allow_redirects=False,
    )
    assert granted.status == 303
    detail = await console.services.views.ticket(number)
    assert detail["state"]["extensions"] == 1
    page = await (await manager.get("/console/manager")).text()
    assert "没有待批准的延期申请" in page


async def test_manager_reassigns_from_the_team_page(console: Console) -> None:
    number, username = await _owned_ticket(console)
    other = "2046" if username == "zhangsan" else "1818"
    manager, token = await _signed_in(console, "manager")
    moved = await manager.post(
        "/console/manager/reassign",
        data={"csrf_token": token, "number": number, "to": other},
        allow_redirects=False,
    )
    assert moved.status == 303
    assert moved.headers["Location"] == "/console/manager?notice=reassigned"
    detail = await console.services.views.ticket(number)
    assert detail["engineer"]["staff_no"] == other
    same = await manager.post(
        "/console/manager/reassign", data={"csrf_token": token, "number": number, "to": other}
    )
    assert same.status == 409
    assert "已分配" in await same.text()


async def test_the_warranty_decision_from_the_ticket_page(console: Console) -> None:
    number, username = await _owned_ticket(console)
    browser, token = await _signed_in(console, username)
    page = await (await browser.get(f"/console/tickets/{number}")).text()
    form = re.search(r'<form class="action-form" data-action="warranty".*?</form>', page, re.S)
    assert form is not None, "the ticket page offers the warranty decision"
    # Without proof of purchase there is no date to give: the field is optional.
    assert re.search(r'type="date"[^>]*data-field="signed_for"', form.group(0))
    assert 'data-field="proof_reference"' in form.group(0)
    # The policy's paid-repair exclusions are the choices (seed 000 2.e).
    assert 'value="malware"' in form.group(0) and "网络病毒" in form.group(0)

    base = f"/console/api/tickets/{number}"
    bad = await post_json(browser, f"{base}/warranty", {"signed_for": "2026-02-30"}, token)
    assert bad.status == 400 and (await bad.json())["field"] == "signed_for"
    decided = await post_json(
        browser,
        f"{base}/warranty",
        {"signed_for": "2026-08-31", "proof_reference": "INV-1", "exclusions": []},
        token,
    )
    assert decided.status == 200, await decided.text()
    result = await decided.json()
    assert result["events"] == ["warranty_assessed"]
    assert (result["warranty"]["tier"], result["warranty"]["covered_until"]) == (
        "replace_new",
        "2026-11-30",
    )
    detail = await console.services.views.ticket(number)
    assert detail["warranty"]["tier"] == "replace_new"
    live = await (await browser.get(f"{base}/live?after=0")).json()
    assert any(i.get("label") == "保修已判定" for i in live["items"] if i["kind"] == "event")


async def test_an_engineer_cannot_decide_on_someone_elses_ticket(console: Console) -> None:
    number, username = await _owned_ticket(console)
    other = "lisi" if username == "zhangsan" else "zhangsan"
    browser, token = await _signed_in(console, other)
    refused = await post_json(
        browser, f"/console/api/tickets/{number}/warranty", {"signed_for": "2026-08-31"}, token
    )
    assert refused.status == 404
    assert (await console.services.views.ticket(number))["warranty"]["tier"] is None
