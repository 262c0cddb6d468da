"""Text normalisation for phrase matching, with a map back to the original text.

Two forms of a text are used by the matchers:

- **folded**: NFKC for letters and digits (full-width ``Ａ１`` become ``A1``;
  punctuation keeps its width), lower case, and, when the policy says so,
  traditional characters turned simplified (``他媽的`` → ``他妈的``, ``賤`` → ``贱``).
  Every step maps one character to one character, so a folded text has the same length
  as the original and a span in one is the same span in the other.  Cue lists are
  matched on this form, because their punctuation (``！！！``, ``ssh 登录``) means
  something.
- **normalised**: the folded text without filler characters (the policy's
  ``filler_chars`` and all white space) and without digits that sit between two CJK
  characters, so ``傻 逼``, ``傻_逼`` and ``傻1逼`` all read ``傻逼``.  Forbidden phrases
  are matched on this form; `TextFolder.normalize_with_map` gives, for every character
  of the normalised text, its position in the original, so a finding can quote the
  exact original span.

The character tables are built once per setting (about 40 ms) and cached.
Conversions that would change a text's length (NFKC ``①``... is fine, but ``㈱`` →
``(株)`` is not; OpenCC's phrase-level conversions) are left out on purpose: a
one-to-one fold is what keeps spans exact, and none of the left-out cases matter for
the phrases the policy lists.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# CJK unified ideographs (with extension A) and the compatibility block.
CJK_CLASS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# Runs of digits; those between two CJK characters are dropped (傻1逼).  Checking the
# neighbours of each run is far faster than a look-behind tried at every position.
_DIGITS = re.compile("[0-9]+")
_CJK = re.compile(f"[{CJK_CLASS}]")


def _cjk_digit_runs(text: str) -> list[tuple[int, int]]:
    """Spans of the digit runs of `text` that sit between two CJK characters."""
    runs: list[tuple[int, int]] = []
    last = len(text)
    for match in _DIGITS.finditer(text):
        start, end = match.span()
        if start > 0 and end < last and _CJK.match(text, start - 1) and _CJK.match(text, end):
            runs.append((start, end))
    return runs


def _without(text: str, runs: list[tuple[int, int]]) -> str:
    pieces: list[str] = []
    cursor = 0
    for start, end in runs:
        pieces.append(text[cursor:start])
        cursor = end
    pieces.append(text[cursor:])
    return "".join(pieces)


# Joins the messages of a session for one pass of the matchers: folding and
# stripping leave it alone (not a letter, not white space, not filler), and no
# phrase contains it, so no match runs from one message into the next.
SEPARATOR = "\x00"


@dataclass(frozen=True, slots=True)
class Normalized:
    """A normalised text and, per character, its index in the original text."""

    text: str
    positions: tuple[int, ...]

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The span of the original text that normalised ``[start, end)`` came from."""
        return self.positions[start], self.positions[end - 1] + 1


@lru_cache(maxsize=2)
def _t2s_table() -> dict[str, str]:
    """Single-character traditional → simplified conversions of OpenCC's ``t2s``."""
    import opencc

    converter = opencc.OpenCC("t2s")
    chars = [chr(c) for c in range(0x3400, 0xA000)] + [chr(c) for c in range(0xF900, 0xFB00)]
    converted = converter.convert("\n".join(chars)).split("\n")
    if len(converted) != len(chars):  # pragma: no cover - OpenCC keeps line breaks
        raise RuntimeError("OpenCC t2s changed the number of lines of the character table")
    return {a: b for a, b in zip(chars, converted, strict=True) if a != b and len(b) == 1}


