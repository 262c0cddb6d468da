"""The reference bridge client, run as `python -m bot.channels.bridge_client`, against the
app listening on a real port: events in, the bot's lines out, each acted on once."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.channels import bridge
from bot.channels.bridge_auth import sign as server_sign
from bot.channels.bridge_client import BridgeClient, BridgeHttp, FileAdapter, Journal, sign
from bot.settings import utc_now
from storage.channel_models import BridgeCommand, BridgeCommandStatus, BridgeEvent
from storage.db import make_async_engine, make_async_sessionmaker
from storage.models import Customer, Message
from tests.channels.harness import REPO, StartApp

KEY_ID = "shop-pc-9"
SECRET = secrets.token_hex(24)


def test_client_and_server_sign_alike() -> None:
    args = ("secret-" * 6, "POST", "/bridge/v1/events?x=1", "1700000000", "n" * 20, "体".encode())
    assert sign(*args) == server_sign(*args)


async def _run_client(base: str, tmp: Path, *extra: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.channels.bridge_client",
        "--url",
        base,
        "--key-id",
        KEY_ID,
        "--inbox",
        str(tmp / "inbox.jsonl"),
        "--outbox",
        str(tmp / "outbox.jsonl"),
        "--journal",
        str(tmp / "journal.jsonl"),
        "--once",
        *extra,
        cwd=REPO,
        env={**os.environ, "AFTERSALES_BRIDGE_SECRET": SECRET},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, stderr.decode()


def _event(event_id: str, text: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "platform": "tmall",
        "shop_id": "tm-shop-1",
        "conversation_id": "conv-88",
        "buyer_uid": "tm_buyer_88",
        "sender_role": "buyer",
        "msg_type": "text",
        "text": text,
        "platform_time": utc_now().isoformat(),
    }


def _outbox(tmp: Path) -> list[dict[str, Any]]:
    path = tmp / "outbox.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def _start(start_app: StartApp, sqlite_url: str) -> TestClient[Any, Any]:
    # The client's events carry the real time, so the app runs on the real clock.
    app = await start_app(
        sqlite_url,
        env={"AFTERSALES_BRIDGE_KEYS": f"{KEY_ID}={SECRET}"},
        modules=[bridge],
        now=utc_now,
    )
    return app.client


async def test_reference_client_against_the_app(
    start_app: StartApp, sqlite_url: str, tmp_path: Path
) -> None:
    client = await _start(start_app, sqlite_url)
    base = str(client.server.make_url("")).rstrip("/")
    inbox = tmp_path / "inbox.jsonl"
    inbox.write_text(
        json.dumps(_event("tm-ev-1", "服务器开不了机了"), ensure_ascii=False) + "\n",
        encoding="utf-8",
    )

    status, stderr = await _run_client(base, tmp_path)
    assert status == 0, stderr
    # The greeting (and, on a rest day, the rest-day notice: the clock is the real one).
    first_turn = _outbox(tmp_path)
    # Real time: outside the chat hours the centre's notice instead of the greeting.
    assert first_turn[0]["text"].startswith(
        ("您好，我是朴赛售后服务中心运维工程师", "您好，现在是非在线服务时间")
    )
    assert {line["conversation_id"] for line in first_turn} == {"conv-88"}

    # The engineer writes; the next round types it, the round after has nothing new.
    headers = {"X-Staff-No": "9001"}
    tickets = await (await client.get("/api/tickets", headers=headers)).json()
    number = tickets["tickets"][0]["number"]
    response = await client.post(
        f"/api/tickets/{number}/messages",
        json={"text": "您好，请问指示灯是什么颜色？"},
        headers={"X-Staff-No": tickets["tickets"][0]["engineer"]["staff_no"]},
    )
    assert response.status == 200, await response.text()
    assert (await _run_client(base, tmp_path))[0] == 0
    assert (await _run_client(base, tmp_path))[0] == 0
    later = [line["text"] for line in _outbox(tmp_path)][len(first_turn) :]
    # Out of the chat hours (the real clock) nobody had greeted: the greeting comes first.
    assert later[-1:] == ["您好，请问指示灯是什么颜色？"] and len(later) <= 2

    engine = make_async_engine(sqlite_url)
    try:
        async with make_async_sessionmaker(engine)() as session:
            rows = (await session.execute(select(BridgeCommand))).scalars().all()
    finally:
        await engine.dispose()
    assert [row.status for row in rows] == [BridgeCommandStatus.SUBMITTED] * (
        len(first_turn) + len(later)
    )
    journal = Journal.open(tmp_path / "journal.jsonl")
    assert set(journal.posted) == {"tm-ev-1"}
    assert journal.reported == {row.id for row in rows}


class _CrashingAdapter(FileAdapter):
    def send(self, command: dict[str, Any]) -> tuple[str, str | None]:
        raise RuntimeError("千牛窗口无响应")


async def test_a_command_offered_again_is_answered_from_the_journal(
    start_app: StartApp, sqlite_url: str, tmp_path: Path
) -> None:
    """A bridge that died while typing answers ``unknown`` and never types it again."""
    client = await _start(start_app, sqlite_url)
    base = str(client.server.make_url("")).rstrip("/")
    (tmp_path / "inbox.jsonl").write_text(
        json.dumps(_event("tm-ev-2", "硬盘亮红灯"), ensure_ascii=False) + "\n", encoding="utf-8"
    )
    journal = Journal.open(tmp_path / "journal.jsonl")
    http = BridgeHttp(base, KEY_ID, SECRET)
    # Blocking urllib calls: run the client in a thread while the app serves.
    adapter = _CrashingAdapter(tmp_path / "inbox.jsonl", tmp_path / "outbox.jsonl")
    bridge_client = BridgeClient(http, adapter, journal)
    await asyncio.to_thread(bridge_client.post_events)
    # Simulate the crash between "started" and "done": journal the start only.
    _, answer = await asyncio.to_thread(http.request, "GET", "/bridge/v1/commands")
    crashed, *others = answer["commands"]
    journal.record({"started": crashed["id"]})
    outcome = bridge_client._act(crashed)
    assert outcome[0] == "unknown" and "not typed again" in (outcome[1] or "")
    await asyncio.to_thread(bridge_client._report, crashed["id"], *outcome)
    # An adapter that fails while typing: unknown as well, never a retry.
    for command in others:
        outcome = bridge_client._act(command)
        assert outcome == ("unknown", "RuntimeError: 千牛窗口无响应")
        await asyncio.to_thread(bridge_client._report, command["id"], *outcome)
    assert await asyncio.to_thread(bridge_client.handle_commands, 0) == 0
    assert _outbox(tmp_path) == []
    engine = make_async_engine(sqlite_url)
    try:
        async with make_async_sessionmaker(engine)() as session:
            rows = (await session.execute(select(BridgeCommand))).scalars().all()
    finally:
        await engine.dispose()
    assert [row.status for row in rows] == [BridgeCommandStatus.UNKNOWN] * (1 + len(others))
    assert journal.reported == {row.id for row in rows}


def test_the_client_refuses_to_start_without_its_secret(tmp_path: Path) -> None:
    from bot.channels.bridge_client import main

    with pytest.raises(SystemExit) as stopped:
        main(
            [
                "--url",
                "http://127.0.0.1:9",
                "--key-id",
                "k",
                "--secret-env",
                "NO_SUCH_VAR_X",
                "--inbox",
                str(tmp_path / "i"),
                "--outbox",
                str(tmp_path / "o"),
                "--journal",
                str(tmp_path / "j"),
            ]
        )
    assert stopped.value.code == 2


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_reference_client_against_aftersales_serve(tmp_path: Path) -> None:
    """The shop's side as shipped: `aftersales serve` in one process, the client in another."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "serve",
        "--demo",
        "--port",
        str(port),
        "--db",
        f"sqlite:///{tmp_path / 'serve.sqlite3'}",
        cwd=tmp_path,
        env={**os.environ, "AFTERSALES_BRIDGE_KEYS": f"{KEY_ID}={SECRET}", "PYTHONPATH": str(REPO)},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        for _ in range(150):  # up to 30 s for migrations and start-up
            try:
                _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                if server.returncode is not None:
                    break
                await asyncio.sleep(0.2)
                continue
            writer.close()
            await writer.wait_closed()
            break
        assert server.returncode is None, "aftersales serve exited during start-up"
        # A poisoned event first: refused, dropped, and the good one behind it still lands.
        poisoned = {**_event("tm-serve-0", "开不了机\x00"), "buyer_uid": "poison"}
        late = {**_event("tm-serve-9", "x"), "platform_time": "9999-12-31T23:59:59-05:00"}
        _write_inbox(tmp_path, [poisoned, _event("tm-serve-1", "服务器开不了机了"), late])
        status, stderr = await _run_client(base, tmp_path)
        assert status == 0, stderr
        assert "event tm-serve-0 refused (400)" in stderr
        assert "event tm-serve-9 refused (400)" in stderr
        first_turn = _outbox(tmp_path)
        # Real time: outside the chat hours the centre's notice instead of the greeting.
        assert first_turn[0]["text"].startswith(
            ("您好，我是朴赛售后服务中心运维工程师", "您好，现在是非在线服务时间")
        )
        assert {line["conversation_id"] for line in first_turn} == {"conv-88"}
        # A second round brings nothing new: every line is typed once.
        assert (await _run_client(base, tmp_path))[0] == 0
        assert len(_outbox(tmp_path)) == len(first_turn)
    finally:
        if server.returncode is None:
            server.terminate()
            await asyncio.wait_for(server.wait(), timeout=30)


