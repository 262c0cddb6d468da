"""WeCom 微信客服 through the real app: callback crypto (official vectors), sync_msg paging,
expired callback tokens, two workers racing for one cursor, send rules, the whole flow."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.app import create_app
from bot.channels import bridge, wecom_kf
from bot.channels.testing import (
    CORP_ID,
    KF_AES_KEY,
    KF_TOKEN,
    OPEN_KFID,
    FakeKfApi,
    KfCallbacks,
)
from bot.channels.wechat_crypto import MessageCrypto
from bot.channels.wecom_kf_sender import WeComKfSender
from bot.context import SERVICES
from bot.messages import DeliveryResult
from bot.settings import Settings, SettingsError
from compliance.policy import Policy
from storage.channel_models import KfCursor
from storage.db import make_async_sessionmaker
from storage.models import Customer, DeliveryStatus, Message, MessageRole, Ticket
from tests.channels.harness import REALDATA, ChannelApp, FakeServer, StartApp
from tests.support import FakeClock, findings_of

VECTORS_FILE = REALDATA / "wechat" / "wxbizmsgcrypt_vectors.json"
CUSTOMER = "wmCustomer0001"


def send_fail_event(line_id: int, fail_type: int, send_time: int) -> dict[str, Any]:
    """WeCom's msg_send_fail system event (origin 4) for the line sent as ``as<line_id>``."""
    return {
        "origin": 4,
        "send_time": send_time,
        "msgtype": "event",
        "event": {
            "event_type": "msg_send_fail",
            "fail_msgid": f"as{line_id}",
            "fail_type": fail_type,
        },
    }


def kf_env(api_base: str, **extra: str) -> dict[str, str]:
    return {
        "AFTERSALES_WECOM_CORP_ID": CORP_ID,
        "AFTERSALES_WECOM_KF_SECRET": "kf-secret",
        "AFTERSALES_WECOM_KF_TOKEN": KF_TOKEN,
        "AFTERSALES_WECOM_KF_AES_KEY": KF_AES_KEY,
        "AFTERSALES_WECOM_API_BASE": api_base,
        "AFTERSALES_WECOM_API_ATTEMPTS": "2",
        "AFTERSALES_WECOM_KF_SWEEP_S": "0",
        **extra,
    }


@dataclass
class KfBot(ChannelApp):
    fake: FakeKfApi
    callbacks: KfCallbacks

    async def notify(self, sync_token: str | None = None) -> int:
        """WeCom calls the callback; returns the HTTP status."""
        token = sync_token or self.fake.new_callback_token()
        signed = self.callbacks.request(self.callbacks.notice_xml(token), self.clock.unix)
        response = await self.client.post(wecom_kf.PATH, params=signed.params, data=signed.body)
        assert (await response.text()) in ("success", "") or response.status >= 400
        # A sync that outlived the callback's budget (a loaded machine) finishes first.
        syncer = self.app[wecom_kf.WECOM_KF].syncer
        if syncer is not None:
            await syncer.settle()
        return response.status

    async def say(self, text: str, user: str = CUSTOMER) -> str:
        msgid = self.fake.customer_says(user, text, self.clock.unix)
        assert await self.notify() == 200
        return msgid

    async def customer_lines(self) -> list[Message]:
        return await self.messages(MessageRole.CUSTOMER)

    async def cursor(self) -> KfCursor:
        async with make_async_sessionmaker(self.engine)() as session:
            row = await session.get(KfCursor, OPEN_KFID)
            assert row is not None
            return row


BotFactory = Callable[..., Awaitable[KfBot]]


@pytest.fixture
async def make_bot(start_app: StartApp, fake_server: FakeServer) -> AsyncIterator[BotFactory]:
    fake = FakeKfApi()
    base = await fake_server(fake.app())

    async def factory(
        db_url: str,
        *,
        clock: FakeClock | None = None,
        env: Mapping[str, str] | None = None,
        instance: str = "kf-a",
        **extra_env: str,
    ) -> KfBot:
        """The app on `db_url`: `env` replaces the test environment, `extra_env` adds to it."""
        app = await start_app(
            db_url,
            env=kf_env(base, **extra_env) if env is None else env,
            modules=[wecom_kf, bridge],
            clock=clock,
            instance=instance,
        )
        return KfBot(app.client, app.clock, app.engine, fake, KfCallbacks())

    yield factory


