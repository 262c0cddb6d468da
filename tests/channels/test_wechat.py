"""The `/wechat` channel driven through the real app, with a recording fake of WeChat's API.

Signed and encrypted requests are built the way WeChat's servers build them
(`bot.channels.testing.WeChatCallbacks`); outbound lines land in the fake API.
Ticket tests run on SQLite and, where AFTERSALES_TEST_PG_URL is set, on
PostgreSQL (an isolated schema per test).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from bot.app import create_app
from bot.channels.testing import FakeWeChatApi, Mode, Scripted, WeChatCallbacks, message_xml
from bot.channels.wechat_crypto import compute_signature
from bot.settings import Settings, SettingsError
from storage.db import make_async_sessionmaker
from storage.models import Customer, DeliveryStatus, Message, MessageRole, Ticket
from tests.channels.harness import REALDATA, ConsoleBrowser
from tests.channels.wechat_harness import (
    AES_KEY,
    APP_ID,
    OLD_AES_KEY,
    OPENID,
    POLICY,
    TOKEN,
    Bot,
    BotFactory,
    wechat_env,
)
from tests.support import FakeClock

VECTORS = REALDATA / "wechat" / "wxbizmsgcrypt_vectors.json"
SAMPLES = REALDATA / "wechat" / "xml_samples"

# ---------------------------------------------------------------- verification --


async def test_url_verification_echoes_echostr(make_bot: BotFactory, sqlite_url: str) -> None:
    bot = await make_bot(sqlite_url)
    ts, nonce = str(bot.clock.unix), "8731"
    good = {"signature": compute_signature(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce}
    response = await bot.client.get("/wechat", params={**good, "echostr": "5927782489442352469"})
    assert (response.status, await response.text()) == (200, "5927782489442352469")

    bad = {**good, "signature": compute_signature("not-our-token", ts, nonce), "echostr": "1"}
    response = await bot.client.get("/wechat", params=bad)
    assert response.status == 403
    assert (await response.json())["error"] == "bad_signature"

    stale_ts = str(bot.clock.unix - 3600)
    stale = {
        "signature": compute_signature(TOKEN, stale_ts, nonce),
        "timestamp": stale_ts,
        "nonce": nonce,
        "echostr": "1",
    }
    response = await bot.client.get("/wechat", params=stale)
    assert response.status == 403
    assert (await response.json())["error"] == "stale_timestamp"

    response = await bot.client.get("/wechat", params=good)
    assert response.status == 400


def _vectors(kind: str) -> list[Any]:
    if not VECTORS.is_file():
        reason = f"WXBizMsgCrypt vectors absent: {VECTORS} (set AFTERSALES_REALDATA)"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="absent")]
    vectors = json.loads(VECTORS.read_text(encoding="utf-8"))
    return [pytest.param(v, id=v["name"]) for v in vectors if kind in v]


def _vector_env(vector: Mapping[str, str], api_base: str) -> dict[str, str]:
    return {
        **wechat_env(api_base),
        "AFTERSALES_WECHAT_TOKEN": vector["token"],
        "AFTERSALES_WECHAT_AES_KEY": vector["encoding_aes_key"],
        "AFTERSALES_WECHAT_APPID": vector["receive_id"],
    }


@pytest.mark.realdata
@pytest.mark.parametrize("vector", _vectors("echostr"))
async def test_encrypted_url_verification_with_official_vectors(
    make_bot: BotFactory,
    sqlite_url: str,
    fake_api: tuple[FakeWeChatApi, str],
    vector: dict[str, Any],
) -> None:
    clock = FakeClock(datetime.fromtimestamp(int(vector["timestamp"]), UTC))
    bot = await make_bot(sqlite_url, env=_vector_env(vector, fake_api[1]), clock=clock)
    params = {
        "msg_signature": vector["msg_signature"],
        "timestamp": vector["timestamp"],
        "nonce": vector["nonce"],
        "echostr": vector["echostr"],
    }
    response = await bot.client.get("/wechat", params=params)
    assert (response.status, await response.text()) == (200, vector["decrypted_plaintext"])
    if "negative_case" in vector:
        response = await bot.client.get(
            "/wechat", params={**params, "nonce": vector["negative_case"]["nonce"]}
        )
        assert response.status == 403


@pytest.mark.realdata
@pytest.mark.parametrize("vector", _vectors("post_body")[:1])
async def test_official_account_sample_message_through_the_app(
    make_bot: BotFactory,
    sqlite_url: str,
    fake_api: tuple[FakeWeChatApi, str],
    vector: dict[str, Any],
) -> None:
    """Tencent's own compatible-mode POST body, signed by Tencent, opens a ticket."""
    clock = FakeClock(datetime.fromtimestamp(int(vector["timestamp"]), UTC))
    bot = await make_bot(
        sqlite_url,
        env=_vector_env(vector, fake_api[1]),
        clock=clock,
        aes_key=vector["encoding_aes_key"],
        app_id=vector["receive_id"],
        token=vector["token"],
    )
    params = {
        "signature": compute_signature(vector["token"], vector["timestamp"], vector["nonce"]),
        "msg_signature": vector["msg_signature"],
        "timestamp": vector["timestamp"],
        "nonce": vector["nonce"],
        "encrypt_type": "aes",
    }
    response = await bot.client.post("/wechat", params=params, data=vector["post_body"])
    assert response.status == 200, await response.text()
    reply = bot.wechat.open_reply(await response.text())
    assert reply["ToUserName"] == "oyORnuP8q7ou2gfYjqLzSIWZf0rs"
    assert reply["FromUserName"] == "gh_10f6c3c3ac5a"
    assert "朴赛售后服务中心" in reply["Content"]
    (customer_line,) = await bot.messages(MessageRole.CUSTOMER)
    assert (customer_line.external_id, customer_line.text) == ("6054768590064713728", "abcdteT")