async def _rows(url: str, model: Any) -> list[Any]:
    engine = make_async_engine(url)
    try:
        async with make_async_sessionmaker(engine)() as session:
            return list((await session.execute(select(model))).scalars().all())
    finally:
        await engine.dispose()


def _write_inbox(tmp: Path, events: list[dict[str, Any]]) -> None:
    # ensure_ascii: a lone surrogate goes as its \ud800 escape, as a tool would write it.
    lines = [json.dumps(event) for event in events]
    (tmp / "inbox.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


POISONED = {
    "tm-nul": {"text": "开不了机\x00"},
    "tm-surrogate": {"buyer_nick": "买家\ud800"},
    "tm-control": {"text": "bell\x07"},
    "tm-year-1": {"platform_time": "0001-01-01T00:00:00+08:00"},
    "tm-year-9999": {"platform_time": "9999-12-31T23:59:59-05:00"},
    "tm-naive-9999": {"platform_time": "9999-12-31T23:59:59"},
    "tm-digits": {"platform_time": "２０２６-11-23T09:31:00+08:00"},
    "tm-command": {"command_id": 2**31},
    "tm-order": {"order": {"order_id": "o-1", "total": "\x00"}},
}


async def test_poisoned_events_are_dropped_and_never_hold_the_queue(
    start_app: StartApp, sqlite_url: str, tmp_path: Path
) -> None:
    """The reference client, as a process, against the app on a real port: each poisoned
    event is refused 400 naming its field, journalled and dropped; the events around it
    arrive; no row is left for a refused one (no bridge event, no customer)."""
    client = await _start(start_app, sqlite_url)
    base = str(client.server.make_url("")).rstrip("/")
    events = [_event("tm-good-1", "服务器开不了机了")]
    for event_id, change in POISONED.items():
        poisoned = {**_event(event_id, "硬盘亮红灯"), **change}
        poisoned["buyer_uid"] = f"buyer-{event_id}"  # a customer of its own: none may stay
        events.append(poisoned)
    events.append(_event("tm-good-2", "型号是 R740"))
    _write_inbox(tmp_path, events)

    status, stderr = await _run_client(base, tmp_path, "-v")
    assert status == 0, stderr
    journal = Journal.open(tmp_path / "journal.jsonl")
    assert set(journal.posted) == {"tm-good-1", "tm-good-2", *POISONED}
    for event_id in POISONED:
        assert journal.posted[event_id].startswith("refused 400 bad_field"), journal.posted
        assert f"event {event_id} refused (400)" in stderr
    assert {row.event_id for row in await _rows(sqlite_url, BridgeEvent)} == {
        "tm-good-1",
        "tm-good-2",
    }
    assert [row.external_id for row in await _rows(sqlite_url, Customer)] == [
        "tm-shop-1:tm_buyer_88"
    ]
    customer_lines = [
        m.text for m in await _rows(sqlite_url, Message) if m.role.value == "customer"
    ]
    assert customer_lines == ["服务器开不了机了", "型号是 R740"]

    # A second round posts nothing again: refusals are final, never retried.
    status, stderr = await _run_client(base, tmp_path, "-v")
    assert status == 0 and "refused" not in stderr, stderr
    assert len(await _rows(sqlite_url, BridgeEvent)) == 2


async def test_an_event_the_bot_fails_on_does_not_hold_the_ones_behind_it(
    aiohttp_server: Any, tmp_path: Path
) -> None:
    """A 5xx for one event: the client goes on with the next ones and tries that one again
    in the next round (where the bot may have been fixed)."""
    from aiohttp import web

    seen: list[str] = []
    broken = {"ev-boom"}

    async def events(request: web.Request) -> web.Response:
        event_id = (await request.json())["event_id"]
        seen.append(event_id)
        if event_id in broken:
            return web.json_response({"error": "internal", "message": "boom"}, status=500)
        return web.json_response({"event_id": event_id, "duplicate": False})

    async def commands(request: web.Request) -> web.Response:
        return web.json_response({"commands": []})

    app = web.Application()
    app.router.add_post("/bridge/v1/events", events)
    app.router.add_get("/bridge/v1/commands", commands)
    server = await aiohttp_server(app)
    base = str(server.make_url("")).rstrip("/")
    _write_inbox(tmp_path, [_event(e, "x") for e in ("ev-1", "ev-boom", "ev-2", "ev-3")])

    status, stderr = await _run_client(base, tmp_path)
    assert status == 0, stderr
    assert seen == ["ev-1", "ev-boom", "ev-2", "ev-3"]
    assert "event ev-boom: POST /bridge/v1/events: HTTP 500 boom; tried again" in stderr
    assert set(Journal.open(tmp_path / "journal.jsonl").posted) == {"ev-1", "ev-2", "ev-3"}

    broken.clear()
    assert (await _run_client(base, tmp_path))[0] == 0
    assert seen[4:] == ["ev-boom"]
    assert Journal.open(tmp_path / "journal.jsonl").posted["ev-boom"] == "ok"
