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
    AfterHoursNoticeInputs,
    EscalationNoticeInputs,
    ExtensionCallInputs,
    GreetingInputs,
    HandoverInputs,
    OnsiteAppointmentInputs,
    OnsiteRescheduleInputs,
    ProgressUpdateInputs,
    RestDayNoticeInputs,
    ReturnShippingInputs,
    ReviewInvitationInputs,
    SatisfactionReasonInputs,
    SatisfactionSurveyInputs,
    ScriptInputs,
    ScriptKey,
    TicketNumberInputs,
    TicketStatusInputs,
    canonical_text,
    cn_date,
    render,
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

    @staticmethod
    def _line(key: ScriptKey, inputs: ScriptInputs, channel: str) -> PromptedLine:
        return PromptedLine(key, render(key, inputs, channel))

    # -- the first turn ------------------------------------------------------------

    def local_date(self, at: datetime) -> date:
        return as_aware(at, self.calendar.tz).astimezone(self.calendar.tz).date()

    def is_rest_day(self, at: datetime) -> bool:
        return not self.calendar.day(self.local_date(at)).working_day

    def next_working_day(self, at: datetime) -> date:
        """The first working day after the local date of `at`."""
        return self.calendar.next_working_day(self.local_date(at) + timedelta(days=1))

    def greeting(self, engineer_name: str, staff_no: str, channel: str) -> PromptedLine:
        inputs = GreetingInputs(
            engineer_name,
            staff_no,
            centre=self.policy.company.centre,
            title=self.policy.company.engineer_title,
        )
        return self._line(ScriptKey.GREETING, inputs, channel)

    def rest_day_notice(self, at: datetime, channel: str, address: str) -> PromptedLine:
        inputs = RestDayNoticeInputs(self.next_working_day(at), address=address)
        return self._line(ScriptKey.REST_DAY_NOTICE, inputs, channel)

    def first_turn(
        self, engineer_name: str, staff_no: str, channel: str, at: datetime, address: str = "您"
    ) -> list[PromptedLine]:
        """The greeting, and on a rest day the rest-day notice in the same turn (SCR001, SCR007)."""
        lines = [self.greeting(engineer_name, staff_no, channel)]
        if self.is_rest_day(at):
            lines.append(self.rest_day_notice(at, channel, address))
        return lines

    def ticket_number(self, ticket_no: str, channel: str) -> PromptedLine:
        """The ticket number after the greeting: what to quote on the 400 line."""
        inputs = TicketNumberInputs(ticket_no, self.policy.company.hotline)
        return self._line(ScriptKey.TICKET_NUMBER, inputs, channel)

    def chat_hours(self, channel: str) -> str:
        """When `channel` is attended, as customers read it (每天 09:30–18:00)."""
        hours = self.policy.hours[self.policy.channel(channel).hours]
        if hours.always or hours.opens is None or hours.closes is None:
            return "7×24小时"
        return f"每天 {hours.opens:%H:%M}–{hours.closes:%H:%M}"

    def after_hours_notice(
        self,
        ticket_no: str,
        answer_at: datetime,
        channel: str,
        address: str = "您",
        now: datetime | None = None,
    ) -> PromptedLine:
        """Out of hours: the ticket is logged and a person answers at `answer_at`;
        on a rest day, how an emergency still reaches the engineer on duty."""
        local = as_aware(answer_at, self.calendar.tz).astimezone(self.calendar.tz)
        inputs = AfterHoursNoticeInputs(
            ticket_no,
            self.chat_hours(channel),
            f"{cn_date(local.date())}{local:%H:%M}",
            self.policy.company.hotline,
            rest_day=self.is_rest_day(answer_at) or (now is not None and self.is_rest_day(now)),
            address=address,
        )
        return self._line(ScriptKey.AFTER_HOURS_NOTICE, inputs, channel)

    def ticket_status(
        self,
        ticket_no: str,
        status: str,
        updated: datetime,
        channel: str,
        engineer: tuple[str, str] | None = None,
    ) -> PromptedLine:
        """A ticket's status on the customer's request; `engineer` is (name, 工号)."""
        local = as_aware(updated, self.calendar.tz).astimezone(self.calendar.tz)
        name, staff_no = engineer if engineer is not None else (None, None)
        inputs = TicketStatusInputs(
            ticket_no, status, f"{cn_date(local.date())}{local:%H:%M}", name, staff_no
        )
        return self._line(ScriptKey.TICKET_STATUS, inputs, channel)

    def handover(
        self, engineer_name: str, staff_no: str, channel: str, address: str = "您"
    ) -> PromptedLine:
        """Another engineer takes over: who (instead of a second greeting)."""
        inputs = HandoverInputs(
            engineer_name, staff_no, title=self.policy.company.engineer_title, address=address
        )
        return self._line(ScriptKey.HANDOVER, inputs, channel)

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
        inputs = SatisfactionSurveyInputs(self.scale, address=address)
        return self._line(ScriptKey.SATISFACTION_SURVEY, inputs, channel)

    def satisfaction_reason(self, channel: str, address: str = "您") -> PromptedLine:
        """After 一般 / 不满意: seed 003's form asks which reason."""
        inputs = SatisfactionReasonInputs(
            tuple(self.policy.satisfaction.low_rating_reasons), address=address
        )
        return self._line(ScriptKey.SATISFACTION_REASON, inputs, channel)

    def review_invitation(self, channel: str, address: str = "您") -> PromptedLine:
        inputs = ReviewInvitationInputs(address=address)
        return self._line(ScriptKey.REVIEW_INVITATION, inputs, channel)

    def cue_response(self, cue_kind: str, channel: str) -> PromptedLine:
        return self.fixed(CUE_RESPONSES[cue_kind], channel)

    # -- lines with data -------------------------------------------------------------

    def progress_update(
        self, day: int, ticket_no: str, status: str, channel: str, address: str = "您"
    ) -> PromptedLine:
        """The proactive update of working day `day`; the replacement offer comes on its day."""
        key = (
            ScriptKey.PROGRESS_DAY7
            if day >= self.policy.sla.replacement_offer_day
            else ScriptKey.PROGRESS_DAY4
        )
        return self._line(key, ProgressUpdateInputs(ticket_no, status, address=address), channel)

    def extension_call(self, manager_name: str, address: str = "您") -> PromptedLine:
        """What the manager says on the phone when asking for the one extension."""
        inputs = ExtensionCallInputs(
            manager_name,
            extension_hours=max(1, round(self.policy.sla.extension_s / 3600)),
            centre=self.policy.company.centre,
            address=address,
        )
        return self._line(ScriptKey.EXTENSION_CALL, inputs, "phone")

    def escalation_notice(self, ticket_no: str, channel: str, address: str = "您") -> PromptedLine:
        inputs = EscalationNoticeInputs(ticket_no, address=address)
        return self._line(ScriptKey.ESCALATION_NOTICE, inputs, channel)

    def onsite_appointment(
        self,
        visit_date: date,
        distance_km: float,
        working_days: int | None,
        channel: str,
        address: str = "您",
    ) -> PromptedLine:
        inputs = OnsiteAppointmentInputs(
            visit_date, distance_tier_label(distance_km, self.policy), working_days, address=address
        )
        return self._line(ScriptKey.ONSITE_APPOINTMENT, inputs, channel)

    def onsite_reschedule(
        self, new_date: date, channel: str, reason: str | None = None, address: str = "您"
    ) -> PromptedLine:
        """The visit cannot be kept: a new date proposed (seed 000 1.5 ※)."""
        if reason:
            inputs = OnsiteRescheduleInputs(new_date, reason, address=address)
        else:
            inputs = OnsiteRescheduleInputs(new_date, address=address)
        return self._line(ScriptKey.ONSITE_RESCHEDULE, inputs, channel)

    def return_shipping(
        self,
        carrier: str,
        tracking_no: str,
        channel: str,
        ship_date: date | None = None,
        address: str = "您",
    ) -> PromptedLine:
        inputs = ReturnShippingInputs(carrier, tracking_no, ship_date=ship_date, address=address)
        return self._line(ScriptKey.RETURN_SHIPPING, inputs, channel)


def customer_address(surname: str | None, title: str | None) -> str:
    """张总 / 张老师 when both are known, else 您 (【售后沟通标准】2)."""
    return address_of(surname, title)
