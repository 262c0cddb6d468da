"""Golden cases of every rule: ``cases/<CODE>.yaml``, all run by one parametrized test.

A case file names its code and lists cases::

    code: SCR001
    cases:
      - name: greeting as the first agent message
        lines:            # SPEC §4 line dicts; "session" defaults to "S1"
          - {channel: wechat, ts: "2026-11-23T09:31:00+08:00", role: customer, ...}
        expect: []        # the exact findings of this code: rule + index (+ ts, ...)

Optional per case: ``select`` (codes to run; default: the file's code),
``policy`` (TOML text extending the default policy, e.g. to set a rule option),
``profile`` (a packaged profile to run under instead, e.g. ``seed002``).
Each expected finding gives ``rule`` and ``index`` (null for a session-level
finding); ``ts``, ``agent``, ``inferred``, ``evidence``, ``span``, ``severity``,
``suggestion`` and ``message_has`` (substrings of the message) are checked when given.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from compliance.checker import Checker
from compliance.context import CheckContext
from compliance.model import Finding
from compliance.policy import Policy, load_policy
from compliance.transcript import sessions_from_records

CASES_DIR = Path(__file__).with_name("cases")


def load_case_files() -> dict[str, dict[str, Any]]:
    files: dict[str, dict[str, Any]] = {}
    for path in sorted(CASES_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert data["code"] == path.stem, f"{path.name} declares code {data['code']}"
        files[path.stem] = data
    return files


CASE_FILES = load_case_files()


def _params() -> list[Any]:
    params = []
    for code, data in CASE_FILES.items():
        for case in data["cases"]:
            params.append(pytest.param(code, case, id=f"{code}-{case['name']}"))
    return params


@lru_cache(maxsize=1)
def default_policy() -> Policy:
    return load_policy()


@lru_cache(maxsize=1)
def default_context() -> CheckContext:
    return CheckContext.build(default_policy())


def run_case(code: str, case: dict[str, Any], tmp_path: Path) -> list[Finding]:
    records = [{"session": "S1", **line} for line in case["lines"]]
    read = sessions_from_records(records, f"{code}:{case['name']}")
    assert read.errors == [], [str(e) for e in read.errors]
    select = frozenset(case.get("select", [code]))
    if "profile" in case:
        checker = Checker(load_policy(case["profile"]), select=select)
    elif "policy" in case:
        path = tmp_path / "policy.toml"
        path.write_text('[meta]\nextends = "pusai"\n' + case["policy"], encoding="utf-8")
        policy = load_policy(path)
        checker = Checker(policy, select=select)
    else:
        checker = Checker(default_policy(), select=select, context=default_context())
    findings: list[Finding] = []
    for session in read.sessions:
        findings.extend(checker.check(session))
    return findings


def _matches(finding: Finding, expected: dict[str, Any]) -> bool:
    return finding.rule == expected["rule"] and finding.index == expected["index"]


@pytest.mark.parametrize(("code", "case"), _params())
def test_golden_case(code: str, case: dict[str, Any], tmp_path: Path) -> None:
    findings = run_case(code, case, tmp_path)
    expected: list[dict[str, Any]] = case["expect"] or []
    got = sorted((f.session, f.rule, f.index if f.index is not None else -1) for f in findings)
    want = sorted(
        (e.get("session", "S1"), e["rule"], e["index"] if e["index"] is not None else -1)
        for e in expected
    )
    assert got == want, "\n".join(f"{f.rule}@{f.index}: {f.message}" for f in findings)
    for e in expected:
        finding = next(
            f for f in findings if _matches(f, e) and f.session == e.get("session", "S1")
        )
        if "ts" in e:
            assert finding.ts == datetime.fromisoformat(e["ts"]), finding.ts
        if "agent" in e:
            assert finding.agent == e["agent"]
        if "inferred" in e:
            assert finding.inferred is e["inferred"]
            assert ("推断" in finding.message) is e["inferred"], finding.message
        if "evidence" in e:
            assert finding.evidence == e["evidence"]
        if "span" in e:
            assert finding.span == tuple(e["span"])
        if "severity" in e:
            assert finding.severity == e["severity"]
        if "suggestion" in e:
            assert finding.suggestion == e["suggestion"]
        for part in e.get("message_has", []):
            assert part in finding.message, finding.message


def test_every_case_file_has_passing_and_failing_cases() -> None:
    for code, data in CASE_FILES.items():
        names = [case["name"] for case in data["cases"]]
        assert len(names) == len(set(names)), f"{code}: duplicate case names"
        failing = [c for c in data["cases"] if any(e["rule"] == code for e in c["expect"] or [])]
        passing = [c for c in data["cases"] if not c["expect"]]
        assert failing, f"{code} has no failing case"
        assert passing, f"{code} has no passing case"