def _vectors() -> list[dict[str, Any]]:
    if not VECTORS_FILE.exists():
        pytest.skip(f"WeCom crypto vectors not found at {VECTORS_FILE} (set AFTERSALES_REALDATA)")
    return list(json.loads(VECTORS_FILE.read_text(encoding="utf-8")))


# ----------------------------------------------------------------- crypto --


@pytest.mark.realdata
async def test_url_verification_with_the_official_wecom_vectors(
    make_bot: BotFactory, sqlite_url: str
) -> None:
    verify = [v for v in _vectors() if "echostr" in v and "WeCom" in v["platform"]]
    assert len(verify) >= 2
    for vector in verify:
        clock = FakeClock(datetime.fromtimestamp(int(vector["timestamp"]), UTC))
        env = kf_env(
            "http://127.0.0.1:9",
            AFTERSALES_WECOM_CORP_ID=vector["receive_id"],
            AFTERSALES_WECOM_KF_TOKEN=vector["token"],
            AFTERSALES_WECOM_KF_AES_KEY=vector["encoding_aes_key"],
        )
        bot = await make_bot(sqlite_url, clock=clock, env=env)
        params = {
            "msg_signature": vector["msg_signature"],
            "timestamp": vector["timestamp"],
            "nonce": vector["nonce"],
            "echostr": vector["echostr"],
        }
        response = await bot.client.get(wecom_kf.PATH, params=params)
        assert response.status == 200, vector["name"]
        assert await response.text() == vector["decrypted_plaintext"]
        if "negative_case" in vector:
            # The vector's own must-fail case: another nonce under the same signature.
            negative = {**params, "nonce": vector["negative_case"]["nonce"]}
            assert (await bot.client.get(wecom_kf.PATH, params=negative)).status == 403
        # One flipped signature digit is refused.
        flipped = vector["msg_signature"][:-1] + (
            "0" if vector["msg_signature"][-1] != "0" else "1"
        )
        refused = await bot.client.get(wecom_kf.PATH, params={**params, "msg_signature": flipped})
        assert refused.status == 403


@pytest.mark.realdata
async def test_official_wecom_message_vectors_decrypt_and_are_acknowledged_unstored(
    make_bot: BotFactory, sqlite_url: str
) -> None:
    decrypt = [v for v in _vectors() if "post_body" in v and "WeCom" in v["platform"]]
    assert decrypt
    for vector in decrypt:
        crypto = MessageCrypto(vector["token"], [vector["encoding_aes_key"]], vector["receive_id"])
        encrypted = vector["post_body"].split("<Encrypt><![CDATA[")[1].split("]]>")[0]
        opened = crypto.decrypt(
            encrypted, vector["msg_signature"], vector["timestamp"], vector["nonce"]
        )
        assert opened.plaintext == vector["decrypted_plaintext"]
        # Through the app: an ordinary app message, not a kf notice — 200, nothing stored.
        clock = FakeClock(datetime.fromtimestamp(int(vector["timestamp"]), UTC))
        env = kf_env(
            "http://127.0.0.1:9",
            AFTERSALES_WECOM_CORP_ID=vector["receive_id"],
            AFTERSALES_WECOM_KF_TOKEN=vector["token"],
            AFTERSALES_WECOM_KF_AES_KEY=vector["encoding_aes_key"],
        )
        bot = await make_bot(sqlite_url, clock=clock, env=env)
        params = {k: vector[k] for k in ("msg_signature", "timestamp", "nonce")}
        response = await bot.client.post(wecom_kf.PATH, params=params, data=vector["post_body"])
        assert (response.status, await response.text()) == (200, "success"), vector["name"]
        assert await bot.count(KfCursor) == 0
        assert await bot.count(Message) == 0


# ---------------------------------------------------------------- reading --


