"""The service policy: loaded once from TOML, validated into frozen typed objects.

The default policy (`policies/pusai.toml`) is the 朴赛 standard of seed 000;
`policies/seed002.toml` is the bid's fault-level profile.  `load_policy(path)`
reads another file; a file may `extends` a packaged profile (by name) or
another file (by path, relative to itself) and override only what differs.

Every key is checked: an unknown key, a wrong type, a bad time or date is a
`PolicyError` whose message names the file and the dotted key, so the person
editing the policy knows what to fix.

The schema itself (the frozen dataclasses) is `compliance.policy_schema`.
"""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from pathlib import Path
from typing import Any

from compliance.codes import RULE_CODES
from compliance.delivery_policy import CHECKLISTS, ChecklistItem, DeliveryPolicy
from compliance.policy_schema import (
    AGENT_CUE_DETECTORS,
    CHANNELS,
    CUSTOMER_CUE_DETECTORS,
    LAYERS,
    ROLES,
    SEVERITIES,
    CalendarPolicy,
    ChannelPolicy,
    Company,
    ComplaintPolicy,
    DetectionGrammar,
    DetectorPolicy,
    DutyPolicy,
    Exclusion,
    FaultLevel,
    ForbiddenList,
    HoursSpec,
    MatchingPolicy,
    Meta,
    OnsiteTier,
    OperatorSpec,
    OverrideDay,
    Phrases,
    Policy,
    PresendPolicy,
    RosterEngineer,
    RosterPolicy,
    RuleConfig,
    SatisfactionLevel,
    SatisfactionPolicy,
    ScoringPolicy,
    Severity,
    SimilaritySpec,
    SlaPolicy,
    WarrantyPolicy,
)
from compliance.typed_toml import TomlConverter

if typing.TYPE_CHECKING:
    from compliance.calendar import AttendedClock, WorkCalendar

# The schema's names are part of this module's interface: readers import them from here.
__all__ = [
    "AGENT_CUE_DETECTORS",
    "CHANNELS",
    "CUSTOMER_CUE_DETECTORS",
    "DEFAULT_PROFILE",
    "LAYERS",
    "POLICY_DIR",
    "ROLES",
    "SEVERITIES",
    "CalendarPolicy",
    "ChannelPolicy",
    "ChecklistItem",
    "Company",
    "ComplaintPolicy",
    "DeliveryPolicy",
    "DetectionGrammar",
    "DetectorPolicy",
    "DutyPolicy",
    "Exclusion",
    "FaultLevel",
    "ForbiddenList",
    "HoursSpec",
    "MatchingPolicy",
    "Meta",
    "OnsiteTier",
    "OperatorSpec",
    "OverrideDay",
    "Phrases",
    "Policy",
    "PolicyError",
    "PresendPolicy",
    "RosterEngineer",
    "RosterPolicy",
    "RuleConfig",
    "SatisfactionLevel",
    "SatisfactionPolicy",
    "ScoringPolicy",
    "Severity",
    "SimilaritySpec",
    "SlaPolicy",
    "WarrantyPolicy",
    "build_calendar",
    "build_clock",
    "load_policy",
    "profile_path",
]

POLICY_DIR = Path(__file__).with_name("policies")
DEFAULT_PROFILE = "pusai"


class PolicyError(ValueError):
    """A policy file that cannot be used; the message names the file and key."""


# ----------------------------------------------------------------- loading --


class _PolicyConverter(TomlConverter):
    """The policy's tables: a ``[rules.CODE]`` table's keys other than severity and
    enabled are that rule's options, checked by the rule itself."""

    internal_fields = frozenset({"source_path"})

    def dataclass(self, value: Any, cls: type, key: str, *, noun: str = "key") -> Any:
        if cls is RuleConfig and isinstance(value, dict):
            options = {k: v for k, v in value.items() if k not in ("severity", "enabled")}
            value = {k: v for k, v in value.items() if k in ("severity", "enabled")}
            value["options"] = options
        return super().dataclass(value, cls, key, noun=noun)


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
    except RecursionError:
        raise PolicyError(f"{path}: not valid TOML: arrays or tables nested too deeply") from None
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
    policy = typing.cast(Policy, _PolicyConverter(source, PolicyError).dataclass(raw, Policy, ""))
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
    duty = policy.duty
    if duty.opens >= duty.closes:
        raise fail("duty.closes", "must be later than duty.opens")
    if duty.workday_opens >= duty.workday_closes:
        raise fail("duty.workday_closes", "must be later than duty.workday_opens")
    tiers = [t.max_km for t in policy.sla.onsite]
    if tiers != sorted(tiers):
        raise fail("sla.onsite", "tiers must be in increasing max_km order")
    labels = [level.label for level in policy.satisfaction.scale]
    if len(set(labels)) != len(labels):
        raise fail("satisfaction.scale", "labels must be unique")
    for key in ("low_ratings", "review_ratings"):
        unknown = [r for r in getattr(policy.satisfaction, key) if r not in labels]
        if unknown:
            raise fail(f"satisfaction.{key}", f"{unknown!r} not in satisfaction.scale")
    for key in ("survey_after_s", "late_rating_days"):
        if getattr(policy.satisfaction, key) < 0:
            raise fail(f"satisfaction.{key}", "must not be negative")
    if not 0 <= policy.matching.fuzzy_cutoff <= 100:
        raise fail("matching.fuzzy_cutoff", "must be between 0 and 100")
    codes = [level.code for level in policy.fault_levels]
    if len(set(codes)) != len(codes):
        raise fail("fault_levels", "codes must be unique")
    for i, engineer in enumerate(policy.roster.engineers):
        bad = [r for r in engineer.roles if r not in ROLES]
        if bad:
            raise fail(f"roster.engineers[{i}].roles", f"unknown role(s) {bad} (known: {ROLES})")
    _check_delivery(policy, fail)
    staff = [e.staff_no for e in policy.roster.engineers]
    if len(set(staff)) != len(staff):
        raise fail("roster.engineers", "工号 (staff_no) must be unique")


def _check_delivery(policy: Policy, fail: typing.Callable[[str, str], PolicyError]) -> None:
    delivery = policy.delivery
    for name in CHECKLISTS:
        key = "returning" if name == "return" else name
        codes = [item.code for item in delivery.checklist(name)]
        if len(set(codes)) != len(codes):
            raise fail(f"delivery.{key}", "item codes must be unique")
    known = {level.code for level in policy.fault_levels}
    for code in delivery.stable_run_exempt_levels:
        if code not in known:
            raise fail("delivery.stable_run_exempt_levels", f"unknown fault level {code!r}")


def _check_detectors(policy: Policy, fail: typing.Callable[[str, str], PolicyError]) -> None:
    """Detector tables: known rule codes and layers, thresholds in 0–1, regexes that
    compile, lexicons that ship, operators that have something to look for."""
    import re

    from compliance.wordlists import wordlist_names

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
        for j, pattern in enumerate(detector.ruled_out):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise fail(f"{key}.ruled_out[{j}]", f"not a valid regex: {exc}") from None
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
