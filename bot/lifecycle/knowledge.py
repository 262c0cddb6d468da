"""The solution record closing needs, and the knowledge-base archive it feeds.

Closing a ticket (`actions.closing.close`) writes its `SolutionRecord` — the
process, the attachments (file names or chat lines), the test report; without
the process or the test report the close is refused, naming the field.
Archiving (within 2 working days, the ``archive`` timer) files the record as the
ticket's archived solution, searchable by everyone who may work tickets
(`storage.search` indexes it the moment `archived_at` is set); or, for a
duplicate, links the ticket to the archived ticket it repeats — which must
exist and must itself hold an archived solution.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import storage.search  # noqa: F401  (registers the index's mapper events)
from bot.lifecycle.access import TicketError
from storage.knowledge_models import SolutionRecord
from storage.models import Ticket

MAX_ATTACHMENTS = 20


def attachment_list(text: str | None) -> list[str]:
    """The attachments field: one reference per line (or separated by ；/;)."""
    if not text:
        return []
    parts = [p.strip() for line in text.splitlines() for p in line.replace("；", ";").split(";")]
    refs = [p for p in parts if p]
    if len(refs) > MAX_ATTACHMENTS:
        raise TicketError(
            "invalid",
            "too_many_attachments",
            f"附件最多 {MAX_ATTACHMENTS} 项",
            field="attachments",
        )
    return refs


def _required(value: str | None, field: str, label: str) -> str:
    text = (value or "").strip()
    if not text:
        raise TicketError(
            "invalid",
            "solution_record_missing",
            f"关闭工单须填写解决记录：{label}",
            field=field,
        )
    return text


async def record_of(session: AsyncSession, ticket_id: int) -> SolutionRecord | None:
    return await session.get(SolutionRecord, ticket_id)


async def write_record(
    session: AsyncSession,
    ticket: Ticket,
    *,
    process: str | None,
    attachments: str | None,
    test_report: str | None,
    actor: str,
    now: datetime,
) -> SolutionRecord:
    """Store (or rewrite) the ticket's solution record; refused without process or report."""
    process_text = _required(process, "process", "处理过程")
    report = _required(test_report, "test_report", "测试报告")
    refs = attachment_list(attachments)
    record = await record_of(session, ticket.id)
    if record is None:
        record = SolutionRecord(ticket_id=ticket.id)
        session.add(record)
    record.process, record.attachments, record.test_report = process_text, refs, report
    record.recorded_by, record.recorded_at = actor, now
    return record


async def archived_original(session: AsyncSession, ticket: Ticket, number: str) -> Ticket:
    """The archived ticket `number` a duplicate links to; refused unless it is one."""
    number = number.strip()
    if number == ticket.number:
        raise TicketError(
            "invalid", "duplicate_of_itself", "工单不能与自身重复", field="duplicate_of"
        )
    original = await session.scalar(select(Ticket).where(Ticket.number == number))
    if original is None:
        raise TicketError("invalid", "no_such_ticket", f"没有工单 {number}", field="duplicate_of")
    filed = await record_of(session, original.id)
    if filed is None or filed.archived_at is None or filed.duplicate_of_id is not None:
        raise TicketError(
            "conflict",
            "not_archived",
            f"工单 {number} 没有归档的解决方案，只能关联到已归档的工单",
            field="duplicate_of",
        )
    return original


async def archive_record(
    session: AsyncSession,
    ticket: Ticket,
    *,
    problem: str | None,
    duplicate_of: Ticket | None,
    actor: str,
    now: datetime,
) -> SolutionRecord:
    """File the ticket's record (or link the duplicate)."""
    record = await record_of(session, ticket.id)
    if record is None:
        raise TicketError("conflict", "solution_record_missing", "工单没有解决记录，不能归档")
    text = (problem or "").strip() or ticket.summary
    if not text and duplicate_of is None:
        # The engineer's words, not a copy of the customer's: forgetting the customer
        # must not leave their sentences in the knowledge base.
        raise TicketError(
            "invalid",
            "problem_missing",
            "归档须填写问题描述（工单没有摘要）",
            field="problem",
        )
    record.problem = text
    record.duplicate_of_id = duplicate_of.id if duplicate_of is not None else None
    record.archived_at, record.archived_by = now, actor
    return record
