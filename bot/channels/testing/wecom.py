"""A recording fake of WeCom's kf API and of WeCom calling the `/wecom/kf` callback.

`FakeKfApi` serves `cgi-bin/gettoken`, `kf/sync_msg` (cursor paging with a
small page size so `has_more` is exercised, callback tokens that can expire,
an optional delay and an in-flight counter per account that shows whether two
workers ever read the same account at once), `kf/send_msg` (refused outside
session states 0 and 1 and over 2,048 bytes, as WeCom does; a msgid it has
already taken is refused as a repeat; a send can be taken and answered late),
`kf/send_msg_on_event` (a welcome_code is good once, for 20 s),
`kf/service_state/get|trans`, `media/get` and `media/upload` (temporary media:
the multipart field ``media``, ``type`` image or file; an image or file sent
with `send_msg` must name a media_id it issued).
`KfCallbacks` builds the signed, encrypted callback requests.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import xmltodict
from aiohttp import web
from wechatpy.crypto import WeChatCrypto

from bot.channels.wechat_crypto import compute_signature

CORP_ID = "ww0000000000000001"
KF_TOKEN = "kfCallbackToken2026"
KF_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
OPEN_KFID = "wkAftersales0001"

# Allowed session-state changes (the kf docs' table).
TRANSITIONS = {0: {1, 2, 3, 4}, 1: {2, 3}, 2: {3}, 3: {2, 3, 4}, 4: set()}


@dataclass(frozen=True, slots=True)
class Call:
    path: str
    params: Mapping[str, str]
    body: Mapping[str, Any]
    answer: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Upload:
    kind: str  # the ``type`` parameter: image or file
    data: bytes
    filename: str
    content_type: str


@dataclass
class FakeKfApi:
    page_size: int = 2
    sync_delay_s: float = 0.0
    # sync_msg without a token is refused (WeCom's strict rate limit) while set.
    refuse_tokenless: bool = False
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    callback_tokens: set[str] = field(default_factory=set)
    states: dict[tuple[str, str], int] = field(default_factory=dict)
    send_errcodes: list[int] = field(default_factory=list)
    # Seconds the next sends are answered late, after being taken.
    slow_sends: list[float] = field(default_factory=list)
    # msgid → the text the customer got (each at most once).
    delivered: dict[str, str] = field(default_factory=dict)
    # welcome_code → the welcome text sent with it (a code is good once).
    welcomed: dict[str, str] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    in_flight: dict[str, int] = field(default_factory=dict)
    max_in_flight: dict[str, int] = field(default_factory=dict)
    _tokens_issued: int = 0
    _access_tokens: set[str] = field(default_factory=set)
    _msg_seq: int = 0
    # ``cgi-bin/media/get``: media_id -> (bytes, content type).
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    # ``cgi-bin/media/upload``: media_id -> what was uploaded; scripted refusals.
    uploads: dict[str, Upload] = field(default_factory=dict)
    upload_errcodes: list[int] = field(default_factory=list)

    # -- scripting ---------------------------------------------------------
    def new_callback_token(self) -> str:
        token = f"ENC{secrets.token_hex(8)}"
        self.callback_tokens.add(token)
        return token

    def expire_callback_tokens(self) -> None:
        self.callback_tokens.clear()

    def customer_says(
        self, user: str, text: str, send_time: int, *, open_kfid: str = OPEN_KFID
    ) -> str:
        """A customer message (origin 3) waiting to be read; returns its msgid."""
        return self._add(
            open_kfid,
            {
                "external_userid": user,
                "send_time": send_time,
                "origin": 3,
                "msgtype": "text",
                "text": {"content": text},
            },
            state_user=user,
        )

    def add(self, message: Mapping[str, Any], *, open_kfid: str = OPEN_KFID) -> str:
        return self._add(open_kfid, dict(message))

    def _add(self, open_kfid: str, message: dict[str, Any], state_user: str | None = None) -> str:
        self._msg_seq += 1
        msgid = message.setdefault("msgid", f"MSG{self._msg_seq:06d}")
        message.setdefault("open_kfid", open_kfid)
        self.messages.setdefault(open_kfid, []).append(message)
        if state_user is not None and self.states.get((open_kfid, state_user), 4) == 4:
            # A customer writing opens a new session: 未处理.
            self.states[(open_kfid, state_user)] = 0
        return str(msgid)

    # -- reading the record ----------------------------------------------------
    def calls_to(self, path: str) -> list[Call]:
        return [call for call in self.calls if call.path == path]

    def sent(self, user: str | None = None) -> list[str]:
        return [
            str(call.body["text"]["content"])
            for call in self.calls_to("/cgi-bin/kf/send_msg")
            if call.answer.get("errcode") == 0
            and call.body.get("msgtype") == "text"
            and (user is None or call.body["touser"] == user)
        ]

    def sent_media(self, user: str | None = None) -> list[tuple[str, Upload]]:
        """(msgtype, the uploaded file) of each image or file send WeCom took."""
        return [
            (str(call.body["msgtype"]), self.uploads[call.body[call.body["msgtype"]]["media_id"]])
            for call in self.calls_to("/cgi-bin/kf/send_msg")
            if call.answer.get("errcode") == 0
            and call.body.get("msgtype") in ("image", "file")
            and (user is None or call.body["touser"] == user)
        ]

    # -- the server --------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/cgi-bin/gettoken", self._gettoken)
        app.router.add_post("/cgi-bin/kf/sync_msg", self._sync_msg)
        app.router.add_post("/cgi-bin/kf/send_msg", self._send_msg)
        app.router.add_post("/cgi-bin/kf/send_msg_on_event", self._send_msg_on_event)
        app.router.add_post("/cgi-bin/kf/service_state/get", self._state_get)
        app.router.add_post("/cgi-bin/kf/service_state/trans", self._state_trans)
        app.router.add_get("/cgi-bin/media/get", self._media_get)
        app.router.add_post("/cgi-bin/media/upload", self._media_upload)
        return app

    async def _media_upload(self, request: web.Request) -> web.Response:
        """Temporary media from a multipart ``media`` field; answers its media_id."""
        if not self._token_ok(request):
            return self._answer(request, {}, {"errcode": 40014, "errmsg": "invalid access_token"})
        kind = request.query.get("type", "")
        form = await request.post()
        part = form.get("media")
        if kind not in ("image", "file", "voice", "video") or not isinstance(part, web.FileField):
            return self._answer(request, {}, {"errcode": 40004, "errmsg": "invalid media type"})
        upload = Upload(kind, part.file.read(), part.filename, part.content_type)
        record = {"type": kind, "filename": upload.filename, "size": len(upload.data)}
        if self.upload_errcodes:
            code = self.upload_errcodes.pop(0)
            return self._answer(request, record, {"errcode": code, "errmsg": f"scripted {code}"})
        media_id = f"KF-UP-{len(self.uploads) + 1}"
        self.uploads[media_id] = upload
        return self._answer(
            request,
            record,
            {"errcode": 0, "errmsg": "ok", "type": kind, "media_id": media_id, "created_at": "0"},
        )

    async def _media_get(self, request: web.Request) -> web.Response:
        """A kf message's media by media_id (WeCom's temporary media download)."""
        if not self._token_ok(request):
            return self._answer(request, {}, {"errcode": 40014, "errmsg": "invalid access_token"})
        found = self.media.get(request.query.get("media_id", ""))
        if found is None:
            return self._answer(request, {}, {"errcode": 40007, "errmsg": "invalid media_id"})
        self.calls.append(Call(request.path, dict(request.query), {}, {"errcode": 0}))
        return web.Response(body=found[0], content_type=found[1])

    def _answer(
        self, request: web.Request, body: Mapping[str, Any], answer: dict[str, Any]
    ) -> web.Response:
        self.calls.append(Call(request.path, dict(request.query), body, answer))
        return web.json_response(answer)

    async def _gettoken(self, request: web.Request) -> web.Response:
        if request.query.get("corpid") != CORP_ID or not request.query.get("corpsecret"):
            return self._answer(request, {}, {"errcode": 40013, "errmsg": "invalid corpid"})
        self._tokens_issued += 1
        token = f"ACCESS-{self._tokens_issued}"
        self._access_tokens.add(token)
        return self._answer(
            request, {}, {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200}
        )

    async def _body(self, request: web.Request) -> dict[str, Any]:
        return dict(json.loads((await request.read()).decode("utf-8")))

    def _token_ok(self, request: web.Request) -> bool:
        return request.query.get("access_token", "") in self._access_tokens

    async def _sync_msg(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if not self._token_ok(request):
            return self._answer(request, body, {"errcode": 40014, "errmsg": "invalid access_token"})
        open_kfid = str(body.get("open_kfid", ""))
        token = body.get("token")
        if token is not None and token not in self.callback_tokens:
            return self._answer(request, body, {"errcode": 95007, "errmsg": "invalid msg token"})
        if token is None and self.refuse_tokenless:
            return self._answer(
                request, body, {"errcode": 45009, "errmsg": "api freq out of limit"}
            )
        self.in_flight[open_kfid] = self.in_flight.get(open_kfid, 0) + 1
        self.max_in_flight[open_kfid] = max(
            self.max_in_flight.get(open_kfid, 0), self.in_flight[open_kfid]
        )
        try:
            if self.sync_delay_s:
                await asyncio.sleep(self.sync_delay_s)
            cursor = str(body.get("cursor") or "c0")
            start = int(cursor.removeprefix("c"))
            limit = min(int(body.get("limit", 1000)), self.page_size)
            everything = self.messages.get(open_kfid, [])
            page = everything[start : start + limit]
            end = start + len(page)
            answer = {
                "errcode": 0,
                "errmsg": "ok",
                "next_cursor": f"c{end}",
                "has_more": 1 if end < len(everything) else 0,
                "msg_list": page,
            }
            return self._answer(request, body, answer)
        finally:
            self.in_flight[open_kfid] -= 1

    async def _send_msg(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if not self._token_ok(request):
            return self._answer(request, body, {"errcode": 40014, "errmsg": "invalid access_token"})
        if self.send_errcodes:
            code = self.send_errcodes.pop(0)
            return self._answer(request, body, {"errcode": code, "errmsg": f"scripted {code}"})
        msgid, msgtype = str(body.get("msgid", "")), str(body.get("msgtype", ""))
        if msgtype in ("image", "file"):
            media_id = str(body[msgtype]["media_id"])
            if media_id not in self.uploads:
                return self._answer(request, body, {"errcode": 40007, "errmsg": "invalid media_id"})
            text = f"[{msgtype}] {media_id}"
        else:
            text = str(body["text"]["content"])
        if msgid in self.delivered:
            # WeCom's errcode for a repeated msgid is unconfirmed; the fake answers the
            # generic 40058 (不合法的参数) with an errmsg about the msgid.
            return self._answer(request, body, {"errcode": 40058, "errmsg": "msgid duplicated"})
        if len(text.encode("utf-8")) > 2048:
            return self._answer(
                request, body, {"errcode": 40058, "errmsg": "content over 2048 bytes"}
            )
        state = self.states.get((body["open_kfid"], body["touser"]), 4)
        if state not in (0, 1):
            return self._answer(
                request, body, {"errcode": 95018, "errmsg": "send msg session status invalid"}
            )
        self.delivered[msgid] = text
        answer = self._answer(request, body, {"errcode": 0, "errmsg": "ok", "msgid": msgid})
        if self.slow_sends:
            await asyncio.sleep(self.slow_sends.pop(0))
        return answer

    async def _send_msg_on_event(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if not self._token_ok(request):
            return self._answer(request, body, {"errcode": 40014, "errmsg": "invalid access_token"})
        code = str(body.get("code", ""))
        if not code or code in self.welcomed:
            # The real errcode for a used code is unconfirmed: 40058 (不合法的参数) here.
            return self._answer(request, body, {"errcode": 40058, "errmsg": "code used"})
        self.welcomed[code] = str(body["text"]["content"])
        return self._answer(request, body, {"errcode": 0, "errmsg": "ok", "msgid": "w1"})

    async def _state_get(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        state = self.states.get((body["open_kfid"], body["external_userid"]), 4)
        return self._answer(request, body, {"errcode": 0, "errmsg": "ok", "service_state": state})

    async def _state_trans(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        key = (body["open_kfid"], body["external_userid"])
        current, target = self.states.get(key, 4), int(body["service_state"])
        if target not in TRANSITIONS[current]:
            return self._answer(request, body, {"errcode": 95016, "errmsg": "invalid state change"})
        self.states[key] = target
        return self._answer(request, body, {"errcode": 0, "errmsg": "ok"})


@dataclass(frozen=True)
class SignedCallback:
    params: dict[str, str]
    body: bytes


class KfCallbacks:
    """What WeCom does when it calls `/wecom/kf`: sign and encrypt the notice."""

    def __init__(
        self, token: str = KF_TOKEN, aes_key: str = KF_AES_KEY, corp_id: str = CORP_ID
    ) -> None:
        self.token = token
        self.corp_id = corp_id
        self._crypto = WeChatCrypto(token, aes_key, corp_id)

    def notice_xml(self, sync_token: str, open_kfid: str = OPEN_KFID, create_time: int = 0) -> str:
        return (
            f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName>"
            f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            "<Event><![CDATA[kf_msg_or_event]]></Event>"
            f"<Token><![CDATA[{sync_token}]]></Token>"
            f"<OpenKfId><![CDATA[{open_kfid}]]></OpenKfId></xml>"
        )

    def request(self, plaintext: str, timestamp: int) -> SignedCallback:
        ts, nonce = str(timestamp), str(secrets.randbelow(10**9))
        envelope = xmltodict.parse(self._crypto.encrypt_message(plaintext, nonce, ts))["xml"]
        encrypted = envelope["Encrypt"]
        body = (
            f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt><AgentID><![CDATA[]]></AgentID></xml>"
        )
        params = {
            "msg_signature": compute_signature(self.token, ts, nonce, encrypted),
            "timestamp": ts,
            "nonce": nonce,
        }
        return SignedCallback(params, body.encode("utf-8"))
