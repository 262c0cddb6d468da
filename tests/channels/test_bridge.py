"""The 千牛 / 京麦 bridge through the real app: signed events, replays, the command pull
with its results (``unknown`` never resent), key scopes, bad input, the whole flow."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from bot.app import create_app
from bot.channels import bridge, wecom_kf
from bot.channels.bridge_auth import add_bridge_key, sign
from bot.context import SERVICES
from bot.settings import Settings, SettingsError
from compliance.policy import Policy
from storage.channel_models import BridgeCommand, BridgeCommandStatus, BridgeEvent, BridgeNonce
from storage.db import make_async_sessionmaker
from storage.models import DeliveryStatus, Message, MessageRole, Ticket
from tests.channels.harness import ChannelApp, StartApp
from tests.support import FakeClock, findings_of

KEY_ID = "shop-pc-1"
SECRET = "s" * 16 + secrets.token_hex(16)
SHOP = "tb-shop-7"
BUYER = "tb_buyer_张"


@dataclass
class BridgeBot(ChannelApp):
    seq: list[int] = field(default_factory=lambda: [0])

    async def signed(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | bytes | None = None,
        query: Mapping[str, Any] | None = None,
        key_id: str = KEY_ID,
        secret: str = SECRET,
        timestamp: int | None = None,
        nonce: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        path_qs = path + ("?" + urlencode(query) if query else "")
        raw = (
            body
            if isinstance(body, bytes)
            else b""
            if body is None
            else json.dumps(body, ensure_ascii=False).encode()
        )
        ts = str(self.clock.unix if timestamp is None else timestamp)
        nonce = nonce or secrets.token_urlsafe(18)
        sent = {
            "X-Bridge-Key-Id": key_id,
            "X-Bridge-Timestamp": ts,
            "X-Bridge-Nonce": nonce,
            "X-Bridge-Signature": sign(secret, method, path_qs, ts, nonce, raw),
            "Content-Type": "application/json",
            **(headers or {}),
        }
        response = await self.client.request(method, path_qs, data=raw or None, headers=sent)
        return response.status, dict(await response.json())

    def event(self, text: str, **overrides: Any) -> dict[str, Any]:
        self.seq[0] += 1
        return {
            "event_id": f"ev-{self.seq[0]:05d}",
            "platform": "taobao",
            "shop_id": SHOP,
            "conversation_id": f"conv-{BUYER}",
            "buyer_uid": BUYER,
            "buyer_nick": "张先生",
            "sender_role": "buyer",
            "msg_type": "text",
            "text": text,
            "platform_time": self.clock().isoformat(),
            **overrides,
        }

    async def say(self, text: str, **overrides: Any) -> dict[str, Any]:
        status, answer = await self.signed(
            "POST", "/bridge/v1/events", body=self.event(text, **overrides)
        )
        assert status == 200, answer
        return answer

    async def poll(self, wait: float = 0, **kwargs: Any) -> list[dict[str, Any]]:
        status, answer = await self.signed(
            "GET", "/bridge/v1/commands", query={"wait": wait, "limit": 10}, **kwargs
        )
        assert status == 200, answer
        return list(answer["commands"])

    async def report(self, command_id: int, status: str, expect: int = 200, **extra: Any) -> Any:
        code, answer = await self.signed(
            "POST", f"/bridge/v1/commands/{command_id}/result", body={"status": status, **extra}
        )
        assert code == expect, answer
        return answer

    async def message(self, message_id: int) -> Message:
        async with make_async_sessionmaker(self.engine)() as session:
            found = await session.get(Message, message_id)
            assert found is not None
            return found

    async def command(self, command_id: int) -> BridgeCommand:
        async with make_async_sessionmaker(self.engine)() as session:
            found = await session.get(BridgeCommand, command_id)
            assert found is not None
            return found

    async def ticket(self) -> tuple[str, str]:
        async with make_async_sessionmaker(self.engine)() as session:
            ticket = (await session.execute(select(Ticket))).scalar_one()
        detail = await self.api("GET", f"/api/tickets/{ticket.number}", "9001")
        return ticket.number, str(detail["engineer"]["staff_no"])


BotFactory = Callable[..., Awaitable[BridgeBot]]


@pytest.fixture
async def make_bot(start_app: StartApp) -> AsyncIterator[BotFactory]:
    async def factory(
        db_url: str, *, clock: FakeClock | None = None, env: Mapping[str, str] | None = None
    ) -> BridgeBot:
        app = await start_app(
            db_url,
            env={"AFTERSALES_BRIDGE_KEYS": f"{KEY_ID}={SECRET}"} if env is None else env,
            modules=[bridge, wecom_kf],
            clock=clock,
            instance="bridge-a",
        )
        return BridgeBot(app.client, app.clock, app.engine)

    yield factory


# ---------------------------------------------------------------- inbound --


async def test_a_signed_buyer_message_opens_a_ticket_and_queues_the_greeting(
    make_bot: BotFactory, db_url: str
) -> None:
    bot = await make_bot(db_url)
    answer = await bot.say("服务器开不了机了")
    assert answer["customer_message"] is True and answer["duplicate"] is False
    assert answer["ticket"].startswith("PS-")
    stored = await bot.message(answer["message_id"])
    assert (stored.channel, stored.sender, stored.external_id, stored.text) == (
        "qianniu",
        f"{SHOP}:{BUYER}",
        "ev-00001",
        "服务器开不了机了",
    )
    [command] = await bot.poll()
    assert command["text"].startswith("您好，我是朴赛售后服务中心运维工程师")
    assert (command["platform"], command["shop_id"], command["conversation_id"]) == (
        "taobao",
        SHOP,
        f"conv-{BUYER}",
    )
    assert command["attempt"] == 1
    assert await bot.report(command["id"], "submitted") == {
        "id": command["id"],
        "status": "submitted",
        "changed": True,
    }
    assert (await bot.report(command["id"], "confirmed", platform_msg_id="tb-123"))["changed"]
    # The same result again changes nothing.
    assert not (await bot.report(command["id"], "confirmed"))["changed"]
    row = await bot.command(command["id"])
    assert (row.status, row.platform_msg_id) == (BridgeCommandStatus.CONFIRMED, "tb-123")
    greeting = await bot.message(row.message_id or 0)
    assert greeting.delivery_status is DeliveryStatus.SENT
    assert await bot.poll() == []


async def test_jd_is_its_own_channel_and_staff_lines_are_not_customer_input(
    make_bot: BotFactory, sqlite_url: str
) -> None:
    bot = await make_bot(sqlite_url)
    jd = await bot.say("我买的服务器无法开机", platform="jd", shop_id="jd-shop-1")
    assert (await bot.message(jd["message_id"])).channel == "jd"
    staff = await bot.say("亲，您好", sender_role="shop_staff")
    assert staff == {"event_id": "ev-00002", "duplicate": False, "customer_message": False}
    image = await bot.say("", msg_type="image", media=[{"type": "image", "url": "https://x/1.jpg"}])
    assert (await bot.message(image["message_id"])).text == "[图片]"
    order = await bot.say(
        "", msg_type="order", order={"order_id": "3141592653", "status": "已签收"}
    )
    assert (await bot.message(order["message_id"])).text == "[订单] 3141592653"
    assert await bot.count(BridgeEvent) == 4
    assert await bot.count(Message, Message.role == MessageRole.CUSTOMER) == 3


async def test_bad_signatures_stale_timestamps_and_replayed_nonces_are_refused(
    make_bot: BotFactory, sqlite_url: str
) -> None:
    bot = await make_bot(sqlite_url)
    body = bot.event("服务器开不了机了")
    path = "/bridge/v1/events"
    status, answer = await bot.signed("POST", path, body=body, secret="wrong" * 8)
    assert (status, answer["error"]) == (401, "bad_signature")
    status, answer = await bot.signed("POST", path, body=body, timestamp=bot.clock.unix - 301)
    assert (status, answer["error"]) == (401, "stale_timestamp")
    status, answer = await bot.signed("POST", path, body=body, timestamp=bot.clock.unix + 301)
    assert (status, answer["error"]) == (401, "stale_timestamp")
    status, answer = await bot.signed("POST", path, body=body, key_id="nobody")
    assert (status, answer["error"]) == (401, "unknown_key")
    status, answer = await bot.signed("POST", path, body=body, nonce="short")
    assert (status, answer["error"]) == (400, "bad_nonce")
    # A signature for another path (a poll signature replayed as an event) fails.
    response = await bot.client.post(path, data=json.dumps(body).encode())
    assert (response.status, (await response.json())["error"]) == (401, "missing_auth")
    assert await bot.count(BridgeEvent) == 0
    assert await bot.count(Message) == 0

    nonce = secrets.token_urlsafe(18)
    status, _ = await bot.signed("POST", path, body=body, nonce=nonce)
    assert status == 200
    status, answer = await bot.signed("POST", path, body=body, nonce=nonce)
    assert (status, answer["error"]) == (401, "replayed_nonce")
    assert await bot.count(Message, Message.role == MessageRole.CUSTOMER) == 1
    # The signature covers the request line: the same signed headers elsewhere fail.
    ts = str(bot.clock.unix)
    other = secrets.token_urlsafe(18)
    headers = {
        "X-Bridge-Key-Id": KEY_ID,
        "X-Bridge-Timestamp": ts,
        "X-Bridge-Nonce": other,
        "X-Bridge-Signature": sign(SECRET, "GET", "/bridge/v1/commands", ts, other, b""),
    }
    response = await bot.client.get("/bridge/v1/commands?wait=0", headers=headers)
    assert response.status == 401


async def test_a_replayed_event_id_is_a_no_op_and_a_reused_one_is_refused(
    make_bot: BotFactory, db_url: str
) -> None:
    bot = await make_bot(db_url)
    event = bot.event("服务器开不了机了")
    first = await bot.signed("POST", "/bridge/v1/events", body=event)
    again = await bot.signed("POST", "/bridge/v1/events", body=event)  # new nonce, same event
    assert first[0] == again[0] == 200
    assert again[1]["duplicate"] is True
    assert again[1]["ticket"] == first[1]["ticket"]
    assert again[1]["message_id"] == first[1]["message_id"]
    status, answer = await bot.signed(
        "POST", "/bridge/v1/events", body={**event, "text": "另一句话"}
    )
    assert (status, answer["error"]) == (409, "event_id_reused")
    assert await bot.count(Message, Message.role == MessageRole.CUSTOMER) == 1
    assert await bot.count(Ticket) == 1
    assert len(await bot.poll()) == 1  # one greeting, not two


async def test_bad_events_get_a_400_naming_the_field_and_write_nothing(
    make_bot: BotFactory, sqlite_url: str
) -> None:
    bot = await make_bot(sqlite_url)
    cases: list[tuple[Any, str]] = [
        (b"{not json", "malformed_json"),
        (b"[1, 2]", "not_an_object"),
        ({**bot.event("x"), "platform": "pdd"}, "platform"),
        ({k: v for k, v in bot.event("x").items() if k != "buyer_uid"}, "buyer_uid"),
        ({**bot.event("x"), "platform_time": "yesterday"}, "platform_time"),
        ({**bot.event(""), "msg_type": "text"}, "text"),
        ({**bot.event("x"), "event_id": "has spaces in it"}, "event_id"),
        ({**bot.event("x"), "media": "https://x"}, "media"),
        ({**bot.event("x"), "sender_role": "robot"}, "sender_role"),
        ({**bot.event("x"), "text": "长" * 5000}, "text"),
    ]
    for body, named in cases:
        raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        status, answer = await bot.signed("POST", "/bridge/v1/events", body=raw)
        assert status == 400, (named, answer)
        assert named in (answer.get("field") or answer["error"]), (named, answer)
    assert await bot.count(BridgeEvent) == 0
    assert await bot.count(Message) == 0


# --------------------------------------------------------------- commands --


async def test_unknown_is_never_resent_and_a_late_confirmation_corrects_it(
    make_bot: BotFactory, db_url: str
) -> None:
    bot = await make_bot(db_url)
    await bot.say("服务器开不了机了")
    [command] = await bot.poll()
    await bot.report(command["id"], "unknown", detail="千牛窗口未响应")
    row = await bot.command(command["id"])
    line = await bot.message(row.message_id or 0)
    assert line.delivery_status is DeliveryStatus.UNKNOWN
    assert line.delivery_error is not None and "cannot tell" in line.delivery_error
    # Not offered again: not now, not after the lease would have run out.
    assert await bot.poll() == []
    bot.clock.advance(hours=2)
    assert await bot.poll() == []
    assert (await bot.command(command["id"])).attempts == 1
    await bot.report(command["id"], "submitted", expect=409)
    await bot.report(command["id"], "confirmed")
    assert (await bot.message(row.message_id or 0)).delivery_status is DeliveryStatus.SENT
    await bot.report(command["id"], "rejected", expect=409)


async def test_a_lease_without_result_is_offered_again_then_marked_unknown(
    make_bot: BotFactory, sqlite_url: str
) -> None:
    bot = await make_bot(sqlite_url)
    await bot.say("服务器开不了机了")
    [first] = await bot.poll()
    assert await bot.poll() == []  # leased: nobody else gets it
    bot.clock.advance(seconds=121)
    [second] = await bot.poll()
    assert (second["id"], second["attempt"]) == (first["id"], 2)
    bot.clock.advance(seconds=121)
    [third] = await bot.poll()
    assert third["attempt"] == 3
    bot.clock.advance(seconds=121)
    assert await bot.poll() == []
    row = await bot.command(first["id"])
    assert row.status is BridgeCommandStatus.UNKNOWN
    line = await bot.message(row.message_id or 0)
    assert line.delivery_status is DeliveryStatus.UNKNOWN
    assert "not resent" in (line.delivery_error or "")


async def test_two_polls_never_get_the_same_command(make_bot: BotFactory, db_url: str) -> None:
    bot = await make_bot(db_url)
    for i in range(4):
        await bot.say(f"第{i}台服务器开不了机", buyer_uid=f"buyer{i}", conversation_id=f"c{i}")
    got = await asyncio.gather(*(bot.poll() for _ in range(4)))
    ids = [command["id"] for batch in got for command in batch]
    assert len(ids) == 4 and len(set(ids)) == 4


async def test_a_long_poll_wakes_when_a_line_is_queued(
    make_bot: BotFactory, sqlite_url: str
) -> None:
    bot = await make_bot(sqlite_url)
    await bot.say("服务器开不了机了")
    [greeting] = await bot.poll()
    await bot.report(greeting["id"], "submitted")
    number, staff_no = await bot.ticket()

    async def engineer_writes() -> None:
        await asyncio.sleep(0.3)
        await bot.api(
            "POST", f"/api/tickets/{number}/messages", staff_no, text="您好，请问指示灯是什么颜色？"
        )

    started = time.monotonic()
    writer = asyncio.create_task(engineer_writes())
    commands = await bot.poll(wait=5)
    await writer
    assert [c["text"] for c in commands] == ["您好，请问指示灯是什么颜色？"]
    assert time.monotonic() - started < 3


async def test_a_key_limited_to_one_shop_speaks_and_hears_only_for_it(
    make_bot: BotFactory, sqlite_url: str
) -> None:
    bot = await make_bot(sqlite_url)
    app = bot.client.app
    assert app is not None
    scoped_secret = secrets.token_hex(20)
    await add_bridge_key(
        app[SERVICES].sessionmaker, "shop-a-pc", scoped_secret, shops=["taobao:shop-a"]
    )
    status, answer = await bot.signed(
        "POST",
        "/bridge/v1/events",
        body=bot.event("在吗", shop_id="shop-b"),
        key_id="shop-a-pc",
        secret=scoped_secret,
    )
    assert (status, answer["error"]) == (403, "shop_not_allowed")
    status, _ = await bot.signed(
        "POST",
        "/bridge/v1/events",
        body=bot.event("在吗", shop_id="shop-a", buyer_uid="a1"),
        key_id="shop-a-pc",
        secret=scoped_secret,
    )
    assert status == 200
    await bot.say("服务器坏了", shop_id="shop-b", buyer_uid="b1")  # through the all-shops key
    scoped = await bot.poll(key_id="shop-a-pc", secret=scoped_secret)
    assert {c["shop_id"] for c in scoped} == {"shop-a"}
    others = await bot.poll()
    assert {c["shop_id"] for c in others} == {"shop-b"}
    # A result from a key the command was not handed to is refused.
    code, answer = await bot.signed(
        "POST",
        f"/bridge/v1/commands/{others[0]['id']}/result",
        body={"status": "submitted"},
        key_id="shop-a-pc",
        secret=scoped_secret,
    )
    assert (code, answer["error"]) == (404, "no_such_command")


async def test_expired_nonces_are_purged(make_bot: BotFactory, sqlite_url: str) -> None:
    bot = await make_bot(sqlite_url)
    await bot.poll()
    await bot.poll()
    assert await bot.count(BridgeNonce) == 2
    bot.clock.advance(seconds=700)
    await bot.poll()
    assert await bot.count(BridgeNonce) == 1


def test_bad_bridge_settings_stop_the_app(policy: Policy, sqlite_url: str) -> None:
    for env, named in (
        ({"AFTERSALES_BRIDGE_KEYS": "pc-1=short"}, "AFTERSALES_BRIDGE_KEYS"),
        ({"AFTERSALES_BRIDGE_KEYS": "no-secret"}, "AFTERSALES_BRIDGE_KEYS"),
        ({"AFTERSALES_BRIDGE_LEASE_S": "1"}, "AFTERSALES_BRIDGE_LEASE_S"),
    ):
        settings = Settings(policy=policy, db_url=sqlite_url, environ=env)
        with pytest.raises(SettingsError, match=named):
            create_app(settings, channel_modules=[bridge], page_modules=[])


# ------------------------------------------------------------------ flow --


async def test_whole_lifecycle_through_the_bridge(
    make_bot: BotFactory, db_url: str, policy: Policy
) -> None:
    """Greeting, accept, backup warning forced before remote, resolve with thanks and
    responsibility, rating — every line typed by the bridge — and no finding."""
    bot = await make_bot(db_url)

    async def typed() -> list[str]:
        commands = await bot.poll()
        for command in commands:
            await bot.report(command["id"], "confirmed")
        return [command["text"] for command in commands]

    await bot.say("服务器开不了机了，麻烦看一下")
    number, staff_no = await bot.ticket()
    path = f"/api/tickets/{number}"
    [greeting] = await typed()
    assert f"工号{staff_no}" in greeting

    bot.clock.advance(minutes=2)
    await bot.api("POST", f"{path}/accept", staff_no)
    [told] = await typed()  # accepting tells the customer the ticket number
    assert f"工单号：{number}" in told
    bot.clock.advance(seconds=30)
    refused = await bot.api("POST", f"{path}/remote", staff_no, status=409, tool="向日葵")
    assert refused["error"] == "backup_confirmation_required"
    [warning] = await typed()
    assert "备份" in warning and "数据丢失" in warning

    bot.clock.advance(seconds=40)
    await bot.say("数据都已经备份好了，可以远程")
    bot.clock.advance(seconds=30)
    await bot.api("POST", f"{path}/remote", staff_no, tool="向日葵")
    await bot.api(
        "POST", f"{path}/messages", staff_no, text="好的，我现在通过向日葵远程为您处理，请稍候。"
    )
    assert await typed() == ["好的，我现在通过向日葵远程为您处理，请稍候。"]
    bot.clock.advance(minutes=20)
    await bot.api("POST", f"{path}/stable-run-waiver", "9001", reason="客户确认已恢复")
    resolved = await bot.api("POST", f"{path}/resolve", staff_no, ask_suggestion=False)
    closing = await typed()
    assert closing == [line["text"] for line in resolved["sent"]]
    assert any("感谢您对我们本次服务的理解和支持" in text for text in closing)
    assert any("随时联络我们" in text for text in closing)

    bot.clock.advance(minutes=1)
    await bot.say("很满意")
    # The bot's thanks for the rating, then the review invitation (seed 000 2.a.2).
    assert len(await typed()) == 2
    detail = await bot.api("GET", path, staff_no)
    events = [event["event"] for event in detail["events"]]
    assert events.index("backup_warning_sent") < events.index("remote_login")
    for expected in ("ticket_opened", "ticket_accepted", "resolved", "satisfaction_rated"):
        assert expected in events
    assert (
        await bot.count(BridgeCommand, BridgeCommand.status != BridgeCommandStatus.CONFIRMED) == 0
    )
    assert findings_of(db_url, policy) == []
