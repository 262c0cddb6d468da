"""Precision and recall of the compliance rules on the labelled development set.

    .venv/bin/python bench/eval_rules.py                  # both parts, Markdown tables
    .venv/bin/python bench/eval_rules.py --part dev --misses   # and every miss / false alarm
    .venv/bin/python bench/eval_rules.py --policy my.toml

The set is `bench/eval/dev.yaml` (the part the policy was tuned on) and
`bench/eval/heldout.yaml` (written apart, never tuned on); see `bench/eval/README.md`.
Each case is wrapped in a session (a customer opening, the correct greeting, the case;
no closing lines where the rule is about them) and checked with only its rule
selected.  A case counts as flagged when the rule reports a finding on it: at error
level for the rules whose policy severity is error (the figure the issue asks for),
at any level for the others; the "any level" column also counts the hits a detector
layer sends to review as warnings.

Real negatives, read at run time and never copied (../shared/realdata, or
$AFTERSALES_REALDATA): every agent line of the 994 JDDC sessions wrapped
compliantly, and the 31 innocent agent lines that contain an insult string.  Each
error-level finding on them is a false alarm; the last table counts them, and the
"with real" precision counts them against the rule.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

import yaml  # noqa: E402

from compliance.checker import CheckContext, Checker  # noqa: E402
from compliance.model import Finding  # noqa: E402
from compliance.policy import Policy, load_policy  # noqa: E402
from compliance.transcript import sessions_from_records  # noqa: E402
from scripts_library import GreetingInputs, ScriptKey, canonical_text, render  # noqa: E402

SETS = REPO / "bench" / "eval"
PARTS = ("dev", "heldout", "heldout2", "heldout3", "heldout4")
SEALED = ("heldout5",)
"""Parts run only when named (never by "all", never by the tests) and never with --misses."""
START = datetime.fromisoformat("2026-11-23T09:30:00+08:00")  # a Monday, attended hours
STEP = timedelta(seconds=20)
GREETING = render(ScriptKey.GREETING, GreetingInputs("张三", "1818"), "wechat")
CLOSING = (canonical_text(ScriptKey.THANKS), canonical_text(ScriptKey.RESPONSIBILITY))
OPENING = "你好，请问一下"


def realdata_dir() -> Path | None:
    configured = os.environ.get("AFTERSALES_REALDATA")
    path = Path(configured) if configured else REPO.parent / "shared" / "realdata"
    if not path.is_dir():
        path = Path("/work/shared/realdata")
    return path if path.is_dir() else None


@dataclass(frozen=True, slots=True)
class Case:
    rule: str
    violation: bool
    turns: tuple[tuple[str, str], ...]
    """(role, text); the case's own lines."""

    @property
    def label(self) -> str:
        return " / ".join(f"{role[0]}: {text}" for role, text in self.turns)


def load_cases(part: str) -> list[Case]:
    """The cases of one part of the set."""
    data = yaml.safe_load((SETS / f"{part}.yaml").read_text(encoding="utf-8"))
    cases: list[Case] = []
    for rule, groups in data.items():
        for key, violation in (("violations", True), ("innocent", False)):
            for raw in groups.get(key, []):
                if isinstance(raw, str):
                    turns: tuple[tuple[str, str], ...] = (("agent", raw),)
                else:
                    turns = tuple(
                        ("customer" if item[:2] == "c:" else "agent", item[2:].strip())
                        for item in raw
                    )
                cases.append(Case(rule, violation, turns))
    return cases


def session_records(case: Case, session_id: str) -> tuple[list[dict[str, Any]], set[int]]:
    """The case wrapped in a session, and the indexes of the case's own lines."""
    lines: list[tuple[str, str]] = []
    if case.rule != "SCR001":
        lines.append(("agent", GREETING))
    if case.turns[0][0] == "agent" and case.rule.startswith("LNG"):
        lines.append(("customer", OPENING))
    first = len(lines)
    lines.extend(case.turns)
    own = set(range(first, len(lines)))
    if case.rule.startswith("LNG") and case.rule not in ("LNG007", "LNG008", "LNG009"):
        lines.extend(("agent", text) for text in CLOSING)
    records = []
    for n, (role, text) in enumerate(lines):
        record: dict[str, Any] = {
            "session": session_id,
            "ts": (START + STEP * n).isoformat(),
            "role": role,
            "sender": "1818" if role == "agent" else "oCustomer",
            "text": text,
        }
        if n == 0:
            record["channel"] = "wechat"
        records.append(record)
    return records, own


@dataclass
class Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    any_tp: int = 0
    any_fp: int = 0
    misses: list[str] = field(default_factory=list)
    false_alarms: list[str] = field(default_factory=list)

    @staticmethod
    def ratio(a: int, b: int) -> str:
        return f"{a / b:.2f}" if b else "–"


