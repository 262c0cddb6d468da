"""Media from the channels through the real app: a WeChat image, a WeCom kf file and a
bridge link are stored with the line at once as *pending*, fetched in the background from
the recording fakes, retried on failure and given up after the last attempt; the engineer's
image reaches WeChat as media upload + custom send, and WeCom kf as media upload + kf
send_msg under the line's msgid."""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import FormData, web
from sqlalchemy import select

from bot.channels import bridge, wecom_kf
from bot.channels.testing import FakeKfApi, FakeWeChatApi, KfCallbacks
from bot.channels.testing.wechat import message_xml
from bot.media import routes as media
from bot.media.routes import MEDIA
from storage.db import make_async_sessionmaker
from storage.desk_models import Attachment
from storage.models import DeliveryStatus, Message, MessageRole
from tests.channels.harness import ChannelApp, FakeServer, StartApp
from tests.channels.test_bridge import KEY_ID, SECRET, BridgeBot
from tests.channels.test_wecom_kf import KfBot, kf_env
from tests.channels.wechat_harness import OPENID, BotFactory, wechat_env

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))
FakeApi = tuple[FakeWeChatApi, str]
PASSWORDS = {"1818": ("zhangsan", "demo1818"), "2046": ("lisi", "demo2046")}


async def attachments(app: ChannelApp) -> list[Attachment]:
    async with make_async_sessionmaker(app.engine)() as session:
        return list((await session.execute(select(Attachment).order_by(Attachment.id))).scalars())


async def fetch_round(app: ChannelApp) -> int:
    fetcher = app.app[MEDIA].fetcher
    assert fetcher is not None
    return await fetcher.run_due()


def image_xml(account: str, media_id: str, msg_id: int, create_time: int) -> str:
    return message_xml(
        account,
        OPENID,
        "image",
        {"PicUrl": "http://mmbiz.qpic.cn/x.jpg", "MediaId": media_id, "MsgId": str(msg_id)},
        create_time=create_time,
    )


async def test_a_wechat_image_is_stored_pending_then_fetched_by_media_id(
    make_bot: BotFactory, fake_api: FakeApi, db_url: str, tmp_path: Path
) -> None:
    env = wechat_env(fake_api[1], AFTERSALES_MEDIA_DIR=str(tmp_path))
    bot = await make_bot(db_url, env=env)
    bot.fake.media["MEDIA-1"] = (PNG, "image/png")
    status, _body = await bot.post(image_xml(bot.wechat.account, "MEDIA-1", 9001, bot.clock.unix))
    assert status == 200
    # Intake answered without fetching anything: the line is there, its image pending.
    line = (await bot.messages(MessageRole.CUSTOMER))[0]
    assert (line.kind, line.text) == ("image", "[图片]")
    [pending] = await attachments(bot)
    assert (pending.status, pending.source, pending.source_ref) == (
        "pending",
        "media_id",
        "MEDIA-1",
    )
    assert bot.fake.calls_to("/cgi-bin/media/get") == []

    assert await fetch_round(bot) == 1
    [stored] = await attachments(bot)
    assert stored.status == "stored" and stored.content_type == "image/png"
    assert stored.size == len(PNG) and stored.message_id == line.id
    assert (tmp_path / str(stored.stored_name)).read_bytes() == PNG
    assert stored.stored_name == f"{stored.sha256[:2]}/{stored.sha256}.png"
    [call] = bot.fake.calls_to("/cgi-bin/media/get")
    assert call.params["media_id"] == "MEDIA-1"


async def test_a_failed_download_is_retried_later_and_given_up_after_the_last_attempt(
    make_bot: BotFactory, fake_api: FakeApi, db_url: str, tmp_path: Path
) -> None:
    env = wechat_env(
        fake_api[1],
        AFTERSALES_MEDIA_DIR=str(tmp_path),
        AFTERSALES_MEDIA_ATTEMPTS="3",
        AFTERSALES_MEDIA_RETRY_S="60",
    )
    bot = await make_bot(db_url, env=env)
    status, _ = await bot.post(image_xml(bot.wechat.account, "GONE", 9002, bot.clock.unix))
    assert status == 200
    assert await fetch_round(bot) == 0
    [row] = await attachments(bot)
    assert row.status == "pending" and row.attempts == 1 and "40007" in str(row.last_error)
    assert row.next_attempt_at == bot.clock() + timedelta(seconds=60)
    # Not due yet: nothing is fetched.
    assert await fetch_round(bot) == 0
    assert (await attachments(bot))[0].attempts == 1
    # Due: the media shows up at WeChat meanwhile, and the retry stores it.
    bot.clock.advance(seconds=61)
    bot.fake.media["GONE"] = (PNG, "image/png")
    assert await fetch_round(bot) == 1
    assert (await attachments(bot))[0].status == "stored"

    # Another one that never comes: failed after three attempts, backing off 60 s, 120 s.
    status, _ = await bot.post(image_xml(bot.wechat.account, "NEVER", 9003, bot.clock.unix))
    for wait in (0, 61, 121):
        bot.clock.advance(seconds=wait)
        assert await fetch_round(bot) == 0
    never = (await attachments(bot))[1]
    assert (never.status, never.attempts) == ("failed", 3)


