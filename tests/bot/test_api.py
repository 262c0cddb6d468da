"""The engineer API: pre-send check, prompting, permissions, lifecycle rules."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.bot.conftest import Bot


async def open_ticket(
    bot: Bot, text: str = "服务器开不了机了", accept: bool = True
) -> tuple[str, str]:
    visitor = await bot.visitor()
    number = (await bot.say(visitor, text))["ticket"]
    if accept:
        await bot.act(number, "accept")
    return visitor, number


def agent_lines(detail: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in detail["messages"] if m["role"] == "agent"]


async def test_error_level_draft_is_refused_with_span_and_suggestion(sqlite_bot: Bot) -> None:
    _visitor, number = await open_ticket(sqlite_bot)
    refused = await sqlite_bot.act(number, "messages", status=422, text="好的，我先挂了，明天再说")
    assert refused["error"] == "presend_refused"
    hit = refused["presend"]["hits"][0]
    assert (hit["rule"], hit["severity"], hit["evidence"], hit["span"]) == (
        "LNG004",
        "error",
        "我先挂了",
        [3, 7],
    )
    assert hit["source"] == "forbidden.walk_away"
    assert (hit["layer"], hit["confidence"]) == ("phrase", 1.0)
    # Not the draft with the bad words cut out, but a compliant line for the rule.
    walk_away_line = "请您稍等，我这边继续为您跟进处理，有进展第一时间告诉您"
    assert refused["presend"]["suggestion"] == walk_away_line
    # An override does not help against an error.
    again = await sqlite_bot.act(
        number, "messages", status=422, text="我先挂了", override_reason="客户要求"
    )
    assert again["presend"]["suggestion"] == walk_away_line
    # The greeting and the ticket number (told on accepting) only.
    assert [m["prompted_by"] for m in agent_lines(await sqlite_bot.ticket(number))] == [
        "greeting",
        "ticket_number",
    ]


async def test_warning_needs_an_override_reason_which_is_stored(sqlite_bot: Bot) -> None:
    _visitor, number = await open_ticket(sqlite_bot)
    draft = "你好，请问服务器型号是什么？"
    confirm = await sqlite_bot.act(number, "messages", status=409, text=draft)
    assert confirm["error"] == "presend_confirmation_required"
    assert confirm["presend"]["hits"][0]["rule"] == "LNG006"
    assert confirm["presend"]["suggestion"] == "您好，请问服务器型号是什么？"
    sent = await sqlite_bot.act(number, "messages", text=draft, override_reason="客户是老同学")
    assert sent["events"] == ["presend_override"]
    line = agent_lines(await sqlite_bot.ticket(number))[-1]
    assert (line["text"], line["override_reason"]) == (draft, "客户是老同学")


async def test_presend_endpoint_checks_without_sending(sqlite_bot: Bot) -> None:
    _visitor, number = await open_ticket(sqlite_bot)
    verdict = await sqlite_bot.act(number, "presend", text="把向日葵识别码发我")
    assert verdict["verdict"] == "ok"
    assert verdict["mentions_remote"] is True
    assert verdict["notes"] == ["backup_confirmation_required"]
    clean = await sqlite_bot.act(number, "presend", text="USB接口松了，垃圾文件也清理一下")
    assert (clean["verdict"], clean["hits"]) == ("ok", [])
    assert len(agent_lines(await sqlite_bot.ticket(number))) == 2  # greeting, ticket number


async def test_remote_is_held_until_warning_and_confirmation(sqlite_bot: Bot) -> None:
    visitor, number = await open_ticket(sqlite_bot)
    blocked = await sqlite_bot.act(number, "remote", status=409)
    assert blocked["backup_warning_sent"] is True and blocked["backup_confirmed"] is False
    assert [s["prompted_by"] for s in blocked["sent"]] == ["backup_warning"]
    await sqlite_bot.say(visitor, "还没有备份，稍等")
    still = await sqlite_bot.act(number, "remote", status=409)
    assert still["sent"] == []
    assert (await sqlite_bot.ticket(number))["state"]["remote_allowed"] is False
    # A confirmation the customer gave on the phone, recorded by the engineer.
    await sqlite_bot.act(number, "backup-confirmation", note="客户电话确认已备份")
    assert (await sqlite_bot.act(number, "remote"))["events"] == ["remote_login"]
    detail = await sqlite_bot.ticket(number)
    assert detail["status"] == "in_progress"
    assert "remote_requested" in [e["event"] for e in detail["events"]]


async def test_suggestion_request_is_never_repeated(sqlite_bot: Bot) -> None:
    visitor, number = await open_ticket(sqlite_bot)
    await sqlite_bot.act(number, "backup-warning")
    await sqlite_bot.say(visitor, "好的")
    await sqlite_bot.act(number, "remote")
    await sqlite_bot.act(number, "stable-run-waiver", staff_no="9001", reason="客户确认已恢复")
    await sqlite_bot.act(number, "resolve")
    await sqlite_bot.say(visitor, "没有，都挺好")
    detail = await sqlite_bot.ticket(number)
    assert detail["state"]["suggestion_declined"] is True
    again = "您对我们的服务器使用及售后服务有什么建议或者意见吗？我详细记录并且推动公司优化"
    refused = await sqlite_bot.act(number, "messages", status=422, text=again)
    assert refused["error"] == "suggestion_already_requested"


async def test_resolve_without_suggestion_sends_the_survey_and_records_rating(
    sqlite_bot: Bot,
) -> None:
    visitor, number = await open_ticket(sqlite_bot)
    await sqlite_bot.act(number, "stable-run-waiver", staff_no="9001", reason="客户确认已恢复")
    resolved = await sqlite_bot.act(number, "resolve", ask_suggestion=False)
    assert [s["prompted_by"] for s in resolved["sent"]] == [
        "thanks",
        "responsibility",
        "satisfaction_survey",
    ]
    await sqlite_bot.say(visitor, "不满意")
    detail = await sqlite_bot.ticket(number)
    rated = [e for e in detail["events"] if e["event"] == "satisfaction_rated"]
    assert [(e["data"]["rating"], e["data"]["points"]) for e in rated] == [("不满意", 0)]


async def test_customer_cues_become_suggested_drafts(sqlite_bot: Bot) -> None:
    visitor, number = await open_ticket(sqlite_bot)
    await sqlite_bot.say(visitor, "等了半天也没人管，你们到底行不行？气死我了")
    drafts = (await sqlite_bot.ticket(number))["drafts"]
    assert [d["key"] for d in drafts] == [
        "emotion_response",
        "complaint_response",
        "doubt_response",
    ]
    complaint = drafts[1]
    assert complaint["text"] == "感谢您的提议和指导，我们会继续完善售后服务质量和效率，给您添麻烦了"
    # Sending the prompted line consumes its draft.
    await sqlite_bot.act(
        number, "messages", text=complaint["text"], prompted_by="complaint_response"
    )
    left = (await sqlite_bot.ticket(number))["drafts"]
    assert [d["key"] for d in left] == ["emotion_response", "doubt_response"]


async def test_who_may_do_what(sqlite_bot: Bot) -> None:
    _visitor, number = await open_ticket(sqlite_bot, accept=False)
    assert (await sqlite_bot.api("GET", "/api/tickets", staff_no=None, status=401))[
        "error"
    ] == "unauthenticated"
    assert await sqlite_bot.api("GET", "/api/tickets", staff_no="9999", status=401)
    other = await sqlite_bot.act(number, "accept", staff_no="2046", status=403)
    assert other["error"] == "not_assigned"
    assert (await sqlite_bot.act("PS-20990101-0001", "accept", status=404))["error"] == (
        "no_such_ticket"
    )
    await sqlite_bot.act(number, "accept")
    assert (await sqlite_bot.act(number, "accept", status=409))["error"] == "wrong_status"
    denied = await sqlite_bot.act(number, "extension", status=403, call_note="已电话沟通")
    assert denied["error"] == "manager_required"
    missing = await sqlite_bot.act(number, "extension", staff_no="9001", status=400)
    assert missing == {
        "error": "missing_field",
        "message": "field 'call_note' is required",
        "field": "call_note",
    }
    # The manager may act on any ticket.
    granted = await sqlite_bot.act(
        number, "extension", staff_no="9001", call_note="已电话沟通，客户同意"
    )
    assert granted["events"] == ["extension_granted"]
    assert "王经理" in granted["call_script"]
    limit = await sqlite_bot.act(number, "extension", staff_no="9001", status=409, call_note="再延")
    assert limit["error"] == "extension_limit"


async def test_an_engineer_reads_only_their_own_tickets(sqlite_bot: Bot) -> None:
    _v1, first = await open_ticket(sqlite_bot, accept=False)
    _v2, second = await open_ticket(sqlite_bot, "硬盘告警", accept=False)
    assert (await sqlite_bot.ticket(first, staff_no="1818"))["number"] == first
    # 2046 holds the second ticket: the first one does not exist for them.
    hidden = await sqlite_bot.api("GET", f"/api/tickets/{first}", "2046", status=404)
    assert hidden["error"] == "ticket_not_found"
    await sqlite_bot.api("GET", f"/api/tickets/{first}/scripts", "2046", status=404)
    await sqlite_bot.api(
        "POST", f"/api/tickets/{first}/presend", "2046", json={"text": "您好"}, status=404
    )
    # Asking for someone else's queue still lists only one's own tickets.
    mine = await sqlite_bot.api("GET", "/api/tickets?engineer=1818", "2046")
    assert [t["number"] for t in mine["tickets"]] == [second]
    everything = await sqlite_bot.api("GET", "/api/tickets", "9001")
    assert sorted(t["number"] for t in everything["tickets"]) == sorted([first, second])


async def test_least_loaded_engineer_and_reassignment(sqlite_bot: Bot) -> None:
    _v1, first = await open_ticket(sqlite_bot, accept=False)
    _v2, second = await open_ticket(sqlite_bot, "硬盘告警", accept=False)
    assert (await sqlite_bot.ticket(first))["engineer"]["staff_no"] == "1818"
    assert (await sqlite_bot.ticket(second))["engineer"]["staff_no"] == "2046"
    engineer = await sqlite_bot.act(first, "reassign", status=403, to="2046")
    assert engineer["error"] == "manager_required"
    moved = await sqlite_bot.act(first, "reassign", staff_no="9001", to="2046")
    # Already greeted by 张三: a handover line, not a second greeting.
    assert moved["sent"][0]["text"].startswith("已为您转接至运维工程师李四（工号2046）")
    assert (await sqlite_bot.ticket(first))["engineer"]["staff_no"] == "2046"
    queue = await sqlite_bot.api("GET", "/api/tickets?status=active&engineer=2046", staff_no="9001")
    assert sorted(t["number"] for t in queue["tickets"]) == sorted([first, second])
    bad = await sqlite_bot.api("GET", "/api/tickets?status=lost", status=400)
    assert bad["field"] == "status"


async def test_close_waits_for_the_customer_and_schedules_the_archive(sqlite_bot: Bot) -> None:
    visitor, number = await open_ticket(sqlite_bot)
    await sqlite_bot.say(visitor, "还有一个问题，风扇声音很大")
    waiting = await sqlite_bot.act(
        number,
        "close",
        status=409,
        process="重新插拔电源模块后开机正常",
        test_report="开机自检通过，观察 30 分钟无报错",
    )
    assert waiting["error"] == "customer_waiting"
    await sqlite_bot.act(number, "messages", text="风扇声音大一般是灰尘较多，我们安排清理")
    await sqlite_bot.say(visitor, "好的")  # an acknowledgement needs no answer
    closed = await sqlite_bot.act(
        number,
        "close",
        process="重新插拔电源模块后开机正常",
        test_report="开机自检通过，观察 30 分钟无报错",
    )
    # Closed Monday 2026-11-23: archive due by the end of the 2nd working day.
    assert closed["archive_due"] == "2026-11-25T18:00:00+08:00"
    archived = await sqlite_bot.act(number, "archive", problem="风扇声音大，灰尘较多")
    assert archived["events"] == ["archived"]
    assert (await sqlite_bot.act(number, "archive", status=409))["error"] == "already_archived"


async def test_escalation_tells_the_customer(sqlite_bot: Bot) -> None:
    _visitor, number = await open_ticket(sqlite_bot)
    escalated = await sqlite_bot.act(number, "escalate", reason="RAID 卡固件问题")
    assert escalated["sent"][0]["prompted_by"] == "escalation_notice"
    assert f"工单{number}" in escalated["sent"][0]["text"]
    detail = await sqlite_bot.ticket(number)
    event = next(e for e in detail["events"] if e["event"] == "escalated")
    assert event["data"] == {"to": "技术部", "reason": "RAID 卡固件问题", "automatic": False}


async def test_warranty_and_onsite(sqlite_bot: Bot) -> None:
    _visitor, number = await open_ticket(sqlite_bot)
    result = await sqlite_bot.act(
        number, "warranty", signed_for="2026-08-31", proof_reference="INV-20260831"
    )
    assert result["warranty"]["tier"] == "replace_new"
    assert result["warranty"]["covered_until"] == "2026-11-30"
    paid = await sqlite_bot.act(
        number,
        "warranty",
        signed_for="2026-08-31",
        proof_reference="INV-20260831",
        exclusions=["malware"],
    )
    assert paid["warranty"]["tier"] == "paid"
    bad = await sqlite_bot.act(number, "warranty", status=400, signed_for="2026-02-30")
    assert bad["field"] == "signed_for"
    unknown = await sqlite_bot.act(
        number,
        "warranty",
        status=400,
        signed_for="2026-08-31",
        proof_reference="INV-20260831",
        exclusions=["typo"],
    )
    assert "unknown exclusion 'typo'" in unknown["message"]
    solution = await sqlite_bot.act(number, "solution", summary="更换主板", onsite_km=150)
    onsite = solution["onsite"]
    assert (onsite["working_days"], onsite["due_on"]) == (3, "2026-11-26")
    assert onsite["draft"]["key"] == "onsite_appointment"
    assert "100~300公里" in onsite["draft"]["text"]
    detail = await sqlite_bot.ticket(number)
    assert detail["warranty"]["tier"] == "paid"
    assert detail["deadlines"]["onsite_due"] == "2026-11-26T09:30:00+08:00"


async def test_delivery_waits_for_stable_running(sqlite_bot: Bot) -> None:
    _visitor, number = await open_ticket(sqlite_bot, "服务器偶尔自动重启")
    detail = await sqlite_bot.ticket(number)
    assert detail["intermittent"] is True
    started = await sqlite_bot.act(number, "stable-run")
    assert started["hours"] == 72
    waiting = await sqlite_bot.act(number, "resolve", status=409)
    assert waiting["error"] == "stable_run_pending"
    sqlite_bot.clock.advance(hours=72, seconds=1)
    assert "resolved" in (await sqlite_bot.act(number, "resolve"))["events"]


async def test_scripts_staff_and_me(sqlite_bot: Bot) -> None:
    _visitor, number = await open_ticket(sqlite_bot)
    lines = (await sqlite_bot.api("GET", f"/api/tickets/{number}/scripts"))["lines"]
    keys = [line["key"] for line in lines]
    assert keys[0] == "greeting" and "backup_warning" in keys and keys[-1] == "satisfaction_survey"
    staff = (await sqlite_bot.api("GET", "/api/staff"))["staff"]
    assert [(s["staff_no"], s["name"]) for s in staff] == [
        ("1818", "张三"),
        ("2046", "李四"),
        ("7001", "赵质检"),
        ("9001", "王经理"),
    ]
    me = await sqlite_bot.api("GET", "/api/me", staff_no="9001")
    assert me == {"staff_no": "9001", "name": "王经理", "roles": ["manager"]}


async def test_rma_chase_cycle_via_api(sqlite_bot: Bot) -> None:
    _visitor, number = await open_ticket(sqlite_bot)
    await sqlite_bot.act(number, "warranty", signed_for="2026-08-31", proof_reference="INV-1")
    await sqlite_bot.act(number, "rma", action="start", vendor="原厂")
    assert (await sqlite_bot.act(number, "rma", status=409, action="start"))["error"] == "rma_open"
    deadlines = (await sqlite_bot.ticket(number))["deadlines"]
    opened = sqlite_bot.clock.now()
    assert deadlines["rma_chase"] == (opened + timedelta(days=3)).isoformat()
    assert deadlines["rma_product_manager"] == (opened + timedelta(days=15)).isoformat()
    await sqlite_bot.act(number, "rma", action="returned")
    deadlines = (await sqlite_bot.ticket(number))["deadlines"]
    assert "rma_chase" not in deadlines and "rma_product_manager" not in deadlines
    assert (await sqlite_bot.act(number, "rma", status=400, action="lost"))["field"] == "action"


async def test_a_typed_out_backup_warning_counts_as_the_line(sqlite_bot: Bot) -> None:
    visitor, number = await open_ticket(sqlite_bot)
    typed = (
        "请您确认下服务器内的数据是否均有备份。重点提示：运维和调试过程都有一定概率的数据丢失风险"
    )
    sent = await sqlite_bot.act(number, "messages", text=typed)
    assert sent["presend"]["script_line"] == "backup_warning"
    assert sent["sent"][0]["prompted_by"] == "backup_warning"
    await sqlite_bot.say(visitor, "已经备份好了")
    assert (await sqlite_bot.act(number, "remote"))["events"] == ["remote_login"]


async def test_a_customer_writing_after_the_fix_reminds_the_engineer(sqlite_bot: Bot) -> None:
    visitor, number = await open_ticket(sqlite_bot)
    await sqlite_bot.act(number, "stable-run-waiver", staff_no="9001", reason="客户确认已恢复")
    await sqlite_bot.act(number, "resolve", ask_suggestion=False)
    await sqlite_bot.say(visitor, "满意")
    await sqlite_bot.say(visitor, "谢谢")  # an acknowledgement: nothing to do
    assert [r["data"]["reason"] for r in (await sqlite_bot.ticket(number))["reminders"]] == []
    await sqlite_bot.say(visitor, "又坏了，还是开不了机")
    detail = await sqlite_bot.ticket(number)
    assert [(r["data"]["to"], r["data"]["reason"]) for r in detail["reminders"]] == [
        ("1818", "customer_wrote_after_resolution")
    ]
    waiting = await sqlite_bot.act(
        number,
        "close",
        status=409,
        process="重新插拔电源模块后开机正常",
        test_report="开机自检通过，观察 30 分钟无报错",
    )
    assert waiting["error"] == "customer_waiting"
