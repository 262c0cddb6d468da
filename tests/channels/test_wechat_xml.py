"""WeChat XML at the edge: every real sample parses or is refused cleanly; repairs hold."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.parsers.expat import ExpatError

import pytest
import xmltodict

from bot.channels.wechat_xml import (
    XmlRejected,
    cdata_safe,
    decode_body,
    parse_xml,
    render_text_reply,
    strip_control_chars,
    to_inbound,
)

REPO = Path(__file__).resolve().parents[2]
REALDATA = Path(os.environ.get("AFTERSALES_REALDATA") or REPO / "../shared/realdata").resolve()
SAMPLES = REALDATA / "wechat" / "xml_samples"
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def _samples() -> list[Any]:
    index = SAMPLES / "INDEX.json"
    if not index.is_file():
        reason = f"WeChat XML samples absent: {index} (set AFTERSALES_REALDATA)"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="absent")]
    entries = json.loads(index.read_text(encoding="utf-8"))
    return [pytest.param(entry, id=entry["file"]) for entry in entries]


def _parse(body: str | bytes) -> Any:
    raw = body.encode("utf-8") if isinstance(body, str) else body
    return to_inbound(parse_xml(decode_body(raw)), received_at=NOW)


@pytest.mark.realdata
@pytest.mark.parametrize("entry", _samples())
def test_every_real_sample_parses_or_is_refused_with_a_4xx(entry: dict[str, str]) -> None:
    body = (SAMPLES / entry["file"]).read_bytes()
    msg_type = entry["MsgType"].lower()
    try:
        message = _parse(body)
    except XmlRejected as exc:
        assert 400 <= exc.status < 500
        # Only bodies that are not Official Account customer messages are refused:
        # crypto envelopes and pay notices (no MsgType, no sender).
        assert msg_type not in ("text", "image", "voice", "video", "location", "link", "event")
        assert exc.code == "missing_field"
        return
    assert message.channel == "wechat"
    assert message.customer_id
    assert message.sent_at == NOW
    if msg_type == "event":
        assert message.kind == "event"
        assert message.event == entry["Event"].lower()
        assert message.external_id == f"{message.customer_id}:{message.raw['CreateTime']}"
    else:
        assert message.kind in ("text", "image", "voice", "video", "location", "link", "unknown")
        assert message.text, "every stored message has a readable text"
        if "MsgId" in message.raw:
            assert message.external_id == message.raw["MsgId"]


def _message(msg_type: str, **fields: str) -> str:
    body = {
        "ToUserName": "gh_1",
        "FromUserName": "oCustomer1",
        "CreateTime": "1700000000",
        "MsgType": msg_type,
        "MsgId": "1234567890123456",
        **fields,
    }
    return str(xmltodict.unparse({"xml": body}))


def test_text_message() -> None:
    message = _parse(_message("text", Content="服务器开不了机了"))
    assert (message.kind, message.text, message.external_id) == (
        "text",
        "服务器开不了机了",
        "1234567890123456",
    )


def test_voice_with_recognition_is_used_as_text() -> None:
    message = _parse(_message("voice", MediaId="m1", Format="amr", Recognition="硬盘报警了"))
    assert (message.kind, message.text) == ("voice", "硬盘报警了")
    plain = _parse(_message("voice", MediaId="m1", Format="amr"))
    assert plain.text == "[语音]"


def test_non_text_messages_get_a_readable_placeholder() -> None:
    image = _parse(_message("image", PicUrl="http://img/1.jpg", MediaId="m"))
    assert (image.kind, image.text, image.media_url) == ("image", "[图片]", "http://img/1.jpg")
    location = _parse(
        _message("location", Location_X="23.1", Location_Y="113.3", Scale="20", Label="广州")
    )
    assert (location.kind, location.text) == ("location", "[位置] 广州 (23.1, 113.3)")
    link = _parse(_message("link", Title="日志", Description="d", Url="http://x/log"))
    assert (link.kind, link.text, link.media_url) == (
        "link",
        "[链接] 日志 http://x/log",
        "http://x/log",
    )
    video = _parse(_message("shortvideo", MediaId="m", ThumbMediaId="t"))
    assert (video.kind, video.text) == ("video", "[视频]")


def test_event_is_keyed_by_sender_and_create_time() -> None:
    body = xmltodict.unparse(
        {
            "xml": {
                "ToUserName": "gh_1",
                "FromUserName": "oCustomer1",
                "CreateTime": "1700000009",
                "MsgType": "event",
                "Event": "unsubscribe",
            }
        }
    )
    message = _parse(body)
    assert (message.kind, message.event, message.external_id) == (
        "event",
        "unsubscribe",
        "oCustomer1:1700000009",
    )


def test_control_characters_are_stripped_before_parsing() -> None:
    raw = "<xml><ToUserName>gh_1</ToUserName><FromUserName>o1</FromUserName>"
    raw += "<CreateTime>1</CreateTime><MsgType>text</MsgType>"
    raw += "<Content><![CDATA[开\x00不\x08了\x1b机\x0b\tok\r\n]]></Content><MsgId>5</MsgId></xml>"
    with pytest.raises(ExpatError, match=r"not well-formed|invalid token"):
        xmltodict.parse(raw)  # what WeChat's raw body does to a plain parser
    assert _parse(raw).text == "开不了机\tok"
    assert strip_control_chars("a\x01b\ufffec\ttab") == "abc\ttab"


def test_cdata_terminator_in_a_reply_is_split() -> None:
    xml = render_text_reply(to_user="o1", from_user="gh_1", text="a]]>b<c>&d\x07", create_time=7)
    fields = xmltodict.parse(xml)["xml"]
    assert fields["Content"] == "a]]>b<c>&d"
    assert (fields["ToUserName"], fields["FromUserName"], fields["CreateTime"]) == (
        "o1",
        "gh_1",
        "7",
    )
    assert cdata_safe("x]]>y]]>") == "x]]]]><![CDATA[>y]]]]><![CDATA[>"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"", "empty_body"),
        (b"   ", "empty_body"),
        (b"\xff\xfe<xml/>", "bad_encoding"),
        (b"<xml><MsgType>text</MsgType>", "malformed_xml"),
        (b"not xml at all", "malformed_xml"),
        (b"<root><MsgType>text</MsgType></root>", "wrong_root"),
        (b"<xml></xml>", "empty_xml"),
        (b"<xml>just text</xml>", "empty_xml"),
        (
            b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><xml><Content>&b;</Content></xml>',
            "dtd_refused",
        ),
        (b'<!DOCTYPE xml SYSTEM "http://evil/x.dtd"><xml><a>1</a></xml>', "dtd_refused"),
        (b"<xml><a>1</a></xml><!  entity x>", "dtd_refused"),
    ],
)
def test_bad_bodies_are_refused_with_a_reason(body: bytes, code: str) -> None:
    with pytest.raises(XmlRejected) as caught:
        parse_xml(decode_body(body))
    assert caught.value.status == 400
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("fields", "code", "reason"),
    [
        ({"MsgType": ""}, "missing_field", "MsgType"),
        ({"FromUserName": ""}, "missing_field", "FromUserName"),
        ({"FromUserName": "o" * 200}, "bad_field", "FromUserName"),
        ({"CreateTime": "yesterday"}, "bad_field", "CreateTime"),
        ({"MsgId": "12ab"}, "bad_field", "MsgId"),
    ],
)
def test_bad_fields_are_named(fields: dict[str, str], code: str, reason: str) -> None:
    base = {"ToUserName": "gh", "FromUserName": "o1", "CreateTime": "1", "MsgType": "text"}
    body = xmltodict.unparse({"xml": {**base, "Content": "hi", "MsgId": "1", **fields}})
    with pytest.raises(XmlRejected, match=reason) as caught:
        _parse(body)
    assert caught.value.code == code


@pytest.mark.parametrize("msg_type", ["notsure", "device_text", "channels_live"])
def test_an_unknown_message_type_is_kept_as_such_never_refused(msg_type: str) -> None:
    body = "<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName>"
    body += f"<CreateTime>1</CreateTime><MsgType>{msg_type}</MsgType>"
    body += "<Payload><Item>x</Item></Payload><MsgId>77</MsgId></xml>"
    message = _parse(body)
    assert (message.kind, message.external_id) == ("unknown", "77")
    assert message.text == f"[未知消息类型：{msg_type}]"
    assert message.raw["MsgType"] == msg_type


def test_nested_element_in_a_message_is_refused() -> None:
    body = "<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName>"
    body += "<CreateTime>1</CreateTime><MsgType>text</MsgType>"
    body += "<Content><b>bold</b></Content><MsgId>1</MsgId></xml>"
    with pytest.raises(XmlRejected, match="Content") as caught:
        _parse(body)
    assert caught.value.code == "bad_field"