async def test_a_download_over_the_size_limit_is_refused_not_retried(
    make_bot: BotFactory, fake_api: FakeApi, db_url: str, tmp_path: Path
) -> None:
    env = wechat_env(
        fake_api[1], AFTERSALES_MEDIA_DIR=str(tmp_path), AFTERSALES_MEDIA_MAX_BYTES="32"
    )
    bot = await make_bot(db_url, env=env)
    bot.fake.media["BIG"] = (PNG, "image/png")
    await bot.post(image_xml(bot.wechat.account, "BIG", 9004, bot.clock.unix))
    assert await fetch_round(bot) == 0
    [row] = await attachments(bot)
    assert row.status == "refused" and row.stored_name is None
    assert list(tmp_path.rglob("*.png")) == []


async def test_the_engineers_image_reaches_wechat_by_upload_and_custom_send(
    make_bot: BotFactory, fake_api: FakeApi, db_url: str, tmp_path: Path
) -> None:
    env = wechat_env(fake_api[1], AFTERSALES_MEDIA_DIR=str(tmp_path))
    bot = await make_bot(db_url, env=env, console=True)
    await bot.say("服务器开不了机了")
    number, staff_no = await bot.assigned()
    browser = await bot.sign_in(*PASSWORDS[staff_no])
    response = await browser.client.post(
        f"/console/api/tickets/{number}/attachments",
        data=_file(PNG, "diagram.png", "image/png"),
        headers={"X-CSRF-Token": browser.csrf},
    )
    answer = await response.json()
    assert response.status == 201, answer
    assert answer["delivery"]["status"] == "sent"
    [(media_id, uploaded, kind)] = bot.fake.uploads
    assert uploaded == PNG and kind == "image/png"
    images = [c for c in bot.fake.sent if c.body.get("msgtype") == "image"]
    assert [c.body for c in images] == [
        {"touser": OPENID, "msgtype": "image", "image": {"media_id": media_id}}
    ]
    line = await bot.line("[图片] diagram.png")
    assert line.role is MessageRole.AGENT and line.delivery_status is DeliveryStatus.SENT
    # The console serves the stored file to the engineer; the transcript links it.
    status, page = await browser.page(f"/console/tickets/{number}")
    assert status == 200 and answer["attachment"]["url"] in page
    got = await browser.client.get(answer["attachment"]["url"])
    assert got.status == 200 and await got.read() == PNG


def _file(data: bytes, name: str, kind: str) -> Any:
    form = FormData()
    form.add_field("file", io.BytesIO(data), filename=name, content_type=kind)
    return form


# ------------------------------------------------------------------- WeCom kf --


async def test_a_kf_file_is_fetched_through_wecoms_media_get(
    start_app: StartApp, fake_server: FakeServer, db_url: str, tmp_path: Path
) -> None:
    fake = FakeKfApi()
    base = await fake_server(fake.app())
    app = await start_app(
        db_url,
        env=kf_env(base, AFTERSALES_MEDIA_DIR=str(tmp_path)),
        modules=[wecom_kf, bridge, media],
        instance="kf-media",
    )
    kf = KfBot(app.client, app.clock, app.engine, fake, KfCallbacks())
    fake.media["KF-MEDIA-9"] = (b"%PDF-1.4 manual", "application/pdf")
    fake.add(
        {
            "external_userid": "wmCustomer0001",
            "send_time": kf.clock.unix,
            "origin": 3,
            "msgtype": "file",
            "file": {"media_id": "KF-MEDIA-9"},
        }
    )
    assert await kf.notify() == 200
    [row] = await attachments(kf)
    assert (row.channel, row.kind, row.status, row.source_ref) == (
        "wecom",
        "file",
        "pending",
        "KF-MEDIA-9",
    )
    assert await fetch_round(kf) == 1
    [row] = await attachments(kf)
    assert row.status == "stored" and row.content_type == "application/pdf"
    assert [c.params["media_id"] for c in fake.calls_to("/cgi-bin/media/get")] == ["KF-MEDIA-9"]


