"""What the rules need to know about one session, worked out once and shared.

Twenty-one rules look at the same session; the expensive parts (folding text, the
forbidden-phrase pass, cue lookups, fuzzy scores against script lines) are done at
most once per line here and cached, and only for the lines a rule asks about.

Vocabulary (SPEC §6):

- a *block* is a run of consecutive messages of one role (events do not break it);
- an agent block is a *turn*: the agent messages before the customer speaks again,
  so a greeting may open a turn and an acknowledgement follow in the same turn;
- the agent's *next turn* after a customer message is the first agent block after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from operator import attrgetter
from typing import TYPE_CHECKING

from compliance.detection import Detection
from compliance.matchers import CueHit, GreetingMatch
from compliance.model import Line, Session
from scripts_library import ScriptKey

if TYPE_CHECKING:
    from compliance.context import CheckContext


# Not frozen, like `Line`: a million-line check builds about a million blocks, and a
# frozen dataclass sets each field through object.__setattr__ (three times slower to
# build).  Treated as immutable by convention; hashes by value.
@dataclass(slots=True, unsafe_hash=True)
class Block:
    """Consecutive messages of one role (events between them do not count)."""

    role: str
    lines: tuple[Line, ...]

    @property
    def first(self) -> Line:
        return self.lines[0]

    @property
    def last(self) -> Line:
        return self.lines[-1]


@dataclass(frozen=True, slots=True)
class Occurrence:
    """Where something happened: an event line, or a message it was inferred from."""

    line: Line
    inferred: bool
    cue: str | None = None
    span: tuple[int, int] | None = None

    @property
    def evidence(self) -> str | None:
        if self.span is not None and self.line.text is not None:
            return self.line.text[self.span[0] : self.span[1]]
        return None


_INDEX = attrgetter("index")

# The cues of a message without any (shared, never changed).
_NO_CUES: dict[str, CueHit] = {}


class SessionFacts:
    """Facts about one session for one check run, computed in one pass and cached.

    Every message is folded once and looked up in the cue automaton once, here;
    forbidden phrases, fuzzy scores, acknowledgements and greetings are computed
    when a rule first asks, and kept.
    """

    def __init__(self, session: Session, ctx: CheckContext) -> None:
        self.session = session
        self.ctx = ctx
        lines = self.lines = session.lines
        speech: list[Line] = []
        texts: list[str] = []
        agents: list[int] = []
        customers: list[int] = []
        blocks: list[Block] = []
        block_of = [-1] * len(lines)
        current: list[Line] = []
        current_role = ""
        for line in lines:
            role = line.role
            if role == "event":
                continue
            (agents if role == "agent" else customers).append(len(speech))
            speech.append(line)
            texts.append(line.text or "")
            if role != current_role:
                if current:
                    blocks.append(Block(current_role, tuple(current)))
                current = []
                current_role = role
            current.append(line)
            block_of[line.index] = len(blocks)
        if current:
            blocks.append(Block(current_role, tuple(current)))
        speech_folded = ctx.folder.fold_many(texts)
        folded = [""] * len(lines)
        for line, line_folded in zip(speech, speech_folded, strict=True):
            folded[line.index] = line_folded
        cues: list[dict[str, CueHit]] = [_NO_CUES] * len(lines)
        cue_lines: list[Line] = []
        # Agent messages that passed a language detector's prefilter (its anchors).
        self._anchored: list[Line] = []
        # Agent messages: one pass says which may hold a forbidden phrase (kept for
        # `forbidden`) and which a cue (looked at now).
        self._maybe_forbidden: list[Line] = []
        if agents:
            agent_folded = [speech_folded[i] for i in agents]
            maybe_forbidden, maybe_cue = ctx.agent_scan.scan(agent_folded)
            self._maybe_forbidden = [speech[agents[number]] for number in maybe_forbidden]
            find = ctx.agent_cues.find
            language_anchors = ctx.detectors.language_anchors
            for number in maybe_cue:
                i = agents[number]
                hits = find(texts[i], speech_folded[i]) if texts[i] else _NO_CUES
                if hits:
                    line = speech[i]
                    cues[line.index] = hits
                    cue_lines.append(line)
                    if not language_anchors.isdisjoint(hits):
                        self._anchored.append(line)
        if customers:
            found = ctx.customer_cues.find_many(
                [texts[i] for i in customers], [speech_folded[i] for i in customers]
            )
            for i, hits in zip(customers, found, strict=True):
                if hits:
                    line = speech[i]
                    cues[line.index] = hits
                    cue_lines.append(line)
        if cue_lines:
            cue_lines.sort(key=_INDEX)
        has_events = len(speech) != len(lines)
        self.has_events = has_events
        self.speech: tuple[Line, ...] = tuple(speech)
        self.blocks: tuple[Block, ...] = tuple(blocks)
        self._block_of = block_of
        self._folded = folded
        self._cues = cues
        # The messages with a cue, in order: most have none, and the questions
        # below only look at these.
        self._cue_lines = cue_lines
        self._scores: dict[tuple[int, ScriptKey], float] = {}
        self._acks: dict[int, bool] = {}
        self._greetings: dict[int, GreetingMatch | None] = {}
        self._detections: dict[str, list[tuple[Line, Detection]]] | None = None
        self._agent_cues: dict[tuple[int, str], CueHit | None] = {}
        self._remote: list[Occurrence] | None = None
        self._resolutions: list[Occurrence] | None = None
        self._block_cues: list[tuple[int, dict[str, tuple[Line, CueHit]]]] | None = None

    # -- positions -----------------------------------------------------------

    @property
    def first_customer_line(self) -> Line | None:
        return next((line for line in self.speech if line.role == "customer"), None)

    def turn_containing(self, line: Line) -> Block | None:
        number = self._block_of[line.index]
        return self.blocks[number] if number >= 0 else None

    def events(self, *names: str) -> list[Line]:
        if not self.has_events:
            return []
        return [line for line in self.lines if line.role == "event" and line.event in names]

    def responsible_agent(self, at: Line | None = None) -> str | None:
        """The engineer answerable at `at`: the event's sender, else the last agent to
        speak before it, else the first agent of the session."""
        if at is not None:
            if at.role in ("agent", "event") and at.sender:
                return at.sender
            for line in reversed(self.lines[: at.index]):
                if line.role == "agent" and line.sender:
                    return line.sender
        for line in self.lines:
            if line.role == "agent" and line.sender:
                return line.sender
        return None

    def local_date(self, ts: datetime) -> date:
        return ts.astimezone(self.ctx.calendar.tz).date()

    # -- text ------------------------------------------------------------------

    def folded(self, line: Line) -> str:
        """The message folded for matching (`TextFolder.fold`); "" for events."""
        return self._folded[line.index]

    def cues(self, line: Line) -> dict[str, CueHit]:
        """The cue lists (of the line's role) with a cue in this line; an agent line's
        own cues as their phrase lists found them (read them with `agent_cue`)."""
        return self._cues[line.index]

    def agent_cue(self, line: Line, name: str) -> CueHit | None:
        """The agent cue `name` in `line` as its detector reads it (read when first
        asked: most agent lines are never asked about their acknowledgements)."""
        hits = self._cues[line.index]
        reader = self.ctx.agent_cues
        if name not in hits and f"anchor:{name}" not in hits and name not in reader.on_demand:
            return None
        key = (line.index, name)
        if key not in self._agent_cues:
            self._agent_cues[key] = reader.read(
                name, line.text or "", self._folded[line.index], hits
            )
        return self._agent_cues[key]

    def customer_cue(self, line: Line, name: str) -> CueHit | None:
        """A customer cue read on demand (its detector looks when asked): the decline
        of the suggestion request, asked about only after a request."""
        return self.ctx.customer_cues.read(
            name, line.text or "", self._folded[line.index], self._cues[line.index]
        )

    def customer_block_cues(self) -> list[tuple[int, dict[str, tuple[Line, CueHit]]]]:
        """Customer blocks with cues: (block number, cue list -> first line and hit)."""
        if self._block_cues is None:
            found: list[tuple[int, dict[str, tuple[Line, CueHit]]]] = []
            block_of = self._block_of
            for line in self._cue_lines:
                if line.role != "customer":
                    continue
                number = block_of[line.index]
                if not found or found[-1][0] != number:
                    found.append((number, {}))
                first = found[-1][1]
                for name, hit in self._cues[line.index].items():
                    first.setdefault(name, (line, hit))
            self._block_cues = found
        return self._block_cues

    def is_ack_only(self, line: Line) -> bool:
        """The message is only an acknowledgement (好的, 收到, an emoji …)."""
        ack = self._acks.get(line.index)
        if ack is None:
            ack = self._acks[line.index] = self.ctx.acks.is_ack_only(
                line.text, self._folded[line.index]
            )
        return ack

    def greeting(self, line: Line) -> GreetingMatch | None:
        """The self-introduction in an agent message, if it attempts one (cached)."""
        if line.index not in self._greetings:
            self._greetings[line.index] = (
                self.ctx.greeting.parse(line.text, self._folded[line.index]) if line.text else None
            )
        return self._greetings[line.index]

    def score(self, line: Line, key: ScriptKey) -> float:
        """Fuzzy score (0–100) of the line against a fixed script line."""
        cache_key = (line.index, key)
        score = self._scores.get(cache_key)
        if score is None:
            score = self._scores[cache_key] = self.ctx.required.score(
                key, line.text, self._folded[line.index]
            )
        return score

    def says(self, line: Line, key: ScriptKey) -> bool:
        return line.role == "agent" and self.score(line, key) >= self.ctx.required.cutoff

    def detections(self, rule: str) -> list[tuple[Line, Detection]]:
        """Language detections of `rule` in agent messages (customers are never blamed):
        phrase-list hits as the rule's detector reads them, and its operator and
        similarity hits on messages that passed its prefilter."""
        if self._detections is None:
            by_rule: dict[str, list[tuple[Line, Detection]]] = {}
            maybe = {line.index for line in self._maybe_forbidden}
            lines = self._maybe_forbidden
            if self._anchored:
                lines = sorted({*lines, *self._anchored}, key=_INDEX)
            find = self.ctx.forbidden.find
            detect = self.ctx.detectors.language
            for line in lines:
                if not line.text:
                    continue
                folded = self._folded[line.index]
                hits = find(line.text, folded) if line.index in maybe else []
                anchored = [
                    name[len("anchor:") :]
                    for name in self._cues[line.index]
                    if name in self.ctx.detectors.language_anchors
                ]
                for detection in detect(line.text, folded, hits, anchored):
                    by_rule.setdefault(detection.rule, []).append((line, detection))
            self._detections = by_rule
        return self._detections.get(rule, [])

    # -- events, or what the text says instead ---------------------------------

    def remote_logins(self) -> list[Occurrence]:
        """Remote logins: `remote_login` events; without any events, agent messages
        that ask for or announce remote access (inferred)."""
        if self._remote is None:
            if self.has_events:
                self._remote = [Occurrence(line, False) for line in self.events("remote_login")]
            else:
                found: list[Occurrence] = []
                for line in self._cue_lines:
                    if line.role != "agent":
                        continue
                    hit = self.agent_cue(line, "remote")
                    if hit is not None:
                        found.append(Occurrence(line, True, hit.cue, hit.span))
                self._remote = found
        return self._remote

    def resolutions(self) -> list[Occurrence]:
        """`resolved` events; without any events, messages saying the problem is
        solved (agent: 问题已解决; customer: 好了, 可以了 — not as a question)."""
        if self._resolutions is None:
            if self.has_events:
                self._resolutions = [Occurrence(line, False) for line in self.events("resolved")]
            else:
                found: list[Occurrence] = []
                for line in self._cue_lines:
                    if line.role == "agent":
                        hit = self.agent_cue(line, "resolution_agent")
                    else:
                        hit = self._cues[line.index].get("resolution_customer")
                    if hit is None:
                        continue
                    # An engineer's report of a passing test or restored service in
                    # other words is a resolution once the customer confirms it.
                    if line.role == "agent" and hit.layer != "phrase" and not self.confirmed(line):
                        continue
                    found.append(Occurrence(line, True, hit.cue, hit.span))
                self._resolutions = found
        return self._resolutions

    def confirmed(self, report: Line) -> bool:
        """Does the customer's next message confirm what the agent's `report` says
        (好的, 确实正常了 …: no question, no 还是不行)?"""
        number = self._block_of[report.index] + 1
        if number <= 0 or number >= len(self.blocks) or self.blocks[number].role != "customer":
            return False
        reply = self.blocks[number].first
        folded = self._folded[reply.index]
        if not folded or "?" in folded or "？" in folded:
            return False
        phrases = self.ctx.policy.phrases
        if any(self.ctx.folder.fold(n) in folded for n in phrases.resolution_negations):
            return False
        if "resolution_customer" in self._cues[reply.index] or self.is_ack_only(reply):
            return True
        return any(self.ctx.folder.fold(word) in folded for word in phrases.affirmations)

    def agent_lines_from(self, point: Line) -> list[Line]:
        """Agent messages that count as *after* `point`: from the start of the agent
        turn it belongs to (or that ends just before an event), onwards."""
        start = point.index + 1
        if point.role == "agent":
            block = self.turn_containing(point)
            start = block.first.index if block is not None else point.index
        elif point.role == "event":
            previous = next(
                (line for line in reversed(self.lines[: point.index]) if line.role != "event"),
                None,
            )
            if previous is not None and previous.role == "agent":
                block = self.turn_containing(previous)
                if block is not None:
                    start = block.first.index
        return [line for line in self.speech if line.role == "agent" and line.index >= start]
