"""The console says which detector layer caught a finding and how sure it is: on the
QA session page (every rule that reads text, the customer-side LNG007–LNG009 too)
and in the pre-send check's refusal of a draft."""

from __future__ import annotations

import re

from tests.console.conftest import GREETING_LISI, Console, Said, post_json, seed_session
from tests.console.test_engineer import _owned_ticket, _signed_in
from tests.console.test_qa import SATURDAY_10, _qa, _run_check


async def test_the_session_page_shows_the_layer_of_a_customer_side_finding(
    console: Console,
) -> None:
    await seed_session(
        console.services,
        "PS-20261121-0007",
        (
            Said(0, "customer", "服务器又掉盘了"),
            Said(20, "agent", GREETING_LISI),
            # A complaint in new words (sarcasm about the service), left unanswered.
            Said(40, "customer", "你们这效率我真是服了"),
            Said(60, "agent", "请提供一下工单号"),
        ),
        start=SATURDAY_10,
    )
    browser, token = await _qa(console)
    await _run_check(browser, token)
    page = await (await browser.get("/console/qa/sessions/PS-20261121-0007")).text()
    findings = re.findall(r'id="finding-\d+".*?</li>', page, re.S)
    complaint = [f for f in findings if "LNG007" in f]
    assert len(complaint) == 1
    assert re.search(r"检出：算子层 · 置信度 0\.\d\d", complaint[0])


async def test_a_refused_draft_says_which_layer_caught_it(console: Console) -> None:
    number, username = await _owned_ticket(console)
    browser, token = await _signed_in(console, username)
    base = f"/console/api/tickets/{number}"
    assert (await post_json(browser, f"{base}/accept", {}, token)).status == 200
    # Mockery with no insult word: the operator layer catches it, not a phrase.
    refused = await post_json(
        browser, f"{base}/messages", {"text": "这么简单的操作您都搞不明白吗"}, token
    )
    assert refused.status == 422
    hits = (await refused.json())["presend"]["hits"]
    assert [(h["rule"], h["layer"], h["layer_label"]) for h in hits] == [
        ("LNG002", "operator", "算子")
    ]
    assert 0 < hits[0]["confidence"] < 1


async def test_a_mark_on_a_customer_side_finding_teaches_the_customers_cue(
    console: Console,
) -> None:
    said = "呵呵，你们这速度我也是服了"
    await seed_session(
        console.services,
        "PS-20261121-0008",
        (
            Said(0, "customer", "服务器又掉盘了"),
            Said(20, "agent", GREETING_LISI),
            Said(40, "customer", said),
            Said(60, "agent", "请提供一下工单号"),
        ),
        start=SATURDAY_10,
    )
    browser, token = await _qa(console)
    await _run_check(browser, token)
    page = await (await browser.get("/console/qa/sessions/PS-20261121-0008")).text()
    marked = [
        m for m in re.findall(r'id="finding-(\d+)"(.*?)</li>', page, re.S) if "LNG007" in m[1]
    ]
    assert len(marked) == 1
    response = await browser.post(
        f"/console/qa/findings/{marked[0][0]}/review",
        data={"csrf_token": token, "verdict": "false_positive", "reason": "熟客玩笑"},
        allow_redirects=False,
    )
    assert response.status == 303
    # The exemplar is the customer's message, for the complaint detector (not the reply).
    listing = await (await browser.get("/console/qa/exemplars")).text()
    assert said in listing and "complaint" in listing and "请提供一下工单号" not in listing
    # The next run reads that message as no complaint.
    await _run_check(browser, token)
    page = await (await browser.get("/console/qa/sessions/PS-20261121-0008")).text()
    again = re.findall(r'id="finding-\d+".*?</li>', page, re.S)
    assert not [f for f in again if "LNG007" in f]
