"""The rule contract: a small class with a code, a name, typed options and `check`.

Every rule of SPEC §6 subclasses `Rule`:

- ``code`` and ``name``: the stable code and short name of `compliance.codes`;
- ``Options``: a frozen dataclass with defaults; the policy's ``[rules.CODE]`` keys
  other than ``severity`` / ``enabled`` are checked against it when the checker
  starts, so an unknown or wrongly typed option is a `PolicyError` naming the key;
- ``check(session, ctx)``: yields `Finding`s; ``ctx`` is the run's `CheckContext`
  (policy, calendar, clock, matchers, and the facts of the session at hand).

The class docstring is the rule's documentation (``docs/rules.md`` is generated
from it): a one-line summary, the seed clause it enforces, quoted, a failing and a
passing snippet, and its options.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from compliance.model import Finding, Line, Session
from compliance.policy import Policy, PolicyError, Severity

if TYPE_CHECKING:
    from compliance.checker import CheckContext


@dataclass(frozen=True, slots=True)
class NoOptions:
    """A rule without options."""


class Rule:
    """Base of every rule; see the module docstring for the contract."""

    code: ClassVar[str]
    name: ClassVar[str]
    Options: ClassVar[type[Any]] = NoOptions

    def __init__(self, severity: Severity, options: Any = None) -> None:
        self.severity: Severity = severity
        self.options = options if options is not None else self.Options()

    @classmethod
    def from_policy(cls, policy: Policy) -> Rule:
        """The rule with the severity and options the policy gives it."""
        config = policy.rules[cls.code]
        options = parse_options(cls.Options, config.options, cls.code, policy.source_path)
        return cls(config.severity, options)

    def check(self, session: Session, ctx: CheckContext) -> Iterator[Finding]:
        """Yield the findings of this rule on one session."""
        raise NotImplementedError

    def finding(
        self,
        session: Session,
        message: str,
        *,
        line: Line | None = None,
        ts: datetime | None = None,
        agent: str | None = None,
        evidence: str | None = None,
        span: tuple[int, int] | None = None,
        source: str | None = None,
        score: float | None = None,
        suggestion: str | None = None,
        inferred: bool = False,
        severity: Severity | None = None,
        layer: str | None = None,
        confidence: float | None = None,
    ) -> Finding:
        """A finding of this rule; position and time come from `line` unless given,
        the severity is the rule's unless the detector layer that caught it sets one."""
        return Finding(
            session=session.id,
            rule=self.code,
            severity=severity or self.severity,
            message=message,
            ts=ts if ts is not None or line is None else line.ts,
            index=line.index if line is not None else None,
            agent=agent,
            evidence=evidence,
            span=span,
            source=source,
            score=score,
            suggestion=suggestion,
            inferred=inferred,
            layer=layer,
            confidence=confidence,
        )


def _type_label(tp: Any) -> str:
    labels = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    if tp in labels:
        return labels[tp]
    return "a list of strings"


def _convert(value: Any, tp: Any) -> Any:
    """`value` as type `tp`, or raise TypeError."""
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
    elif typing.get_origin(tp) is tuple:
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return tuple(value)
    else:  # pragma: no cover - a rule author's mistake, caught by the meta-test
        raise AssertionError(f"unsupported option type {tp!r}")
    raise TypeError(_type_label(tp))


def parse_options(
    options_type: type[Any], raw: Mapping[str, Any], code: str, source: str = ""
) -> Any:
    """Build a rule's options from the policy's ``[rules.CODE]`` extra keys.

    Raises `PolicyError` naming ``rules.CODE.key`` for an unknown key or a wrong type.
    """
    where = f"{source}: " if source else ""
    hints = typing.get_type_hints(options_type)
    fields = {f.name for f in dataclasses.fields(options_type)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in fields:
            known = ", ".join(sorted(fields)) or "none"
            raise PolicyError(
                f"{where}rules.{code}.{key}: unknown option for {code} (its options: {known})"
            )
        try:
            values[key] = _convert(value, hints[key])
        except TypeError as exc:
            raise PolicyError(
                f"{where}rules.{code}.{key}: must be {exc.args[0]}, got {value!r}"
            ) from None
    return options_type(**values)


def option_docs(options_type: type[Any]) -> list[tuple[str, str, str]]:
    """(name, type, default) of every option, for the generated documentation."""
    hints = typing.get_type_hints(options_type)
    rows: list[tuple[str, str, str]] = []
    for f in dataclasses.fields(options_type):
        default = f.default if f.default is not dataclasses.MISSING else None
        if f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        rows.append((f.name, _type_label(hints[f.name]), _toml(default)))
    return rows


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)
