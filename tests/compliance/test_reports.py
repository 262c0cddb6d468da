"""Report writers and PII masking, on hand-made sessions and findings.

Each format is rendered from the same two sessions and read back: the JSON
parsed, the CSV through the csv module, the XLSX loaded with openpyxl, the HTML
searched for the marked span and for anything that would load from outside.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import openpyxl
import orjson
import pytest

from compliance.masking import erase_pii, mask_finding, mask_json, mask_pii
from compliance.model import Finding, Line, Session
from compliance.policy import Policy, load_policy
from compliance.reports import make_writer
from compliance.reports.csv import CSV_HEADERS
from compliance.reports.html import mark_segments
from compliance.reports.json import JsonReport, encode_session
from compliance.reports.summary import ReportedSession, RunInfo, Summary, SummaryBuilder
from compliance.reports.xlsx import ENGINEER_HEADERS, FINDING_HEADERS
from compliance.scoring import finding_key, score_session

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 23, 9, 31, tzinfo=CST)

# ---------------------------------------------------------------- masking --


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("我的电话13812345678", "我的电话138****5678"),
        ("手机 138 1234 5678 谢谢", "手机 138 **** 5678 谢谢"),
        ("+86-139-1234-5678", "+86-139-****-5678"),
        ("１３８１２３４５６７８", "１３８****５６７８"),
        ("身份证11010519491231002X", "身份证**************002X"),
        ("身份证110105194912310021号", "身份证**************0021号"),
        ("旧身份证110105491231002", "旧身份证***********1002"),
        ("座机010-12345678转8", "座机010-****5678转8"),
        ("0755 8765 4321", "0755 **** 4321"),
        ("(021)87654321", "(021)****4321"),
        ("电话138.1234.5678。", "电话138.****.5678。"),
        ("１３８．１２３４．５６７８", "１３８．****．５６７８"),
        ("1 3 8 1 2 3 4 5 6 7 8", "1 3 8 * * * * 5 6 7 8"),
        ("sfz110105194912310021", "sfz**************0021"),
        ("ID11010519491231002Xok", "ID**************002Xok"),
    ],
)
def test_personal_numbers_are_masked(text: str, masked: str) -> None:
    assert mask_pii(text) == masked
    assert len(mask_pii(text)) == len(text)  # spans stay valid


@pytest.mark.parametrize(
    "text",
    [
        "工号1818，很高兴为您服务",
        "热线400-820-1234",
        "订单号2013812345678901",  # 16 digits: an order number, not a phone
        "序列号SN13812345678",
        "时间2026-11-23 09:31",
        "12345678",
        "SN2026112300012345678",  # letters, then no birth date: a serial number
        "版本1.3.8",
    ],
)
def test_other_numbers_are_left_alone(text: str) -> None:
    assert mask_pii(text) is text


def test_mask_finding_masks_message_evidence_and_suggestion() -> None:
    finding = Finding(
        session="S",
        rule="LNG006",
        severity="warning",
        message="客服说：“你打13812345678”",
        evidence="你打13812345678",
        suggestion="您打13812345678",
    )
    masked = mask_finding(finding)
    assert masked.message == "客服说：“你打138****5678”"
    assert masked.evidence == "你打138****5678"
    assert masked.suggestion == "您打138****5678"
    clean = Finding(session="S", rule="SCR001", severity="error", message="没有问候")
    assert mask_finding(clean) is clean


def test_a_session_id_that_is_a_phone_number_is_masked() -> None:
    finding = Finding(session="13812345678", rule="SCR001", severity="error", message="没有问候")
    assert mask_finding(finding).session == "138****5678"


def test_erasing_stars_every_digit_and_the_names() -> None:
    text = "张总您好，电话 138-1234-5678，身份证11010519491231002X，王小明收"
    erased = erase_pii(text, ("王小明", "张总", "张"))
    assert erased == "**您好，电话 ***-****-****，身份证******************，***收"
    assert mask_json({"note": ["打13812345678"], "n": 3}) == {"note": ["打***********"], "n": 3}


# ------------------------------------------------------------- fixtures --


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy()


def _line(session: str, index: int, seconds: int, role: str, **kw: object) -> Line:
    ts = T0 + timedelta(seconds=seconds)
    return Line(session=session, index=index, ts=ts, role=role, channel="wechat", **kw)  # type: ignore[arg-type]


AGENT_TEXT = "麻烦你打开向日葵，手机13812345678"


def _sessions() -> list[Session]:
    s1 = Session(
        id="S1",
        channel="wechat",
        lines=(
            _line("S1", 0, 0, "customer", sender="oC1", text="服务器开不了机，我电话13912345678"),
            _line("S1", 1, 20, "agent", sender="1818", name="张三", text="<b>您好</b>"),
            _line("S1", 2, 60, "agent", sender="1818", text=AGENT_TEXT),
            _line("S1", 3, 120, "event", sender="1818", event="satisfaction_rated", rating="一般"),
        ),
        names={"1818": "张三"},
    )
    s2 = Session(
        id="S2",
        channel="web",
        lines=(
            _line("S2", 0, 86400, "customer", sender="v1", text="在吗"),
            _line("S2", 1, 86410, "agent", sender="2046", text="您好，请讲"),
        ),
    )
    return [s1, s2]


def _findings() -> dict[str, list[Finding]]:
    ts = T0 + timedelta(seconds=60)
    return {
        "S1": [
            Finding(
                session="S1",
                rule="LNG006",
                severity="warning",
                message="称呼客户用了“你”",
                ts=ts,
                index=2,
                agent="1818",
                evidence="你",
                span=(2, 3),
                source="forbidden.informal_address",
                suggestion="麻烦您打开向日葵，手机13812345678",
            ),
            Finding(
                session="S1",
                rule="SCR003",
                severity="error",
                message="远程登录（推断）之前没有提示备份",
                ts=ts,
                index=2,
                agent="1818",
                evidence="向日葵",
                span=(5, 8),
                inferred=True,
                suggestion="请您确认下服务器内的数据是否均有备份",
            ),
            Finding(
                session="S1",
                rule="SCR004",
                severity="error",
                message="问题已解决，之后没有感谢语",
                index=None,
                agent=None,
            ),
        ],
        "S2": [],
    }


def _render(
    policy: Policy,
    fmt: str,
    *,
    false_positive: set[tuple[str, str, int | None, str | None]] | None = None,
    input_errors: tuple[str, ...] = (),
    path: Path | None = None,
) -> tuple[str, Summary]:
    run = RunInfo(
        policy=policy,
        sources=("a.jsonl",),
        input_errors=input_errors,
        rules=("LNG006", "SCR003", "SCR004"),
        started_at=datetime(2026, 11, 24, 8, 0, tzinfo=CST),
    )
    stream = io.StringIO()
    writer = make_writer(fmt, stream=stream, path=path)
    builder = SummaryBuilder(run)
    fps = false_positive or set()
    findings = _findings()
    writer.begin(run)
    for session in _sessions():
        raw = findings[session.id]
        reported = ReportedSession(
            session=session,
            findings=tuple(mask_finding(f) for f in raw),
            false_positive=tuple(finding_key(f) in fps for f in raw),
            score=score_session(session, raw, policy, false_positives=fps),
        )
        builder.add(reported)
        writer.session(reported)
    summary = builder.build()
    writer.finish(summary)
    return stream.getvalue(), summary


# ----------------------------------------------------------------- json --


def test_json_report_is_one_object_with_findings_and_summary(policy: Policy) -> None:
    text, _summary = _render(policy, "json")
    report = json.loads(text)
    assert set(report) == {"findings", "summary"}
    first = report["findings"][0]
    assert first == {
        "session": "S1",
        "rule": "LNG006",
        "rule_name": "informal-address",
        "severity": "warning",
        "ts": "2026-11-23T09:32:00+08:00",
        "index": 2,
        "agent": "1818",
        "message": "称呼客户用了“你”",
        "evidence": "你",
        "span": [2, 3],
        "source": "forbidden.informal_address",
        "score": None,
        "suggestion": "麻烦您打开向日葵，手机138****5678",
        "inferred": False,
        "layer": None,
        "confidence": None,
        "false_positive": False,
    }
    assert [(f["rule"], f["index"]) for f in report["findings"]] == [
        ("LNG006", 2),
        ("SCR003", 2),
        ("SCR004", None),
    ]
    summary = report["summary"]
    assert summary["complete"] is True
    assert summary["input_errors"] == []
    assert summary["policy"] == "朴赛售后服务标准"
    assert summary["sessions"] == 2
    assert summary["sessions_with_findings"] == 1
    assert summary["findings"] == 3
    assert summary["by_severity"] == {"error": 2, "warning": 1, "info": 0}
    assert summary["by_rule"] == [
        {"code": "LNG006", "name": "informal-address", "severity": "warning", "count": 1},
        {"code": "SCR003", "name": "backup-warning-missing", "severity": "error", "count": 1},
        {"code": "SCR004", "name": "thanks-missing", "severity": "error", "count": 1},
    ]
    assert summary["by_day"] == [{"date": "2026-11-23", "count": 3}]
    # S1: 100 - 3 - 10 - 10 = 77; S2: 100.
    assert [(s["session"], s["score"], s["agent"], s["rating"]) for s in summary["scores"]] == [
        ("S1", 77, "1818", "一般"),
        ("S2", 100, "2046", None),
    ]
    assert summary["average_score"] == 88.5
    assert summary["by_engineer"] == [
        {
            "agent": "1818",
            "name": "张三",
            "sessions": 1,
            "average_score": 77.0,
            "findings": 3,
            "by_severity": {"error": 2, "warning": 1, "info": 0},
            "satisfaction_average": 2.0,
            "rated": 1,
        },
        {
            "agent": "2046",
            "name": "李四",  # from the policy roster: the transcript gave no name
            "sessions": 1,
            "average_score": 100.0,
            "findings": 0,
            "by_severity": {"error": 0, "warning": 0, "info": 0},
            "satisfaction_average": None,
            "rated": 0,
        },
    ]
    assert summary["engineer_months"][0] == {
        "agent": "1818",
        "name": "张三",
        "month": "2026-11",
        "sessions": 1,
        "average_score": 77.0,
        "findings_by_code": {"LNG006": 1, "SCR003": 1, "SCR004": 1},
        "findings_by_severity": {"error": 2, "warning": 1, "info": 0},
        "satisfaction_average": 2.0,
        "rated": 1,
    }


def test_json_incomplete_and_false_positives(policy: Policy) -> None:
    wrong = _findings()["S1"][1]
    text, summary = _render(
        policy, "json", false_positive={finding_key(wrong)}, input_errors=("b.jsonl:3: not JSON",)
    )
    report = json.loads(text)
    assert report["summary"]["complete"] is False
    assert report["summary"]["input_errors"] == ["b.jsonl:3: not JSON"]
    assert [f["false_positive"] for f in report["findings"]] == [False, True, False]
    # The false positive is listed but neither counted nor scored: 100 - 3 - 10.
    assert report["summary"]["findings"] == 2
    assert report["summary"]["false_positives"] == 1
    assert report["summary"]["scores"][0]["score"] == 87
    assert summary.errors == 1


def test_json_summary_with_scores_encoded_on_the_way_is_the_summary_encoded_whole(
    policy: Policy,
) -> None:
    text, summary = _render(policy, "json")
    written = text[text.index('"summary":') + len('"summary":') : text.rindex("}")]
    assert written == orjson.dumps(summary.to_dict()).decode("utf-8")
    assert json.loads(written)["scores"] == summary.to_dict()["scores"]
    assert len(summary.to_dict()["scores"]) == 2


def test_summary_parts_merged_give_the_summary_of_one_builder(policy: Policy) -> None:
    # Worker processes count the summary of their own sessions; merged in the
    # parent, the result is what one builder fed every session in order gives.
    run = RunInfo(policy=policy, sources=("a.jsonl",))
    findings = _findings()
    s1, s2 = _sessions()
    # The same 工号 named differently in a later session: the first name seen wins.
    s3 = Session(
        id="S3",
        channel="web",
        lines=(
            _line("S3", 0, 90000, "customer", sender="v2", text="在吗"),
            _line("S3", 1, 90010, "agent", sender="1818", name="张叁", text="您好"),
        ),
        names={"1818": "张叁"},
    )
    findings["S3"] = []
    ordered = [s1, s2, s3]

    def reported(session: Session) -> ReportedSession:
        raw = findings[session.id]
        return ReportedSession(
            session=session,
            findings=tuple(raw),
            false_positive=(False,) * len(raw),
            score=score_session(session, raw, policy),
        )

    whole = SummaryBuilder(run)
    for session in ordered:
        whole.add(reported(session))
    # Part one has sessions 1 and 2 (reading positions 1, 2), part two session 0.
    late, early = SummaryBuilder(run), SummaryBuilder(run)
    late.add(reported(s2), 1)
    late.add(reported(s3), 2)
    early.add(reported(s1), 0)
    expected = whole.build()
    for parts in ((late, early), (early, late)):  # workers finish in any order
        merged = SummaryBuilder(run)
        for part in parts:
            merged.merge(part.part())
        got = merged.build()
        assert got.to_dict() == expected.to_dict()
        assert [s.session for s in got.scores] == ["S1", "S2", "S3"]
        assert [(e.engineer, e.name) for e in got.engineers] == [
            ("1818", "张三"),
            ("2046", "李四"),
        ]
    # Workers that encode each session for the JSON report, its score included,
    # count it without keeping the score: the merged summary has everything else,
    # and the report written from the encoded sessions is the whole run's.
    late, early = SummaryBuilder(run), SummaryBuilder(run)
    late.add(reported(s2), 1, keep_score=False)
    late.add(reported(s3), 2, keep_score=False)
    early.add(reported(s1), 0, keep_score=False)
    merged = SummaryBuilder(run)
    merged.merge(late.part())
    merged.merge(early.part())
    counted = merged.build()
    assert counted.scores == ()
    assert counted.to_dict(scores=False) == expected.to_dict(scores=False)
    reports = []
    for summary, encoded in ((expected, False), (counted, True)):
        stream = io.StringIO()
        writer = JsonReport(stream)
        writer.begin(run)
        for session in ordered:
            if encoded:
                writer.session_encoded(encode_session(reported(session)))
            else:
                writer.session(reported(session))
        writer.finish(summary)
        reports.append(stream.getvalue())
    assert reports[0] == reports[1]
    assert [s["session"] for s in json.loads(reports[1])["summary"]["scores"]] == [
        "S1",
        "S2",
        "S3",
    ]


def test_json_with_no_findings_is_valid(policy: Policy) -> None:
    run = RunInfo(policy=policy, sources=())
    stream = io.StringIO()
    writer = make_writer("json", stream=stream)
    writer.begin(run)
    writer.finish(SummaryBuilder(run).build())
    report = json.loads(stream.getvalue())
    assert report["findings"] == []
    assert report["summary"]["sessions"] == 0
    assert report["summary"]["average_score"] is None


# ----------------------------------------------------------------- text --


def test_text_report_lines_and_summary(policy: Policy) -> None:
    text, _summary = _render(policy, "text")
    lines = text.splitlines()
    assert lines[:3] == [
        "S1:3 LNG006 称呼客户用了“你”",
        "S1:3 SCR003 远程登录（推断）之前没有提示备份",
        "S1:- SCR004 问题已解决，之后没有感谢语",
    ]
    assert "\x1b[" not in text
    assert "问题 3 条：错误 2 · 警告 1 · 提示 0" in lines
    assert "平均得分 88.5" in lines
    assert any(line.startswith("  张三（1818）  会话 1  平均分 77.0") for line in lines)
    assert "报告不完整" not in text


def test_text_report_colour_and_incomplete_banner(policy: Policy) -> None:
    run = RunInfo(policy=policy, sources=(), input_errors=("b.jsonl:3: not valid JSON",))
    stream = io.StringIO()
    writer = make_writer("text", stream=stream, color=True)
    writer.begin(run)
    session = _sessions()[0]
    raw = _findings()["S1"]
    writer.session(
        ReportedSession(session, tuple(raw), (False,) * 3, score_session(session, raw, policy))
    )
    writer.finish(SummaryBuilder(run).build())
    text = stream.getvalue()
    lines = text.splitlines()
    assert "报告不完整：有 1 行输入无法读取" in lines[0]
    assert lines[1] == "  b.jsonl:3: not valid JSON"
    assert "\x1b[33mLNG006\x1b[0m" in text  # warnings yellow
    assert "\x1b[31mSCR003\x1b[0m" in text  # errors red
    assert "报告不完整" in lines[-2]  # and again at the end


# ------------------------------------------------------------------ csv --


def test_csv_has_bom_chinese_headers_and_one_row_per_finding(policy: Policy) -> None:
    text, _summary = _render(policy, "csv")
    assert text.startswith("\ufeff会话,规则,")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert tuple(rows[0]) == CSV_HEADERS
    assert len(rows) == 4
    record = dict(zip(rows[0], rows[1], strict=True))
    assert record["会话"] == "S1"
    assert record["规则"] == "LNG006"
    assert record["级别"] == "警告"
    assert record["位置"] == "3"  # 第3条, counted from 1
    assert record["工号"] == "1818"
    assert record["工程师"] == "张三"
    assert record["建议"] == "麻烦您打开向日葵，手机138****5678"
    session_level = dict(zip(rows[0], rows[3], strict=True))
    assert (session_level["规则"], session_level["位置"], session_level["工号"]) == (
        "SCR004",
        "",
        "",
    )
    assert dict(zip(rows[0], rows[2], strict=True))["推断"] == "是"


def test_csv_guards_cells_excel_would_run(policy: Policy) -> None:
    run = RunInfo(policy=policy, sources=())
    stream = io.StringIO()
    writer = make_writer("csv", stream=stream)
    writer.begin(run)
    session = _sessions()[1]
    evil = Finding(
        session="S2",
        rule="LNG002",
        severity="error",
        message="m",
        index=1,
        agent="2046",
        evidence='=HYPERLINK("http://x")',
    )
    writer.session(
        ReportedSession(session, (evil,), (False,), score_session(session, [evil], policy))
    )
    writer.finish(SummaryBuilder(run).build())
    rows = list(csv.reader(io.StringIO(stream.getvalue().removeprefix("\ufeff"))))
    assert rows[1][CSV_HEADERS.index("证据")] == '\'=HYPERLINK("http://x")'


# ----------------------------------------------------------------- xlsx --


def test_xlsx_sheets_headers_rows_filters(policy: Policy, tmp_path: Path) -> None:
    path = tmp_path / "r.xlsx"
    _render(policy, "xlsx", path=path, input_errors=("b.jsonl:3: not valid JSON",))
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["问题明细", "工程师月度", "会话得分", "汇总"]

    findings = book["问题明细"]
    rows = list(findings.iter_rows(values_only=True))
    assert rows[0] == FINDING_HEADERS
    assert rows[0][:9] == ("会话", "规则", "级别", "时间", "位置", "工程师", "说明", "证据", "建议")
    assert rows[1][:9] == (
        "S1",
        "LNG006",
        "警告",
        datetime(2026, 11, 23, 9, 32),
        3,
        "张三（1818）",
        "称呼客户用了“你”",
        "你",
        "麻烦您打开向日葵，手机138****5678",
    )
    assert rows[3][:6] == ("S1", "SCR004", "错误", None, None, None)
    assert len(rows) == 4
    assert findings.auto_filter.ref == "A1:M4"  # M: 确认发送原因
    assert findings.freeze_panes == "A2"
    assert findings.column_dimensions["G"].width >= 40  # 说明 is readable

    engineers = book["工程师月度"]
    erows = list(engineers.iter_rows(values_only=True))
    assert erows[0] == (*ENGINEER_HEADERS, "LNG006", "SCR003", "SCR004")
    assert erows[1] == ("1818", "张三", "2026-11", 1, 77, 2, 1, 2, 1, 0, 1, 1, 1)
    assert erows[2] == ("2046", "李四", "2026-11", 1, 100, None, 0, 0, 0, 0, 0, 0, 0)
    assert engineers.auto_filter.ref == "A1:M3"
    assert engineers.freeze_panes == "A2"

    overview = [row[0] for row in book["汇总"].iter_rows(values_only=True)]
    assert str(overview[0]).startswith("报告不完整")


def test_xlsx_stores_formula_like_text_as_text(policy: Policy, tmp_path: Path) -> None:
    run = RunInfo(policy=policy, sources=())
    path = tmp_path / "f.xlsx"
    writer = make_writer("xlsx", path=path)
    writer.begin(run)
    session = _sessions()[1]
    evil = Finding(session="S2", rule="LNG002", severity="error", message="=1+1\x01", index=1)
    writer.session(
        ReportedSession(session, (evil,), (False,), score_session(session, [evil], policy))
    )
    writer.finish(SummaryBuilder(run).build())
    cell = openpyxl.load_workbook(path)["问题明细"]["G2"]
    assert (cell.value, cell.data_type) == ("=1+1", "s")


def test_xlsx_needs_a_path() -> None:
    with pytest.raises(ValueError, match="--out"):
        make_writer("xlsx", stream=io.StringIO())


# ----------------------------------------------------------------- html --


def test_mark_segments() -> None:
    segments = mark_segments(
        "abcdefgh", [((1, 3), "A"), ((2, 5), "B"), ((6, 7), "C"), ((5, 99), "X")]
    )
    assert [(s.text, s.codes) for s in segments] == [
        ("a", ()),
        ("bcde", ("A", "B")),
        ("f", ()),
        ("g", ("C",)),
        ("h", ()),
    ]
    assert [(s.text, s.marked) for s in mark_segments("", [])] == [("", False)]


def test_html_is_one_escaped_file_with_marked_spans(policy: Policy) -> None:
    html, _summary = _render(policy, "html", input_errors=("b.jsonl:3: <bad>",))
    # The offending spans of line 3 (index 2), with the phone number masked.
    assert (
        '麻烦<mark title="LNG006">你</mark>打开<mark title="SCR003">向日葵</mark>，手机138****5678'
        in html
    )
    assert "13812345678" not in html and "13912345678" not in html
    assert "139****5678" in html
    assert "建议：麻烦您打开向日葵，手机138****5678" in html
    assert "建议：请您确认下服务器内的数据是否均有备份" in html
    # Transcript text is escaped, never markup.
    assert "&lt;b&gt;您好&lt;/b&gt;" in html and "<b>您好</b>" not in html
    assert "b.jsonl:3: &lt;bad&gt;" in html
    assert "报告不完整：有 1 行输入无法读取" in html
    # Self-contained: nothing is loaded from elsewhere, links stay inside the page.
    assert not re.search(r"<(script|link|img|iframe)\b", html)
    assert not re.search(r"\bsrc\s*=", html)
    assert all(href.startswith("#") for href in re.findall(r'href="([^"]*)"', html))
    assert "url(" not in html and "@import" not in html
    # Totals, tables and both charts.
    assert html.count("<svg") == 2
    assert "按规则统计" in html and "按工程师统计" in html
    assert "会话 S1" in html and "会话 S2" not in html  # only flagged sessions are shown
    assert "满意度：一般" in html


def test_html_without_findings(policy: Policy) -> None:
    run = RunInfo(policy=policy, sources=("a.jsonl",))
    stream = io.StringIO()
    writer = make_writer("html", stream=stream)
    writer.begin(run)
    writer.finish(SummaryBuilder(run).build())
    html = stream.getvalue()
    assert "所有会话均符合规范" in html
    assert "<svg" not in html
    assert "报告不完整" not in html
