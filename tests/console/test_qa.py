"""The QA view: run a check over stored sessions, read findings, mark a false positive,
export what is on screen."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from openpyxl import load_workbook
from sqlalchemy import select

from compliance.policy import load_policy
from storage.models import CheckRun, Exemplar, Polarity, QaReview, Verdict
from storage.models import Finding as FindingRow
from tests.console.conftest import (
    FALSE_POSITIVE_SESSION,
    GREETING_LISI,
    MONDAY_10,
    RESPONSIBILITY,
    THANKS,
    Console,
    Said,
    csrf_of,
    seed_session,
)

SATURDAY_10 = MONDAY_10 - timedelta(days=2)
PERIOD = {"since": "2026-11-01", "until": "2026-11-30"}
CLEAN_SESSION = (
    Said(0, "customer", "服务器风扇声音很大"),
    Said(20, "agent", GREETING_LISI),
    Said(50, "agent", "请您发一下风扇转速的截图，我帮您看看"),
    Said(120, "customer", "已经发了"),
    Said(150, "agent", "风扇策略是性能模式，改成均衡模式即可"),
    Said(400, "customer", "改好了，声音小了，谢谢"),
    Said(420, "agent", THANKS),
    Said(430, "agent", RESPONSIBILITY),
)


async def _qa(console: Console) -> tuple[TestClient[Any, Any], str]:
    browser = await console.sign_in("qa")
    return browser, await csrf_of(browser, "/console/qa")


async def _run_check(browser: TestClient[Any, Any], token: str) -> None:
    response = await browser.post(
        "/console/qa/run", data={"csrf_token": token, **PERIOD}, allow_redirects=False
    )
    assert response.status == 303
    assert "notice=check_done" in response.headers["Location"]


async def _seed(console: Console) -> None:
    await seed_session(console.services, "PS-20261121-0001", CLEAN_SESSION, start=SATURDAY_10)
    await seed_session(
        console.services,
        "PS-20261121-0002",
        FALSE_POSITIVE_SESSION,
        start=SATURDAY_10 + timedelta(hours=1),
    )


async def test_run_check_then_dashboard_and_findings(console: Console) -> None:
    await _seed(console)
    browser, token = await _qa(console)
    before = await (await browser.get("/console/qa", params=PERIOD)).text()
    assert re.search(r'id="stat-sessions">0<', before)
    assert "还有 <strong>2</strong> 个会话未检查" in before

    await _run_check(browser, token)
    async with console.services.sessionmaker() as db:
        run = await db.scalar(select(CheckRun).order_by(CheckRun.id.desc()))
        assert run is not None
        assert sorted(run.parameters["sessions"]) == ["PS-20261121-0001", "PS-20261121-0002"]
        assert run.parameters["by"] == "赵质检（qa）"
        rows = (await db.scalars(select(FindingRow))).all()
    assert [(r.session, r.rule, r.evidence) for r in rows] == [
        ("PS-20261121-0002", "LNG002", "垃圾")
    ]

    page = await (await browser.get("/console/qa", params=PERIOD)).text()
    assert re.search(r'id="stat-sessions">2<', page)
    assert re.search(r'id="stat-findings">1<', page)
    assert "LNG002" in page and "<svg" in page and "按日期统计的问题数" in page

    clean = await (await browser.get("/console/qa/sessions/PS-20261121-0001")).text()
    assert 'id="session-clean"' in clean and re.search(r'id="session-score">100<', clean)

    listing = await (
        await browser.get("/console/qa/findings", params={**PERIOD, "code": "LNG"})
    ).text()
    assert "PS-20261121-0002" in listing and "<mark>垃圾</mark>" in listing
    none = await (
        await browser.get("/console/qa/findings", params={**PERIOD, "code": "SCR"})
    ).text()
    assert "没有符合条件的问题" in none


async def test_false_positive_is_kept_excluded_from_scores_and_listed_per_phrase(
    console: Console,
) -> None:
    await _seed(console)
    browser, token = await _qa(console)
    await _run_check(browser, token)
    session = await (await browser.get("/console/qa/sessions/PS-20261121-0002")).text()
    assert "<mark>垃圾</mark>" in session
    assert re.search(r'id="session-score">(\d+)<', session).group(1) != "100"  # type: ignore[union-attr]
    finding_id = re.search(r'id="finding-(\d+)"', session)
    assert finding_id is not None

    refused = await browser.post(
        f"/console/qa/findings/{finding_id.group(1)}/review",
        data={"csrf_token": token, "verdict": "false_positive", "reason": ""},
    )
    assert refused.status == 400
    marked = await browser.post(
        f"/console/qa/findings/{finding_id.group(1)}/review",
        data={
            "csrf_token": token,
            "verdict": "false_positive",
            "reason": "说的是散热设计，不是客户",
            "back": "/console/qa/sessions/PS-20261121-0002",
        },
        allow_redirects=False,
    )
    assert marked.status == 303
    async with console.services.sessionmaker() as db:
        review = await db.scalar(select(QaReview))
        assert review is not None
        assert review.verdict is Verdict.FALSE_POSITIVE
        assert review.reason == "说的是散热设计，不是客户"
        assert review.reviewer == "赵质检（qa）"

    session = await (await browser.get("/console/qa/sessions/PS-20261121-0002")).text()
    assert re.search(r'id="session-score">100<', session)
    assert "已标记误报" in session and "撤销误报" in session
    dashboard = await (await browser.get("/console/qa", params=PERIOD)).text()
    assert re.search(r'id="stat-findings">0<', dashboard)
    per_phrase = await (await browser.get("/console/qa/false-positives")).text()
    assert "<mark>垃圾</mark>" in per_phrase and "说的是散热设计" in per_phrase

    # A second run keeps the verdict: the same finding is recognised by its key.
    await _run_check(browser, token)
    dashboard = await (await browser.get("/console/qa", params=PERIOD)).text()
    assert re.search(r'id="stat-findings">0<', dashboard)

    # The mark taught the detector: the line is a negative exemplar now.
    async with console.services.sessionmaker() as db:
        (exemplar,) = (await db.scalars(select(Exemplar))).all()
        assert (exemplar.detector, exemplar.polarity, exemplar.active) == (
            "abuse",
            Polarity.NEGATIVE,
            True,
        )
        assert exemplar.text == "这台服务器原装的散热设计确实太垃圾了，建议加装一个风扇"

    undone = await browser.post(
        f"/console/qa/findings/{finding_id.group(1)}/review",
        data={"csrf_token": token, "verdict": "confirmed"},
        allow_redirects=False,
    )
    assert undone.status == 303
    assert "notice=fp_removed" in undone.headers["Location"]
    # Undoing retires the negative exemplar for a positive one; the next run finds it.
    async with console.services.sessionmaker() as db:
        exemplars = (await db.scalars(select(Exemplar).order_by(Exemplar.id))).all()
    assert [(e.polarity, e.active) for e in exemplars] == [
        (Polarity.NEGATIVE, False),
        (Polarity.POSITIVE, True),
    ]
    await _run_check(browser, token)
    dashboard = await (await browser.get("/console/qa", params=PERIOD)).text()
    assert re.search(r'id="stat-findings">1<', dashboard)


async def test_exports_hold_what_is_on_screen(console: Console) -> None:
    await _seed(console)
    browser, token = await _qa(console)
    await _run_check(browser, token)
    xlsx = await browser.get("/console/qa/export.xlsx", params={**PERIOD, "code": "LNG"})
    assert xlsx.status == 200
    assert "attachment" in xlsx.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(await xlsx.read()))
    sheet = book["问题明细"]
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert any("LNG002" in row and "PS-20261121-0002" in row for row in values)
    assert not any("PS-20261121-0001" in row for row in values[1:])

    html = await browser.get("/console/qa/export.html", params=PERIOD)
    assert html.status == 200
    text = await html.text()
    assert re.search(r"<mark[^>]*>垃圾</mark>", text)

    empty = await browser.get("/console/qa/export.xlsx", params={**PERIOD, "code": "SCR"})
    rows = list(load_workbook(io.BytesIO(await empty.read()))["问题明细"].iter_rows())
    assert not any("LNG002" in [c.value for c in row] for row in rows)


async def test_confirmed_findings_teach_the_detector_and_export_as_policy(
    console: Console, tmp_path: Path
) -> None:
    await seed_session(
        console.services,
        "PS-20261121-0003",
        (
            Said(0, "customer", "重启了还是不行"),
            Said(20, "agent", GREETING_LISI),
            Said(40, "agent", "这么简单的操作您都搞不明白吗"),
            Said(60, "customer", "……"),
        ),
        start=SATURDAY_10,
    )
    browser, token = await _qa(console)
    await _run_check(browser, token)
    page = await (await browser.get("/console/qa/sessions/PS-20261121-0003")).text()
    # The session page says which layer caught the finding and how sure it is.
    assert re.search(r"检出：算子层 · 置信度 0\.\d\d", page)
    finding_id = re.search(r'id="finding-(\d+)"', page)
    assert finding_id is not None and "确认违规" in page
    confirmed = await browser.post(
        f"/console/qa/findings/{finding_id.group(1)}/review",
        data={"csrf_token": token, "verdict": "confirmed", "confirm": "1", "reason": "挖苦客户"},
        allow_redirects=False,
    )
    assert "notice=confirmed_saved" in confirmed.headers["Location"]

    listing = await (await browser.get("/console/qa/exemplars")).text()
    assert "这么简单的操作您都搞不明白吗" in listing and "范例（违规）" in listing
    exported = await browser.get("/console/qa/exemplars.toml")
    assert exported.status == 200
    body = await exported.text()
    assert "[detectors.abuse.similarity]" in body and '"这么简单的操作您都搞不明白吗",' in body
    path = tmp_path / "exemplars.toml"
    path.write_text(body, encoding="utf-8")
    taught = load_policy(path)
    assert "这么简单的操作您都搞不明白吗" in taught.detectors["abuse"].similarity.exemplars
    # The policy's own exemplars stay (an extending file's lists replace the base's).
    base = load_policy().detectors["abuse"].similarity.exemplars
    assert set(base) <= set(taught.detectors["abuse"].similarity.exemplars)
