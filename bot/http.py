"""JSON request parsing and error answers shared by the API and the channels.

Anything a client can get wrong (not JSON, a body over the size limit, a
missing or mistyped field) becomes an `ApiError`, which the `json_errors`
middleware turns into a 4xx JSON answer and one log line naming the reason.
Handlers never catch broad exceptions themselves: a 500 means a bug.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import date
from typing import Any

from aiohttp import web

log = logging.getLogger("bot.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """A client error: HTTP status, a stable machine code and a human message (Chinese ok)."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, **self.extra}


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON answer that keeps Chinese readable (no \\u escapes)."""
    return web.json_response(
        data, status=status, dumps=lambda obj: json.dumps(obj, ensure_ascii=False)
    )


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer client errors with JSON and a logged reason; never let them become a 500."""
    try:
        return await handler(request)
    except ApiError as exc:
        log.info(
            "%s %s -> %d %s: %s", request.method, request.path, exc.status, exc.code, exc.message
        )
        return json_response(exc.to_dict(), status=exc.status)
    except web.HTTPRequestEntityTooLarge as exc:
        log.info("%s %s -> 413 body too large: %s", request.method, request.path, exc.text)
        return json_response({"error": "body_too_large", "message": "请求体超过大小上限"}, 413)


async def read_body(request: web.Request, limit: int | None = None) -> bytes:
    """The raw request body; one over `limit` bytes (default: the app's client_max_size,
    `Settings.max_body_bytes`) is a 413 `ApiError`, refused before reading when its
    Content-Length says so."""
    too_large = "请求体超过大小上限" if limit is None else f"body is over the {limit}-byte limit"
    if limit is not None and request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "body_too_large", too_large)
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, "body_too_large", too_large) from None
    if limit is not None and len(raw) > limit:
        raise ApiError(413, "body_too_large", too_large)
    return raw


def json_object(raw: bytes, what: str = "a JSON object") -> dict[str, Any]:
    """`raw` decoded as one JSON object, or a 400 `ApiError` saying what is wrong with it."""
    if not raw:
        raise ApiError(400, "empty_body", f"request body is empty; expected {what}")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ApiError(400, "bad_encoding", "request body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise ApiError(
            400, "malformed_json", f"not valid JSON at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(data, dict):
        raise ApiError(400, "not_an_object", f"expected {what}, got {type(data).__name__}")
    return data


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, or an `ApiError` saying what is wrong with it."""
    if request.content_type not in ("application/json", ""):
        raise ApiError(
            415, "unsupported_media_type", f"expected application/json, got {request.content_type}"
        )
    return json_object(await read_body(request))


def str_field(
    body: Mapping[str, Any],
    name: str,
    *,
    required: bool = True,
    max_len: int = 4000,
    strip: bool = True,
) -> str | None:
    """A string field; a missing required one or a wrong type is a 400 naming it."""
    value = body.get(name)
    if value is None:
        if required:
            raise ApiError(400, "missing_field", f"field {name!r} is required", field=name)
        return None
    if not isinstance(value, str):
        raise ApiError(
            400,
            "bad_field",
            f"field {name!r} must be a string, got {type(value).__name__}",
            field=name,
        )
    text = value.strip() if strip else value
    if required and not text:
        raise ApiError(400, "missing_field", f"field {name!r} must not be empty", field=name)
    if len(text) > max_len:
        raise ApiError(
            400,
            "field_too_long",
            f"field {name!r} is longer than {max_len} characters",
            field=name,
        )
    return text


def required_str(body: Mapping[str, Any], name: str, *, max_len: int = 4000) -> str:
    value = str_field(body, name, required=True, max_len=max_len)
    assert value is not None
    return value


def bool_field(body: Mapping[str, Any], name: str, default: bool) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise ApiError(400, "bad_field", f"field {name!r} must be true or false", field=name)
    return value


def number_field(body: Mapping[str, Any], name: str) -> float:
    value = body.get(name)
    if value is None:
        raise ApiError(400, "missing_field", f"field {name!r} is required", field=name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ApiError(400, "bad_field", f"field {name!r} must be a number", field=name)
    return float(value)


def date_field(body: Mapping[str, Any], name: str) -> date:
    raw = required_str(body, name, max_len=10)
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError(
            400, "bad_field", f"field {name!r} must be a date YYYY-MM-DD, got {raw!r}", field=name
        ) from None


def str_list_field(body: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = body.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(400, "bad_field", f"field {name!r} must be a list of strings", field=name)
    return tuple(value)
