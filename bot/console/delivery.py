"""A line the channel did not take, or may not have: what happened, and "send again".

``/console/tickets/{number}/lines/{id}`` shows an agent line whose delivery
is ``unknown``, ``failed`` or ``blocked_by_channel`` (the transcript links
there from the line), with the channel's answer and what sending it again
risks on that channel (`bot.channels.resend.resend_risk`).  Two forms post
back: ``…/resend`` hands the stored line to its channel once more, ``…/confirm``
settles an ``unknown`` line as received (the customer has it).  Both are
recorded on the ticket under the engineer's 工号.  The page is the ticket's
own engineer's (or a manager's): anyone else gets "not found".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from aiohttp import web

from bot.channels.resend import UndeliveredLine, confirm_received, send_again, undelivered_line
from bot.console.auth import TICKET_ROLES, Route, current_user
from bot.console.pages import render, services_of, state_of
from bot.context import Services
from bot.validation import Invalid, parse_id

STATUS_LABELS: Mapping[str, str] = {
    "pending": "未确认",
    "sent": "已送达",
    "answered": "已回复（被动回复）",
    "unknown": "送达情况未知",
    "failed": "发送失败",
    "blocked_by_channel": "被渠道规则拒绝",
}
RESULTS: Mapping[str, str] = {
    "resent": "已再次发送，结果见下。",
    "confirmed": "已标记为客户已收到。",
}


async def _line(request: web.Request) -> UndeliveredLine:
    raw = request.match_info["message_id"]
    number = request.match_info["number"]
    try:
        message_id: int | None = parse_id(raw)
    except Invalid:
        message_id = None
    line = (
        await undelivered_line(services_of(request), number, message_id)
        if message_id is not None
        else None
    )
    user = current_user(request)
    if line is None or not (
        user.sees_all_tickets or (user.staff_no and user.staff_no == line.assigned_staff_no)
    ):
        raise web.HTTPNotFound(text=f"工单 {number} 没有这条消息，或不归您处理")
    return line


async def line_page(request: web.Request) -> web.StreamResponse:
    line = await _line(request)
    return await render(
        request,
        "line_delivery.html",
        page_title=f"工单 {line.ticket_number} · 消息送达",
        line=line,
        status_label=STATUS_LABELS.get(line.status.value, line.status.value),
        result=RESULTS.get(request.query.get("result", ""), ""),
        can_act=current_user(request).staff_no is not None,
    )


@dataclass(frozen=True, slots=True)
class _Act:
    allowed: Callable[[UndeliveredLine], bool]
    run: Callable[[Services, UndeliveredLine, str], Awaitable[object]]
    done: str
    refused: str


_MEDIA_NOT_RESENT = "图片或文件不会再次发送；需要时请在工单页重新上传"
_ACTS: Mapping[str, _Act] = {
    "resend": _Act(
        lambda line: line.resendable, send_again, "resent", "这条消息已送达，无需再次发送"
    ),
    "confirm": _Act(
        lambda line: line.confirmable,
        confirm_received,
        "confirmed",
        "只有送达情况未知的消息可以标记为客户已收到",
    ),
}


async def act(request: web.Request) -> web.StreamResponse:
    """``…/resend`` or ``…/confirm`` (a form post), then back to the line's page."""
    chosen = _ACTS.get(request.match_info["act"])
    if chosen is None:
        raise web.HTTPNotFound(text="没有这个操作")
    line = await _line(request)
    staff_no = current_user(request).staff_no
    if staff_no is None:
        raise web.HTTPForbidden(text="此账号未关联工号，不能操作工单")
    if not chosen.allowed(line):
        if chosen is _ACTS["resend"] and line.kind != "text":
            raise web.HTTPConflict(text=_MEDIA_NOT_RESENT)
        raise web.HTTPConflict(text=chosen.refused)
    await chosen.run(services_of(request), line, staff_no)
    prefix = state_of(request).prefix
    raise web.HTTPSeeOther(
        f"{prefix}/tickets/{line.ticket_number}/lines/{line.message_id}?result={chosen.done}"
    )


_LINE = "/tickets/{number}/lines/{message_id}"
ROUTES: tuple[Route, ...] = (
    Route("GET", _LINE, line_page, "console.line", roles=TICKET_ROLES),
    Route("POST", f"{_LINE}/{{act}}", act, "console.line.act", roles=TICKET_ROLES),
)
