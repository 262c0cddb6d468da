"""The replacement unit (备用机) of seed 000 2.1.b, tracked until it comes back.

第7个工作日 … 视客户缓急情况提供合理的替代品保证客户服务器的持续使用（故障机处理OK
后再交替换回）: the day-7 update offers it; this records the unit sent (its
serial number) and its return.  Only one unit is out per ticket at a time;
the ticket page and the progress updates say while one is out, and its return
may be recorded after the ticket closed.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.lifecycle.access import ActionContext, TicketError
from bot.lifecycle.actions import Action, Outcome
from bot.lifecycle.aftercare import loaner_out
from bot.lifecycle.bodies import given
from bot.lifecycle.vocabulary import ACTIVE, CLOSED, WORKERS, EventKind
from storage.repair_models import LoanerUnit


@dataclass(frozen=True, slots=True)
class LoanerBody:
    action: str = given(
        "进展", max_len=16, choices=(("sent", "备用机已送出"), ("returned", "备用机已归还"))
    )
    serial_no: str | None = given("备用机序列号", default=None, max_len=64)
    model: str | None = given("备用机型号", default=None, max_len=128)


async def loaner(ctx: ActionContext, body: LoanerBody) -> Outcome:
    """A replacement unit went to the customer (``sent``) or came back (``returned``)."""
    out = await loaner_out(ctx.session, ctx.ticket.id)
    if body.action == "sent":
        if ctx.ticket.status is CLOSED:
            raise TicketError("conflict", "wrong_status", "工单已关闭，不能再送出备用机")
        if out is not None:
            raise TicketError(
                "conflict",
                "loaner_out",
                f"备用机 {out.serial_no} 尚未归还",
                serial_no=out.serial_no,
            )
        serial = (body.serial_no or "").strip()
        if not serial:
            raise TicketError("invalid", "missing_field", "请填写备用机序列号", field="serial_no")
        model = (body.model or "").strip() or None
        ctx.session.add(
            LoanerUnit(
                ticket_id=ctx.ticket.id,
                serial_no=serial,
                model=model,
                sent_by=ctx.actor.staff_no,
                sent_at=ctx.now,
            )
        )
        info = {"serial_no": serial, "model": model}
        ctx.record(EventKind.LOANER_SENT, data=info)
        return Outcome((EventKind.LOANER_SENT,), {"loaner": info})
    if out is None:
        raise TicketError("conflict", "loaner_not_out", "没有未归还的备用机")
    out.returned_at = ctx.now
    out.returned_by = ctx.actor.staff_no
    info = {"serial_no": out.serial_no, "model": out.model}
    ctx.record(EventKind.LOANER_RETURNED, data=info)
    return Outcome((EventKind.LOANER_RETURNED,), {"loaner": info})


LOANER = Action(
    name="loaner",
    title="备用机",
    verb="登记备用机",
    statuses=(*ACTIVE, CLOSED),
    roles=WORKERS,
    body=LoanerBody,
    records=(EventKind.LOANER_SENT, EventKind.LOANER_RETURNED),
    run=loaner,
)
