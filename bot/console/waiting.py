"""The "customer waiting" clock of a ticket: how long the customer's unanswered line
has waited, against the reply limit of SLA001 (first reply) or SLA002 (a later one).

The clock starts at the first line of the customer's run after the last agent
line that is not only an acknowledgement (好的 / 收到 / 谢谢 …, the policy's
``phrases.ack_only``, as SLA002 reads them) and runs in attended time: the
deadline is `AttendedClock.deadline_after(start, limit)` with the channel's
``response_working_s`` / ``response_rest_s`` (working or rest day of the start).
The page counts down to that deadline and turns red once it has passed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from bot.console.sla import human_duration
from bot.context import Services
from compliance.matchers import AckMatcher, folder_for
from compliance.policy import Policy
from storage.models import Message, MessageRole, Ticket


@dataclass(frozen=True, slots=True)
class Waiting:
    """One ticket's waiting customer line and its deadline."""

    rule: str  # SLA001 / SLA002
    since: datetime
    deadline: datetime
    limit_s: int
    message_id: int

    def to_dict(self, now: datetime) -> dict[str, Any]:
        left = (self.deadline - now).total_seconds()
        return {
            "rule": self.rule,
            "label": "首次回复" if self.rule == "SLA001" else "回复客户",
            "since": self.since.isoformat(),
            "deadline": self.deadline.isoformat(),
            "limit_s": self.limit_s,
            "left_s": round(left, 1),
            "breached": now > self.deadline,
            "text": (
                f"已超时 {human_duration(left)}" if left < 0 else f"剩余 {human_duration(left)}"
            ),
            "message_id": self.message_id,
        }


_ACKS: dict[int, tuple[Policy, AckMatcher]] = {}


def _acks(policy: Policy) -> AckMatcher:
    # One matcher per policy object (built once: folding the phrases is not free).
    held = _ACKS.get(id(policy))
    if held is None or held[0] is not policy:
        held = (policy, AckMatcher(policy.phrases.ack_only, folder_for(policy)))
        _ACKS[id(policy)] = held
    return held[1]


def waiting_from(
    services: Services, channel: str, lines: Sequence[tuple[int, MessageRole, str, datetime]]
) -> Waiting | None:
    """The waiting clock from a ticket's (id, role, text, sent_at) lines in time order."""
    run: list[tuple[int, str, datetime]] = []
    agent_spoke = False
    for message_id, role, text, at in lines:
        if role is MessageRole.AGENT:
            run = []
            agent_spoke = True
        elif role is MessageRole.CUSTOMER:
            run.append((message_id, text, at))
    acks = _acks(services.policy)
    waiting = next(((i, at) for i, text, at in run if not acks.is_ack_only(text)), None)
    if waiting is None:
        return None
    message_id, since = waiting
    working = services.calendar.is_working_day(services.calendar.local_date(since))
    limit = services.policy.response_limit_s(channel, working)
    deadline = services.clock.deadline_after(since, limit, channel)
    return Waiting("SLA002" if agent_spoke else "SLA001", since, deadline, limit, message_id)


async def waiting_clocks(services: Services, numbers: Sequence[str]) -> Mapping[str, Waiting]:
    """The waiting clock of each ticket number that has a customer waiting."""
    if not numbers:
        return {}
    async with services.sessionmaker() as session:
        rows = (
            await session.execute(
                select(
                    Ticket.number,
                    Ticket.channel,
                    Message.id,
                    Message.role,
                    Message.text,
                    Message.sent_at,
                )
                .join(Ticket, Message.ticket_id == Ticket.id)
                .where(
                    Ticket.number.in_(numbers),
                    Message.role.in_((MessageRole.CUSTOMER, MessageRole.AGENT)),
                )
                .order_by(Ticket.number, Message.sent_at, Message.id)
            )
        ).all()
    by_ticket: dict[str, tuple[str, list[tuple[int, MessageRole, str, datetime]]]] = {}
    for number, channel, message_id, role, text, at in rows:
        by_ticket.setdefault(number, (channel, []))[1].append((message_id, role, text, at))
    found: dict[str, Waiting] = {}
    for number, (channel, lines) in by_ticket.items():
        clock = waiting_from(services, channel, lines)
        if clock is not None:
            found[number] = clock
    return found
