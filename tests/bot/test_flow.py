"""The issue's "done when" flow, end to end through the real app, on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import io
import json
import time
from typing import Any

from bot import cli
from compliance.policy import Policy
from tests.bot.conftest import SUNDAY_11, Bot
from tests.support import findings_of

REMOTE_DRAFT = "请您把向日葵的识别码和验证码发给我，我远程帮您看一下"


async def test_web_chat_to_resolution_leaves_no_finding(
    bot: Bot, db_url: str, policy: Policy
) -> None:
    visitor = await bot.visitor()
    started = time.monotonic()
    first = await bot.say(visitor, "服务器开不了机了，急用")
    assert time.monotonic() - started < 1.0
    number = first["ticket"]
    assert number.startswith("PS-20261123-")
    assert [r["text"] for r in first["replies"]] == [
        "您好，我是朴赛售后服务中心运维工程师张三，工号1818，很高兴为您服务🤝"
    ]
    assert first["replies"][0]["name"] == "张三"

    bot.clock.advance(seconds=40)
    accepted = await bot.act(number, "accept")
    assert accepted["events"] == ["ticket_accepted"]

    # Asking for remote access first forces the backup warning and holds the draft.
    bot.clock.advance(seconds=20)
    held = await bot.act(number, "messages", status=409, text=REMOTE_DRAFT)
    assert held["error"] == "backup_confirmation_required"
    assert held["sent"][0]["prompted_by"] == "backup_warning"
    refused = await bot.act(number, "remote", status=409)
    assert refused["error"] == "backup_confirmation_required"
    assert refused["sent"] == []  # the warning went out once, not twice

    bot.clock.advance(seconds=30)
    await bot.say(visitor, "好的，数据都有备份")
    bot.clock.advance(seconds=20)
    sent = await bot.act(number, "messages", text=REMOTE_DRAFT)
    assert sent["sent"][0]["delivery"]["status"] == "sent"
    bot.clock.advance(seconds=5)
    assert (await bot.act(number, "remote", tool="向日葵"))["events"] == ["remote_login"]

    bot.clock.advance(minutes=20)
    await bot.say(visitor, "好了，能开机了")
    bot.clock.advance(seconds=30)
    await bot.act(number, "stable-run-waiver", staff_no="9001", reason="客户确认已恢复")
    resolved = await bot.act(number, "resolve")
    assert [line["prompted_by"] for line in resolved["sent"]] == [
        "thanks",
        "responsibility",
        "suggestion_request",
    ]
    bot.clock.advance(seconds=30)
    survey = await bot.say(visitor, "暂时没有")
    assert len(survey["replies"]) == 1
    assert survey["replies"][0]["text"].startswith("请问您对本次服务是否满意")
    bot.clock.advance(seconds=30)
    rated = await bot.say(visitor, "很满意")
    assert rated["replies"][0]["text"].startswith("感谢您对我们本次服务的理解和支持")
    bot.clock.advance(seconds=30)
    await bot.act(
        number,
        "close",
        summary="电源模块松动，重新插拔后恢复",
        process="重新插拔电源模块后开机正常",
        test_report="开机自检通过，观察 30 分钟无报错",
    )

    detail = await bot.ticket(number)
    assert detail["status"] == "closed"
    assert detail["state"]["rating"] == "很满意"
    spec_events = [e["event"] for e in detail["events"] if e["event"] in SPEC]
    assert spec_events == [
        "ticket_opened",
        "ticket_accepted",
        "remote_login",
        "solution_given",
        "resolved",
        "satisfaction_rated",
        "closed",
    ]
    # What QA's checker sees in this database: not a single finding.
    assert findings_of(db_url, policy) == []
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        status = cli.main(["check", "--db", db_url, "--format", "json", "--no-progress"])
    report = json.loads(output.getvalue())
    assert (status, report["findings"]) == (0, [])
    assert report["summary"]["sessions"] == 1


SPEC = {
    "ticket_opened",
    "ticket_accepted",
    "remote_login",
    "solution_given",
    "extension_granted",
    "escalated",
    "resolved",
    "closed",
    "satisfaction_rated",
}


async def test_rest_day_first_turn_has_the_notice(bot: Bot, db_url: str, policy: Policy) -> None:
    bot.clock.set(SUNDAY_11)
    visitor = await bot.visitor()
    first = await bot.say(visitor, "硬盘亮红灯了")
    texts: list[Any] = [r["text"] for r in first["replies"]]
    assert len(texts) == 2
    assert texts[0].startswith("您好，我是朴赛售后服务中心运维工程师")
    assert "下一个工作日11月23日（周一）优先受理并给出解决方案" in texts[1]
    bot.clock.advance(minutes=10)
    await bot.act(first["ticket"], "accept")
    codes = {f.rule for f in findings_of(db_url, policy)}
    assert not codes & {"SCR001", "SCR007", "SLA001", "SLA003"}