async def test_customer_message_opens_a_ticket_and_gets_the_greeting_by_send_msg(
    make_bot: BotFactory, db_url: str
) -> None:
    bot = await make_bot(db_url)
    msgid = await bot.say("服务器开不了机了")
    number, staff_no = await bot.ticket_and_engineer()
    lines = await bot.customer_lines()
    assert [(m.external_id, m.text, m.channel, m.sender) for m in lines] == [
        (msgid, "服务器开不了机了", "wecom", f"{OPEN_KFID}:{CUSTOMER}")
    ]
    [greeting] = bot.fake.sent(CUSTOMER)
    assert greeting.startswith("您好，我是朴赛售后服务中心运维工程师") and staff_no in greeting
    send = bot.fake.calls_to("/cgi-bin/kf/send_msg")[0]
    assert send.body["open_kfid"] == OPEN_KFID
    stored = await bot.line(greeting)
    assert send.body["msgid"] == f"as{stored.id}"
    assert stored.delivery_status is DeliveryStatus.SENT
    # The new session (0) was taken over for the API (1), never handed to a servicer (3).
    assert [
        c.body["service_state"] for c in bot.fake.calls_to("/cgi-bin/kf/service_state/trans")
    ] == [1]
    assert bot.fake.states[(OPEN_KFID, CUSTOMER)] == 1
    cursor = await bot.cursor()
    assert (cursor.cursor, cursor.pending_seq, cursor.synced_seq, cursor.leased_by) == (
        "c1",
        1,
        1,
        None,
    )
    assert number.startswith("PS-")
    # One access token for all of it (gettoken once).
    assert len(bot.fake.calls_to("/cgi-bin/gettoken")) == 1


def enter_session(user: str, send_time: int, code: str | None = "WELCOME-CODE") -> dict[str, Any]:
    """WeCom's enter_session system event; with a welcome_code when WeCom offers one."""
    event: dict[str, Any] = {
        "event_type": "enter_session",
        "open_kfid": OPEN_KFID,
        "external_userid": user,
        "scene": "kf_link",
    }
    if code:
        event["welcome_code"] = code
    return {"origin": 4, "send_time": send_time, "msgtype": "event", "event": event}


async def test_a_new_cursor_reads_past_three_days_of_backlog_without_acting_on_it(
    make_bot: BotFactory, db_url: str
) -> None:
    bot = await make_bot(db_url)
    now = bot.clock.unix
    # Three days of conversations other people handled before the bot was connected.
    for hours_ago in range(71, 0, -7):
        user = f"wmOld{hours_ago:02d}"
        bot.fake.add(enter_session(user, now - hours_ago * 3600))
        bot.fake.customer_says(user, f"{hours_ago}小时前：服务器报警", now - hours_ago * 3600 + 5)
    backlog = len(bot.fake.messages[OPEN_KFID])
    assert await bot.notify() == 200
    syncs = bot.fake.calls_to("/cgi-bin/kf/sync_msg")
    assert syncs[0].body.get("cursor") is None  # a new cursor: from the start of the three days
    assert syncs[-1].answer["has_more"] == 0  # ... to the end
    assert await bot.count(Ticket) == 0
    assert await bot.count(Message) == 0
    assert bot.fake.calls_to("/cgi-bin/kf/send_msg") == []
    assert bot.fake.calls_to("/cgi-bin/kf/send_msg_on_event") == []
    assert bot.fake.calls_to("/cgi-bin/kf/service_state/trans") == []
    cursor = await bot.cursor()
    assert cursor.cursor == f"c{backlog}"
    assert cursor.connected_at is not None

    # What comes after the connection is handled as ever.
    bot.clock.advance(minutes=5)
    msgid = await bot.say("服务器开不了机了")
    assert [m.external_id for m in await bot.customer_lines()] == [msgid]
    assert await bot.count(Ticket) == 1
    [greeting] = bot.fake.sent(CUSTOMER)
    assert greeting.startswith("您好，我是朴赛售后服务中心运维工程师")


async def test_the_message_that_caused_the_first_notice_is_read(
    make_bot: BotFactory, sqlite_url: str
) -> None:
    bot = await make_bot(sqlite_url)
    # Sent a little before the notice that connects the account (WeCom calls back after).
    msgid = bot.fake.customer_says(CUSTOMER, "硬盘亮红灯", bot.clock.unix - 40)
    assert await bot.notify() == 200
    assert [m.external_id for m in await bot.customer_lines()] == [msgid]
    assert len(bot.fake.sent(CUSTOMER)) == 1


