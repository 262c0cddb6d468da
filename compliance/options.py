"""The validated command line of ``aftersales check``, and the error for a bad one.

`compliance.cli.parse_options` builds `CheckOptions` from the parsed arguments;
`compliance.run.run` does what they ask.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

__all__ = ["CheckOptions", "UsageError"]


class UsageError(ValueError):
    """A command line that cannot be run; the message says what to change."""


@dataclass(frozen=True, slots=True)
class CheckOptions:
    """The validated command line of one check."""

    paths: tuple[str, ...]
    db: str | None
    since: date | None
    until: date | None
    format: str
    out: Path | None
    select: frozenset[str] | None
    ignore: frozenset[str]
    save: bool
    save_db: str | None
    progress: bool
    policy: str | None
    jobs: int = 1
    """Processes that read and check files (the ``--jobs`` given, or `auto_jobs`' pick)."""
    raw_select: tuple[str, ...] = field(default=())
    raw_ignore: tuple[str, ...] = field(default=())

    @property
    def database(self) -> str | None:
        """The database this run reads from or saves into, if any."""
        return self.db or self.save_db
