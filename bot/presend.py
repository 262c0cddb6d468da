"""The pre-send check: every engineer draft passes the compliance matchers first.

One source of truth: the forbidden-phrase hits come from the same
`compliance.matchers.ForbiddenMatcher` the checker uses on transcripts, over
the same policy lists and exceptions, so a draft the bot lets through is one
QA will not flag for LNG001–LNG006 later.

- An error-level hit (profanity, abuse, block threat, walk-away,
  company-damaging: LNG001–LNG005 in the 朴赛 policy) refuses the draft; the
  verdict carries each matched span and a compliant suggestion.
- A warning-level hit (LNG006 你) needs confirmation: the draft is sent only
  with an override reason, which is stored on the message.
- The verdict also says whether the draft asks for or announces remote access
  (the ticket service holds it until the backup confirmation, SCR003) and
  whether it is the suggestion request (never repeated after a decline,
  SCR006).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from compliance.checker import agent_cue_lists
from compliance.matchers import CueBook, ForbiddenMatcher, RequiredLineMatcher, folder_for
from compliance.policy import Policy
from scripts_library import ScriptKey

Verdict = Literal["ok", "confirm", "refused"]

# Said instead of a draft that is nothing but a forbidden phrase.
FALLBACK_SUGGESTION = "请您稍等，我这边马上继续为您处理"

# A clause and the punctuation that ends it.
_CLAUSE = re.compile(r"(?P<body>[^，,。.！!？?；;\n]*)(?P<stop>[，,。.！!？?；;\n]*)")


@dataclass(frozen=True, slots=True)
class PresendHit:
    """One forbidden phrase found in a draft."""

    rule: str
    severity: str
    phrase: str
    span: tuple[int, int]
    evidence: str
    source: str

    def to_dict(self) -> dict[str, object]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "phrase": self.phrase,
            "span": list(self.span),
            "evidence": self.evidence,
            "source": self.source,
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
    """Checks drafts against the policy's forbidden lists and cue lists."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        folder = folder_for(policy)
        self.forbidden = ForbiddenMatcher(policy, folder)
        # The checker's agent-side cue lists: what it would infer as remote access.
        self.agent_cues = CueBook(agent_cue_lists(policy), folder)
        self.required = RequiredLineMatcher(policy, folder)

    def hits(self, text: str) -> tuple[PresendHit, ...]:
        """Every forbidden phrase in `text`, with the severity the policy gives its rule."""
        found: list[PresendHit] = []
        for hit in self.forbidden.find(text):
            rule = self.policy.rules.get(hit.rule)
            if rule is not None and not rule.enabled:
                continue
            found.append(
                PresendHit(
                    rule=hit.rule,
                    severity=rule.severity if rule is not None else "error",
                    phrase=hit.phrase,
                    span=hit.span,
                    evidence=hit.matched,
                    source=hit.source,
                )
            )
        found.sort(key=lambda h: h.span)
        return tuple(found)

    def script_line(self, text: str) -> ScriptKey | None:
        """The fixed script line `text` says (backup warning, thanks …), as the checker
        would read it, or None."""
        for key in self.required.FIXED_LINES:
            if self.required.matches(key, text):
                return key
        return None

    def check(self, text: str, address: str = "您") -> PresendResult:
        """The verdict on a draft; `address` is how a compliant suggestion names the customer."""
        hits = self.hits(text)
        mentions_remote = "remote" in self.agent_cues.find(text)
        line = self.script_line(text)
        if not hits:
            return PresendResult("ok", text, mentions_remote=mentions_remote, script_line=line)
        suggestion = suggest(text, hits, address)
        verdict: Verdict = "refused" if any(h.severity == "error" for h in hits) else "confirm"
        return PresendResult(
            verdict,
            text,
            hits=hits,
            suggestion=suggestion,
            mentions_remote=mentions_remote,
            script_line=line,
        )


def suggest(text: str, hits: tuple[PresendHit, ...], address: str = "您") -> str:
    """A compliant version of `text`.

    A clause (up to a comma, full stop, question mark …) that holds an
    error-level phrase is dropped whole — cutting the phrase alone leaves
    sentences such as "再这样就把您" —, an informal 你 becomes the customer's
    address; nothing meaningful left means the fallback line.
    """
    errors = [h.span for h in hits if h.severity == "error"]
    informal = sorted(h.span for h in hits if h.severity != "error" and h.rule == "LNG006")
    kept: list[str] = []
    for match in _CLAUSE.finditer(text):
        start, end = match.span("body")
        if any(a < end and start < b for a, b in errors):
            continue
        body = text[start:end]
        for a, b in reversed([span for span in informal if start <= span[0] < end]):
            body = body[: a - start] + address + body[b - start :]
        kept.append(body + match.group("stop"))
    cleaned = "".join(kept).strip()
    cleaned = re.sub(r"^[，,；;、\s]+", "", cleaned)
    if len(re.sub(r"[\W_]+", "", cleaned)) < 2:
        return FALLBACK_SUGGESTION
    return cleaned
