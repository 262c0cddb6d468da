"""A recording fake of WeChat's side of the 公众号 channel, for tests and the benchmark.

Two halves:

- `FakeWeChatApi`: an aiohttp app standing in for ``api.weixin.qq.com``
  (`cgi-bin/stable_token`, `cgi-bin/message/custom/send`).  It records every
  call, hands out numbered tokens, answers 40001 for a token it has
  invalidated, and can be scripted to fail the next calls (HTTP 5xx, errcode
  -1, 45015, 45047, a delay) so tests see the client's retry and
  classification decisions.
- `WeChatCallbacks`: what WeChat's servers do when they call our webhook:
  sign the query, encrypt the body (plaintext, compatible or safe mode), and
  open the encrypted passive reply.  (Not to be confused with the bot's own
  `bot.channels.wechat_sender.WeChatSender`, which sends lines to WeChat.)
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import xmltodict
from aiohttp import web
from wechatpy.crypto import WeChatCrypto

from bot.channels.wechat_crypto import compute_signature

Mode = Literal["plaintext", "compatible", "safe"]
_FROM_USER = re.compile(r"<FromUserName>(?:<!\[CDATA\[)?(.*?)(?:\]\]>)?</FromUserName>")


@dataclass(frozen=True, slots=True)
class RecordedCall:
    path: str
    params: Mapping[str, str]
    body: Mapping[str, Any]


@dataclass(slots=True)
class Scripted:
    """One scripted answer: an HTTP status, an errcode, and/or a delay first."""

    status: int = 200
    errcode: int = 0
    delay_s: float = 0.0


@dataclass
class FakeWeChatApi:
    """The fake API's state; `app()` serves it."""

    expires_in: int = 7200
    # With a clock: hand back the token still valid, with the seconds it has left
    # (WeCom's gettoken: "有效期内重复获取返回相同结果"), and a new one after.
    clock: Callable[[], datetime] | None = None
    calls: list[RecordedCall] = field(default_factory=list)
    # Answers for the next calls to a path, consumed first in, first out.
    script: dict[str, list[Scripted]] = field(default_factory=dict)
    _issued: int = 0
    _current: tuple[str, datetime] | None = None
    _valid_tokens: set[str] = field(default_factory=set)
    _token_delay_s: float = 0.0
    # ``cgi-bin/media/get``: media_id -> (bytes, content type); uploads are kept here too.
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    uploads: list[tuple[str, bytes, str]] = field(default_factory=list)

    # -- scripting --------------------------------------------------------
    def fail_next(self, path: str, *answers: Scripted) -> None:
        self.script.setdefault(path, []).extend(answers)

    def invalidate_tokens(self) -> None:
        """WeChat forgets every token issued so far (as after a forced refresh)."""
        self._valid_tokens.clear()

    def slow_tokens(self, delay_s: float) -> None:
        self._token_delay_s = delay_s

    # -- reading the record -------------------------------------------------
    def calls_to(self, path: str) -> list[RecordedCall]:
        return [call for call in self.calls if call.path == path]

    @property
    def token_calls(self) -> list[RecordedCall]:
        return self.calls_to("/cgi-bin/stable_token")

    @property
    def sent(self) -> list[RecordedCall]:
        """Custom-service messages the fake accepted (errcode 0)."""
        return [
            call
            for call in self.calls_to("/cgi-bin/message/custom/send")
            if call.params.get("_answer") == "0"
        ]

    def sent_texts(self, openid: str | None = None) -> list[str]:
        return [
            str(call.body["text"]["content"])
            for call in self.sent
            if (openid is None or call.body.get("touser") == openid) and "text" in call.body
        ]

    # -- the server ---------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/cgi-bin/stable_token", self._stable_token)
        app.router.add_post("/cgi-bin/message/custom/send", self._custom_send)
        app.router.add_get("/cgi-bin/media/get", self._media_get)
        app.router.add_post("/cgi-bin/media/upload", self._media_upload)
        return app

    async def _media_get(self, request: web.Request) -> web.Response:
        """The bytes of a known media_id; 40007 for an unknown one, 40001 for a bad token."""
        scripted = await self._scripted(request, {})
        if scripted is not None:
            return scripted
        token = request.query.get("access_token", "")
        media_id = request.query.get("media_id", "")
        errcode = 0 if token in self._valid_tokens else 40001
        if errcode == 0 and media_id not in self.media:
            errcode = 40007
        self.calls.append(
            RecordedCall(request.path, {**request.query, "_answer": str(errcode)}, {})
        )
        if errcode:
            return web.json_response({"errcode": errcode, "errmsg": f"error {errcode}"})
        data, kind = self.media[media_id]
        return web.Response(
            body=data,
            content_type=kind,
            headers={"Content-Disposition": f'attachment; filename="{media_id}.bin"'},
        )

    async def _media_upload(self, request: web.Request) -> web.Response:
        """A temporary media upload (``type`` image / voice …) answered with a media_id."""
        token = request.query.get("access_token", "")
        form = await request.post()
        part = form.get("media")
        if token not in self._valid_tokens:
            self.calls.append(RecordedCall(request.path, {**request.query, "_answer": "40001"}, {}))
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        if not isinstance(part, web.FileField):
            return web.json_response({"errcode": 41005, "errmsg": "media data missing"})
        data = part.file.read()
        media_id = f"UPLOADED-{len(self.uploads) + 1}"
        self.uploads.append((media_id, data, part.content_type))
        self.media[media_id] = (data, part.content_type)
        body = {"type": request.query.get("type", ""), "media_id": media_id, "size": len(data)}
        self.calls.append(RecordedCall(request.path, {**request.query, "_answer": "0"}, body))
        return web.json_response({**body, "created_at": int(time.time())})

    async def _scripted(self, request: web.Request, body: Mapping[str, Any]) -> web.Response | None:
        queue = self.script.get(request.path)
        answer = queue.pop(0) if queue else None
        if answer is None:
            return None
        # Recorded on arrival: a late answer is to a request that was taken.
        params = {**request.query, "_answer": str(answer.errcode)}
        self.calls.append(RecordedCall(request.path, params, body))
        if answer.delay_s:
            await asyncio.sleep(answer.delay_s)
        if answer.status != 200:
            return web.Response(status=answer.status, text="upstream error")
        return web.json_response(
            {"errcode": answer.errcode, "errmsg": f"scripted {answer.errcode}"}
        )

    async def _stable_token(self, request: web.Request) -> web.Response:
        body = await request.json()
        scripted = await self._scripted(request, body)
        if scripted is not None:
            return scripted
        if self._token_delay_s:
            await asyncio.sleep(self._token_delay_s)
        if body.get("grant_type") != "client_credential" or not body.get("appid"):
            self.calls.append(RecordedCall(request.path, {"_answer": "40002"}, body))
            return web.json_response({"errcode": 40002, "errmsg": "invalid grant_type"})
        self.calls.append(RecordedCall(request.path, {"_answer": "0"}, body))
        if self.clock is not None and self._current is not None:
            token, expires_at = self._current
            left = int((expires_at - self.clock()).total_seconds())
            if left > 0:
                return web.json_response({"access_token": token, "expires_in": left})
        self._issued += 1
        token = f"TOKEN-{self._issued}"
        self._valid_tokens.add(token)
        if self.clock is not None:
            self._current = (token, self.clock() + timedelta(seconds=self.expires_in))
        return web.json_response({"access_token": token, "expires_in": self.expires_in})

    async def _custom_send(self, request: web.Request) -> web.Response:
        body = json.loads((await request.read()).decode("utf-8"))
        scripted = await self._scripted(request, body)
        if scripted is not None:
            return scripted
        token = request.query.get("access_token", "")
        errcode = 0 if token in self._valid_tokens else 40001
        self.calls.append(
            RecordedCall(request.path, {**request.query, "_answer": str(errcode)}, body)
        )
        errmsg = "ok" if errcode == 0 else "invalid credential, access_token is invalid"
        return web.json_response({"errcode": errcode, "errmsg": errmsg})


