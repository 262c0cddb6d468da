"""Emoji in script lines, per channel.

The seed writes emoji as descriptions in brackets: ``[握手表情]`` means "a handshake
emoji". A template asks for one by its seed name, ``{{ emoji("握手") }}``, and the channel
decides how it is written:

=========  ==============  ==========================================  =======
seed name  seed text       chat channels (wechat, wecom, qianniu, jd,  ``web``
                           phone transcripts): WeChat text code
=========  ==============  ==========================================  =======
握手       ``[握手表情]``  ``[握手]``                                  🤝
鲜花       ``[鲜花表情]``  ``[玫瑰]`` (WeChat has no 鲜花 code)        🌹
微笑       ``[微笑表情]``  ``[微笑]``                                  🙂
抱拳       ``[抱拳表情]``  ``[抱拳]``                                  🙏
=========  ==============  ==========================================  =======

WeChat's clients turn the bracket codes into pictures; 企业微信, 千牛 and 京麦 show them as
text that customers of those channels read as emoji too, and a phone transcript keeps
them as written. The web chat page has no such codes, so it gets Unicode.

The compliance checker tolerates every form of an emoji; :data:`EMOJI` lists them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "CHANNELS",
    "EMOJI",
    "UNICODE_EMOJI_CHANNELS",
    "Emoji",
    "emoji_text",
    "require_channel",
]

#: Every channel a script line can be rendered for (SPEC §4 transcript channels).
CHANNELS: frozenset[str] = frozenset({"wechat", "wecom", "qianniu", "jd", "phone", "web"})

#: Channels that show Unicode emoji instead of bracket codes.
UNICODE_EMOJI_CHANNELS: frozenset[str] = frozenset({"web"})


@dataclass(frozen=True)
class Emoji:
    """One emoji of the script lines, in each of the forms it is written."""

    name: str
    """The seed's name for it, as templates ask for it (``握手``)."""
    seed_text: str
    """How the seed writes it (``[握手表情]``)."""
    code: str
    """The WeChat text code the chat channels send (``[握手]``)."""
    unicode: str
    """The Unicode character the web chat page shows (``🤝``)."""

    @property
    def forms(self) -> tuple[str, str, str]:
        """Every written form, for matchers that must ignore the emoji."""
        return (self.seed_text, self.code, self.unicode)


#: The emoji the script lines use, by seed name.
EMOJI: Mapping[str, Emoji] = MappingProxyType(
    {
        "握手": Emoji("握手", "[握手表情]", "[握手]", "\N{HANDSHAKE}"),
        "鲜花": Emoji("鲜花", "[鲜花表情]", "[玫瑰]", "\N{ROSE}"),
        "微笑": Emoji("微笑", "[微笑表情]", "[微笑]", "\N{SLIGHTLY SMILING FACE}"),
        "抱拳": Emoji("抱拳", "[抱拳表情]", "[抱拳]", "\N{PERSON WITH FOLDED HANDS}"),
    }
)


def require_channel(channel: str) -> str:
    """Return ``channel`` if it is one of :data:`CHANNELS`, else raise ``ValueError``."""
    if channel not in CHANNELS:
        known = ", ".join(sorted(CHANNELS))
        raise ValueError(f"unknown channel {channel!r}; expected one of: {known}")
    return str(channel)


def emoji_text(name: str, channel: str) -> str:
    """How the emoji called ``name`` in the seed is written on ``channel``."""
    require_channel(channel)
    try:
        emoji = EMOJI[name]
    except KeyError:
        known = ", ".join(EMOJI)
        raise ValueError(f"unknown emoji {name!r}; expected one of: {known}") from None
    return emoji.unicode if channel in UNICODE_EMOJI_CHANNELS else emoji.code
