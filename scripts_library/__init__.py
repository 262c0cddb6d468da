"""The script lines (话术) of the 朴赛 after-sales standard as typed jinja2 templates.

The bot renders them for engineers with ``render(ScriptKey.X, inputs, channel)`` (the
inputs are the line's typed class); the compliance checker matches transcripts against
the same words (:func:`canonical_text`, :data:`GREETING_PARTS`, :data:`EMOJI`). This
package depends on nothing else of ours. The words shown for statuses, events and
script lines (:data:`STATUS_LABELS`, :data:`EVENT_LABELS`, :data:`SCRIPT_LABELS`) are here
too, for the console and the compliance report alike.
"""

from scripts_library.desk_inputs import (
    DEFAULT_LOW_RATING_REASONS,
    AfterHoursNoticeInputs,
    HandoverInputs,
    SatisfactionReasonInputs,
    TicketNumberInputs,
    TicketStatusInputs,
)
from scripts_library.emoji import CHANNELS, EMOJI, UNICODE_EMOJI_CHANNELS, Emoji, emoji_text
from scripts_library.inputs import (
    DEFAULT_ADDRESS,
    DEFAULT_CENTRE,
    DEFAULT_MANAGER_TITLE,
    DEFAULT_RESCHEDULE_REASON,
    DEFAULT_SATISFACTION_SCALE,
    DEFAULT_TITLE,
    EscalationNoticeInputs,
    ExtensionCallInputs,
    GreetingInputs,
    NoInputs,
    OnsiteAppointmentInputs,
    OnsiteRescheduleInputs,
    ProgressUpdateInputs,
    RestDayNoticeInputs,
    ReturnShippingInputs,
    ReviewInvitationInputs,
    SatisfactionSurveyInputs,
    ScriptInputError,
    ScriptInputs,
    WelcomeInputs,
    address,
)
from scripts_library.labels import (
    EVENT_LABELS,
    REMINDER_LABELS,
    SCRIPT_LABELS,
    STATUS_LABELS,
    TIMER_LABELS,
)
from scripts_library.lines import (
    GREETING_PARTS,
    SCRIPT_LINES,
    GreetingParts,
    ScriptKey,
    ScriptLine,
    canonical_text,
    cn_date,
    greeting_parts,
    render,
)
from scripts_library.repair_inputs import RepairQuoteInputs, WarrantyOutcomeInputs, yuan

__all__ = [
    "CHANNELS",
    "DEFAULT_ADDRESS",
    "DEFAULT_CENTRE",
    "DEFAULT_LOW_RATING_REASONS",
    "DEFAULT_MANAGER_TITLE",
    "DEFAULT_RESCHEDULE_REASON",
    "DEFAULT_SATISFACTION_SCALE",
    "DEFAULT_TITLE",
    "EMOJI",
    "EVENT_LABELS",
    "GREETING_PARTS",
    "REMINDER_LABELS",
    "SCRIPT_LABELS",
    "SCRIPT_LINES",
    "STATUS_LABELS",
    "TIMER_LABELS",
    "UNICODE_EMOJI_CHANNELS",
    "AfterHoursNoticeInputs",
    "Emoji",
    "EscalationNoticeInputs",
    "ExtensionCallInputs",
    "GreetingInputs",
    "GreetingParts",
    "HandoverInputs",
    "NoInputs",
    "OnsiteAppointmentInputs",
    "OnsiteRescheduleInputs",
    "ProgressUpdateInputs",
    "RepairQuoteInputs",
    "RestDayNoticeInputs",
    "ReturnShippingInputs",
    "ReviewInvitationInputs",
    "SatisfactionReasonInputs",
    "SatisfactionSurveyInputs",
    "ScriptInputError",
    "ScriptInputs",
    "ScriptKey",
    "ScriptLine",
    "TicketNumberInputs",
    "TicketStatusInputs",
    "WarrantyOutcomeInputs",
    "WelcomeInputs",
    "address",
    "canonical_text",
    "cn_date",
    "emoji_text",
    "greeting_parts",
    "render",
    "yuan",
]