# -------------------------------------------------------------- modes and keys --


@pytest.mark.parametrize("mode", ["plaintext", "compatible", "safe"])
async def test_greeting_is_the_passive_reply_in_every_mode(
    make_bot: BotFactory, sqlite_url: str, mode: Mode
) -> None:
    bot = await make_bot(sqlite_url)
    xml = bot.wechat.text_xml(OPENID, "服务器开不了机了", 7001, bot.clock.unix)
    status, body = await bot.post(xml, mode)
    assert status == 200, body
    if mode == "plaintext":
        assert "<Encrypt>" not in body
    else:
        assert "<Encrypt>" in body and "朴赛" not in body
    reply = bot.wechat.open_reply(body)
    assert reply["MsgType"] == "text"
    assert (reply["ToUserName"], reply["FromUserName"]) == (OPENID, bot.wechat.account)
    engineer = await _assigned(bot)
    assert f"运维工程师{engineer[1]}" in reply["Content"]
    assert f"工号{engineer[0]}" in reply["Content"]
    assert bot.fake.calls == [], "the greeting needs no API call"


async def _assigned(bot: Bot) -> tuple[str, str]:
    """(工号, name) of the only ticket's engineer."""
    ticket = await bot.only_ticket()
    detail = await bot.api("GET", f"/api/tickets/{ticket.number}", "9001")
    engineer = detail.get("engineer") or {}
    staff_no = str(engineer.get("staff_no"))
    return staff_no, str(engineer.get("name"))


async def test_key_rotation_accepts_the_previous_key_and_answers_with_it(
    make_bot: BotFactory, sqlite_url: str, fake_api: tuple[FakeWeChatApi, str]
) -> None:
    env = wechat_env(fake_api[1], AFTERSALES_WECHAT_AES_KEY_PREVIOUS=OLD_AES_KEY)
    bot = await make_bot(sqlite_url, env=env, aes_key=OLD_AES_KEY)
    assert "朴赛" in await bot.say("硬盘报警了")  # WeChat still on the old key
    bot.wechat = WeChatCallbacks(TOKEN, AES_KEY, APP_ID)
    status, _ = await bot.post(bot.wechat.text_xml(OPENID, "还在吗", 7101, bot.clock.unix))
    assert status == 200  # and on the new one
    stranger = WeChatCallbacks(TOKEN, "Z" * 43, APP_ID)
    signed = stranger.request(stranger.text_xml(OPENID, "x", 7102, bot.clock.unix), "safe")
    response = await bot.client.post("/wechat", params=signed.params, data=signed.body)
    assert response.status == 403
    assert await bot.count(Message, Message.role == MessageRole.CUSTOMER) == 2


# ---------------------------------------------------------------- redelivery --


async def test_redelivery_makes_one_message_one_ticket_and_the_same_reply(
    make_bot: BotFactory, db_url: str
) -> None:
    bot = await make_bot(db_url)
    xml = bot.wechat.text_xml(OPENID, "服务器宕机了，急", 6054768590064713728, bot.clock.unix)
    first = await bot.post(xml)
    # WeChat's three retries, the last two racing each other.
    second = await bot.post(xml)
    third, fourth = await asyncio.gather(bot.post(xml), bot.post(xml))
    replies = [bot.wechat.open_reply(body)["Content"] for _, body in (first, second, third, fourth)]
    assert {status for status, _ in (first, second, third, fourth)} == {200}
    assert len(set(replies)) == 1 and "朴赛售后服务中心" in replies[0]
    assert await bot.count(Message, Message.role == MessageRole.CUSTOMER) == 1
    assert await bot.count(Ticket) == 1
    assert await bot.count(Customer) == 1