async def _kf_desk(
    start_app: StartApp, fake_server: FakeServer, db_url: str, tmp_path: Path, **env: str
) -> tuple[KfBot, Any]:
    """A kf app with the console: the customer wrote, the engineer is signed in."""
    fake = FakeKfApi()
    base = await fake_server(fake.app())
    app = await start_app(
        db_url,
        env=kf_env(base, AFTERSALES_MEDIA_DIR=str(tmp_path), **env),
        modules=[wecom_kf, bridge, media],
        instance="kf-desk",
        console=True,
    )
    kf = KfBot(app.client, app.clock, app.engine, fake, KfCallbacks())
    await kf.say("服务器开不了机了")
    number, staff_no = await kf.assigned()
    browser = await kf.sign_in(*PASSWORDS[staff_no])
    return kf, (number, browser)


async def _upload(browser: Any, number: str, data: bytes, name: str, kind: str) -> Any:
    response = await browser.client.post(
        f"/console/api/tickets/{number}/attachments",
        data=_file(data, name, kind),
        headers={"X-CSRF-Token": browser.csrf},
    )
    answer = await response.json()
    assert response.status == 201, answer
    return answer


async def test_the_engineers_image_and_file_reach_wecom_kf_once_under_the_lines_msgid(
    start_app: StartApp, fake_server: FakeServer, db_url: str, tmp_path: Path
) -> None:
    kf, (number, browser) = await _kf_desk(start_app, fake_server, db_url, tmp_path)
    answer = await _upload(browser, number, PNG, "diagram.png", "image/png")
    assert answer["delivery"]["status"] == "sent", answer
    line = await kf.line("[图片] diagram.png")
    assert line.role is MessageRole.AGENT and line.delivery_status is DeliveryStatus.SENT
    [(msgtype, uploaded)] = kf.fake.sent_media()
    assert (msgtype, uploaded.kind, uploaded.data) == ("image", "image", PNG)
    assert (uploaded.filename, uploaded.content_type) == ("diagram.png", "image/png")
    [send] = [c for c in kf.fake.calls_to("/cgi-bin/kf/send_msg") if c.body["msgtype"] != "text"]
    assert send.body["msgid"] == f"as{line.id}" and send.body["touser"] == "wmCustomer0001"
    [row] = [a for a in await attachments(kf) if a.source == "upload"]
    assert (row.message_id, row.channel, row.kind, row.status) == (
        line.id,
        "wecom",
        "image",
        "stored",
    )

    # A PDF goes as a file; nothing is sent twice.
    answer = await _upload(browser, number, b"%PDF-1.4 manual", "manual.pdf", "application/pdf")
    assert answer["delivery"]["status"] == "sent", answer
    assert [(t, u.kind, u.filename) for t, u in kf.fake.sent_media()] == [
        ("image", "image", "diagram.png"),
        ("file", "file", "manual.pdf"),
    ]
    assert len(kf.fake.delivered) == len(set(kf.fake.delivered))
    assert [u.kind for u in kf.fake.uploads.values()] == ["image", "file"]


async def test_a_refused_kf_upload_is_reported_and_nothing_is_sent(
    start_app: StartApp, fake_server: FakeServer, db_url: str, tmp_path: Path
) -> None:
    kf, (number, browser) = await _kf_desk(start_app, fake_server, db_url, tmp_path)
    kf.fake.upload_errcodes = [40005]  # WeCom: 不合法的文件类型
    lines_before = len(await kf.messages(MessageRole.AGENT))
    answer = await _upload(browser, number, PNG, "diagram.png", "image/png")
    assert answer["delivery"]["status"] == "failed"
    assert (
        "media/upload" in answer["delivery"]["detail"] and "40005" in answer["delivery"]["detail"]
    )
    assert kf.fake.sent_media() == []
    # One whole line with its attachment, marked failed: nothing half-written.
    agent_lines = await kf.messages(MessageRole.AGENT)
    assert len(agent_lines) == lines_before + 1
    line = await kf.line("[图片] diagram.png")
    assert line.delivery_status is DeliveryStatus.FAILED
    [row] = [a for a in await attachments(kf) if a.source == "upload"]
    assert row.message_id == line.id and row.status == "stored"
    # The delivery page never offers to send the image again as its label.
    status, page = await browser.page(f"/console/tickets/{number}/lines/{line.id}")
    assert status == 200 and "重新上传" in page and "/resend" not in page
    status, text = await browser.form(f"/console/tickets/{number}/lines/{line.id}/resend")
    assert status == 409 and "重新上传" in text
    assert not [t for t in kf.fake.sent() if "[图片]" in t]


