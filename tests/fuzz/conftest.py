"""The app under fuzz: the real `create_app` with every module (channels, API, console),
served on a real port from a thread of its own, so Hypothesis's synchronous examples can
send requests to it; a snapshot of every table to tell whether a request wrote anything.

One served app per database (session scope): SQLite, and PostgreSQL when
`AFTERSALES_TEST_PG_URL` is set (skipped with the reason otherwise).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import inspect, select, text

from bot.accounts import NewAccount, create_account, seed_demo_accounts
from bot.app import create_app
from bot.context import SERVICES
from bot.settings import Settings
from compliance.policy import load_policy
from storage.db import make_async_engine, make_async_sessionmaker
from storage.migrate import upgrade
from storage.models import Engineer, Ticket
from storage.testing import PG_SKIP_REASON, pg_test_url, temporary_pg_schema
from tests.support import FakeClock

T = TypeVar("T")

BRIDGE_KEY_ID = "fuzz-pc"
BRIDGE_SECRET = "fuzz-bridge-secret-0123456789abcdef"
ADMIN = ("fuzzadmin", "fuzz-admin-pass-1")
DEMO_ENGINEERS = {"1818": ("zhangsan", "demo1818"), "2046": ("lisi", "demo2046")}
# Tables a refused request may legitimately write (each asserted nowhere else):
# - signin_throttles: a failed sign-in is counted, that is the throttle (issue 15 item 4);
# - bridge_nonces: a signed bridge request's nonce is kept even when its body is refused,
#   so the same signed request cannot be replayed.
WRITES_ON_REFUSAL = frozenset({"signin_throttles", "bridge_nonces"})
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)"')
_FORM_TOKEN = re.compile(r'name="csrf_token" value="([^"]*)"')

ENVIRON = {
    "AFTERSALES_SECRET_KEY": "fuzz-secret-key-0123456789abcdef0123456789",
    "AFTERSALES_BRIDGE_KEYS": f"{BRIDGE_KEY_ID}={BRIDGE_SECRET}",
    # Configured, so their webhooks run their checks; their APIs point nowhere.
    "AFTERSALES_WECHAT_TOKEN": "fuzztoken",
    "AFTERSALES_WECHAT_APPID": "wxfuzz00000000000",
    "AFTERSALES_WECHAT_SECRET": "fuzz-secret",
    "AFTERSALES_WECHAT_API_BASE": "http://127.0.0.1:9",
    "AFTERSALES_WECHAT_SWEEP_S": "0",
    "AFTERSALES_WECOM_CORP_ID": "wwfuzz",
    "AFTERSALES_WECOM_KF_SECRET": "fuzz-kf-secret",
    "AFTERSALES_WECOM_KF_TOKEN": "fuzzkftoken",
    "AFTERSALES_WECOM_KF_AES_KEY": "a" * 43,
    "AFTERSALES_WECOM_API_BASE": "http://127.0.0.1:9",
    "AFTERSALES_WECOM_KF_SWEEP_S": "0",
}


@dataclass
class Served:
    """The app on a real port, its loop's thread, and what a request needs to get in."""

    loop: asyncio.AbstractEventLoop
    base: str
    app: web.Application
    http: aiohttp.ClientSession
    tables: list[str]
    staff_nos: list[str]
    ticket_number: str
    visitor: str
    console_cookie: str = ""
    csrf: str = ""
    # The ticket's own engineer, signed in too: actions run past the "not yours" check.
    engineer_cookie: str = ""
    engineer_csrf: str = ""
    login_cookie: str = ""
    login_token: str = ""
    routes: list[tuple[str, str]] = field(default_factory=list)
    # The tables as the last refused request left them (nothing has written since).
    last_snapshot: dict[str, str] | None = None

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    async def snapshot(self) -> dict[str, str]:
        """A digest of every table's rows (but `WRITES_ON_REFUSAL`)."""
        sessionmaker = self.app[SERVICES].sessionmaker
        async with sessionmaker() as session:
            if session.bind.dialect.name == "postgresql":
                # One round trip: each table's rows, as text, hashed by the server.
                columns = ", ".join(
                    f"(SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') "
                    f'FROM "{table}" t)'
                    for table in self.tables
                )
                row = (await session.execute(text(f"SELECT {columns}"))).one()
                return dict(zip(self.tables, (str(value) for value in row), strict=True))
            digests: dict[str, str] = {}
            for table in self.tables:
                rows = (await session.execute(text(f'SELECT * FROM "{table}"'))).all()
                encoded = "\n".join(sorted(repr(tuple(row)) for row in rows))
                digests[table] = hashlib.sha256(encoded.encode("utf-8", "replace")).hexdigest()
            return digests

    async def request(
        self,
        method: str,
        path_qs: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> tuple[int, bytes]:
        async with self.http.request(
            method,
            self.base + path_qs,
            headers=headers or {},
            data=body,
            allow_redirects=False,
            skip_auto_headers=("Content-Type",),
        ) as response:
            return response.status, await response.read()


def _routes(app: web.Application) -> list[tuple[str, str]]:
    """(method, path template) of every route of `app` and its sub-apps but static files."""
    found: list[tuple[str, str]] = []
    for resource in app.router.resources():
        if isinstance(resource, web.StaticResource):
            continue
        sub = getattr(resource, "_app", None)
        if isinstance(sub, web.Application):
            found.extend(_routes(sub))  # its resources' paths carry the prefix
            continue
        for route in resource:
            if route.method in ("HEAD", "*"):
                continue
            found.append((route.method, resource.canonical))
    return sorted(set(found))


async def _seed(url: str) -> None:
    engine = make_async_engine(url)
    try:
        sessionmaker = make_async_sessionmaker(engine)
        await seed_demo_accounts(sessionmaker)
        async with sessionmaker() as session, session.begin():
            await session.run_sync(
                create_account,
                NewAccount(ADMIN[0], "admin", ADMIN[1], name="管理员", staff_no="9901"),
            )
    finally:
        await engine.dispose()


async def _start(url: str) -> tuple[web.AppRunner, Served]:
    settings = Settings(
        policy=load_policy(),
        db_url=url,
        migrate_on_start=False,
        scheduler_enabled=False,
        now=FakeClock().now,
        instance_id="fuzz",
        environ=ENVIRON,
    )
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    base = f"http://127.0.0.1:{port}"
    http = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
    async with app[SERVICES].sessionmaker() as session:
        tables = await session.run_sync(lambda s: inspect(s.connection()).get_table_names())
    served = Served(
        loop=asyncio.get_running_loop(),
        base=base,
        app=app,
        http=http,
        tables=sorted(t for t in tables if t not in WRITES_ON_REFUSAL and t != "alembic_version"),
        staff_nos=["1818", "2046", "7001", "9001"],
        ticket_number="",
        visitor="",
        routes=_routes(app),
    )
    await _prepare(served)
    return runner, served


def _cookie(response: aiohttp.ClientResponse, name: str) -> str:
    morsel = response.cookies.get(name)
    return f"{name}={morsel.value}" if morsel is not None else ""


async def _prepare(served: Served) -> None:
    """A ticket (the web chat customer writes), a signed-in admin and a sign-in form."""
    status, body = await served.request(
        "POST", "/chat/api/visitors", headers={"Content-Type": "application/json"}, body=b"{}"
    )
    assert status == 201, body
    served.visitor = json.loads(body)["visitor"]
    message = {"visitor": served.visitor, "client_id": "fuzz-0001", "text": "服务器开不了机"}
    status, body = await served.request(
        "POST",
        "/chat/api/messages",
        headers={"Content-Type": "application/json"},
        body=json.dumps(message).encode(),
    )
    assert status == 201, body
    served.ticket_number = json.loads(body)["ticket"]

    async with served.http.get(served.base + "/console/login") as form:
        page = await form.text()
        login_cookie = "; ".join(c.key + "=" + c.value for c in form.cookies.values())
    token = _FORM_TOKEN.search(page)
    assert token is not None
    served.login_cookie, served.login_token = login_cookie, token.group(1)
    served.console_cookie, served.csrf = await _sign_in(served, *ADMIN)
    async with served.app[SERVICES].sessionmaker() as session:
        staff_no = await session.scalar(
            select(Engineer.staff_no)
            .join(Ticket, Ticket.assigned_engineer_id == Engineer.id)
            .where(Ticket.number == served.ticket_number)
        )
    username, password = DEMO_ENGINEERS[str(staff_no)]
    served.engineer_cookie, served.engineer_csrf = await _sign_in(served, username, password)


async def _sign_in(served: Served, username: str, password: str) -> tuple[str, str]:
    """(session cookie, CSRF token) of `username`, signed in through the form."""
    async with served.http.get(served.base + "/console/login") as form:
        page = await form.text()
        login_cookie = "; ".join(c.key + "=" + c.value for c in form.cookies.values())
    token = _FORM_TOKEN.search(page)
    assert token is not None
    async with served.http.post(
        served.base + "/console/login",
        data=urlencode(
            {"username": username, "password": password, "csrf_token": token.group(1)}
        ).encode(),
        headers={"Cookie": login_cookie, "Content-Type": "application/x-www-form-urlencoded"},
        allow_redirects=False,
    ) as signed:
        assert signed.status == 303, await signed.text()
        cookie = "; ".join(c.key + "=" + c.value for c in signed.cookies.values())
    async with served.http.get(served.base + "/console/queue", headers={"Cookie": cookie}) as queue:
        meta = _CSRF_META.search(await queue.text())
    assert meta is not None
    return cookie, meta.group(1)


def _serve(url: str) -> Iterator[Served]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def run(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(120)

    runner, served = run(_start(url))
    try:
        yield served
    finally:
        run(served.http.close())
        run(runner.cleanup())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("fuzz") / "fuzz.sqlite3"
        url = f"sqlite:///{path}"
        upgrade(url)
        asyncio.run(_seed(url))
        yield from _serve(url)
        return
    base = pg_test_url()
    if base is None:
        pytest.skip(PG_SKIP_REASON)
    with temporary_pg_schema(base) as url:
        upgrade(url)
        asyncio.run(_seed(url))
        yield from _serve(url)
