"""The script lines (话术) of the 朴赛 service standard, and how to render them.

Every line is a jinja2 template in ``scripts_library/templates/<key>.j2`` with one typed
inputs class (:mod:`scripts_library.inputs`). The bot speaks from :func:`render`; the
compliance checker matches transcripts against :func:`canonical_text` and
:data:`GREETING_PARTS`, so both read the same source.

Text output (chat channels) is never HTML-escaped: a customer's ``<`` stays ``<``. Pass
``html=True`` for a page that embeds the line; then every input is escaped.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import partial
from types import MappingProxyType
from typing import NamedTuple

import jinja2

from scripts_library.desk_inputs import (
    AfterHoursNoticeInputs,
    HandoverInputs,
    SatisfactionReasonInputs,
    TicketNumberInputs,
    TicketStatusInputs,
)
from scripts_library.emoji import emoji_text, require_channel
from scripts_library.inputs import (
    DEFAULT_CENTRE,
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
    ScriptInputs,
    WelcomeInputs,
)
from scripts_library.repair_inputs import RepairQuoteInputs, WarrantyOutcomeInputs

__all__ = [
    "GREETING_PARTS",
    "SCRIPT_LINES",
    "GreetingParts",
    "ScriptKey",
    "ScriptLine",
    "canonical_text",
    "cn_date",
    "greeting_parts",
    "render",
]

_WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
# Sentence-final punctuation a free-text summary may bring; the template adds its own.
_CLAUSE_END = "。．.！!；;，,、 "


class ScriptKey(enum.StrEnum):
    """One script line; the value is its template's file name without ``.j2``."""

    GREETING = "greeting"
    BACKUP_WARNING = "backup_warning"
    THANKS = "thanks"
    RESPONSIBILITY = "responsibility"
    COMPLAINT_RESPONSE = "complaint_response"
    DOUBT_RESPONSE = "doubt_response"
    EMOTION_RESPONSE = "emotion_response"
    SUGGESTION_REQUEST = "suggestion_request"
    REVIEW_INVITATION = "review_invitation"
    SATISFACTION_SURVEY = "satisfaction_survey"
    REST_DAY_NOTICE = "rest_day_notice"
    PROGRESS_DAY4 = "progress_day4"
    PROGRESS_DAY7 = "progress_day7"
    EXTENSION_CALL = "extension_call"
    ESCALATION_NOTICE = "escalation_notice"
    RETURN_SHIPPING = "return_shipping"
    ONSITE_APPOINTMENT = "onsite_appointment"
    ONSITE_RESCHEDULE = "onsite_reschedule"
    WELCOME = "welcome"
    WARRANTY_OUTCOME = "warranty_outcome"
    REPAIR_QUOTE = "repair_quote"
    TICKET_NUMBER = "ticket_number"
    TICKET_STATUS = "ticket_status"
    AFTER_HOURS_NOTICE = "after_hours_notice"
    HANDOVER = "handover"
    SATISFACTION_REASON = "satisfaction_reason"


@dataclass(frozen=True)
class ScriptLine:
    """A script line: its template, its inputs and the seed clause it comes from.

    ``required`` lines are those a SPEC rule demands when their situation arises
    (``enforced_by`` names the rules); the others are offered to the engineer.
    """

    key: ScriptKey
    inputs_type: type[ScriptInputs]
    seed_clause: str
    required: bool
    when: str
    """When the line is spoken, in a few words, for prompts and documentation."""
    enforced_by: tuple[str, ...] = ()

    @property
    def template_name(self) -> str:
        """The template's file name under ``scripts_library/templates``."""
        return f"{self.key.value}.j2"

    @property
    def fixed(self) -> bool:
        """True for a line with no variable parts (the same words every time)."""
        return self.inputs_type is NoInputs


def _line(
    key: ScriptKey,
    inputs_type: type[ScriptInputs],
    seed_clause: str,
    when: str,
    enforced_by: tuple[str, ...] = (),
) -> tuple[ScriptKey, ScriptLine]:
    return key, ScriptLine(key, inputs_type, seed_clause, bool(enforced_by), when, enforced_by)


