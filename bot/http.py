"""Request parsing and error answers shared by the API, the console and the channels.

Anything a client can get wrong (not JSON, a body over the size limit, a
missing or mistyped field, a form that is not UTF-8, a query value that is no
number) becomes an `ApiError`, which the `json_errors` middleware turns into a
4xx JSON answer and one log line naming the reason.  The rules themselves
(text, ids, finite numbers, times and their range) are `bot.validation`'s;
this module applies them to JSON bodies (`json_object`, the ``*_field``
helpers, `validated` for a pydantic model), forms (`read_form`, the one form
parser: never ``request.post()``), query strings (`query_model`, `query_id`)
and, through `input_guard`, to every query value, path parameter and ``X-``
header of every request.  Handlers never catch broad exceptions themselves: a
500 means a bug.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import date
from typing import Any, TypeVar
from urllib.parse import unquote_to_bytes

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDict, MultiDictProxy
from pydantic import BaseModel, ValidationError

from bot.validation import (
    Invalid,
    parse_day,
    parse_finite,
    parse_id,
    problem,
    shown,
    text_problem,
)
from bot.validation_models import first_error

log = logging.getLogger("bot.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=BaseModel)

FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
# The longest JSON integer literal taken (an int8 has 19 digits).
_MAX_INT_DIGITS = 20


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


def _dumps(obj: Any) -> str:
    text = json.dumps(obj, ensure_ascii=False)
    # A refusal may echo what the client sent (a field name with a lone surrogate):
    # then \\u escapes, since such a string cannot go out as UTF-8.
    return json.dumps(obj) if text_problem(text) else text


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON answer that keeps Chinese readable (no \\u escapes)."""
    return web.json_response(data, status=status, dumps=_dumps)


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


def bad_field(name: str, message: str, code: str = "bad_field") -> ApiError:
    """A 400 naming the field: ``{"error": code, "field": name, "message": "name: …"}``."""
    return ApiError(400, code, f"{name}: {message}", field=name)


class _BadNumber(ValueError):
    pass


def _constant(name: str) -> Any:
    raise _BadNumber(f"{name} is not a number this API takes (numbers must be finite)")


def _float(literal: str) -> float:
    try:
        return parse_finite(float(literal))
    except Invalid:
        raise _BadNumber(f"{literal[:20]} is out of range (numbers must be finite)") from None


def _int(literal: str) -> int:
    if len(literal.lstrip("-")) > _MAX_INT_DIGITS:
        raise _BadNumber(f"an integer of {len(literal)} digits is out of range")
    return int(literal)


def json_object(raw: bytes, what: str = "a JSON object") -> dict[str, Any]:
    """`raw` decoded as one JSON object, or a 400 `ApiError` saying what is wrong with it:
    not UTF-8, not JSON, NaN / Infinity / a number out of range, nested too deep, or a
    string anywhere in it that `bot.validation.text_problem` refuses (naming its path)."""
    if not raw:
        raise ApiError(400, "empty_body", f"request body is empty; expected {what}")
    try:
        data = json.loads(
            raw.decode("utf-8"), parse_constant=_constant, parse_float=_float, parse_int=_int
        )
    except UnicodeDecodeError:
        raise ApiError(400, "bad_encoding", "request body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise ApiError(
            400, "malformed_json", f"not valid JSON at line {exc.lineno} column {exc.colno}"
        ) from None
    except _BadNumber as exc:
        raise ApiError(400, "bad_number", str(exc)) from None
    except RecursionError:
        raise ApiError(400, "malformed_json", "JSON nested too deeply") from None
    if not isinstance(data, dict):
        raise ApiError(400, "not_an_object", f"expected {what}, got {type(data).__name__}")
    found = problem(data)
    if found is not None:
        raise bad_field(*found)
    return data


