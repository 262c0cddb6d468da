"""Fault level and intent of a customer's message, from the policy's cue lists.

Matching is fuzzy (rapidfuzz partial ratio against the policy's cutoff) over
text normalised the simple way: lower case, no blanks.  The fault levels are
tried in policy order, most severe first, so "请问怎么开不了机" is a level-1
fault and not a consultation; a message with no cue falls into the level that
has no cues (其它问题) when the policy has one.

Whether a fault is intermittent (间断性, seed 000 【售后交付标准】1.b: 72 h of
stable running before delivery instead of 24 h) is read from the cues of the
level the policies call `L4` (断续或间接影响服务: 偶尔, 时好时坏 …), whatever
level the message was classified into.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rapidfuzz import fuzz

from compliance.policy import FaultLevel, Policy

_BLANKS = re.compile(r"\s+")
# The fault level whose cues describe an intermittent fault (both profiles).
INTERMITTENT_LEVEL = "L4"


def _normalise(text: str) -> str:
    return _BLANKS.sub("", text).lower()


@dataclass(frozen=True, slots=True)
class CueHit:
    """The cue that matched and how well (0–100)."""

    cue: str
    score: float


@dataclass(frozen=True, slots=True)
class Classification:
    """What the bot understood of a first message."""

    fault_level: str | None
    fault_level_name: str | None
    fault_cue: CueHit | None
    # Intents that matched, best first; `intent` is the first or None.
    intents: tuple[str, ...]
    intermittent: bool = False

    @property
    def intent(self) -> str | None:
        return self.intents[0] if self.intents else None


class Classifier:
    """Classifies customer text by the policy's fault-level and intent cues."""

    def __init__(self, policy: Policy) -> None:
        self.cutoff = policy.matching.fuzzy_cutoff
        self.levels: tuple[FaultLevel, ...] = policy.fault_levels
        self.intents = {
            name: tuple(_normalise(c) for c in cues if c.strip())
            for name, cues in policy.intents.items()
        }
        self._fallback = next((level for level in self.levels if not level.cues), None)
        self._intermittent_cues = next(
            (level.cues for level in self.levels if level.code == INTERMITTENT_LEVEL), ()
        )

    def best_cue(self, text: str, cues: tuple[str, ...]) -> CueHit | None:
        """The best-scoring cue at or above the cutoff, or None."""
        best: CueHit | None = None
        for cue in cues:
            needle = _normalise(cue)
            if not needle:
                continue
            score = 100.0 if needle in text else fuzz.partial_ratio(needle, text)
            if score >= self.cutoff and (best is None or score > best.score):
                best = CueHit(cue, score)
        return best

    def fault_level(self, text: str) -> tuple[FaultLevel | None, CueHit | None]:
        """Only the fault level of `text` and the cue that decided it (what the checker
        needs: no intents)."""
        return self._level(_normalise(text))

    def _level(self, norm: str) -> tuple[FaultLevel | None, CueHit | None]:
        for candidate in self.levels:
            hit = self.best_cue(norm, candidate.cues)
            if hit is not None:
                return candidate, hit
        return self._fallback, None

    def classify(self, text: str) -> Classification:
        norm = _normalise(text)
        level, level_hit = self._level(norm)
        scored: list[tuple[float, int, str]] = []
        for order, (name, cues) in enumerate(self.intents.items()):
            hit = self.best_cue(norm, cues)
            if hit is not None:
                scored.append((-hit.score, order, name))
        scored.sort()
        return Classification(
            fault_level=level.code if level else None,
            fault_level_name=level.name if level else None,
            fault_cue=level_hit,
            intents=tuple(name for _score, _order, name in scored),
            intermittent=self.best_cue(norm, self._intermittent_cues) is not None,
        )
