"""`ForbiddenMatcher`: every forbidden list of the policy (and the word lists they
name) in ONE Aho-Corasick automaton over normalised text (`compliance.normalize`),
with per-phrase exceptions for innocent containing words (USB ⊃ sb, 滚动 ⊃ 滚,
垃圾文件 ⊃ 垃圾) and word boundaries for Latin phrases; each hit gives its list,
rule code, phrase and the exact span of the original text."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import ahocorasick

from compliance.matchers._common import (
    _is_latin_word_char,
    folder_for,
)
from compliance.normalize import Normalized, TextFolder
from compliance.policy import Policy, PolicyError
from compliance.wordlists import load_wordlist

# Clause punctuation: a forbidden phrase is not read across it (屏蔽。你 is no 屏蔽你)
# unless the pieces are single characters (傻，逼).
_CLAUSE_PUNCTUATION = frozenset("。，,.!！?？；;、：:…")


def _joined_code(folded: str, at: int, step: int) -> bool:
    """Is ``folded[at]`` a hyphen or underscore with a letter or digit beyond it?"""
    beyond = at + step
    return (
        0 <= at < len(folded)
        and folded[at] in "-_"
        and 0 <= beyond < len(folded)
        and _is_latin_word_char(folded[beyond])
    )


@dataclass(frozen=True, slots=True)
class ForbiddenHit:
    """One forbidden phrase found in a text."""

    list_name: str
    """The policy's forbidden list (``profanity``, ``abuse`` ...)."""
    rule: str
    """The rule code that list feeds (``LNG001`` ...)."""
    phrase: str
    """The phrase as the policy or word list writes it."""
    span: tuple[int, int]
    """Where it is in the original text (``text[span[0]:span[1]]``)."""
    matched: str
    """The original text of the span (``傻 逼``, ``ＳＢ``)."""
    wordlist: str | None = None
    """The word list the phrase came from, or None for the policy's own phrases."""

    @property
    def source(self) -> str:
        """Where the phrase came from, for reports: ``forbidden.abuse``, ``…/ldnoobw_zh``."""
        base = f"forbidden.{self.list_name}"
        return f"{base}/{self.wordlist}" if self.wordlist else base


@dataclass(frozen=True, slots=True)
class _Exception:
    word: str
    """The innocent word, normalised."""
    offsets: tuple[int, ...]
    """Where the phrase sits inside `word`; empty for a context word (see below)."""


@dataclass(frozen=True, slots=True)
class _Entry:
    list_name: str
    rule: str
    phrase: str
    key: str
    wordlist: str | None
    latin_start: bool
    latin_end: bool
    exceptions: tuple[_Exception, ...]


@dataclass(slots=True)
class _Candidate:
    entry: _Entry
    start: int
    end: int


