"""WeChat's XML: inbound bodies into `InboundMessage`, passive replies out.

WeChat is lax with XML in two ways this module repairs at the edge:

- it passes control characters a customer typed (U+0000–U+001F except tab,
  newline and carriage return) through unescaped, which no XML 1.0 parser
  accepts; they are removed before parsing;
- a reply text containing ``]]>`` would end the CDATA section wechatpy writes
  it into; the sequence is split across two sections (``]]]]><![CDATA[>``).

Entity declarations are refused twice: any body that contains ``<!DOCTYPE``
or ``<!ENTITY`` is rejected before parsing, and xmltodict (under wechatpy's
`parse_message`) is itself called with entities disabled.  WeChat never sends
a DTD, so nothing legitimate is lost.

Every problem a sender can cause raises `XmlRejected` with an HTTP status and
a reason; nothing here raises anything else on bad input.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.parsers.expat import ExpatError

import xmltodict
from wechatpy import parse_message
from wechatpy.messages import (
    BaseMessage,
    ImageMessage,
    LinkMessage,
    LocationMessage,
    MiniProgramPageMessage,
    ShortVideoMessage,
    TextMessage,
    VideoMessage,
    VoiceMessage,
)
from wechatpy.replies import create_reply

from bot.messages import InboundKind, InboundMessage
from bot.validation import text_problem

CHANNEL = "wechat"

# Characters XML 1.0 forbids that WeChat forwards raw: C0 controls other than
# \t \n \r, and the two non-characters U+FFFE / U+FFFF.
_CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_DTD_MARKERS = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_DIGITS = re.compile(r"[0-9]{1,20}")
# Official Account openids are 28 characters; allow room for other id shapes.
MAX_OPENID_LENGTH = 128

# MsgType values an Official Account customer can produce.  Anything else
# (WeChat hardware `device_*`, types added after this was written) is stored
# as kind "unknown" with a readable placeholder: refusing it would make WeChat
# retry and then tell the customer the account is unavailable.
MESSAGE_KINDS: Mapping[str, InboundKind] = {
    "text": "text",
    "image": "image",
    "voice": "voice",
    "video": "video",
    "shortvideo": "video",
    "location": "location",
    "link": "link",
    "miniprogrampage": "link",
}


class XmlRejected(Exception):
    """A body that cannot be accepted: HTTP status, stable code and reason."""

    def __init__(self, status: int, code: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.code = code
        self.reason = reason


def strip_control_chars(text: str) -> str:
    """`text` without the characters XML 1.0 cannot carry."""
    return _CONTROL_CHARS.sub("", text)


def cdata_safe(text: str) -> str:
    """`text` ready to sit inside one CDATA section: no ``]]>``, no control characters."""
    return strip_control_chars(text).replace("]]>", "]]]]><![CDATA[>")


def decode_body(raw: bytes) -> str:
    """The request body as text (WeChat sends UTF-8), or `XmlRejected`."""
    if not raw.strip():
        raise XmlRejected(400, "empty_body", "request body is empty; expected WeChat XML")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise XmlRejected(
            400, "bad_encoding", f"request body is not UTF-8 (byte {exc.start})"
        ) from None


@dataclass(frozen=True, slots=True)
class WeChatXml:
    """A parsed body: the children of ``<xml>`` and the repaired text they came from."""

    fields: dict[str, Any]
    text: str


def parse_xml(text: str) -> WeChatXml:
    """The ``<xml>`` root's children, after the repairs above.

    Raises `XmlRejected` for a DTD or entity, malformed XML, another root, or
    a root without children.
    """
    if _DTD_MARKERS.search(text):
        raise XmlRejected(400, "dtd_refused", "XML with a DOCTYPE or ENTITY declaration is refused")
    clean = strip_control_chars(text)
    try:
        document = xmltodict.parse(clean, disable_entities=True)
    except ExpatError as exc:
        raise XmlRejected(400, "malformed_xml", f"malformed XML: {exc}") from None
    except ValueError as exc:  # xmltodict's own refusal of entity declarations
        raise XmlRejected(400, "dtd_refused", f"XML refused: {exc}") from None
    if not isinstance(document, dict) or set(document) != {"xml"}:
        roots = ", ".join(sorted(document)) if isinstance(document, dict) else "none"
        raise XmlRejected(400, "wrong_root", f"expected one <xml> root element, got: {roots}")
    body = document["xml"]
    if not isinstance(body, dict):
        raise XmlRejected(400, "empty_xml", "the <xml> element has no child elements")
    return WeChatXml(fields=body, text=clean)


def _text(fields: Mapping[str, Any], name: str, *, required: bool = False) -> str:
    """A leaf element's text ('' when absent or empty); a nested element is refused."""
    value = fields.get(name)
    if value is None:
        if required:
            raise XmlRejected(400, "missing_field", f"<{name}> is required")
        return ""
    if not isinstance(value, str):
        raise XmlRejected(400, "bad_field", f"<{name}> must be a single text element")
    if required and not value.strip():
        raise XmlRejected(400, "missing_field", f"<{name}> must not be empty")
    reason = text_problem(value)
    if reason is not None:
        raise XmlRejected(400, "bad_field", f"<{name}> {reason}")
    return value.strip()


