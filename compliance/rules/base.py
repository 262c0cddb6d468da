"""The rule contract: a small class with a code, a name, typed options and `check`.

Every rule of SPEC §6 subclasses `Rule`:

- ``code`` and ``name``: the stable code and short name of `compliance.codes`;
- ``Options``: a frozen dataclass with defaults; the policy's ``[rules.CODE]`` keys
  other than ``severity`` / ``enabled`` are checked against it when the checker
  starts, so an unknown or wrongly typed option is a `PolicyError` naming the key;
- ``check(session, facts, ctx)``: yields `Finding`s; ``facts`` are the session's
  shared facts (`SessionFacts`, worked out once by the checker for every rule),
  ``ctx`` is the run's `CheckContext` (policy, calendar, clock, matchers).

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
from compliance.typed_toml import TomlConverter, type_name

if TYPE_CHECKING:
    from compliance.context import CheckContext
    from compliance.rules.facts import SessionFacts


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

    def check(self, session: Session, facts: SessionFacts, ctx: CheckContext) -> Iterator[Finding]:
        """Yield the findings of this rule on one session (`facts` are its shared facts)."""
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


def parse_options(
    options_type: type[Any], raw: Mapping[str, Any], code: str, source: str = ""
) -> Any:
    """Build a rule's options from the policy's ``[rules.CODE]`` extra keys.

    Raises `PolicyError` naming ``rules.CODE.key`` for an unknown key or a wrong type.
    """
    converter = TomlConverter(source, PolicyError)
    return converter.dataclass(dict(raw), options_type, f"rules.{code}", noun="option")


def option_docs(options_type: type[Any]) -> list[tuple[str, str, str]]:
    """(name, type, default) of every option, for the generated documentation."""
    hints = typing.get_type_hints(options_type)
    rows: list[tuple[str, str, str]] = []
    for f in dataclasses.fields(options_type):
        default = f.default if f.default is not dataclasses.MISSING else None
        if f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        rows.append((f.name, type_name(hints[f.name]), _toml(default)))
    return rows


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)