#: Every script line, in the order an online reception meets them.
SCRIPT_LINES: Mapping[ScriptKey, ScriptLine] = MappingProxyType(
    dict(
        [
            _line(
                ScriptKey.WELCOME,
                WelcomeInputs,
                "000 【售后过程标准】1.1 服务时段",
                "when a customer follows the account, scans its code, opens its menu or enters"
                " the 微信客服 conversation, before writing: how to report a fault, and when",
            ),
            _line(
                ScriptKey.GREETING,
                GreetingInputs,
                "000 【售后动作标准】1.a.1 自我介绍",
                "the first agent message of every online reception",
                ("SCR001", "SCR002"),
            ),
            _line(
                ScriptKey.REST_DAY_NOTICE,
                RestDayNoticeInputs,
                "000 【售后受理标准】2 响应速度 ※ 休息日",
                "the first agent turn on a rest day",
                ("SCR007",),
            ),
            _line(
                ScriptKey.BACKUP_WARNING,
                NoInputs,
                "000 【售后动作标准】1.a.2 客户数据安全确认",
                "before any remote login",
                ("SCR003",),
            ),
            _line(
                ScriptKey.COMPLAINT_RESPONSE,
                NoInputs,
                "000 【售后沟通标准】8 客户抱怨",
                "after the customer has finished complaining",
                ("LNG007",),
            ),
            _line(
                ScriptKey.DOUBT_RESPONSE,
                NoInputs,
                "000 【售后沟通标准】9 客户质疑",
                "when the customer doubts the service",
                ("LNG008",),
            ),
            _line(
                ScriptKey.EMOTION_RESPONSE,
                NoInputs,
                "000 【售后沟通标准】10 客户情绪",
                "when the customer is upset",
                ("LNG009",),
            ),
            _line(
                ScriptKey.EXTENSION_CALL,
                ExtensionCallInputs,
                "000 【售后过程标准】1.3.b 方案时效 延长",
                "a manager's call when no plan is ready 4 h after acceptance (once only)",
            ),
            _line(
                ScriptKey.ESCALATION_NOTICE,
                EscalationNoticeInputs,
                "000 【售后过程标准】1.3.c 方案时效 技术部支持",
                "when the extension has run out and the technical department is brought in",
            ),
            _line(
                ScriptKey.ONSITE_APPOINTMENT,
                OnsiteAppointmentInputs,
                "000 【售后过程标准】1.5 上门时效",
                "once the plan needs an on-site visit",
            ),
            _line(
                ScriptKey.ONSITE_RESCHEDULE,
                OnsiteRescheduleInputs,
                "000 【售后过程标准】1.5 ※ 因交通、天气等不可控因素",
                "when the engineer cannot arrive on the agreed date",
            ),
            _line(
                ScriptKey.PROGRESS_DAY4,
                ProgressUpdateInputs,
                "000 【售后过程标准】2.1.a 进度共享 第4个工作日",
                "working day 4 of a ticket not yet delivered",
                ("SLA005",),
            ),
            _line(
                ScriptKey.PROGRESS_DAY7,
                ProgressUpdateInputs,
                "000 【售后过程标准】2.1.b 进度共享 第7个工作日 替代品",
                "working day 7 of a ticket not yet delivered",
                ("SLA005",),
            ),
            _line(
                ScriptKey.WARRANTY_OUTCOME,
                WarrantyOutcomeInputs,
                "000 【售后过程标准】1.2 质保标准；004 1.1.1.2、1.5 售后服务费用",
                "once the warranty is decided at intake: the outcome and who pays",
            ),
            _line(
                ScriptKey.REPAIR_QUOTE,
                RepairQuoteInputs,
                "004 【售后服务费用】1.5.2.3 报价、1.5.3 客户确认后开始维修",
                "before paid repair starts: the amount and the items, asking for confirmation",
            ),
            _line(
                ScriptKey.RETURN_SHIPPING,
                ReturnShippingInputs,
                "000 【售后交付标准】2 归还预约",
                "before the repaired server is sent back",
            ),
            _line(
                ScriptKey.THANKS,
                NoInputs,
                "000 【售后动作标准】1.a.3 感谢语",
                "after the customer's problem is solved",
                ("SCR004",),
            ),
            _line(
                ScriptKey.RESPONSIBILITY,
                NoInputs,
                "000 【售后动作标准】1.a.4 责任语",
                "after the customer's problem is solved",
                ("SCR005",),
            ),
            _line(
                ScriptKey.SUGGESTION_REQUEST,
                NoInputs,
                "000 【售后动作标准】2.a.1 客户建议收集",
                "after the fix, if the customer is in a good mood; never asked twice",
            ),
            _line(
                ScriptKey.REVIEW_INVITATION,
                ReviewInvitationInputs,
                "000 【售后动作标准】2.a.2 邀评",
                "at the end of the service",
            ),
            _line(
                ScriptKey.SATISFACTION_SURVEY,
                SatisfactionSurveyInputs,
                "003 评分等级及分数 (很满意 5 / 满意 3 / 一般 2 / 不满意 0)",
                "at the end of the service, to score the engineer",
            ),
            _line(
                ScriptKey.SATISFACTION_REASON,
                SatisfactionReasonInputs,
                "003 售后服务单 4 您不满意的原因是什么 (服务态度 / 技术水平 / 响应速度)",
                "after a rating of 一般 or 不满意: which reason, and any advice",
            ),
            _line(
                ScriptKey.TICKET_NUMBER,
                TicketNumberInputs,
                "003 3.4.1 派出售后服务单 (the customer's reference for the case)",
                "right after the greeting (or the out-of-hours notice) of a new ticket",
            ),
            _line(
                ScriptKey.TICKET_STATUS,
                TicketStatusInputs,
                "003 3.5 客户服务中心跟进完成进度",
                "when the customer asks for a ticket's status (查询工单 PS-…)",
            ),
            _line(
                ScriptKey.AFTER_HOURS_NOTICE,
                AfterHoursNoticeInputs,
                "000 【售后过程标准】1.1 服务时段",
                "a ticket opened outside the chat hours with nobody on duty: when a person"
                " will answer, and the emergency path on a rest day (the centre speaks, no"
                " engineer)",
            ),
            _line(
                ScriptKey.HANDOVER,
                HandoverInputs,
                "000 【售后动作标准】1.a.1 自我介绍 (on a handover)",
                "when another engineer takes the ticket over, instead of a second greeting",
            ),
        ]
    )
)


