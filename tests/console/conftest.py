"""Fixtures for the console's tests: a migrated SQLite database with the demo accounts,
a hand-moved clock, the real app behind aiohttp's test client, and helpers for the
customer (web chat), a signed-in console user, and stored sessions for QA."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.accounts import seed_demo_accounts
from bot.app import create_app
from bot.channels import web as web_channel
from bot.console.app import setup as console_setup
from bot.context import SERVICES, Services
from bot.settings import Settings
from compliance.policy import Policy
from storage.db import make_async_engine, make_async_sessionmaker
from storage.migrate import upgrade
from storage.models import (
    Customer,
    Direction,
    Engineer,
    EventKind,
    Message,
    MessageRole,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from tests.console import browser_support
from tests.support import MONDAY_10, FakeClock

# The browser tests' live app (SQLite and PostgreSQL) and Chromium, for every console test.
browser = browser_support.browser
live_app = browser_support.live_app
live_db_url = browser_support.live_db_url

PASSWORDS = {"zhangsan": "demo1818", "lisi": "demo2046", "qa": "demo7001", "manager": "demo9001"}
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)"')
FORM_TOKEN = re.compile(r'name="csrf_token" value="([^"]*)"')


async def _seed_accounts(url: str) -> None:
    engine = make_async_engine(url)
    try:
        await seed_demo_accounts(make_async_sessionmaker(engine))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def console_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file with the demo accounts, copied per test (hashing is slow)."""
    path = tmp_path_factory.mktemp("console-template") / "console.sqlite3"
    url = f"sqlite:///{path}"
    upgrade(url)
    asyncio.run(_seed_accounts(url))
    return path


@pytest.fixture
def db_url(console_template: Path, tmp_path: Path) -> str:
    target = tmp_path / "console.sqlite3"
    shutil.copyfile(console_template, target)
    return f"sqlite:///{target}"