async def test_entering_the_conversation_is_welcomed_once_with_the_welcome_code(
    make_bot: BotFactory, sqlite_url: str
) -> None:
    bot = await make_bot(sqlite_url)
    bot.fake.add(enter_session(CUSTOMER, bot.clock.unix, code="CODE-FRESH"))
    bot.fake.add(enter_session("wmSlow", bot.clock.unix - 25, code="CODE-STALE"))
    bot.fake.add(enter_session("wmNative", bot.clock.unix, code=None))
    assert await bot.notify() == 200
    [call] = bot.fake.calls_to("/cgi-bin/kf/send_msg_on_event")
    assert call.body["code"] == "CODE-FRESH" and call.body["msgtype"] == "text"
    welcome = bot.fake.welcomed["CODE-FRESH"]
    assert welcome.startswith("您好[握手]欢迎联系朴赛售后服务中心。服务器报修请直接在这里留言")
    assert "每天 09:30–18:00" in welcome and "400-000-1773" in welcome
    # Not a ticket, not a transcript line, not a send_msg (the window is not used).
    assert await bot.count(Message) == 0 and await bot.count(Ticket) == 0
    assert bot.fake.calls_to("/cgi-bin/kf/send_msg") == []


async def test_the_kf_welcome_can_be_left_to_wecom(make_bot: BotFactory, sqlite_url: str) -> None:
    bot = await make_bot(sqlite_url, AFTERSALES_WECOM_KF_WELCOME="off")
    bot.fake.add(enter_session(CUSTOMER, bot.clock.unix))
    assert await bot.notify() == 200
    assert bot.fake.calls_to("/cgi-bin/kf/send_msg_on_event") == []


async def test_has_more_pages_are_followed_and_the_cursor_stored_after_each_page(
    make_bot: BotFactory, sqlite_url: str
) -> None:
    bot = await make_bot(sqlite_url)
    ids = [
        bot.fake.customer_says(f"wmUser{i % 2}", f"第{i}条：硬盘报警", bot.clock.unix)
        for i in range(5)
    ]
    assert await bot.notify() == 200
    syncs = bot.fake.calls_to("/cgi-bin/kf/sync_msg")
    assert [call.body.get("cursor") for call in syncs] == [None, "c2", "c4"]
    assert [call.answer["has_more"] for call in syncs] == [1, 1, 0]
    assert [m.external_id for m in await bot.customer_lines()] == ids
    assert (await bot.cursor()).cursor == "c5"
    assert await bot.count(Ticket) == 2
    # The next notice reads on from the stored cursor: nothing twice.
    later = bot.fake.customer_says("wmUser0", "还在吗", bot.clock.unix)
    assert await bot.notify() == 200
    assert bot.fake.calls_to("/cgi-bin/kf/sync_msg")[-1].body["cursor"] == "c5"
    assert [m.external_id for m in await bot.customer_lines()] == [*ids, later]


async def test_only_origin_3_is_customer_input_and_send_failures_are_recorded(
    make_bot: BotFactory, sqlite_url: str
) -> None:
    bot = await make_bot(sqlite_url)
    await bot.say("服务器开不了机了")
    [greeting] = bot.fake.sent(CUSTOMER)
    stored = await bot.line(greeting)
    bot.fake.add(
        {
            "origin": 5,
            "servicer_userid": "zhangsan",
            "external_userid": CUSTOMER,
            "send_time": bot.clock.unix,
            "msgtype": "text",
            "text": {"content": "我是企业微信里的接待人员"},
        }
    )
    bot.fake.add(
        {
            "origin": 4,
            "send_time": bot.clock.unix,
            "msgtype": "event",
            "event": {"event_type": "enter_session", "external_userid": CUSTOMER},
        }
    )
    bot.fake.add(send_fail_event(stored.id, 10, bot.clock.unix))
    assert await bot.notify() == 200
    assert [m.text for m in await bot.customer_lines()] == ["服务器开不了机了"]
    assert await bot.count(Message, Message.text == "我是企业微信里的接待人员") == 0
    refused = await bot.line(greeting)
    assert refused.delivery_status is DeliveryStatus.BLOCKED_BY_CHANNEL
    assert "fail_type 10" in (refused.delivery_error or "")


