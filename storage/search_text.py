"""Words for the full-text index: jieba segmentation, query words, keywords, snippets.

Neither SQLite's FTS5 (unicode61) nor PostgreSQL's ``simple`` parser knows
Chinese words: both take a run of CJK characters as one token, so
"服务器无法开机" would be found only by that whole string.  The index therefore
stores each text already cut into words, space-separated (`index_tokens`),
and a query is cut the same way (`query_words`); both databases then only split
on the spaces.

- Indexed text is cut with jieba's search mode (服务器 also gives 服务), so a
  shorter word in a query still finds it; a query is cut in precise mode.
- Every token is lowercased and split on anything that is not a letter or a digit
  (PS-20261204-0001 gives ps, 20261204, 0001): what reaches the database is plain
  word characters, so no query text is ever read as FTS5 or tsquery syntax.
- `keywords` picks the telling words of a customer's first messages (jieba's TF-IDF
  keywords) for the similar-solutions list.
"""

from __future__ import annotations

import logging
import re
import threading
from functools import lru_cache
from typing import Any

__all__ = ["Snippet", "index_tokens", "keywords", "query_words", "snippet"]

_SPLIT = re.compile(r"[\W_]+", re.UNICODE)
_LOCK = threading.Lock()
# Longest text cut for the index: a pasted log beyond this is not searched further.
MAX_INDEXED_CHARS = 20_000
# Words too common in a customer's opening to tell one problem from another (every
# customer of a server vendor has a 服务器).
_OPENING = "你好 您好 请问 谢谢 麻烦 一下 我们 你们 这个 那个 现在 问题 出现 就是 还是 一个 "
_OPENING += "没有 什么 怎么 可以 需要 帮忙 服务 客服 工程师 在吗 老师 服务器 机器 设备"
_OPENING_WORDS = frozenset(_OPENING.split(" "))

# A snippet: (text, highlighted) pieces in order.
Snippet = tuple[tuple[str, bool], ...]


@lru_cache(maxsize=1)
def _jieba() -> Any:
    import jieba

    with _LOCK:
        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()
    return jieba


def _normal(words: Any) -> list[str]:
    out: list[str] = []
    for word in words:
        out.extend(part for part in _SPLIT.split(str(word).lower()) if part)
    return out


def index_tokens(text: str) -> str:
    """`text` as the index stores it: jieba search-mode words, lowercased, space-separated."""
    cut = _jieba().cut_for_search(text[:MAX_INDEXED_CHARS], HMM=False)
    return " ".join(_normal(cut))


def query_words(query: str) -> tuple[str, ...]:
    """The words of a search query (precise mode), each once, in order."""
    words = _normal(_jieba().cut(query, HMM=False))
    return tuple(dict.fromkeys(words))


@lru_cache(maxsize=1)
def _analyse() -> Any:
    _jieba()
    import jieba.analyse

    return jieba.analyse


def keywords(text: str, limit: int = 8) -> tuple[str, ...]:
    """The words that tell what `text` is about (TF-IDF over jieba's dictionary)."""
    tags = _analyse().extract_tags(text[:MAX_INDEXED_CHARS], topK=limit * 2)
    words = [w for w in _normal(tags) if w not in _OPENING_WORDS and len(w) > 1]
    return tuple(dict.fromkeys(words))[:limit]


def snippet(body: str, words: tuple[str, ...], width: int = 90) -> Snippet:
    """A window of `body` around the first query word, every query word in it marked."""
    lower = body.lower()
    spans: list[tuple[int, int]] = []
    for word in words:
        start = lower.find(word)
        while start != -1:
            spans.append((start, start + len(word)))
            start = lower.find(word, start + len(word))
    spans.sort()
    first = spans[0][0] if spans else 0
    begin = max(0, first - width // 3)
    end = min(len(body), begin + width)
    pieces: list[tuple[str, bool]] = [("…", False)] if begin > 0 else []
    cursor = begin
    for start, stop in spans:
        if stop <= cursor or start >= end:
            continue
        start = max(start, cursor)
        if start > cursor:
            pieces.append((body[cursor:start], False))
        pieces.append((body[start:stop], True))
        cursor = stop
    if cursor < end:
        pieces.append((body[cursor:end], False))
    if end < len(body):
        pieces.append(("…", False))
    return tuple(pieces)
