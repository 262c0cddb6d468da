"""The transcript model every source becomes, and the finding every rule yields.

Files (SPEC §4 JSON Lines) and stored tickets both turn into `Session`s of
`Line`s; the rules see nothing else, so `aftersales check FILE` and
`aftersales check --db URL` judge the same conversation the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from operator import attrgetter
from typing import Any, Literal, TypeVar

_T = TypeVar("_T")


def pickled_by_fields(cls: type[_T]) -> type[_T]:
    """Class decorator for slots dataclasses: pickle as ``(cls, field values)``.

    The default pickling of a slots dataclass goes through a state dict built and
    applied in Python; this is about twice as fast both ways, which counts when
    worker processes send tens of thousands of checked sessions to the parent.
    Every field must be an ``__init__`` argument, in order.
    """
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    if any(not f.init for f in fields(cls)):  # type: ignore[arg-type]
        raise TypeError(f"{cls.__name__}: a field outside __init__ cannot be pickled by fields")
    values: Callable[[Any], tuple[Any, ...]] = (
        attrgetter(*names) if len(names) > 1 else lambda obj: (getattr(obj, names[0]),)
    )

    def __reduce__(self: Any) -> tuple[type[_T], tuple[Any, ...]]:
        return (cls, values(self))

    cls.__reduce__ = __reduce__  # type: ignore[method-assign]
    return cls


Role = Literal["customer", "agent", "event"]
ROLES: frozenset[str] = frozenset({"customer", "agent", "event"})

Severity = Literal["error", "warning", "info"]

EVENTS: frozenset[str] = frozenset(
    {
        "ticket_opened",
        "ticket_accepted",
        "remote_login",
        "solution_given",
        "extension_granted",
        "escalated",
        "resolved",
        "closed",
        "satisfaction_rated",
        # Seed 002 1.1.2: a complaint's clocks (first reply, resolution).
        "complaint_opened",
        "complaint_resolved",
    }
)
SATISFACTION_LABELS: tuple[str, ...] = ("很满意", "满意", "一般", "不满意")
# The fault levels a ``ticket_opened`` line may carry (SPEC §4, seed 002 1.1.7).
FAULT_LEVEL_LABELS: tuple[str, ...] = ("一级", "二级", "三级", "四级", "技术咨询", "其它")
# Other spellings of them (the policy's names, 其他), read as the label they mean.
FAULT_LEVEL_ALIASES: dict[str, str] = {
    **{label: label for label in FAULT_LEVEL_LABELS},
    **{f"{label}故障": label for label in FAULT_LEVEL_LABELS[:4]},
    "其它问题": "其它",
    "其他": "其它",
    "其他问题": "其它",
    # The packaged policies' codes (a stored ticket keeps the code).
    "L1": "一级",
    "L2": "二级",
    "L3": "三级",
    "L4": "四级",
    "CONSULT": "技术咨询",
    "OTHER": "其它",
}

# Times outside these years (as written, in their own offset) are input errors (SPEC §4).
FIRST_YEAR = 1970
LAST_YEAR = 2100


# Not frozen: a frozen dataclass sets each field through object.__setattr__, which
# made building a million lines cost 1.7 µs each (the benchmark reads that many).
# Lines are still treated as immutable by convention, and hash by value.
@pickled_by_fields
@dataclass(slots=True, unsafe_hash=True)
class Line:
    """One transcript line, in session order (`index` is its 0-based position)."""

    session: str
    index: int
    ts: datetime
    role: Role
    channel: str
    sender: str | None = None
    name: str | None = None
    text: str | None = None
    event: str | None = None
    rating: str | None = None
    source: str | None = None
    """The file the line came from, or the stored table ("db:messages")."""
    line_no: int | None = None
    """Its line in that file (1-based), or its row id in that table."""
    fault_level: str | None = None
    """A ``ticket_opened`` line's fault level (one of `FAULT_LEVEL_LABELS`), if given."""

    @property
    def origin(self) -> str | None:
        """Where the line came from, ``FILE:LINE`` or ``db:messages:ID``.  Built when
        asked: a million-line run would otherwise hold a million such strings."""
        if self.line_no is None:
            return self.source
        return f"{self.source}:{self.line_no}"


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class Session:
    """All lines of one conversation (a ticket), ordered by ts then file order."""

    id: str
    channel: str
    lines: tuple[Line, ...]
    # Names of engineers by 工号 as given in the transcript (the roster may add more).
    names: Mapping[str, str] = field(default_factory=dict)

    @property
    def has_events(self) -> bool:
        return any(line.role == "event" for line in self.lines)

    @property
    def agents(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for line in self.lines:
            if line.role == "agent" and line.sender:
                seen.setdefault(line.sender, None)
        return tuple(seen)


# Not frozen, for the reason given at `Line` (tens of thousands are built in a
# million-line check); treated as immutable (change one with dataclasses.replace).
@pickled_by_fields
@dataclass(slots=True, unsafe_hash=True)
class Finding:
    """One rule violation, with the evidence a reviewer needs (SPEC §3)."""

    session: str
    rule: str
    severity: Severity
    message: str
    ts: datetime | None = None
    index: int | None = None
    agent: str | None = None
    evidence: str | None = None
    # Character span of the evidence within the line's text, for highlighting.
    span: tuple[int, int] | None = None
    # The phrase list or cue set the match came from (e.g. "forbidden.abuse").
    source: str | None = None
    score: float | None = None
    suggestion: str | None = None
    # True when the rule inferred an event (remote login, resolution) from text.
    inferred: bool = False
    # The detector layer that caught it (phrase / operator / similarity) and how sure
    # that layer is (0–1); None for rules that do not read text that way (SLA …).
    layer: str | None = None
    confidence: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The SPEC §3 JSON shape plus the extra evidence fields."""
        return {
            "session": self.session,
            "rule": self.rule,
            "severity": self.severity,
            "ts": self.ts.isoformat() if self.ts else None,
            "index": self.index,
            "agent": self.agent,
            "message": self.message,
            "evidence": self.evidence,
            "span": list(self.span) if self.span else None,
            "source": self.source,
            "score": self.score,
            "suggestion": self.suggestion,
            "inferred": self.inferred,
            "layer": self.layer,
            "confidence": self.confidence,
        }


class TranscriptError(ValueError):
    """A bad input line; `str()` is ``FILE:LINE: what is wrong``."""

    def __init__(self, path: str, line_no: int | None, problem: str) -> None:
        self.path = path
        self.line_no = line_no
        self.problem = problem
        where = f"{path}:{line_no}" if line_no is not None else path
        super().__init__(f"{where}: {problem}")

    def __reduce__(self) -> tuple[type[TranscriptError], tuple[str, int | None, str]]:
        # Sent between processes when files are checked on several cores.
        return (TranscriptError, (self.path, self.line_no, self.problem))
