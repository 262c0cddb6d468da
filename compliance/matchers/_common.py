"""Helpers the matchers share: the text folder of a policy and where texts joined
with the separator begin (one automaton pass over many texts)."""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Sequence
from functools import lru_cache

import ahocorasick

from compliance.normalize import SEPARATOR, TextFolder
from compliance.policy import Policy

# Bound of the per-run caches of parsed greetings and scored script lines.
_CACHE_SIZE = 4096


def _starts(joined: str) -> list[int]:
    """Where each text begins in texts joined with the separator."""
    starts = [0]
    position = joined.find(SEPARATOR)
    while position >= 0:
        starts.append(position + 1)
        position = joined.find(SEPARATOR, position + 1)
    return starts


def _candidates(automaton: ahocorasick.Automaton, joined: str, texts: int) -> Sequence[int]:
    """Which of `texts` texts, joined with the separator into `joined`, have a match
    of `automaton` (in order): one pass over them all instead of one per text."""
    if joined.count(SEPARATOR) != texts - 1:
        return range(texts)  # a text holds the separator: look at each one
    ends = [end for end, _found in automaton.iter(joined)]
    if not ends:
        return ()  # the common case: where the text starts is not needed
    return _texts_of(_starts(joined), ends)


def folder_for(policy: Policy) -> TextFolder:
    """The text folder of a policy's matching settings (cached per setting)."""
    return _folder(policy.matching.filler_chars, policy.matching.traditional_to_simplified)


@lru_cache(maxsize=8)
def _folder(filler_chars: str, traditional_to_simplified: bool) -> TextFolder:
    return TextFolder(filler_chars, traditional_to_simplified)


def _is_latin_word_char(char: str) -> bool:
    return char.isascii() and char.isalnum()


def _texts_of(starts: list[int], ends: list[int]) -> Sequence[int]:
    """The texts (by their `starts` in a joined text) that these match ends fall in."""
    if not ends:
        return ()
    return sorted({bisect_right(starts, end) - 1 for end in ends})


@lru_cache(maxsize=1)
def _symbols_class() -> str:
    """Every punctuation, symbol, separator, control and format character of the
    BMP, escaped for a regex character class (a scan of 65,536 characters, once)."""
    category = unicodedata.category
    return "".join(
        re.escape(char)
        for char in map(chr, range(0x10000))
        if category(char)[0] in "PSZ" or category(char) in ("Cc", "Cf")
    )


@lru_cache(maxsize=4)
def _symbols_pattern(extra: str) -> re.Pattern[str]:
    """Runs of punctuation, symbols (emoji), separators, control and format characters,
    plus the characters of `extra`.  A regular expression is ~20 times faster than
    asking `unicodedata` character by character."""
    bmp = _symbols_class() + "".join(re.escape(c) for c in extra)
    # Emoji and pictographs beyond the BMP in a separate branch keeps the BMP class a
    # fast bitmap.
    return re.compile(f"[{bmp}]+|[\U0001f000-\U0001faff]+")