async def test_an_expired_callback_token_is_read_without_it_and_nothing_is_lost(
    make_bot: BotFactory, sqlite_url: str
) -> None:
    bot = await make_bot(sqlite_url)
    first = bot.fake.customer_says(CUSTOMER, "服务器开不了机了", bot.clock.unix)
    token = bot.fake.new_callback_token()
    bot.fake.expire_callback_tokens()  # WeCom's 10 minutes passed before we read
    assert await bot.notify(token) == 200
    syncs = bot.fake.calls_to("/cgi-bin/kf/sync_msg")
    assert [(c.body.get("token"), c.answer["errcode"]) for c in syncs] == [
        (token, 95007),
        (None, 0),
    ]
    assert [m.external_id for m in await bot.customer_lines()] == [first]

    # Expired again and reading without a token is rate-limited: the notice stays
    # pending, the cursor stays put, and the next notice reads everything.
    second = bot.fake.customer_says(CUSTOMER, "还是不行", bot.clock.unix)
    stale = bot.fake.new_callback_token()
    bot.fake.expire_callback_tokens()
    bot.fake.refuse_tokenless = True
    assert await bot.notify(stale) == 200
    cursor = await bot.cursor()
    assert (cursor.cursor, cursor.pending_seq, cursor.synced_seq, cursor.leased_by) == (
        "c1",
        2,
        1,
        None,
    )
    assert [m.external_id for m in await bot.customer_lines()] == [first]
    bot.fake.refuse_tokenless = False
    third = bot.fake.customer_says(CUSTOMER, "在吗", bot.clock.unix)
    assert await bot.notify() == 200
    assert [m.external_id for m in await bot.customer_lines()] == [first, second, third]
    cursor = await bot.cursor()
    assert (cursor.cursor, cursor.synced_seq) == ("c3", cursor.pending_seq)


async def test_the_sweep_reads_a_notice_left_pending(make_bot: BotFactory, sqlite_url: str) -> None:
    bot = await make_bot(sqlite_url)
    msgid = bot.fake.customer_says(CUSTOMER, "服务器开不了机了", bot.clock.unix)
    bot.fake.refuse_tokenless = True
    token = bot.fake.new_callback_token()
    bot.fake.expire_callback_tokens()
    assert await bot.notify(token) == 200
    assert await bot.customer_lines() == []
    bot.fake.refuse_tokenless = False
    app = bot.client.app
    assert app is not None
    syncer = app[wecom_kf.WECOM_KF].syncer
    assert syncer is not None
    results = await syncer.sweep()
    assert [(r.claimed, r.stored, r.error) for r in results] == [(True, 1, None)]
    assert [m.external_id for m in await bot.customer_lines()] == [msgid]


async def test_a_redelivered_callback_and_a_reread_store_nothing_twice(
    make_bot: BotFactory, sqlite_url: str
) -> None:
    bot = await make_bot(sqlite_url)
    token = bot.fake.new_callback_token()
    bot.fake.customer_says(CUSTOMER, "服务器开不了机了", bot.clock.unix)
    assert await bot.notify(token) == 200
    assert await bot.notify(token) == 200  # WeCom retries a callback it heard nothing from
    # The cursor lost (restored from an old backup): everything is read again.
    async with make_async_sessionmaker(bot.engine).begin() as session:
        row = await session.get(KfCursor, OPEN_KFID)
        assert row is not None
        row.cursor = None
    assert await bot.notify() == 200
    assert len(await bot.customer_lines()) == 1
    assert await bot.count(Ticket) == 1
    assert len(bot.fake.sent(CUSTOMER)) == 1


async def test_two_workers_racing_for_one_cursor_read_each_message_once(
    make_bot: BotFactory, db_url: str
) -> None:
    clock = FakeClock()
    one = await make_bot(db_url, clock=clock, instance="kf-one")
    two = await make_bot(db_url, clock=clock, instance="kf-two")
    fake = one.fake
    fake.sync_delay_s = 0.05
    expected: list[str] = []
    for round_number in range(3):
        expected += [
            fake.customer_says(f"wmRacer{i}", f"第{round_number}轮 第{i}条 服务器宕机", clock.unix)
            for i in range(3)
        ]
        statuses = await asyncio.gather(one.notify(), two.notify(), one.notify(), two.notify())
        assert statuses == [200, 200, 200, 200]
        # A sync still running in the background finishes before we look.
        for _ in range(100):
            cursor = await one.cursor()
            if cursor.leased_by is None and cursor.synced_seq == cursor.pending_seq:
                break
            await asyncio.sleep(0.05)
        assert fake.max_in_flight[OPEN_KFID] == 1
        stored = [m.external_id for m in await one.customer_lines()]
        assert sorted(s or "" for s in stored) == sorted(expected)  # none lost, none twice
    assert await one.count(Ticket) == 3
    greetings = [text for text in fake.sent() if text.startswith("您好，我是")]
    assert len(greetings) == 3
    assert (await one.cursor()).cursor == f"c{len(expected)}"


