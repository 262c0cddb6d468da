"""Hypothesis strategies for requests: bodies (JSON, forms, multipart, raw bytes), query
strings, headers and path parameters, mixed with the values issue 15 found answered 500."""

from __future__ import annotations

import dataclasses
import json
from typing import Any
from urllib.parse import quote_from_bytes

from hypothesis import strategies as st

from bot.lifecycle import ACTIONS

# Values that broke an edge once (issue 15), or sit on a rule's border.
NASTY = (
    "\x00",
    "a\x00b",
    "\ud800",
    "买家\udfff",
    "\x07bell",
    "\x1b[31m",
    "\x7f",
    "²",
    "١٢",
    "１２",
    "9" * 30,
    "-1",
    "0",
    "2147483647",
    "2147483648",
    "9223372036854775808",
    "NaN",
    "Infinity",
    "1e309",
    "1_000",
    " 12 ",
    "0001-01-01",
    "9999-12-31",
    "9999-12",
    "0000-00",
    "2026-13",
    "2026-11-23T09:31:00",
    "2026-11-23T09:31:00+08:00",
    "9999-12-31T23:59:59-05:00",
    "0001-01-01T00:00:00+14:00",
    "",
    " ",
    "true",
    "null",
    "PS-20261123-0001",
    "../../etc/passwd",
    "<script>",
    "长" * 60,
)
texts = st.one_of(st.text(max_size=24), st.sampled_from(NASTY))

_FIELD_NAMES = sorted(
    {
        field.name
        for action in ACTIONS
        for field in dataclasses.fields(action.body)  # type: ignore[arg-type]
    }
    | {
        # web chat, bridge, duty, console forms, sign-in
        "visitor",
        "client_id",
        "text",
        "event_id",
        "platform",
        "shop_id",
        "conversation_id",
        "buyer_uid",
        "sender_role",
        "msg_type",
        "platform_time",
        "buyer_nick",
        "media",
        "order",
        "command_id",
        "status",
        "detail",
        "platform_msg_id",
        "month",
        "staff_no",
        "notes",
        "note",
        "username",
        "password",
        "csrf_token",
        "number",
        "to",
        "call_note",
        "verdict",
        "reason",
        "role",
        "name",
        "disabled",
        "key",
        "confirm",
    }
)
QUERY_NAMES = (
    "after",
    "after_event",
    "since",
    "until",
    "month",
    "status",
    "engineer",
    "visitor",
    "wait",
    "limit",
    "next",
    "notice",
    "day",
    "severity",
    "channel",
    "code",
    "fp",
    "back",
    "detector",
    "result",
    "signature",
    "timestamp",
    "nonce",
    "echostr",
    "msg_signature",
    "encrypt_type",
    "openid",
)
field_names = st.one_of(st.sampled_from(_FIELD_NAMES), texts)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)


def _dump(value: Any) -> bytes:
    # ASCII escapes: a lone surrogate travels as \ud800, as a client library sends it.
    return json.dumps(value).encode("ascii")


@st.composite
def json_bodies(draw: st.DrawFn) -> bytes:
    body = draw(st.dictionaries(field_names, json_values, max_size=6))
    raw = _dump(body)
    mutation = draw(st.sampled_from(("none", "none", "nan", "inf", "deep", "cut", "array")))
    if mutation == "nan" and body:
        key = next(iter(body))
        raw = raw.replace(_dump(body[key]), b"NaN", 1) if body[key] is not None else raw
    elif mutation == "inf":
        raw = _dump({**body, "x": 1}).replace(b'"x": 1', b'"x": 1e309')
    elif mutation == "deep":
        raw = b"[" * draw(st.integers(100, 5000))
    elif mutation == "cut" and len(raw) > 2:
        raw = raw[: draw(st.integers(1, len(raw) - 1))]
    elif mutation == "array":
        raw = _dump([body])
    return raw


_bytes_values = st.one_of(
    texts.map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.binary(max_size=8),
    st.sampled_from((b"\xff\xfe", b"%", b"\xed\xa0\x80")),
)


@st.composite
def form_bodies(draw: st.DrawFn) -> bytes:
    pairs = draw(st.lists(st.tuples(field_names, _bytes_values), max_size=5))
    encoded = [
        quote_from_bytes(name.encode("utf-8", "surrogatepass")) + "=" + quote_from_bytes(value)
        for name, value in pairs
    ]
    if draw(st.booleans()):
        encoded.append("csrf_token=" + draw(st.sampled_from(("", "x", "{csrf}"))))
    return "&".join(encoded).encode("ascii")


