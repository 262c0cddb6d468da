"""The web chat channel: the page, visitors, sending, polling, redelivery and bad input."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from storage.db import make_engine
from storage.models import Customer, Message, Ticket
from tests.bot.conftest import Bot


def counts(db_url: str) -> tuple[int, int, int]:
    """(customers, tickets, messages) in the database."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return (
                conn.scalar(select(func.count()).select_from(Customer)) or 0,
                conn.scalar(select(func.count()).select_from(Ticket)) or 0,
                conn.scalar(select(func.count()).select_from(Message)) or 0,
            )
    finally:
        engine.dispose()


async def test_chat_page_is_chinese_accessible_and_self_contained(sqlite_bot: Bot) -> None:
    response = await sqlite_bot.client.get("/chat")
    assert response.status == 200
    html = await response.text()
    assert '<html lang="zh-CN">' in html
    assert "朴赛售后服务中心" in html and "400-000-1773" in html
    assert 'name="viewport"' in html
    assert '<label class="chat__label" for="chat-input">' in html
    assert 'role="log"' in html and 'aria-live="polite"' in html
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert "<script>" not in html  # no inline script: the CSP forbids it
    script = await sqlite_bot.client.get("/chat/static/chat.js")
    assert script.status == 200
    assert "client_id" in await script.text()
    assert (await sqlite_bot.client.get("/chat/static/chat.css")).status == 200
    root = await sqlite_bot.client.get("/", allow_redirects=False)
    assert root.status == 302 and root.headers["Location"] == "/chat"


async def test_polling_returns_the_visitors_lines_after_an_id(sqlite_bot: Bot) -> None:
    visitor = await sqlite_bot.visitor()
    other = await sqlite_bot.visitor()
    first = await sqlite_bot.say(visitor, "服务器开不了机了")
    await sqlite_bot.say(other, "请问怎么配置RAID")
    response = await sqlite_bot.client.get(f"/chat/api/messages?visitor={visitor}&after=0")
    lines = (await response.json())["messages"]
    assert [line["role"] for line in lines] == ["customer", "agent"]
    assert lines[0]["client_id"] == "msg-000001"
    assert "sender" not in lines[0] and "override_reason" not in lines[0]  # no internals
    # The engineer's later line reaches the page by polling.
    await sqlite_bot.act(first["ticket"], "accept")
    await sqlite_bot.act(first["ticket"], "messages", text="您好，请问服务器型号是什么？")
    after = lines[-1]["id"]
    response = await sqlite_bot.client.get(f"/chat/api/messages?visitor={visitor}&after={after}")
    newer = (await response.json())["messages"]
    # Accepting told the customer the ticket number; then the engineer's line.
    assert [line["text"] for line in newer][1:] == ["您好，请问服务器型号是什么？"]
    assert f"工单号：{first['ticket']}" in newer[0]["text"]


async def test_resend_with_the_same_client_id_is_a_no_op(sqlite_bot: Bot, sqlite_url: str) -> None:
    visitor = await sqlite_bot.visitor()
    first = await sqlite_bot.say(visitor, "服务器宕机了", client_id="c-0000001")
    again = await sqlite_bot.say(visitor, "服务器宕机了", client_id="c-0000001", status=200)
    assert again["duplicate"] is True
    assert again["ticket"] == first["ticket"]
    assert again["message"]["id"] == first["message"]["id"]
    assert again["replies"] == []
    assert counts(sqlite_url) == (1, 1, 2)  # one customer line, one greeting


async def test_concurrent_resends_store_one_message(sqlite_bot: Bot, sqlite_url: str) -> None:
    visitor = await sqlite_bot.visitor()
    body = {"visitor": visitor, "client_id": "same-000001", "text": "硬盘亮红灯了"}
    responses = await asyncio.gather(
        *(sqlite_bot.client.post("/chat/api/messages", json=body) for _ in range(5))
    )
    assert sorted(r.status for r in responses) == [200, 200, 200, 200, 201]
    assert counts(sqlite_url) == (1, 1, 2)


async def test_second_message_joins_the_open_ticket(sqlite_bot: Bot, sqlite_url: str) -> None:
    visitor = await sqlite_bot.visitor()
    first = await sqlite_bot.say(visitor, "服务器开不了机了")
    second = await sqlite_bot.say(visitor, "型号是 PS-2288")
    assert second["ticket"] == first["ticket"]
    assert second["replies"] == []  # greeted once per ticket
    assert counts(sqlite_url) == (1, 1, 3)


async def test_bad_requests_are_4xx_and_write_nothing(sqlite_bot: Bot, sqlite_url: str) -> None:
    client = sqlite_bot.client
    visitor = await sqlite_bot.visitor()
    cases: list[tuple[bytes, str, int, str]] = [
        (b"{not json", "application/json", 400, "malformed_json"),
        (b"[1, 2]", "application/json", 400, "not_an_object"),
        (b"", "application/json", 400, "empty_body"),
        (b"\xff\xfe", "application/json", 400, "bad_encoding"),
        (b"text=hi", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ]
    for body, content_type, status, code in cases:
        response = await client.post(
            "/chat/api/messages", data=body, headers={"Content-Type": content_type}
        )
        assert (response.status, (await response.json())["error"]) == (status, code), body
    fields = [
        ({"client_id": "c-0000001", "text": "hi"}, "bad_visitor"),
        ({"visitor": "short", "client_id": "c-0000001", "text": "hi"}, "bad_visitor"),
        ({"visitor": visitor, "text": "hi"}, "bad_client_id"),
        ({"visitor": visitor, "client_id": "c 1", "text": "hi"}, "bad_client_id"),
        ({"visitor": visitor, "client_id": "c-0000001"}, "missing_field"),
        ({"visitor": visitor, "client_id": "c-0000001", "text": "   "}, "missing_field"),
        ({"visitor": visitor, "client_id": "c-0000001", "text": 42}, "bad_field"),
        ({"visitor": visitor, "client_id": "c-0000001", "text": "长" * 4001}, "field_too_long"),
    ]
    for fields_body, code in fields:
        response = await client.post("/chat/api/messages", json=fields_body)
        assert response.status == 400, fields_body
        assert (await response.json())["error"] == code, fields_body
    huge = b'{"visitor": "x", "text": "' + b"a" * (70 * 1024) + b'"}'
    response = await client.post(
        "/chat/api/messages", data=huge, headers={"Content-Type": "application/json"}
    )
    assert response.status == 413
    assert (await response.json())["error"] == "body_too_large"
    for query in (
        "visitor=short&after=0",
        f"visitor={visitor}&after=-1",
        f"visitor={visitor}&after=x",
    ):
        response = await client.get(f"/chat/api/messages?{query}")
        assert response.status == 400, query
    assert counts(sqlite_url) == (0, 0, 0)
