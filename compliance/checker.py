"""Running the rules over sessions.

`Checker` turns a policy (plus ``--select`` / ``--ignore``) into the list of rules
to run and checks one session at a time: it works out the session's shared facts
(`SessionFacts`) once and hands them, with the run's `CheckContext`
(`compliance.context`), to every rule.  `check_sessions` streams the findings of
many.  Findings come sorted by session (input order), then by line index;
session-level findings (index None) come last within their session.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from compliance.context import CheckContext, agent_cue_lists, customer_cue_lists
from compliance.model import Finding, Session
from compliance.policy import Policy
from compliance.rules import RULES, Rule
from compliance.rules.facts import SessionFacts

# The bot's pre-send check and intake read the cue lists from here.
__all__ = ["CheckContext", "Checker", "agent_cue_lists", "check_sessions", "customer_cue_lists"]


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
