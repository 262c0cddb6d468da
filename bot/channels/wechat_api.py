"""The two WeChat server APIs the bot calls, asynchronously (aiohttp).

wechatpy's own client is synchronous (requests) and would block the event
loop, so the calls are made here: `cgi-bin/stable_token` for the access token
and `cgi-bin/message/custom/send` for every line after the passive reply.

Each call has a timeout and a bounded number of attempts with exponential
backoff.  What may be repeated depends on the call:

- a *read* (a token, `sync_msg`, a session state) is repeated after any
  failure that says nothing about the request itself: network errors,
  timeouts, HTTP 5xx, an unreadable answer and errcode -1 (系统繁忙);
- a *send* (a message to a customer) is repeated only when the request
  cannot have reached the API (the connection was never made).  After a
  timeout, a 5xx, an unreadable answer or -1 the API may have taken the
  message and failed only to say so: the call raises `SendOutcomeUnknown`
  and the line is recorded ``unknown`` — a blind repeat on a channel
  without idempotency keys (公众号 custom/send) would reach the customer
  twice and use up the 48 h window's five messages.

An errcode that is an answer (45015 outside the 48 h window, 45047 too many
messages, an invalid token …) is returned to the caller at once.

Error codes named here, and their meaning in WeChat's global return codes
(全局返回码, as wechatpy's `WeChatErrorCode` restates them): -1 系统繁忙;
40001 AppSecret 错误或 access_token 无效; 40014 不合法的 access_token;
42001 access_token 超时; 43004 需要接收者关注; 45015 回复时间超过限制 (48 h
after the customer's last interaction, or an unfollow: WeChat's errmsg says
"response out of time limit or subscription is canceled"); 45047 客服接口下行
条数超过上限.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

log = logging.getLogger("bot.channels.wechat")

DEFAULT_API_BASE = "https://api.weixin.qq.com"

ERRCODE_OK = 0
ERRCODE_SYSTEM_BUSY = -1
# The access token is invalid (40001, 40014) or expired (42001): refresh once.
ERRCODES_TOKEN_INVALID = frozenset({40001, 40014, 42001})
# The channel refuses the message because of the customer-service rules, not
# because of anything the bot can fix by retrying.
ERRCODES_BLOCKED_BY_CHANNEL: Mapping[int, str] = {
    45015: "outside the 48 h customer-service window (45015)",
    45047: "more than the allowed messages since the customer's last message (45047)",
    43004: "the customer no longer follows the account (43004)",
}


class ApiUnavailable(Exception):
    """The API could not be reached or kept failing after the last attempt."""


class SendOutcomeUnknown(Exception):
    """A send may or may not have been taken (timeout, 5xx, -1, an unreadable answer)."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Timeout per attempt, number of attempts, and the backoff between them."""

    timeout_s: float = 5.0
    attempts: int = 3
    backoff_s: float = 0.2
    max_backoff_s: float = 2.0

    def __post_init__(self) -> None:
        if self.timeout_s <= 0:
            raise ValueError(f"timeout_s: must be positive, got {self.timeout_s}")
        if self.attempts < 1:
            raise ValueError(f"attempts: at least 1, got {self.attempts}")
        if self.backoff_s < 0 or self.max_backoff_s < 0:
            raise ValueError("backoff_s and max_backoff_s must not be negative")

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        return float(min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1)))


@dataclass(frozen=True, slots=True)
class ApiAnswer:
    """A JSON answer of the API: its errcode (0 when absent), errmsg and the whole body."""

    errcode: int
    errmsg: str
    body: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.errcode == ERRCODE_OK


@dataclass(frozen=True, slots=True)
class StableToken:
    access_token: str
    expires_in: int


class _Transient(Exception):
    """One attempt failed in a way worth another attempt (for a read)."""


class _NotSent(_Transient):
    """The request never reached the API (no connection): any call may be repeated."""


