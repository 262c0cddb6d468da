"""The layered detector of one rule (or cue): phrase list, operators, similarity.

One implementation serves the checker (`compliance.rules.facts`) and the bot's
pre-send check (`bot.presend`), so a draft the bot lets through is one QA will
not flag later.  For one text a `Detector` gives `Detection`s, each naming its
layer and a confidence:

- **phrase** (confidence 1): the policy's phrase lists with their exceptions
  (`ForbiddenMatcher` for the LNG rules, the cue lists for customer cues), read
  through the grammar when the detector says ``guard_phrases``;
- **operator**: the configured keyword / regex / context operators
  (`compliance.policy.OperatorSpec`); a context hit's confidence falls with the
  distance between target and evaluation;
- **similarity**: the cosine to the rule's exemplar sentences
  (`compliance.detection.similarity`).

A text much like one of the detector's negative exemplars (a false alarm QA
marked) has no detection at all.  Operators and similarity only run on a text
holding one of the detector's *anchors* (its evaluation words and the
similarity anchors): the cheap prefilter, which the checker folds into its one
automaton pass over a session (`CueList` ``anchor:NAME``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import ahocorasick

from compliance.detection.grammar import CLAUSE_BREAKS, SENTENCE_BREAKS, Grammar, Guard
from compliance.detection.scope import (
    contains,
    customer_owned,
    degree_variants,
    excepted,
    object_elsewhere,
)
from compliance.detection.similarity import (
    ExemplarIndex,
    boundaries,
    frequency,
    salient_words,
    vector,
)
from compliance.matchers import CueBook, CueList
from compliance.normalize import TextFolder
from compliance.policy import DetectorPolicy, OperatorSpec, Policy, Severity
from compliance.wordlists import load_wordlist

Layer = Literal["phrase", "operator", "similarity"]
LAYER_LABELS: dict[str, str] = {"phrase": "短语", "operator": "算子", "similarity": "相似度"}

# One-character evaluations are only taken as whole jieba words (差 is not in 差不多);
# two-character ones must start where a word starts (不管 is not in 尽管).  Longer
# ones are taken as they are: jieba often glues their first character to the word
# before (真让人 / 着急).


@dataclass(frozen=True, slots=True)
class Detection:
    """One hit of a detector in a text."""

    detector: str
    rule: str
    layer: Layer
    confidence: float
    """How sure the layer is, 0–1 (phrase hits 1; similarity: the cosine)."""
    severity: Severity
    span: tuple[int, int]
    matched: str
    """The original text of the span."""
    phrase: str
    """The phrase, the evaluation word, or the exemplar that matched."""
    source: str
    """Where in the policy the match came from (``forbidden.abuse``,
    ``detectors.abuse.operators.mockery``, ``detectors.abuse.similarity``)."""


@dataclass(frozen=True, slots=True)
class PhraseHit:
    """A phrase-list hit handed to `Detector.find` (from the forbidden or cue lists)."""

    span: tuple[int, int]
    phrase: str
    source: str


class _Terms:
    """Words in one automaton over folded text: every occurrence, with its span."""

    def __init__(self, words: Iterable[str], folder: TextFolder) -> None:
        self._automaton = ahocorasick.Automaton()
        keys: dict[str, str] = {}
        for word in words:
            key = folder.fold(word).strip()
            if key and key not in keys:
                keys[key] = word
                self._automaton.add_word(key, (key, word))
        self.keys: tuple[str, ...] = tuple(keys)
        self._empty = not keys
        if not self._empty:
            self._automaton.make_automaton()

    def __bool__(self) -> bool:
        return not self._empty

    def present(self, folded: str) -> bool:
        """Does `folded` hold one of the words at all?"""
        if self._empty:
            return False
        return next(self._automaton.iter(folded), None) is not None

    def find(self, folded: str) -> list[tuple[int, int, str]]:
        """(start, end, word) of every occurrence, longest first where they overlap."""
        if self._empty:
            return []
        found = [
            (end + 1 - len(key), end + 1, word) for end, (key, word) in self._automaton.iter(folded)
        ]
        found.sort(key=lambda f: (f[0], -(f[1] - f[0])))
        kept: list[tuple[int, int, str]] = []
        for hit in found:
            if any(k[0] <= hit[0] and hit[1] <= k[1] for k in kept):
                continue  # inside a longer one (不理 in 不再理)
            kept.append(hit)
        return kept


def in_sentence(folded: str, start: int, end: int, words: Sequence[str]) -> bool:
    """Is one of `words` in the sentence of ``folded[start:end]``?"""
    if not words:
        return False
    left = Grammar.clause_start(folded, start, SENTENCE_BREAKS)
    right = Grammar.clause_end(folded, end, SENTENCE_BREAKS)
    sentence = folded[left:right]
    return any(contains(sentence, word) for word in words)


def _is_latin(char: str) -> bool:
    return char.isascii() and char.isalnum()


class _Operator:
    """One `OperatorSpec`, compiled."""

    def __init__(
        self, detector: str, spec: OperatorSpec, folder: TextFolder, degree: Sequence[str] = ()
    ) -> None:
        self.spec = spec
        self.source = f"detectors.{detector}.operators.{spec.name}"
        # The skip list and the frequency cap are for lexicon entries: the policy's own
        # evaluations are meant as they are written.
        skip = {folder.fold(w) for w in spec.evaluation_skip}
        words = degree_variants(spec.evaluations, degree if spec.degree_variants else ())
        for lexicon in spec.evaluation_lexicons:
            words.extend(
                w
                for w in load_wordlist(lexicon)
                if frequency(w) <= spec.lexicon_max_frequency and folder.fold(w) not in skip
            )
        self.evaluations = _Terms(words, folder)
        self.targets = _Terms(spec.targets, folder)
        self.owned_targets = _Terms(spec.owned_targets, folder)
        self.owners = _Terms(spec.owners, folder)
        self.exceptions = tuple(folder.fold(w) for w in spec.exceptions if w.strip())
        self.owner_cues = tuple(folder.fold(w) for w in spec.owner_cues if w.strip())
        self.object_markers = tuple(folder.fold(w) for w in spec.object_markers if w.strip())
        self.innocent = _Terms(spec.innocent_words, folder)
        self.patterns = tuple(re.compile(p) for p in spec.patterns)
        self.guard = Guard(
            negation=spec.negation,
            hypothetical=spec.hypothetical,
            reassurance=spec.reassurance,
            benefactive=spec.benefactive,
        )

    @property
    def anchors(self) -> tuple[str, ...]:
        if self.spec.kind == "context" and self.spec.anchor == "targets":
            return (*self.targets.keys, *self.owned_targets.keys)
        return self.evaluations.keys

    def _excepted(self, folded: str, start: int, end: int, grammar: Grammar) -> bool:
        return excepted(folded, start, end, self.exceptions, self.evaluations.find, grammar.negated)

    def _whole(self, folded: str, start: int, end: int, edges: frozenset[int] | None) -> bool:
        if start > 0 and _is_latin(folded[start]) and _is_latin(folded[start - 1]):
            return False
        if end < len(folded) and _is_latin(folded[end - 1]) and _is_latin(folded[end]):
            return False
        if edges is None or end - start > 2:
            return True
        if end - start == 2:
            return start in edges
        return start in edges and end in edges

    def find(self, folded: str, grammar: Grammar) -> list[tuple[int, int, float, str]]:
        """(start, end, confidence, word) of each hit that counts."""
        spec = self.spec
        candidates: list[tuple[int, int, float, str]] = []
        targets: list[tuple[int, int, str]] = []
        if spec.kind == "regex":
            if not self.evaluations.present(folded):
                return []
            for pattern in self.patterns:
                for match in pattern.finditer(folded):
                    if match.end() > match.start():
                        candidates.append((match.start(), match.end(), spec.confidence, match[0]))
        elif spec.kind == "keyword":
            candidates = [(s, e, spec.confidence, w) for s, e, w in self.evaluations.find(folded)]
        else:
            # Targets first: their lists are short, an evaluation lexicon is long.
            targets = self.targets.find(folded)
            if self.owned_targets:
                owned = self.owned_targets.find(folded)
                if owned:
                    targets = sorted([*targets, *self._owned(folded, owned)])
            if not targets:
                return []
            evaluations = self.evaluations.find(folded)
            if evaluations:
                for start, end, word in evaluations:
                    gap = self._nearest_target(folded, start, end, targets)
                    if gap is None:
                        continue
                    confidence = spec.confidence * (1 - 0.25 * gap / max(spec.window, 1))
                    candidates.append((start, end, round(confidence, 3), word))
        if not candidates:
            return []
        # jieba runs only when a hit is short enough for its word edges to matter.
        innocent = self.innocent.find(folded) if self.innocent else []
        hits = []
        for start, end, confidence, word in candidates:
            if any(a <= start and end <= b for a, b, _w in innocent):
                continue
            short = spec.kind != "regex" and end - start <= 2
            edges = boundaries(folded, start, end) if short else None
            if not self._whole(folded, start, end, edges):
                continue
            if grammar.cancels(self.guard, folded, start, end):
                continue
            if spec.skip_questions and grammar.asked(folded, start, end):
                continue
            if self._excepted(folded, start, end, grammar):
                continue
            if object_elsewhere(folded, start, self.object_markers, targets):
                continue
            hits.append((start, end, confidence, word))
        return hits

    def _owned(
        self, folded: str, targets: list[tuple[int, int, str]]
    ) -> list[tuple[int, int, str]]:
        """The targets an owner word comes shortly before (我们的产品, 公司的质检)."""
        owners = self.owners.find(folded)
        window = self.spec.owner_window
        return [
            target
            for target in targets
            if any(
                end <= target[0]
                and target[0] - end <= window
                and not any(c in CLAUSE_BREAKS for c in folded[end : target[0]])
                for _start, end, _word in owners
            )
            or any(start == target[0] for start, _end, _word in owners)
            or (
                in_sentence(folded, target[0], target[1], self.owner_cues)
                and not customer_owned(folded, target[0], window)
            )
        ]

    def _nearest_target(
        self, folded: str, start: int, end: int, targets: list[tuple[int, int, str]]
    ) -> int | None:
        order = self.spec.order
        best: int | None = None
        for t_start, t_end, _word in targets:
            if t_start < end and start < t_end:
                continue  # the same words (领导不管: 不管 is no target)
            if t_end <= start:
                if order == "evaluation_first":
                    continue
                gap, between = start - t_end, folded[t_end:start]
            else:
                if order == "target_first":
                    continue
                gap, between = t_start - end, folded[end:t_start]
            if gap > self.spec.window or any(c in SENTENCE_BREAKS for c in between):
                continue
            if best is None or gap < best:
                best = gap
        return best


class Detector:
    """The operator and similarity layers of one ``[detectors.NAME]`` table, plus the
    reading of its phrase hits."""

    def __init__(
        self,
        name: str,
        spec: DetectorPolicy,
        policy: Policy,
        folder: TextFolder,
        grammar: Grammar,
        *,
        exemplars: Sequence[str] = (),
        negative_exemplars: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.rule = spec.rule
        self.spec = spec
        self.folder = folder
        self.grammar = grammar
        rule = policy.rules.get(spec.rule)
        base: Severity = rule.severity if rule is not None else "warning"
        self.severity: dict[str, Severity] = {
            layer: spec.layers.get(layer, base) for layer in ("phrase", "operator", "similarity")
        }
        self.operators = tuple(
            _Operator(name, op, folder, grammar.degree_words) for op in spec.operators
        )
        similarity = spec.similarity
        self.positives = ExemplarIndex((*similarity.exemplars, *exemplars), folder.fold)
        self.negatives = ExemplarIndex(
            (*similarity.negative_exemplars, *negative_exemplars), folder.fold
        )
        anchors: dict[str, None] = {}
        for operator in self.operators:
            anchors.update(dict.fromkeys(operator.anchors))
        # Similarity is the dearest layer: it only scores texts with one of its own
        # anchors (a subset of the detector's prefilter).
        learned = [w for e in exemplars for w in salient_words(folder.fold(e))]
        self._similarity_anchors = _Terms(
            (*similarity.anchors, *learned) if self.positives else (), folder
        )
        anchors.update(dict.fromkeys(self._similarity_anchors.keys))
        self.anchor_list = CueList(f"anchor:{name}", tuple(anchors))
        self._anchor_book = CueBook([self.anchor_list], folder)
        self._phrase_guard = Guard(negation=True, reassurance=True, benefactive=spec.benefactive)
        self.exceptions = tuple(folder.fold(w) for w in spec.exceptions if w.strip())
        self._ruled_out = tuple(re.compile(p) for p in spec.ruled_out)

    @property
    def reads_phrases(self) -> bool:
        """Can anything here drop a phrase-list hit (the grammar, exceptions, QA's
        false alarms)?  If not, a phrase hit stands as it is."""
        return self.spec.guard_phrases or bool(self.negatives) or bool(self._ruled_out)

    def anchored(self, text: str, folded: str) -> bool:
        """Does `text` hold one of the anchors (the prefilter of operators and similarity)?"""
        return bool(self._anchor_book.find(text, folded))

    def find(
        self,
        text: str,
        folded: str | None = None,
        phrases: Sequence[PhraseHit] = (),
        *,
        anchored: bool | None = None,
        first: bool = False,
    ) -> list[Detection]:
        """Every detection in `text`, phrase hits first, then operators, then similarity.

        `phrases` are the text's phrase-list hits (forbidden or cue lists); `anchored`
        may pass what the caller's own prefilter said (`anchored` otherwise).  With
        `first`, a surviving phrase hit is enough (a cue needs one hit, not all).
        """
        if folded is None:
            folded = self.folder.fold(text)
        found: list[Detection] = []
        for hit in phrases:
            start, end = hit.span
            if self.spec.guard_phrases and (
                self.grammar.cancels(self._phrase_guard, folded, start, end)
                or in_sentence(folded, start, end, self.exceptions)
            ):
                continue
            found.append(self._detection("phrase", 1.0, hit.span, text, hit.phrase, hit.source))
        if anchored is None and not (first and found):
            anchored = self.anchored(text, folded)
        vec: dict[str, float] | None = None
        if anchored and not (first and found):
            for operator in self.operators:
                for start, end, confidence, word in operator.find(folded, self.grammar):
                    if in_sentence(folded, start, end, self.exceptions):
                        continue
                    found.append(
                        self._detection(
                            "operator", confidence, (start, end), text, word, operator.source
                        )
                    )
            if not found and self.positives and self._similarity_anchors.find(folded):
                vec = vector(folded)
                match = self.positives.best(folded, vec)
                similarity = self.spec.similarity
                if (
                    match is not None
                    and match.score >= similarity.review_threshold
                    and not self._turned(folded, match.exemplar)
                    and not in_sentence(folded, 0, len(folded), self.exceptions)
                ):
                    severity = self.severity["similarity"]
                    if match.score < similarity.threshold and severity == "error":
                        severity = "warning"
                    found.append(
                        Detection(
                            detector=self.name,
                            rule=self.rule,
                            layer="similarity",
                            confidence=round(match.score, 3),
                            severity=severity,
                            span=_content_span(text),
                            matched=text[slice(*_content_span(text))],
                            phrase=match.exemplar,
                            source=f"detectors.{self.name}.similarity",
                        )
                    )
        if found and self.negatives and self._false_alarm(folded, vec):
            return []
        if found and any(pattern.search(folded) for pattern in self._ruled_out):
            return []
        return found

    def _turned(self, folded: str, exemplar: str) -> bool:
        """Does the text negate or reassure where the exemplar does not (我们从不拉黑客户
        against 我会把你拉黑)?"""
        markers = self.grammar.turning_markers(folded)
        return bool(markers - self.grammar.turning_markers(self.folder.fold(exemplar)))

    def _false_alarm(self, folded: str, vec: dict[str, float] | None) -> bool:
        """Is the text a false alarm QA marked (as like a negative exemplar as any positive)?"""
        if vec is None:
            vec = vector(folded)
        negative = self.negatives.best(folded, vec)
        if negative is None or negative.score < self.spec.similarity.negative_threshold:
            return False
        positive = self.positives.best(folded, vec)
        return positive is None or negative.score >= positive.score

    def _detection(
        self,
        layer: Layer,
        confidence: float,
        span: tuple[int, int],
        text: str,
        phrase: str,
        source: str,
    ) -> Detection:
        return Detection(
            detector=self.name,
            rule=self.rule,
            layer=layer,
            confidence=confidence,
            severity=self.severity[layer],
            span=span,
            matched=text[span[0] : span[1]],
            phrase=phrase,
            source=source,
        )


def _content_span(text: str) -> tuple[int, int]:
    """The text without its surrounding blanks (a similarity hit is the whole line)."""
    start = len(text) - len(text.lstrip())
    return start, max(start, len(text.rstrip()))


def strongest(detections: Iterable[Detection]) -> Detection | None:
    """The detection a finding reports: errors first, then phrase > operator >
    similarity, then the most confident, then the earliest."""
    order = {"phrase": 0, "operator": 1, "similarity": 2}
    rank = {"error": 0, "warning": 1, "info": 2}
    best: Detection | None = None
    for d in detections:
        key = (rank[d.severity], order[d.layer], -d.confidence, d.span)
        if best is None or key < (
            rank[best.severity],
            order[best.layer],
            -best.confidence,
            best.span,
        ):
            best = d
    return best