def evaluate(cases: list[Case], policy: Policy, context: CheckContext) -> dict[str, Tally]:
    tallies: dict[str, Tally] = defaultdict(Tally)
    checkers: dict[str, Checker] = {}
    for number, case in enumerate(cases):
        checker = checkers.get(case.rule)
        if checker is None:
            checker = checkers[case.rule] = Checker(
                policy, select=frozenset({case.rule}), context=context
            )
        records, own = session_records(case, f"{case.rule}-{number}")
        read = sessions_from_records(records, "eval")
        if read.errors:
            raise SystemExit(f"{case.label}: {read.errors[0]}")
        findings = [f for f in checker.check(read.sessions[0]) if f.rule == case.rule]
        level = policy.rules[case.rule].severity
        flagged = any(f.severity == level for f in findings)
        flagged_any = bool(findings)
        tally = tallies[case.rule]
        detail = case.label + "".join(_describe(f) for f in findings)
        if case.violation:
            tally.tp += flagged
            tally.fn += not flagged
            tally.any_tp += flagged_any
            if not flagged:
                tally.misses.append(detail)
        else:
            tally.fp += flagged
            tally.tn += not flagged
            tally.any_fp += flagged_any
            if flagged:
                tally.false_alarms.append(detail)
        del own
    return tallies


def _describe(finding: Finding) -> str:
    layer = f" {finding.layer} {finding.confidence:.2f}" if finding.layer else ""
    return f"   [{finding.severity}{layer}: {finding.evidence}]"


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for raw in fh:
            if raw.strip():
                yield json.loads(raw)


def real_negatives(policy: Policy, context: CheckContext) -> tuple[Counter[str], int, list[str]]:
    """Error-level LNG findings on the real agent lines: per rule, lines read, details."""
    found: Counter[str] = Counter()
    details: list[str] = []
    root = realdata_dir()
    if root is None:
        return found, 0, ["(real data not found: set AFTERSALES_REALDATA)"]
    checker = Checker(policy, select=frozenset(c for c in policy.rules if c.startswith("LNG")))
    checker.context = context
    lines = 0
    sessions: list[list[tuple[str, str]]] = []
    for row in read_jsonl(root / "jddc" / "dialogues.jsonl"):
        sessions.append([(turn["role"], turn["text"] or "") for turn in row["turns"]])
    for row in read_jsonl(root / "real_cs_utterances_with_candidate_insult_terms.jsonl"):
        if row["role"] == "agent":
            sessions.append([("customer", OPENING), ("agent", row["text"])])
    for number, turns in enumerate(sessions):
        records = []
        wrapped = [("agent", GREETING), *turns, *(("agent", t) for t in CLOSING)]
        for n, (role, text) in enumerate(wrapped):
            records.append(
                {
                    "session": f"real-{number}",
                    "ts": (START + STEP * n).isoformat(),
                    "role": role,
                    "sender": "1818" if role == "agent" else "oCustomer",
                    "text": text,
                    **({"channel": "jd"} if n == 0 else {}),
                }
            )
        lines += sum(1 for role, _ in turns if role == "agent")
        read = sessions_from_records(records, "real")
        session = read.sessions[0]
        for finding in checker.check(session):
            if finding.severity == "error":
                found[finding.rule] += 1
                text = session.lines[finding.index].text if finding.index is not None else ""
                details.append(f"{finding.rule}: {text}{_describe(finding)}")
    return found, lines, details


def table(part: str, tallies: dict[str, Tally], real: Counter[str] | None) -> list[str]:
    out = [
        f"### {part}",
        "",
        "| rule | violations | innocent | precision | recall | flagged at any level (P / R)"
        + (" | precision with real negatives |" if real is not None else " |"),
        "| --- | ---: | ---: | ---: | ---: | ---: |" + (" ---: |" if real is not None else ""),
    ]
    for rule in sorted(tallies):
        t = tallies[rule]
        row = (
            f"| {rule} | {t.tp + t.fn} | {t.fp + t.tn} | {Tally.ratio(t.tp, t.tp + t.fp)} | "
            f"{Tally.ratio(t.tp, t.tp + t.fn)} | {Tally.ratio(t.any_tp, t.any_tp + t.any_fp)} / "
            f"{Tally.ratio(t.any_tp, t.tp + t.fn)} |"
        )
        if real is not None:
            extra = real.get(rule, 0)
            row += f" {Tally.ratio(t.tp, t.tp + t.fp + extra)} |"
        out.append(row)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=(*PARTS, *SEALED, "all"), default="all")
    parser.add_argument("--policy", help="policy file or profile (default: pusai)")
    parser.add_argument("--misses", action="store_true", help="list misses and false alarms")
    parser.add_argument("--no-real", action="store_true", help="skip the real negatives")
    args = parser.parse_args(argv)
    if args.part in SEALED and args.misses:
        parser.error(f"{args.part} is sealed: its misses are not listed (see bench/eval/README.md)")
    policy = load_policy(args.policy)
    context = CheckContext.build(policy)
    real: Counter[str] | None = None
    report: list[str] = []
    if not args.no_real:
        real, lines, details = real_negatives(policy, context)
        report += [
            "### real agent lines (negatives)",
            "",
            f"{lines} real agent lines (994 JDDC sessions wrapped compliantly, and the 31 "
            "innocent lines with insult strings): error-level LNG findings per rule: "
            + (", ".join(f"{rule} {n}" for rule, n in sorted(real.items())) or "none"),
            "",
        ]
        if args.misses:
            report += [*(f"    {d}" for d in details), ""]
    for part in PARTS if args.part == "all" else (args.part,):
        tallies = evaluate(load_cases(part), policy, context)
        report += [*table(part, tallies, real), ""]
        if args.misses:
            for rule in sorted(tallies):
                for miss in tallies[rule].misses:
                    report.append(f"    MISS {rule}: {miss}")
                for alarm in tallies[rule].false_alarms:
                    report.append(f"    FALSE {rule}: {alarm}")
            report.append("")
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
