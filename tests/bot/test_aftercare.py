"""After the chat, through the API on both databases: warranty at intake, quote and
confirmation before paid repair, single-part warranty by contract, the repair paths and
their clocks, the vendor RMA with its promised date, paused progress updates and the
replacement unit."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.timers import FIRED
from compliance.calendar import SHANGHAI
from storage.models import Direction, Message, MessageRole, Ticket
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


async def customer_file(bot: Bot, number: str, kind: str = "image") -> int:
    """A photo (or file) the customer sent in the chat, as the channels store it."""
    async with bot.services.sessionmaker() as session, session.begin():
        ticket_id = await session.scalar(select(Ticket.id).where(Ticket.number == number))
        message = Message(
            ticket_id=ticket_id,
            channel="web",
            direction=Direction.INBOUND,
            role=MessageRole.CUSTOMER,
            sender="visitor",
            text="[图片]" if kind == "image" else "[文件]",
            kind=kind,
            sent_at=bot.clock.now(),
        )
        session.add(message)
        await session.flush()
        return message.id


def aftercare(detail: dict[str, Any]) -> dict[str, Any]:
    care: dict[str, Any] = detail["aftercare"]
    return care


async def test_warranty_at_intake_captures_the_unit_and_tells_the_customer(bot: Bot) -> None:
    _visitor, number, owner = await open_ticket(bot)
    result = await bot.act(
        number,
        "warranty",
        staff_no=owner,
        signed_for="2026-08-31",
        serial_no="SN-2026-0001",
        model="PS-R740",
        proof_reference="INV-20260831",
    )
    assert result["warranty"]["tier"] == "replace_new"
    assert result["warranty"]["covered_until"] == "2026-11-30"
    [line] = result["sent"]
    assert line["prompted_by"] == "warranty_outcome"
    assert "3个月内换新" in line["text"] and "您无需支付费用" in line["text"]
    assert f"工单{number}" in line["text"]
    care = aftercare(await bot.ticket(number))
    warranty = care["warranty"]
    assert (warranty["serial_no"], warranty["model"], warranty["signed_for"]) == (
        "SN-2026-0001",
        "PS-R740",
        "2026-08-31",
    )
    assert (warranty["proof"], warranty["proof_reference"]) == ("reference", "INV-20260831")
    assert [(p["tier"], p["last_day"], p["applies"]) for p in warranty["periods"]] == [
        ("replace_new", "2026-11-30", True),
        ("replace_refurbished", "2027-02-28", False),
        ("free_repair", "2029-08-31", False),
    ]
    # Free work: repair needs no quote.
    assert care["repair_hint"] is None


async def test_a_chat_photo_is_proof_and_a_text_line_is_not(bot: Bot) -> None:
    visitor, number, owner = await open_ticket(bot)
    photo = await customer_file(bot, number)
    decided = await bot.act(
        number, "warranty", staff_no=owner, signed_for="2026-06-15", proof_message_id=str(photo)
    )
    assert decided["warranty"]["tier"] == "replace_refurbished"
    assert decided["warranty"]["proof"] == "message"
    assert aftercare(await bot.ticket(number))["warranty"]["proof_message_id"] == photo
    await bot.say(visitor, "发票在这里")
    detail = await bot.ticket(number)
    text_id = max(m["id"] for m in detail["messages"] if m["role"] == "customer")
    refused = await bot.act(
        number,
        "warranty",
        staff_no=owner,
        status=400,
        signed_for="2026-06-15",
        proof_message_id=str(text_id),
    )
    assert refused["field"] == "proof_message_id"
    missing_date = await bot.act(
        number, "warranty", staff_no=owner, status=400, proof_message_id=str(photo)
    )
    assert missing_date["field"] == "signed_for"


async def test_no_proof_is_paid_and_repair_waits_for_the_confirmed_quote(bot: Bot) -> None:
    visitor, number, owner = await open_ticket(bot)
    decided = await bot.act(number, "warranty", staff_no=owner, serial_no="SN-9")
    assert decided["warranty"]["tier"] == "paid"
    assert decided["warranty"]["reason"] == "暂未能提供购买证明，按非保修期范围处理"
    [line] = decided["sent"]
    assert "有偿维修" in line["text"] and "经您确认后再开始维修" in line["text"]

    refused = await bot.act(number, "repair", staff_no=owner, status=409, action="start")
    assert refused["error"] == "quote_not_confirmed"
    rma = await bot.act(number, "rma", staff_no=owner, status=409, action="start")
    assert rma["error"] == "quote_not_confirmed"
    assert (await bot.act(number, "quote-confirmation", staff_no=owner, status=409))[
        "error"
    ] == "no_quote"

    quoted = await bot.act(
        number, "quote", staff_no=owner, amount=1280.5, items="主板 1 块 1,200.00元；检测费 80.50元"
    )
    assert quoted["quote"]["amount"] == "1,280.50元"
    [quote_line] = quoted["sent"]
    assert quote_line["prompted_by"] == "repair_quote"
    assert "合计1,280.50元" in quote_line["text"]
    still = await bot.act(number, "repair", staff_no=owner, status=409, action="start")
    assert still["error"] == "quote_not_confirmed"

    await bot.say(visitor, "好的，同意按这个价格维修")
    detail = await bot.ticket(number)
    agreed = max(m["id"] for m in detail["messages"] if m["role"] == "customer")
    confirmed = await bot.act(number, "quote-confirmation", staff_no=owner, message_id=str(agreed))
    assert confirmed["events"] == ["quote_confirmed"]
    started = await bot.act(number, "repair", staff_no=owner, action="start", path="in_house")
    # 7 working days from Monday 2026-11-23 (Saturdays count, Sunday 29 does not).
    assert started["repair"]["due_on"] == "2026-12-01"
    care = aftercare(await bot.ticket(number))
    assert care["quote"]["confirmed"] and care["quote"]["confirmation_source"] == "customer"
    assert care["quote"]["confirmation_message_id"] == agreed
    assert [(r["path"], r["open"]) for r in care["repairs"]] == [("in_house", True)]
    changed = await bot.act(number, "quote", staff_no=owner, status=409, amount=1, items="x")
    assert changed["error"] == "quote_confirmed"


async def test_quote_refusals_name_what_is_wrong(bot: Bot) -> None:
    _visitor, number, owner = await open_ticket(bot)
    early = await bot.act(number, "quote", staff_no=owner, status=409, amount=100, items="检测费")
    assert early["error"] == "warranty_not_assessed"
    await bot.act(number, "warranty", staff_no=owner, signed_for="2026-08-31", proof_reference="I1")
    free = await bot.act(number, "quote", staff_no=owner, status=409, amount=100, items="检测费")
    assert free["error"] == "warranty_free"
    await bot.act(number, "warranty", staff_no=owner, exclusions=["misuse"])
    zero = await bot.act(number, "quote", staff_no=owner, status=400, amount=0, items="检测费")
    assert zero["field"] == "amount"
    await bot.act(number, "quote", staff_no=owner, amount=100, items="检测费")
    # A newer quote replaces the one not yet confirmed.
    await bot.act(number, "quote", staff_no=owner, amount=150, items="检测费；运费")
    assert aftercare(await bot.ticket(number))["quote"]["amount_fen"] == 15000
    empty = await bot.act(number, "quote-confirmation", staff_no=owner, status=400)
    assert empty["field"] == "message_id"
    detail = await bot.ticket(number)
    before = min(m["id"] for m in detail["messages"] if m["role"] == "customer")
    old = await bot.act(
        number, "quote-confirmation", staff_no=owner, status=400, message_id=str(before)
    )
    assert old["field"] == "message_id"
    phoned = await bot.act(number, "quote-confirmation", staff_no=owner, note="客户电话同意")
    assert phoned["quote"]["source"] == "engineer"


async def test_a_part_under_a_sales_contract_follows_the_contract(bot: Bot) -> None:
    _visitor, number, owner = await open_ticket(bot)
    recorded = await bot.act(
        number,
        "contract",
        staff_no=owner,
        number="HT-2025-017",
        parts="硬盘、内存",
        signed_on="2025-01-10",
        term_months=24,
    )
    assert recorded["contract"]["covered_until"] == "2027-01-10"
    again = await bot.act(
        number,
        "contract",
        staff_no=owner,
        status=409,
        number="HT-2025-017",
        parts="硬盘",
        signed_on="2025-01-10",
        term_months=24,
    )
    assert again["error"] == "contract_exists"
    bad_term = await bot.act(
        number,
        "contract",
        staff_no=owner,
        status=400,
        number="HT-2025-018",
        parts="硬盘",
        signed_on="2025-01-10",
        term_months=1.5,
    )
    assert bad_term["field"] == "term_months"
    # The unit is out of its 3 years; the disk is covered by the contract.
    disk = await bot.act(
        number,
        "warranty",
        staff_no=owner,
        signed_for="2022-01-01",
        proof_reference="INV-1",
        part="硬盘",
    )
    assert disk["warranty"]["tier"] == "contract_part"
    assert disk["warranty"]["contract"] == "HT-2025-017"
    assert "销售合同HT-2025-017约定硬盘质保24个月" in disk["warranty"]["reason"]
    board = await bot.act(
        number,
        "warranty",
        staff_no=owner,
        signed_for="2022-01-01",
        proof_reference="INV-1",
        part="主板",
    )
    assert board["warranty"]["tier"] == "paid"
    assert [e["code"] for e in board["warranty"]["exclusions"]] == ["expired"]
    assert [c["number"] for c in aftercare(await bot.ticket(number))["contracts"]] == [
        "HT-2025-017"
    ]


async def test_factory_repair_runs_on_working_days_with_reminders(bot: Bot) -> None:
    _visitor, number, owner = await open_ticket(bot)
    await bot.act(number, "warranty", staff_no=owner, signed_for="2024-08-31", proof_reference="I")
    started = await bot.act(number, "repair", staff_no=owner, action="start", path="factory")
    assert (started["repair"]["due_on"], started["repair"]["latest_on"]) == (
        "2026-12-04",
        "2026-12-10",
    )
    again = await bot.act(number, "repair", staff_no=owner, status=409, action="start")
    assert again["error"] == "repair_open"
    bot.clock.set(at(12, 4, 9, 30))
    assert await run(bot, "repair_due") == [f"reminded {owner}"]
    bot.clock.set(at(12, 10, 9, 30))
    assert await run(bot, "repair_due") == [f"reminded {owner},9001"]
    reasons = [r["data"]["reason"] for r in (await bot.ticket(number))["reminders"]]
    assert "repair_due" in reasons and "repair_latest_due" in reasons
    done = await bot.act(number, "repair", staff_no=owner, action="finish", old_parts="returned")
    assert done["repair"]["on_time"] is False and done["repair"]["old_parts"] == "returned"
    assert (await bot.act(number, "repair", staff_no=owner, status=409, action="finish"))[
        "error"
    ] == "repair_not_open"


async def test_finishing_in_time_cancels_the_repair_reminder(bot: Bot) -> None:
    _visitor, number, owner = await open_ticket(bot)
    await bot.act(number, "warranty", staff_no=owner, signed_for="2026-08-31", proof_reference="I")
    await bot.act(number, "repair", staff_no=owner, action="start")
    assert "repair_due" in (await bot.ticket(number))["deadlines"]
    await bot.act(number, "repair", staff_no=owner, action="finish", old_parts="declined")
    assert "repair_due" not in (await bot.ticket(number))["deadlines"]


async def test_progress_updates_skip_the_vendors_time_and_say_where_it_stands(bot: Bot) -> None:
    _visitor, number, owner = await open_ticket(bot)
    assert (await bot.ticket(number))["deadlines"]["progress_update"] == "2026-11-26T09:30:00+08:00"
    await bot.act(number, "warranty", staff_no=owner, signed_for="2026-08-31", proof_reference="I")
    started = await bot.act(number, "rma", staff_no=owner, action="start", vendor="希捷")
    assert started["rma"]["paused_progress"] == 2
    detail = await bot.ticket(number)
    assert "progress_update" not in detail["deadlines"]
    assert (
        aftercare(detail)["progress"]
        == "故障配件已送原厂保修（希捷），我们每3天跟进催促一次原厂进度"
    )
    # Back on Wednesday 25th: two working days away, so day 4 moves from Thu 26 to Sat 28.
    bot.clock.set(at(11, 25, 10))
    returned = await bot.act(number, "rma", staff_no=owner, action="returned")
    assert [p["due_at"] for p in returned["rma"]["resumed_progress"]] == [
        "2026-11-28T09:30:00+08:00",
        "2026-12-02T09:30:00+08:00",
    ]
    await bot.act(number, "repair", staff_no=owner, action="start", path="in_house")
    bot.clock.set(at(11, 26, 9, 30))
    assert await run(bot, "progress_update") == []
    bot.clock.set(at(11, 28, 9, 30))
    assert await run(bot, "progress_update") == ["day 4 drafted"]
    await bot.act(number, "loaner", staff_no=owner, action="sent", serial_no="LOAN-07")
    bot.clock.set(at(12, 2, 9, 30))
    assert await run(bot, "progress_update") == ["day 7 drafted"]
    drafts = [
        e["data"]
        for e in (await bot.ticket(number))["events"]
        if e["event"] == "progress_update_due"
    ]
    assert [d["day"] for d in drafts] == [4, 7]
    assert "设备正在我司维修，预计12月3日（周四）前完成" in drafts[0]["text"]
    assert "工程师正在排查处理中" not in drafts[0]["text"]
    assert "备用机已在您处使用" in drafts[1]["status"] and drafts[1]["replacement_offer"]


async def test_the_product_manager_gives_a_return_date_the_chase_follows(bot: Bot) -> None:
    _visitor, number, owner = await open_ticket(bot)
    early = await bot.act(
        number, "rma", staff_no=owner, status=409, action="promise", promised_on="2026-12-20"
    )
    assert early["error"] == "rma_not_open"
    missing = await bot.act(number, "rma", staff_no=owner, status=409, action="start")
    assert missing["error"] == "warranty_not_assessed"
    await bot.act(number, "warranty", staff_no=owner, signed_for="2026-08-31", proof_reference="I")
    await bot.act(number, "rma", staff_no=owner, action="start", vendor="原厂")
    start = bot.clock.now()
    bot.clock.set(start + timedelta(days=15))
    assert await run(bot, "rma_product_manager") == ["product manager called in"]
    note = next(
        r["data"]["note"]
        for r in (await bot.ticket(number))["reminders"]
        if r["data"]["reason"] == "rma_product_manager"
    )
    assert "给出具体返回日期" in note
    past = await bot.act(
        number, "rma", staff_no=owner, status=400, action="promise", promised_on="2026-11-30"
    )
    assert past["field"] == "promised_on"
    promised = await bot.act(
        number, "rma", staff_no=owner, action="promise", promised_on="2026-12-12"
    )
    assert promised["events"] == ["rma_return_promised"]
    care = aftercare(await bot.ticket(number))
    assert [(r["path"], r["vendor"], r["promised_on"]) for r in care["repairs"]] == [
        ("vendor", "原厂", "2026-12-12")
    ]
    assert "原厂承诺12月12日（周六）前返回" in care["progress"]
    bot.clock.set(at(12, 12, 9, 30))
    assert "promised date chase" in await run(bot, "rma_chase")


async def test_the_replacement_unit_is_tracked_until_it_comes_back(bot: Bot) -> None:
    _visitor, number, owner = await open_ticket(bot)
    nameless = await bot.act(number, "loaner", staff_no=owner, status=400, action="sent")
    assert nameless["field"] == "serial_no"
    await bot.act(
        number, "loaner", staff_no=owner, action="sent", serial_no="LOAN-01", model="R740"
    )
    twice = await bot.act(
        number, "loaner", staff_no=owner, status=409, action="sent", serial_no="LOAN-02"
    )
    assert twice["error"] == "loaner_out"
    assert [(u["serial_no"], u["out"]) for u in aftercare(await bot.ticket(number))["loaners"]] == [
        ("LOAN-01", True)
    ]
    await bot.act(number, "loaner", staff_no=owner, action="returned")
    assert [(u["serial_no"], u["out"]) for u in aftercare(await bot.ticket(number))["loaners"]] == [
        ("LOAN-01", False)
    ]
    none_out = await bot.act(number, "loaner", staff_no=owner, status=409, action="returned")
    assert none_out["error"] == "loaner_not_out"