# ---------------------------------------------------------------- sending --


async def _send(bot: KfBot, number: str, staff_no: str, text: str) -> dict[str, Any]:
    answer = await bot.api("POST", f"/api/tickets/{number}/messages", staff_no, text=text)
    return dict(answer["sent"][0]["delivery"])


async def test_send_follows_the_session_state_and_window_rules(
    make_bot: BotFactory, sqlite_url: str
) -> None:
    bot = await make_bot(sqlite_url)
    await bot.say("服务器开不了机了")
    number, staff_no = await bot.ticket_and_engineer()
    await bot.api("POST", f"/api/tickets/{number}/accept", staff_no)

    # Someone took the conversation in the WeCom client (3): the API may not send.
    bot.fake.states[(OPEN_KFID, CUSTOMER)] = 3
    delivery = await _send(bot, number, staff_no, "您好，请问指示灯是什么颜色？")
    assert delivery["status"] == "blocked_by_channel"
    assert "session state 3" in delivery["detail"]

    # The session ended (4): refused and named, nothing moved.
    bot.fake.states[(OPEN_KFID, CUSTOMER)] = 4
    delivery = await _send(bot, number, staff_no, "您好，还在吗？")
    assert delivery["status"] == "blocked_by_channel" and "已结束" in delivery["detail"]

    # The customer wrote again: a new session (0), in which the API may send.
    bot.clock.advance(minutes=1)
    await bot.say("橙色灯")
    assert bot.fake.states[(OPEN_KFID, CUSTOMER)] == 0
    delivery = await _send(bot, number, staff_no, "好的，请您稍等，我查一下。")
    assert delivery["status"] == "sent"

    # WeCom's own refusal of a sixth line is the channel's, not a failure.
    bot.fake.send_errcodes = [95001]
    delivery = await _send(bot, number, staff_no, "请您再确认一下型号。")
    assert delivery["status"] == "blocked_by_channel" and "95001" in delivery["detail"]

    # Past 48 h after the customer's last message nothing is even tried.
    calls = len(bot.fake.calls_to("/cgi-bin/kf/send_msg"))
    bot.clock.advance(hours=49)
    delivery = await _send(bot, number, staff_no, "您好，请问问题解决了吗？")
    assert delivery["status"] == "blocked_by_channel" and "48 h" in delivery["detail"]
    assert len(bot.fake.calls_to("/cgi-bin/kf/send_msg")) == calls


def _sender(bot: KfBot) -> WeComKfSender:
    sender = bot.app[wecom_kf.WECOM_KF].sender
    assert sender is not None
    return sender


async def test_a_late_answering_send_reaches_wecom_once_is_unknown_then_settled(
    make_bot: BotFactory, db_url: str
) -> None:
    bot = await make_bot(db_url, AFTERSALES_WECOM_API_TIMEOUT_S="0.2")
    await bot.say("服务器开不了机了")
    number, staff_no = await bot.ticket_and_engineer()
    text = "您好，请问指示灯是什么颜色？"
    bot.fake.slow_sends = [0.6]  # WeCom takes the line, then answers after our timeout
    delivery = await _send(bot, number, staff_no, text)
    assert delivery["status"] == "unknown"
    line = await bot.line(text)
    assert line.delivery_status is DeliveryStatus.UNKNOWN
    assert list(bot.fake.delivered.values()).count(text) == 1
    sends = len(bot.fake.calls_to("/cgi-bin/kf/send_msg"))

    # Too fresh to settle yet (a msg_send_fail may still come); then settled.
    assert await _sender(bot).reconcile() == 0
    bot.clock.advance(seconds=31)
    assert await _sender(bot).reconcile() == 1
    resend = bot.fake.calls_to("/cgi-bin/kf/send_msg")[sends:]
    assert [(c.body["msgid"], c.answer["errcode"]) for c in resend] == [(f"as{line.id}", 40058)]
    settled = await bot.line(text)
    assert settled.delivery_status is DeliveryStatus.SENT
    assert list(bot.fake.delivered.values()).count(text) == 1  # the customer got it once
    assert await _sender(bot).reconcile() == 0  # nothing left to settle


