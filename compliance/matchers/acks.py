"""`AckMatcher`: whether a customer message is only an acknowledgement (好的, 收到,
an emoji ...), which needs no reply (SLA002)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from compliance.matchers._common import _symbols_pattern
from compliance.normalize import TextFolder

# WeChat emoji codes ([握手], [OK]); JD's placeholders ([订单x]) are not emoji.
_EMOJI_CODE = re.compile(r"\[(?:[\u4e00-\u9fff]{1,6}|ok)\]")
# Sentence particles that colour an acknowledgement without adding content (好的呢).
_ACK_PARTICLES = "呢啊哈呀啦哒嘞噢哦吖嗷"


def _cjk_excluding(chars: set[str]) -> str:
    """Every CJK ideograph except `chars`, as regex class ranges."""
    ranges: list[str] = []
    start: int | None = None
    for code in range(0x4E00, 0xA000):
        inside = chr(code) not in chars
        if inside and start is None:
            start = code
        elif not inside and start is not None:
            ranges.append(f"{chr(start)}-{chr(code - 1)}")
            start = None
    if start is not None:
        ranges.append(f"{chr(start)}-{chr(0x9FFF)}")
    return "".join(ranges)


class AckMatcher:
    """Whether a customer message is only an acknowledgement or thanks (SLA002)."""

    def __init__(self, phrases: Iterable[str], folder: TextFolder) -> None:
        self.folder = folder
        self._drop = _symbols_pattern(_ACK_PARTICLES)
        acks: set[str] = set()
        for phrase in phrases:
            core = self._core(folder.fold(phrase))
            if core:
                acks.add(core)
        self._acks = frozenset(acks)
        self._longest = max((len(a) for a in acks), default=0)
        # A CJK character that no acknowledgement uses means there is more to the
        # message: one search rules out most messages without building their core.
        alphabet = set("".join(acks)) | set(_ACK_PARTICLES)
        self._other_word = re.compile(f"[{_cjk_excluding(alphabet)}]")

    def _core(self, folded: str) -> str:
        return self._drop.sub("", _EMOJI_CODE.sub("", folded))

    def is_ack_only(self, text: str | None, folded: str | None = None) -> bool:
        """True when `text` says nothing but 好的 / 收到 / 谢谢 / an emoji and the like.

        `folded` may pass ``folder.fold(text)`` when the caller has it already.
        """
        if not text or text.isspace():
            return False
        if folded is None:
            folded = self.folder.fold(text)
        if "?" in folded or "？" in folded:
            return False
        if self._other_word.search(_EMOJI_CODE.sub("", folded) if "[" in folded else folded):
            return False
        core = self._core(folded)
        if not core:
            return True  # emoji, punctuation and particles only (👍, 哈哈)
        if core in self._acks:
            return True
        return self._segments(core)

    def _segments(self, core: str) -> bool:
        # Can `core` be cut entirely into acknowledgement phrases (好的谢谢, 嗯嗯好)?
        if len(core) > 4 * self._longest:
            return False  # longer than any run of acknowledgements anyone types
        reachable = [False] * (len(core) + 1)
        reachable[0] = True
        for i in range(len(core)):
            if not reachable[i]:
                continue
            for length in range(1, min(self._longest, len(core) - i) + 1):
                if core[i : i + length] in self._acks:
                    reachable[i + length] = True
        return reachable[len(core)]
