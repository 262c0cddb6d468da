"""The script lines the bot speaks or drafts for an engineer, rendered for one ticket.

Everything here is a thin, typed layer over `scripts_library`: it knows the
policy (centre name, satisfaction scale, the company's technical department),
the calendar (is today a rest day, which is the next working day) and the
channel (emoji codes or Unicode), so the ticket service only says *which*
line it needs.  No wording lives here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from compliance.calendar import WorkCalendar, as_aware
from compliance.policy import Policy
from scripts_library import (
    ScriptKey,
    canonical_text,
    render_escalation_notice,
    render_extension_call,
    render_greeting,
    render_onsite_appointment,
    render_progress_day4,
    render_progress_day7,
    render_rest_day_notice,
    render_return_shipping,
    render_review_invitation,
    render_satisfaction_survey,
)
from scripts_library import address as address_of

# Cue kinds of the customer side and the line that answers each (seed 000
# 【售后沟通标准】8–10); order is the order they are drafted in.
CUE_RESPONSES: dict[str, ScriptKey] = {
    "emotion": ScriptKey.EMOTION_RESPONSE,
    "complaint": ScriptKey.COMPLAINT_RESPONSE,
    "doubt": ScriptKey.DOUBT_RESPONSE,
}


@dataclass(frozen=True, slots=True)
class PromptedLine:
    """A line to send and the script line it came from (stored as `prompted_by`);
    `key` is None for an engineer's free text."""

    key: ScriptKey | None
    text: str

    def to_dict(self) -> dict[str, str | None]:
        return {"key": self.key.value if self.key is not None else None, "text": self.text}


def distance_tier_label(distance_km: float, policy: Policy) -> str:
    """How the customer reads the distance tier (`100公里以内`, `100~300公里`, …)."""
    lower = 0.0
    for tier in policy.sla.onsite:
        if distance_km < tier.max_km or (
            tier is policy.sla.onsite[-1] and distance_km <= tier.max_km
        ):
            if lower == 0:
                return f"{tier.max_km:g}公里以内"
            return f"{lower:g}~{tier.max_km:g}公里"
        lower = tier.max_km
    return f"{lower:g}公里以上"


class Prompter:
    """Renders the script lines of the policy for a channel and a moment."""

    def __init__(self, policy: Policy, calendar: WorkCalendar) -> None:
        self.policy = policy
        self.calendar = calendar
        self.scale = {level.label: level.points for level in policy.satisfaction.scale}

    # -- the first turn ------------------------------------------------------------

    def local_date(self, at: datetime) -> date:
        return as_aware(at, self.calendar.tz).astimezone(self.calendar.tz).date()

    def is_rest_day(self, at: datetime) -> bool:
        return not self.calendar.day(self.local_date(at)).working_day

    def next_working_day(self, at: datetime) -> date:
        """The first working day after the local date of `at`."""
        return self.calendar.next_working_day(self.local_date(at) + timedelta(days=1))

    def greeting(self, engineer_name: str, staff_no: str, channel: str) -> PromptedLine:
        text = render_greeting(
            engineer_name,
            staff_no,
            centre=self.policy.company.centre,
            title=self.policy.company.engineer_title,
            channel=channel,
        )
        return PromptedLine(ScriptKey.GREETING, text)

    def rest_day_notice(self, at: datetime, channel: str, address: str) -> PromptedLine:
        text = render_rest_day_notice(self.next_working_day(at), address=address, channel=channel)
        return PromptedLine(ScriptKey.REST_DAY_NOTICE, text)

    def first_turn(
        self, engineer_name: str, staff_no: str, channel: str, at: datetime, address: str = "您"
    ) -> list[PromptedLine]:
        """The greeting, and on a rest day the rest-day notice in the same turn (SCR001, SCR007)."""
        lines = [self.greeting(engineer_name, staff_no, channel)]
        if self.is_rest_day(at):
            lines.append(self.rest_day_notice(at, channel, address))
        return lines

    # -- fixed lines -----------------------------------------------------------------

    def fixed(self, key: ScriptKey, channel: str) -> PromptedLine:
        """A line without variable parts: backup warning, thanks, responsibility, cue answers."""
        return PromptedLine(key, canonical_text(key, channel))

    def closing_lines(self, channel: str) -> list[PromptedLine]:
        """Thanks and responsibility, in that order, after the problem is solved (SCR004/5)."""
        return [
            self.fixed(ScriptKey.THANKS, channel),
            self.fixed(ScriptKey.RESPONSIBILITY, channel),
        ]

    def satisfaction_survey(self, channel: str, address: str = "您") -> PromptedLine:
        text = render_satisfaction_survey(self.scale, address=address, channel=channel)
        return PromptedLine(ScriptKey.SATISFACTION_SURVEY, text)

    def review_invitation(self, channel: str, address: str = "您") -> PromptedLine:
        text = render_review_invitation(address=address, channel=channel)
        return PromptedLine(ScriptKey.REVIEW_INVITATION, text)

    def cue_response(self, cue_kind: str, channel: str) -> PromptedLine:
        return self.fixed(CUE_RESPONSES[cue_kind], channel)

    # -- lines with data -------------------------------------------------------------

    def progress_update(
        self, day: int, ticket_no: str, status: str, channel: str, address: str = "您"
    ) -> PromptedLine:
        """The proactive update of working day `day`; the replacement offer comes on its day."""
        if day >= self.policy.sla.replacement_offer_day:
            text = render_progress_day7(ticket_no, status, address=address, channel=channel)
            return PromptedLine(ScriptKey.PROGRESS_DAY7, text)
        text = render_progress_day4(ticket_no, status, address=address, channel=channel)
        return PromptedLine(ScriptKey.PROGRESS_DAY4, text)

    def extension_call(self, manager_name: str, address: str = "您") -> PromptedLine:
        """What the manager says on the phone when asking for the one extension."""
        text = render_extension_call(
            manager_name,
            extension_hours=max(1, round(self.policy.sla.extension_s / 3600)),
            centre=self.policy.company.centre,
            address=address,
            channel="phone",
        )
        return PromptedLine(ScriptKey.EXTENSION_CALL, text)

    def escalation_notice(self, ticket_no: str, channel: str, address: str = "您") -> PromptedLine:
        text = render_escalation_notice(ticket_no, address=address, channel=channel)
        return PromptedLine(ScriptKey.ESCALATION_NOTICE, text)

    def onsite_appointment(
        self,
        visit_date: date,
        distance_km: float,
        working_days: int | None,
        channel: str,
        address: str = "您",
    ) -> PromptedLine:
        text = render_onsite_appointment(
            visit_date,
            distance_tier_label(distance_km, self.policy),
            working_days,
            address=address,
            channel=channel,
        )
        return PromptedLine(ScriptKey.ONSITE_APPOINTMENT, text)

    def return_shipping(
        self,
        carrier: str,
        tracking_no: str,
        channel: str,
        ship_date: date | None = None,
        address: str = "您",
    ) -> PromptedLine:
        text = render_return_shipping(
            carrier, tracking_no, ship_date=ship_date, address=address, channel=channel
        )
        return PromptedLine(ScriptKey.RETURN_SHIPPING, text)


def customer_address(surname: str | None, title: str | None) -> str:
    """张总 / 张老师 when both are known, else 您 (【售后沟通标准】2)."""
    return address_of(surname, title)
