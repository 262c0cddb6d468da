"""The on-call duty page and the ticket page's seed-002 / on-call panels, in the console."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from aiohttp.test_utils import TestClient

from bot.app import create_app
from bot.channels import web as web_channel
from compliance.calendar import SHANGHAI
from compliance.policy import load_policy
from tests.console.conftest import (
    FORM_TOKEN,
    Console,
    _ConsolePages,
    csrf_of,
    make_settings,
    post_json,
)

SUNDAY_11 = datetime(2026, 11, 22, 11, 0, tzinfo=SHANGHAI)


async def _form_token(browser: TestClient[Any, Any], path: str) -> str:
    match = FORM_TOKEN.search(await (await browser.get(path)).text())
    assert match is not None
    return match.group(1)


async def test_the_manager_sets_the_rota_and_the_engineer_hands_over(console: Console) -> None:
    manager = await console.sign_in("manager")
    page = await (await manager.get("/console/duty?month=2026-11")).text()
    assert 'href="/console/duty"' in page and "值班表" in page and "未排班" in page
    token = await _form_token(manager, "/console/duty?month=2026-11")
    saved = await manager.post(
        "/console/duty/rota",
        data={"csrf_token": token, "month": "2026-11", "staff_no": "2046", "note": "十一月"},
        allow_redirects=False,
    )
    assert saved.status == 303
    assert saved.headers["Location"] == "/console/duty?month=2026-11&notice=rota_saved"
    bad = await manager.post(
        "/console/duty/rota",
        data={"csrf_token": token, "month": "2026-11", "staff_no": "7001"},
    )
    assert bad.status == 400 and "不是运维工程师" in await bad.text()
    # An engineer reads the rota but may not change it.
    engineer = await console.sign_in("zhangsan")
    page = await (await engineer.get("/console/duty?month=2026-11")).text()
    assert "李四（工号 2046）" in page and 'id="rota-form"' not in page
    assert 'id="handover-form"' not in page  # 1818 is not on duty in November
    refused = await engineer.post(
        "/console/duty/rota",
        data={
            "csrf_token": await _form_token(engineer, "/console/duty"),
            "month": "2026-11",
            "staff_no": "1818",
        },
    )
    assert refused.status == 403

    # A Sunday ticket goes to 李四, who records a call and hands the month over.
    console.clock.set(SUNDAY_11)
    number = await console.customer_says("服务器开不了机了")
    lisi = await console.sign_in("lisi")
    token = await csrf_of(lisi, f"/console/tickets/{number}")
    page = await (await lisi.get(f"/console/tickets/{number}")).text()
    assert "休息日工单，已转2026-11值班工程师（工号 2046）" in page
    assert 'data-action="contact"' in page and 'data-action="fault-level"' in page
    recorded = await post_json(
        lisi,
        f"/console/api/tickets/{number}/contact",
        {"kind": "call", "duration_min": 15, "result": "电话指导客户更换电源线"},
        token,
    )
    assert recorded.status == 200, await recorded.text()
    page = await (await lisi.get(f"/console/tickets/{number}")).text()
    contacts = re.search(r'id="ticket-duty".*?</section>', page, re.S)
    assert contacts is not None
    assert "电话（值班）" in contacts.group(0) and "15分钟" in contacts.group(0)
    assert "电话指导客户更换电源线" in contacts.group(0)

    duty = await (await lisi.get("/console/duty?month=2026-11")).text()
    assert "电话 1 通，通话时长 15分钟" in duty
    assert number in duty and "待继续跟踪" in duty
    alerts = re.search(r'id="duty-alerts".*?</ul>', duty, re.S)
    assert alerts is not None and "工单已转值班工程师（通知工号 9001）" in alerts.group(0)
    handed = await lisi.post(
        "/console/duty/handover",
        data={
            "csrf_token": await _form_token(lisi, "/console/duty?month=2026-11"),
            "month": "2026-11",
            "notes": "电源待返修",
        },
        allow_redirects=False,
    )
    assert handed.status == 303
    done = await (await lisi.get("/console/duty?month=2026-11&notice=handover_saved")).text()
    assert "值班记录已提交" in done and 'id="handover-done"' in done and "电源待返修" in done


async def test_the_ticket_page_shows_the_level_and_the_engineer_changes_it(
    console: Console,
) -> None:
    number = await console.customer_says("服务器开不了机了")
    detail = await console.services.views.ticket(number)
    username = {"1818": "zhangsan", "2046": "lisi"}[detail["engineer"]["staff_no"]]
    browser = await console.sign_in(username)
    token = await csrf_of(browser, f"/console/tickets/{number}")
    page = await (await browser.get(f"/console/tickets/{number}")).text()
    panel = re.search(r'id="ticket-levels".*?</section>', page, re.S)
    assert panel is not None and "一级故障" in panel.group(0)
    form = re.search(r'data-action="fault-level".*?</form>', page, re.S)
    assert form is not None and '<option value="L3">三级故障</option>' in form.group(0)
    base = f"/console/api/tickets/{number}"
    assert (await post_json(browser, f"{base}/accept", {}, token)).status == 200
    missing = await post_json(browser, f"{base}/fault-level", {"level": "L3"}, token)
    assert missing.status == 400 and (await missing.json())["field"] == "reason"
    changed = await post_json(
        browser, f"{base}/fault-level", {"level": "L3", "reason": "只是变慢"}, token
    )
    assert changed.status == 200, await changed.text()
    page = await (await browser.get(f"/console/tickets/{number}")).text()
    panel = re.search(r'id="ticket-levels".*?</section>', page, re.S)
    assert panel is not None
    assert "三级故障" in panel.group(0)
    assert "将故障等级由一级故障调整为三级故障：只是变慢" in panel.group(0)
    # A complaint registered by phone shows as being handled.
    opened = await post_json(
        browser, f"{base}/complaint", {"action": "open", "note": "电话投诉响应慢"}, token
    )
    assert opened.status == 200
    page = await (await browser.get(f"/console/tickets/{number}")).text()
    panel = re.search(r'id="ticket-levels".*?</section>', page, re.S)
    assert panel is not None and "处理中" in panel.group(0) and "电话投诉响应慢" in panel.group(0)


async def test_under_seed002_the_panel_shows_the_level_clock_and_the_complaint_clocks(
    aiohttp_client: Any, aiohttp_server: Any, db_url: str, clock: Any
) -> None:
    settings = make_settings(load_policy("seed002"), db_url, clock)
    app = create_app(settings, channel_modules=[web_channel], page_modules=[_ConsolePages()])
    server = await aiohttp_server(app)
    seed = Console(server, await aiohttp_client(server), clock, aiohttp_client)
    number = await seed.customer_says("服务器开不了机了")
    await seed.customer_says("我要投诉，一直没人处理")
    manager = await seed.sign_in("manager")
    page = await (await manager.get(f"/console/tickets/{number}")).text()
    panel = re.search(r'id="ticket-levels".*?</section>', page, re.S)
    assert panel is not None
    text = panel.group(0)
    assert "一级故障" in text and "响应时限</dt><dd>30分钟，截止 11-23 10:30" in text
    assert "远程响应时限</dt><dd>30分钟</dd>" in text
    assert "处理中，首次回复截止 11-23 12:00" in text and "处理完毕截止 12-08 10:00" in text
    assert "首次回复 2小时，15 天内处理完毕" in text