async def test_an_unknown_line_wecom_never_took_is_sent_by_the_reconciliation(
    make_bot: BotFactory, sqlite_url: str
) -> None:
    bot = await make_bot(sqlite_url)
    await bot.say("服务器开不了机了")
    number, staff_no = await bot.ticket_and_engineer()
    text = "您好，请问机器型号是什么？"
    await _send(bot, number, staff_no, text)
    line = await bot.line(text)
    # As if the send had timed out before WeCom took it.
    bot.fake.delivered.pop(f"as{line.id}")
    await bot.app[SERVICES].tickets.record_delivery(
        line.id, DeliveryResult("unknown", "/cgi-bin/kf/send_msg: TimeoutError")
    )
    bot.clock.advance(minutes=1)
    assert await _sender(bot).reconcile() == 1
    assert (await bot.line(text)).delivery_status is DeliveryStatus.SENT
    assert bot.fake.delivered[f"as{line.id}"] == text


async def test_msg_send_fail_settles_an_unknown_line(make_bot: BotFactory, sqlite_url: str) -> None:
    bot = await make_bot(sqlite_url)
    await bot.say("服务器开不了机了")
    number, staff_no = await bot.ticket_and_engineer()
    text = "您好，请您发一张面板的照片。"
    await _send(bot, number, staff_no, text)
    line = await bot.line(text)
    await bot.app[SERVICES].tickets.record_delivery(
        line.id, DeliveryResult("unknown", "/cgi-bin/kf/send_msg: HTTP 502")
    )
    bot.fake.add(send_fail_event(line.id, 0, bot.clock.unix))
    assert await bot.notify() == 200
    failed = await bot.line(text)
    assert failed.delivery_status is DeliveryStatus.FAILED
    assert "fail_type 0" in (failed.delivery_error or "")
    bot.clock.advance(minutes=1)
    assert await _sender(bot).reconcile() == 0  # failed, not unknown: the engineer decides


async def test_a_line_over_2048_bytes_goes_in_parts_or_is_refused_naming_the_sizes(
    make_bot: BotFactory, sqlite_url: str
) -> None:
    bot = await make_bot(sqlite_url)
    await bot.say("服务器开不了机了")
    number, staff_no = await bot.ticket_and_engineer()
    steps = "\n".join(f"第{i}步：检查电源模块与主板供电，记录指示灯状态。" for i in range(40))
    assert 2048 < len(steps.encode("utf-8")) <= 2 * 2048
    delivery = await _send(bot, number, staff_no, steps)
    assert delivery == {"status": "sent", "detail": "in 2 parts"}
    line = await bot.line(steps)
    parts = [bot.fake.delivered[f"as{line.id}"], bot.fake.delivered[f"as{line.id}p2"]]
    assert "".join(parts) == steps
    assert all(len(part.encode("utf-8")) <= 2048 for part in parts)
    assert parts[0].endswith("\n")  # cut at a line break, not inside a step

    # The greeting, that line and two more leave one of the window's five: a
    # six-part line cannot go.
    for text in ("好的", "请稍候"):
        await _send(bot, number, staff_no, f"{text}，我们正在处理。")
    delivery = await _send(bot, number, staff_no, "长" * 4000)
    assert delivery["status"] == "blocked_by_channel"
    assert "12000 bytes" in delivery["detail"] and "needs 6 messages" in delivery["detail"]
    assert "only 1 of the 5" in delivery["detail"]


# ------------------------------------------------------------- bad input --


async def test_bad_callbacks_get_4xx_and_write_nothing(
    make_bot: BotFactory, sqlite_url: str
) -> None:
    bot = await make_bot(sqlite_url)
    token = bot.fake.new_callback_token()
    good = bot.callbacks.request(bot.callbacks.notice_xml(token), bot.clock.unix)

    async def post(params: Mapping[str, str], body: bytes) -> int:
        response = await bot.client.post(wecom_kf.PATH, params=params, data=body)
        return response.status

    bad_signature = {**good.params, "msg_signature": "0" * 40}
    assert await post(bad_signature, good.body) == 403
    stale = bot.callbacks.request(bot.callbacks.notice_xml(token), bot.clock.unix - 3600)
    assert await post(stale.params, stale.body) == 403
    assert await post(good.params, b"<xml><Encrypt>") == 400
    assert await post(good.params, b"<!DOCTYPE x [<!ENTITY a 'b'>]><xml/>") == 400
    assert await post({**good.params, "timestamp": "soon"}, good.body) == 400
    other_corp = KfCallbacks(corp_id="wwSomeoneElse00001").request(
        KfCallbacks(corp_id="wwSomeoneElse00001").notice_xml(token), bot.clock.unix
    )
    assert await post(other_corp.params, other_corp.body) == 403
    no_token = bot.callbacks.request(
        bot.callbacks.notice_xml(token).replace(f"<Token><![CDATA[{token}]]></Token>", ""),
        bot.clock.unix,
    )
    assert await post(no_token.params, no_token.body) == 400
    bad_kfid = bot.callbacks.request(
        bot.callbacks.notice_xml(token, open_kfid="wk bad id"), bot.clock.unix
    )
    assert await post(bad_kfid.params, bad_kfid.body) == 400
    assert await bot.count(KfCursor) == 0
    assert bot.fake.calls_to("/cgi-bin/kf/sync_msg") == []


