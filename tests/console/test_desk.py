"""The live desk and media through the real app, on SQLite and PostgreSQL: a customer's
upload in /chat (and its refusals, naming the field), the engineer's image to the web
chat, the customer-waiting clock against SLA001/SLA002, drafts offered and withdrawn as
the turn moves, unread counts shared by two serve processes, notes that never reach the
customer, tags, the "/" menu's script lines first."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.accounts import seed_demo_accounts
from bot.app import create_app
from bot.channels import web as web_channel
from bot.media import routes as media
from compliance.policy import Policy
from storage.db import make_async_engine, make_async_sessionmaker
from storage.desk_models import Attachment, TicketNote
from storage.migrate import upgrade
from storage.models import DeliveryStatus, Message, MessageRole
from storage.testing import PG_SKIP_REASON, pg_test_url, temporary_pg_schema
from tests.console.conftest import Console, _ConsolePages, csrf_of, make_settings, post_json
from tests.support import FakeClock, copy_database

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(80))
USERS = {"1818": "zhangsan", "2046": "lisi"}


async def _seed(url: str) -> None:
    engine = make_async_engine(url)
    try:
        await seed_demo_accounts(make_async_sessionmaker(engine))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_db(request: pytest.FixtureRequest, console_template: Path, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield copy_database(console_template, tmp_path, "desk.sqlite3")
        return
    base = pg_test_url()
    if base is None:
        pytest.skip(PG_SKIP_REASON)
    with temporary_pg_schema(base) as url:
        upgrade(url)
        asyncio.run(_seed(url))
        yield url


async def _start(
    aiohttp_client: Any, aiohttp_server: Any, policy: Policy, url: str, clock: FakeClock, tmp: Path
) -> Console:
    env = {"AFTERSALES_MEDIA_DIR": str(tmp / "media"), "AFTERSALES_MEDIA_MAX_BYTES": "2048"}
    settings = make_settings(policy, url, clock, environ=env, instance_id=f"desk-{id(clock)}")
    app = create_app(settings, channel_modules=[web_channel, media], page_modules=[_ConsolePages()])
    server = await aiohttp_server(app)
    return Console(server, await aiohttp_client(server), clock, aiohttp_client)


@pytest.fixture
async def desk(
    aiohttp_client: Any,
    aiohttp_server: Any,
    policy: Policy,
    any_db: str,
    clock: FakeClock,
    tmp_path: Path,
) -> Console:
    return await _start(aiohttp_client, aiohttp_server, policy, any_db, clock, tmp_path)


def _upload(data: bytes | None, name: str, kind: str, **fields: str) -> FormData:
    form = FormData()
    for key, value in fields.items():
        form.add_field(key, value)
    if data is not None:
        form.add_field("file", io.BytesIO(data), filename=name, content_type=kind)
    return form


async def _visitor(client: TestClient[Any, Any]) -> str:
    response = await client.post("/chat/api/visitors", json={})
    return str((await response.json())["visitor"])


async def _owner(desk: Console, number: str) -> tuple[TestClient[Any, Any], str]:
    detail = await desk.services.views.ticket(number)
    browser = await desk.sign_in(USERS[detail["engineer"]["staff_no"]])
    return browser, await csrf_of(browser)


# ---------------------------------------------------------------------- media --


async def test_a_customers_upload_is_stored_shown_and_served_to_them_only(
    desk: Console, tmp_path: Path
) -> None:
    visitor = await _visitor(desk.client)
    response = await desk.client.post(
        "/chat/api/uploads",
        data=_upload(PNG, "告警灯.png", "image/png", visitor=visitor, client_id="up-00000001"),
    )
    answer = await response.json()
    assert response.status == 201, answer
    number = answer["ticket"]
    [attachment] = answer["message"]["attachments"]
    assert attachment["is_image"] and attachment["filename"] == "告警灯.png"
    # The line opened the ticket and was answered like a typed one (the greeting).
    assert answer["replies"] and answer["message"]["text"] == "[图片] 告警灯.png"
    # A resend of the same client id stores nothing new.
    again = await desk.client.post(
        "/chat/api/uploads",
        data=_upload(PNG, "告警灯.png", "image/png", visitor=visitor, client_id="up-00000001"),
    )
    assert again.status == 200 and (await again.json())["duplicate"] is True
    async with desk.services.sessionmaker() as session:
        rows = list((await session.execute(select(Attachment))).scalars())
    assert [(r.status, r.source, r.size) for r in rows] == [("stored", "upload", len(PNG))]
    assert (tmp_path / "media" / str(rows[0].stored_name)).read_bytes() == PNG
    # The customer's page lists it and may fetch it; another visitor may not.
    listed = await (await desk.client.get(f"/chat/api/messages?visitor={visitor}")).json()
    assert listed["messages"][0]["attachments"][0]["id"] == attachment["id"]
    own = await desk.client.get(f"{attachment['url']}?visitor={visitor}")
    assert own.status == 200 and await own.read() == PNG
    assert own.headers["Content-Type"] == "image/png"
    stranger = await _visitor(desk.client)
    assert (await desk.client.get(f"{attachment['url']}?visitor={stranger}")).status == 404
    # The engineer sees it on the ticket page.
    browser, _token = await _owner(desk, number)
    page = await (await browser.get(f"/console/tickets/{number}")).text()
    assert f"/console/media/{attachment['id']}" in page and "告警灯.png" in page


BIG = b"\x89PNG\r\n\x1a\n" + b"0" * 4096
EXE = b"MZ\x90\x00binary"


@pytest.mark.parametrize(
    ("data", "name", "fields", "status", "field"),
    [
        (PNG, "a.png", {"client_id": "up-00000002"}, 400, "visitor"),
        (PNG, "a.png", {"visitor": "bad visitor!", "client_id": "up-00000002"}, 400, "visitor"),
        (PNG, "a.png", {"visitor": "@", "client_id": "x"}, 400, "client_id"),
        (None, "", {"visitor": "@", "client_id": "up-00000003"}, 400, "file"),
        (b"", "e.png", {"visitor": "@", "client_id": "up-00000004"}, 400, "file"),
        (BIG, "big.png", {"visitor": "@", "client_id": "up-00000005"}, 413, "file"),
        (EXE, "tool.exe", {"visitor": "@", "client_id": "up-00000006"}, 415, "file"),
    ],
)
async def test_refused_uploads_name_the_field_and_store_nothing(
    desk: Console,
    data: bytes | None,
    name: str,
    fields: dict[str, str],
    status: int,
    field: str,
) -> None:
    visitor = await _visitor(desk.client)
    values = {key: visitor if value == "@" else value for key, value in fields.items()}
    form = _upload(data, name, "application/octet-stream", **values)
    response = await desk.client.post("/chat/api/uploads", data=form)
    answer = await response.json()
    assert response.status == status, answer
    assert answer["field"] == field
    async with desk.services.sessionmaker() as session:
        assert list((await session.execute(select(Message))).scalars()) == []
        assert list((await session.execute(select(Attachment))).scalars()) == []


async def test_a_json_body_to_the_upload_endpoint_is_a_415_naming_the_file(desk: Console) -> None:
    response = await desk.client.post("/chat/api/uploads", json={"visitor": "x"})
    assert response.status == 415 and (await response.json())["field"] == "file"


async def test_the_engineers_image_reaches_the_web_chat(desk: Console) -> None:
    number = await desk.customer_says("服务器开不了机了")
    browser, token = await _owner(desk, number)
    response = await browser.post(
        f"/console/api/tickets/{number}/attachments",
        data=_upload(PNG, "接线图.png", "image/png"),
        headers={"X-CSRF-Token": token},
    )
    answer = await response.json()
    assert response.status == 201, answer
    assert answer["delivery"]["status"] == "sent"
    async with desk.services.sessionmaker() as session:
        line = await session.get(Message, answer["message_id"])
        assert line is not None
        assert (line.role, line.kind, line.delivery_status) == (
            MessageRole.AGENT,
            "image",
            DeliveryStatus.SENT,
        )
    # The customer's poll brings the line with its image.
    visitor = desk._visitors["c1"]
    listed = await (await desk.client.get(f"/chat/api/messages?visitor={visitor}")).json()
    [sent] = [m for m in listed["messages"] if m["id"] == answer["message_id"]]
    assert sent["attachments"][0]["is_image"]
    # Without the CSRF header, or as another engineer, nothing is sent.
    bare = await browser.post(
        f"/console/api/tickets/{number}/attachments", data=_upload(PNG, "x.png", "image/png")
    )
    assert bare.status == 403


# ------------------------------------------------------------- waiting clock --


async def test_the_waiting_clock_counts_down_to_the_reply_limit_and_turns_red(
    desk: Console,
) -> None:
    number = await desk.customer_says("服务器开不了机了")
    browser, token = await _owner(desk, number)
    live = await (await browser.get(f"/console/api/tickets/{number}/desk")).json()
    # The greeting answered the first message: nobody is waiting.
    assert live["waiting"] is None
    desk.clock.advance(seconds=5)
    await desk.customer_says("型号是 R740，电源灯不亮")
    live = await (await browser.get(f"/console/api/tickets/{number}/desk")).json()
    waiting = live["waiting"]
    assert waiting["rule"] == "SLA002" and waiting["limit_s"] == 60
    assert waiting["left_s"] == 60 and not waiting["breached"]
    desk.clock.advance(seconds=61)
    live = await (await browser.get(f"/console/api/tickets/{number}/desk")).json()
    assert live["waiting"]["breached"] and live["waiting"]["text"].startswith("已超时")
    queue = await (await browser.get("/console/queue")).text()
    assert 'class="sla waiting sla--breached"' in queue
    # The row is marked breached (red, first in the queue) by the waiting customer alone.
    rows = await (await browser.get("/console/api/queue")).json()
    assert rows["breached"] == [number]
    # An acknowledgement alone starts no clock; the engineer's reply stops it.
    await post_json(browser, f"/console/api/tickets/{number}/accept", {}, token)
    sent = await post_json(
        browser, f"/console/api/tickets/{number}/messages", {"text": "您好，我来看一下"}, token
    )
    assert sent.status == 200, await sent.json()
    await desk.customer_says("好的")
    live = await (await browser.get(f"/console/api/tickets/{number}/desk")).json()
    assert live["waiting"] is None


async def test_drafts_are_offered_and_withdrawn_as_the_turn_moves(desk: Console) -> None:
    number = await desk.customer_says("服务器开不了机了")
    browser, token = await _owner(desk, number)
    await post_json(browser, f"/console/api/tickets/{number}/accept", {}, token)
    await desk.customer_says("你们这服务太差了，我要投诉")
    live = await (await browser.get(f"/console/api/tickets/{number}/desk")).json()
    [offered] = live["drafts"]
    assert offered["label"] and offered["text"]
    sent = await post_json(
        browser,
        f"/console/api/tickets/{number}/messages",
        {"text": offered["text"], "prompted_by": offered["key"]},
        token,
    )
    assert sent.status == 200, await sent.json()
    live = await (await browser.get(f"/console/api/tickets/{number}/desk")).json()
    assert live["drafts"] == []


# ---------------------------------------------------- unread, notes, tags, "/" --


async def test_unread_counts_are_per_account_and_shared_by_two_processes(
    aiohttp_client: Any,
    aiohttp_server: Any,
    policy: Policy,
    any_db: str,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    first = await _start(aiohttp_client, aiohttp_server, policy, any_db, clock, tmp_path)
    second = await _start(aiohttp_client, aiohttp_server, policy, any_db, clock, tmp_path)
    number = await first.customer_says("服务器开不了机了")
    engineer, _token = await _owner(first, number)
    manager = await second.sign_in("manager")

    def unread(page: str) -> int:
        found = re.search(rf'data-ticket="{number}".*?data-unread="(\d+)"', page, re.S)
        return int(found.group(1)) if found else 0

    assert unread(await (await engineer.get("/console/queue")).text()) == 1
    # Read on the first process: the second process's queue sees it too.
    await engineer.get(f"/console/api/tickets/{number}/desk")
    clock.advance(seconds=3)
    await first.customer_says("型号是 R740")
    engineer_on_second = await second.sign_in(
        USERS[(await second.services.views.ticket(number))["engineer"]["staff_no"]]
    )
    assert unread(await (await engineer_on_second.get("/console/queue")).text()) == 1
    # The manager has read nothing yet: both lines are new to them.
    page = await (await manager.get("/console/queue")).text()
    assert unread(page) == 2 and "型号是 R740" in page


async def test_notes_stay_internal_and_tags_are_kept_once(desk: Console) -> None:
    number = await desk.customer_says("服务器开不了机了")
    browser, token = await _owner(desk, number)
    note = await post_json(
        browser, f"/console/api/tickets/{number}/notes", {"text": "客户是老客户，优先处理"}, token
    )
    assert note.status == 201
    assert [n["text"] for n in (await note.json())["notes"]] == ["客户是老客户，优先处理"]
    refused = await post_json(browser, f"/console/api/tickets/{number}/notes", {"text": " "}, token)
    assert refused.status == 400 and (await refused.json())["field"] == "text"
    # Never in the customer's chat, never a message row.
    visitor = desk._visitors["c1"]
    listed = await (await desk.client.get(f"/chat/api/messages?visitor={visitor}")).json()
    assert all("老客户" not in m["text"] for m in listed["messages"])
    async with desk.services.sessionmaker() as session:
        texts = list((await session.execute(select(Message.text))).scalars())
        assert not any("老客户" in t for t in texts)
        assert len(list((await session.execute(select(TicketNote))).scalars())) == 1
    for _ in range(2):
        tagged = await post_json(
            browser, f"/console/api/tickets/{number}/tags", {"tag": "重要客户"}, token
        )
        assert (await tagged.json())["tags"] == ["重要客户"]
    bad = await post_json(browser, f"/console/api/tickets/{number}/tags", {"tag": "a,b"}, token)
    assert bad.status == 400 and (await bad.json())["field"] == "tag"
    page = await (await browser.get(f"/console/tickets/{number}")).text()
    assert "重要客户" in page and "客户是老客户，优先处理" in page
    removed = await post_json(
        browser, f"/console/api/tickets/{number}/tags/remove", {"tag": "重要客户"}, token
    )
    assert (await removed.json())["tags"] == []


async def test_the_slash_menu_lists_the_script_lines_first(desk: Console) -> None:
    number = await desk.customer_says("服务器开不了机了")
    browser, _token = await _owner(desk, number)
    items = (await (await browser.get(f"/console/api/tickets/{number}/canned")).json())["items"]
    sources = [item["source"] for item in items]
    assert sources[0] == "script" and "canned" in sources
    assert sources == sorted(sources, key=lambda s: s != "script")
    assert all(item["key"] for item in items if item["source"] == "script")


async def test_another_engineers_ticket_and_files_are_not_found(desk: Console) -> None:
    visitor = await _visitor(desk.client)
    response = await desk.client.post(
        "/chat/api/uploads",
        data=_upload(PNG, "a.png", "image/png", visitor=visitor, client_id="up-00000009"),
    )
    answer = await response.json()
    number, attachment = answer["ticket"], answer["message"]["attachments"][0]["id"]
    owner = (await desk.services.views.ticket(number))["engineer"]["staff_no"]
    other = await desk.sign_in(USERS["2046" if owner == "1818" else "1818"])
    assert (await other.get(f"/console/api/tickets/{number}/desk")).status == 404
    assert (await other.get(f"/console/media/{attachment}")).status == 404
    token = await csrf_of(other)
    refused = await post_json(other, f"/console/api/tickets/{number}/notes", {"text": "x"}, token)
    assert refused.status == 404
    # QA and the manager may open it (the QA session page shows it).
    qa = await desk.sign_in("qa")
    assert (await qa.get(f"/console/media/{attachment}")).status == 200
    async with desk.services.sessionmaker() as session:
        assert list((await session.execute(select(TicketNote))).scalars()) == []


async def test_the_qa_session_page_shows_the_customers_image(desk: Console) -> None:
    visitor = await _visitor(desk.client)
    response = await desk.client.post(
        "/chat/api/uploads",
        data=_upload(PNG, "机柜.png", "image/png", visitor=visitor, client_id="up-00000010"),
    )
    answer = await response.json()
    number, attachment = answer["ticket"], answer["message"]["attachments"][0]["id"]
    qa = await desk.sign_in("qa")
    token = await csrf_of(qa, "/console/qa")
    ran = await qa.post("/console/qa/run", data={"csrf_token": token}, allow_redirects=False)
    assert ran.status == 303
    page = await qa.get(f"/console/qa/sessions/{number}")
    text = await page.text()
    assert page.status == 200, text
    assert f'src="/console/media/{attachment}"' in text and "机柜.png" in text


async def test_forgetting_the_customer_erases_their_files_and_stars_the_notes(
    desk: Console, tmp_path: Path
) -> None:
    visitor = await _visitor(desk.client)
    response = await desk.client.post(
        "/chat/api/uploads",
        data=_upload(PNG, "身份证.png", "image/png", visitor=visitor, client_id="up-00000011"),
    )
    number = (await response.json())["ticket"]
    browser, token = await _owner(desk, number)
    await post_json(
        browser, f"/console/api/tickets/{number}/notes", {"text": "客户电话 13812345678"}, token
    )
    files = list((tmp_path / "media").rglob("*.png"))
    assert len(files) == 1
    forgotten = await desk.services.tickets.forget_ticket_customer(number, "9001")
    assert forgotten is not None
    async with desk.services.sessionmaker() as session:
        row = (await session.execute(select(Attachment))).scalar_one()
        assert (row.status, row.filename) == ("erased", None)
        note = (await session.execute(select(TicketNote))).scalar_one()
        assert "13812345678" not in note.text
    fetcher = desk.server.app[media.MEDIA].fetcher
    assert fetcher is not None
    assert await fetcher.remove_erased() == 1
    assert not files[0].exists()
    async with desk.services.sessionmaker() as session:
        row = (await session.execute(select(Attachment))).scalar_one()
        assert row.stored_name is None
    page = await (await browser.get(f"/console/tickets/{number}")).text()
    assert "已按客户要求或保存期限删除" in page


async def test_the_ticket_page_hears_of_new_lines_on_the_other_tickets(desk: Console) -> None:
    first = await desk.customer_says("服务器开不了机了", who="a")
    await desk.customer_says("硬盘告警灯亮了", who="b")
    manager = await desk.sign_in("manager")
    live = await (await manager.get(f"/console/api/tickets/{first}/desk")).json()
    assert live["unread_elsewhere"] == 1
    desk.clock.advance(seconds=2)
    await desk.customer_says("型号是 R740", who="b")
    live = await (await manager.get(f"/console/api/tickets/{first}/desk")).json()
    assert live["unread_elsewhere"] == 2