@dataclass(frozen=True)
class SignedRequest:
    """A webhook request as WeChat would make it: query string and body."""

    params: dict[str, str]
    body: bytes
    nonce: str
    timestamp: str


class WeChatCallbacks:
    """Builds signed (and, in compatible/safe mode, encrypted) webhook requests."""

    def __init__(
        self,
        token: str,
        aes_key: str | None = None,
        app_id: str = "wx0000000000000000",
        account: str = "gh_aftersales",
    ) -> None:
        self.token = token
        self.app_id = app_id
        self.account = account
        self._crypto = WeChatCrypto(token, aes_key, app_id) if aes_key else None

    def text_xml(
        self, openid: str, content: str, msg_id: int, create_time: int | None = None
    ) -> str:
        return message_xml(
            self.account,
            openid,
            "text",
            {"Content": content, "MsgId": str(msg_id)},
            create_time=create_time,
        )

    def event_xml(self, openid: str, event: str, create_time: int | None = None) -> str:
        return message_xml(self.account, openid, "event", {"Event": event}, create_time=create_time)

    def request(
        self, plaintext: str, mode: Mode = "safe", *, timestamp: int | None = None
    ) -> SignedRequest:
        """The query and body for delivering `plaintext` in `mode`."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        nonce = str(secrets.randbelow(10**9))
        params = {
            "signature": compute_signature(self.token, ts, nonce),
            "timestamp": ts,
            "nonce": nonce,
        }
        # A regex, not a parser: bodies under test may be deliberately malformed.
        sender = _FROM_USER.search(plaintext)
        if sender:
            params["openid"] = sender.group(1)
        if mode == "plaintext":
            return SignedRequest(params, plaintext.encode("utf-8"), nonce, ts)
        if self._crypto is None:
            raise ValueError(f"{mode} mode needs an EncodingAESKey")
        envelope = xmltodict.parse(self._crypto.encrypt_message(plaintext, nonce, ts))["xml"]
        encrypted = envelope["Encrypt"]
        params["encrypt_type"] = "aes"
        params["msg_signature"] = compute_signature(self.token, ts, nonce, encrypted)
        if mode == "safe":
            body = (
                f"<xml><ToUserName><![CDATA[{self.account}]]></ToUserName>"
                f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
            )
        else:
            # Compatible mode: the plaintext fields and the ciphertext side by side.
            inner = plaintext.strip()
            assert inner.endswith("</xml>")
            body = inner[: -len("</xml>")] + f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        return SignedRequest(params, body.encode("utf-8"), nonce, ts)

    def open_reply(self, reply: str) -> dict[str, Any]:
        """The fields of a passive reply, decrypting (and checking) an encrypted one."""
        fields = xmltodict.parse(reply)["xml"]
        if "Encrypt" not in fields:
            return dict(fields)
        assert self._crypto is not None, "encrypted reply but no key"
        plaintext = self._crypto.decrypt_message(
            fields, fields["MsgSignature"], fields["TimeStamp"], fields["Nonce"]
        )
        return dict(xmltodict.parse(plaintext)["xml"])


def message_xml(
    account: str,
    openid: str,
    msg_type: str,
    extra: Mapping[str, str],
    *,
    create_time: int | None = None,
) -> str:
    """A message body as WeChat writes it (CDATA for text fields)."""
    created = int(time.time()) if create_time is None else create_time
    parts = [
        f"<ToUserName><![CDATA[{account}]]></ToUserName>",
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>",
        f"<CreateTime>{created}</CreateTime>",
        f"<MsgType><![CDATA[{msg_type}]]></MsgType>",
    ]
    for name, value in extra.items():
        parts.append(
            f"<{name}>{value}</{name}>"
            if value.isdigit()
            else f"<{name}><![CDATA[{value}]]></{name}>"
        )
    return "<xml>" + "".join(parts) + "</xml>"