class GreetingParts(NamedTuple):
    """The fixed fragments of the greeting, in the order it says them."""

    opening: str
    centre: str
    title: str
    staff_no_label: str
    closing: str


def greeting_parts(centre: str = DEFAULT_CENTRE, title: str = DEFAULT_TITLE) -> GreetingParts:
    """The fixed fragments of a greeting for a policy's own centre and title."""
    return GreetingParts("您好", centre, title, "工号", "很高兴为您服务")


#: What every 朴赛 greeting must contain besides the engineer's name and 工号 (SCR001).
#: A golden test renders the greeting and checks it is made of exactly these.
GREETING_PARTS = greeting_parts()


def cn_date(day: date) -> str:
    """A date as the lines say it to customers: ``11月23日（周一）``."""
    return f"{day.month}月{day.day}日（{_WEEKDAYS[day.weekday()]}）"


def _clause(text: str) -> str:
    """Free text without its closing punctuation, so a template can end the sentence."""
    return text.rstrip(_CLAUSE_END)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("scripts_library", "templates"),
        undefined=jinja2.StrictUndefined,
        # Templates are .j2 chat text, so this escapes nothing unless html=True (below).
        autoescape=jinja2.select_autoescape(["html", "htm", "xml"]),
        keep_trailing_newline=False,
        # The templates ship with the package and do not change while it runs: no
        # stat() of the file on every render (a large compliance check renders
        # suggestions thousands of times).
        auto_reload=False,
    )
    env.filters["cn_date"] = cn_date
    env.filters["clause"] = _clause
    return env


_TEXT_ENV = _environment()
# Same loader, filters and templates; only escaping differs. An overlay is jinja2's
# supported way to vary one setting of an environment.
_HTML_ENV = _TEXT_ENV.overlay(autoescape=True)


def _script_line(key: ScriptKey | str) -> ScriptLine:
    try:
        return SCRIPT_LINES[ScriptKey(key)]
    except ValueError:
        known = ", ".join(k.value for k in ScriptKey)
        raise ValueError(f"unknown script line {key!r}; expected one of: {known}") from None


def render(
    key: ScriptKey | str,
    inputs: ScriptInputs | None = None,
    channel: str = "wechat",
    *,
    html: bool = False,
) -> str:
    """Render the script line ``key`` for ``channel``.

    ``inputs`` must be the line's ``inputs_type``; a fixed line may leave it out. With
    ``html=True`` the inputs are HTML-escaped; otherwise the text is sent as is.
    """
    line = _script_line(key)
    require_channel(channel)
    if inputs is None and line.fixed:
        inputs = NoInputs()
    if type(inputs) is not line.inputs_type:
        raise ValueError(
            f"script line {line.key.value!r} takes {line.inputs_type.__name__}, "
            f"got {type(inputs).__name__}"
        )
    env = _HTML_ENV if html else _TEXT_ENV
    template = env.get_template(line.template_name)
    return template.render(**inputs.template_context(), emoji=partial(emoji_text, channel=channel))


def canonical_text(key: ScriptKey | str, channel: str = "wechat") -> str:
    """The exact words of a fixed line (no variable parts), for speaking and matching.

    Raises ``ValueError`` for a line with inputs; use :func:`render` for those.
    """
    line = _script_line(key)
    if not line.fixed:
        raise ValueError(
            f"script line {line.key.value!r} has variable parts "
            f"({line.inputs_type.__name__}); use render()"
        )
    return render(line.key, NoInputs(), channel)
