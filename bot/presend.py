"""The pre-send check: every engineer draft passes the checker's own detectors first.

One source of truth: the hits come from the same `compliance.detection.Detectors`
the checker runs on transcripts — the forbidden phrase lists with their
exceptions, the operators and the similarity to exemplars, with the severity the
policy gives each layer — so a draft the bot lets through is one QA will not flag
for LNG001–LNG006 later, and one it refuses is one QA would flag at error level.

- An error-level hit refuses the draft.  The verdict carries each hit's span,
  layer and confidence, and a suggestion that is a genuinely compliant line, never
  the draft with the bad words cut out (cutting the insult from a mocking sentence
  leaves the mockery): the standard's own line for the situation when the
  customer's last message complains, doubts or is upset (【售后沟通标准】8–10),
  else the policy's line in 您 form for the rule (``[presend.lines]``).
- A warning-level hit (LNG006 你, a similarity hit sent to review) needs
  confirmation: the draft is sent only with an override reason, which is stored
  on the message.  For a draft whose only problem is 你 the suggestion is the
  draft rewritten by rule (您 or the customer's title instead of 你).
- With the customer's last message (`customer_text`, the customer's turn the draft
  answers), the rules that read a conversation are checked too: a complaint, doubt
  or anger there that the draft does not acknowledge is a hit of LNG007–LNG009 at
  the policy's severity for them, as the checker would report it on that draft.
  It holds the draft (confirm) when the draft acknowledges none of the customer's
  cues; one that answers some leaves the rest to the turn's next messages (the
  hits are reported, the draft goes).
- Every suggestion is checked itself before it is offered.
- The verdict also says whether the draft asks for or announces remote access
  (the ticket service holds it until the backup confirmation, SCR003) and
  whether it is the suggestion request (never repeated after a decline, SCR006).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from compliance.checker import agent_cue_lists, customer_cue_lists
from compliance.detection import LAYER_LABELS, CueReader, Detection, Detectors, Exemplars
from compliance.detection.similarity import warm
from compliance.matchers import CueHit, ForbiddenMatcher, RequiredLineMatcher, folder_for
from compliance.policy import Policy, PolicyError
from compliance.rules.language import (
    ComplaintUnacknowledged,
    DoubtUnacknowledged,
    EmotionUnacknowledged,
)
from scripts_library import ScriptKey, canonical_text

Verdict = Literal["ok", "confirm", "refused"]

# The standard's own line for a customer's complaint, doubt or anger, most pressing first.
SITUATION_LINES: tuple[tuple[str, ScriptKey], ...] = (
    ("emotion", ScriptKey.EMOTION_RESPONSE),
    ("doubt", ScriptKey.DOUBT_RESPONSE),
    ("complaint", ScriptKey.COMPLAINT_RESPONSE),
)


# Customer turns whose cues a checker keeps (drafts answer the latest turns).
_SAID_CACHE = 256

# The rules that read the customer's last message: a cue there needs an
# acknowledgement in the draft (the checker's LNG007–LNG009, the same lists).
CONTEXT_RULES = (EmotionUnacknowledged, DoubtUnacknowledged, ComplaintUnacknowledged)


@dataclass(frozen=True, slots=True)
class PresendHit:
    """One hit of a detector in a draft."""

    rule: str
    severity: str
    phrase: str
    span: tuple[int, int]
    evidence: str
    source: str
    layer: str = "phrase"
    confidence: float = 1.0

    @classmethod
    def of(cls, detection: Detection) -> PresendHit:
        return cls(
            rule=detection.rule,
            severity=detection.severity,
            phrase=detection.phrase,
            span=detection.span,
            evidence=detection.matched,
            source=detection.source,
            layer=detection.layer,
            confidence=detection.confidence,
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "phrase": self.phrase,
            "span": list(self.span),
            "evidence": self.evidence,
            "source": self.source,
            "layer": self.layer,
            "layer_label": LAYER_LABELS.get(self.layer, self.layer),
            "confidence": self.confidence,
        }


@dataclass(frozen=True, slots=True)
class PresendResult:
    """What the pre-send check says about one draft."""

    verdict: Verdict
    text: str
    hits: tuple[PresendHit, ...] = ()
    suggestion: str | None = None
    mentions_remote: bool = False
    # The fixed script line the draft says (fuzzily, as the checker reads it), if any.
    script_line: ScriptKey | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def asks_suggestion(self) -> bool:
        return self.script_line is ScriptKey.SUGGESTION_REQUEST

    @property
    def errors(self) -> tuple[PresendHit, ...]:
        return tuple(h for h in self.hits if h.severity == "error")

    @property
    def warnings(self) -> tuple[PresendHit, ...]:
        return tuple(h for h in self.hits if h.severity != "error")

    def to_dict(self) -> dict[str, object]:
        return {
            "verdict": self.verdict,
            "text": self.text,
            "hits": [h.to_dict() for h in self.hits],
            "suggestion": self.suggestion,
            "mentions_remote": self.mentions_remote,
            "script_line": self.script_line.value if self.script_line else None,
            "notes": list(self.notes),
        }


class PresendChecker:
    """Checks drafts with the checker's detectors; build once per policy (and exemplars)."""

    def __init__(self, policy: Policy, exemplars: Exemplars | None = None) -> None:
        self.policy = policy
        folder = self.folder = folder_for(policy)
        self.forbidden = ForbiddenMatcher(policy, folder)
        self.use(self.compile(exemplars))
        self.required = RequiredLineMatcher(policy, folder)
        # jieba's dictionary is loaded now, not on the first draft an engineer types.
        warm()
        source = policy.source_path or "policy"
        for code, line in (("fallback", policy.presend.fallback), *policy.presend.lines.items()):
            if self.hits(line):
                raise PolicyError(
                    f"{source}: presend.{'lines.' if code != 'fallback' else ''}{code}: "
                    f"the line offered instead of a refused draft is not compliant itself: {line}"
                )

    def compile(self, exemplars: Exemplars | None) -> tuple[Detectors, CueReader, CueReader]:
        """The detectors and the checker's agent- and customer-side cue lists read
        through them, with these exemplars (a few tenths of a second: a running app
        builds them off its event loop, then `use`s them)."""
        detectors = Detectors(self.policy, self.folder, exemplars)
        return (
            detectors,
            CueReader(agent_cue_lists(self.policy), detectors, self.folder),
            CueReader(customer_cue_lists(self.policy), detectors, self.folder),
        )

    def use(self, compiled: tuple[Detectors, CueReader, CueReader]) -> None:
        """Check with these detectors from now on (QA's marks since start-up,
        `bot.exemplar_watch`)."""
        self.detectors, self.agent_cues, self.customer_cues = compiled
        self._said: dict[str, dict[str, CueHit]] = {}

    def said_cues(self, customer_text: str) -> dict[str, CueHit]:
        """The cues of the customer's turn a draft answers, read once per turn: the
        engineer's drafts for one turn (as they type), and every suggestion checked
        against it, share the reading."""
        found = self._said.get(customer_text)
        if found is None:
            if len(self._said) >= _SAID_CACHE:
                self._said.clear()
            found = self._said[customer_text] = self.customer_cues.find(customer_text)
        return found

    def hits(self, text: str) -> tuple[PresendHit, ...]:
        """Every language detection in `text`, as the checker would report it."""
        folded = self.folder.fold(text)
        detections = self.detectors.language(text, folded, self.forbidden.find(text, folded))
        return tuple(sorted((PresendHit.of(d) for d in detections), key=lambda h: h.span))

    def script_line(self, text: str) -> ScriptKey | None:
        """The fixed script line `text` says (backup warning, thanks …), as the checker
        would read it, or None."""
        for key in self.required.FIXED_LINES:
            if self.required.matches(key, text):
                return key
        return None

    def check(
        self, text: str, address: str = "您", *, customer_text: str | None = None
    ) -> PresendResult:
        """The verdict on a draft.  `address` is how a rewritten draft names the
        customer; `customer_text`, the customer's last message, picks the standard's
        line for the situation (complaint, doubt, anger)."""
        agent_cues = self.agent_cues.find(text)
        hits = counted = self.hits(text)
        if customer_text:
            context, cues = self._context(text, customer_text, agent_cues)
            hits = tuple(sorted((*hits, *context), key=lambda h: (h.span, h.rule)))
            # A turn may answer a complaint, a doubt and anger in as many messages: a
            # draft that acknowledges one of them leaves the others to the turn's next
            # ones (reported, not held); one that acknowledges none is held.
            if context and len(context) == cues:
                counted = hits
        mentions_remote = "remote" in agent_cues
        line = self.script_line(text)
        if not counted:
            return PresendResult(
                "ok", text, hits=hits, mentions_remote=mentions_remote, script_line=line
            )
        verdict: Verdict = "refused" if any(h.severity == "error" for h in hits) else "confirm"
        return PresendResult(
            verdict,
            text,
            hits=hits,
            suggestion=self.suggest(text, counted, address, customer_text),
            mentions_remote=mentions_remote,
            script_line=line,
        )

    def context_hits(
        self, text: str, customer_text: str, agent_cues: dict[str, CueHit] | None = None
    ) -> tuple[PresendHit, ...]:
        """The LNG007–LNG009 hits of a draft answering `customer_text`: each cue of the
        customer's the draft leaves unacknowledged (the rule's ack cues, its detector
        or the standard's line, fuzzy: as the checker reads the next turn)."""
        return self._context(text, customer_text, agent_cues)[0]

    def _context(
        self, text: str, customer_text: str, agent_cues: dict[str, CueHit] | None = None
    ) -> tuple[tuple[PresendHit, ...], int]:
        """The context hits, and how many of the rules' cues the customer's text holds."""
        cues = self.said_cues(customer_text)
        if not cues:
            return (), 0
        if agent_cues is None:
            agent_cues = self.agent_cues.find(text)
        found: list[PresendHit] = []
        present = 0
        for rule in CONTEXT_RULES:
            config = self.policy.rules.get(rule.code)
            cue = cues.get(rule.cue_list)
            if cue is None or config is None or not config.enabled:
                continue
            present += 1
            if rule.ack_list in agent_cues or self.required.matches(rule.line_key, text):
                continue
            found.append(
                PresendHit(
                    rule=rule.code,
                    severity=config.severity,
                    phrase=cue.cue,
                    span=(0, len(text)),
                    evidence=cue.matched,
                    source=f"phrases.{rule.cue_list}_cues",
                    layer=cue.layer,
                    confidence=cue.confidence,
                )
            )
        return tuple(found), present

    def suggest(
        self,
        text: str,
        hits: tuple[PresendHit, ...],
        address: str = "您",
        customer_text: str | None = None,
    ) -> str | None:
        """A compliant line instead of `text`, checked before it is offered (None when
        no candidate passes, which a valid policy rules out)."""
        candidates: list[str] = []
        if all(h.rule == "LNG006" for h in hits):
            candidates.append(_readdress(text, hits, address))
        if customer_text:
            cues = self.said_cues(customer_text)
            candidates.extend(canonical_text(key) for cue, key in SITUATION_LINES if cue in cues)
        first = min(hits, key=lambda h: (h.severity != "error", h.span))
        presend = self.policy.presend
        candidates.extend((presend.lines.get(first.rule, presend.fallback), presend.fallback))
        return next(
            (
                c
                for c in candidates
                if c.strip()
                and not self.hits(c)
                and not (customer_text and self.context_hits(c, customer_text))
            ),
            None,
        )


def _readdress(text: str, hits: tuple[PresendHit, ...], address: str) -> str:
    """`text` with the customer's address (您, 张总) in place of every informal 你."""
    pieces: list[str] = []
    cursor = 0
    for hit in sorted(hits, key=lambda h: h.span):
        pieces.append(text[cursor : hit.span[0]])
        pieces.append(address)
        cursor = hit.span[1]
    pieces.append(text[cursor:])
    return "".join(pieces)
