"""One small factory per model; other test packages import these."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from storage.models import (
    CheckRun,
    Customer,
    Direction,
    Engineer,
    EventKind,
    Finding,
    Message,
    MessageRole,
    QaReview,
    Severity,
    Ticket,
    TicketEvent,
    Timer,
    Verdict,
)

_seq = itertools.count(1)
T0 = datetime(2026, 11, 23, 1, 31, tzinfo=UTC)  # 09:31 in Shanghai, a Monday


def engineer(session: Session, **kw: Any) -> Engineer:
    n = next(_seq)
    obj = Engineer(**{"staff_no": f"{1000 + n}", "name": f"工程师{n}", **kw})
    session.add(obj)
    session.flush()
    return obj


def customer(session: Session, **kw: Any) -> Customer:
    obj = Customer(**{"channel": "web", "external_id": f"visitor-{next(_seq)}", **kw})
    session.add(obj)
    session.flush()
    return obj


def ticket(session: Session, **kw: Any) -> Ticket:
    if "customer" not in kw and "customer_id" not in kw:
        kw["customer"] = customer(session)
    obj = Ticket(
        **{"number": f"PS-20261123-{next(_seq):04d}", "channel": "web", "opened_at": T0, **kw}
    )
    session.add(obj)
    session.flush()
    return obj


def message(session: Session, **kw: Any) -> Message:
    obj = Message(
        **{
            "channel": "web",
            "external_id": f"m-{next(_seq)}",
            "direction": Direction.INBOUND,
            "role": MessageRole.CUSTOMER,
            "sender": "visitor",
            "text": "服务器开不了机了",
            "sent_at": T0,
            **kw,
        }
    )
    session.add(obj)
    session.flush()
    return obj


def ticket_event(session: Session, **kw: Any) -> TicketEvent:
    obj = TicketEvent(**{"event": EventKind.TICKET_OPENED, "at": T0, "actor": "bot", **kw})
    session.add(obj)
    session.flush()
    return obj


def check_run(session: Session, **kw: Any) -> CheckRun:
    obj = CheckRun(**{"source": "test", "policy_name": "朴赛售后服务标准", **kw})
    session.add(obj)
    session.flush()
    return obj


def finding(session: Session, **kw: Any) -> Finding:
    if "check_run" not in kw and "check_run_id" not in kw:
        kw["check_run"] = check_run(session)
    obj = Finding(
        **{
            "session": "S1",
            "rule": "SCR001",
            "severity": Severity.ERROR,
            "message": "首条客服消息不是规范的自我介绍",
            **kw,
        }
    )
    session.add(obj)
    session.flush()
    return obj


def qa_review(session: Session, **kw: Any) -> QaReview:
    obj = QaReview(
        **{"reviewer": "7001", "verdict": Verdict.FALSE_POSITIVE, "reason": "误报", **kw}
    )
    session.add(obj)
    session.flush()
    return obj


def timer(session: Session, **kw: Any) -> Timer:
    obj = Timer(**{"kind": "accept_reminder", "due_at": T0, **kw})
    session.add(obj)
    session.flush()
    return obj
