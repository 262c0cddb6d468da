"""The desk of issue 17 in the console: the customer panel with earlier tickets, buttons
enabled only when the lifecycle allows them, override reasons for QA (page and XLSX), the
satisfaction loop on the manager page, the favicon, and the demo's sample sessions."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from bot.app import create_app
from bot.channels import web as web_channel
from bot.cli import main as cli_main
from bot.console.demo import example_files, seed_sessions
from compliance.policy import Policy
from storage.db import make_engine
from tests.console.conftest import (
    Console,
    _ConsolePages,
    csrf_of,
    make_settings,
    post_json,
)
from tests.support import FakeClock

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


async def _owned(console: Console, text: str = "服务器开不了机了", who: str = "c1") -> str:
    return await console.customer_says(text, who)


async def test_the_ticket_page_lists_the_customers_earlier_tickets(console: Console) -> None:
    first = await _owned(console, "服务器开不了机了，电话13800138000", who="a")
    manager = await console.sign_in("manager")
    token = await csrf_of(manager)
    base = f"/console/api/tickets/{first}"
    assert (await post_json(manager, f"{base}/accept", {}, token)).status == 200
    assert (
        await post_json(
            manager,
            f"{base}/close",
            {
                "summary": "电源松动",
                "process": "重新插拔电源模块后开机正常",
                "test_report": "开机自检通过，观察 30 分钟无报错",
            },
            token,
        )
    ).status == 200
    # The same person on another visitor id, known by the phone number.
    second = await _owned(console, "我是张总，电话13800138000，硬盘报警", who="b")
    page = await (await manager.get(f"/console/tickets/{second}")).text()
    assert 'id="customer-panel"' in page
    assert f'href="/console/tickets/{first}"' in page and "已关闭" in page and "电源松动" in page
    assert '<dd id="customer-address">张总</dd>' in page
    assert "张总" in re.search(r'id="ticket-customer">([^<]*)<', page).group(1)  # type: ignore[union-attr]
    lonely = await (await manager.get(f"/console/tickets/{first}")).text()
    assert f'href="/console/tickets/{second}"' in lonely  # both ways


async def test_buttons_wait_for_the_lifecycle_and_say_why(console: Console) -> None:
    number = await _owned(console)
    manager = await console.sign_in("manager")
    token = await csrf_of(manager)
    base = f"/console/api/tickets/{number}"
    live = await (await manager.get(f"{base}/live?after=0")).json()
    actions = live["actions"]
    assert not actions["close"]["enabled"] and actions["close"]["hint"] == "受理后才能关闭工单"
    assert (
        not actions["escalate"]["enabled"] and actions["escalate"]["hint"] == "受理后才能升级技术部"
    )
    assert not actions["resolve"]["enabled"] and actions["resolve"]["hint"] == "受理后才能结单"
    page = await (await manager.get(f"/console/tickets/{number}")).text()
    assert 'title="受理后才能关闭工单"' in page and "受理后才能结单；受理后才能关闭工单" in page
    # The lifecycle refuses what the button does not offer.
    record = {"process": "更换电源模块", "test_report": "开机自检通过"}
    refused = await post_json(manager, f"{base}/close", record, token)
    assert refused.status == 409 and "待受理" in (await refused.json())["message"]
    assert (await post_json(manager, f"{base}/accept", {}, token)).status == 200
    actions = (await (await manager.get(f"{base}/live?after=0")).json())["actions"]
    assert actions["close"]["enabled"] and actions["escalate"]["enabled"]
    assert not actions["resolve"]["enabled"] and actions["resolve"]["hint"].startswith(
        "须先给出方案"
    )
    solved = await post_json(manager, f"{base}/solution", {"summary": "更换电源"}, token)
    assert solved.status == 200
    actions = (await (await manager.get(f"{base}/live?after=0")).json())["actions"]
    # Then delivery waits for the stable run, until it ran or a manager waived it.
    assert not actions["resolve"]["enabled"] and "稳定运行" in actions["resolve"]["hint"]
    waived = await post_json(manager, f"{base}/stable-run-waiver", {"reason": "客户确认"}, token)
    assert waived.status == 200
    actions = (await (await manager.get(f"{base}/live?after=0")).json())["actions"]
    assert actions["resolve"]["enabled"] and actions["resolve"]["hint"] is None
    # A missing field is named by its label, not its internal name.
    missing = await post_json(manager, f"{base}/escalate", {}, token)
    body = await missing.json()
    assert missing.status == 400 and body["field"] == "reason"
    assert body["message"] == "请填写或修正“升级至技术部的原因”"


async def test_qa_reads_the_override_reason_on_the_page_and_in_the_xlsx(console: Console) -> None:
    number = await _owned(console)
    manager = await console.sign_in("manager")
    token = await csrf_of(manager)
    base = f"/console/api/tickets/{number}"
    await post_json(manager, f"{base}/accept", {}, token)
    draft = {"text": "你好，请把型号发一下", "override_reason": "客户要求简短回复"}
    sent = await post_json(manager, f"{base}/messages", draft, token)
    assert sent.status == 200, await sent.text()
    qa = await console.sign_in("qa")
    qa_token = await csrf_of(qa, "/console/qa")
    period = {"since": "2026-11-01", "until": "2026-11-30"}
    ran = await qa.post(
        "/console/qa/run", data={"csrf_token": qa_token, **period}, allow_redirects=False
    )
    assert ran.status == 303
    page = await (await qa.get(f"/console/qa/sessions/{number}")).text()
    assert "工程师确认发送的原因：客户要求简短回复" in page
    assert "override_reason" not in page
    xlsx = await qa.get("/console/qa/export.xlsx", params=period)
    sheet = load_workbook(io.BytesIO(await xlsx.read()))["问题明细"]
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0][-1] == "确认发送原因"
    flagged = [r for r in rows[1:] if r[0] == number and r[1] == "LNG006"]
    assert flagged and flagged[0][-1] == "客户要求简短回复"


async def test_the_manager_page_counts_the_satisfaction_loop(console: Console) -> None:
    number = await _owned(console)
    manager = await console.sign_in("manager")
    token = await csrf_of(manager)
    base = f"/console/api/tickets/{number}"
    await post_json(manager, f"{base}/accept", {}, token)
    await post_json(manager, f"{base}/solution", {"summary": "更换电源"}, token)
    await post_json(manager, f"{base}/stable-run-waiver", {"reason": "客户确认已恢复"}, token)
    await post_json(manager, f"{base}/resolve", {"ask_suggestion": False}, token)
    await post_json(
        manager,
        f"{base}/close",
        {
            "process": "重新插拔电源模块后开机正常",
            "test_report": "开机自检通过，观察 30 分钟无报错",
        },
        token,
    )
    await console.customer_says("不满意")
    await console.customer_says("技术水平不行")
    page = await (await manager.get("/console/manager?month=2026-11")).text()
    table = page[page.index('id="satisfaction-months"') :]
    row = table[table.index("张三") : table.index("</tr>", table.index("张三"))]
    cells = re.findall(r"<td[^>]*>([^<]*)", row)
    # 发出调查, 很满意, 满意, 一般, 不满意, 未回复, 关闭后补评, 原因, 邀评
    assert cells[:7] == ["1", "0", "0", "0", "1", "0", "1"]
    assert "技术水平 1" in row


async def test_a_favicon_on_every_page(console: Console) -> None:
    login = await (await console.client.get("/console/login")).text()
    assert 'rel="icon"' in login
    chat = await (await console.client.get("/chat")).text()
    assert 'rel="icon" href="/chat/static/favicon.svg"' in chat
    icon = await console.client.get("/favicon.ico")
    assert icon.status == 200 and "<svg" in await icon.text()


async def test_demo_seeds_clean_and_flawed_sessions_that_qa_sees(
    aiohttp_client: Any, aiohttp_server: Any, policy: Policy, db_url: str, clock: FakeClock
) -> None:
    settings = make_settings(policy, db_url, clock, demo=True)
    app = create_app(settings, channel_modules=[web_channel], page_modules=[_ConsolePages()])
    server = await aiohttp_server(app)
    console = Console(server, await aiohttp_client(server), clock, aiohttp_client)
    qa = await console.sign_in("qa")
    page = await (await qa.get("/console/qa/findings")).text()
    assert "PS-20261123-9002" in page and "SCR003" in page and "LNG004" in page
    assert "PS-20261123-9001" not in page  # the clean one has no finding
    dashboard = await (await qa.get("/console/qa")).text()
    assert '<span class="stat__value" id="stat-sessions">3</span>' in dashboard
    assert '<span class="stat__value" id="stat-findings">12</span>' in dashboard
    # Seeding again (a restart) stores nothing twice.
    engine = make_engine(db_url)
    try:
        assert seed_sessions(engine, policy, clock.now().date()) == []
    finally:
        engine.dispose()


def test_the_examples_folder_is_the_demo_and_check_exits_1_on_it(
    policy: Policy, capsys: Any
) -> None:
    expected = example_files(policy)
    assert sorted(p.name for p in EXAMPLES.glob("*.jsonl")) == sorted(expected)
    for name, text in expected.items():
        assert (EXAMPLES / name).read_text(encoding="utf-8") == text, name
    assert cli_main(["check", str(EXAMPLES)]) == 1  # findings of severity error (SPEC §3)
    out = capsys.readouterr().out
    assert "PS-20261123-9001" not in out  # the clean one
    assert "PS-20261123-9002:7 SCR003" in out and "PS-20261123-9003:7 LNG004" in out