async def test_unconfigured_channel_answers_503_naming_the_variables(
    make_bot: BotFactory, sqlite_url: str
) -> None:
    bot = await make_bot(sqlite_url, env={})
    response = await bot.client.get(wecom_kf.PATH, params={"echostr": "x"})
    assert response.status == 503
    assert "AFTERSALES_WECOM_KF_SECRET" in (await response.json())["message"]
    app = bot.client.app
    assert app is not None
    assert "wecom" not in app[SERVICES].senders.channels


def test_bad_settings_stop_the_app_naming_the_variable(policy: Policy, sqlite_url: str) -> None:
    settings = Settings(
        policy=policy,
        db_url=sqlite_url,
        environ=kf_env("http://x", AFTERSALES_WECOM_KF_AES_KEY="tooshort"),
    )
    with pytest.raises(SettingsError, match="AFTERSALES_WECOM_KF_AES_KEY"):
        create_app(settings, channel_modules=[wecom_kf], page_modules=[])


# ------------------------------------------------------------------ flow --


async def test_whole_lifecycle_through_wecom_kf(
    make_bot: BotFactory, db_url: str, policy: Policy
) -> None:
    """Greeting, accept, backup warning forced before remote, resolve with thanks and
    responsibility, rating — all through sync_msg and send_msg — and no finding."""
    bot = await make_bot(db_url)
    await bot.say("服务器开不了机了，麻烦看一下")
    number, staff_no = await bot.ticket_and_engineer()
    path = f"/api/tickets/{number}"
    [greeting] = bot.fake.sent(CUSTOMER)
    assert f"工号{staff_no}" in greeting

    bot.clock.advance(minutes=2)
    await bot.api("POST", f"{path}/accept", staff_no)
    bot.clock.advance(seconds=30)
    refused = await bot.api("POST", f"{path}/remote", staff_no, status=409, tool="向日葵")
    assert refused["error"] == "backup_confirmation_required"
    warning = bot.fake.sent(CUSTOMER)[-1]
    assert "备份" in warning and "数据丢失" in warning

    bot.clock.advance(seconds=40)
    await bot.say("数据都已经备份好了，可以远程")
    bot.clock.advance(seconds=30)
    await bot.api("POST", f"{path}/remote", staff_no, tool="向日葵")
    assert (await _send(bot, number, staff_no, "好的，我现在通过向日葵远程为您处理，请稍候。"))[
        "status"
    ] == "sent"
    bot.clock.advance(minutes=20)
    await bot.api("POST", f"{path}/stable-run-waiver", "9001", reason="客户确认已恢复")
    resolved = await bot.api("POST", f"{path}/resolve", staff_no, ask_suggestion=False)
    sent = [line["text"] for line in resolved["sent"]]
    assert all(line["delivery"]["status"] == "sent" for line in resolved["sent"])
    assert bot.fake.sent(CUSTOMER)[-len(sent) :] == sent
    assert any("感谢您对我们本次服务的理解和支持" in text for text in sent)
    assert any("随时联络我们" in text for text in sent)

    bot.clock.advance(minutes=1)
    await bot.say("很满意")
    detail = await bot.api("GET", path, staff_no)
    events = [event["event"] for event in detail["events"]]
    assert events.index("backup_warning_sent") < events.index("remote_login")
    for expected in ("ticket_opened", "ticket_accepted", "resolved", "satisfaction_rated"):
        assert expected in events
    assert await bot.count(Customer, Customer.channel == "wecom") == 1
    assert findings_of(db_url, policy) == []
