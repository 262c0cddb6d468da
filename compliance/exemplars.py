"""Exemplars QA's marks teach the detectors: stored, listed, exported as policy.

A finding QA confirms makes the line it is on a *positive* exemplar of the detector
that caught it; one marked false positive a *negative* exemplar
(`storage.models.Exemplar`).  The checker runs of the console use the active ones
(`load_exemplars` → `CheckContext.build(exemplars=…)`), next to the policy's own
exemplars and per-phrase exceptions; `export_policy` writes them in the policy
file's format (``aftersales exemplars export``), for the bot's pre-send check, for
``aftersales check`` on files, or for review before they go into the policy.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, func, inspect, select, update
from sqlalchemy.orm import Session as DbSession

from compliance.detection import Exemplars
from compliance.policy import Policy, load_policy
from storage.models import Exemplar, Polarity, Verdict
from storage.models import Finding as FindingRow

# Cue detectors whose rule reads the agent's own line (the LNG rules read theirs
# through the forbidden list of the same name).
_RULE_DETECTORS = {"SCR003": "remote", "SCR006": "suggestion_request"}
# The customer-side rules: their finding sits on the agent's reply, but what a mark
# judges is the customer's message the cue was read in, so it teaches the detector of
# that cue, with that message (a false positive: no complaint there after all).
CUSTOMER_CUE_RULES = {"LNG007": "complaint", "LNG008": "doubt", "LNG009": "emotion"}


def detector_for(policy: Policy, rule: str, source: str | None) -> str | None:
    """The detector a finding of `rule` (from `source`) teaches, if it has one."""
    name: str | None = None
    if rule in CUSTOMER_CUE_RULES:
        name = CUSTOMER_CUE_RULES[rule]
    elif source and source.startswith("detectors."):
        name = source.split(".")[1]
    elif source and source.startswith("forbidden."):
        name = source.split(".")[1].split("/")[0]
    else:
        name = _RULE_DETECTORS.get(rule)
        if name is None:
            name = next((n for n, f in policy.forbidden.items() if f.rule == rule), None)
    return name if name in policy.detectors else None


def record_exemplar(
    db: DbSession,
    policy: Policy,
    finding: FindingRow,
    verdict: str,
    text: str,
    *,
    reviewer: str,
    reason: str,
    now: datetime,
) -> Exemplar | None:
    """Store the exemplar a verdict on `finding` makes (within the caller's
    transaction), retiring the one an earlier verdict on the same line made.  None
    when the finding's rule has no detector to teach or there is no text."""
    detector = detector_for(policy, finding.rule, finding.source)
    if detector is None or not text.strip():
        return None
    db.execute(
        update(Exemplar)
        .where(
            Exemplar.active.is_(True),
            Exemplar.detector == detector,
            Exemplar.session == finding.session,
            Exemplar.text == text,
        )
        .values(active=False)
    )
    polarity = Polarity.POSITIVE if verdict == Verdict.CONFIRMED.value else Polarity.NEGATIVE
    exemplar = Exemplar(
        detector=detector,
        rule=finding.rule,
        polarity=polarity,
        text=text,
        finding_id=finding.id,
        session=finding.session,
        reviewer=reviewer[:64],
        reason=reason,
        active=True,
        created_at=now,
    )
    db.add(exemplar)
    return exemplar


@dataclass(frozen=True, slots=True)
class ExemplarRow:
    """A stored exemplar, as the console and the command line list it."""

    id: int
    detector: str
    rule: str
    polarity: str
    text: str
    session: str | None
    reviewer: str
    reason: str
    active: bool
    created_at: datetime

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "detector": self.detector,
            "rule": self.rule,
            "polarity": self.polarity,
            "text": self.text,
            "session": self.session,
            "reviewer": self.reviewer,
            "reason": self.reason,
            "active": self.active,
            "created_at": self.created_at.isoformat(),
        }


def list_exemplars(
    engine: Engine | Connection, *, detector: str | None = None, include_retired: bool = False
) -> list[ExemplarRow]:
    """Stored exemplars, newest first."""
    query = select(Exemplar).order_by(Exemplar.id.desc())
    if detector:
        query = query.where(Exemplar.detector == detector)
    if not include_retired:
        query = query.where(Exemplar.active.is_(True))
    with DbSession(engine) as db:
        return [
            ExemplarRow(
                id=row.id,
                detector=row.detector,
                rule=row.rule,
                polarity=str(row.polarity),
                text=row.text,
                session=row.session,
                reviewer=row.reviewer,
                reason=row.reason,
                active=row.active,
                created_at=row.created_at,
            )
            for row in db.scalars(query)
        ]