@pytest.mark.postgres
async def test_two_app_instances_share_one_database_and_one_ticket_per_message(
    make_bot: BotFactory, pg_url: str
) -> None:
    # PostgreSQL only: several serve processes share PostgreSQL; SQLite serves one process.
    one = await make_bot(pg_url)
    two = await make_bot(pg_url, clock=one.clock)
    xml = one.wechat.text_xml(OPENID, "RAID 掉盘", 8100, one.clock.unix)
    results = await asyncio.gather(one.post(xml), two.post(xml), one.post(xml), two.post(xml))
    assert {status for status, _ in results} == {200}
    assert await one.count(Ticket) == 1
    assert await one.count(Message, Message.role == MessageRole.CUSTOMER) == 1


# ---------------------------------------------------------- refusals, no writes --


async def test_bad_requests_get_4xx_and_write_nothing(
    make_bot: BotFactory, sqlite_url: str
) -> None:
    bot = await make_bot(sqlite_url)
    text = bot.wechat.text_xml(OPENID, "你好", 9001, bot.clock.unix)

    signed = bot.wechat.request(text, "safe", timestamp=bot.clock.unix)
    for name, value in [("msg_signature", "0" * 40), ("signature", "0" * 40)]:
        response = await bot.client.post(
            "/wechat", params={**signed.params, name: value}, data=signed.body
        )
        assert response.status == 403, name
    no_sig = {k: v for k, v in signed.params.items() if k != "msg_signature"}
    assert (await bot.client.post("/wechat", params=no_sig, data=signed.body)).status == 403

    plain = bot.wechat.request(text, "plaintext", timestamp=bot.clock.unix)
    bad_bodies = {
        b"<xml><MsgType>text</MsgType>": 400,
        b'<!DOCTYPE x [<!ENTITY a "b">]><xml><a>&a;</a></xml>': 400,
        message_xml("gh", "", "text", {"MsgId": "1"}).encode(): 400,
        b"<xml>" + b"<Content>" + b"x" * 70_000 + b"</Content></xml>": 413,
        b"": 400,
        "<xml>文本</xml>".encode("gbk"): 400,
    }
    for body_bytes, expected in bad_bodies.items():
        response = await bot.client.post("/wechat", params=plain.params, data=body_bytes)
        assert response.status == expected, body_bytes[:40]

    for model in (Message, Ticket, Customer):
        assert await bot.count(model) == 0, model.__name__


