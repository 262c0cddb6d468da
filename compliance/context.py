"""What every rule shares for one run of the checker, built once from the policy.

`CheckContext` holds the policy, the working-day calendar, the attended-hours
clock, the text folder and the matchers (forbidden phrases, required lines, the
greeting, the cue books, acknowledgements).  It knows nothing of any one session:
what the rules share about a session (`compliance.rules.facts.SessionFacts`) is
built by the checker and handed to each rule with the session.

`agent_cue_lists` and `customer_cue_lists` wire the policy's phrase lists into the
cue books; the bot's pre-send check and intake use the same lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property

from compliance.calendar import AttendedClock, WorkCalendar
from compliance.classify import Classifier
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
from compliance.normalize import TextFolder
from compliance.policy import Policy, build_calendar, build_clock

__all__ = ["CheckContext", "agent_cue_lists", "customer_cue_lists"]


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

    @cached_property
    def agent_scan(self) -> AgentScan:
        """The one pass over agent messages for forbidden phrases and agent cues."""
        return AgentScan(self.forbidden, self.agent_cues.book, self.folder)

    @cached_property
    def classifier(self) -> Classifier:
        """The bot's classifier of customer messages (fault level), for SLA001 under a
        fault-level profile when a transcript does not say the level."""
        return Classifier(self.policy)

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
            customer_cues=CueReader(
                customer_cue_lists(policy), detectors, folder, on_demand=("suggestion_declined",)
            ),
            acks=AckMatcher(policy.phrases.ack_only, folder),
            detectors=detectors,
        )
