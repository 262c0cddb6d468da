"""The service policy: loaded once from TOML, validated into frozen typed objects.

The default policy (`policies/pusai.toml`) is the 朴赛 standard of seed 000;
`policies/seed002.toml` is the bid's fault-level profile.  `load_policy(path)`
reads another file; a file may `extends` a packaged profile (by name) or
another file (by path, relative to itself) and override only what differs.

Every key is checked: an unknown key, a wrong type, a bad time or date is a
`PolicyError` whose message names the file and the dotted key, so the person
editing the policy knows what to fix.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from compliance.codes import RULE_CODES

if typing.TYPE_CHECKING:
    from compliance.calendar import AttendedClock, WorkCalendar

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")
CHANNELS: tuple[str, ...] = ("wechat", "wecom", "qianniu", "jd", "web", "phone")
ROLES: tuple[str, ...] = ("engineer", "qa", "manager", "admin")

POLICY_DIR = Path(__file__).with_name("policies")
DEFAULT_PROFILE = "pusai"


class PolicyError(ValueError):
    """A policy file that cannot be used; the message names the file and key."""


def _frozen_map(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return types.MappingProxyType(dict(value))


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


@dataclass(frozen=True, slots=True)
class SatisfactionLevel:
    label: str
    points: int


@dataclass(frozen=True, slots=True)
class SatisfactionPolicy:
    scale: tuple[SatisfactionLevel, ...]


@dataclass(frozen=True, slots=True)
class ScoringPolicy:
    start: int = 100
    deduct_error: int = 10
    deduct_warning: int = 3
    deduct_info: int = 0
    fatal: tuple[str, ...] = ()


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
    """

    rule: str
    operators: tuple[OperatorSpec, ...] = ()
    similarity: SimilaritySpec = SimilaritySpec()
    exceptions: tuple[str, ...] = ()
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
    first_reply_s: int | None = None
    resolve_days: int | None = None


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

    def onsite_working_days(self, distance_km: float) -> int | None:
        """Working days to be on site after the plan is fixed; None = negotiated."""
        for tier in self.sla.onsite:
            if distance_km < tier.max_km or (
                tier is self.sla.onsite[-1] and distance_km <= tier.max_km
            ):
                return tier.working_days
        return None


# ----------------------------------------------------------------- loading --


def _type_name(tp: Any) -> str:
    names = {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        time: 'a time "HH:MM"',
        date: 'a date "YYYY-MM-DD"',
    }
    if tp in names:
        return names[tp]
    origin = get_origin(tp)
    if origin is tuple:
        return "a list"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if dataclasses.is_dataclass(tp) or origin in (Mapping, dict):
        return "a table"
    return str(tp)