@lru_cache(maxsize=4)
def _fold_table(traditional_to_simplified: bool) -> dict[int, str]:
    """One-to-one character folds: NFKC, then traditional → simplified, then lower case."""
    t2s = _t2s_table() if traditional_to_simplified else {}
    table: dict[int, str] = {}
    for code in range(0x80, 0x10000):
        if 0xD800 <= code <= 0xDFFF:  # surrogates are not characters
            continue
        char = chr(code)
        folded = unicodedata.normalize("NFKC", char)
        if len(folded) != 1 or unicodedata.category(folded)[0] in "PSZ":
            # Punctuation, symbols and spaces keep their width: most Chinese lines are
            # then left as they are (，！？ would otherwise send every one through
            # str.translate), and the lists name both widths where it matters.
            continue
        folded = t2s.get(folded, folded)
        lowered = folded.lower()
        if len(lowered) == 1:
            folded = lowered
        if folded != char:
            table[code] = folded
    return table


def _char_class(chars: set[str]) -> str:
    return "".join(re.escape(c) for c in sorted(chars))


class TextFolder:
    """Folds and normalises text for one policy's matching settings (build once)."""

    def __init__(self, filler_chars: str = " ", traditional_to_simplified: bool = True) -> None:
        self.traditional_to_simplified = traditional_to_simplified
        self._table = _fold_table(traditional_to_simplified)
        # Characters the table changes (ASCII is handled by str.lower, which is faster).
        self._needs_fold = re.compile(f"[{_char_class({chr(c) for c in self._table})}]")
        # Every white-space character lies below U+3001 (U+3000 is the ideographic space).
        whitespace = {chr(c) for c in range(0x3001) if chr(c).isspace()}
        whitespace |= {"\u3000", "\u2028", "\u2029", "\u200b", "\ufeff"}
        filler = {self._fold_char(c) for c in filler_chars} | set(filler_chars) | whitespace
        self.filler: frozenset[str] = frozenset(filler)
        self._filler_run = re.compile(f"[{_char_class(set(self.filler))}]+")

    def _fold_char(self, char: str) -> str:
        folded = self._table.get(ord(char))
        if folded is not None:
            return folded
        lowered = char.lower()
        return lowered if len(lowered) == 1 else char

    def fold(self, text: str) -> str:
        """NFKC + lower case (+ traditional → simplified); same length as `text`."""
        lowered = text.lower()
        if len(lowered) != len(text):
            # A handful of characters (İ) lower to two; keep those as they are.
            lowered = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
        if self._needs_fold.search(lowered) is None:
            return lowered
        return lowered.translate(self._table)

    def fold_many(self, texts: list[str]) -> list[str]:
        """`fold` of every text, in one pass over them joined (a session at a time)."""
        if not texts:
            return []
        joined = SEPARATOR.join(texts)
        if joined.count(SEPARATOR) != len(texts) - 1:
            return [self.fold(text) for text in texts]  # a text holds the separator
        return self.fold(joined).split(SEPARATOR)

    def strip(self, folded: str) -> str:
        """Drop filler characters and digits between CJK characters from a folded text."""
        text = self._filler_run.sub("", folded)
        runs = _cjk_digit_runs(text)
        return _without(text, runs) if runs else text

    def normalize(self, text: str) -> str:
        """The normalised form of `text` (see the module docstring)."""
        return self.strip(self.fold(text))

    def normalize_with_map(self, text: str, folded: str | None = None) -> Normalized:
        """The normalised form and, per character, its position in `text`.

        Produces exactly `normalize(text)`: the same regular expressions decide what
        is dropped.
        """
        if folded is None:
            folded = self.fold(text)
        positions = [i for i, char in enumerate(folded) if char not in self.filler]
        kept = self._filler_run.sub("", folded)
        runs = _cjk_digit_runs(kept)
        if runs:
            dropped = {i for start, end in runs for i in range(start, end)}
            positions = [p for i, p in enumerate(positions) if i not in dropped]
            kept = _without(kept, runs)
        return Normalized(kept, tuple(positions))


def is_cjk(char: str) -> bool:
    """True for a CJK ideograph (the characters Chinese words are made of)."""
    code = ord(char)
    return 0x3400 <= code <= 0x4DBF or 0x4E00 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF
