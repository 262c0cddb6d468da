"""The rule registry: every code registered, documented, with cases; options validated."""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

import pytest

from compliance.checker import Checker, check_sessions
from compliance.codes import RULE_CODES, expand_selection
from compliance.policy import PolicyError, load_policy
from compliance.rules import RULES, NoOptions, rule_by_code
from compliance.rules.docgen import generate
from compliance.transcript import sessions_from_records

REPO = Path(__file__).resolve().parents[2]
CASES = Path(__file__).with_name("cases")
CJK = re.compile(r"[\u4e00-\u9fff]")


def test_every_code_is_registered_once_with_its_name() -> None:
    codes = [rule.code for rule in RULES]
    assert len(codes) == len(set(codes))
    assert set(codes) == set(RULE_CODES)
    for rule in RULES:
        assert rule.name == RULE_CODES[rule.code]
        assert rule_by_code(rule.code) is rule


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_rule_is_documented(rule: type) -> None:
    doc = inspect.cleandoc(rule.__doc__ or "")
    summary, _, body = doc.partition("\n")
    assert summary.strip().endswith("."), f"{rule.code}: one-line summary ending with a full stop"
    seed = re.search(r"^Seed 0\d\d .*?“(.+?)”", body, flags=re.S | re.M)
    assert seed is not None, f"{rule.code}: quote the seed clause it enforces"
    assert CJK.search(seed.group(1)), f"{rule.code}: the seed clause is quoted in Chinese"
    assert re.search(r"^Fails.*::\n\n {4}\S", body, flags=re.M), f"{rule.code}: failing snippet"
    assert re.search(r"^Passes.*::\n\n {4}\S", body, flags=re.M), f"{rule.code}: passing snippet"
    options = body.partition("\nOptions:")[2]
    assert options, f"{rule.code}: an Options section"
    if rule.Options is NoOptions:
        assert options.strip() == "none."
    for field in dataclasses.fields(rule.Options):
        assert f"{field.name}:" in options, f"{rule.code}: option {field.name} undocumented"


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_rule_options_are_frozen_with_defaults(rule: type) -> None:
    params = getattr(rule.Options, "__dataclass_params__", None)
    assert params is not None and params.frozen, f"{rule.code}: Options is a frozen dataclass"
    rule.Options()  # every option has a default


@pytest.mark.parametrize("code", sorted(RULE_CODES))
def test_every_code_has_a_case_file(code: str) -> None:
    assert (CASES / f"{code}.yaml").is_file(), f"no golden cases for {code}"


def test_docs_rules_md_is_generated_and_up_to_date() -> None:
    committed = (REPO / "docs" / "rules.md").read_text(encoding="utf-8")
    assert committed == generate(), (
        "docs/rules.md is stale: run `python -m compliance.rules.docgen > docs/rules.md`"
    )


def write_policy(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text('[meta]\nextends = "pusai"\n' + text, encoding="utf-8")
    return path


def test_unknown_rule_option_names_the_key(tmp_path: Path) -> None:
    policy = load_policy(
        write_policy(tmp_path, '[rules.SCR006]\nseverity = "warning"\nask_twice = true\n')
    )
    with pytest.raises(
        PolicyError, match=r"rules\.SCR006\.ask_twice: unknown option .*request_cues"
    ):
        Checker(policy)


def test_option_for_a_rule_without_options_is_refused(tmp_path: Path) -> None:
    policy = load_policy(write_policy(tmp_path, '[rules.SLA001]\nseverity = "error"\nlimit = 5\n'))
    with pytest.raises(PolicyError, match=r"rules\.SLA001\.limit: unknown option .*none"):
        Checker(policy)


def test_wrongly_typed_option_names_the_key(tmp_path: Path) -> None:
    text = '[rules.SLA004]\nseverity = "error"\nescalation_grace_s = "half an hour"\n'
    policy = load_policy(write_policy(tmp_path, text))
    with pytest.raises(PolicyError, match=r"rules\.SLA004\.escalation_grace_s: must be an integer"):
        Checker(policy)


def test_wordlist_skip_must_be_strings(tmp_path: Path) -> None:
    policy = load_policy(
        write_policy(tmp_path, '[rules.LNG001]\nseverity = "error"\nwordlist_skip = [1]\n')
    )
    with pytest.raises(PolicyError, match=r"rules\.LNG001\.wordlist_skip"):
        Checker(policy)


def test_unknown_wordlist_names_the_key(tmp_path: Path) -> None:
    policy = load_policy(write_policy(tmp_path, '[forbidden.profanity]\nwordlists = ["nope"]\n'))
    with pytest.raises(
        PolicyError, match=r"forbidden\.profanity\.wordlists\[0\]: no word list 'nope'"
    ):
        Checker(policy)


RECORDS = [
    {
        "session": "A",
        "channel": "wechat",
        "ts": "2026-11-23T10:00:00+08:00",
        "role": "customer",
        "sender": "c",
        "text": "服务器坏了",
    },
    {
        "session": "A",
        "ts": "2026-11-23T10:03:00+08:00",
        "role": "agent",
        "sender": "1818",
        "text": "你先重启一下",
    },
    {
        "session": "B",
        "channel": "wechat",
        "ts": "2026-11-23T09:00:00+08:00",
        "role": "agent",
        "sender": "1818",
        "text": "卧槽",
    },
]


def findings(
    select: frozenset[str] | None = None,
    ignore: frozenset[str] = frozenset(),
    policy_path: Path | None = None,
) -> list[tuple[str, str, int | None]]:
    read = sessions_from_records(RECORDS, "test")
    policy = load_policy(policy_path)
    return [
        (f.session, f.rule, f.index)
        for f in check_sessions(read.sessions, policy, select=select, ignore=ignore)
    ]


def test_findings_come_by_session_order_then_index() -> None:
    # Sessions in input order (A before B), then by line index, then by code.
    assert findings() == [
        ("A", "SLA001", 0),
        ("A", "LNG006", 1),
        ("A", "SCR001", 1),
        ("B", "LNG001", 0),
        ("B", "SCR001", 0),
    ]


def test_select_and_ignore_by_code_and_prefix() -> None:
    assert set(findings(select=expand_selection(["LNG"], what="--select"))) == {
        ("A", "LNG006", 1),
        ("B", "LNG001", 0),
    }
    assert set(findings(ignore=expand_selection(["SCR", "SLA001"], what="--ignore"))) == {
        ("A", "LNG006", 1),
        ("B", "LNG001", 0),
    }


def test_disabled_rule_is_skipped(tmp_path: Path) -> None:
    path = write_policy(tmp_path, '[rules.LNG006]\nseverity = "warning"\nenabled = false\n')
    assert ("A", "LNG006", 1) not in findings(policy_path=path)
    assert "LNG006" not in Checker(load_policy(path)).codes


def test_severity_comes_from_the_policy(tmp_path: Path) -> None:
    path = write_policy(tmp_path, '[rules.LNG006]\nseverity = "error"\n')
    read = sessions_from_records(RECORDS, "test")
    checker = Checker(load_policy(path), select=frozenset({"LNG006"}))
    (finding,) = checker.check(read.sessions[0])
    assert (finding.rule, finding.severity) == ("LNG006", "error")
