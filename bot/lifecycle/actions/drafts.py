"""An engineer's draft to the customer: the pre-send check, then sending it.

Every draft passes the compliance matchers (`bot.presend`) and the ticket's
own state before it is stored:

- ``refused`` (422): an error-level hit (spans and a compliant suggestion in
  ``presend``), or a second suggestion request (SCR006);
- ``confirm`` (409): a warning-level hit and no ``override_reason`` (send again
  with one; it is stored on the message and recorded as ``presend_override``);
- ``conflict`` ``backup_confirmation_required`` (409): the draft asks for remote
  access before the backup confirmation — the warning is sent now if it was
  not yet, the draft is not.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.lifecycle.access import ActionContext, TicketError, load_ticket
from bot.lifecycle.actions import Action, Outcome
from bot.lifecycle.actions.remote import hold_for_backup
from bot.lifecycle.bodies import given
from bot.lifecycle.desk import Desk
from bot.lifecycle.frontdesk import greeted
from bot.lifecycle.journal import TicketState, state_of
from bot.lifecycle.satisfaction import schedule_survey
from bot.lifecycle.vocabulary import ACTIVE, WORKERS, EventKind
from bot.presend import PresendResult
from bot.prompting import PromptedLine, customer_address
from scripts_library import SCRIPT_LABELS, ScriptKey
from storage.models import Message, MessageRole

# How far back the customer's turn a draft answers is read (messages).
_TURN_LIMIT = 20


def gate(result: PresendResult, state: TicketState) -> PresendResult:
    """The pre-send verdict with what the ticket's state adds (remote, suggestion)."""
    notes: list[str] = []
    if result.mentions_remote and not state.remote_allowed:
        notes.append("backup_confirmation_required")
    if result.asks_suggestion and state.suggestion_requested:
        notes.append("suggestion_already_requested")
    if not notes:
        return result
    return dataclasses.replace(result, notes=tuple(notes))


async def customer_turn(session: AsyncSession, ticket_id: int) -> str | None:
    """The customer's messages since the last agent one, when the customer spoke last
    (the turn a draft answers; the LNG007–LNG009 rules read it), joined by lines."""
    rows = await session.execute(
        select(Message.role, Message.text)
        .where(Message.ticket_id == ticket_id, Message.role != MessageRole.EVENT)
        .order_by(Message.sent_at.desc(), Message.id.desc())
        .limit(_TURN_LIMIT)
    )
    texts: list[str] = []
    for role, text in rows:
        if role != MessageRole.CUSTOMER:
            break
        texts.append(text or "")
    return "\n".join(reversed(texts)) if texts else None


async def check_draft(desk: Desk, number: str, text: str) -> PresendResult:
    """The pre-send verdict on a draft for this ticket, without sending (as-you-type)."""
    async with desk.sessionmaker() as session:
        loaded = await load_ticket(desk, session, number=number, for_update=False)
        state = await state_of(session, loaded.ticket.id)
        said = await customer_turn(session, loaded.ticket.id)
    address = customer_address(loaded.customer.surname, loaded.customer.title)
    return gate(desk.presend.check(text, address, customer_text=said), state)


@dataclass(frozen=True, slots=True)
class DraftBody:
    text: str = given("回复内容")
    override_reason: str | None = given("仍要发送的原因", default=None, max_len=500)
    # A script line's key: the draft is that line (typed out or edited).
    prompted_by: str | None = given(
        "话术",
        default=None,
        max_len=64,
        choices=tuple((key.value, SCRIPT_LABELS[key]) for key in ScriptKey),
    )


async def send_draft(ctx: ActionContext, body: DraftBody) -> Outcome:
    """Send the draft after the pre-send check (see the module docstring)."""
    override = (body.override_reason or "").strip() or None
    state = await ctx.state()
    said = await customer_turn(ctx.session, ctx.ticket.id)
    result = gate(ctx.desk.presend.check(body.text, ctx.address, customer_text=said), state)
    if result.verdict == "refused":
        raise TicketError(
            "refused", "presend_refused", "草稿包含禁用语，未发送", presend=result.to_dict()
        )
    if "suggestion_already_requested" in result.notes:
        raise TicketError(
            "refused",
            "suggestion_already_requested",
            "已经征求过建议，不能重复追问（客户说暂时没有时更不能），未发送",
            presend=result.to_dict(),
        )
    if result.verdict == "confirm" and override is None:
        raise TicketError(
            "confirm",
            "presend_confirmation_required",
            "草稿有提醒项：修改后再发，或填写仍要发送的原因后确认发送",
            presend=result.to_dict(),
        )
    if "backup_confirmation_required" in result.notes:
        await hold_for_backup(
            ctx,
            state,
            "远程操作前须先发送数据备份确认，并等客户确认已备份；草稿未发送",
            {"text": body.text},
            presend=result.to_dict(),
        )
    # A typed-out script line counts as that line (the backup warning typed by
    # hand unlocks remote access like the button).
    key = ScriptKey(body.prompted_by) if body.prompted_by else None
    if (key or result.script_line) is not ScriptKey.GREETING and not await greeted(
        ctx.session, ctx.ticket.id
    ):
        # Nobody has introduced themselves yet (the centre answered out of hours).
        greeting = ctx.desk.prompter.greeting(
            ctx.actor.name, ctx.actor.staff_no, ctx.ticket.channel
        )
        await ctx.say(greeting, speaker=ctx.actor)
    confirmed = result.verdict == "confirm"
    outbound = await ctx.say(
        PromptedLine(key or result.script_line, body.text),
        speaker=ctx.actor,
        override_reason=override if confirmed else None,
    )
    if outbound.prompted_by == ScriptKey.SUGGESTION_REQUEST.value:
        schedule_survey(ctx.desk, ctx.session, ctx.ticket, ctx.now)
    if not confirmed:
        return Outcome(presend=result)
    ctx.record(
        EventKind.PRESEND_OVERRIDE,
        data={
            "message_id": outbound.message_id,
            "reason": override,
            "rules": sorted({h.rule for h in result.hits}),
        },
    )
    return Outcome((EventKind.PRESEND_OVERRIDE,), presend=result)


SEND = Action(
    name="messages",
    title="发送",
    verb="发送消息",
    statuses=ACTIVE,
    roles=WORKERS,
    body=DraftBody,
    records=(
        EventKind.PRESEND_OVERRIDE,
        EventKind.REMOTE_REQUESTED,
        EventKind.BACKUP_WARNING_SENT,
        EventKind.SUGGESTION_REQUESTED,
        EventKind.SURVEY_SENT,
    ),
    run=send_draft,
)