class TencentApi:
    """What the WeChat and WeCom server APIs share: JSON over HTTPS at `base_url`
    (configurable for tests), attempts with timeouts and back-off, the same retry
    rules.  Subclasses add the endpoints and `fetch_token`."""

    _log_name = "tencent api"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str = DEFAULT_API_BASE,
        retry: RetryPolicy | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._retry = retry or RetryPolicy()
        self._sleep = sleep

    async def _post(
        self,
        path: str,
        *,
        params: Mapping[str, str],
        payload: Mapping[str, Any],
        send: bool = False,
    ) -> ApiAnswer:
        """POST `payload`; a `send` is repeated only when it cannot have arrived."""
        # WeChat expects UTF-8 JSON; \u escapes would count against length limits.
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        return await self._call("POST", path, params, data, send=send)

    @staticmethod
    def _token_from(answer: ApiAnswer, endpoint: str) -> StableToken:
        """The token in a token endpoint's answer; `ApiUnavailable` if there is none."""
        if not answer.ok:
            raise ApiUnavailable(f"{endpoint} refused: errcode {answer.errcode} {answer.errmsg}")
        token = answer.body.get("access_token")
        expires_in = answer.body.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int):
            raise ApiUnavailable(f"{endpoint} answer without access_token/expires_in: {answer}")
        return StableToken(access_token=token, expires_in=expires_in)

    async def _get(self, path: str, params: Mapping[str, str]) -> ApiAnswer:
        return await self._call("GET", path, params, None)

    async def _call(
        self,
        method: str,
        path: str,
        params: Mapping[str, str],
        data: bytes | None,
        *,
        send: bool = False,
    ) -> ApiAnswer:
        """One API call with the retry policy's attempts, timeouts and back-off."""
        url = self._base_url + path
        last_error = ""
        for attempt in range(1, self._retry.attempts + 1):
            try:
                return await self._attempt(method, url, params, data)
            except _Transient as exc:
                last_error = str(exc)
                if send and not isinstance(exc, _NotSent):
                    log.warning(
                        "%s %s: outcome unknown, not repeated: %s", self._log_name, path, exc
                    )
                    raise SendOutcomeUnknown(f"{path}: {last_error}") from None
                log.warning(
                    "%s %s attempt %d/%d failed: %s",
                    self._log_name,
                    path,
                    attempt,
                    self._retry.attempts,
                    last_error,
                )
            if attempt < self._retry.attempts:
                await self._sleep(self._retry.delay(attempt))
        raise ApiUnavailable(f"{path}: {self._retry.attempts} attempts failed, last: {last_error}")

    async def _attempt(
        self, method: str, url: str, params: Mapping[str, str], data: bytes | None
    ) -> ApiAnswer:
        # A connection that is never made is known not to have sent anything.
        timeout = aiohttp.ClientTimeout(
            total=self._retry.timeout_s, sock_connect=self._retry.timeout_s / 2
        )
        headers = {"Content-Type": "application/json; charset=utf-8"} if data is not None else None
        try:
            async with self._session.request(
                method, url, params=params, data=data, headers=headers, timeout=timeout
            ) as response:
                if response.status >= 500:
                    raise _Transient(f"HTTP {response.status}")
                raw = await response.read()
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            raise _NotSent(f"{type(exc).__name__}: {exc}") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}") from None
        if response.status != 200:
            # A 4xx from the API gateway is an answer: retrying will not change it.
            return ApiAnswer(errcode=-response.status, errmsg=f"HTTP {response.status}")
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise _Transient(f"answer is not JSON: {raw[:80]!r}") from None
        if not isinstance(body, dict):
            raise _Transient(f"answer is not a JSON object: {raw[:80]!r}")
        errcode = body.get("errcode", ERRCODE_OK)
        if not isinstance(errcode, int):
            raise _Transient(f"errcode is not an integer: {errcode!r}")
        if errcode == ERRCODE_SYSTEM_BUSY:
            raise _Transient("errcode -1 (system busy)")
        return ApiAnswer(errcode=errcode, errmsg=str(body.get("errmsg", "")), body=body)


class WeChatApi(TencentApi):
    """Async client for the WeChat (公众号) server API."""

    _log_name = "wechat api"

    async def stable_token(self, app_id: str, secret: str) -> StableToken:
        """A fresh access token from `cgi-bin/stable_token` (normal mode, never forced).

        Normal mode returns the token WeChat holds while it is valid, so every
        worker that asks gets the same one; forcing would invalidate the
        token the other workers are using.
        """
        answer = await self._post(
            "/cgi-bin/stable_token",
            params={},
            payload={
                "grant_type": "client_credential",
                "appid": app_id,
                "secret": secret,
                "force_refresh": False,
            },
        )
        return self._token_from(answer, "stable_token")

    async def send_text(self, access_token: str, openid: str, text: str) -> ApiAnswer:
        """Send `text` to `openid` through `message/custom/send`; the API's answer."""
        return await self._post(
            "/cgi-bin/message/custom/send",
            params={"access_token": access_token},
            payload={"touser": openid, "msgtype": "text", "text": {"content": text}},
            send=True,
        )

    async def fetch_token(self, app_id: str, secret: str) -> StableToken:
        """The account's access token, for `SharedAccessToken`: `stable_token`."""
        return await self.stable_token(app_id, secret)
