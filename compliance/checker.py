"""Running the rules over sessions.

`Checker` turns a policy (plus ``--select`` / ``--ignore``) into the list of rules
to run and checks one session at a time: it works out the session's shared facts
(`SessionFacts`) once and hands them, with the run's `CheckContext`
(`compliance.context`), to every rule.  `check_sessions` streams the findings of
many.  Findings come sorted by session (input order), then by line index;
session-level findings (index None) come last within their session.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Iterable, Iterator

from compliance.context import CheckContext, agent_cue_lists, customer_cue_lists
from compliance.model import Finding, Session
from compliance.policy import Policy
from compliance.rules import RULES, Rule
from compliance.rules.facts import SessionFacts

# The bot's pre-send check and intake read the cue lists from here.
__all__ = [
    "CheckContext",
    "Checker",
    "SessionCheckFailed",
    "agent_cue_lists",
    "check_sessions",
    "customer_cue_lists",
    "describe_error",
]


class SessionCheckFailed(RuntimeError):
    """Checking one session raised: a defect the input brought out.  The message is
    one line naming the session, the FILE:LINE it starts at, the error and the
    line of code that raised it, so a user can report it and a developer find it."""

    def __init__(self, session: Session, error: BaseException) -> None:
        first = session.lines[0].origin if session.lines else None
        where = f"{first}: " if first else ""
        super().__init__(f"{where}checking session {session.id!r} failed: {describe_error(error)}")


def describe_error(error: BaseException) -> str:
    """An unexpected error in one line: ``Type: message (raised at FILE:LINE)``, the
    file the project's source file that raised it (a traceback would say more, but
    a user must never be shown one)."""
    frames = traceback.extract_tb(error.__traceback__)
    raised = ""
    if frames:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        filename = frames[-1].filename
        if filename.startswith(root + os.sep):
            filename = os.path.relpath(filename, root)
        raised = f" (raised at {filename}:{frames[-1].lineno})"
    return f"{type(error).__name__}: {error}{raised}"


def _sort_key(finding: Finding) -> tuple[int, int, str]:
    if finding.index is None:
        return (1, 0, finding.rule)
    return (0, finding.index, finding.rule)


class Checker:
    """The rules a policy enables (and the selection keeps), ready to check sessions.

    `select` / `ignore` are sets of rule codes (expand prefixes first with
    `compliance.codes.expand_selection`); `select=None` means every rule.  Rules the
    policy disables (``enabled = false``) never run.  Every rule's options are
    validated here, selected or not, so a bad policy fails before any work.
    """

    def __init__(
        self,
        policy: Policy,
        *,
        select: frozenset[str] | None = None,
        ignore: frozenset[str] = frozenset(),
        context: CheckContext | None = None,
    ) -> None:
        self.policy = policy
        every = [rule_type.from_policy(policy) for rule_type in RULES]
        self.rules: tuple[Rule, ...] = tuple(
            rule
            for rule in every
            if policy.rules[rule.code].enabled
            and (select is None or rule.code in select)
            and rule.code not in ignore
        )
        self.context = context or CheckContext.build(policy)

    @property
    def codes(self) -> tuple[str, ...]:
        """Codes of the rules that run."""
        return tuple(rule.code for rule in self.rules)

    def check(self, session: Session) -> list[Finding]:
        """Every finding on one session, sorted by line index (session-level last)."""
        findings: list[Finding] = []
        if not self.rules:
            return findings
        context = self.context
        facts = SessionFacts(session, context)
        for rule in self.rules:
            findings.extend(rule.check(session, facts, context))
        findings.sort(key=_sort_key)
        return findings

    def check_all(self, sessions: Iterable[Session]) -> Iterator[Finding]:
        """Findings of many sessions, session by session in the order given."""
        for session in sessions:
            yield from self.check(session)


def check_sessions(
    sessions: Iterable[Session],
    policy: Policy,
    *,
    select: frozenset[str] | None = None,
    ignore: frozenset[str] = frozenset(),
) -> Iterator[Finding]:
    """Check `sessions` against `policy`; findings by session order, then index."""
    checker = Checker(policy, select=select, ignore=ignore)
    return checker.check_all(sessions)
