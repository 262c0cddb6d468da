"""The lifecycle's one table of actions, guarded: every registered action has its words,
its routes in the API and the console, its checks and a body model that parses; every
step has a label, every timer a handler; a module in actions/ is registered or this fails.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import typing
from datetime import date
from typing import Any

import pytest

import bot.lifecycle.actions as actions_package
from bot.app import create_app
from bot.console.app import build_routes
from bot.lifecycle import ACTIONS, BY_NAME, Action, parse_body
from bot.lifecycle.vocabulary import RETIRED_EVENTS, EngineerRole, EventKind, TimerKind
from bot.settings import Settings
from compliance.policy import Policy
from scripts_library import EVENT_LABELS, SCRIPT_LABELS, STATUS_LABELS, ScriptKey
from storage.models import TicketStatus
from tests.bot.conftest import Bot
from tests.test_architecture import import_graph

ACTION_IDS = [action.name for action in ACTIONS]


def _sample(model: type[Any]) -> dict[str, Any]:
    """The smallest valid JSON body of `model`: its required fields, filled in."""
    hints = typing.get_type_hints(model)
    sample: dict[str, Any] = {}
    for field in dataclasses.fields(model):
        if field.default is not dataclasses.MISSING:
            continue
        kind = hints[field.name]
        choices = field.metadata["given"].choices
        sample[field.name] = (
            choices[0][0] if choices else {str: "x", float: 1.0, date: "2026-11-23"}[kind]
        )
    return sample


@pytest.mark.parametrize("action", ACTIONS, ids=ACTION_IDS)
def test_every_action_is_registered_completely(action: Action[Any]) -> None:
    assert BY_NAME[action.name] is action
    assert action.name.replace("-", "").isalpha() and action.name.islower()
    assert action.title and action.verb
    assert action.statuses and all(isinstance(s, TicketStatus) for s in action.statuses)
    assert action.roles and action.roles <= set(EngineerRole)
    assert dataclasses.is_dataclass(action.body)
    assert action.body.__dataclass_params__.frozen  # type: ignore[attr-defined]
    parsed = parse_body(action.body, _sample(action.body), text_limit=4000)
    assert isinstance(parsed, action.body)
    assert action.records, "an action records at least one step"
    for kind in action.records:
        assert isinstance(kind, EventKind) and kind not in RETIRED_EVENTS
        assert EVENT_LABELS.get(kind.value), f"{kind.value} has no label"


def test_names_are_unique() -> None:
    assert len(BY_NAME) == len(ACTIONS)


def test_every_vocabulary_member_has_its_words() -> None:
    assert [k.value for k in EventKind if not EVENT_LABELS.get(k.value)] == []
    assert [s.value for s in TicketStatus if not STATUS_LABELS.get(s.value)] == []
    assert [k.value for k in ScriptKey if not SCRIPT_LABELS.get(k)] == []


def test_every_action_module_is_in_the_registry() -> None:
    defined: dict[str, list[Action[Any]]] = {}
    for info in pkgutil.iter_modules(actions_package.__path__):
        module = importlib.import_module(f"{actions_package.__name__}.{info.name}")
        defined[info.name] = [
            value
            for value in vars(module).values()
            if isinstance(value, Action) and value.run.__module__ == module.__name__
        ]
    assert {name for name, found in defined.items() if not found} == set()
    unregistered = [a.name for found in defined.values() for a in found if a not in ACTIONS]
    assert unregistered == []


def test_the_api_and_the_console_mount_every_action(policy: Policy, sqlite_url: str) -> None:
    app = create_app(Settings(policy=policy, db_url=sqlite_url, scheduler_enabled=False))
    api = {
        route.name: route.resource.canonical
        for route in app.router.routes()
        if route.method == "POST" and route.name and route.resource is not None
    }
    console = {route.name: route.path for route in build_routes() if route.method == "POST"}
    for action in ACTIONS:
        assert api[f"api.{action.name}"] == f"/api/tickets/{{number}}/{action.name}"
        assert console[f"console.api.action.{action.name}"] == (
            f"/api/tickets/{{number}}/{action.name}"
        )


async def test_every_timer_kind_has_a_handler(sqlite_bot: Bot) -> None:
    assert set(sqlite_bot.services.scheduler.handlers) == set(TimerKind)


def test_only_the_facade_is_imported_from_outside() -> None:
    inside = "bot.lifecycle"
    leaks = sorted(
        (module, target)
        for module, targets in import_graph().items()
        if not module.startswith(inside)
        for target in targets
        if target.startswith(f"{inside}.")
    )
    assert leaks == []


async def _tour(bot: Bot) -> dict[str, list[str]]:
    """Every registered action once, in an order a real ticket could take; the events
    each one answered with."""
    ran: dict[str, list[str]] = {}

    async def act(name: str, staff_no: str = "1818", **body: Any) -> None:
        ran[name] = (await bot.act(number, name, staff_no=staff_no, **body))["events"]

    visitor = await bot.visitor()
    number = (await bot.say(visitor, "服务器开不了机了"))["ticket"]
    await act("accept")
    await act("fault-level", level="L2", reason="客户说明是告警，尚未宕机")
    await act("complaint", action="open", note="电话投诉响应慢")
    ran["complaint"] += (await bot.act(number, "complaint", action="resolve", note="已致歉"))[
        "events"
    ]
    await act("contact", kind="call", duration_min=5, result="电话指导客户排查")
    await act(
        "contract", number="HT-2026-001", parts="硬盘、内存", signed_on="2026-01-10", term_months=12
    )
    await act(
        "warranty",
        signed_for="2026-08-31",
        proof_reference="INV-001",
        serial_no="SN001",
        exclusions=["malware"],
    )
    await act("quote", amount=1280, items="主板 1 块；检测费")
    await act("quote-confirmation", note="客户电话确认同意报价")
    await act("extension-request", reason="等待厂商诊断")
    await act("extension", staff_no="9001", call_note="已电话告知客户")
    await act("backup-warning")
    await bot.say(visitor, "数据都已经备份好了")
    await act("remote", tool="向日葵")
    await act("messages", text="您好，故障已经定位，正在处理")
    await act("escalate", reason="主板故障需技术部支持", notify_customer=False)
    await act("rma", action="start", vendor="原厂")
    ran["rma"] += (await bot.act(number, "rma", action="promise", promised_on="2026-12-10"))[
        "events"
    ]
    ran["rma"] += (await bot.act(number, "rma", action="returned"))["events"]
    await act("repair", action="start", path="in_house")
    ran["repair"] += (await bot.act(number, "repair", action="finish", old_parts="returned"))[
        "events"
    ]
    await act("loaner", action="sent", serial_no="LOAN-01")
    ran["loaner"] += (await bot.act(number, "loaner", action="returned"))["events"]
    await act("onsite", distance_km=50)
    await act("customer", surname="张", title="总", phone="13800138000")
    await act("onsite-reschedule", new_date="2026-11-27", reason="暴雨封路")
    await act("onsite-arrival", note="已到机房")
    await act("solution", summary="更换主板")
    await act("stable-run", intermittent=False)
    await act("stable-run-waiver", staff_no="9001", reason="客户急用，现场已验证")
    delivery = bot.services.policy.delivery
    for name in ("onsite", "workshop", "return"):
        codes = [item.code for item in delivery.checklist(name)]
        ran["checklist"] = (await bot.act(number, "checklist", checklist=name, items=codes))[
            "events"
        ]
    await act("shipment", carrier="顺丰速运", tracking_no="SF1234567890")
    await act("resolve", ask_suggestion=False)
    await bot.say(visitor, "很满意")
    await act("reassign", staff_no="9001", to="2046")
    bot.clock.advance(seconds=30)
    await act(
        "close",
        staff_no="2046",
        summary="更换主板后恢复",
        process="重新插拔电源模块后开机正常",
        test_report="开机自检通过，观察 30 分钟无报错",
    )
    await act("archive", staff_no="2046")
    return ran


async def test_a_tour_of_every_action_records_only_what_each_declares(sqlite_bot: Bot) -> None:
    ran = await _tour(sqlite_bot)
    # backup-confirmation needs a ticket whose customer has not confirmed in the chat.
    visitor = await sqlite_bot.visitor()
    number = (await sqlite_bot.say(visitor, "硬盘告警"))["ticket"]
    owner = (await sqlite_bot.ticket(number))["engineer"]["staff_no"]
    await sqlite_bot.act(number, "accept", staff_no=owner)
    await sqlite_bot.act(number, "backup-warning", staff_no=owner)
    confirmed = await sqlite_bot.act(
        number, "backup-confirmation", staff_no=owner, note="客户电话确认已备份"
    )
    ran["backup-confirmation"] = confirmed["events"]
    assert set(ran) == set(BY_NAME), "the tour runs every registered action"
    for name, events in ran.items():
        declared = {kind.value for kind in BY_NAME[name].records}
        assert set(events) <= declared, (name, events)


async def test_the_extension_request_checks_the_assignment(sqlite_bot: Bot) -> None:
    visitor = await sqlite_bot.visitor()
    number = (await sqlite_bot.say(visitor, "服务器开不了机了"))["ticket"]
    await sqlite_bot.act(number, "accept")
    other = await sqlite_bot.act(
        number, "extension-request", staff_no="2046", status=403, reason="x"
    )
    assert other["error"] == "not_assigned"
    early = await sqlite_bot.visitor()
    fresh = (await sqlite_bot.say(early, "硬盘告警"))["ticket"]
    owner = (await sqlite_bot.ticket(fresh))["engineer"]["staff_no"]
    refused = await sqlite_bot.act(
        fresh, "extension-request", staff_no=owner, status=409, reason="x"
    )
    assert refused["error"] == "wrong_status"
    asked = await sqlite_bot.act(number, "extension-request", reason="等待厂商诊断")
    assert asked["events"] == ["extension_requested"]
    reminders = (await sqlite_bot.ticket(number))["reminders"]
    assert [(r["data"]["to"], r["data"]["reason"]) for r in reminders] == [
        ("9001", "extension_requested")
    ]