def _digits(fields: Mapping[str, Any], name: str, *, required: bool) -> str:
    value = _text(fields, name, required=required)
    if value and not _DIGITS.fullmatch(value):
        raise XmlRejected(400, "bad_field", f"<{name}> must be a number, got {value[:40]!r}")
    return value


def encrypted_payload(document: WeChatXml) -> str:
    """The ``<Encrypt>`` text of a safe- or compatible-mode body."""
    return _text(document.fields, "Encrypt", required=True)


def to_inbound(document: WeChatXml, *, received_at: datetime) -> InboundMessage:
    """The channel-blind message for one parsed WeChat body.

    `sent_at` is `received_at` (the bot's clock), not CreateTime: WeChat's
    clock is not the one SLA timers run on, and a redelivery must not move
    the message; CreateTime stays in `raw` and in the event de-duplication key.
    """
    fields = document.fields
    msg_type = _text(fields, "MsgType", required=True).lower()
    openid = _text(fields, "FromUserName", required=True)
    if len(openid) > MAX_OPENID_LENGTH:
        raise XmlRejected(400, "bad_field", f"<FromUserName> is longer than {MAX_OPENID_LENGTH}")
    _text(fields, "ToUserName", required=True)
    create_time = _digits(fields, "CreateTime", required=True)
    raw = {key: value for key, value in fields.items() if isinstance(value, str)}

    if msg_type == "event":
        event = _text(fields, "Event", required=True)
        return InboundMessage(
            channel=CHANNEL,
            customer_id=openid,
            # Events carry no MsgId; WeChat documents FromUserName + CreateTime
            # as their de-duplication key.
            external_id=f"{openid}:{create_time}",
            sent_at=received_at,
            kind="event",
            event=event.lower(),
            raw=raw,
        )

    msg_id = _digits(fields, "MsgId", required=False)
    kind = MESSAGE_KINDS.get(msg_type)
    if kind is None:
        return InboundMessage(
            channel=CHANNEL,
            customer_id=openid,
            external_id=msg_id or f"{openid}:{create_time}",
            sent_at=received_at,
            kind="unknown",
            text=f"[未知消息类型：{msg_type[:40]}]",
            raw=raw,
        )
    nested = sorted(key for key, value in fields.items() if not isinstance(value, str | None))
    if nested:
        raise XmlRejected(400, "bad_field", f"<{nested[0]}> must be a single text element")
    # The body is flat and validated, so wechatpy's typed accessors are safe.
    text, media_url = _describe(parse_message(document.text))
    return InboundMessage(
        channel=CHANNEL,
        customer_id=openid,
        external_id=msg_id or f"{openid}:{create_time}",
        sent_at=received_at,
        kind=kind,
        text=text,
        media_url=media_url,
        raw=raw,
    )


def _describe(message: BaseMessage) -> tuple[str, str | None]:
    """The text the core and the engineer read for a message, and its media URL."""
    if isinstance(message, TextMessage):
        return str(message.content or "").strip(), None
    if isinstance(message, VoiceMessage):
        # With speech recognition switched on WeChat sends the transcript:
        # that is what the customer said, so it is the message's text.
        recognition = str(message.recognition or "").strip()
        return (recognition or "[语音]"), None
    if isinstance(message, ImageMessage):
        return "[图片]", (str(message.image) if message.image else None)
    if isinstance(message, VideoMessage | ShortVideoMessage):
        return "[视频]", None
    if isinstance(message, LocationMessage):
        label = str(message.label or "").strip()
        where = f"({message.location_x}, {message.location_y})"
        return (f"[位置] {label} {where}" if label else f"[位置] {where}"), None
    if isinstance(message, LinkMessage):
        url = str(message.url or "")
        return f"[链接] {message.title or ''} {url}".strip(), (url or None)
    if isinstance(message, MiniProgramPageMessage):
        return f"[小程序] {message.title or ''} {message.page_path or ''}".strip(), None
    raise XmlRejected(  # pragma: no cover - MESSAGE_KINDS lists only the types above
        400, "unknown_message_type", f"unknown MsgType {message.type!r}"
    )


def render_text_reply(*, to_user: str, from_user: str, text: str, create_time: int) -> str:
    """A passive text reply (plaintext XML) from the account to the customer."""
    reply = create_reply(cdata_safe(text))
    reply.source = cdata_safe(from_user)
    reply.target = cdata_safe(to_user)
    reply.time = create_time
    return str(reply.render())
