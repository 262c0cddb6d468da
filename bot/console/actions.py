"""The lifecycle actions in the console: the ticket page's buttons and forms, and the
JSON endpoints they post to.

Every action of `bot.lifecycle.ACTIONS` gets ``POST /console/api/tickets/{n}/<name>``
(CSRF-checked by the guard), run by `TicketService.run` under the signed-in
account's 工号 after the visibility check, so the console records exactly what
the chat API would.  The ticket page lays out the everyday steps as buttons
(`LAID_OUT`); every other registered action gets a form built from its body
model, so a new step shows up here without console code of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from bot.console.auth import TICKET_ROLES, ConsoleUser, Handler, Route, current_user, json_error
from bot.console.pages import services_of, visible_ticket
from bot.context import Services
from bot.http import ApiError, json_response, read_json, str_field
from bot.lifecycle import (
    ACTIONS,
    MANAGERS,
    Action,
    TicketError,
    form_inputs,
    parse_body,
)
from bot.lifecycle import (
    ACTIVE as ACTIVE_STATUSES,
)
from bot.lifecycle import (
    WORKING as WORKING_STATUSES,
)
from compliance.policy import Policy
from compliance.reports.summary import RULE_TITLES
from storage.models import TicketStatus

# The lifecycle's status groups as the ticket views spell statuses.
OPENED = TicketStatus.OPENED.value
WORKING: frozenset[str] = frozenset(s.value for s in WORKING_STATUSES)
ACTIVE: frozenset[str] = frozenset(s.value for s in ACTIVE_STATUSES)
CLOSABLE: frozenset[str] = ACTIVE - {OPENED}

# The actions ticket.html lays out itself (buttons with their own enabling rules,
# the draft form, the reassign form); every other one gets a generated form.
LAID_OUT = frozenset(
    {
        "accept",
        "messages",
        "backup-warning",
        "backup-confirmation",
        "remote",
        "solution",
        "extension-request",
        "extension",
        "escalate",
        "resolve",
        "reassign",
        # The 上门与交付 panel (_ticket_delivery.html).
        "onsite-arrival",
        "onsite-reschedule",
        "checklist",
        "stable-run-waiver",
        "shipment",
    }
)


def _key(name: str) -> str:
    # The enabled-state key of an action (the page's JavaScript maps _ back to -).
    return name.replace("-", "_")


def action_forms(services: Services) -> list[dict[str, Any]]:
    """The generated forms: every registered action the page does not lay out itself."""
    limit = services.settings.max_text_chars
    return [
        {
            "name": action.name,
            "key": _key(action.name),
            "title": action.title,
            "inputs": form_inputs(action.body, services.policy, text_limit=limit),
        }
        for action in ACTIONS
        if action.name not in LAID_OUT
    ]


def actions_of(detail: Mapping[str, Any], user: ConsoleUser, max_extensions: int) -> dict[str, Any]:
    """Which lifecycle buttons are enabled now, and why a disabled one is disabled."""
    status = detail["status"]
    state = detail["state"]
    accepted = status in WORKING
    remote_hint = None
    if status == OPENED:
        remote_hint = "受理后才能开始远程"
    elif not accepted or state.get("remote_login"):
        remote_hint = None
    elif not state["backup_warning_sent"]:
        remote_hint = "须先发送数据备份确认，并等客户确认已备份"
    elif not state["backup_confirmed"]:
        remote_hint = "已发送数据备份确认，等待客户确认已备份"
    extension_ok = (
        accepted
        and not state["solution_given"]
        and not state["escalated"]
        and state["extensions"] < max_extensions
    )
    can_act = user.staff_no is not None
    delivery = detail.get("delivery") or {}
    visit = delivery.get("visit")
    stable = delivery.get("stable_run") or {}
    returning = next(
        (c for c in delivery.get("checklists", []) if c["name"] == "return"), {"done": True}
    )
    shipment_hint = None
    if not stable.get("ready", True):
        shipment_hint = stable.get("hint")
    elif not returning["done"] and returning.get("required"):
        shipment_hint = "寄回前须在“归还前确认”中勾选配件与包装"
    shipping = accepted or status == "resolved"
    not_yet = "受理后才能{}" if status == OPENED else None
    delivery_hint = delivery.get("resolve_hint") if accepted else None
    resolve_hint = (
        "受理后才能结单"
        if status == OPENED
        else "须先给出方案（给出方案后才能结单）"
        if accepted and not state["solution_given"]
        else delivery_hint
    )
    return {
        # The generic steps first: the ones laid out by hand (and close, whose form is
        # generic but whose button says why it waits) override them below.
        **{
            _key(action.name): {
                "enabled": can_act
                and status in {s.value for s in action.statuses}
                and (action.roles != MANAGERS or user.is_manager)
            }
            for action in ACTIONS
            if action.name not in LAID_OUT
        },
        "accept": {"enabled": can_act and status == OPENED},
        "backup_warning": {"enabled": can_act and accepted and not state["backup_warning_sent"]},
        "backup_confirmation": {
            "enabled": can_act
            and accepted
            and state["backup_warning_sent"]
            and not state["backup_confirmed"]
        },
        "remote": {
            "enabled": can_act
            and accepted
            and remote_hint is None
            and not state.get("remote_login"),
            "hint": remote_hint,
        },
        "solution": {"enabled": can_act and accepted and not state["solution_given"]},
        "extension": {
            "enabled": can_act and extension_ok,
            "grant": user.is_manager,
        },
        "escalate": {
            "enabled": can_act and accepted and not state["escalated"],
            "hint": not_yet.format("升级技术部") if not_yet else None,
        },
        "resolve": {
            "enabled": can_act and accepted and state["solution_given"] and not delivery_hint,
            "hint": resolve_hint,
        },
        "close": {
            "enabled": can_act and status in CLOSABLE,
            "hint": not_yet.format("关闭工单") if not_yet else None,
        },
        "onsite_arrival": {
            "enabled": can_act
            and accepted
            and visit is not None
            and not visit["arrived_at"]
            and not visit["needs_date"]
        },
        "onsite_reschedule": {
            "enabled": can_act and accepted and visit is not None and not visit["arrived_at"]
        },
        "checklist": {"enabled": can_act and shipping},
        "stable_run_waiver": {
            "enabled": can_act and user.is_manager and accepted and not stable.get("waived")
        },
        "shipment": {
            "enabled": can_act and shipping and shipment_hint is None,
            "hint": shipment_hint,
        },
        "reassign": {"enabled": can_act and user.is_manager and status in ACTIVE},
    }


def _staff_no(user: ConsoleUser) -> str:
    if user.staff_no is None:
        raise ApiError(403, "no_staff_no", "此账号未关联工号，不能操作工单")
    return user.staff_no


async def _guarded_number(request: web.Request) -> str:
    """The ticket number of the request after the visibility check."""
    detail = await visible_ticket(request)
    return str(detail["number"])


def _run(action: Action[Any]) -> Handler:
    """The console's handler of one registered action (JSON in, JSON out; errors keep the
    service's code), under the signed-in account's 工号."""

    async def handler(request: web.Request) -> web.StreamResponse:
        user = current_user(request)
        services = services_of(request)
        try:
            number = await _guarded_number(request)
            data = await read_json(request) if request.can_read_body else {}
            staff_no = _staff_no(user)
            body = parse_body(action.body, data, text_limit=services.settings.max_text_chars)
            result = await services.tickets.run(action.name, number, staff_no, body)
        except ApiError as exc:
            return json_error(
                exc.status, exc.code, _in_words(action, exc, services.policy), **exc.extra
            )
        except TicketError as exc:
            return json_error(exc.status, exc.code, exc.message, **exc.details)
        return json_response(result.to_dict())

    handler.__name__ = f"action_{action.name.replace('-', '_')}"
    return handler


def _in_words(action: Action[Any], exc: ApiError, policy: Policy) -> str:
    """A body error as the Chinese page says it: the field by its label, never its name."""
    field = exc.extra.get("field")
    labels = {
        str(spec["name"]): str(spec["label"])
        for spec in form_inputs(action.body, policy, text_limit=10**6)
    }
    if isinstance(field, str) and field in labels:
        return f"请填写或修正“{labels[field]}”"
    return exc.message


async def no_such_action(request: web.Request) -> web.StreamResponse:
    name = request.match_info["action"]
    return json_error(404, "no_such_action", f"没有操作 {name}")


async def presend(request: web.Request) -> web.StreamResponse:
    """The pre-send check of a draft (as the engineer types): verdict, spans, suggestion."""
    services = services_of(request)
    try:
        number = await _guarded_number(request)
        data = await read_json(request)
        text = str_field(data, "text", required=False, max_len=services.settings.max_text_chars)
    except ApiError as exc:
        return json_error(exc.status, exc.code, exc.message, **exc.extra)
    if not text:
        return json_response(
            {"verdict": "ok", "text": "", "hits": [], "suggestion": None, "notes": []}
        )
    result = await services.tickets.check_draft(number, text)
    hits = [{**hit.to_dict(), "title": RULE_TITLES.get(hit.rule, "")} for hit in result.hits]
    return json_response({**result.to_dict(), "hits": hits, "notes": list(result.notes)})


ROUTES: tuple[Route, ...] = (
    Route(
        "POST",
        "/api/tickets/{number}/presend",
        presend,
        "console.api.presend",
        roles=TICKET_ROLES,
        api=True,
    ),
    *(
        Route(
            "POST",
            f"/api/tickets/{{number}}/{action.name}",
            _run(action),
            f"console.api.action.{action.name}",
            roles=TICKET_ROLES,
            api=True,
        )
        for action in ACTIONS
    ),
    Route(
        "POST",
        "/api/tickets/{number}/{action}",
        no_such_action,
        "console.api.no_such_action",
        roles=TICKET_ROLES,
        api=True,
    ),
)