class _Converter:
    """Converts parsed TOML into the schema dataclasses, naming bad keys."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, problem: str) -> PolicyError:
        return PolicyError(f"{self.source}: {key or '(top level)'}: {problem}")

    def convert(self, value: Any, tp: Any, key: str) -> Any:
        origin = get_origin(tp)
        if origin in (types.UnionType, typing.Union):
            args = [a for a in get_args(tp) if a is not type(None)]
            if value is None:
                return None
            return self.convert(value, args[0], key)
        if tp is Any:
            return value
        if origin is Literal:
            if value not in get_args(tp):
                raise self.fail(key, f"must be {_type_name(tp)}, got {value!r}")
            return value
        if origin is tuple:
            if not isinstance(value, list):
                raise self.fail(key, f"must be a list, got {type(value).__name__}")
            (item_tp, _ellipsis) = get_args(tp)
            return tuple(self.convert(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value))
        if origin in (Mapping, dict) or tp is Mapping:
            if not isinstance(value, dict):
                raise self.fail(key, f"must be a table, got {type(value).__name__}")
            map_args = get_args(tp)
            val_tp = map_args[1] if map_args else Any
            return _frozen_map({k: self.convert(v, val_tp, f"{key}.{k}") for k, v in value.items()})
        if dataclasses.is_dataclass(tp):
            return self.dataclass(value, typing.cast(type, tp), key)
        return self.scalar(value, tp, key)

    def scalar(self, value: Any, tp: Any, key: str) -> Any:
        if tp is bool:
            if isinstance(value, bool):
                return value
        elif tp is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        elif tp is float:
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
        elif tp is str:
            if isinstance(value, str):
                return value
        elif tp is time:
            if isinstance(value, time):
                return value
            if isinstance(value, str):
                try:
                    return time.fromisoformat(value)
                except ValueError:
                    raise self.fail(key, f"bad time {value!r}: expected HH:MM") from None
        elif tp is date:
            if isinstance(value, date):
                return value
            if isinstance(value, str):
                try:
                    return date.fromisoformat(value)
                except ValueError:
                    raise self.fail(key, f"bad date {value!r}: expected YYYY-MM-DD") from None
        else:  # pragma: no cover - schema error, not user error
            raise TypeError(f"unsupported schema type {tp!r} at {key}")
        raise self.fail(key, f"must be {_type_name(tp)}, got {type(value).__name__} {value!r}")

    def dataclass(self, value: Any, cls: type, key: str) -> Any:
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a table, got {type(value).__name__}")
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "source_path"}
        if cls is RuleConfig:
            # severity and enabled are ours; any other key is a rule option.
            options = {k: v for k, v in value.items() if k not in ("severity", "enabled")}
            value = {k: v for k, v in value.items() if k in ("severity", "enabled")}
            value["options"] = options
        kwargs: dict[str, Any] = {}
        for name, item in value.items():
            sub = f"{key}.{name}" if key else name
            if name not in fields:
                known = ", ".join(fields)
                raise self.fail(sub, f"unknown key (known keys here: {known})")
            kwargs[name] = self.convert(item, hints[name], sub)
        for name, f in fields.items():
            missing = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            if missing and name not in kwargs:
                raise self.fail(f"{key}.{name}" if key else name, "required key is missing")
        return cls(**kwargs)


# Tables an extending policy replaces whole instead of merging key by key: an
# hours table switched to `always = true` must not keep the base's opens/closes.
_REPLACED_WHOLE = {("hours", "*")}


def _merge(
    base: dict[str, Any], override: dict[str, Any], path: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Deep-merge tables; lists and scalars in `override` replace those in `base`."""
    merged = dict(base)
    for key, value in override.items():
        here = (*path, key)
        whole = here in _REPLACED_WHOLE or (*path, "*") in _REPLACED_WHOLE
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and not whole:
            merged[key] = _merge(merged[key], value, here)
        else:
            merged[key] = value
    return merged


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise PolicyError(f"{path}: policy file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read policy file: {exc.strerror}") from None


def _resolve_extends(name: str, relative_to: Path) -> Path:
    packaged = POLICY_DIR / f"{name}.toml"
    if "/" not in name and not name.endswith(".toml") and packaged.exists():
        return packaged
    return (relative_to.parent / name).resolve()