async def test_what_the_customer_sends_is_never_refused_for_its_content(
    make_bot: BotFactory, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A 6,000-character log, an unknown MsgType and a clock far off are stored and
    answered; only the signature and the envelope are reasons to refuse."""
    bot = await make_bot(db_url)
    log_lines = "\n".join(
        f"[{i:05d}] kernel: ata{i % 8}: SError: {{ HandshkErr }} 硬盘链路重置" for i in range(200)
    )
    pasted = (log_lines * 2)[:6000]
    assert len(pasted) == 6000
    greeting = await bot.say(pasted)
    assert "朴赛售后服务中心" in greeting  # the first message still gets the greeting
    (stored,) = await bot.messages(MessageRole.CUSTOMER)
    assert stored.text == pasted.strip()  # whole, as the engineer needs it

    unknown = message_xml(
        bot.wechat.account, OPENID, "channels_live", {"MsgId": "9003", "LiveId": "L1"}
    )
    assert await bot.post(unknown) == (200, "success")
    later = await bot.say(pasted[:100] + "还是报错")
    assert later == ""

    with caplog.at_level(logging.ERROR, logger="bot.channels"):
        status, body = await bot.post(
            bot.wechat.text_xml(OPENID, "时钟差了一个小时", 9004, bot.clock.unix - 3600),
            timestamp=bot.clock.unix - 3600,
        )
    assert (status, body) == (200, "success")
    assert any("check NTP" in r.getMessage() for r in caplog.records)

    lines = await bot.messages(MessageRole.CUSTOMER)
    assert [(m.kind, m.external_id) for m in lines[1:]] == [
        ("unknown", "9003"),
        ("text", lines[2].external_id),
        ("text", "9004"),
    ]
    assert lines[1].text == "[未知消息类型：channels_live]"
    assert await bot.count(Ticket) == 1


async def test_control_characters_from_the_customer_are_dropped(
    make_bot: BotFactory, sqlite_url: str
) -> None:
    bot = await make_bot(sqlite_url)
    xml = bot.wechat.text_xml(OPENID, "机器\x01开不了\x1f机\x08", 9100, bot.clock.unix)
    status, _ = await bot.post(xml, "plaintext")
    assert status == 200
    (line,) = await bot.messages(MessageRole.CUSTOMER)
    assert line.text == "机器开不了机"


def _samples() -> list[Any]:
    index = SAMPLES / "INDEX.json"
    if not index.is_file():
        reason = f"WeChat XML samples absent: {index} (set AFTERSALES_REALDATA)"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="absent")]
    return [json.loads(index.read_text(encoding="utf-8"))]


@pytest.mark.realdata
@pytest.mark.parametrize("entries", _samples())
async def test_every_real_sample_through_the_app_never_500s(
    make_bot: BotFactory, sqlite_url: str, entries: list[dict[str, str]]
) -> None:
    bot = await make_bot(sqlite_url)
    statuses: dict[str, int] = {}
    for entry in entries:
        body = (SAMPLES / entry["file"]).read_bytes()
        signed = bot.wechat.request(body.decode("utf-8"), "plaintext", timestamp=bot.clock.unix)
        response = await bot.client.post("/wechat", params=signed.params, data=body)
        statuses[entry["file"]] = response.status
    assert all(status in (200, 400) for status in statuses.values()), statuses
    accepted_types = {entry["MsgType"] for entry in entries if statuses[entry["file"]] == 200}
    assert {"text", "image", "voice", "video", "location", "link", "event"} <= accepted_types
    # Messages are stored, events are not; the samples' senders got tickets.
    assert await bot.count(Message, Message.role == MessageRole.CUSTOMER) > 0


# ------------------------------------------------------------------ unsubscribe --


async def test_unsubscribe_deletes_personal_data_and_keeps_the_ticket(
    make_bot: BotFactory, db_url: str
) -> None:
    bot = await make_bot(db_url)
    await bot.say("服务器开不了机，我电话 13800138000")
    status, body = await bot.post(bot.wechat.event_xml(OPENID, "unsubscribe", bot.clock.unix))
    assert (status, body) == (200, "success")
    async with make_async_sessionmaker(bot.engine)() as session:
        customer = (await session.execute(select(Customer))).scalar_one()
        lines = list((await session.execute(select(Message))).scalars())
    assert customer.external_id != OPENID and OPENID not in customer.external_id
    assert customer.display_name is None and customer.phone is None
    assert all(line.sender != OPENID for line in lines)
    assert await bot.count(Ticket) == 1
    # A redelivered unsubscribe, or one for a stranger, changes nothing and never fails.
    status, body = await bot.post(bot.wechat.event_xml("oStranger", "unsubscribe", bot.clock.unix))
    assert (status, body) == (200, "success")


WELCOME_START = "您好[握手]欢迎联系朴赛售后服务中心。服务器报修请直接在这里留言"


@pytest.mark.parametrize(
    ("event", "key"), [("subscribe", ""), ("subscribe", "qrscene_1001"), ("SCAN", "1001")]
)
async def test_following_or_scanning_is_answered_with_the_welcome_line(
    make_bot: BotFactory, sqlite_url: str, event: str, key: str
) -> None:
    bot = await make_bot(sqlite_url)
    xml = message_xml(bot.wechat.account, OPENID, "event", {"Event": event, "EventKey": key})
    status, body = await bot.post(xml)
    assert status == 200
    reply = bot.wechat.open_reply(body)
    assert (reply["ToUserName"], reply["MsgType"]) == (OPENID, "text")
    assert reply["Content"].startswith(WELCOME_START)
    assert "在线服务时间：每天 09:30–18:00" in reply["Content"]
    assert "7×24小时服务热线：400-000-1773" in reply["Content"]
    # A passive reply: no API call, and nothing in any transcript.
    assert bot.fake.calls == []
    assert await bot.count(Message) == 0 and await bot.count(Customer) == 0


async def test_menu_clicks_get_the_welcome_as_configured(
    make_bot: BotFactory, sqlite_url: str, fake_api: tuple[FakeWeChatApi, str]
) -> None:
    env = wechat_env(fake_api[1], AFTERSALES_WECHAT_WELCOME="click:REPORT_FAULT")
    bot = await make_bot(sqlite_url, env=env)

    async def click(key: str) -> str:
        xml = message_xml(bot.wechat.account, OPENID, "event", {"Event": "CLICK", "EventKey": key})
        status, body = await bot.post(xml)
        assert status == 200
        return "" if body == "success" else str(bot.wechat.open_reply(body)["Content"])

    assert (await click("REPORT_FAULT")).startswith(WELCOME_START)
    assert await click("ABOUT_US") == ""
    subscribe = message_xml(bot.wechat.account, OPENID, "event", {"Event": "subscribe"})
    assert await bot.post(subscribe) == (200, "success")  # not in this account's list


@pytest.mark.parametrize(
    ("value", "named"),
    [("subscribe,later", "later"), ("scan:KEY", "scan:KEY")],
)
def test_a_bad_welcome_setting_is_named(sqlite_url: str, value: str, named: str) -> None:
    settings = Settings(
        policy=POLICY,
        db_url=sqlite_url,
        migrate_on_start=False,
        environ=wechat_env("http://127.0.0.1:1", AFTERSALES_WECHAT_WELCOME=value),
    )
    with pytest.raises(SettingsError, match=f"AFTERSALES_WECHAT_WELCOME: '{named}'"):
        create_app(settings)


# -------------------------------------------------------------- configuration --


async def test_unconfigured_channel_answers_503_naming_the_variables(
    make_bot: BotFactory, sqlite_url: str
) -> None:
    bot = await make_bot(sqlite_url, env={"AFTERSALES_WECHAT_TOKEN": TOKEN})
    response = await bot.client.post("/wechat", data=b"<xml/>")
    assert response.status == 503
    message = (await response.json())["message"]
    assert "AFTERSALES_WECHAT_APPID" in message and "AFTERSALES_WECHAT_SECRET" in message
    assert "AFTERSALES_WECHAT_TOKEN" not in message
    assert (await bot.client.get("/wechat")).status == 503


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"AFTERSALES_WECHAT_AES_KEY": "short"}, "AFTERSALES_WECHAT_AES_KEY"),
        (
            {"AFTERSALES_WECHAT_AES_KEY": "", "AFTERSALES_WECHAT_AES_KEY_PREVIOUS": AES_KEY},
            "AFTERSALES_WECHAT_AES_KEY_PREVIOUS",
        ),
        ({"AFTERSALES_WECHAT_MAX_SKEW_S": "five"}, "AFTERSALES_WECHAT_MAX_SKEW_S"),
        ({"AFTERSALES_WECHAT_API_BASE": "ftp://x"}, "AFTERSALES_WECHAT_API_BASE"),
        ({"AFTERSALES_WECHAT_REPLY_BUDGET_S": "0.01"}, "AFTERSALES_WECHAT_REPLY_BUDGET_S"),
        ({"AFTERSALES_WECHAT_API_ATTEMPTS": "1.5"}, "AFTERSALES_WECHAT_API_ATTEMPTS"),
    ],
)
def test_bad_settings_stop_the_app_naming_the_variable(
    sqlite_url: str, extra: dict[str, str], named: str
) -> None:
    settings = Settings(
        policy=POLICY,
        db_url=sqlite_url,
        migrate_on_start=False,
        scheduler_enabled=False,
        environ=wechat_env("http://127.0.0.1:1", **extra),
    )
    with pytest.raises(SettingsError, match=named):
        create_app(settings)


def test_plaintext_only_account_needs_no_aes_key(sqlite_url: str) -> None:
    env = wechat_env("http://127.0.0.1:1")
    del env["AFTERSALES_WECHAT_AES_KEY"]
    settings = Settings(policy=POLICY, db_url=sqlite_url, migrate_on_start=False, environ=env)
    app = create_app(settings)
    assert isinstance(app, web.Application)


# ------------------------------------------------- customer-service window --

SEND = "/cgi-bin/message/custom/send"
UPDATES = [
    "您好，我们正在为您排查服务器的问题，请您稍候。",
    "您好，硬盘阵列的日志已经收到，正在分析。",
    "您好，初步判断是电源模块的问题，正在确认备件。",
    "您好，备件已经安排发出，预计明天送达。",
    "您好，工程师已经和物流确认了送达时间。",
    "您好，请问您方便明天上午安排人员接收备件吗？",
    "您好，再次和您确认一下备件接收的安排。",
]


async def _ticket_and_engineer(bot: Bot) -> tuple[str, str]:
    """Opens a ticket by a customer message; (ticket number, engineer 工号), accepted."""
    assert await bot.say("服务器开不了机了")
    ticket = await bot.only_ticket()
    staff_no, _name = await _assigned(bot)
    await bot.api("POST", f"/api/tickets/{ticket.number}/accept", staff_no)
    _forget_ticket_number_line(bot)
    return ticket.number, staff_no


def _forget_ticket_number_line(bot: Bot) -> None:
    """Accepting tells the customer the ticket number (one custom send): the tests below
    count the engineer's own lines, so that send is taken off the fake's record."""
    told = [c for c in bot.fake.calls_to(SEND) if "工单号：" in str(c.body)]
    assert len(told) <= 1  # none when the API cannot be reached
    bot.fake.calls[:] = [c for c in bot.fake.calls if c not in told]


async def _send(bot: Bot, number: str, staff_no: str, text: str) -> dict[str, Any]:
    result = await bot.api("POST", f"/api/tickets/{number}/messages", staff_no, text=text)
    (line,) = result["sent"]
    return dict(line["delivery"])


async def _delivery_of(bot: Bot, text: str) -> tuple[DeliveryStatus | None, str | None]:
    async with make_async_sessionmaker(bot.engine)() as session:
        line = (await session.execute(select(Message).where(Message.text == text))).scalar_one()
        return line.delivery_status, line.delivery_error


async def test_five_lines_within_the_window_then_blocked_by_the_channel(
    make_bot: BotFactory, db_url: str
) -> None:
    bot = await make_bot(db_url)
    number, staff_no = await _ticket_and_engineer(bot)
    # The ticket-number line (on accepting) was the first of the window's five.
    for text in UPDATES[:4]:
        bot.clock.advance(minutes=1)
        assert (await _send(bot, number, staff_no, text))["status"] == "sent"
    assert bot.fake.sent_texts(OPENID) == UPDATES[:4]

    delivery = await _send(bot, number, staff_no, UPDATES[5])
    assert delivery["status"] == "blocked_by_channel"
    assert "5 lines already sent" in delivery["detail"]
    assert len(bot.fake.calls_to(SEND)) == 4, "the sixth line is not even attempted"
    status, error = await _delivery_of(bot, UPDATES[5])
    assert status is DeliveryStatus.BLOCKED_BY_CHANNEL and error and "WeChat allows 5" in error

    # The customer writes again: a new window opens (the greeting is not repeated).
    assert await bot.say("好的，谢谢") == ""
    assert (await _send(bot, number, staff_no, UPDATES[6]))["status"] == "sent"


async def test_a_due_update_after_48_hours_is_blocked_not_missed(
    make_bot: BotFactory, db_url: str
) -> None:
    bot = await make_bot(db_url)
    number, staff_no = await _ticket_and_engineer(bot)
    bot.clock.advance(hours=47, minutes=59)
    assert (await _send(bot, number, staff_no, UPDATES[0]))["status"] == "sent"
    bot.clock.advance(minutes=2)
    delivery = await _send(bot, number, staff_no, UPDATES[1])
    assert delivery["status"] == "blocked_by_channel"
    assert "48 h" in delivery["detail"]
    assert bot.fake.sent_texts() == [UPDATES[0]]
    status, _ = await _delivery_of(bot, UPDATES[1])
    assert status is DeliveryStatus.BLOCKED_BY_CHANNEL


@pytest.mark.parametrize(("errcode", "why"), [(45047, "45047"), (45015, "48 h")])
async def test_wechat_refusals_are_blocked_by_the_channel_without_retry(
    make_bot: BotFactory, sqlite_url: str, errcode: int, why: str
) -> None:
    bot = await make_bot(sqlite_url)
    number, staff_no = await _ticket_and_engineer(bot)
    bot.fake.fail_next(SEND, Scripted(errcode=errcode))
    delivery = await _send(bot, number, staff_no, UPDATES[0])
    assert delivery["status"] == "blocked_by_channel" and why in delivery["detail"]
    assert len(bot.fake.calls_to(SEND)) == 1


async def test_api_outage_is_failed_not_blocked(
    make_bot: BotFactory, sqlite_url: str, fake_api: tuple[FakeWeChatApi, str]
) -> None:
    # Nothing listens on loopback port 9: the token cannot even be fetched.
    bot = await make_bot(sqlite_url, env=wechat_env("http://127.0.0.1:9"))
    number, staff_no = await _ticket_and_engineer(bot)
    delivery = await _send(bot, number, staff_no, UPDATES[0])
    assert delivery["status"] == "failed"
    assert "2 attempts failed" in delivery["detail"]
    status, _ = await _delivery_of(bot, UPDATES[0])
    assert status is DeliveryStatus.FAILED


@pytest.mark.parametrize("failure", [Scripted(status=502), Scripted(errcode=-1)])
async def test_a_send_the_api_may_have_taken_is_unknown_and_not_repeated(
    make_bot: BotFactory, sqlite_url: str, failure: Scripted
) -> None:
    bot = await make_bot(sqlite_url)
    number, staff_no = await _ticket_and_engineer(bot)
    bot.fake.fail_next(SEND, failure)
    delivery = await _send(bot, number, staff_no, UPDATES[0])
    assert delivery["status"] == "unknown"
    assert "not repeated" in delivery["detail"]
    assert len(bot.fake.calls_to(SEND)) == 1
    status, error = await _delivery_of(bot, UPDATES[0])
    assert status is DeliveryStatus.UNKNOWN and error and "no idempotency key" in error


async def test_an_expired_token_is_refreshed_once_and_the_line_sent(
    make_bot: BotFactory, sqlite_url: str
) -> None:
    bot = await make_bot(sqlite_url)
    number, staff_no = await _ticket_and_engineer(bot)
    assert (await _send(bot, number, staff_no, UPDATES[0]))["status"] == "sent"
    bot.fake.invalidate_tokens()
    assert (await _send(bot, number, staff_no, UPDATES[1]))["status"] == "sent"
    answers = [call.params["_answer"] for call in bot.fake.calls_to(SEND)]
    assert answers == ["0", "40001", "0"]
    assert len(bot.fake.token_calls) == 2


async def test_two_app_instances_share_one_access_token(make_bot: BotFactory, db_url: str) -> None:
    one = await make_bot(db_url)
    two = await make_bot(db_url, clock=one.clock)
    number, staff_no = await _ticket_and_engineer(one)
    assert (await _send(one, number, staff_no, UPDATES[0]))["status"] == "sent"
    assert (await _send(two, number, staff_no, UPDATES[1]))["status"] == "sent"
    assert (await _send(one, number, staff_no, UPDATES[2]))["status"] == "sent"
    assert len(one.fake.token_calls) == 1
    assert {call.params["access_token"] for call in one.fake.sent} == {"TOKEN-1"}


DEMO_ACCOUNTS = {"1818": ("zhangsan", "demo1818"), "2046": ("lisi", "demo2046")}


async def _console_engineer(bot: Bot) -> tuple[str, str, ConsoleBrowser]:
    """The customer writes; the assigned engineer signs in to the console and accepts."""
    assert await bot.say("服务器开不了机了")
    number, staff_no = await bot.assigned()
    browser = await bot.sign_in(*DEMO_ACCOUNTS[staff_no])
    await browser.api("POST", f"/api/tickets/{number}/accept")
    _forget_ticket_number_line(bot)
    return number, staff_no, browser


async def test_a_late_answering_send_reaches_wechat_once_is_unknown_then_settled_in_the_console(
    make_bot: BotFactory, sqlite_url: str, fake_api: tuple[FakeWeChatApi, str]
) -> None:
    env = wechat_env(fake_api[1], AFTERSALES_WECHAT_API_TIMEOUT_S="0.2")
    bot = await make_bot(sqlite_url, env=env, console=True)
    number, staff_no, browser = await _console_engineer(bot)
    bot.fake.fail_next(SEND, Scripted(delay_s=0.6))  # taken, answered after our timeout
    sent = await browser.api("POST", f"/api/tickets/{number}/messages", text=UPDATES[0])
    assert sent["sent"][0]["delivery"]["status"] == "unknown"
    assert bot.fake.sent_texts(OPENID) == [UPDATES[0]]  # reached WeChat once, not repeated
    assert (await _delivery_of(bot, UPDATES[0]))[0] is DeliveryStatus.UNKNOWN
    line = await bot.line(UPDATES[0])

    _, page = await browser.page(f"/console/tickets/{number}")
    link = f"/console/tickets/{number}/lines/{line.id}"
    assert f'href="{link}"' in page and "送达情况未知" in page
    _, detail = await browser.page(link)
    assert "收到两条" in detail and "5条" in detail  # what sending again risks
    # The engineer sees in WeChat that the customer has it: settled, nothing sent.
    status, after = await browser.form(f"{link}/confirm")
    assert status == 200 and "已标记为客户已收到" in after
    assert (await _delivery_of(bot, UPDATES[0])) == (DeliveryStatus.SENT, None)
    assert bot.fake.sent_texts(OPENID) == [UPDATES[0]]
    ticket = await browser.api("GET", f"/api/tickets/{number}")
    confirmed = [e for e in ticket["events"] if e["event"] == "delivery_confirmed"]
    assert [(e["actor"], e["data"]["message_id"]) for e in confirmed] == [(staff_no, line.id)]


async def test_a_failed_line_is_sent_again_from_the_console(
    make_bot: BotFactory, sqlite_url: str
) -> None:
    bot = await make_bot(sqlite_url, console=True)
    number, staff_no, browser = await _console_engineer(bot)
    bot.fake.fail_next(SEND, Scripted(errcode=40003))  # refused outright: WeChat did not take it
    sent = await browser.api("POST", f"/api/tickets/{number}/messages", text=UPDATES[1])
    assert sent["sent"][0]["delivery"]["status"] == "failed"
    line = await bot.line(UPDATES[1])
    link = f"/console/tickets/{number}/lines/{line.id}"
    _, detail = await browser.page(link)
    assert "errcode 40003" in detail and "再次发送" in detail
    status, after = await browser.form(f"{link}/resend")
    assert status == 200 and "已再次发送" in after
    assert (await _delivery_of(bot, UPDATES[1])) == (DeliveryStatus.SENT, None)
    assert bot.fake.sent_texts(OPENID) == [UPDATES[1]]
    # A line that arrived is not sent again; someone else's ticket is not found.
    assert (await browser.form(f"{link}/resend"))[0] == 409
    other = "2046" if staff_no == "1818" else "1818"
    stranger = await bot.sign_in(*DEMO_ACCOUNTS[other])
    assert (await stranger.page(link))[0] == 404


# ----------------------------------------------------------------- the flow --


async def test_whole_flow_through_signed_encrypted_wechat_requests(
    make_bot: BotFactory, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Greeting, accept, backup warning forced before remote, resolve with thanks and
    responsibility, rating — all over safe-mode WeChat — and the checker finds nothing."""
    bot = await make_bot(db_url)
    greeting = await bot.say("服务器开不了机了，麻烦看一下")
    ticket = await bot.only_ticket()
    staff_no, name = await _assigned(bot)
    assert f"运维工程师{name}" in greeting and f"工号{staff_no}" in greeting
    path = f"/api/tickets/{ticket.number}"

    bot.clock.advance(minutes=2)
    await bot.api("POST", f"{path}/accept", staff_no)
    bot.clock.advance(seconds=30)
    assert (
        await _send(bot, ticket.number, staff_no, "您好，请问服务器前面板的指示灯是什么颜色？")
    )["status"] == "sent"
    bot.clock.advance(seconds=40)
    await bot.say("橙色的灯在闪")

    # Remote access first forces the data-backup warning out, and is refused.
    bot.clock.advance(seconds=30)
    response = await bot.client.post(
        f"{path}/remote", json={"tool": "向日葵"}, headers={"X-Staff-No": staff_no}
    )
    assert response.status == 409
    assert (await response.json())["error"] == "backup_confirmation_required"
    warning = bot.fake.sent_texts(OPENID)[-1]
    assert "备份" in warning and "数据丢失" in warning

    bot.clock.advance(seconds=40)
    await bot.say("数据都已经备份好了，可以远程")
    bot.clock.advance(seconds=30)
    await bot.api("POST", f"{path}/remote", staff_no, tool="向日葵")
    reply = "好的，我现在通过向日葵远程连接为您处理，请稍候。"
    assert (await _send(bot, ticket.number, staff_no, reply))["status"] == "sent"
    bot.clock.advance(minutes=20)
    await bot.api("POST", f"{path}/stable-run-waiver", "9001", reason="客户确认已恢复")
    resolved = await bot.api("POST", f"{path}/resolve", staff_no, ask_suggestion=False)
    sent = [line["text"] for line in resolved["sent"]]
    assert all(line["delivery"]["status"] == "sent" for line in resolved["sent"])
    assert bot.fake.sent_texts(OPENID)[-len(sent) :] == sent
    assert any("感谢您对我们本次服务的理解和支持" in text for text in sent)
    assert any("随时联络我们" in text for text in sent)

    bot.clock.advance(minutes=1)
    await bot.say("很满意")
    detail = await bot.api("GET", path, staff_no)
    events = [event["event"] for event in detail["events"]]
    for expected in ("ticket_opened", "ticket_accepted", "remote_login", "resolved"):
        assert expected in events
    assert events.index("backup_warning_sent") < events.index("remote_login")
    assert "satisfaction_rated" in events

    from bot.cli import main as aftersales

    capsys.readouterr()
    assert aftersales(["check", "--db", db_url, "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["findings"] == [], report["findings"]
