"""`aftersales serve` as a user runs it, and the app's assembly (channels, roster, settings)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from bot.api import header_actor
from bot.app import create_app, sync_roster
from bot.context import ACTOR_RESOLVER
from bot.settings import Settings, SettingsError, env_number
from compliance.policy import Policy
from storage.db import make_async_engine, make_async_sessionmaker
from storage.models import Engineer

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_with_no_database_argument_runs_on_sqlite_in_the_working_directory(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "AFTERSALES_SCHEDULER_INTERVAL_S": "0.5"}
    env.pop("AFTERSALES_DB_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve", "--port", str(port), "--demo"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        # Other modules (the console) may print their own lines around ours.
        lines: list[str] = []
        while not any("stop with Ctrl+C" in line for line in lines):
            line = process.stdout.readline()
            assert line, f"serve exited early: {lines}"
            lines.append(line)
        banner = "".join(lines)
        assert f"serving on http://127.0.0.1:{port}" in banner, banner
        assert f"web chat (customers):  http://127.0.0.1:{port}/chat" in banner
        assert f"engineer API:          http://127.0.0.1:{port}/api/tickets" in banner
        assert "张三 1818" in banner and "李四 2046" in banner and "王经理 9001" in banner
        assert (tmp_path / "aftersales.sqlite3").exists()
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{base}/chat", timeout=5) as page:
            assert "朴赛售后服务中心" in page.read().decode("utf-8")
        request = urllib.request.Request(f"{base}/chat/api/visitors", data=b"{}", method="POST")
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=5) as response:
            visitor = json.load(response)["visitor"]
        body = json.dumps(
            {"visitor": visitor, "client_id": "first-msg", "text": "服务器开不了机了"}
        )
        request = urllib.request.Request(
            f"{base}/chat/api/messages", data=body.encode(), method="POST"
        )
        request.add_header("Content-Type", "application/json")
        started = time.monotonic()
        with urllib.request.urlopen(request, timeout=5) as response:
            answer = json.load(response)
        assert time.monotonic() - started < 1.0
        # Real time: the greeting in the chat hours, the centre's notice outside them.
        assert answer["replies"][0]["text"].startswith(
            ("您好，我是朴赛售后服务中心运维工程师", "您好，现在是非在线服务时间")
        )
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a hang is the failure
            process.kill()
            raise
        errors = process.stderr.read() if process.stderr else ""
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
    assert process.returncode == 0, errors


def test_bad_settings_are_named() -> None:
    with pytest.raises(SettingsError, match="AFTERSALES_MAX_BODY_BYTES: expected an integer"):
        Settings.load(environ={"AFTERSALES_MAX_BODY_BYTES": "lots"})
    with pytest.raises(SettingsError, match="AFTERSALES_SCHEDULER: expected on or off"):
        Settings.load(environ={"AFTERSALES_SCHEDULER": "maybe"})
    settings = Settings.load(environ={"AFTERSALES_DB_URL": "sqlite:///x.db"}, port=9000)
    assert (settings.db_url, settings.base_url) == ("sqlite:///x.db", "http://127.0.0.1:9000")
    assert settings.environ["AFTERSALES_DB_URL"] == "sqlite:///x.db"


def test_environment_numbers_are_checked_by_name() -> None:
    environ = {"N": " 12 ", "F": "0.5", "BAD": "12ab", "LOW": "-1", "BLANK": " "}
    assert env_number(environ, "N", 3, whole=True) == 12
    assert env_number(environ, "F", 3) == 0.5
    assert env_number(environ, "BLANK", 3) == env_number(environ, "UNSET", 3) == 3
    with pytest.raises(SettingsError, match=r"F: expected an integer, got '0\.5'"):
        env_number(environ, "F", 3, whole=True)
    with pytest.raises(SettingsError, match="BAD: expected a number, got '12ab'"):
        env_number(environ, "BAD", 3)
    with pytest.raises(SettingsError, match="LOW: must be at least 0, got '-1'"):
        env_number(environ, "LOW", 3, minimum=0)


def test_serve_reports_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "PYTHONPATH": str(REPO), "AFTERSALES_SECRET_KEY": "k" * 40}
        result = subprocess.run(
            [sys.executable, "-m", "bot.cli", "serve", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


async def test_the_default_app_mounts_the_console_and_its_sign_in(
    policy: Policy, sqlite_url: str
) -> None:
    # Explicit imports: the engineer API never falls back to the X-Staff-No header
    # because the console failed to import.
    app = create_app(Settings(policy=policy, db_url=sqlite_url, scheduler_enabled=False))
    assert app[ACTOR_RESOLVER] is not header_actor
    paths = {getattr(r, "canonical", "") for r in app.router.resources()}
    assert "/console" in paths


async def test_the_default_app_mounts_every_channel(policy: Policy, sqlite_url: str) -> None:
    app = create_app(Settings(policy=policy, db_url=sqlite_url, scheduler_enabled=False))
    paths = {
        resource.canonical for resource in app.router.resources() if hasattr(resource, "canonical")
    }
    assert {"/chat", "/chat/api/messages", "/api/tickets/{number}/accept", "/wechat"} <= paths


async def test_page_modules_are_mounted_after_the_channels(policy: Policy, sqlite_url: str) -> None:
    mounted: list[str] = []

    async def console(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    class Page:
        @staticmethod
        def setup(app: web.Application) -> None:
            mounted.append("page")
            app.router.add_get("/console", console)

    app = create_app(
        Settings(policy=policy, db_url=sqlite_url, scheduler_enabled=False),
        channel_modules=[],
        page_modules=[Page()],
    )
    assert mounted == ["page"]
    assert any(getattr(r, "canonical", "") == "/console" for r in app.router.resources())


async def test_roster_sync_adds_and_updates_but_keeps_database_rosters(
    policy: Policy, sqlite_url: str
) -> None:
    engine = make_async_engine(sqlite_url)
    try:
        sessionmaker = make_async_sessionmaker(engine)
        assert await sync_roster(sessionmaker, policy) == 4
        assert await sync_roster(sessionmaker, policy) == 0
        async with sessionmaker() as session, session.begin():
            row = await session.scalar(select(Engineer).where(Engineer.staff_no == "1818"))
            assert row is not None
            row.name = "张三丰"
        assert await sync_roster(sessionmaker, policy) == 1
        async with sessionmaker() as session:
            names: dict[str, Any] = {
                e.staff_no: (e.name, e.roles) for e in await session.scalars(select(Engineer))
            }
        assert names["1818"] == ("张三", ["engineer"])
        assert names["9001"] == ("王经理", ["manager"])
    finally:
        await engine.dispose()