class ForbiddenMatcher:
    """All forbidden lists of a policy in one automaton; build once, use for every text.

    An exception word that contains the phrase (``usb`` for ``sb``) cancels a hit that
    lies inside an occurrence of that word; an exception word that does not contain it
    (``防火墙`` for ``加入黑名单``) is a context word and cancels every hit of the phrase
    in a text that mentions it.  A phrase starting or ending with a Latin letter or
    digit (``sb``, ``tmd``) only matches as a whole word.  Word-list entries of one
    character are not used (性, 逼, 奶 occur inside innocent words all the time), nor
    those a rule's ``wordlist_skip`` option names.
    """

    def __init__(self, policy: Policy, folder: TextFolder | None = None) -> None:
        self.folder = folder or folder_for(policy)
        self._filler_split = re.compile(
            "[" + "".join(re.escape(c) for c in sorted(self.folder.filler)) + "0-9]+"
        )
        self._automaton = ahocorasick.Automaton()
        entries: dict[str, list[_Entry]] = {}
        source = policy.source_path or "policy"
        for list_name, forbidden in policy.forbidden.items():
            skip = self._wordlist_skip(policy, forbidden.rule, source)
            seen: set[str] = set()
            exceptions = {
                self.folder.normalize(p): words for p, words in forbidden.exceptions.items()
            }
            for phrase in forbidden.phrases:
                key = self.folder.normalize(phrase)
                if not key:
                    raise PolicyError(
                        f"{source}: forbidden.{list_name}.phrases: {phrase!r} is nothing but "
                        "filler characters once normalised"
                    )
                if key in seen:
                    continue
                seen.add(key)
                entry = self._entry(list_name, forbidden.rule, phrase, key, None, exceptions)
                entries.setdefault(key, []).append(entry)
            for i, wordlist in enumerate(forbidden.wordlists):
                try:
                    words = load_wordlist(wordlist)
                except KeyError as exc:
                    raise PolicyError(
                        f"{source}: forbidden.{list_name}.wordlists[{i}]: {exc.args[0]}"
                    ) from None
                for word in words:
                    key = self.folder.normalize(word)
                    # One character is too short to mean anything on its own (性, 逼).
                    if len(key) < 2 or key in seen or key in skip:
                        continue
                    seen.add(key)
                    entry = self._entry(list_name, forbidden.rule, word, key, wordlist, exceptions)
                    entries.setdefault(key, []).append(entry)
        for key, found in entries.items():
            self._automaton.add_word(key, tuple(found))
        self._empty = not entries
        if not self._empty:
            self._automaton.make_automaton()
        self.phrase_count = len(entries)
        self.keys: tuple[str, ...] = tuple(entries)
        """Every phrase, normalised: what the automaton looks for."""

    def _wordlist_skip(self, policy: Policy, rule: str, source: str) -> frozenset[str]:
        config = policy.rules.get(rule)
        raw = config.options.get("wordlist_skip", ()) if config else ()
        if not isinstance(raw, list | tuple) or not all(isinstance(w, str) for w in raw):
            raise PolicyError(f"{source}: rules.{rule}.wordlist_skip: must be a list of strings")
        return frozenset(self.folder.normalize(w) for w in raw)

    def _entry(
        self,
        list_name: str,
        rule: str,
        phrase: str,
        key: str,
        wordlist: str | None,
        exceptions: Mapping[str, tuple[str, ...]],
    ) -> _Entry:
        compiled: list[_Exception] = []
        for word in exceptions.get(key, ()):
            normalised = self.folder.normalize(word)
            offsets = tuple(
                i for i in range(len(normalised) - len(key) + 1) if normalised.startswith(key, i)
            )
            compiled.append(_Exception(normalised, offsets))
        return _Entry(
            list_name=list_name,
            rule=rule,
            phrase=phrase,
            key=key,
            wordlist=wordlist,
            latin_start=_is_latin_word_char(key[0]),
            latin_end=_is_latin_word_char(key[-1]),
            exceptions=tuple(compiled),
        )

    def find(self, text: str, folded: str | None = None) -> list[ForbiddenHit]:
        """Every forbidden phrase in `text`, in text order.

        A hit inside a longer hit (垃圾 in 垃圾公司) is dropped; overlapping hits of one
        rule (我操 + 操你 in 我操你) merge into one.  `folded` may pass
        ``folder.fold(text)`` when the caller has it already.
        """
        if self._empty or not text:
            return []
        if folded is None:
            folded = self.folder.fold(text)
        normalised = self.folder.strip(folded)
        candidates: list[_Candidate] = []
        for end_index, found in self._automaton.iter(normalised):
            for entry in found:
                start = end_index - len(entry.key) + 1
                if entry.exceptions and self._excepted(entry, normalised, start):
                    continue
                candidates.append(_Candidate(entry, start, end_index + 1))
        if not candidates:
            return []
        mapping = self.folder.normalize_with_map(text, folded)
        candidates = [c for c in candidates if self._fits_text(c, folded, mapping)]
        if not candidates:
            return []
        return self._resolve(text, candidates, mapping)

    def _fits_text(self, candidate: _Candidate, folded: str, mapping: Normalized) -> bool:
        """Word boundaries for Latin phrases; no joining of words across punctuation."""
        entry = candidate.entry
        first = mapping.positions[candidate.start]
        last = mapping.positions[candidate.end - 1]
        if entry.latin_start and first > 0 and _is_latin_word_char(folded[first - 1]):
            return False
        if entry.latin_end and last + 1 < len(folded) and _is_latin_word_char(folded[last + 1]):
            return False
        if entry.latin_end and _joined_code(folded, last + 1, 1):
            return False  # a part code (SB-200, USB_SB): a hyphen to more letters or digits
        if entry.latin_start and _joined_code(folded, first - 1, -1):
            return False
        if last - first + 1 == len(entry.key):
            return True  # nothing was dropped inside the hit
        original = folded[first : last + 1]
        if not any(char in _CLAUSE_PUNCTUATION for char in original):
            return True  # only spaces and connectors inside (删 好友, 傻_逼)
        # Punctuation inside a hit joins two clauses (屏蔽。你要是…) unless every piece
        # is a single character, the way people dodge a filter (傻.逼, 傻，逼).
        pieces = [piece for piece in self._filler_split.split(original) if piece]
        return all(len(piece) == 1 for piece in pieces)

    @staticmethod
    def _excepted(entry: _Entry, normalised: str, start: int) -> bool:
        for exception in entry.exceptions:
            if not exception.offsets:
                if exception.word in normalised:
                    return True
                continue
            for offset in exception.offsets:
                begin = start - offset
                if begin >= 0 and normalised.startswith(exception.word, begin):
                    return True
        return False

    @staticmethod
    def _resolve(
        text: str, candidates: list[_Candidate], mapping: Normalized
    ) -> list[ForbiddenHit]:
        # Longest first, so that containment is decided against the longest hit.
        candidates.sort(key=lambda c: (c.start, -(c.end - c.start)))
        kept: list[_Candidate] = []
        for candidate in candidates:
            contained = any(
                k.start <= candidate.start
                and candidate.end <= k.end
                and (k.end - k.start) > (candidate.end - candidate.start)
                for k in kept
            )
            if contained:
                continue
            merged = False
            for k in kept:
                if k.entry.rule == candidate.entry.rule and candidate.start < k.end:
                    if k.start == candidate.start and k.end == candidate.end:
                        merged = True  # the same words in two lists of one rule
                        break
                    if candidate.end > k.end:
                        k.end = candidate.end
                    merged = True
                    break
            if not merged:
                kept.append(_Candidate(candidate.entry, candidate.start, candidate.end))
        hits: list[ForbiddenHit] = []
        for k in kept:
            start, end = mapping.original_span(k.start, k.end)
            hits.append(
                ForbiddenHit(
                    list_name=k.entry.list_name,
                    rule=k.entry.rule,
                    phrase=k.entry.phrase,
                    span=(start, end),
                    matched=text[start:end],
                    wordlist=k.entry.wordlist,
                )
            )
        hits.sort(key=lambda h: (h.span, h.rule))
        return hits
