"""Small readings of an operator's hit beyond the grammar: degree words inside an
evaluation, the object of a 把 construction, exceptions that are part of a hit.

Kept apart from `compliance.detection.detector` so that each stays short; every
word list comes from the policy (``[detection] degree_words``, an operator's
`object_markers`, `exceptions`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from compliance.detection.grammar import CLAUSE_BREAKS, SENTENCE_BREAKS, Grammar

# Single-character adjectives a degree word goes right before (返修率挺高, 毛病很多).
_ADJECTIVES = frozenset("高多差低少大乱烂慢贵弱糟坏次")
# Negations a degree word goes right after (不太稳定, 别太指望).
_NEGATORS = frozenset("不别")
# The customer as owner: 您这台服务器 is theirs, whatever the sentence's candour.
_CUSTOMER = ("您", "你")
# A contrast after a remedy undoes it (说要改进，结果啥也没变).
_CONTRASTS = ("结果", "但是", "可是", "然而", "却", "可惜")


def contains(text: str, word: str) -> bool:
    """Is `word` in `text`, a Latin word only as a whole word (ip is not in vip)?"""
    if not (word.isascii() and word.isalnum()):
        return word in text
    at = text.find(word)
    while at >= 0:
        before = text[at - 1] if at else " "
        after = text[at + len(word)] if at + len(word) < len(text) else " "
        if not (before.isascii() and before.isalnum()) and not (
            after.isascii() and after.isalnum()
        ):
            return True
        at = text.find(word, at + 1)
    return False


def customer_owned(folded: str, start: int, window: int) -> bool:
    """Does 您 / 你 come shortly before the target at `start`, in its clause?"""
    left = max(Grammar.clause_start(folded, start, CLAUSE_BREAKS), start - window)
    return any(pronoun in folded[left:start] for pronoun in _CUSTOMER)


def degree_variants(words: Iterable[str], degree: Sequence[str]) -> list[str]:
    """`words` with a degree word inside where Chinese puts one: after a leading
    不 / 别 (不稳定 → 不太稳定) and before a final one-character adjective (返修率高 →
    返修率挺高); a word that has one there already is left as it is."""
    out: list[str] = []
    for word in words:
        out.append(word)
        if len(word) < 2 or not degree:
            continue
        if word[0] in _NEGATORS and not word[1:].startswith(tuple(degree)):
            out.extend(word[0] + d + word[1:] for d in degree)
        if len(word) >= 3 and word[-1] in _ADJECTIVES and not word[:-1].endswith(tuple(degree)):
            out.extend(word[:-1] + d + word[-1] for d in degree)
            out.append(word + "得很")  # 问题多得很
    return out


def object_elsewhere(
    folded: str,
    start: int,
    markers: Sequence[str],
    targets: Sequence[tuple[int, int, str]],
) -> bool:
    """Is the action at `start` done to something named after a 把 (one of
    `markers`) in its clause, with no target between: 我把重复的工单删掉了?"""
    if not markers:
        return False
    left = Grammar.clause_start(folded, start, CLAUSE_BREAKS)
    clause = folded[left:start]
    at = max(clause.rfind(marker) for marker in markers)
    if at < 0:
        return False
    begin = left + at + 1
    if start - begin < 1:
        return False
    return not any(begin <= t_start and t_end <= start for t_start, t_end, _w in targets)


def excepted(
    folded: str,
    start: int,
    end: int,
    exceptions: Sequence[str],
    covered: Callable[[str], Sequence[tuple[int, int, str]]],
    negated: Callable[[str, int, int], bool] | None = None,
) -> bool:
    """Is one of `exceptions` in the sentence of ``folded[start:end]``, other than as
    part of an evaluation (不好意思 in 不好意思推荐 is no apology) or negated (a remedy
    denied, 换新是不可能的, is none)?  `covered` gives the evaluation hits of a text,
    `negated` the grammar's reading."""
    if not exceptions:
        return False
    left = Grammar.clause_start(folded, start, SENTENCE_BREAKS)
    sentence = folded[left : Grammar.clause_end(folded, end, SENTENCE_BREAKS)]
    present = [word for word in exceptions if contains(sentence, word)]
    if not present:
        return False
    spans = [(s, e) for s, e, _w in covered(sentence)]
    # Strictly inside: an evaluation that is the exception word itself stays excepted.
    for word in present:
        at = sentence.find(word)
        while at >= 0:
            inside = any(s <= at and at + len(word) <= e and e - s > len(word) for s, e in spans)
            undone = any(c in sentence[at + len(word) : start - left] for c in _CONTRASTS)
            if not (
                inside or undone or (negated is not None and negated(sentence, at, at + len(word)))
            ):
                return True
            at = sentence.find(word, at + 1)
    return False
