"""Phrase matchers the rules (and the bot's pre-send check) share.

- `ForbiddenMatcher`: every forbidden list of the policy (and the word lists they
  name) in ONE Aho-Corasick automaton over normalised text (`compliance.normalize`),
  with per-phrase exceptions for innocent containing words (USB ⊃ sb, 滚动 ⊃ 滚,
  垃圾文件 ⊃ 垃圾) and word boundaries for Latin phrases; each hit gives its list,
  rule code, phrase and the exact span of the original text.
- `CueBook` / `CueMatcher`: policy cue lists (customer complaint, doubt and emotion
  cues, agent acknowledgements, remote-access and resolution phrases) over folded
  text, with negations ("远程解决不了" is no remote login) and question forms
  ("好了吗" is no resolution).
- `AckMatcher`: whether a customer message is only an acknowledgement (好的, 收到,
  an emoji ...), which needs no reply (SLA002).
- `RequiredLineMatcher`: fuzzy match (rapidfuzz, policy cutoff) of an agent message
  against the canonical script lines of `scripts_library`, tolerant of punctuation,
  spaces, emoji codes, 的/了 and small rewordings.
- `GreetingParser`: finds a self-introduction and extracts the engineer's name and
  工号 exactly, around the fixed parts of `scripts_library.GREETING_PARTS`.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import ahocorasick
from rapidfuzz import fuzz

from compliance.normalize import SEPARATOR, Normalized, TextFolder
from compliance.policy import Policy, PolicyError
from compliance.wordlists import load_wordlist
from scripts_library import (
    GreetingInputs,
    ScriptInputError,
    ScriptKey,
    canonical_text,
    greeting_parts,
    render,
)

__all__ = [
    "AckMatcher",
    "AgentScan",
    "CueBook",
    "CueHit",
    "CueList",
    "CueMatcher",
    "ForbiddenHit",
    "ForbiddenMatcher",
    "GreetingMatch",
    "GreetingParser",
    "RequiredLineMatcher",
    "folder_for",
]


# Bound of the per-run caches of parsed greetings and scored script lines.
_CACHE_SIZE = 4096

# Clause punctuation: a forbidden phrase is not read across it (屏蔽。你 is no 屏蔽你)
# unless the pieces are single characters (傻，逼).
_CLAUSE_PUNCTUATION = frozenset("。，,.!！?？；;、：:…")


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


# ------------------------------------------------------------- forbidden --


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


# ------------------------------------------------------------------ cues --


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


def _texts_of(starts: list[int], ends: list[int]) -> Sequence[int]:
    """The texts (by their `starts` in a joined text) that these match ends fall in."""
    if not ends:
        return ()
    return sorted({bisect_right(starts, end) - 1 for end in ends})


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


# ------------------------------------------------------------------ acks --

# WeChat emoji codes ([握手], [OK]); JD's placeholders ([订单x]) are not emoji.
_EMOJI_CODE = re.compile(r"\[(?:[\u4e00-\u9fff]{1,6}|ok)\]")
# Sentence particles that colour an acknowledgement without adding content (好的呢).
_ACK_PARTICLES = "呢啊哈呀啦哒嘞噢哦吖嗷"


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


def _cjk_excluding(chars: set[str]) -> str:
    """Every CJK ideograph except `chars`, as regex class ranges."""
    ranges: list[str] = []
    start: int | None = None
    for code in range(0x4E00, 0xA000):
        inside = chr(code) not in chars
        if inside and start is None:
            start = code
        elif not inside and start is not None:
            ranges.append(f"{chr(start)}-{chr(code - 1)}")
            start = None
    if start is not None:
        ranges.append(f"{chr(start)}-{chr(0x9FFF)}")
    return "".join(ranges)


class AckMatcher:
    """Whether a customer message is only an acknowledgement or thanks (SLA002)."""

    def __init__(self, phrases: Iterable[str], folder: TextFolder) -> None:
        self.folder = folder
        self._drop = _symbols_pattern(_ACK_PARTICLES)
        acks: set[str] = set()
        for phrase in phrases:
            core = self._core(folder.fold(phrase))
            if core:
                acks.add(core)
        self._acks = frozenset(acks)
        self._longest = max((len(a) for a in acks), default=0)
        # A CJK character that no acknowledgement uses means there is more to the
        # message: one search rules out most messages without building their core.
        alphabet = set("".join(acks)) | set(_ACK_PARTICLES)
        self._other_word = re.compile(f"[{_cjk_excluding(alphabet)}]")

    def _core(self, folded: str) -> str:
        return self._drop.sub("", _EMOJI_CODE.sub("", folded))

    def is_ack_only(self, text: str | None, folded: str | None = None) -> bool:
        """True when `text` says nothing but 好的 / 收到 / 谢谢 / an emoji and the like.

        `folded` may pass ``folder.fold(text)`` when the caller has it already.
        """
        if not text or text.isspace():
            return False
        if folded is None:
            folded = self.folder.fold(text)
        if "?" in folded or "？" in folded:
            return False
        if self._other_word.search(_EMOJI_CODE.sub("", folded) if "[" in folded else folded):
            return False
        core = self._core(folded)
        if not core:
            return True  # emoji, punctuation and particles only (👍, 哈哈)
        if core in self._acks:
            return True
        return self._segments(core)

    def _segments(self, core: str) -> bool:
        # Can `core` be cut entirely into acknowledgement phrases (好的谢谢, 嗯嗯好)?
        if len(core) > 4 * self._longest:
            return False  # longer than any run of acknowledgements anyone types
        reachable = [False] * (len(core) + 1)
        reachable[0] = True
        for i in range(len(core)):
            if not reachable[i]:
                continue
            for length in range(1, min(self._longest, len(core) - i) + 1):
                if core[i : i + length] in self._acks:
                    reachable[i + length] = True
        return reachable[len(core)]


# ------------------------------------------------------- required lines --

_BRACKET_CODE = re.compile(r"\[[^\[\]]{1,10}\]")


class RequiredLineMatcher:
    """Fuzzy match of agent messages against the canonical script lines.

    Both sides are reduced to their words first: emoji codes (``[握手]``,
    ``[握手表情]``, 🤝), punctuation, white space and the particles 的 / 了 go.  A
    message as long as the line or longer must contain it (`fuzz.partial_ratio`); a
    shorter one must be nearly all of it (`fuzz.ratio`), so 感谢您 alone is no thanks
    line.  Scores are 0–100; a line matches at the policy's ``fuzzy_cutoff``.
    """

    FIXED_LINES: tuple[ScriptKey, ...] = (
        ScriptKey.BACKUP_WARNING,
        ScriptKey.THANKS,
        ScriptKey.RESPONSIBILITY,
        ScriptKey.COMPLAINT_RESPONSE,
        ScriptKey.DOUBT_RESPONSE,
        ScriptKey.EMOTION_RESPONSE,
        ScriptKey.SUGGESTION_REQUEST,
    )

    def __init__(self, policy: Policy, folder: TextFolder | None = None) -> None:
        self.folder = folder or folder_for(policy)
        self.cutoff = policy.matching.fuzzy_cutoff
        self._drop = _symbols_pattern("的了")
        self._cores = {key: self.core(canonical_text(key)) for key in self.FIXED_LINES}
        self._counts: dict[str, dict[str, int]] = {}
        self._scored: dict[tuple[str, str], float] = {}
        # Rendered lines (a rest-day notice per date) recur session after session.
        self._rendered_cores: dict[str, str] = {}

    def core(self, text: str, folded: str | None = None) -> str:
        """The words of `text` that fuzzy matching compares."""
        if folded is None:
            folded = self.folder.fold(text)
        return self._drop.sub("", _BRACKET_CODE.sub("", folded))

    def canonical(self, key: ScriptKey, channel: str = "wechat") -> str:
        """The line as the bot would say it on `channel` (a finding's suggestion)."""
        return canonical_text(key, channel)

    def score(self, key: ScriptKey, text: str | None, folded: str | None = None) -> float:
        """How closely `text` says the fixed line `key` (0–100)."""
        return self._score(self._cores[key], text or "", folded)

    def score_against(self, canonical: str, text: str | None, folded: str | None = None) -> float:
        """How closely `text` says `canonical` (any rendered line)."""
        core = self._rendered_cores.get(canonical)
        if core is None:
            if len(self._rendered_cores) >= _CACHE_SIZE:
                self._rendered_cores.clear()
            core = self._rendered_cores[canonical] = self.core(canonical)
        return self._score(core, text or "", folded)

    def _score(self, canonical_core: str, text: str, folded: str | None) -> float:
        # Two cheap bounds skip most chat messages before their core is built.  Both
        # scores are 2·LCS / (sum of lengths) (`partial_ratio` over a window as long
        # as the line), and the LCS can use no more characters than the two share.
        if not text or 2 * len(text) * 100 < self.cutoff * (len(text) + len(canonical_core)):
            return 0.0  # the core is at most as long as the text: too short
        if folded is None:
            folded = self.folder.fold(text)
        counts = self._counts.get(canonical_core)
        if counts is None:
            counts = self._counts[canonical_core] = dict(Counter(canonical_core))
        present = set(folded)
        shared = sum(n for char, n in counts.items() if char in present)
        if shared * 100 < self.cutoff * len(canonical_core) / 2:
            return 0.0
        # Script lines repeat word for word (the bot speaks them): score each once.
        key = (canonical_core, text)
        score = self._scored.get(key)
        if score is None:
            if len(self._scored) >= _CACHE_SIZE:
                self._scored.clear()
            score = self._scored[key] = self.score_core(canonical_core, self.core(text, folded))
        return score

    @staticmethod
    def score_core(canonical_core: str, text_core: str) -> float:
        if not canonical_core or not text_core:
            return 0.0
        if len(text_core) <= len(canonical_core):
            return float(fuzz.ratio(canonical_core, text_core))
        return float(fuzz.partial_ratio(canonical_core, text_core))

    def matches(self, key: ScriptKey, text: str | None, folded: str | None = None) -> bool:
        return self.score(key, text, folded) >= self.cutoff


# -------------------------------------------------------------- greeting --


@dataclass(frozen=True, slots=True)
class GreetingMatch:
    """What a self-introduction says (or as much of it as the message has)."""

    name: str | None
    staff_no: str | None
    missing: tuple[str, ...]
    """Fixed parts of the greeting the message lacks (您好, 朴赛售后服务中心 ...)."""
    score: float
    """Fuzzy score against the greeting rendered with the message's own name and 工号."""
    name_span: tuple[int, int] | None = None
    staff_span: tuple[int, int] | None = None
    is_self_introduction: bool = False
    """Name, 工号 and the fixed parts all there (the score reaches the cutoff)."""


class GreetingParser:
    """Finds the self-introduction of 【售后动作标准】1.a.1 and reads its name and 工号.

    The fixed parts come from `scripts_library.greeting_parts` for the policy's centre
    and title, the same words the bot renders.  The name is what stands between the
    title (or 我是) and the 工号; the 工号 is the letters and digits after 工号.  Both
    are taken exactly as written; the rest is compared fuzzily with the greeting the
    bot would render for that name and 工号.
    """

    def __init__(self, policy: Policy, folder: TextFolder | None = None) -> None:
        self.folder = folder or folder_for(policy)
        self.cutoff = policy.matching.fuzzy_cutoff
        self.parts = greeting_parts(policy.company.centre, policy.company.engineer_title)
        self._required = RequiredLineMatcher(policy, self.folder)
        # Brackets, quotes, dashes and colons people put around the name and 工号
        # (工号：【1818】, 工程师“张三”); the name and 工号 inside stay exact.
        marks = r"【】\[\]「」『』“”\"'‘’（）()<>《》"
        stop = rf"\s，,。.、:：;；!！?？~～\-—{marks}0-9"
        name = rf"(?P<name>[^{stop}]{{1,12}}?)"
        opening = r"[—\-:：\s]*[【\[「『“\"'‘（(<《]?\s*"
        ahead = rf"(?=\s*(?:[，,、。.:：;；!！~～\s{marks}]|工号|我的工号|$))"
        title = re.escape(self.folder.fold(self.parts.title))
        centre = re.escape(self.folder.fold(self.parts.centre))
        self._after_title = re.compile(rf"{title}{opening}{name}{ahead}")
        self._after_intro = re.compile(
            rf"我是\s*(?:{centre})?\s*(?:的)?\s*(?:{title})?{opening}{name}{ahead}"
        )
        label = re.escape(self.folder.fold(self.parts.staff_no_label))
        self._staff = re.compile(
            rf"{label}\s*[：:]?\s*(?:是|为)?\s*[：:]?\s*[【\[「『“\"'‘（(<《]?\s*"
            rf"(?P<staff>[a-z0-9]{{1,32}})"
        )
        self.staff_label = self.folder.fold(self.parts.staff_no_label)
        self._rendered: dict[tuple[str, str], str] = {}
        self._parsed: dict[str, GreetingMatch | None] = {}
        self._cues = (
            self.staff_label,
            self.folder.fold(self.parts.title),
            self.folder.fold(self.parts.centre),
            "我是",
        )
        self._part_cores = tuple(
            (part, self._required.core(part))
            for part in (
                self.parts.opening,
                self.parts.centre,
                self.parts.title,
                self.parts.staff_no_label,
                self.parts.closing,
            )
        )

    def _canonical_core(self, name: str, staff_no: str) -> str:
        # Rendering a template costs more than matching it; engineers are few.
        key = (name, staff_no)
        core = self._rendered.get(key)
        if core is None:
            try:
                inputs = GreetingInputs(
                    name, staff_no, centre=self.parts.centre, title=self.parts.title
                )
                rendered = render(ScriptKey.GREETING, inputs)
            except ScriptInputError:
                rendered = ""
            core = self._required.core(rendered) if rendered else ""
            if len(self._rendered) < 10_000:
                self._rendered[key] = core
        return core

    def looks_like_greeting(self, text: str | None, folded: str | None = None) -> bool:
        """Cheap test: does `text` try to introduce the engineer at all?"""
        if not text:
            return False
        if folded is None:
            folded = self.folder.fold(text)
        return any(cue in folded for cue in self._cues)

    def parse(self, text: str | None, folded: str | None = None) -> GreetingMatch | None:
        """The self-introduction in `text`, or None when it does not attempt one.

        `folded` may pass ``folder.fold(text)`` when the caller has it already.
        """
        if not text:
            return None
        if folded is None:
            folded = self.folder.fold(text)
        if not self.looks_like_greeting(text, folded):
            return None
        # Greetings repeat word for word (the bot renders them): parse each text once.
        if text in self._parsed:
            return self._parsed[text]
        match = self._parse(text, folded)
        if len(self._parsed) >= _CACHE_SIZE:
            self._parsed.clear()
        self._parsed[text] = match
        return match

    def _parse(self, text: str, folded: str) -> GreetingMatch | None:
        name_match = self._after_title.search(folded) or self._after_intro.search(folded)
        staff_match = self._staff.search(folded)
        name_span = name_match.span("name") if name_match else None
        staff_span = staff_match.span("staff") if staff_match else None
        name = text[name_span[0] : name_span[1]] if name_span else None
        staff_no = text[staff_span[0] : staff_span[1]] if staff_span else None
        core = self._required.core(text, folded)
        missing = tuple(part for part, part_core in self._part_cores if part_core not in core)
        score = 0.0
        if name and staff_no:
            canonical_core = self._canonical_core(name, staff_no)
            if canonical_core:
                score = self._required.score_core(canonical_core, core)
        complete = bool(name and staff_no) and score >= self.cutoff
        return GreetingMatch(
            name=name,
            staff_no=staff_no,
            missing=missing,
            score=score,
            name_span=name_span,
            staff_span=staff_span,
            is_self_introduction=complete,
        )