async def test_a_kf_image_of_unknown_outcome_is_never_resent_as_its_label(
    start_app: StartApp, fake_server: FakeServer, db_url: str, tmp_path: Path
) -> None:
    kf, (number, browser) = await _kf_desk(
        start_app, fake_server, db_url, tmp_path, AFTERSALES_WECOM_API_TIMEOUT_S="0.2"
    )
    kf.fake.slow_sends = [0.6]  # WeCom takes the image, then answers after our timeout
    answer = await _upload(browser, number, PNG, "diagram.png", "image/png")
    assert answer["delivery"]["status"] == "unknown", answer
    assert len(kf.fake.sent_media()) == 1
    sender = kf.app[wecom_kf.WECOM_KF].sender
    assert sender is not None
    sends = len(kf.fake.calls_to("/cgi-bin/kf/send_msg"))
    kf.clock.advance(seconds=31)
    assert await sender.reconcile() == 0
    assert len(kf.fake.calls_to("/cgi-bin/kf/send_msg")) == sends
    assert not [t for t in kf.fake.sent() if "[图片]" in t]
    line = await kf.line("[图片] diagram.png")
    assert line.delivery_status is DeliveryStatus.UNKNOWN


# --------------------------------------------------------------------- bridge --


async def test_a_bridge_image_link_is_fetched_in_the_background(
    start_app: StartApp, fake_server: FakeServer, db_url: str, tmp_path: Path
) -> None:
    served: list[str] = []

    async def picture(request: web.Request) -> web.Response:
        served.append(request.path)
        return web.Response(body=PNG, content_type="image/png")

    files = web.Application()
    files.router.add_get("/img/{name}", picture)
    base = await fake_server(files)
    env: Mapping[str, str] = {
        "AFTERSALES_BRIDGE_KEYS": f"{KEY_ID}={SECRET}",
        "AFTERSALES_MEDIA_DIR": str(tmp_path),
    }
    app = await start_app(db_url, env=env, modules=[bridge, wecom_kf, media], instance="br-m")
    bot = BridgeBot(app.client, app.clock, app.engine)
    answer = await bot.say(
        "", msg_type="image", media=[{"type": "image", "url": f"{base}/img/a.png"}]
    )
    message = await bot.message(answer["message_id"])
    assert message.kind == "image"
    assert served == []  # intake never waits for the download
    assert await fetch_round(bot) == 1
    [row] = await attachments(bot)
    assert (row.channel, row.source, row.status) == ("qianniu", "url", "stored")
    assert served == ["/img/a.png"]


async def test_an_engineers_file_on_the_bridge_is_refused_naming_the_bridge(
    start_app: StartApp, db_url: str, tmp_path: Path
) -> None:
    env = {"AFTERSALES_BRIDGE_KEYS": f"{KEY_ID}={SECRET}", "AFTERSALES_MEDIA_DIR": str(tmp_path)}
    app = await start_app(
        db_url, env=env, modules=[bridge, wecom_kf, media], instance="br-up", console=True
    )
    bot = BridgeBot(app.client, app.clock, app.engine)
    await bot.say("服务器开不了机了")
    number, staff_no = await bot.assigned()
    browser = await bot.sign_in(*PASSWORDS[staff_no])
    lines = len(await bot.messages())
    response = await browser.client.post(
        f"/console/api/tickets/{number}/attachments",
        data=_file(PNG, "diagram.png", "image/png"),
        headers={"X-CSRF-Token": browser.csrf},
    )
    answer = await response.json()
    assert response.status == 409, answer
    assert answer["error"] == "channel_without_media" and answer["field"] == "file"
    assert "千牛/京麦" in answer["message"]
    assert len(await bot.messages()) == lines and not [
        a for a in await attachments(bot) if a.source == "upload"
    ]


async def test_two_processes_never_fetch_the_same_attachment(
    make_bot: BotFactory, fake_api: FakeApi, db_url: str, tmp_path: Path
) -> None:
    """The claim is a conditional UPDATE: the second process finds nothing to do."""
    env = wechat_env(fake_api[1], AFTERSALES_MEDIA_DIR=str(tmp_path))
    first = await make_bot(db_url, env=env)
    second = await make_bot(db_url, env=env)
    first.fake.media["M-2"] = (PNG, "image/png")
    await first.post(image_xml(first.wechat.account, "M-2", 9010, first.clock.unix))
    fetcher_a = first.app[MEDIA].fetcher
    fetcher_b = second.app[MEDIA].fetcher
    assert fetcher_a is not None and fetcher_b is not None
    async with make_async_sessionmaker(first.engine)() as session, session.begin():
        row = (await session.execute(select(Attachment))).scalar_one()
        claimed = await fetcher_a._claim(session, row.id, first.clock())
    assert claimed
    # Claimed by the first: the second's round skips it.
    assert await fetcher_b.run_due() == 0
    assert first.fake.calls_to("/cgi-bin/media/get") == []
    async with make_async_sessionmaker(first.engine)() as session:
        assert (await session.execute(select(Message))).scalars().first() is not None
