"""Layered detection: phrase lists, configurable operators and similarity to exemplars.

`Detectors` holds every ``[detectors.NAME]`` table of a policy, built once per run
(or once per bot process), and answers, for one text, what each detector finds:

- a *language* detector is named after a forbidden list (``abuse``,
  ``block_threat`` …): its phrase layer is that list (`ForbiddenMatcher`), and its
  hits become LNG findings;
- a *cue* detector is named after a cue list (``complaint``, ``remote``,
  ``resolution_agent`` …): its phrase layer is that list, and its hits make the cue
  count for the SCR/LNG rules that read cues.

The pieces are in `compliance.detection.grammar` (negation, hypotheticals,
reassurance), `compliance.detection.similarity` (jieba words, TF-IDF cosine) and
`compliance.detection.detector` (the operators and the layered `Detector`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from compliance.detection.detector import (
    LAYER_LABELS,
    Detection,
    Detector,
    Layer,
    PhraseHit,
    strongest,
)
from compliance.detection.grammar import Grammar
from compliance.matchers import CueBook, CueHit, CueList, ForbiddenHit
from compliance.normalize import TextFolder
from compliance.policy import Policy

__all__ = [
    "LAYER_LABELS",
    "CueReader",
    "Detection",
    "Detector",
    "Detectors",
    "Exemplars",
    "Layer",
    "PhraseHit",
    "strongest",
]


# Extra exemplars per detector name: (positive, negative), e.g. from QA's marks.
Exemplars = Mapping[str, tuple[Sequence[str], Sequence[str]]]


class Detectors:
    """Every detector of a policy, compiled once."""

    def __init__(
        self, policy: Policy, folder: TextFolder, exemplars: Exemplars | None = None
    ) -> None:
        self.policy = policy
        self.folder = folder
        self.grammar = Grammar(policy.detection, folder)
        extra = exemplars or {}
        self.by_name: dict[str, Detector] = {}
        for name, spec in policy.detectors.items():
            positive, negative = extra.get(name, ((), ()))
            self.by_name[name] = Detector(
                name,
                spec,
                policy,
                folder,
                self.grammar,
                exemplars=positive,
                negative_exemplars=negative,
            )
        self._severity = {code: config.severity for code, config in policy.rules.items()}
        self._enabled = {code for code, config in policy.rules.items() if config.enabled}
        self.language_names: tuple[str, ...] = tuple(
            name for name in self.by_name if name in policy.forbidden
        )
        """Detectors that extend a forbidden list (their hits are LNG findings)."""
        self.language_anchors: frozenset[str] = frozenset(
            f"anchor:{name}" for name in self.language_names
        )
        """Their ``anchor:NAME`` keys in a cue reader's results."""

    def get(self, name: str) -> Detector | None:
        return self.by_name.get(name)

    # -- the prefilter, folded into the checker's cue books --------------------

    def anchor_lists(self, names: Iterable[str]) -> list[CueList]:
        """The ``anchor:NAME`` cue lists of these detectors (those that exist)."""
        return [
            self.by_name[name].anchor_list
            for name in names
            if name in self.by_name and self.by_name[name].anchor_list.cues
        ]

    # -- language rules (agent messages) ---------------------------------------

    def language(
        self,
        text: str,
        folded: str,
        forbidden: Sequence[ForbiddenHit],
        anchored: Iterable[str] | None = None,
    ) -> list[Detection]:
        """Every language detection in an agent message, in text order.

        `forbidden` are its `ForbiddenMatcher` hits; `anchored` the language detectors
        whose anchors the caller's prefilter found (None: look here).
        """
        by_list: dict[str, list[ForbiddenHit]] = {}
        for hit in forbidden:
            by_list.setdefault(hit.list_name, []).append(hit)
        anchors = set(anchored) if anchored is not None else None
        found: list[Detection] = []
        for name in dict.fromkeys((*by_list, *self.language_names)):
            hits = by_list.get(name, [])
            detector = self.by_name.get(name)
            if detector is None:
                found.extend(self._phrase_only(name, text, hits))
                continue
            is_anchored = detector.anchored(text, folded) if anchors is None else name in anchors
            if not hits and not is_anchored:
                continue
            phrases = [PhraseHit(h.span, h.phrase, h.source) for h in hits]
            found.extend(detector.find(text, folded, phrases, anchored=is_anchored))
        found = [d for d in found if d.rule in self._enabled]
        found.sort(key=lambda d: (d.span, d.rule))
        return found

    def _phrase_only(self, name: str, text: str, hits: Sequence[ForbiddenHit]) -> list[Detection]:
        return [
            Detection(
                detector=name,
                rule=hit.rule,
                layer="phrase",
                confidence=1.0,
                severity=self._severity.get(hit.rule, "error"),
                span=hit.span,
                matched=hit.matched,
                phrase=hit.phrase,
                source=hit.source,
            )
            for hit in hits
        ]

    # -- cues --------------------------------------------------------------------

    def cue(
        self,
        name: str,
        text: str,
        folded: str,
        phrase: CueHit | None,
        anchored: bool | None = None,
    ) -> CueHit | None:
        """The cue `name` in `text` as its detector reads it: the phrase-list hit (if
        the grammar and QA's false alarms leave it), else an operator or similarity
        hit; None when nothing counts.  Without a detector, the phrase hit as it is."""
        detector = self.by_name.get(name)
        if detector is None:
            return phrase
        if phrase is not None and not detector.reads_phrases:
            return phrase  # nothing would change it: keep the phrase hit as it is
        phrases = [PhraseHit(phrase.span, phrase.cue, f"phrases.{name}")] if phrase else []
        if not phrases and anchored is False:
            return None
        best = strongest(detector.find(text, folded, phrases, anchored=anchored, first=True))
        if best is None:
            return None
        return CueHit(
            name, best.phrase, best.span, best.matched, layer=best.layer, confidence=best.confidence
        )


