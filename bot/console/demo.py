"""Sample sessions for a newcomer's first hour: one clean, two flawed.

`serve --demo` stores them as closed tickets of the current day (once: a database that
has them already is left alone) and checks the day, so the QA dashboard, the findings
list and the manager page show something before anybody has chatted.  The same
sessions, on Monday 2026-11-23, are the repository's ``examples/`` folder
(`example_files`; a test keeps the two equal), which ``aftersales check examples/``
reads: the clean one has no finding, the flawed ones have greeting, backup-warning,
informal-address, slow-reply and walk-away findings, so the command exits 1 (SPEC §3).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session as DbSession

from compliance.calendar import SHANGHAI
from compliance.policy import Policy
from scripts_library import (
    GreetingInputs,
    ReviewInvitationInputs,
    SatisfactionSurveyInputs,
    ScriptKey,
    canonical_text,
    render,
)
from storage.models import (
    Customer,
    DeliveryStatus,
    Direction,
    Engineer,
    EventKind,
    Message,
    MessageRole,
    Ticket,
    TicketEvent,
    TicketStatus,
)

CHANNEL = "web"
DEMO_CUSTOMER = "demo:"  # customer ids no web visitor can have (a visitor id has no colon)


@dataclass(frozen=True, slots=True)
class Sample:
    """One sample session: its file, when it starts and its lines (seconds after)."""

    file: str
    starts: time
    engineer: tuple[str, str]  # 工号, name
    lines: tuple[tuple[int, str, str, dict[str, Any]], ...]  # offset s, role, text/event, extra


def _greeting(staff_no: str, name: str) -> str:
    return render(ScriptKey.GREETING, GreetingInputs(name, staff_no), CHANNEL)


def samples(policy: Policy) -> tuple[Sample, ...]:
    scale = {level.label: level.points for level in policy.satisfaction.scale}
    thanks = canonical_text(ScriptKey.THANKS, CHANNEL)
    clean = Sample(
        "clean.jsonl",
        time(10, 0),
        ("1818", "张三"),
        (
            (0, "event", "ticket_opened", {}),
            (1, "customer", "服务器开不了机了，电源灯不亮", {}),
            (20, "agent", _greeting("1818", "张三"), {}),
            (60, "event", "ticket_accepted", {}),
            (80, "agent", "请问服务器是什么型号？电源线和插座都检查过了吗？", {}),
            (140, "customer", "型号 PS-R720，插座没问题", {}),
            (170, "agent", "好的，可能是电源模块松动，请您把电源模块拔下后重新插紧再开机试试", {}),
            (400, "customer", "可以开机了，谢谢", {}),
            (420, "event", "solution_given", {}),
            (421, "event", "resolved", {}),
            (425, "agent", thanks, {}),
            (430, "agent", canonical_text(ScriptKey.RESPONSIBILITY, CHANNEL), {}),
            (
                435,
                "agent",
                render(ScriptKey.SATISFACTION_SURVEY, SatisfactionSurveyInputs(scale), CHANNEL),
                {},
            ),
            (470, "customer", "很满意", {}),
            (471, "event", "satisfaction_rated", {"rating": "很满意"}),
            (475, "agent", thanks, {}),
            (
                480,
                "agent",
                render(ScriptKey.REVIEW_INVITATION, ReviewInvitationInputs(), CHANNEL),
                {},
            ),
            (540, "event", "closed", {}),
        ),
    )
    remote = Sample(
        "flawed-remote.jsonl",
        time(11, 0),
        ("2046", "李四"),
        (
            (0, "event", "ticket_opened", {}),
            (1, "customer", "RAID 卡报警，硬盘亮红灯", {}),
            (200, "agent", "你好，把型号发我", {}),
            (260, "customer", "型号 PS-R740", {}),
            (300, "agent", "我远程看一下，你装个向日葵把识别码发我", {}),
            (420, "event", "ticket_accepted", {}),
            (600, "event", "remote_login", {}),
            (1500, "agent", "好了，坏的硬盘换掉就行", {}),
            (1510, "event", "solution_given", {}),
            (1511, "event", "resolved", {}),
            (1600, "event", "closed", {}),
        ),
    )
    walk_away = Sample(
        "flawed-walk-away.jsonl",
        time(14, 0),
        ("1818", "张三"),
        (
            (0, "event", "ticket_opened", {}),
            (1, "customer", "服务器又坏了，你们到底行不行，太差劲了", {}),
            (20, "agent", _greeting("1818", "张三"), {}),
            (40, "event", "ticket_accepted", {}),
            (60, "agent", "请提供序列号", {}),
            (120, "customer", "SN12345，什么时候能修好？", {}),
            (600, "event", "closed", {}),
        ),
    )
    return clean, remote, walk_away


def _session_id(policy: Policy, day: date, position: int) -> str:
    return f"{policy.company.ticket_prefix}-{day:%Y%m%d}-{9001 + position}"


def records(policy: Policy, day: date) -> dict[str, list[dict[str, Any]]]:
    """The samples on `day` as transcript records (SPEC §4), by file name."""
    out: dict[str, list[dict[str, Any]]] = {}
    for position, sample in enumerate(samples(policy)):
        session = _session_id(policy, day, position)
        start = datetime.combine(day, sample.starts, SHANGHAI)
        staff_no, name = sample.engineer
        rows: list[dict[str, Any]] = []
        for offset, role, text, extra in sample.lines:
            row: dict[str, Any] = {"session": session}
            if not rows:
                row["channel"] = CHANNEL
            row["ts"] = (start + timedelta(seconds=offset)).isoformat()
            row["role"] = role
            if role == "event":
                row["event"] = text
                if text != "ticket_opened":
                    row["sender"] = staff_no
            elif role == "agent":
                row.update(sender=staff_no, name=name, text=text)
            else:
                row.update(sender=f"demo-customer-{position + 1}", text=text)
            row.update(extra)
            rows.append(row)
        out[sample.file] = rows
    return out


def example_files(policy: Policy) -> dict[str, str]:
    """The ``examples/`` folder: file name → its JSON Lines text (Monday 2026-11-23)."""
    return {
        name: "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        for name, rows in records(policy, date(2026, 11, 23)).items()
    }


def seed_sessions(engine: Engine, policy: Policy, day: date) -> list[str]:
    """Store the samples on `day` as closed tickets, unless some demo customer exists;
    the ticket numbers stored (empty: already there)."""
    stored: list[str] = []
    with DbSession(engine) as db, db.begin():
        if db.scalar(
            select(Customer.id).where(Customer.external_id.startswith(DEMO_CUSTOMER)).limit(1)
        ):
            return []
        staff = {e.staff_no: e for e in db.scalars(select(Engineer))}
        for position, rows in enumerate(records(policy, day).values()):
            sample = samples(policy)[position]
            engineer = staff.get(sample.engineer[0])
            customer = Customer(
                channel=CHANNEL,
                external_id=f"{DEMO_CUSTOMER}{day:%Y%m%d}-{position + 1}",
                display_name=f"示例客户{position + 1}",
            )
            db.add(customer)
            db.flush()
            opened = datetime.fromisoformat(rows[0]["ts"])
            closed = datetime.fromisoformat(rows[-1]["ts"])
            ticket = Ticket(
                number=rows[0]["session"],
                channel=CHANNEL,
                status=TicketStatus.CLOSED,
                customer_id=customer.id,
                assigned_engineer_id=engineer.id if engineer else None,
                opened_at=opened,
                closed_at=closed,
                summary="示例会话（serve --demo）",
            )
            db.add(ticket)
            db.flush()
            for row in rows:
                at = datetime.fromisoformat(row["ts"])
                if row["role"] == "event":
                    data = {"rating": row["rating"]} if "rating" in row else {}
                    db.add(
                        TicketEvent(
                            ticket_id=ticket.id,
                            event=EventKind(row["event"]),
                            at=at,
                            actor=row.get("sender", "bot"),
                            data=data,
                        )
                    )
                    continue
                agent = row["role"] == "agent"
                db.add(
                    Message(
                        ticket_id=ticket.id,
                        channel=CHANNEL,
                        direction=Direction.OUTBOUND if agent else Direction.INBOUND,
                        role=MessageRole.AGENT if agent else MessageRole.CUSTOMER,
                        sender=row["sender"],
                        sender_name=row.get("name"),
                        text=row["text"],
                        sent_at=at,
                        delivery_status=DeliveryStatus.SENT if agent else None,
                    )
                )
            stored.append(ticket.number)
    return stored