def validated(model: type[M], data: Mapping[str, Any]) -> M:
    """`data` as the pydantic `model`, or a 400 `ApiError` naming the first bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        name, message, code = first_error(exc)
        raise bad_field(name, message, code) from None


def query_model(request: web.Request, model: type[M]) -> M:
    """The query string as `model` (its fields the rules' types, e.g. `validation.Id`);
    an empty value is as if left out."""
    values = {key: value for key, value in request.query.items() if value != ""}
    return validated(model, values)


def query_id(request: web.Request, name: str, default: int = 0, *, low: int = 0) -> int:
    """A whole-number query parameter (an id or an ``after`` cursor): ASCII digits, within
    the int4 range; left out or empty: `default`."""
    raw = request.query.get(name, "")
    if raw == "":
        return default
    try:
        return parse_id(raw, low=low)
    except Invalid as exc:
        raise bad_field(name, str(exc), "bad_query") from None


def path_id(request: web.Request, name: str, what: str = "resource") -> int:
    """A whole-number path parameter; anything else (or out of range) is a 404."""
    raw = request.match_info[name]
    try:
        return parse_id(raw)
    except Invalid:
        raise ApiError(404, f"no_such_{what}", f"no {what} {raw[:20]!r}") from None


# -- forms ------------------------------------------------------------------------------

_FORM_CACHE: web.RequestKey[MultiDictProxy[str]] = web.RequestKey("bot.http.form", MultiDictProxy)


def _urlencoded(raw: bytes) -> MultiDict[str]:
    form: MultiDict[str] = MultiDict()
    for index, pair in enumerate(raw.split(b"&")):
        if not pair:
            continue
        name_raw, _, value_raw = pair.partition(b"=")
        name_bytes = unquote_to_bytes(name_raw.replace(b"+", b" "))
        value_bytes = unquote_to_bytes(value_raw.replace(b"+", b" "))
        try:
            name = name_bytes.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(
                400, "bad_encoding", f"form field #{index + 1}: its name is not UTF-8"
            ) from None
        try:
            value = value_bytes.decode("utf-8")
        except UnicodeDecodeError:
            raise bad_field(name, "is not UTF-8", "bad_encoding") from None
        form.add(name, value)
    return form


async def read_form(request: web.Request) -> MultiDictProxy[str]:
    """The request's form fields (urlencoded or multipart), decoded as UTF-8 and checked
    by the text rule; a body that is not UTF-8, malformed multipart, a file upload or a
    bad character is a 400 naming the field.  Any other content type: no fields.
    The one way the console reads a form (``request.post()`` would answer 500)."""
    cached = request.get(_FORM_CACHE)
    if cached is not None:
        return cached
    form: MultiDict[str] = MultiDict()
    if request.content_type == "application/x-www-form-urlencoded":
        form = _urlencoded(await read_body(request))
    elif request.content_type == "multipart/form-data":
        try:
            posted = await request.post()
        except web.HTTPRequestEntityTooLarge:
            raise ApiError(413, "body_too_large", "请求体超过大小上限") from None
        except (
            HttpProcessingError,  # a part's headers that are not HTTP headers
            ValueError,
            AssertionError,
            UnicodeDecodeError,
            LookupError,
            RuntimeError,
        ) as exc:
            detail = shown(str(exc).replace("\n", " ").strip(), 200)
            raise ApiError(400, "malformed_form", f"malformed multipart body: {detail}") from None
        for name, value in posted.items():
            if not isinstance(value, str):
                raise bad_field(name, "file uploads are not accepted here")
            form.add(name, value)
    for name, value in form.items():
        reason = text_problem(name) or text_problem(value)
        if reason is not None:
            raise bad_field(name, reason)
    proxy = MultiDictProxy(form)
    request[_FORM_CACHE] = proxy
    return proxy


def form_text(form: Mapping[str, str], name: str, max_len: int, *, strip: bool = True) -> str:
    """A form field as text ('' when absent), cut to `max_len` characters."""
    value = form.get(name, "")
    text = value.strip() if strip else value
    return text[:max_len]


# -- every request ----------------------------------------------------------------------


@web.middleware
async def input_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse (400, naming it) a query value, path parameter or ``X-`` header / cookie
    that the text rule refuses, before any handler passes it to the database."""
    for name, value in request.query.items():
        reason = text_problem(name) or text_problem(value)
        if reason is not None:
            raise bad_field(name, reason, "bad_query")
    for name, value in request.match_info.items():
        reason = text_problem(value)
        if reason is not None:
            raise ApiError(404, "not_found", f"path parameter {name} {reason}")
    for name, value in request.headers.items():
        if name.lower().startswith("x-") or name.lower() == "cookie":
            reason = text_problem(value)
            if reason is not None:
                raise ApiError(400, "bad_header", f"header {name} {reason}", field=name)
    return await handler(request)


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
    reason = text_problem(value)
    if reason is not None:
        raise bad_field(name, reason)
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
    try:
        return parse_finite(value)
    except Invalid as exc:
        raise bad_field(name, str(exc)) from None


def date_field(body: Mapping[str, Any], name: str) -> date:
    raw = required_str(body, name, max_len=10)
    try:
        return parse_day(raw)
    except Invalid:
        raise ApiError(
            400,
            "bad_field",
            f"field {name!r} must be a date YYYY-MM-DD in 1970–2100, got {raw!r}",
            field=name,
        ) from None


def str_list_field(body: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = body.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(400, "bad_field", f"field {name!r} must be a list of strings", field=name)
    for item in value:
        reason = text_problem(item)
        if reason is not None:
            raise bad_field(name, reason)
    return tuple(value)
