"""The ticket page's customer panel: who the customer is and their earlier tickets.

One person may write on several channels (`bot.lifecycle.person_ids`: linked by a phone
number or by an engineer); the panel lists every ticket of that person but this one,
closed ones included, newest first, with the status and the summary, so the engineer
sees the history without opening each ticket.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.context import Services
from bot.lifecycle import person_ids
from bot.prompting import customer_address
from scripts_library import STATUS_LABELS
from storage.models import Customer, Ticket

EARLIER_SHOWN = 20


async def customer_panel(services: Services, number: str) -> dict[str, Any] | None:
    """The customer of ticket `number`, their channels and earlier tickets (None: unknown)."""
    async with services.sessionmaker() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number))
        if ticket is None:
            return None
        customer = await session.get(Customer, ticket.customer_id)
        if customer is None:
            return None
        ids = await person_ids(session, customer)
        rows = list((await session.execute(select(Customer).where(Customer.id.in_(ids)))).scalars())
        earlier = list(
            (
                await session.execute(
                    select(Ticket)
                    .where(Ticket.customer_id.in_(ids), Ticket.id != ticket.id)
                    .order_by(Ticket.opened_at.desc(), Ticket.id.desc())
                    .limit(EARLIER_SHOWN)
                )
            ).scalars()
        )
    address = customer_address(customer.surname, customer.title)
    named = address if address != "您" else None
    label = " · ".join(x for x in (named, customer.display_name) if x) or "客户"
    labels = {code: channel.label for code, channel in services.policy.channels.items()}
    return {
        "label": label,
        "address": address,
        "surname": customer.surname,
        "title": customer.title,
        "phone": customer.phone,
        "forgotten": customer.anonymised_at is not None,
        "channels": sorted({labels.get(row.channel, row.channel) for row in rows}),
        "earlier": [
            {
                "number": t.number,
                "status": t.status.value,
                "status_label": STATUS_LABELS.get(t.status.value, t.status.value),
                "channel": labels.get(t.channel, t.channel),
                "opened_at": t.opened_at.isoformat(),
                "summary": t.summary,
            }
            for t in earlier
        ],
    }
