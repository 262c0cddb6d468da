"""`RequiredLineMatcher`: fuzzy match (rapidfuzz, policy cutoff) of an agent message
against the canonical script lines of `scripts_library`, tolerant of punctuation,
spaces, emoji codes, 的/了 and small rewordings; `GreetingParser`: finds a
self-introduction and extracts the engineer's name and 工号 exactly, around the
fixed parts of `scripts_library.GREETING_PARTS`."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from rapidfuzz import fuzz

from compliance.matchers._common import (
    _CACHE_SIZE,
    _symbols_pattern,
    folder_for,
)
from compliance.normalize import TextFolder
from compliance.policy import Policy
from scripts_library import (
    GreetingInputs,
    ScriptInputError,
    ScriptKey,
    canonical_text,
    greeting_parts,
    render,
)

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
        # Whatever people put around the name and 工号 that is no word character
        # (brackets, quotes, dashes, colons, #, emoji: 工号：【1818】, 工程师——“张三”,
        # 工号#1818) is filler; the name and 工号 inside stay exact.
        filler = r"[^\w]*"
        name = r"(?P<name>[^\W\d_]{1,12}?)"
        ahead = r"(?=[^\w]|工号|我的工号|$)"
        title = re.escape(self.folder.fold(self.parts.title))
        centre = re.escape(self.folder.fold(self.parts.centre))
        self._after_title = re.compile(rf"{title}{filler}{name}{ahead}")
        self._after_intro = re.compile(
            rf"我是{filler}(?:{centre})?{filler}(?:的)?{filler}(?:{title})?{filler}{name}{ahead}"
        )
        label = re.escape(self.folder.fold(self.parts.staff_no_label))
        self._staff = re.compile(
            rf"{label}{filler}(?:是|为|号码|号|no){filler}(?P<staff>[a-z0-9]{{1,32}})"
            rf"|{label}{filler}(?P<bare>[a-z0-9]{{1,32}})"
        )
        # A name is never one of the greeting's fixed words (运维工程师，工号1818 has none).
        self._fixed_words = tuple(
            self.folder.fold(part)
            for part in (self.parts.centre, self.parts.title, self.parts.staff_no_label)
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

    def _name_span(self, folded: str) -> tuple[int, int] | None:
        """Where the name stands: after the title, else after 我是 (and the centre)."""
        for pattern in (self._after_title, self._after_intro):
            match = pattern.search(folded)
            if match is None:
                continue
            name = match["name"]
            # A name never holds 您 (我是运维工程师，很高兴为您服务 names no one).
            if "您" in name or any(name in word or word in name for word in self._fixed_words):
                continue
            return match.span("name")
        return None

    def _parse(self, text: str, folded: str) -> GreetingMatch | None:
        name_span = self._name_span(folded)
        staff_match = self._staff.search(folded)
        staff_span = None
        if staff_match:
            group = "staff" if staff_match["staff"] is not None else "bare"
            staff_span = staff_match.span(group)
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