def make_settings(policy: Policy, db_url: str, clock: FakeClock, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "policy": policy,
        "db_url": db_url,
        "migrate_on_start": False,
        "scheduler_enabled": False,
        "now": clock.now,
        "instance_id": "console-test",
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class Console:
    """The app under test and the people who use it."""

    server: TestServer
    client: TestClient[Any, Any]
    clock: FakeClock
    aiohttp_client: Any
    _seq: int = 0
    _visitors: dict[str, str] = field(default_factory=dict)

    @property
    def services(self) -> Services:
        return self.server.app[SERVICES]

    async def new_client(self) -> TestClient[Any, Any]:
        """Another browser (own cookies) on the same server."""
        client: TestClient[Any, Any] = await self.aiohttp_client(self.server)
        return client

    # -- the customer ---------------------------------------------------------------------

    async def customer_says(self, text: str, who: str = "c1") -> str:
        """A web chat customer writes; returns the ticket number."""
        if who not in self._visitors:
            response = await self.client.post("/chat/api/visitors", json={})
            assert response.status == 201
            self._visitors[who] = str((await response.json())["visitor"])
        self._seq += 1
        response = await self.client.post(
            "/chat/api/messages",
            json={"visitor": self._visitors[who], "client_id": f"m-{self._seq:08d}", "text": text},
        )
        data = await response.json()
        assert response.status == 201, data
        return str(data["ticket"])

    # -- console users --------------------------------------------------------------------

    async def sign_in(
        self,
        username: str,
        client: TestClient[Any, Any] | None = None,
        password: str | None = None,
    ) -> TestClient[Any, Any]:
        """Sign `username` in on `client` (a new browser by default); returns the client."""
        browser = client or await self.new_client()
        form = await browser.get("/console/login")
        token = FORM_TOKEN.search(await form.text())
        assert token is not None
        response = await browser.post(
            "/console/login",
            data={
                "username": username,
                "password": password or PASSWORDS[username],
                "csrf_token": token.group(1),
                "next": "/console/",
            },
            allow_redirects=False,
        )
        assert response.status == 303, await response.text()
        return browser


async def csrf_of(client: TestClient[Any, Any], path: str = "/console/") -> str:
    """The session's CSRF token, read from a page's meta tag as the JavaScript does."""
    response = await client.get(path)
    match = CSRF_META.search(await response.text())
    assert match is not None and match.group(1), "no CSRF token on the page"
    return match.group(1)


async def post_json(
    client: TestClient[Any, Any], path: str, body: dict[str, Any], token: str | None
) -> ClientResponse:
    headers = {"X-CSRF-Token": token} if token else {}
    return await client.post(path, json=body, headers=headers)


@pytest.fixture
async def console(
    aiohttp_client: Any, aiohttp_server: Any, policy: Policy, db_url: str, clock: FakeClock
) -> Console:
    settings = make_settings(policy, db_url, clock)
    app = create_app(settings, channel_modules=[web_channel], page_modules=[_ConsolePages()])
    server = await aiohttp_server(app)
    client = await aiohttp_client(server)
    return Console(server, client, clock, aiohttp_client)


class _ConsolePages:
    """The console as a page module (what `bot.app.create_app` mounts by default)."""

    def setup(self, app: Any) -> None:
        console_setup(app)


# -- stored sessions for QA ---------------------------------------------------------------


@dataclass(frozen=True)
class Said:
    """One line of a seeded conversation: seconds after the start, who, what."""

    at_s: int
    role: str
    text: str


async def seed_session(
    services: Services,
    number: str,
    lines: Sequence[Said],
    *,
    staff_no: str = "2046",
    start: datetime = MONDAY_10 - timedelta(days=1, hours=-1),
    resolved: bool = True,
) -> None:
    """Store a finished conversation as the bot would (ticket, messages, SPEC events)."""
    async with services.sessionmaker() as db, db.begin():
        engineer = await db.scalar(select(Engineer).where(Engineer.staff_no == staff_no))
        assert engineer is not None
        customer = Customer(channel="web", external_id=f"visitor-{number}", display_name="客户")
        db.add(customer)
        await db.flush()
        ticket = Ticket(
            number=number,
            channel="web",
            customer_id=customer.id,
            status=TicketStatus.CLOSED if resolved else TicketStatus.ACCEPTED,
            assigned_engineer_id=engineer.id,
            opened_at=start,
            accepted_at=start + timedelta(seconds=60),
        )
        db.add(ticket)
        await db.flush()
        db.add(TicketEvent(ticket_id=ticket.id, event=EventKind.TICKET_OPENED, at=start))
        db.add(
            TicketEvent(
                ticket_id=ticket.id,
                event=EventKind.TICKET_ACCEPTED,
                actor=staff_no,
                at=start + timedelta(seconds=60),
            )
        )
        names = {"1818": "张三", "2046": "李四"}
        last = start
        for line in lines:
            at = start + timedelta(seconds=line.at_s)
            last = max(last, at)
            agent = line.role == "agent"
            db.add(
                Message(
                    ticket_id=ticket.id,
                    channel="web",
                    external_id=None if agent else f"{number}-{line.at_s}",
                    direction=Direction.OUTBOUND if agent else Direction.INBOUND,
                    role=MessageRole.AGENT if agent else MessageRole.CUSTOMER,
                    sender=staff_no if agent else f"visitor-{number}",
                    sender_name=names.get(staff_no) if agent else None,
                    text=line.text,
                    sent_at=at,
                )
            )
        if resolved:
            db.add(
                TicketEvent(
                    ticket_id=ticket.id,
                    event=EventKind.RESOLVED,
                    actor=staff_no,
                    at=last - timedelta(seconds=30),
                )
            )
            db.add(
                TicketEvent(
                    ticket_id=ticket.id,
                    event=EventKind.CLOSED,
                    actor=staff_no,
                    at=last + timedelta(seconds=5),
                )
            )


GREETING_LISI = "您好，我是朴赛售后服务中心运维工程师李四，工号2046，很高兴为您服务[握手]"
THANKS = "感谢您对我们本次服务的理解和支持[玫瑰]"
RESPONSIBILITY = (
    "您在后期的服务器使用中遇到任何问题都可以随时联络我们，感谢您的配合，和您合作太愉快了[微笑]"
)

# A finished session whose one finding QA judges a false positive: the engineer calls
# the server's stock cooling design 垃圾 (rubbish), which the abuse list reads as an
# insult although no person is meant.
FALSE_POSITIVE_SESSION: tuple[Said, ...] = (
    Said(0, "customer", "服务器温度一直报警，机箱很烫"),
    Said(20, "agent", GREETING_LISI),
    Said(40, "agent", "这台服务器原装的散热设计确实太垃圾了，建议加装一个风扇"),
    Said(70, "customer", "好的"),
    Said(600, "agent", "风扇装好后温度已经正常"),
    Said(620, "customer", "确实好了，谢谢"),
    Said(640, "agent", THANKS),
    Said(650, "agent", RESPONSIBILITY),
)
