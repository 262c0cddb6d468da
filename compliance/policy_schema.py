"""The service policy's schema: the frozen typed objects a policy file is validated into.

`compliance.policy` loads and checks a file into these; everything else reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time
from typing import Any, Literal

from compliance.delivery_policy import DeliveryPolicy

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")
CHANNELS: tuple[str, ...] = ("wechat", "wecom", "qianniu", "jd", "web", "phone")
ROLES: tuple[str, ...] = ("engineer", "qa", "manager", "admin")


# ------------------------------------------------------------------ schema --


@dataclass(frozen=True, slots=True)
class Meta:
    name: str
    profile: str
    source: str = ""
    extends: str | None = None


@dataclass(frozen=True, slots=True)
class Company:
    name: str
    centre: str
    engineer_title: str = "运维工程师"
    hotline: str = ""
    timezone: str = "Asia/Shanghai"
    ticket_prefix: str = "PS"
    technical_department: str = "技术部"


@dataclass(frozen=True, slots=True)
class OverrideDay:
    date: date
    working_day: bool
    name: str


@dataclass(frozen=True, slots=True)
class CalendarPolicy:
    working_weekdays: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
    statutory_holidays: bool = True
    overrides: tuple[OverrideDay, ...] = ()


@dataclass(frozen=True, slots=True)
class HoursSpec:
    """Attended hours of one kind of channel; `always` means 7×24."""

    opens: time | None = None
    closes: time | None = None
    always: bool = False


@dataclass(frozen=True, slots=True)
class ChannelPolicy:
    label: str
    hours: str
    response_working_s: int
    response_rest_s: int


@dataclass(frozen=True, slots=True)
class OnsiteTier:
    max_km: float
    working_days: int


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    accept_working_s: int
    accept_rest_s: int
    solution_s: int
    extension_s: int
    max_extensions: int
    progress_update_days: tuple[int, ...]
    replacement_offer_day: int
    rma_chase_every_days: int
    rma_product_manager_after_days: int
    archive_within_working_days: int
    stable_run_h: int
    intermittent_stable_run_h: int
    manager_reminder_after_s: int = 600
    onsite: tuple[OnsiteTier, ...] = ()
    response_by_fault_level: bool = False


@dataclass(frozen=True, slots=True)
class Exclusion:
    code: str
    text: str


@dataclass(frozen=True, slots=True)
class WarrantyPolicy:
    replace_new_months: int
    replace_refurbished_months: int
    free_repair_months: int
    exclusions: tuple[Exclusion, ...] = ()
    # Seed 004 1.3.3.1–2: repair with parts within 7 working days, factory repair 10–15.
    in_house_repair_working_days: int = 7
    factory_repair_working_days: int = 10
    factory_repair_latest_working_days: int = 15


@dataclass(frozen=True, slots=True)
class SatisfactionLevel:
    label: str
    points: int


@dataclass(frozen=True, slots=True)
class SatisfactionPolicy:
    """Seed 003 评分等级 and the loop around the survey (seed 000 2.a.2 邀评)."""

    scale: tuple[SatisfactionLevel, ...]
    # The suggestion question unanswered this long (attended seconds): the survey follows.
    survey_after_s: int = 1800
    # A rating (or its reason) written this many days after close still joins the
    # closed ticket instead of opening a new one.
    late_rating_days: int = 7
    # Ratings that ask for the reason (seed 003's form, question 4) and alert the managers.
    low_ratings: tuple[str, ...] = ("一般", "不满意")
    low_rating_reasons: tuple[str, ...] = ("服务态度", "技术水平", "响应速度")
    # Ratings after which the customer is invited to review the service.
    review_ratings: tuple[str, ...] = ("很满意", "满意")


@dataclass(frozen=True, slots=True)
class ScoringPolicy:
    start: int = 100
    deduct_error: int = 10
    deduct_warning: int = 3
    deduct_info: int = 0
    fatal: tuple[str, ...] = ()
    # Seed 000 协商执行动作 1②: 收集1条真实建议并记录在案则个人绩效增加0.1分.
    suggestion_points: float = 0.1


@dataclass(frozen=True, slots=True)
class MatchingPolicy:
    fuzzy_cutoff: float = 85.0
    filler_chars: str = " "
    traditional_to_simplified: bool = True


@dataclass(frozen=True, slots=True)
class RosterEngineer:
    staff_no: str
    name: str
    roles: tuple[str, ...] = ("engineer",)
    on_duty: bool = True


@dataclass(frozen=True, slots=True)
class RosterPolicy:
    source: Literal["policy", "database"] = "policy"
    engineers: tuple[RosterEngineer, ...] = ()


@dataclass(frozen=True, slots=True)
class FaultLevel:
    code: str
    name: str
    description: str = ""
    cues: tuple[str, ...] = ()
    response_s: int | None = None
    remote_response_s: int | None = None


@dataclass(frozen=True, slots=True)
class Phrases:
    ack_only: tuple[str, ...] = ()
    remote_access: tuple[str, ...] = ()
    remote_negations: tuple[str, ...] = ()
    resolution_agent: tuple[str, ...] = ()
    resolution_customer: tuple[str, ...] = ()
    resolution_negations: tuple[str, ...] = ()
    suggestion_declined: tuple[str, ...] = ()
    rest_day_notice: tuple[str, ...] = ()
    complaint_cues: tuple[str, ...] = ()
    complaint_ack: tuple[str, ...] = ()
    doubt_cues: tuple[str, ...] = ()
    doubt_ack: tuple[str, ...] = ()
    emotion_cues: tuple[str, ...] = ()
    emotion_ack: tuple[str, ...] = ()
    backup_confirmed: tuple[str, ...] = ()
    backup_confirmed_despite_negation: tuple[str, ...] = ()
    backup_denied: tuple[str, ...] = ()
    affirmations: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ForbiddenList:
    """One list of forbidden phrases, with per-phrase innocent containing words."""

    rule: str
    phrases: tuple[str, ...] = ()
    wordlists: tuple[str, ...] = ()
    exceptions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


LAYERS: tuple[str, ...] = ("phrase", "operator", "similarity")
# Cue lists a detector may extend (besides the forbidden lists), by the side of the
# conversation they are read on.
CUSTOMER_CUE_DETECTORS: tuple[str, ...] = (
    "complaint",
    "doubt",
    "emotion",
    "resolution_customer",
    "suggestion_declined",
)
AGENT_CUE_DETECTORS: tuple[str, ...] = (
    "complaint_ack",
    "doubt_ack",
    "emotion_ack",
    "remote",
    "resolution_agent",
    "suggestion_request",
    "backup_warning",
    "suggestion_pressed",
)


@dataclass(frozen=True, slots=True)
class OperatorSpec:
    """One configurable operator of a detector (as QA products let their users set up).

    ``keyword``: any of `evaluations` (and the lexicons named) is a hit; ``regex``: any
    of `patterns`; ``context``: an evaluation within `window` characters of a *target*
    (the customer or their ability, the company, its products or people).  Every kind
    A lexicon entry that is common in general text (its count in jieba's dictionary
    above `lexicon_max_frequency`: 没有, 要求, 问题) is too general to be an
    evaluation on its own and is left out.  A one-character evaluation only counts
    as a whole jieba word (差 is not in 差不多), a two-character one where a word
    starts (不管 is not in 尽管), and none inside one of `innocent_words` (不理 in
    不理解).  An `owned_targets` word only counts right after one of the `owners`
    (我们的 before 产品: our products, not the customer's).  `evaluations` of a regex operator are
    the literal words its matches hold: texts without one are not tried.  `anchor`
    says which side of a context operator the prefilter looks for (the rarer one in
    everyday chat, so that few texts pay for the operator).  Every kind
    is then read through the shared grammar of ``[detection]``: a negated evaluation
    (不会 / 绝不 / 从不 …), one in a hypothetical clause (如果 …, when `hypothetical`
    is on) or after a reassurance (请放心 …) does not count, nor does one with a
    context exception (IP, 防火墙, 日志 …) in its sentence, nor, with
    `skip_questions`, one asked rather than said (恢复了吗), nor, with
    `benefactive`, an action done for or by the customer (帮您删除, 建议您屏蔽).
    """

    name: str
    kind: Literal["keyword", "regex", "context"] = "context"
    targets: tuple[str, ...] = ()
    owned_targets: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()
    owner_window: int = 6
    evaluations: tuple[str, ...] = ()
    evaluation_lexicons: tuple[str, ...] = ()
    evaluation_skip: tuple[str, ...] = ()
    lexicon_max_frequency: int = 3000
    innocent_words: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    window: int = 8
    order: Literal["any", "target_first", "evaluation_first"] = "any"
    anchor: Literal["evaluations", "targets"] = "evaluations"
    negation: bool = True
    hypothetical: bool = False
    reassurance: bool = True
    benefactive: bool = False
    exceptions: tuple[str, ...] = ()
    skip_questions: bool = False
    confidence: float = 0.9
    object_markers: tuple[str, ...] = ()
    """把 …: a hit whose clause has one before it counts only with a target between
    (我把重复的工单删掉了 removes a record, 把您删了 the customer)."""
    owner_cues: tuple[str, ...] = ()
    """Candour openers (说实话, 说白了, 其实) that make the sentence's `owned_targets`
    ours without an owner word."""
    degree_variants: bool = False
    """Also take the evaluations with a degree word of ``[detection] degree_words``
    inside (别太指望, 不太稳定, 返修率挺高)."""


@dataclass(frozen=True, slots=True)
class SimilaritySpec:
    """Similarity to exemplar sentences (jieba words, TF-IDF cosine, 0–1).

    A text scoring at least `threshold` against a positive exemplar is a hit of the
    layer's severity; from `review_threshold` up to it, a warning to review.  A text
    at least `negative_threshold` like a negative exemplar (a confirmed false alarm)
    and more like it than like any positive one has no hit of any layer.  Only texts
    with one of the similarity `anchors` (or one of the two rarest words of an
    exemplar QA added) are scored: the cheap prefilter.
    """

    exemplars: tuple[str, ...] = ()
    negative_exemplars: tuple[str, ...] = ()
    threshold: float = 0.75
    review_threshold: float = 0.6
    negative_threshold: float = 0.8
    anchors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DetectorPolicy:
    """The layers of one rule's (or cue's) detector beyond its phrase list.

    `rule` is the code the detector feeds; `layers` gives, per layer (phrase,
    operator, similarity), the severity of its hits (default: the rule's).
    `guard_phrases` reads phrase-list hits through the grammar too (我们从不拉黑客户
    is no threat); profanity is profanity however it is framed, so it is off there.
    `benefactive` also drops phrase hits done for or by the customer (帮您删除);
    `exceptions` are context words that cancel a hit of any layer in their sentence
    (IP, 防火墙, 日志: a security action, not a threat to the customer).
    `ruled_out` are regexes: a message where one matches rules out what the detector
    looks for (a clause that is only a negated need, 现在还不用, answers the access
    just mentioned), and nothing in it counts.
    """

    rule: str
    operators: tuple[OperatorSpec, ...] = ()
    similarity: SimilaritySpec = SimilaritySpec()
    exceptions: tuple[str, ...] = ()
    ruled_out: tuple[str, ...] = ()
    layers: Mapping[str, Severity] = field(default_factory=dict)
    guard_phrases: bool = False
    benefactive: bool = False


@dataclass(frozen=True, slots=True)
class DetectionGrammar:
    """Words that change what an evaluation means, shared by every operator.

    A negation just before an evaluation (with `negation_scope` characters between at
    most, and no clause break) cancels it; so does one of `negations_after` right
    after it (拉黑是不可能的).  A clause that opens with a hypothetical or follows a
    reassurance (in the same sentence) is not a statement.  A benefactive (帮您, 为您)
    just before an action makes it a service to the customer (帮您删除 …).
    """

    negations: tuple[str, ...] = ()
    negations_after: tuple[str, ...] = ()
    negation_scope: int = 6
    degree_words: tuple[str, ...] = ()
    clause_negations: tuple[str, ...] = ()
    """Modal negations (不会, 绝不, 从不) that reach the whole clause before the hit."""
    rhetorical_openers: tuple[str, ...] = ()
    """难道 …: a negation after one asks rhetorically (难道您不知道吗), it negates nothing."""
    rhetorical_negations: tuple[str, ...] = ()
    rhetorical_ends: tuple[str, ...] = ()
    """不会 … 吧: one of these negations in a sentence closing with one of these ends."""
    scope_breaks: tuple[str, ...] = ()
    hypotheticals: tuple[str, ...] = ()
    reassurances: tuple[str, ...] = ()
    benefactives: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PresendPolicy:
    """What the bot's pre-send check offers instead of a refused draft.

    `lines` gives, per rule code, a compliant line in 您 form for a draft that rule
    refuses (a neutral instruction or the standard's own words); `fallback` is for
    the others.  The check reads each line through the detectors before offering it.
    """

    fallback: str = "请您稍等，我这边马上继续为您处理"
    lines: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RuleConfig:
    """Severity and switch of one rule; `options` are checked by the rule itself."""

    severity: Severity
    enabled: bool = True
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ComplaintPolicy:
    """Seed 002 1.1.2: a complaint's first reply and resolution limits (None: untimed).

    `cues` are what makes a customer message a complaint to track (我要投诉), as
    opposed to a grumble the engineer acknowledges (LNG007's cues)."""

    first_reply_s: int | None = None
    resolve_days: int | None = None
    cues: tuple[str, ...] = ()

    @property
    def tracked(self) -> bool:
        return self.first_reply_s is not None or self.resolve_days is not None


@dataclass(frozen=True, slots=True)
class DutyPolicy:
    """Seed 003 运维技术服务值班管理制度: on-call duty outside the working day.

    The working day is `workday_opens`–`workday_closes` on working days; outside
    it, and on rest days, tickets go to the month's engineer on duty, who serves
    `opens`–`closes` (早上8:00晚上19:00).  A customer message with one of
    `urgent_cues` goes to the engineer on duty whenever it comes."""

    enabled: bool = True
    opens: time = time(8, 0)
    closes: time = time(19, 0)
    workday_opens: time = time(9, 30)
    workday_closes: time = time(18, 0)
    urgent_cues: tuple[str, ...] = ("紧急", "加急", "特急", "十万火急")


@dataclass(frozen=True, slots=True)
class Policy:
    """The whole validated policy.  Build with `load_policy`."""

    meta: Meta
    company: Company
    calendar: CalendarPolicy
    hours: Mapping[str, HoursSpec]
    channels: Mapping[str, ChannelPolicy]
    sla: SlaPolicy
    warranty: WarrantyPolicy
    satisfaction: SatisfactionPolicy
    scoring: ScoringPolicy
    matching: MatchingPolicy
    roster: RosterPolicy
    fault_levels: tuple[FaultLevel, ...]
    intents: Mapping[str, tuple[str, ...]]
    phrases: Phrases
    forbidden: Mapping[str, ForbiddenList]
    rules: Mapping[str, RuleConfig]
    complaints: ComplaintPolicy = ComplaintPolicy()
    duty: DutyPolicy = DutyPolicy()
    delivery: DeliveryPolicy = field(default_factory=DeliveryPolicy)
    detection: DetectionGrammar = DetectionGrammar()
    detectors: Mapping[str, DetectorPolicy] = field(default_factory=dict)
    presend: PresendPolicy = PresendPolicy()
    source_path: str = ""

    # -- conveniences used across the product --------------------------------

    def channel(self, name: str) -> ChannelPolicy:
        try:
            return self.channels[name]
        except KeyError:
            known = ", ".join(self.channels)
            raise KeyError(f"channel {name!r} is not in the policy (known: {known})") from None

    def response_limit_s(self, channel: str, working_day: bool) -> int:
        spec = self.channel(channel)
        return spec.response_working_s if working_day else spec.response_rest_s

    def accept_limit_s(self, working_day: bool) -> int:
        return self.sla.accept_working_s if working_day else self.sla.accept_rest_s

    def satisfaction_points(self, label: str) -> int | None:
        for level in self.satisfaction.scale:
            if level.label == label:
                return level.points
        return None

    def engineer(self, staff_no: str) -> RosterEngineer | None:
        for engineer in self.roster.engineers:
            if engineer.staff_no == staff_no:
                return engineer
        return None

    def severity(self, code: str) -> Severity:
        return self.rules[code].severity

    def fault_level(self, key: str | None) -> FaultLevel | None:
        """The fault level a code (L1), name (一级故障) or transcript label (一级, 其它) means."""
        if not key:
            return None
        for level in self.fault_levels:
            if key in (level.code, level.name) or level.name.startswith(key):
                return level
        return None

    def onsite_working_days(self, distance_km: float) -> int | None:
        """Working days to be on site after the plan is fixed; None = negotiated."""
        for tier in self.sla.onsite:
            if distance_km < tier.max_km or (
                tier is self.sla.onsite[-1] and distance_km <= tier.max_km
            ):
                return tier.working_days
        return None
