"""What changes the meaning of an evaluation: negation, hypotheticals, reassurance.

Operators find an evaluation (拉黑, 走过场, 搞不明白) near a target; whether it is
said of someone is decided here, on the folded text (same length as the original,
so spans carry over):

- **negation**: a negation word (不会, 绝不, 从不, 没 …) ending shortly before the
  evaluation, with no clause break or consequence word (就, 但 …) between, cancels
  it (我们从不拉黑客户, 不会不理您); so does a negation right after it
  (拉黑客户是不可能的).  A one-character negation reaches three characters at most.
- **hypothetical**: a clause that opens with 如果 / 假如 / 要是 … before the hit;
  only for operators that ask for it (a conditional threat is still a threat).
- **reassurance**: 请放心, 不用担心 … earlier in the same sentence.
- **benefactive**: 帮您 / 为您 just before an action (帮您删除) makes it a service.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from compliance.normalize import TextFolder
from compliance.policy import DetectionGrammar

# A-not-A questions (能不能, 是不是, 有没有).
_A_NOT_A = re.compile(r"(.)[不没]\1")
# Characters that end a sentence and a clause (both widths).
SENTENCE_BREAKS = frozenset("。！？!?；;\n")
CLAUSE_BREAKS = SENTENCE_BREAKS | frozenset("，,、：:")
# A negation's clause: 、 joins items it negates together.
_NEGATION_BREAKS = CLAUSE_BREAKS - {"、"}
# Manner words after 就 that make it "just so" rather than a consequence.
_MANNER = ("这样", "这么", "那样", "那么")
# A negation before a span of time or a count is none (没两天又坏了, 不到一周, 没多久).
_QUANTITY = re.compile(
    r"到?[一二两三四五六七八九十几半多0-9]+个?(?:天|日|周|星期|月|年|次|回|遍|分钟|小时|会儿|久)"
)
# Question marks and particles an operator may take as its evaluation.
_QUESTION_MARKS = frozenset(("吗", "么", "呢", "?", "？"))


def _alternation(words: tuple[str, ...]) -> re.Pattern[str] | None:
    words = tuple(w for w in words if w)
    if not words:
        return None
    ordered = sorted(set(words), key=len, reverse=True)
    return re.compile("|".join(re.escape(w) for w in ordered))


@dataclass(frozen=True, slots=True)
class Guard:
    """Which grammar checks an operator applies."""

    negation: bool = True
    hypothetical: bool = False
    reassurance: bool = True
    benefactive: bool = False


class Grammar:
    """The policy's ``[detection]`` words, folded and compiled once."""

    def __init__(self, policy: DetectionGrammar, folder: TextFolder) -> None:
        def fold(words: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(folder.fold(w).strip() for w in words if w.strip())

        self.scope = policy.negation_scope
        self.degree_words: tuple[str, ...] = fold(policy.degree_words)
        self._negations = _alternation(fold(policy.negations))
        self._after = fold(policy.negations_after)
        self._breaks = _alternation(fold(policy.scope_breaks))
        self._hypotheticals = _alternation(fold(policy.hypotheticals))
        self._reassurances = _alternation(fold(policy.reassurances))
        self._benefactives = fold(policy.benefactives)
        self._clause_negations = _alternation(fold(policy.clause_negations))
        self._rhetorical_openers = _alternation(fold(policy.rhetorical_openers))
        self._rhetorical_negations = frozenset(fold(policy.rhetorical_negations))
        self._rhetorical_ends = fold(policy.rhetorical_ends)
        # Markers that turn a whole sentence around (从不, 绝不, 请放心): a text that has
        # one its exemplar lacks does not say what the exemplar says.
        self._turning = _alternation(
            tuple(w for w in fold(policy.negations) if len(w) > 1)
            + fold(policy.reassurances)
            + fold(policy.negations_after)
        )

    # -- spans of text ---------------------------------------------------------

    @staticmethod
    def clause_start(text: str, start: int, breaks: frozenset[str] = CLAUSE_BREAKS) -> int:
        """Where the clause (or, with SENTENCE_BREAKS, the sentence) holding `start` begins."""
        i = start
        while i > 0 and text[i - 1] not in breaks:
            i -= 1
        return i

    @staticmethod
    def clause_end(text: str, end: int, breaks: frozenset[str] = CLAUSE_BREAKS) -> int:
        i = end
        while i < len(text) and text[i] not in breaks:
            i += 1
        return i

    # -- checks ----------------------------------------------------------------

    def negated(self, text: str, start: int, end: int) -> bool:
        """Is the evaluation at ``text[start:end]`` negated (before or right after)?"""
        if text[start:end] in _QUESTION_MARKS:
            return False  # 一点想法都没有吗？ asks; a question is not negated
        if self._negations is not None:
            # A negation reaches over items joined by 、 (不会主动挂断、删除任何客户):
            # each one it passes gives it another scope.
            left = self.clause_start(text, start, _NEGATION_BREAKS)
            reach, pos = start - self.scope, start
            while (joint := text.rfind("、", max(reach, left), pos)) >= 0:
                reach, pos = joint - self.scope, joint
            window = self._unbroken(text[max(left, reach) : start])
            base = start - len(window)
            for match in self._negations.finditer(window):
                at = base + match.start()
                if self._a_not_a(text, at):
                    continue
                if self._rhetorical(text, at, base + match.end(), end):
                    continue
                if _QUANTITY.match(text, base + match.end()):
                    continue
                # One character (不, 没) negates what is close: 不知道您怎么这么笨 is
                # no negation of 笨.
                if match.end() - match.start() > 1 or len(window) - match.end() <= 3:
                    return True
            if self._clause_negations is not None:
                # A modal negation governs its whole clause: 我们不会因为任何原因删除客户.
                wide = self._unbroken(text[left:start])
                base = start - len(wide)
                for match in self._clause_negations.finditer(wide):
                    at = base + match.start()
                    if self._a_not_a(text, at):
                        continue  # 会不会越修越坏啊 asks; its 不会 governs nothing
                    if not self._rhetorical(text, at, base + match.end(), end):
                        return True
        if self._after:
            # Later in the same clause: 拉黑客户是不可能的.
            rest = text[end : self.clause_end(text, end)]
            if any(word in rest for word in self._after):
                return True
        return False

    @staticmethod
    def _a_not_a(text: str, at: int) -> bool:
        """Is the negation at `at` the middle of an A-not-A question (是不是, 会不会, 懂不懂)?"""
        return 0 < at < len(text) - 1 and text[at - 1] == text[at + 1]

    def _unbroken(self, window: str) -> str:
        """The end of `window` after its last consequence (就, 才) or contrast (但),
        which end a negation's reach: 你再不配合我就拉黑你 is a threat.  就 before
        这样 / 这么 says "just so", no consequence: 我不会就这样走掉."""
        if self._breaks is None:
            return window
        ends = [
            match.end()
            for match in self._breaks.finditer(window)
            if not (match[0] == "就" and window.startswith(_MANNER, match.end()))
        ]
        return window[ends[-1] :] if ends else window

    def _rhetorical(self, text: str, at: int, neg_end: int, end: int) -> bool:
        """Is the negation at ``text[at:neg_end]`` (before a hit ending at `end`) a
        rhetorical question rather than a denial: 难道您不知道吗, 您不会连这都不懂吧?"""
        left = self.clause_start(text, at, SENTENCE_BREAKS)
        if self._rhetorical_openers is not None and self._rhetorical_openers.search(text, left, at):
            return True
        if text[at:neg_end] not in self._rhetorical_negations:
            return False
        # The hit itself may close on the end word (连这都不会吧).
        tail = text[neg_end : self.clause_end(text, end)].rstrip(" …~～.")
        return bool(self._rhetorical_ends) and tail.endswith(self._rhetorical_ends)

    def hypothetical(self, text: str, start: int) -> bool:
        """Does the clause holding `start` open with 如果 / 要是 … before it?"""
        if self._hypotheticals is None:
            return False
        left = self.clause_start(text, start)
        return self._hypotheticals.search(text, left, start) is not None

    def reassured(self, text: str, start: int, end: int | None = None) -> bool:
        """Is there a reassurance (请放心 …) in the sentence, before the hit or closing
        it (我不会就这样走掉的，您放心)?"""
        if self._reassurances is None:
            return False
        left = self.clause_start(text, start, SENTENCE_BREAKS)
        if self._reassurances.search(text, left, start) is not None:
            return True
        if end is None:
            return False
        # After the hit (not inside it: 不放心 holds 放心).
        right = self.clause_end(text, end, SENTENCE_BREAKS)
        return self._reassurances.search(text, end, right) is not None

    def benefactive(self, text: str, start: int) -> bool:
        """Is the action at `start` done for the customer, or by them (帮您删除,
        建议您屏蔽)?  Looked for earlier in the same clause."""
        before = text[self.clause_start(text, start) : start]
        return any(word in before for word in self._benefactives)

    def turning_markers(self, text: str) -> frozenset[str]:
        """The multi-character negations and reassurances in `text`."""
        if self._turning is None:
            return frozenset()
        return frozenset(m[0] for m in self._turning.finditer(text))

    @staticmethod
    def asked(text: str, start: int, end: int) -> bool:
        """Is the hit at ``text[start:end]`` asked rather than said (恢复了吗,
        能不能打开, 好了没)?"""
        rest = text[end : Grammar.clause_end(text, end, SENTENCE_BREAKS) + 1]
        if any(mark in rest for mark in ("吗", "?", "？", "了没", "没有?")):
            return True
        before = text[Grammar.clause_start(text, start) : start]
        return _A_NOT_A.search(before) is not None

    def cancels(self, guard: Guard, text: str, start: int, end: int) -> str | None:
        """Why the hit at ``text[start:end]`` does not count, or None when it does."""
        if guard.negation and self.negated(text, start, end):
            return "negation"
        if guard.hypothetical and self.hypothetical(text, start):
            return "hypothetical"
        if guard.reassurance and self.reassured(text, start, end):
            return "reassurance"
        if guard.benefactive and self.benefactive(text, start):
            return "benefactive"
        return None