def group(rows: Iterable[ExemplarRow]) -> Exemplars:
    """Active exemplars per detector: (positive texts, negative texts)."""
    positive: dict[str, list[str]] = defaultdict(list)
    negative: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        if row.active:
            side = positive if row.polarity == Polarity.POSITIVE.value else negative
            if row.text not in side[row.detector]:
                side[row.detector].append(row.text)
    return {name: (positive[name], negative[name]) for name in {*positive, *negative}}


def load_exemplars(engine: Engine | Connection) -> Exemplars:
    """The active exemplars of the database, for `CheckContext.build(exemplars=…)`."""
    return group(list_exemplars(engine))


def stored_exemplars(bind: Engine | Connection) -> Exemplars:
    """The active exemplars of a database that may predate them (none: ``{}``): what
    ``aftersales serve`` gives the pre-send check at start-up and ``aftersales check
    --db`` its detectors."""
    if not inspect(bind).has_table(Exemplar.__tablename__):
        return {}
    return load_exemplars(bind)


# A fingerprint of the active exemplars (`exemplar_version`).
ExemplarVersion = tuple[int, int, int]


def exemplar_version(bind: Engine | Connection) -> ExemplarVersion:
    """How many exemplars are active, the sum and the largest of their ids: one cheap
    aggregate that changes whenever a mark adds an exemplar (a new, larger id) or
    retires or re-activates one (the count and the sum), so that a running ``serve``
    knows when to reload them (`bot.exemplar_watch`).  ``(0, 0, 0)`` without any."""
    query = select(
        func.count(Exemplar.id), func.coalesce(func.sum(Exemplar.id), 0), func.max(Exemplar.id)
    ).where(Exemplar.active.is_(True))
    with DbSession(bind) as db:
        count, total, largest = db.execute(query).one()
    return (int(count), int(total), int(largest or 0))


def _toml_list(key: str, items: Sequence[str]) -> list[str]:
    if not items:
        return [f"{key} = []"]
    return [f"{key} = ["] + [f"  {json.dumps(item, ensure_ascii=False)}," for item in items] + ["]"]


def export_policy(policy: Policy, rows: Iterable[ExemplarRow]) -> str:
    """A policy file that extends `policy` with the active exemplars of `rows`.

    Lists replace the base's when a file extends another, so each detector's lists
    are written whole: the policy's own exemplars, then QA's.
    """
    learned = group(rows)
    profile = policy.meta.profile or "pusai"
    lines = [
        "# Exemplars QA's marks taught the detectors (aftersales exemplars export).",
        "# Confirmed findings are exemplars, false positives negative exemplars.",
        "[meta]",
        f"extends = {json.dumps(profile)}",
    ]
    for name in sorted(learned):
        spec = policy.detectors.get(name)
        if spec is None:
            continue
        positive, negative = learned[name]
        ours = spec.similarity
        lines += ["", f"[detectors.{name}.similarity]"]
        lines += _toml_list("exemplars", list(dict.fromkeys((*ours.exemplars, *positive))))
        lines += _toml_list(
            "negative_exemplars", list(dict.fromkeys((*ours.negative_exemplars, *negative)))
        )
    return "\n".join(lines) + "\n"


def run_exemplars_command(args: argparse.Namespace) -> int:
    """``aftersales exemplars list|export [--db URL] [--detector NAME] [--out FILE]``."""
    from storage.db import DEFAULT_DB_URL, DatabaseURLError, make_engine
    from storage.migrate import upgrade

    url = args.db or os.environ.get("AFTERSALES_DB_URL") or DEFAULT_DB_URL
    try:
        engine = make_engine(url)
    except DatabaseURLError as exc:
        print(f"aftersales exemplars: {exc}", file=sys.stderr)
        return 2
    try:
        upgrade(engine)
        rows = list_exemplars(engine, detector=args.detector, include_retired=args.all)
        if args.exemplars_command == "list":
            for row in rows:
                print(json.dumps(row.to_dict(), ensure_ascii=False))
            return 0
        text = export_policy(load_policy(args.policy), rows)
        if args.out:
            Path(args.out).write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
        return 0
    finally:
        engine.dispose()
