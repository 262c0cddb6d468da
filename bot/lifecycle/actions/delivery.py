"""Delivery steps: the checklists ticked, a waived stable run, the server sent back.

- ``checklist`` — the 上门 / 在司 / return list as the engineer has now ticked it
  (the items are the policy's ``[delivery]`` lists, from seed 000 【售后动作标准】
  and 【售后交付标准】1.c–e); the whole list is sent each time, so unticking is
  one more post.
- ``stable-run-waiver`` — a manager lets delivery go without the 24 h / 72 h of
  stable running, with the reason recorded (【售后交付标准】1.a–b otherwise).
- ``shipment`` — the server goes back: once the accessories and the
  packaging are confirmed and the stable run is done, the return-shipping line
  with the carrier and tracking number goes to the customer (2 归还预约).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import delete

from bot import timers
from bot.lifecycle.access import ActionContext, TicketError
from bot.lifecycle.actions import Action, Outcome
from bot.lifecycle.bodies import given
from bot.lifecycle.delivery import CHECKLIST_TITLES, missing, stable_run_blocker, ticks_of
from bot.lifecycle.vocabulary import MANAGERS, RESOLVED, WORKERS, WORKING, EventKind, TimerKind
from compliance.policy import Policy
from scripts_library import ScriptInputError
from storage.delivery_models import ChecklistTick


def _all_items(policy: Policy) -> Sequence[tuple[str, str]]:
    return [
        (item.code, f"{title}·{item.text}")
        for name, title in CHECKLIST_TITLES.items()
        for item in policy.delivery.checklist(name)
    ]


@dataclass(frozen=True, slots=True)
class ChecklistBody:
    checklist: str = given(
        "检查清单",
        max_len=16,
        choices=(("onsite", "上门检查项"), ("workshop", "在司检查项"), ("return", "归还前确认")),
    )
    items: tuple[str, ...] = given("已完成的项目", default=(), options=_all_items)


async def tick(ctx: ActionContext, body: ChecklistBody) -> Outcome:
    """Set the list to what is ticked now (items not sent are unticked)."""
    items = ctx.desk.policy.delivery.checklist(body.checklist)
    known = {item.code for item in items}
    unknown = [code for code in body.items if code not in known]
    if unknown:
        raise TicketError(
            "invalid",
            "bad_field",
            f"{CHECKLIST_TITLES[body.checklist]}没有这些项目：{', '.join(unknown)}",
            field="items",
        )
    chosen = set(body.items)
    before = (await ticks_of(ctx.session, ctx.ticket.id)).get(body.checklist, set())
    await ctx.session.execute(
        delete(ChecklistTick).where(
            ChecklistTick.ticket_id == ctx.ticket.id,
            ChecklistTick.checklist == body.checklist,
            ChecklistTick.item.in_(sorted(before - chosen)),
        )
    )
    for code in sorted(chosen - before):
        ctx.session.add(
            ChecklistTick(
                ticket_id=ctx.ticket.id,
                checklist=body.checklist,
                item=code,
                ticked_by=ctx.actor.staff_no,
                ticked_at=ctx.now,
            )
        )
    left = [item.code for item in missing(items, chosen)]
    info = {
        "checklist": body.checklist,
        "ticked": [item.code for item in items if item.code in chosen],
        "missing": left,
        "done": not left,
    }
    ctx.record(EventKind.CHECKLIST_TICKED, data=info)
    return Outcome((EventKind.CHECKLIST_TICKED,), {"checklist": info})


@dataclass(frozen=True, slots=True)
class WaiverBody:
    reason: str = given("免除稳定运行观察的原因（将被记录）", max_len=500)


async def waive(ctx: ActionContext, body: WaiverBody) -> Outcome:
    """A manager lets this ticket be delivered without (the rest of) the stable run."""
    reason = body.reason.strip()
    if not reason:
        raise TicketError("invalid", "missing_field", "请填写免除的原因", field="reason")
    state = await ctx.state()
    if state.stable_run_waived:
        raise TicketError("conflict", "already_waived", "稳定运行观察已被免除")
    until = state.stable_run_until
    ctx.record(
        EventKind.STABLE_RUN_WAIVED,
        data={"reason": reason, "stable_until": until.isoformat() if until else None},
    )
    await timers.cancel(ctx.session, ctx.ticket.id, (TimerKind.STABLE_RUN,))
    return Outcome((EventKind.STABLE_RUN_WAIVED,), {"waiver": {"reason": reason}})


@dataclass(frozen=True, slots=True)
class ReturnShippingBody:
    carrier: str = given("物流公司", max_len=64)
    tracking_no: str = given("物流单号", max_len=64)
    ship_date: date | None = given("寄出日期", default=None)


async def ship(ctx: ActionContext, body: ReturnShippingBody) -> Outcome:
    """The server goes back: the return-shipping line with the tracking number is sent."""
    desk, ticket = ctx.desk, ctx.ticket
    state = await ctx.state()
    blocker = stable_run_blocker(desk.policy, ticket, state, ctx.now)
    if blocker is not None:
        raise TicketError("conflict", blocker.code, blocker.message, **blocker.details)
    if desk.policy.delivery.return_checklist_required:
        ticked = (await ticks_of(ctx.session, ticket.id)).get("return", set())
        left = missing(desk.policy.delivery.checklist("return"), ticked)
        if left:
            raise TicketError(
                "conflict",
                "checklist_incomplete",
                "寄回前须确认：" + "、".join(item.text for item in left),
                checklist="return",
                missing=[item.code for item in left],
            )
    carrier, tracking = body.carrier.strip(), body.tracking_no.strip()
    try:
        line = desk.prompter.return_shipping(
            carrier, tracking, ticket.channel, ship_date=body.ship_date, address=ctx.address
        )
    except ScriptInputError as exc:
        name = exc.field.rpartition(".")[2]
        words = {"tracking_no": "物流单号只能包含字母、数字、- 和 _", "carrier": "请填写物流公司"}
        raise TicketError(
            "invalid", "bad_field", words.get(name, str(exc)), field=name or "tracking_no"
        ) from None
    sent = await ctx.say(line)
    info = {
        "carrier": carrier,
        "tracking_no": tracking,
        "ship_date": body.ship_date.isoformat() if body.ship_date else None,
        "message_id": sent.message_id,
    }
    ctx.record(EventKind.RETURN_SHIPPED, data=info)
    return Outcome((EventKind.RETURN_SHIPPED,), {"shipment": info})


CHECKLIST = Action(
    name="checklist",
    title="检查清单",
    verb="勾选检查项",
    statuses=(*WORKING, RESOLVED),
    roles=WORKERS,
    body=ChecklistBody,
    records=(EventKind.CHECKLIST_TICKED,),
    run=tick,
)
STABLE_RUN_WAIVER = Action(
    name="stable-run-waiver",
    title="免除稳定运行观察",
    verb="免除稳定运行观察",
    statuses=WORKING,
    roles=MANAGERS,
    body=WaiverBody,
    records=(EventKind.STABLE_RUN_WAIVED,),
    run=waive,
)
RETURN_SHIPPING = Action(
    name="shipment",
    title="寄回服务器",
    verb="寄回服务器",
    statuses=(*WORKING, RESOLVED),
    roles=WORKERS,
    body=ReturnShippingBody,
    records=(EventKind.RETURN_SHIPPED,),
    run=ship,
)
