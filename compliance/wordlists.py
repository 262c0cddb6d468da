"""The word lists shipped in ``compliance/data`` (LDNOOBW, NTUSD …): their names and entries.

Read by the policy loader (to check the names a policy gives) and by the matchers
and detectors (to use the entries); it depends on nothing of ours.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

__all__ = ["load_wordlist", "wordlist_names"]


def wordlist_names() -> tuple[str, ...]:
    """The word lists shipped in ``compliance/data`` (``<name>.txt``)."""
    data = resources.files("compliance") / "data"
    return tuple(
        sorted(
            entry.name.removesuffix(".txt")
            for entry in data.iterdir()
            if entry.name.endswith(".txt")
        )
    )


@lru_cache(maxsize=8)
def load_wordlist(name: str) -> tuple[str, ...]:
    """Every entry of a shipped word list, as published (one per line, blanks skipped).

    Raises `KeyError` naming the known lists when there is no list called `name`.
    """
    if not re.fullmatch(r"[A-Za-z0-9_]+", name) or name not in wordlist_names():
        raise KeyError(f"no word list {name!r} (shipped: {', '.join(wordlist_names())})")
    data = resources.files("compliance") / "data" / f"{name}.txt"
    text = data.read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip())
