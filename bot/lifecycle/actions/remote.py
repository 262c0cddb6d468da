"""Remote access (SCR003): the backup warning, the customer's confirmation, the login.

Remote login is recorded only after the data-backup confirmation line was sent
and the customer confirmed (in the chat, read by intake, or to the engineer on
the phone).  Asked for before that, the bot records the request, sends the
warning if it has not gone out yet, and refuses — keeping what it did.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

from bot.lifecycle.access import ActionContext, TicketError
from bot.lifecycle.actions import Action, Outcome
from bot.lifecycle.bodies import NoBody, given
from bot.lifecycle.journal import TicketState
from bot.lifecycle.levels import start_remote_clock
from bot.lifecycle.vocabulary import WORKERS, WORKING, EventKind
from bot.messages import OutboundMessage
from scripts_library import ScriptKey


async def backup_warning_if_unsent(
    ctx: ActionContext, state: TicketState
) -> OutboundMessage | None:
    """Store the data-backup confirmation line unless it was sent already."""
    if state.backup_warning_sent:
        return None
    return await ctx.say(ctx.desk.prompter.fixed(ScriptKey.BACKUP_WARNING, ctx.ticket.channel))


async def hold_for_backup(
    ctx: ActionContext, state: TicketState, message: str, request: dict[str, Any], **details: Any
) -> NoReturn:
    """Remote access asked for before the backup is confirmed: record the request, send
    the warning if it has not gone out, and refuse — keeping both."""
    ctx.record(EventKind.REMOTE_REQUESTED, data=request)
    await start_remote_clock(ctx.desk, ctx.session, ctx.ticket, ctx.now)
    await backup_warning_if_unsent(ctx, state)
    raise TicketError(
        "conflict",
        "backup_confirmation_required",
        message,
        commit=True,
        **details,
        backup_warning_sent=True,
        backup_confirmed=state.backup_confirmed,
    )


async def send_backup_warning(ctx: ActionContext, _body: NoBody) -> Outcome:
    """Send the data-backup confirmation line (SCR003) now."""
    await start_remote_clock(ctx.desk, ctx.session, ctx.ticket, ctx.now)
    await ctx.say(ctx.desk.prompter.fixed(ScriptKey.BACKUP_WARNING, ctx.ticket.channel))
    return Outcome((EventKind.BACKUP_WARNING_SENT,))


@dataclass(frozen=True, slots=True)
class ConfirmationBody:
    note: str = given("客户如何确认已备份", max_len=500)


async def confirm_backup(ctx: ActionContext, body: ConfirmationBody) -> Outcome:
    """Record a backup confirmation the customer gave elsewhere (e.g. on the phone)."""
    if not (await ctx.state()).backup_warning_sent:
        raise TicketError(
            "conflict", "backup_warning_not_sent", "尚未向客户发送数据备份确认，不能记录客户确认"
        )
    ctx.record(EventKind.BACKUP_CONFIRMED, data={"note": body.note, "source": "engineer"})
    return Outcome((EventKind.BACKUP_CONFIRMED,))


@dataclass(frozen=True, slots=True)
class RemoteBody:
    tool: str | None = given("远程工具（向日葵、ToDesk …）", default=None, max_len=64)


async def start_remote(ctx: ActionContext, body: RemoteBody) -> Outcome:
    """Record the remote login, or — before warning and confirmation — the request."""
    state = await ctx.state()
    if state.remote_allowed:
        ctx.record(EventKind.REMOTE_LOGIN, data={"tool": body.tool})
        ctx.start_working()
        return Outcome((EventKind.REMOTE_LOGIN,))
    await hold_for_backup(
        ctx, state, "远程登录前须先发送数据备份确认，并等客户确认已备份", {"tool": body.tool}
    )


BACKUP_WARNING = Action(
    name="backup-warning",
    title="发送数据备份确认",
    verb="发送数据备份确认",
    statuses=WORKING,
    roles=WORKERS,
    body=NoBody,
    records=(EventKind.BACKUP_WARNING_SENT,),
    run=send_backup_warning,
)
BACKUP_CONFIRMATION = Action(
    name="backup-confirmation",
    title="记录客户已确认备份",
    verb="记录备份确认",
    statuses=WORKING,
    roles=WORKERS,
    body=ConfirmationBody,
    records=(EventKind.BACKUP_CONFIRMED,),
    run=confirm_backup,
)
REMOTE = Action(
    name="remote",
    title="开始远程",
    verb="开始远程",
    statuses=WORKING,
    roles=WORKERS,
    body=RemoteBody,
    records=(EventKind.REMOTE_LOGIN, EventKind.REMOTE_REQUESTED, EventKind.BACKUP_WARNING_SENT),
    run=start_remote,
)
