"""An admin forgets a customer from the ticket page (form) and through the console API."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.accounts import NewAccount, create_account
from bot.lifecycle import ERASED_TEXT
from storage.models import EventKind, Message, MessageRole, Ticket, TicketEvent, TicketStatus
from tests.console.conftest import Console, csrf_of, post_json


async def _admin(console: Console) -> TestClient[Any, Any]:
    async with console.services.tickets.transaction() as db:
        await db.run_sync(create_account, NewAccount("root", "admin", "root-pass-1"))
    return await console.sign_in("root", password="root-pass-1")


async def test_an_admin_forgets_the_customer_from_the_ticket_page(console: Console) -> None:
    number = await console.customer_says("服务器坏了，电话13812345678")
    admin = await _admin(console)
    page = await admin.get(f"/console/tickets/{number}")
    assert "删除该客户的个人信息" in await page.text()
    manager = await console.sign_in("manager")
    assert (
        "删除该客户的个人信息" not in await (await manager.get(f"/console/tickets/{number}")).text()
    )

    token = await csrf_of(admin, f"/console/tickets/{number}")
    done = await admin.post(
        f"/console/tickets/{number}/forget-customer",
        data={"csrf_token": token},
        allow_redirects=False,
    )
    assert done.status == 303
    assert done.headers["Location"].endswith(f"/tickets/{number}?notice=customer_forgotten")
    async with console.services.sessionmaker() as db:
        ticket = await db.scalar(select(Ticket).where(Ticket.number == number))
        assert ticket is not None and ticket.status is TicketStatus.CLOSED
        texts = set(
            await db.scalars(select(Message.text).where(Message.role == MessageRole.CUSTOMER))
        )
        note = await db.scalar(
            select(TicketEvent.actor).where(TicketEvent.event == EventKind.CUSTOMER_FORGOTTEN)
        )
    assert texts == {ERASED_TEXT}
    assert note == "admin:root"
    # Twice is a conflict, not a second erasure.
    again = await admin.post(
        f"/console/tickets/{number}/forget-customer", data={"csrf_token": token}
    )
    assert again.status == 409


async def test_the_console_api_forgets_and_answers_what_it_erased(console: Console) -> None:
    number = await console.customer_says("硬盘报警，身份证11010519491231002X")
    admin = await _admin(console)
    token = await csrf_of(admin)
    path = f"/console/api/tickets/{number}/forget-customer"
    response = await post_json(admin, path, {}, token)
    assert response.status == 200
    body = await response.json()
    assert body["tickets"] == [number] and body["closed"] == [number]
    assert body["messages"] >= 2
    again = await post_json(admin, path, {}, token)
    assert again.status == 409 and (await again.json())["error"] == "already_forgotten"
    missing = await post_json(
        admin, "/console/api/tickets/PS-20260101-9999/forget-customer", {}, token
    )
    assert missing.status == 404
    # Only an admin may.
    manager = await console.sign_in("manager")
    refused = await post_json(manager, path, {}, await csrf_of(manager))
    assert refused.status == 403
