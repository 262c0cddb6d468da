"""One small factory per model, for any test package (`from tests.storage import factories`).

Each takes a session and keyword overrides, fills in valid defaults (creating
the parent rows it needs), adds the object and flushes, so the row has its id.
Unique columns get a fresh value per call.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from storage.models import (
    ChannelToken,
    CheckRun,
    Customer,
    Direction,
    Engineer,
    EngineerRole,
    EventKind,
    Finding,
    Message,
    MessageRole,
    QaReview,
    Severity,
    Ticket,
    TicketCounter,
    TicketEvent,
    Timer,
    Verdict,
)

# 2026-11-23 09:31 in Shanghai, a Monday (a working day) inside attended hours.
T0 = datetime(2026, 11, 23, 1, 31, tzinfo=UTC)

_unique = itertools.count(1)


ModelT = TypeVar("ModelT")


def _add(session: Session, obj: ModelT) -> ModelT:
    session.add(obj)
    session.flush()
    return obj


def engineer(session: Session, **overrides: Any) -> Engineer:
    n = next(_unique)
    fields: dict[str, Any] = {
        "staff_no": f"{1000 + n}",
        "name": f"工程师{n}",
        "roles": [EngineerRole.ENGINEER.value],
    }
    return _add(session, Engineer(**(fields | overrides)))


def customer(session: Session, **overrides: Any) -> Customer:
    fields: dict[str, Any] = {"channel": "web", "external_id": f"visitor-{next(_unique)}"}
    return _add(session, Customer(**(fields | overrides)))


def ticket(session: Session, **overrides: Any) -> Ticket:
    if "customer" not in overrides and "customer_id" not in overrides:
        overrides["customer"] = customer(session)
    fields: dict[str, Any] = {
        "number": f"PS-20261123-{next(_unique):04d}",
        "channel": "web",
        "opened_at": T0,
    }
    return _add(session, Ticket(**(fields | overrides)))


def message(session: Session, **overrides: Any) -> Message:
    """An inbound customer message, not yet tied to a ticket unless `ticket=` is given."""
    fields: dict[str, Any] = {
        "channel": "web",
        "external_id": f"m-{next(_unique)}",
        "direction": Direction.INBOUND,
        "role": MessageRole.CUSTOMER,
        "sender": "visitor",
        "text": "服务器开不了机了",
        "sent_at": T0,
    }
    return _add(session, Message(**(fields | overrides)))


def ticket_event(session: Session, **overrides: Any) -> TicketEvent:
    if "ticket" not in overrides and "ticket_id" not in overrides:
        overrides["ticket"] = ticket(session)
    fields: dict[str, Any] = {"event": EventKind.TICKET_OPENED, "at": T0, "actor": "bot"}
    return _add(session, TicketEvent(**(fields | overrides)))


def check_run(session: Session, **overrides: Any) -> CheckRun:
    fields: dict[str, Any] = {
        "source": "transcripts/*.jsonl",
        "policy_name": "朴赛售后服务标准",
        "started_at": T0,
    }
    return _add(session, CheckRun(**(fields | overrides)))


def finding(session: Session, **overrides: Any) -> Finding:
    if "check_run" not in overrides and "check_run_id" not in overrides:
        overrides["check_run"] = check_run(session)
    fields: dict[str, Any] = {
        "session": "S1",
        "rule": "SCR001",
        "severity": Severity.ERROR,
        "index": 1,
        "agent": "1818",
        "message": "首条客服消息不是规范的自我介绍",
    }
    return _add(session, Finding(**(fields | overrides)))


def qa_review(session: Session, **overrides: Any) -> QaReview:
    if "finding" not in overrides and "finding_id" not in overrides:
        overrides["finding"] = finding(session)
    fields: dict[str, Any] = {
        "reviewer": "7001",
        "verdict": Verdict.FALSE_POSITIVE,
        "reason": "客户先开口，问候在第二句",
    }
    return _add(session, QaReview(**(fields | overrides)))


def timer(session: Session, **overrides: Any) -> Timer:
    if "ticket" not in overrides and "ticket_id" not in overrides:
        overrides["ticket"] = ticket(session)
    fields: dict[str, Any] = {"kind": "accept_reminder", "due_at": T0 + timedelta(minutes=5)}
    return _add(session, Timer(**(fields | overrides)))


def channel_token(session: Session, **overrides: Any) -> ChannelToken:
    fields: dict[str, Any] = {
        "channel": "wechat",
        "app_id": f"wx{next(_unique):016d}",
        "access_token": "ACCESS_TOKEN",
        "expires_at": T0 + timedelta(seconds=7200),
    }
    return _add(session, ChannelToken(**(fields | overrides)))


def ticket_counter(session: Session, **overrides: Any) -> TicketCounter:
    """A day's counter; the default day lies far in the future, clear of real numbering."""
    day = date(2999, 1, 1) + timedelta(days=next(_unique))
    fields: dict[str, Any] = {"day": day.strftime("%Y%m%d"), "last_seq": 0}
    return _add(session, TicketCounter(**(fields | overrides)))
