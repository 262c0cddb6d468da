"""Accuracy on real text: innocent agent lines and real JD.com sessions raise no error.

Reads ``../shared/realdata`` (or ``$AFTERSALES_REALDATA``) at run time; nothing of it
is copied into the repository (its README: jddc/ and stc3_dch/ carry no licence).
Skipped, with the reason, where the folder is absent.

- The 31 agent-side utterances of ``real_cs_utterances_with_candidate_insult_terms.jsonl``
  all contain a common insult string inside an innocent word (USB ⊃ sb, 滚动截屏 ⊃ 滚,
  垃圾文件 ⊃ 垃圾, 财源滚滚 …).  Each is wrapped as an agent line in a compliant
  session; no rule may raise an error-level finding.
- The 994 real JD.com sessions (JDDC), wrapped with a correct greeting before the
  first agent message and the thanks and responsibility lines at the end, with
  synthetic times 20 s apart in attended hours on a working day: the error-level
  SCR / LNG findings must be exactly the reviewed true positives listed below.
  Everything the checker raised on them was read when the lists and exceptions
  were tuned (see the comments in ``compliance/policies/pusai.toml``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from compliance.checker import Checker
from compliance.context import CheckContext
from compliance.matchers import folder_for
from compliance.policy import Policy, load_policy
from compliance.transcript import sessions_from_records
from scripts_library import GreetingInputs, ScriptKey, canonical_text, render
from tests.compliance.test_matchers import assert_one_pass_is_per_text

pytestmark = pytest.mark.realdata

REPO = Path(__file__).resolve().parents[2]


def realdata_dir() -> Path | None:
    configured = os.environ.get("AFTERSALES_REALDATA")
    path = Path(configured) if configured else REPO.parent / "shared" / "realdata"
    return path if path.is_dir() else None


REALDATA = realdata_dir()
needs_realdata = pytest.mark.skipif(
    REALDATA is None,
    reason="real data not found: set AFTERSALES_REALDATA or place it at ../shared/realdata",
)

# Error-level SCR/LNG findings on the wrapped JDDC sessions that a reader confirmed as
# real violations, as (session id, rule code).  Empty: after tuning the lists, every
# error the checker raised on them was a false alarm and has been fixed; a new entry
# here needs a reviewer's note.
REVIEWED_TRUE_POSITIVES: frozenset[tuple[str, str]] = frozenset()

GREETING = render(ScriptKey.GREETING, GreetingInputs("张三", "1818"), "jd")
CLOSING = (canonical_text(ScriptKey.THANKS, "jd"), canonical_text(ScriptKey.RESPONSIBILITY, "jd"))
# Monday 2026-11-23 09:30, a working day at the opening of attended hours.
START = datetime.fromisoformat("2026-11-23T09:30:00+08:00")
STEP = timedelta(seconds=20)


@lru_cache(maxsize=1)
def policy() -> Policy:
    return load_policy()


@lru_cache(maxsize=1)
def checker() -> Checker:
    return Checker(policy(), context=CheckContext.build(policy()))


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for raw in fh:
            if raw.strip():
                yield json.loads(raw)


def wrap(
    session_id: str, turns: list[tuple[str, str]], channel: str = "jd"
) -> list[dict[str, Any]]:
    """A compliant frame around real turns: greeting before the first agent message,
    thanks and responsibility at the end, one line every 20 s."""
    records: list[dict[str, Any]] = []

    def add(role: str, text: str) -> None:
        ts = START + STEP * len(records)
        sender = "1818" if role == "agent" else "customer"
        record = {"session": session_id, "ts": ts.isoformat(), "role": role, "sender": sender}
        record["text"] = text
        if not records:
            record["channel"] = channel
        records.append(record)

    greeted = False
    for role, text in turns:
        if role == "agent" and not greeted:
            add("agent", GREETING)
            greeted = True
        add(role, text)
    if not greeted:
        add("agent", GREETING)
    for line in CLOSING:
        add("agent", line)
    return records


@needs_realdata
def test_innocent_agent_lines_raise_no_error() -> None:
    assert REALDATA is not None
    rows = list(read_jsonl(REALDATA / "real_cs_utterances_with_candidate_insult_terms.jsonl"))
    agent_rows = [row for row in rows if row["role"] == "agent"]
    assert len(agent_rows) == 31
    records: list[dict[str, Any]] = []
    for number, row in enumerate(agent_rows):
        turns = [("customer", "你好，请问一下"), ("agent", row["text"])]
        records.extend(wrap(f"innocent-{number}", turns))
    read = sessions_from_records(records, "innocent")
    assert read.errors == []
    errors = [
        (f.session, f.rule, f.evidence)
        for session in read.sessions
        for f in checker().check(session)
        if f.severity == "error"
    ]
    assert errors == []


def jddc_records() -> list[dict[str, Any]]:
    assert REALDATA is not None
    records: list[dict[str, Any]] = []
    for row in read_jsonl(REALDATA / "jddc" / "dialogues.jsonl"):
        turns = [(turn["role"], turn["text"] or "") for turn in row["turns"]]
        records.extend(wrap(row["session_id"], turns))
    return records


@needs_realdata
def test_jddc_sessions_raise_only_reviewed_errors() -> None:
    read = sessions_from_records(jddc_records(), "jddc")
    assert read.errors == []
    assert len(read.sessions) == 994
    found: set[tuple[str, str]] = set()
    messages: list[str] = []
    for session in read.sessions:
        for finding in checker().check(session):
            if finding.severity == "error" and finding.rule[:3] in ("SCR", "LNG"):
                found.add((session.id, finding.rule))
                messages.append(f"{session.id}:{finding.index} {finding.rule} {finding.message}")
    assert found == REVIEWED_TRUE_POSITIVES, "\n".join(messages)


@needs_realdata
def test_jddc_wrapping_does_not_hide_violations() -> None:
    """The same wrapping with a real violation added is caught: the test above can fail."""
    records = jddc_records()
    first_session = records[0]["session"]
    lines = [r for r in records if r["session"] == first_session]
    last = datetime.fromisoformat(lines[-1]["ts"])
    extra = [
        ("agent", "卧槽，你是不是傻，再问我就把你拉黑"),
        ("agent", "麻烦您装一下向日葵发我识别码"),
    ]
    for offset, (role, text) in enumerate(extra, 1):
        lines.append(
            {
                "session": first_session,
                "ts": (last + STEP * offset).isoformat(),
                "role": role,
                "sender": "1818",
                "text": text,
            }
        )
    read = sessions_from_records(lines, "jddc+violations")
    findings = checker().check(read.sessions[0])
    got = {(f.rule, f.index) for f in findings if f.severity == "error"}
    n = len(lines)
    assert got == {
        ("LNG001", n - 2),
        ("LNG002", n - 2),
        ("LNG003", n - 2),
        ("SCR003", n - 1),
    }


@needs_realdata
def test_normalised_spans_map_back_on_real_text() -> None:
    assert REALDATA is not None
    folder = folder_for(policy())
    texts = [
        turn["text"]
        for row in read_jsonl(REALDATA / "jddc" / "dialogues.jsonl")
        for turn in row["turns"]
        if turn["text"]
    ]
    assert len(texts) > 10_000
    for text in texts:
        mapped = folder.normalize_with_map(text)
        assert mapped.text == folder.normalize(text)
        assert len(mapped.positions) == len(mapped.text)
        folded = folder.fold(text)
        assert len(folded) == len(text)
        for i, position in enumerate(mapped.positions):
            assert folded[position] == mapped.text[i]


@needs_realdata
def test_one_pass_over_a_session_finds_what_text_by_text_finds() -> None:
    # The matchers scan a session's messages joined in one automaton pass; on every
    # real session that gives, text by text, what scanning each text alone gives.
    assert REALDATA is not None
    ctx = checker().context
    sessions = [
        [turn["text"] or "" for turn in row["turns"]]
        for row in read_jsonl(REALDATA / "jddc" / "dialogues.jsonl")
    ]
    assert len(sessions) > 900
    hits = sum(sum(map(len, assert_one_pass_is_per_text(ctx, texts))) for texts in sessions)
    assert hits > 0


@needs_realdata
def test_rephrased_violations_put_into_real_sessions_are_caught_by_their_layer() -> None:
    """Violations in words no phrase list holds, each put into a real wrapped session,
    are found by the operator layer (and only they are errors there)."""
    records = jddc_records()
    sessions: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        sessions.setdefault(record["session"], []).append(record)
    injected = [
        ("LNG002", "您这水平就别自己折腾服务器了"),
        ("LNG003", "再这样闹，以后你的消息我一律不回"),
        ("LNG004", "这个我管不了，您另找别家吧"),
        ("LNG005", "老实说，我们公司的品控一直很混乱"),
    ]
    for number, (rule, text) in enumerate(injected):
        session_id = list(sessions)[number * 7]
        lines = list(sessions[session_id])
        last = datetime.fromisoformat(lines[-1]["ts"])
        lines.append(
            {
                "session": session_id,
                "ts": (last + STEP).isoformat(),
                "role": "agent",
                "sender": "1818",
                "text": text,
            }
        )
        read = sessions_from_records(lines, "jddc+rephrased")
        errors = [
            (f.rule, f.index, f.layer)
            for f in checker().check(read.sessions[0])
            if f.severity == "error" and f.rule.startswith("LNG")
        ]
        assert errors == [(rule, len(lines) - 1, "operator")], text


@needs_realdata
def test_the_presend_check_lets_every_real_agent_line_through() -> None:
    """The pre-send check agrees with the checker on real text: no real JDDC agent line
    (all innocent) is refused."""
    from bot.presend import PresendChecker

    assert REALDATA is not None
    presend = PresendChecker(policy())
    refused = [
        turn["text"]
        for row in read_jsonl(REALDATA / "jddc" / "dialogues.jsonl")
        for turn in row["turns"]
        if turn["role"] == "agent"
        and turn["text"]
        and presend.check(turn["text"]).verdict == "refused"
    ]
    assert refused == []
