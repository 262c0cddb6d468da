"""After the chat in the console: the warranty panel of the ticket page and the steps it
drives (warranty, quote and confirmation, repair, replacement unit, contract), posted
through the console's API exactly as the page's forms do."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from tests.console.conftest import Console, csrf_of, post_json


async def _owned(console: Console) -> tuple[str, TestClient[Any, Any], str]:
    number = await console.customer_says("服务器开不了机了")
    owner = (await console.services.views.ticket(number))["engineer"]["staff_no"]
    browser = await console.sign_in({"1818": "zhangsan", "2046": "lisi"}[owner])
    token = await csrf_of(browser, "/console/queue")
    return number, browser, token


async def _panel(browser: TestClient[Any, Any], number: str) -> str:
    page = await (await browser.get(f"/console/tickets/{number}")).text()
    panel = re.search(
        r'<section class="card" aria-labelledby="warranty-title".*?</section>', page, re.S
    )
    assert panel is not None, "the ticket page has the warranty panel"
    return panel.group(0)


async def test_the_panel_explains_the_decision(console: Console) -> None:
    number, browser, token = await _owned(console)
    assert "尚未判定保修" in await _panel(browser, number)
    base = f"/console/api/tickets/{number}"
    decided = await post_json(
        browser,
        f"{base}/warranty",
        {
            "signed_for": "2026-08-31",
            "serial_no": "SN-77",
            "model": "PS-R740",
            "proof_reference": "INV-20260831",
        },
        token,
    )
    assert decided.status == 200, await decided.text()
    assert (await decided.json())["sent"][0]["prompted_by"] == "warranty_outcome"
    panel = await _panel(browser, number)
    assert "3个月内换新" in panel and "免费" in panel
    assert "SN-77" in panel and "PS-R740" in panel and "发票号或订单号 INV-20260831" in panel
    assert "自签收次日起3个月内（至2026-11-30）" in panel
    current = re.search(r'<tr class="is-current"><td>([^<]*)</td><td>([^<]*)</td>', panel)
    assert current is not None and current.groups() == ("3个月内换新", "2026-11-30")
    # No internal field names on the page.
    assert "replace_new" not in panel and "proof_reference" not in panel
    # The page's live poll brings the panel as it stands now.
    live = await (await browser.get(f"{base}/live?after=0")).json()
    assert 'id="warranty-panel"' in live["warranty_html"]
    assert "3个月内换新" in live["warranty_html"]


async def test_paid_repair_through_the_console_waits_for_the_customer(console: Console) -> None:
    number, browser, token = await _owned(console)
    base = f"/console/api/tickets/{number}"
    page = await (await browser.get(f"/console/tickets/{number}")).text()
    for action in ("contract", "quote", "quote-confirmation", "repair", "loaner"):
        assert f'data-action="{action}"' in page, action
    assert (await post_json(browser, f"{base}/accept", {}, token)).status == 200
    assert (await post_json(browser, f"{base}/warranty", {}, token)).status == 200
    panel = await _panel(browser, number)
    assert "有偿维修" in panel and "未提供（按非保修期范围处理）" in panel
    assert "有偿维修须先向客户报价" in panel
    refused = await post_json(browser, f"{base}/repair", {"action": "start"}, token)
    assert refused.status == 409 and (await refused.json())["error"] == "quote_not_confirmed"

    quoted = await post_json(
        browser, f"{base}/quote", {"amount": 880, "items": "硬盘 1 块\n检测费"}, token
    )
    assert quoted.status == 200, await quoted.text()
    panel = await _panel(browser, number)
    assert "合计 880.00元：硬盘 1 块；检测费" in panel and "等待客户确认" in panel

    await console.customer_says("可以，按报价修吧")
    detail = await console.services.views.ticket(number)
    agreed = max(m["id"] for m in detail["messages"] if m["role"] == "customer")
    assert f"消息 {agreed}" in await _panel(browser, number)
    confirmed = await post_json(
        browser, f"{base}/quote-confirmation", {"message_id": str(agreed)}, token
    )
    assert confirmed.status == 200, await confirmed.text()
    started = await post_json(
        browser, f"{base}/repair", {"action": "start", "path": "factory"}, token
    )
    assert started.status == 200, await started.text()
    sent = await post_json(
        browser, f"{base}/loaner", {"action": "sent", "serial_no": "LOAN-3"}, token
    )
    assert sent.status == 200
    panel = await _panel(browser, number)
    assert "客户已确认" in panel
    assert "返厂维修" in panel and "时限 2026-12-04 至 2026-12-10" in panel and "进行中" in panel
    assert "LOAN-3" in panel and "在客户处，待换回" in panel
    assert (
        "进度更新将告知客户：设备已返厂维修，预计12月4日（周五）至12月10日（周四）之间修复返回"
        in panel
    )
    assert "备用机已在您处使用" in panel


async def test_a_contract_shows_on_the_panel(console: Console) -> None:
    number, browser, token = await _owned(console)
    recorded = await post_json(
        browser,
        f"/console/api/tickets/{number}/contract",
        {"number": "HT-9", "parts": "硬盘，电源", "signed_on": "2026-01-10", "term_months": 12},
        token,
    )
    assert recorded.status == 200, await recorded.text()
    panel = await _panel(browser, number)
    assert "HT-9：硬盘、电源，12 个月（签订 2026-01-10，至 2027-01-10）" in panel
