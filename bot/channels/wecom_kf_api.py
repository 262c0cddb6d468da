"""The WeCom 微信客服 (kf) server API, asynchronously (aiohttp).

wechatpy 1.8.18 has no kf support, so the endpoints are called here:
`cgi-bin/gettoken`, `cgi-bin/kf/sync_msg`, `cgi-bin/kf/send_msg` (text, and
image / file with a media_id from `cgi-bin/media/upload`, WeCom's temporary
media), `cgi-bin/kf/send_msg_on_event` and `cgi-bin/kf/service_state/get|trans`.
WeCom's server API is the same family as WeChat's (JSON in and out,
``errcode``/``errmsg``, -1 for 系统繁忙), so `WeComKfApi`, like `WeChatApi`, is
a `TencentApi`: the same timeouts, bounded retries and rule of which
failures are worth another attempt (and which sends are never repeated).

`fetch_token` is `gettoken`: within its validity WeCom returns the same
token to every caller, exactly the contract the shared
token refresher (`wechat_token.SharedAccessToken`) relies on, so the kf
access token is shared through the database by that same code.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bot.channels.wechat_api import (
    ApiAnswer,
    ApiUnavailable,
    StableToken,
    TencentApi,
)

log = logging.getLogger("bot.channels.wecom_kf")

DEFAULT_API_BASE = "https://qyapi.weixin.qq.com"

# Error codes, with where their meaning comes from.  WeCom's global error code
# page (全局错误码, as zsmhub/workweixin and WxJava restate it): 40014 不合法的
# access_token, 42001 access_token已过期 — refresh once.
ERRCODES_TOKEN_INVALID = frozenset({40014, 42001})
# 95007: the callback's Token was refused.  The meaning is inferred from
# sync_msg's documentation (the token "10分钟内有效；可不填，如果不填接口有严格的
# 频率限制"); the official table row (不合法的msgtoken) is unconfirmed.
ERRCODE_MSG_TOKEN_INVALID = 95007
# 95018: send_msg while the session is not 0 (未处理) or 1 (由智能助手接待).  Real
# answers carry errmsg "send msg session status invalid" (langbot-app/LangBot
# #1547, whyiyhw/chatgpt-wechat #128); the official table row is unconfirmed.
ERRCODE_SESSION_STATE = 95018
# The channel's own sending rules (48 h / 5 lines after the customer's last
# message).  Unconfirmed: 95001 is "给该客户发送的消息数量已达上限" only in
# third-party code; 95002 and 95013 rest on no source found — each is still
# recorded as the channel's refusal with its code in the detail, so a wrong
# reading costs a label, never a resend.
ERRCODES_BLOCKED_BY_CHANNEL: Mapping[int, str] = {
    95001: "more than 5 lines since the customer's last message (95001)",
    95002: "outside the 48 h after the customer's last message (95002)",
    95013: "the session has ended (95013)",
}

# An enter_session welcome_code is good for one message within 20 s (the
# send_msg_on_event page's table: "用户进入会话，用于发送客服欢迎语 1条 20秒 文本、菜单").
WELCOME_CODE_VALID_S = 20
# send_msg's text limit: "消息内容，最长不超过2048个字节" (the send_msg page, as
# WxJava's WxCpKfTextMsg and silenceper/wechat restate it).
KF_TEXT_MAX_BYTES = 2048


def refused_as_repeat(answer: ApiAnswer) -> bool:
    """Whether send_msg refused a msgid it already has: the earlier send arrived.

    Unconfirmed: WeCom's documentation names no errcode for a repeated msgid
    (the send_msg page only says msgid is "指定消息ID … 不多于32字节 …
    [0-9a-zA-Z_-]*").  Our msgids always have that shape, so a refusal whose
    errmsg is about the msgid can only be about it being taken.
    """
    return not answer.ok and "msgid" in answer.errmsg.lower()


# Session states (会话状态) of `service_state/get`.
STATE_NEW = 0  # 未处理: the customer wrote, nobody took it yet
STATE_API = 1  # 由智能助手接待: handled through the API (this bot and its engineers)
STATE_POOL = 2  # 待接入池排队中: queued for a WeCom servicer
STATE_SERVICER = 3  # 由人工接待: a servicer answers in the WeCom client
STATE_ENDED = 4  # 已结束/未开始
STATE_NAMES: Mapping[int, str] = {
    STATE_NEW: "未处理",
    STATE_API: "由智能助手接待",
    STATE_POOL: "待接入池排队中",
    STATE_SERVICER: "由人工接待",
    STATE_ENDED: "已结束",
}


@dataclass(frozen=True, slots=True)
class SyncPage:
    """One `sync_msg` answer: the messages, the cursor after them, whether more follow."""

    messages: Sequence[Mapping[str, Any]]
    next_cursor: str
    has_more: bool


@dataclass(frozen=True, slots=True)
class SyncRefused:
    """`sync_msg` answered with an errcode (the caller decides what it means)."""

    errcode: int
    errmsg: str
    body: Mapping[str, Any] = field(default_factory=dict)


class WeComKfApi(TencentApi):
    """Async client for the WeCom kf endpoints at `base_url` (configurable for tests)."""

    _log_name = "wecom api"

    async def fetch_token(self, app_id: str, secret: str) -> StableToken:
        """The access token from `gettoken` (corp id + the kf secret), for
        `SharedAccessToken`: within its validity WeCom hands every caller the same
        token, as `stable_token` does for WeChat."""
        answer = await self._get("/cgi-bin/gettoken", {"corpid": app_id, "corpsecret": secret})
        return self._token_from(answer, "gettoken")

    async def sync_msg(
        self,
        access_token: str,
        open_kfid: str,
        *,
        cursor: str | None,
        token: str | None,
        limit: int = 1000,
    ) -> SyncPage | SyncRefused:
        """One page of messages and events of `open_kfid` after `cursor`."""
        payload: dict[str, Any] = {"open_kfid": open_kfid, "limit": limit}
        if cursor:
            payload["cursor"] = cursor
        if token:
            payload["token"] = token
        answer = await self._post(
            "/cgi-bin/kf/sync_msg", params={"access_token": access_token}, payload=payload
        )
        if not answer.ok:
            return SyncRefused(answer.errcode, answer.errmsg, answer.body)
        messages = answer.body.get("msg_list", [])
        next_cursor = answer.body.get("next_cursor", "")
        has_more = answer.body.get("has_more", 0)
        if not isinstance(messages, list) or not isinstance(next_cursor, str):
            raise ApiUnavailable(f"sync_msg answer without msg_list/next_cursor: {answer.body}")
        return SyncPage(
            messages=[m for m in messages if isinstance(m, dict)],
            next_cursor=next_cursor,
            has_more=has_more in (1, True, "1"),
        )

    async def send_msg(
        self,
        access_token: str,
        open_kfid: str,
        external_userid: str,
        text: str,
        msgid: str,
        *,
        msgtype: str = "text",
    ) -> ApiAnswer:
        """Send `text` to the customer; `msgid` (ours, ≤ 32 [0-9a-zA-Z_-]) comes back in
        a later ``msg_send_fail`` event if WeCom cannot deliver it.  With `msgtype`
        ``image`` or ``file``, `text` is the media_id from `upload_media`."""
        content = {"content": text} if msgtype == "text" else {"media_id": text}
        return await self._post(
            "/cgi-bin/kf/send_msg",
            params={"access_token": access_token},
            payload={
                "touser": external_userid,
                "open_kfid": open_kfid,
                "msgid": msgid,
                "msgtype": msgtype,
                msgtype: content,
            },
            send=True,
        )

    async def upload_media(
        self, access_token: str, kind: str, data: bytes, filename: str, content_type: str
    ) -> ApiAnswer:
        """Upload `data` as temporary media (`cgi-bin/media/upload`, ``type`` image or
        file, multipart field ``media``); the answer's body carries ``media_id``.

        One attempt: an upload reaches no customer, so a failure is a plain failure
        (`ApiUnavailable`) that the engineer can retry."""
        form = aiohttp.FormData()
        form.add_field("media", data, filename=filename, content_type=content_type)
        try:
            async with self._session.post(
                self._base_url + "/cgi-bin/media/upload",
                params={"access_token": access_token, "type": kind},
                data=form,
                timeout=aiohttp.ClientTimeout(total=max(60.0, self._retry.timeout_s)),
            ) as response:
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ApiUnavailable(f"media/upload: {type(exc).__name__}: {exc}") from None
        if status != 200:
            return ApiAnswer(errcode=-status, errmsg=f"HTTP {status}")
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ApiUnavailable(f"media/upload: answer is not JSON: {raw[:80]!r}") from None
        if not isinstance(body, dict) or not isinstance(body.get("errcode", 0), int):
            raise ApiUnavailable(f"media/upload: unexpected answer: {raw[:80]!r}")
        return ApiAnswer(
            errcode=body.get("errcode", 0), errmsg=str(body.get("errmsg", "")), body=body
        )

    async def send_msg_on_event(self, access_token: str, code: str, text: str) -> ApiAnswer:
        """The one message an event's `code` allows (the enter_session ``welcome_code``:
        one text within 20 s, "仅可使用一次"); never repeated, like any send."""
        return await self._post(
            "/cgi-bin/kf/send_msg_on_event",
            params={"access_token": access_token},
            payload={"code": code, "msgtype": "text", "text": {"content": text}},
            send=True,
        )

    async def service_state(
        self, access_token: str, open_kfid: str, external_userid: str
    ) -> ApiAnswer:
        """The session state (`service_state` in the body) of a customer with the account."""
        return await self._post(
            "/cgi-bin/kf/service_state/get",
            params={"access_token": access_token},
            payload={"open_kfid": open_kfid, "external_userid": external_userid},
        )

    async def trans_state(
        self, access_token: str, open_kfid: str, external_userid: str, state: int
    ) -> ApiAnswer:
        """Move the session to `state` (`service_state/trans`)."""
        return await self._post(
            "/cgi-bin/kf/service_state/trans",
            params={"access_token": access_token},
            payload={
                "open_kfid": open_kfid,
                "external_userid": external_userid,
                "service_state": state,
            },
        )
