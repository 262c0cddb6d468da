"""On-site visits, the checklists, stable running and the return shipment, and the timers as
people see them — through the API, on both databases (issue 16 items 3, 4, 6)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.timers import FIRED
from compliance.calendar import SHANGHAI
from tests.bot.conftest import Bot


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


async def open_ticket(bot: Bot, text: str = "服务器开不了机了") -> tuple[str, str, str]:
    """A ticket opened Monday 2026-11-23 10:00 and accepted; (visitor, number, owner)."""
    visitor = await bot.visitor()
    number = (await bot.say(visitor, text))["ticket"]
    owner = (await bot.ticket(number))["engineer"]["staff_no"]
    await bot.act(number, "accept", staff_no=owner)
    return visitor, number, owner


async def run(bot: Bot, kind: str) -> list[str]:
    fired = await bot.services.scheduler.run_due()
    assert all(f.status == FIRED for f in fired), fired
    return [f.detail or "" for f in fired if f.kind == kind]


def codes(bot: Bot, checklist: str) -> list[str]:
    return [item.code for item in bot.services.policy.delivery.checklist(checklist)]


async def customer_sees(bot: Bot, visitor: str) -> list[str]:
    response = await bot.client.get("/chat/api/messages", params={"visitor": visitor})
    assert response.status == 200
    return [m["text"] for m in (await response.json())["messages"] if m["role"] == "agent"]


def delivery(detail: dict[str, Any]) -> dict[str, Any]:
    view: dict[str, Any] = detail["delivery"]
    return view


# -- item 3: the visit ------------------------------------------------------------------------


async def test_a_near_visit_is_due_in_two_working_days_and_arrival_stops_its_reminders(
    bot: Bot,
) -> None:
    _visitor, number, owner = await open_ticket(bot)
    planned = await bot.act(number, "onsite", staff_no=owner, distance_km=50)
    assert planned["onsite"]["due_on"] == "2026-11-25" and planned["onsite"]["working_days"] == 2
    detail = await bot.ticket(number)
    visit = delivery(detail)["visit"]
    assert (visit["due_on"], visit["agreed"], visit["arrived_at"]) == ("2026-11-25", False, None)
    onsite = [t for t in detail["timers"] if t["kind"] == "onsite_due"]
    assert [(t["label"], t["pending"]) for t in onsite] == [("上门时限", True)] * 2
    bot.clock.set(at(11, 25, 10))
    assert await run(bot, "onsite_due") == ["engineer reminded"]
    arrived = await bot.act(number, "onsite-arrival", staff_no=owner, note="已到机房")
    assert arrived["onsite"] == {"due_on": "2026-11-25", "late": False, "note": "已到机房"}
    assert not [
        t
        for t in (await bot.ticket(number))["timers"]
        if t["pending"] and t["kind"] == "onsite_due"
    ]
    again = await bot.act(number, "onsite-arrival", staff_no=owner, status=409)
    assert again["error"] == "already_arrived"


async def test_over_300_km_the_agreed_date_is_stored_and_shown(bot: Bot) -> None:
    _visitor, number, owner = await open_ticket(bot)
    missing = await bot.act(number, "onsite", staff_no=owner, status=400, distance_km=450)
    assert missing["field"] == "agreed_on"
    past = await bot.act(
        number, "onsite", staff_no=owner, status=400, distance_km=450, agreed_on="2026-11-20"
    )
    assert past["field"] == "agreed_on"
    planned = await bot.act(
        number, "onsite", staff_no=owner, distance_km=450, agreed_on="2026-12-02"
    )
    assert planned["onsite"]["due_on"] == "2026-12-02"
    assert planned["onsite"]["working_days"] is None and planned["onsite"]["negotiated"]
    assert "按与您商定的时间" in planned["onsite"]["draft"]["text"]
    visit = delivery(await bot.ticket(number))["visit"]
    assert (visit["due_on"], visit["agreed"], visit["working_days"]) == ("2026-12-02", True, None)


async def test_a_far_plan_from_the_solution_asks_for_the_date(bot: Bot) -> None:
    _visitor, number, owner = await open_ticket(bot)
    await bot.act(number, "solution", staff_no=owner, summary="上门更换主板", onsite_km=600)
    visit = delivery(await bot.ticket(number))["visit"]
    assert visit["needs_date"] is True and visit["due_on"] is None
    refused = await bot.act(number, "onsite-arrival", staff_no=owner, status=409)
    assert refused["error"] == "no_onsite_date"


async def test_late_the_reschedule_line_is_drafted_then_sent_with_the_new_date(bot: Bot) -> None:
    visitor, number, owner = await open_ticket(bot)
    await bot.act(number, "onsite", staff_no=owner, distance_km=150)  # 3 working days
    bot.clock.set(at(11, 26, 18, 1))
    assert await run(bot, "onsite_due") == ["engineer reminded", "reschedule drafted"]
    detail = await bot.ticket(number)
    late = [r for r in detail["reminders"] if r["reason"] == "onsite_late"]
    assert {r["to"] for r in late} == {owner, "9001"}
    assert late[0]["label"] == "上门时限已过仍未到达：请与客户重新约定上门时间"
    draft = next(d for d in detail["drafts"] if d["key"] == "onsite_reschedule")
    assert "11月27日" in draft["text"] and delivery(detail)["visit"]["overdue"] is True
    past = await bot.act(
        number, "onsite-reschedule", staff_no=owner, status=400, new_date="2026-11-20"
    )
    assert past["field"] == "new_date"
    moved = await bot.act(
        number, "onsite-reschedule", staff_no=owner, new_date="2026-11-30", reason="暴雨封路"
    )
    assert moved["onsite"]["from"] == "2026-11-26" and moved["onsite"]["to"] == "2026-11-30"
    line = moved["sent"][0]
    assert line["prompted_by"] == "onsite_reschedule"
    assert "暴雨封路" in line["text"] and "11月30日" in line["text"]
    assert line["text"] in await customer_sees(bot, visitor)
    visit = delivery(await bot.ticket(number))["visit"]
    assert (visit["due_on"], visit["agreed"], visit["reschedules"]) == ("2026-11-30", True, 1)
    bot.clock.set(at(12, 1, 10))
    arrived = await bot.act(number, "onsite-arrival", staff_no=owner)
    assert arrived["onsite"]["late"] is True


# -- items 3 and 4: the checklists, the stable run, resolving --------------------------------


async def test_resolving_needs_the_stable_run_unless_a_manager_waives_it(bot: Bot) -> None:
    _visitor, number, owner = await open_ticket(bot)
    refused = await bot.act(number, "resolve", staff_no=owner, status=409)
    assert refused["error"] == "stable_run_required"
    assert delivery(await bot.ticket(number))["resolve_code"] == "stable_run_required"
    not_manager = await bot.act(
        number, "stable-run-waiver", staff_no=owner, status=403, reason="客户急用"
    )
    assert not_manager["error"] == "manager_required"
    blank = await bot.act(number, "stable-run-waiver", staff_no="9001", status=400, reason=" ")
    assert blank["field"] == "reason"
    waived = await bot.act(number, "stable-run-waiver", staff_no="9001", reason="客户现场已验收")
    assert waived["events"] == ["stable_run_waived"]
    detail = await bot.ticket(number)
    stable = delivery(detail)["stable_run"]
    assert stable["waived"] and stable["waiver"]["reason"] == "客户现场已验收"
    assert stable["waiver"]["by"] == "9001"
    assert "resolved" in (await bot.act(number, "resolve", staff_no=owner))["events"]


async def test_the_stable_run_must_have_run_its_24_hours(bot: Bot) -> None:
    _visitor, number, owner = await open_ticket(bot)
    await bot.act(number, "stable-run", staff_no=owner, intermittent=False)
    bot.clock.advance(hours=23)
    assert (await bot.act(number, "resolve", staff_no=owner, status=409))[
        "error"
    ] == "stable_run_pending"
    bot.clock.advance(hours=1, seconds=1)
    assert await run(bot, "stable_run_due") == ["ready for delivery"]
    assert "resolved" in (await bot.act(number, "resolve", staff_no=owner))["events"]


async def test_a_consultation_resolves_without_a_stable_run(bot: Bot) -> None:
    _visitor, number, owner = await open_ticket(bot, "请问RAID怎么配置？")
    assert (await bot.ticket(number))["fault_level"] == "CONSULT"
    assert delivery(await bot.ticket(number))["stable_run"]["required"] is False
    assert "resolved" in (await bot.act(number, "resolve", staff_no=owner))["events"]


async def test_the_onsite_and_workshop_lists_are_required_before_resolving(bot: Bot) -> None:
    _visitor, number, owner = await open_ticket(bot)
    await bot.act(number, "onsite", staff_no=owner, distance_km=20)
    await bot.act(number, "warranty", staff_no=owner, signed_for="2026-08-31", proof_reference="I")
    await bot.act(number, "repair", staff_no=owner, action="start", path="in_house")
    await bot.act(number, "stable-run-waiver", staff_no="9001", reason="客户确认已恢复")
    # Planned but nobody on site yet: the 在司 list is owed, the 上门 one not yet.
    refused = await bot.act(number, "resolve", staff_no=owner, status=409)
    assert refused["checklist"] == "workshop"
    await bot.act(number, "onsite-arrival", staff_no=owner)
    refused = await bot.act(number, "resolve", staff_no=owner, status=409)
    assert refused["error"] == "checklist_incomplete" and refused["checklist"] == "onsite"
    assert refused["missing"] == codes(bot, "onsite")
    assert "静电衣" in refused["message"]
    unknown = await bot.act(
        number, "checklist", staff_no=owner, status=400, checklist="onsite", items=["coffee"]
    )
    assert unknown["field"] == "items"
    bad_list = await bot.act(number, "checklist", staff_no=owner, status=400, checklist="x")
    assert bad_list["field"] == "checklist"
    part = await bot.act(
        number, "checklist", staff_no=owner, checklist="onsite", items=codes(bot, "onsite")[:3]
    )
    assert part["checklist"]["missing"] == codes(bot, "onsite")[3:]
    await bot.act(
        number, "checklist", staff_no=owner, checklist="onsite", items=codes(bot, "onsite")
    )
    refused = await bot.act(number, "resolve", staff_no=owner, status=409)
    assert refused["checklist"] == "workshop" and "硅脂更新" in refused["message"]
    await bot.act(
        number, "checklist", staff_no=owner, checklist="workshop", items=codes(bot, "workshop")
    )
    # Unticking is the same post without the item.
    fewer = await bot.act(
        number, "checklist", staff_no=owner, checklist="onsite", items=codes(bot, "onsite")[1:]
    )
    assert fewer["checklist"]["missing"] == ["antistatic_suit"]
    lists = {c["name"]: c for c in delivery(await bot.ticket(number))["checklists"]}
    assert lists["workshop"]["done"] and not lists["onsite"]["done"]
    assert [i["ticked"] for i in lists["onsite"]["items"]][:2] == [False, True]
    await bot.act(
        number, "checklist", staff_no=owner, checklist="onsite", items=codes(bot, "onsite")
    )
    assert "resolved" in (await bot.act(number, "resolve", staff_no=owner))["events"]


# -- item 4: the return shipment --------------------------------------------------------------


async def test_the_return_line_goes_out_with_the_tracking_number_after_the_checks(bot: Bot) -> None:
    visitor, number, owner = await open_ticket(bot)
    body = {"carrier": "顺丰速运", "tracking_no": "SF1234567890", "ship_date": "2026-11-24"}
    early = await bot.act(number, "shipment", staff_no=owner, status=409, **body)
    assert early["error"] == "stable_run_required"
    await bot.act(number, "stable-run", staff_no=owner)
    bot.clock.advance(hours=25)
    unchecked = await bot.act(number, "shipment", staff_no=owner, status=409, **body)
    assert unchecked["error"] == "checklist_incomplete" and unchecked["checklist"] == "return"
    assert unchecked["missing"] == ["accessories", "packaging"]
    await bot.act(
        number, "checklist", staff_no=owner, checklist="return", items=codes(bot, "return")
    )
    bad = await bot.act(
        number, "shipment", staff_no=owner, status=400, carrier="顺丰", tracking_no="单号 1"
    )
    assert bad["field"] == "tracking_no"
    shipped = await bot.act(number, "shipment", staff_no=owner, **body)
    line = shipped["sent"][0]
    assert line["prompted_by"] == "return_shipping"
    assert "顺丰速运" in line["text"] and "SF1234567890" in line["text"]
    assert line["text"] in await customer_sees(bot, visitor)
    detail = await bot.ticket(number)
    assert delivery(detail)["shipments"][0]["tracking_no"] == "SF1234567890"
    assert "return_shipped" in [e["event"] for e in detail["events"]]


# -- item 6: the timers as people see them -----------------------------------------------------


async def test_every_timer_of_the_ticket_is_listed_with_its_words(bot: Bot) -> None:
    _visitor, number, owner = await open_ticket(bot)
    await bot.act(number, "warranty", staff_no=owner, signed_for="2026-08-31", proof_reference="I")
    await bot.act(number, "rma", staff_no=owner, action="start", vendor="原厂")
    await bot.act(number, "onsite", staff_no=owner, distance_km=50)
    await bot.act(number, "stable-run", staff_no=owner)
    pending = {t["kind"]: t for t in (await bot.ticket(number))["timers"] if t["pending"]}
    assert {"rma_chase", "rma_product_manager", "onsite_due", "stable_run_due"} <= set(pending)
    assert pending["rma_chase"]["label"] == "催促原厂" and pending["rma_chase"]["detail"] == "第1次"
    assert pending["rma_product_manager"]["label"] == "产品经理介入"
    bot.clock.set(at(11, 26, 10, 1))
    assert await run(bot, "rma_chase") == ["chase 1"]
    reminders = (await bot.ticket(number))["reminders"]
    chase = next(r for r in reminders if r["reason"] == "rma_chase")
    assert chase["label"] == "须催促原厂保修进度" and chase["to"] == owner
