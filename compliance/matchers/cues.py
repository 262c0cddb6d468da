"""`CueBook` / `CueMatcher`: policy cue lists (customer complaint, doubt and emotion
cues, agent acknowledgements, remote-access and resolution phrases) over folded
text, with negations ("远程解决不了" is no remote login) and question forms
("好了吗" is no resolution); `AgentScan`, one pass for forbidden phrases and cues."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import ahocorasick

from compliance.matchers._common import (
    _candidates,
    _is_latin_word_char,
    _starts,
    _texts_of,
)
from compliance.matchers.forbidden import ForbiddenMatcher
from compliance.normalize import SEPARATOR, TextFolder


@dataclass(frozen=True, slots=True)
class CueList:
    """One list of cue phrases and what cancels a cue.

    `negation_scope` ``"span"``: a cue inside a negation phrase does not count
    (远程 inside 远程解决不了) but a cue elsewhere in the text does; ``"text"``: any
    negation phrase in the text cancels every cue (好了 in 好了一会儿又不行).
    `skip_questions`: a cue followed by 吗 / 么 / 没 / ? is a question, not a statement.
    """

    name: str
    cues: tuple[str, ...]
    negations: tuple[str, ...] = ()
    negation_scope: Literal["span", "text"] = "span"
    skip_questions: bool = False


@dataclass(frozen=True, slots=True)
class CueHit:
    """The first cue of a list found in a text (span in the original text)."""

    list_name: str
    cue: str
    span: tuple[int, int]
    matched: str
    layer: str = "phrase"
    """The detector layer that found it (phrase / operator / similarity)."""
    confidence: float = 1.0


_QUESTION_AFTER = re.compile(r"\s*(?:[吗么嘛没?？]|了吗|了没|了么)")


class CueBook:
    """Several cue lists in one automaton over folded text; one pass per text."""

    def __init__(self, lists: Iterable[CueList], folder: TextFolder) -> None:
        self.folder = folder
        self.lists: dict[str, CueList] = {}
        self._automaton = ahocorasick.Automaton()
        table: dict[str, list[tuple[str, str, bool]]] = {}
        for cue_list in lists:
            self.lists[cue_list.name] = cue_list
            for phrase, negation in [(c, False) for c in cue_list.cues] + [
                (n, True) for n in cue_list.negations
            ]:
                key = folder.fold(phrase).strip()
                if key:
                    table.setdefault(key, []).append((cue_list.name, phrase, negation))
        for key, values in table.items():
            self._automaton.add_word(key, (key, tuple(values)))
        self.cue_keys: tuple[str, ...] = tuple(
            key for key, values in table.items() if any(not negation for *_, negation in values)
        )
        """The cues (not the negations), folded: a text without one has no hit."""
        self._empty = not table
        if not self._empty:
            self._automaton.make_automaton()

    def find(self, text: str, folded: str | None = None) -> dict[str, CueHit]:
        """The first surviving cue of each list that has one in `text`."""
        if self._empty or not text:
            return {}
        if folded is None:
            folded = self.folder.fold(text)
        positives: list[tuple[int, int, str, str]] = []
        negations: dict[str, list[tuple[int, int]]] = {}
        for end_index, (key, values) in self._automaton.iter(folded):
            start, end = end_index - len(key) + 1, end_index + 1
            for list_name, phrase, negation in values:
                if negation:
                    negations.setdefault(list_name, []).append((start, end))
                else:
                    positives.append((start, end, list_name, phrase))
        if not positives:
            return {}
        positives.sort()
        found: dict[str, CueHit] = {}
        for start, end, list_name, phrase in positives:
            if list_name in found:
                continue
            cue_list = self.lists[list_name]
            negated = negations.get(list_name, ())
            if negated and (
                cue_list.negation_scope == "text"
                or any(a <= start and end <= b for a, b in negated)
            ):
                continue
            if not self._whole_word(folded, start, end):
                continue
            if cue_list.skip_questions and _QUESTION_AFTER.match(folded, end):
                continue
            found[list_name] = CueHit(list_name, phrase, (start, end), text[start:end])
        return found

    def find_many(
        self, texts: list[str], folded: list[str] | None = None
    ) -> list[dict[str, CueHit]]:
        """`find` for many texts, with one automaton pass to pick the texts to look at."""
        result: list[dict[str, CueHit]] = [{} for _ in texts]
        if self._empty or not texts:
            return result
        if folded is None:
            folded = self.folder.fold_many(texts)
        for number in _candidates(self._automaton, SEPARATOR.join(folded), len(texts)):
            if texts[number]:
                result[number] = self.find(texts[number], folded[number])
        return result

    @staticmethod
    def _whole_word(folded: str, start: int, end: int) -> bool:
        # Latin cues (rdp, ok, todesk) must not match inside other Latin words.
        if (
            start > 0
            and _is_latin_word_char(folded[start])
            and _is_latin_word_char(folded[start - 1])
        ):
            return False
        return not (
            _is_latin_word_char(folded[end - 1])
            and end < len(folded)
            and _is_latin_word_char(folded[end])
        )


class AgentScan:
    """One automaton pass over an agent's messages for both the forbidden phrases and
    the agent cues: which messages may hold a forbidden phrase, which a cue.

    The pass runs over the normalised text, where forbidden phrases are matched.  Cues
    are matched on the folded text, so each is looked for here through the longest
    piece of it with no filler, white space or digit: normalising drops none of its
    characters, nor anything between them, so wherever the cue is in a message the
    piece is in the normalised message.  The messages flagged for cues are thus all
    those with a cue and a few more; `CueBook.find` decides.  An agent's messages
    are scanned once instead of twice (their cues and their wording).
    """

    def __init__(self, forbidden: ForbiddenMatcher, cues: CueBook, folder: TextFolder) -> None:
        self.folder = folder
        flags: dict[str, int] = dict.fromkeys(forbidden.keys, _FORBIDDEN)
        # A cue of nothing but filler, white space and digits (a port number, say)
        # has no such piece: then every message is looked at for cues.
        self._cues_everywhere = False
        for key in cues.cue_keys:
            piece = max(self._clean_pieces(key), key=len)
            if piece:
                flags[piece] = flags.get(piece, 0) | _CUE
            else:
                self._cues_everywhere = True
        self._automaton = ahocorasick.Automaton()
        for key, flag in flags.items():
            self._automaton.add_word(key, flag)
        self._empty = not flags
        if not self._empty:
            self._automaton.make_automaton()

    def _clean_pieces(self, key: str) -> list[str]:
        pieces = [""]
        for char in key:
            if char in self.folder.filler or "0" <= char <= "9":
                pieces.append("")
            else:
                pieces[-1] += char
        return pieces

    def scan(self, folded: list[str]) -> tuple[Sequence[int], Sequence[int]]:
        """Of these folded messages: (those that may hold a forbidden phrase, those
        that may hold a cue), each in order."""
        every = range(len(folded))
        if self._empty or not folded:
            return (), every if self._cues_everywhere else ()
        joined = self.folder.strip(SEPARATOR.join(folded))
        if joined.count(SEPARATOR) != len(folded) - 1:
            return every, every  # a text holds the separator: look at each one
        forbidden_ends: list[int] = []
        cue_ends: list[int] = []
        for end, flag in self._automaton.iter(joined):
            if flag & _FORBIDDEN:
                forbidden_ends.append(end)
            if flag & _CUE:
                cue_ends.append(end)
        # Where the texts start is only needed when something was found (rarely).
        starts = _starts(joined) if forbidden_ends or cue_ends else []
        maybe_cue = every if self._cues_everywhere else _texts_of(starts, cue_ends)
        return _texts_of(starts, forbidden_ends), maybe_cue


_FORBIDDEN = 1
_CUE = 2


class CueMatcher:
    """One cue list with its negations: does a text contain a cue that counts?"""

    def __init__(
        self,
        cues: Iterable[str],
        *,
        negations: Iterable[str] = (),
        negation_scope: Literal["span", "text"] = "span",
        skip_questions: bool = False,
        folder: TextFolder | None = None,
    ) -> None:
        cue_list = CueList("cues", tuple(cues), tuple(negations), negation_scope, skip_questions)
        self._book = CueBook([cue_list], folder or TextFolder())

    def find(self, text: str, folded: str | None = None) -> CueHit | None:
        """The first cue in `text` that counts, or None."""
        return self._book.find(text, folded).get("cues")

    def matches(self, text: str, folded: str | None = None) -> bool:
        return self.find(text, folded) is not None
