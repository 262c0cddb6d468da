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
) -> bool:
    """Is one of `exceptions` in the sentence of ``folded[start:end]``, other than as
    part of an evaluation (不好意思 in 不好意思推荐 is no apology)?  `covered` gives the
    evaluation hits of a text."""
    if not exceptions:
        return False
    left = Grammar.clause_start(folded, start, SENTENCE_BREAKS)
    sentence = folded[left : Grammar.clause_end(folded, end, SENTENCE_BREAKS)]
    present = [word for word in exceptions if word in sentence]
    if not present:
        return False
    spans = [(s, e) for s, e, _w in covered(sentence)]
    # Strictly inside: an evaluation that is the exception word itself stays excepted.
    for word in present:
        at = sentence.find(word)
        while at >= 0:
            if not any(s <= at and at + len(word) <= e and e - s > len(word) for s, e in spans):
                return True
            at = sentence.find(word, at + 1)
    return False