def _load_raw(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    if path in seen:
        chain = " -> ".join(str(p) for p in (*seen, path))
        raise PolicyError(f"{path}: meta.extends: circular extends ({chain})")
    raw = _read_toml(path)
    meta = raw.get("meta", {})
    parent = meta.get("extends") if isinstance(meta, dict) else None
    if parent is None:
        return raw
    if not isinstance(parent, str):
        raise PolicyError(f"{path}: meta.extends: must be a profile name or a file path")
    base = _load_raw(_resolve_extends(parent, path), (*seen, path))
    # Keyed lists of tables (fault levels) replace wholesale, like other lists.
    return _merge(base, raw)


def profile_path(name: str) -> Path:
    """The packaged policy file of a profile (`pusai`, `seed002`)."""
    path = POLICY_DIR / f"{name}.toml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in POLICY_DIR.glob("*.toml")))
        raise PolicyError(f"unknown policy profile {name!r} (packaged: {known})")
    return path


def load_policy(path: str | Path | None = None) -> Policy:
    """Load and validate a policy file; `None` loads the packaged 朴赛 default.

    A bare profile name (`seed002`) selects a packaged profile.
    """
    if path is None:
        resolved = profile_path(DEFAULT_PROFILE)
    elif isinstance(path, str) and (POLICY_DIR / f"{path}.toml").exists() and "/" not in path:
        resolved = profile_path(path)
    else:
        resolved = Path(path)
    raw = _load_raw(resolved)
    source = str(resolved)
    policy = typing.cast(Policy, _Converter(source).dataclass(raw, Policy, ""))
    policy = dataclasses.replace(policy, source_path=source)
    _check_consistency(policy, source)
    return policy


def _check_consistency(policy: Policy, source: str) -> None:
    def fail(key: str, problem: str) -> PolicyError:
        return PolicyError(f"{source}: {key}: {problem}")

    for day in policy.calendar.working_weekdays:
        if not 1 <= day <= 7:
            raise fail("calendar.working_weekdays", f"{day} is not an ISO weekday 1–7")
    for name, hours in policy.hours.items():
        if hours.always:
            if hours.opens or hours.closes:
                raise fail(f"hours.{name}", "give either always = true or opens/closes, not both")
        elif hours.opens is None or hours.closes is None:
            raise fail(f"hours.{name}", "needs opens and closes (or always = true)")
        elif hours.opens >= hours.closes:
            raise fail(f"hours.{name}.closes", "must be later than opens")
    for name, channel in policy.channels.items():
        if name not in CHANNELS:
            raise fail(f"channels.{name}", f"unknown channel (known: {', '.join(CHANNELS)})")
        if channel.hours not in policy.hours:
            raise fail(f"channels.{name}.hours", f"no [hours.{channel.hours}] table")
        for attr in ("response_working_s", "response_rest_s"):
            if getattr(channel, attr) <= 0:
                raise fail(f"channels.{name}.{attr}", "must be positive")
    missing = [c for c in CHANNELS if c not in policy.channels]
    if missing:
        raise fail("channels", f"missing channel(s): {', '.join(missing)}")
    for code in policy.rules:
        if code not in RULE_CODES:
            raise fail(f"rules.{code}", "unknown rule code")
    absent = [c for c in RULE_CODES if c not in policy.rules]
    if absent:
        raise fail("rules", f"no severity given for: {', '.join(absent)}")
    for name, forbidden in policy.forbidden.items():
        if forbidden.rule not in RULE_CODES:
            raise fail(f"forbidden.{name}.rule", f"unknown rule code {forbidden.rule!r}")
        for phrase in forbidden.exceptions:
            if phrase not in forbidden.phrases:
                raise fail(
                    f"forbidden.{name}.exceptions.{phrase}",
                    "exception for a phrase that is not in this list's phrases",
                )
    _check_detectors(policy, fail)
    for code in policy.presend.lines:
        if code not in RULE_CODES:
            raise fail(f"presend.lines.{code}", "unknown rule code")
    for code in policy.scoring.fatal:
        if code not in RULE_CODES:
            raise fail("scoring.fatal", f"unknown rule code {code!r}")
    tiers = [t.max_km for t in policy.sla.onsite]
    if tiers != sorted(tiers):
        raise fail("sla.onsite", "tiers must be in increasing max_km order")
    labels = [level.label for level in policy.satisfaction.scale]
    if len(set(labels)) != len(labels):
        raise fail("satisfaction.scale", "labels must be unique")
    if not 0 <= policy.matching.fuzzy_cutoff <= 100:
        raise fail("matching.fuzzy_cutoff", "must be between 0 and 100")
    codes = [level.code for level in policy.fault_levels]
    if len(set(codes)) != len(codes):
        raise fail("fault_levels", "codes must be unique")
    for i, engineer in enumerate(policy.roster.engineers):
        bad = [r for r in engineer.roles if r not in ROLES]
        if bad:
            raise fail(f"roster.engineers[{i}].roles", f"unknown role(s) {bad} (known: {ROLES})")
    staff = [e.staff_no for e in policy.roster.engineers]
    if len(set(staff)) != len(staff):
        raise fail("roster.engineers", "工号 (staff_no) must be unique")


def _check_detectors(policy: Policy, fail: typing.Callable[[str, str], PolicyError]) -> None:
    """Detector tables: known rule codes and layers, thresholds in 0–1, regexes that
    compile, lexicons that ship, operators that have something to look for."""
    import re

    from compliance.matchers import wordlist_names

    shipped = wordlist_names()
    cue_names = (*CUSTOMER_CUE_DETECTORS, *AGENT_CUE_DETECTORS)
    for name, detector in policy.detectors.items():
        key = f"detectors.{name}"
        if name not in policy.forbidden and name not in cue_names:
            raise fail(
                key,
                "a detector extends a forbidden list or a cue list of the same name "
                f"(forbidden lists: {', '.join(policy.forbidden)}; "
                f"cue lists: {', '.join(cue_names)})",
            )
        if name in policy.forbidden and detector.rule != policy.forbidden[name].rule:
            raise fail(
                f"{key}.rule",
                f"must be {policy.forbidden[name].rule}, the rule of forbidden.{name}",
            )
        if detector.rule not in RULE_CODES:
            raise fail(f"{key}.rule", f"unknown rule code {detector.rule!r}")
        for layer in detector.layers:
            if layer not in LAYERS:
                raise fail(f"{key}.layers.{layer}", f"unknown layer (layers: {', '.join(LAYERS)})")
        similarity = detector.similarity
        for attr in ("threshold", "review_threshold", "negative_threshold"):
            if not 0 < getattr(similarity, attr) <= 1:
                raise fail(f"{key}.similarity.{attr}", "must be above 0 and at most 1")
        if similarity.review_threshold > similarity.threshold:
            raise fail(f"{key}.similarity.review_threshold", "must not exceed threshold")
        names: set[str] = set()
        for i, operator in enumerate(detector.operators):
            where = f"{key}.operators[{i}]"
            if operator.name in names:
                raise fail(f"{where}.name", f"two operators named {operator.name!r}")
            names.add(operator.name)
            for j, lexicon in enumerate(operator.evaluation_lexicons):
                if lexicon not in shipped:
                    raise fail(
                        f"{where}.evaluation_lexicons[{j}]",
                        f"no lexicon {lexicon!r} (shipped: {', '.join(shipped)})",
                    )
            for j, pattern in enumerate(operator.patterns):
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise fail(f"{where}.patterns[{j}]", f"not a valid regex: {exc}") from None
            if operator.kind == "regex" and not operator.patterns:
                raise fail(f"{where}.patterns", "a regex operator needs patterns")
            if operator.kind != "regex" and not (
                operator.evaluations or operator.evaluation_lexicons
            ):
                raise fail(f"{where}.evaluations", f"a {operator.kind} operator needs evaluations")
            if operator.kind == "context" and not (operator.targets or operator.owned_targets):
                raise fail(f"{where}.targets", "a context operator needs targets")
            if operator.owned_targets and not operator.owners:
                raise fail(f"{where}.owners", "owned_targets need owners")
            if operator.window < 0:
                raise fail(f"{where}.window", "must not be negative")
            if not 0 < operator.confidence <= 1:
                raise fail(f"{where}.confidence", "must be above 0 and at most 1")


# ------------------------------------------------------------- calendars --


def build_calendar(policy: Policy) -> WorkCalendar:
    """The working-day calendar the policy describes."""
    from compliance.calendar import HolidayOverride, WorkCalendar

    return WorkCalendar(
        working_weekdays=policy.calendar.working_weekdays,
        overrides=[
            HolidayOverride(date=o.date, working_day=o.working_day, name=o.name)
            for o in policy.calendar.overrides
        ],
        use_statutory=policy.calendar.statutory_holidays,
    )


def build_clock(policy: Policy, calendar: WorkCalendar | None = None) -> AttendedClock:
    """The attended-hours clock per channel the policy describes."""
    from compliance.calendar import AttendedClock, AttendedHours

    def hours_of(spec: HoursSpec) -> AttendedHours:
        if spec.always:
            return AttendedHours(opens=None, closes=None)
        return AttendedHours(opens=spec.opens, closes=spec.closes)

    by_channel = {name: hours_of(policy.hours[c.hours]) for name, c in policy.channels.items()}
    default = hours_of(policy.hours.get("chat", HoursSpec(always=True)))
    return AttendedClock(calendar or build_calendar(policy), by_channel, default)
