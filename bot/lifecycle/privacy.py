"""Forgetting a customer: their personal data goes, the tickets stay, anonymised.

A WeChat unsubscribe (and any deletion request) wipes the customer row's
personal fields (`Customer.anonymise`: the channel identity becomes
``anon:<id>``), and the same reference replaces their identity on their
transcript lines and as the actor of their steps; what they wrote stays, so
QA can still check the service they were given.
"""

from __future__ import annotations

from sqlalchemy import select, update

from bot.lifecycle.desk import Desk
from storage.models import Customer, Message, MessageRole, Ticket, TicketEvent


async def forget_customer(desk: Desk, channel: str, customer_external_id: str) -> bool:
    """Anonymise the customer known to `channel` as `customer_external_id`; False if unknown."""
    async with desk.transaction() as session:
        customer = await session.scalar(
            select(Customer).where(
                Customer.channel == channel, Customer.external_id == customer_external_id
            )
        )
        if customer is None:
            return False
        customer.anonymise(desk.now())
        their_tickets = select(Ticket.id).where(Ticket.customer_id == customer.id)
        await session.execute(
            update(Message)
            .where(Message.ticket_id.in_(their_tickets), Message.role == MessageRole.CUSTOMER)
            .values(sender=customer.external_id, sender_name=None)
            .execution_options(synchronize_session=False)
        )
        await session.execute(
            update(TicketEvent)
            .where(
                TicketEvent.ticket_id.in_(their_tickets),
                TicketEvent.actor == customer_external_id,
            )
            .values(actor=customer.external_id)
            .execution_options(synchronize_session=False)
        )
        return True