class CueReader:
    """Cue lists read through their detectors: a `CueBook` of the lists plus the
    detectors' ``anchor:NAME`` lists, whose hits each detector then confirms, drops
    or adds to (an operator or similarity hit where no phrase matched).

    The result of `find` is the book's: cue list name -> `CueHit`, plus an
    ``anchor:NAME`` key for every detector of `anchors_of` whose prefilter the text
    passed (the language detectors of agent messages read those).  A `lazy` reader
    leaves its cues unread (and their anchor keys in): the caller reads a cue with
    `read` when a rule needs it, which for the agent's acknowledgements is rarely.
    """

    def __init__(
        self,
        lists: Sequence[CueList],
        detectors: Detectors,
        folder: TextFolder,
        *,
        anchors_of: Iterable[str] = (),
        lazy: bool = False,
        on_demand: Iterable[str] = (),
    ) -> None:
        self.detectors = detectors
        names = [cue_list.name for cue_list in lists]
        cue_names = tuple(name for name in names if detectors.get(name) is not None)
        # Lazy: leave the reading to the caller (`read`), cue by cue, when a rule asks;
        # the ``anchor:NAME`` keys stay in the result to say where it may.  Cues read
        # `on_demand` only (a turn's acknowledgements) keep their anchors out of the
        # book altogether: their detector looks when it is asked.
        # (A reader that is not lazy may still leave some cues on demand: a decline of
        # the suggestion request is only asked about after a request, which is rare.)
        self.on_demand = frozenset(on_demand)
        self._cue_names = () if lazy else tuple(n for n in cue_names if n not in self.on_demand)
        anchored = detectors.anchor_lists(
            (*(n for n in cue_names if n not in self.on_demand), *anchors_of)
        )
        self.book = CueBook([*lists, *anchored], folder)
        self.folder = folder
        self.cue_keys = self.book.cue_keys

    def find(self, text: str, folded: str | None = None) -> dict[str, CueHit]:
        if folded is None:
            folded = self.folder.fold(text)
        return self._read(text, folded, self.book.find(text, folded))

    def find_many(
        self, texts: list[str], folded: list[str] | None = None
    ) -> list[dict[str, CueHit]]:
        if folded is None:
            folded = self.folder.fold_many(texts)
        found = self.book.find_many(texts, folded)
        return [
            self._read(text, fold, hits) if hits else hits
            for text, fold, hits in zip(texts, folded, found, strict=True)
        ]

    def read(self, name: str, text: str, folded: str, hits: dict[str, CueHit]) -> CueHit | None:
        """The cue `name` in a text whose `find` (lazy) gave `hits`, read by its detector."""
        phrase = hits.get(name)
        if name in self.on_demand:
            return self.detectors.cue(name, text, folded, phrase)
        anchored = f"anchor:{name}" in hits
        if phrase is None and not anchored:
            return None
        return self.detectors.cue(name, text, folded, phrase, anchored)

    def _read(self, text: str, folded: str, hits: dict[str, CueHit]) -> dict[str, CueHit]:
        if not hits or not self._cue_names:
            return hits
        out = dict(hits)
        for name in self._cue_names:
            anchored = out.pop(f"anchor:{name}", None) is not None
            phrase = hits.get(name)
            if phrase is None and not anchored:
                continue
            read = self.detectors.cue(name, text, folded, phrase, anchored)
            if read is None:
                out.pop(name, None)
            else:
                out[name] = read
        return out
