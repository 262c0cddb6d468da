"""Words (jieba) and similarity to exemplar sentences (TF-IDF cosine over words).

`words` cuts a folded text into jieba words with their spans (jieba's own
dictionary, loaded once per process on first use, about 0.8 s).  `ExemplarIndex`
scores a text against a rule's exemplars: each text becomes a vector of its
content words weighted by inverse frequency, the frequency being jieba's
dictionary counts (a general Chinese corpus), so that 理解能力 or 摆设 weigh far
more than 的 or 一下; the characters of a word also count a little, so that a
rewording (搞不明白 / 弄不明白) still shares most of its weight.  Scores are cosines
in 0–1.
"""

from __future__ import annotations

import gc
import logging
import math
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from compliance.normalize import is_cjk

_LOCK = threading.Lock()
_SENTENCE_ENDS = frozenset("。！？!?；;\n，,")
# The weight of a word's characters next to the word itself.
_CHAR_SHARE = 0.35
# Particles and function words that carry no meaning for similarity.
_STOPWORDS = (
    "的 了 吗 呢 吧 啊 呀 哦 嘛 么 着 过 和 与 及 或 就 都 也 还 又 再 在 是 有 这 那 个 一 "
    "一下 一个 这个 那个 这样 那样 我 你 您 他 她 它 我们 你们 您们 他们 咱们 自己 请 把 "
    "被 给 让 对 为 从 到 向 说 要 会 能 可以 已经 现在 然后 因为 所以 但是 如果 哈 嗯 呵 "
    "啦 哈哈"
)
_STOP = frozenset(_STOPWORDS.split())


@lru_cache(maxsize=1)
def _tokenizer() -> object:
    import jieba

    with _LOCK:
        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()
        # jieba's dictionary is half a million objects that live as long as the
        # process: keep the collector from walking them on every full collection
        # (tens of milliseconds each, which a pre-send check would pay at random).
        gc.freeze()
    return jieba


@lru_cache(maxsize=8192)
def _tokens(folded: str) -> tuple[tuple[str, int, int], ...]:
    jieba = _tokenizer()
    return tuple(jieba.tokenize(folded, HMM=False))  # type: ignore[attr-defined]


@lru_cache(maxsize=8192)
def words(folded: str) -> tuple[tuple[str, int, int], ...]:
    """jieba's words of `folded` as (word, start, end), blanks and punctuation left out."""
    return tuple(
        (word, start, end)
        for word, start, end in _tokens(folded)
        if word.strip() and any(c.isalnum() for c in word)
    )


@lru_cache(maxsize=8192)
def _edges(piece: str) -> frozenset[int]:
    edges: set[int] = set()
    for _word, start, end in _tokens(piece):
        edges.add(start)
        edges.add(end)
    return frozenset(edges)


def boundaries(folded: str, start: int = 0, end: int | None = None) -> frozenset[int]:
    """Positions of `folded` where a jieba word starts or ends; with `start`/`end`,
    only within the sentence holding ``folded[start:end]`` (a long chat line is cut
    once, where it matters, not whole)."""
    if end is None:
        return _edges(folded)
    left = start
    while left > 0 and folded[left - 1] not in _SENTENCE_ENDS:
        left -= 1
    right = end
    while right < len(folded) and folded[right] not in _SENTENCE_ENDS:
        right += 1
    return frozenset(left + edge for edge in _edges(folded[left:right]))


@lru_cache(maxsize=1)
def _frequencies() -> tuple[dict[str, int], int]:
    jieba = _tokenizer()
    dt = jieba.dt  # type: ignore[attr-defined]
    return dt.FREQ, dt.total


def frequency(word: str) -> int:
    """How often `word` occurs in jieba's dictionary corpus (0 when it is not there)."""
    freq, _total = _frequencies()
    return int(freq.get(word, 0))


@lru_cache(maxsize=65536)
def _idf(word: str) -> float:
    freq, total = _frequencies()
    return math.log(total / (freq.get(word, 0) + 1))


@lru_cache(maxsize=8192)
def vector(folded: str) -> dict[str, float]:
    """The weighted content words of a folded text (not normalised; shared from a
    cache, so never change it)."""
    out: dict[str, float] = {}
    for word, _start, _end in words(folded):
        if word in _STOP:
            continue
        weight = _idf(word)
        out[word] = out.get(word, 0.0) + weight
        if len(word) > 1:
            for char in word:
                if is_cjk(char) and char not in _STOP:
                    key = "#" + char
                    out[key] = out.get(key, 0.0) + _CHAR_SHARE * _idf(char)
    return out


def salient_words(folded: str, count: int = 2) -> list[str]:
    """The `count` rarest content words of a text (two characters or more): what a
    text like it will most likely share, so the prefilter of an exemplar QA added."""
    found = [w for w, _s, _e in words(folded) if len(w) > 1 and w not in _STOP]
    return sorted(dict.fromkeys(found), key=frequency)[:count]


def _norm(vec: dict[str, float]) -> float:
    return math.sqrt(sum(v * v for v in vec.values()))


@dataclass(frozen=True, slots=True)
class Match:
    """The best exemplar for a text and how alike they are (0–1)."""

    exemplar: str
    score: float


class ExemplarIndex:
    """Exemplar sentences in an inverted index; `best` is the most alike of them."""

    def __init__(self, exemplars: Iterable[str], fold: Callable[[str], str]) -> None:
        self.exemplars: tuple[str, ...] = tuple(dict.fromkeys(e for e in exemplars if e.strip()))
        self._postings: dict[str, list[tuple[int, float]]] = {}
        for number, exemplar in enumerate(self.exemplars):
            vec = vector(fold(exemplar))
            norm = _norm(vec) or 1.0
            for key, weight in vec.items():
                self._postings.setdefault(key, []).append((number, weight / norm))

    def __bool__(self) -> bool:
        return bool(self.exemplars)

    def best(self, folded: str, vec: dict[str, float] | None = None) -> Match | None:
        """The exemplar most like `folded` (already folded), or None without any."""
        if not self.exemplars:
            return None
        if vec is None:
            vec = vector(folded)
        norm = _norm(vec)
        if not norm:
            return None
        scores: dict[int, float] = {}
        for key, weight in vec.items():
            for number, exemplar_weight in self._postings.get(key, ()):
                scores[number] = scores.get(number, 0.0) + weight * exemplar_weight
        if not scores:
            return None
        number = max(scores, key=scores.__getitem__)
        return Match(self.exemplars[number], min(1.0, scores[number] / norm))


def similarity(a: str, b: str) -> float:
    """Cosine of two folded texts (for tests and the console)."""
    va, vb = vector(a), vector(b)
    na, nb = _norm(va), _norm(vb)
    if not na or not nb:
        return 0.0
    return sum(w * vb.get(k, 0.0) for k, w in va.items()) / (na * nb)


def warm(texts: Sequence[str] = ("您好",)) -> None:
    """Load jieba's dictionary now (a server does this before its first request)."""
    for text in texts:
        words(text)