BOUNDARY = "fuzzBoundary7MA4YWxkTrZu0gW"


@st.composite
def multipart_bodies(draw: st.DrawFn) -> bytes:
    parts = []
    for name, value in draw(st.lists(st.tuples(field_names, _bytes_values), max_size=4)):
        disposition = f'form-data; name="{name}"'.encode("utf-8", "surrogatepass")
        if draw(st.booleans()):
            disposition += b'; filename="a.txt"'
        parts.append(
            b"--"
            + BOUNDARY.encode()
            + b"\r\nContent-Disposition: "
            + disposition
            + b"\r\n\r\n"
            + value
            + b"\r\n"
        )
    raw = b"".join(parts) + b"--" + BOUNDARY.encode() + b"--\r\n"
    if draw(st.booleans()) and len(raw) > 4:
        raw = raw[: draw(st.integers(1, len(raw) - 1))]  # malformed: cut anywhere
    return raw


CONTENT_TYPES = {
    "json": "application/json",
    "form": "application/x-www-form-urlencoded",
    "multipart": f"multipart/form-data; boundary={BOUNDARY}",
    "xml": "text/xml",
    "none": "",
}


_digits = st.one_of(
    st.integers(min_value=0, max_value=2**70).map(str),
    st.sampled_from(("253402300800", "-1", "²", "", "1764000000", "1764000000")),
)


@st.composite
def xml_bodies(draw: st.DrawFn) -> bytes:
    """A 公众号 / WeCom callback: well-formed or not, with any text in its elements."""
    msg_type = draw(st.sampled_from(("text", "image", "event", "voice", "location", "x")))
    fields = {
        "ToUserName": draw(st.sampled_from(("gh_fuzz", "gh_fuzz", "")) | texts),
        "FromUserName": draw(st.sampled_from(("o-fuzz-openid-0001",) * 3) | texts),
        "CreateTime": draw(_digits),
        "MsgType": msg_type,
        "Content": draw(texts),
        "MsgId": draw(_digits),
        "Event": draw(st.sampled_from(("subscribe", "unsubscribe", "CLICK")) | texts),
        "PicUrl": draw(texts),
    }
    if draw(st.integers(0, 3)):  # mostly complete, so the message itself is read
        chosen = sorted(fields)
    else:
        chosen = draw(st.lists(st.sampled_from(sorted(fields)), unique=True, max_size=8))
    inner = ""
    for name in chosen:
        value = fields[name]
        if draw(st.booleans()):
            value = f"<![CDATA[{value}]]>"
        else:
            value = value.replace("&", "&amp;").replace("<", "&lt;")
        inner += f"<{name}>{value}</{name}>"
    if draw(st.booleans()):
        inner += draw(st.sampled_from(("&#0;", "&#xD800;", "<Content><x/></Content>", "<!DOCTYPE")))
    return f"<xml>{inner}</xml>".encode("utf-8", "surrogatepass")


@st.composite
def bodies(draw: st.DrawFn) -> tuple[str, bytes]:
    """(content type, body)."""
    kind = draw(st.sampled_from(("json", "json", "form", "multipart", "xml", "raw", "empty")))
    if kind == "xml":
        return CONTENT_TYPES["xml"], draw(xml_bodies())
    if kind == "json":
        return CONTENT_TYPES["json"], draw(json_bodies())
    if kind == "form":
        return CONTENT_TYPES["form"], draw(form_bodies())
    if kind == "multipart":
        return CONTENT_TYPES["multipart"], draw(multipart_bodies())
    if kind == "empty":
        return draw(st.sampled_from(list(CONTENT_TYPES.values()))), b""
    content_type = draw(st.sampled_from(list(CONTENT_TYPES.values())))
    return content_type, draw(st.binary(max_size=64))


@st.composite
def query_strings(draw: st.DrawFn) -> str:
    pairs = draw(
        st.lists(st.tuples(st.sampled_from(QUERY_NAMES) | texts, _bytes_values), max_size=4)
    )
    if not pairs:
        return ""
    return "?" + "&".join(
        quote_from_bytes(name.encode("utf-8", "surrogatepass")) + "=" + quote_from_bytes(value)
        for name, value in pairs
    )


def path_values(real: tuple[str, ...]) -> st.SearchStrategy[str]:
    """A path parameter: a real one (so the handler runs past its lookup) or anything."""
    return st.one_of(
        st.sampled_from(real) if real else st.nothing(),
        st.sampled_from(real) if real else st.nothing(),
        texts.filter(lambda t: "/" not in t and t not in ("", ".", "..")),
    )
