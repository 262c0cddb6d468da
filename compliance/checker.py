"""Running the rules over sessions.

`CheckContext` holds what every rule shares for one run — the policy, the
working-day calendar, the attended-hours clock and the matchers — built once, not
per session.  `Checker` turns a policy (plus ``--select`` / ``--ignore``) into the
list of rules to run and checks one session at a time; `check_sessions` streams the
findings of many.  Findings come sorted by session (input order), then by line
index; session-level findings (index None) come last within their session.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property

from compliance.calendar import AttendedClock, WorkCalendar
from compliance.detection import CueReader, Detectors, Exemplars
from compliance.matchers import (
    AckMatcher,
    AgentScan,
    CueList,
    ForbiddenMatcher,
    GreetingParser,
    RequiredLineMatcher,
    folder_for,
)
from compliance.model import Finding, Session
from compliance.normalize import TextFolder
from compliance.policy import Policy, build_calendar, build_clock
from compliance.rules import RULES, Rule
from compliance.rules.facts import SessionFacts

__all__ = ["CheckContext", "Checker", "check_sessions"]


def agent_cue_lists(policy: Policy) -> list[CueList]:
    """The policy's cue lists that are looked for in agent messages."""
    phrases = policy.phrases
    return [
        CueList("remote", phrases.remote_access, phrases.remote_negations),
        CueList(
            "resolution_agent",
            phrases.resolution_agent,
            phrases.resolution_negations,
            negation_scope="text",
            skip_questions=True,
        ),
        CueList("complaint_ack", phrases.complaint_ack),
        CueList("doubt_ack", phrases.doubt_ack),
        CueList("emotion_ack", phrases.emotion_ack),
    ]


def customer_cue_lists(policy: Policy) -> list[CueList]:
    """The policy's cue lists that are looked for in customer messages."""
    phrases = policy.phrases
    return [
        CueList(
            "resolution_customer",
            phrases.resolution_customer,
            phrases.resolution_negations,
            negation_scope="text",
            skip_questions=True,
        ),
        CueList("suggestion_declined", phrases.suggestion_declined),
        CueList("complaint", phrases.complaint_cues),
        CueList("doubt", phrases.doubt_cues),
        CueList("emotion", phrases.emotion_cues),
    ]


@dataclass(eq=False)
class CheckContext:
    """Everything the rules share during one run; build with `CheckContext.build`."""

    policy: Policy
    calendar: WorkCalendar
    clock: AttendedClock
    folder: TextFolder
    forbidden: ForbiddenMatcher
    required: RequiredLineMatcher
    greeting: GreetingParser
    agent_cues: CueReader
    customer_cues: CueReader
    acks: AckMatcher
    detectors: Detectors
    _facts: SessionFacts | None = field(default=None, repr=False)

    @cached_property
    def agent_scan(self) -> AgentScan:
        """The one pass over agent messages for forbidden phrases and agent cues."""
        return AgentScan(self.forbidden, self.agent_cues.book, self.folder)

    @cached_property
    def rest_day_cues(self) -> tuple[str, ...]:
        """The policy's ``phrases.rest_day_notice`` cues, folded (SCR007)."""
        return tuple(self.folder.fold(cue) for cue in self.policy.phrases.rest_day_notice)

    @cached_property
    def shortest_response(self) -> dict[str, timedelta]:
        """Per channel, the shorter of its working-day and rest-day response limits:
        a reply within it, in wall-clock time, is in time whatever the calendar says
        (attended time never exceeds wall-clock time)."""
        return {
            name: timedelta(seconds=min(limits.response_working_s, limits.response_rest_s))
            for name, limits in self.policy.channels.items()
        }

    @classmethod
    def build(
        cls,
        policy: Policy,
        *,
        calendar: WorkCalendar | None = None,
        clock: AttendedClock | None = None,
        exemplars: Exemplars | None = None,
    ) -> CheckContext:
        """Build the calendar, clock and matchers of `policy` (PolicyError if unusable);
        `exemplars` adds to the detectors' own (QA's marks from the database)."""
        calendar = calendar or build_calendar(policy)
        clock = clock or build_clock(policy, calendar)
        folder = folder_for(policy)
        detectors = Detectors(policy, folder, exemplars)
        return cls(
            policy=policy,
            calendar=calendar,
            clock=clock,
            folder=folder,
            forbidden=ForbiddenMatcher(policy, folder),
            required=RequiredLineMatcher(policy, folder),
            greeting=GreetingParser(policy, folder),
            agent_cues=CueReader(
                agent_cue_lists(policy),
                detectors,
                folder,
                anchors_of=detectors.language_names,
                lazy=True,
                on_demand=("complaint_ack", "doubt_ack", "emotion_ack"),
            ),
            customer_cues=CueReader(customer_cue_lists(policy), detectors, folder),
            acks=AckMatcher(policy.phrases.ack_only, folder),
            detectors=detectors,
        )

    def facts(self, session: Session) -> SessionFacts:
        """The shared facts of `session` (kept for the session being checked only)."""
        facts = self._facts
        if facts is None or facts.session is not session:
            facts = self._facts = SessionFacts(session, self)
        return facts


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
        for rule in self.rules:
            findings.extend(rule.check(session, self.context))
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
