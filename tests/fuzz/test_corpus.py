"""Every concrete bad input of issue 15, sent to the served app (SQLite and PostgreSQL):
each is refused with a 4xx whose JSON names what is wrong, and leaves every table as it
was (but `WRITES_ON_REFUSAL`).  Then the same edges still take good input."""

from __future__ import annotations

import json
import secrets
from typing import Any
from urllib.parse import quote

import pytest

from bot.channels.bridge_auth import sign
from bot.context import SETTINGS
from tests.fuzz.conftest import BRIDGE_KEY_ID, BRIDGE_SECRET, Served
from tests.fuzz.test_fuzz_routes import check

BOUNDARY = "corpusBoundary"


def _event(**change: Any) -> dict[str, Any]:
    event = {
        "event_id": f"corpus-{secrets.token_hex(6)}",
        "platform": "tmall",
        "shop_id": "tm-corpus",
        "conversation_id": "conv-corpus",
        "buyer_uid": f"buyer-{secrets.token_hex(4)}",
        "sender_role": "buyer",
        "msg_type": "text",
        "text": "硬盘亮红灯",
        "platform_time": "2026-11-23T09:31:00+08:00",
    }
    event.update(change)
    return event


def _signed(served: Served, method: str, path_qs: str, body: bytes) -> dict[str, str]:
    timestamp = str(int(served.app[SETTINGS].now().timestamp()))
    nonce = secrets.token_urlsafe(18)
    return {
        "Content-Type": "application/json",
        "X-Bridge-Key-Id": BRIDGE_KEY_ID,
        "X-Bridge-Timestamp": timestamp,
        "X-Bridge-Nonce": nonce,
        "X-Bridge-Signature": sign(BRIDGE_SECRET, method, path_qs, timestamp, nonce, body),
    }


def _json(value: Any) -> bytes:
    return json.dumps(value).encode("ascii")  # a lone surrogate as its \\ud800 escape


# (name, how to build the request from the served app, the statuses that count as refused)
Case = tuple[str, Any, tuple[int, ...]]


def _bridge(**change: Any) -> Any:
    def build(served: Served) -> dict[str, Any]:
        body = _json(_event(**change))
        path = "/bridge/v1/events"
        return {
            "method": "POST",
            "path_qs": path,
            "headers": _signed(served, "POST", path, body),
            "body": body,
        }

    return build


def _raw_bridge(body: bytes) -> Any:
    def build(served: Served) -> dict[str, Any]:
        path = "/bridge/v1/events"
        return {
            "method": "POST",
            "path_qs": path,
            "headers": _signed(served, "POST", path, body),
            "body": body,
        }

    return build


def _chat(text: Any) -> Any:
    def build(served: Served) -> dict[str, Any]:
        body = _json(
            {"visitor": "v" * 20 + secrets.token_hex(4), "client_id": "c-corpus1", "text": text}
        )
        return {
            "method": "POST",
            "path_qs": "/chat/api/messages",
            "headers": {"Content-Type": "application/json"},
            "body": body,
        }

    return build


def _raw_json(path: str, raw: bytes, *, staff: bool = True, console: bool = False) -> Any:
    def build(served: Served) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if staff or console:
            # With the console mounted, the API's actor is the signed-in account: the
            # ticket's own engineer, so an action runs past the "not yours" check.
            headers.update(Cookie=served.engineer_cookie, **{"X-CSRF-Token": served.engineer_csrf})
        return {
            "method": "POST",
            "path_qs": path.format(n=served.ticket_number),
            "headers": headers,
            "body": raw,
        }

    return build


def _get(path: str, *, staff: bool = False, console: bool = False) -> Any:
    def build(served: Served) -> dict[str, Any]:
        headers: dict[str, str] = {}
        if staff or console:
            headers["Cookie"] = served.console_cookie
        return {
            "method": "GET",
            "path_qs": path.format(n=served.ticket_number, v=served.visitor),
            "headers": headers,
            "body": None,
        }

    return build


def _form(
    path: str,
    raw: bytes,
    *,
    console: bool = True,
    login: bool = False,
    content_type: str = "application/x-www-form-urlencoded",
) -> Any:
    def build(served: Served) -> dict[str, Any]:
        headers = {"Content-Type": content_type}
        if console:
            headers["Cookie"] = served.console_cookie
        if login:
            headers["Cookie"] = served.login_cookie
        body = raw.replace(b"{csrf}", (served.login_token if login else served.csrf).encode())
        return {
            "method": "POST",
            "path_qs": path.format(n=served.ticket_number),
            "headers": headers,
            "body": body,
        }

    return build


MALFORMED_MULTIPART = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="username"\r\n\r\nzhangsan'
).encode()  # no closing boundary
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
# A control character in a part's header: aiohttp's own parser raises InvalidHeader.
BAD_PART_HEADER = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="\x1e\x08"\r\n\r\n\r\n--{BOUNDARY}--\r\n'
).encode()
SEND = "/api/tickets/{n}/messages"

CASES: list[Case] = [
    # The 千牛/京麦 bridge: signed events that were answered 500 after rows were committed.
    ("bridge text NUL", _bridge(text="开不了机\x00"), (400,)),
    ("bridge buyer_nick NUL", _bridge(buyer_nick="买\x00家"), (400,)),
    ("bridge text lone surrogate", _bridge(text="开不了机\ud800"), (400,)),
    ("bridge buyer_nick lone surrogate", _bridge(buyer_nick="\udfff"), (400,)),
    ("bridge C0 control", _bridge(text="\x1b[2J"), (400,)),
    ("bridge platform_time year 1", _bridge(platform_time="0001-01-01T00:00:00+08:00"), (400,)),
    (
        "bridge platform_time year 9999 negative offset",
        _bridge(platform_time="9999-12-31T23:59:59-05:00"),
        (400,),
    ),
    ("bridge platform_time year 9999 naive", _bridge(platform_time="9999-12-31T23:59:59"), (400,)),
    (
        "bridge platform_time full-width digits",
        _bridge(platform_time="２０２６-11-23T09:31:00+08:00"),
        (400,),
    ),
    ("bridge command_id beyond int4", _bridge(command_id=2**31), (400,)),
    ("bridge order with NUL", _bridge(order={"order_id": "o\x00"}), (400,)),
    (
        "bridge NaN",
        _raw_bridge(_json(_event()).replace(b'"text": "', b'"n": NaN, "text": "')),
        (400,),
    ),
    (
        "bridge 1e309",
        _raw_bridge(_json(_event()).replace(b'"text": "', b'"n": 1e309, "text": "')),
        (400,),
    ),
    ("bridge 200000 [", _raw_bridge(b"[" * 60_000), (400,)),
    (
        "bridge result of a command beyond int4",
        lambda served: {
            "method": "POST",
            "path_qs": "/bridge/v1/commands/99999999999/result",
            "headers": _signed(
                served, "POST", "/bridge/v1/commands/99999999999/result", b'{"status": "submitted"}'
            ),
            "body": b'{"status": "submitted"}',
        },
        (404,),
    ),
    (
        "bridge poll wait NaN",
        lambda served: {
            "method": "GET",
            "path_qs": "/bridge/v1/commands?wait=nan",
            "headers": _signed(served, "GET", "/bridge/v1/commands?wait=nan", b""),
            "body": None,
        },
        (400,),
    ),
    # Web chat and the engineer's send: NUL / lone surrogate left a customer row behind.
    ("web chat NUL", _chat("你好\x00"), (400,)),
    ("web chat lone surrogate", _chat("你好\ud800"), (400,)),
    ("web chat NaN", _raw_json("/chat/api/messages", b'{"visitor": NaN}', staff=False), (400,)),
    ("web chat after=²", _get("/chat/api/messages?visitor={v}&after=%C2%B2"), (400,)),
    (
        "web chat after beyond int4",
        _get("/chat/api/messages?visitor={v}&after=99999999999"),
        (400,),
    ),
    (
        "web chat after 20 digits",
        _get("/chat/api/messages?visitor={v}&after=99999999999999999999"),
        (400,),
    ),
    ("engineer send NUL (API)", _raw_json(SEND, _json({"text": "好的\x00"})), (400,)),
    ("engineer send lone surrogate (API)", _raw_json(SEND, _json({"text": "\ud800"})), (400,)),
    (
        "engineer send NUL (console)",
        _raw_json("/console" + SEND, _json({"text": "好的\x00"}), staff=False, console=True),
        (400,),
    ),
    ("onsite distance NaN", _raw_json("/api/tickets/{n}/onsite", b'{"distance_km": NaN}'), (400,)),
    (
        "onsite distance 1e309",
        _raw_json("/api/tickets/{n}/onsite", b'{"distance_km": 1e309}'),
        (400,),
    ),
    (
        "onsite distance Infinity",
        _raw_json("/api/tickets/{n}/onsite", b'{"distance_km": -Infinity}'),
        (400,),
    ),
    (
        "huge integer literal",
        _raw_json("/api/tickets/{n}/onsite", b'{"distance_km": 1' + b"0" * 5000 + b"}"),
        (400,),
    ),
    (
        "contract signed in year 9999",
        _raw_json(
            "/api/tickets/{n}/contract",
            _json({"number": "C-1", "parts": "硬盘", "signed_on": "9999-12-31", "term_months": 12}),
        ),
        (400,),
    ),
    (
        "contract signed in year 1",
        _raw_json(
            "/api/tickets/{n}/contract",
            _json({"number": "C-1", "parts": "硬盘", "signed_on": "0001-01-01", "term_months": 12}),
        ),
        (400,),
    ),
    (
        "contract term NaN",
        _raw_json(
            "/api/tickets/{n}/contract",
            _json({"number": "C-1", "parts": "硬盘", "signed_on": "2026-01-01"})[:-1]
            + b', "term_months": NaN}',
        ),
        (400,),
    ),
    (
        "warranty proof message id ²",
        _raw_json("/api/tickets/{n}/warranty", _json({"proof_message_id": "²"})),
        (400,),
    ),
    (
        "warranty proof message id beyond int8",
        _raw_json("/api/tickets/{n}/warranty", _json({"proof_message_id": "9" * 20})),
        (400,),
    ),
    # Query values.
    ("reminders since naive", _get("/api/reminders?since=2026-01-01T00:00:00", staff=True), (400,)),
    (
        "reminders since year 1",
        _get("/api/reminders?since=0001-01-01T00:00:00%2B00:00", staff=True),
        (400,),
    ),
    (
        "reminders since year 9999",
        _get("/api/reminders?since=9999-12-31T23:59:59-05:00", staff=True),
        (400,),
    ),
    ("reminders since unix seconds", _get("/api/reminders?since=1700000000", staff=True), (400,)),
    ("duty month 9999-12", _get("/api/duty?month=9999-12", staff=True), (400,)),
    ("manager month 9999-12", _get("/console/manager?month=9999-12", console=True), (400,)),
    ("live after=²", _get("/console/api/tickets/{n}/live?after=%C2%B2", console=True), (400,)),
    (
        "live after beyond int4",
        _get("/console/api/tickets/{n}/live?after_event=2147483648", console=True),
        (400,),
    ),
    ("tickets engineer NUL", _get("/api/tickets?engineer=%00", staff=True), (400,)),
    ("ticket number NUL", _get("/api/tickets/PS%00", staff=True), (404,)),
    (
        "staff header lone surrogate",
        lambda served: {
            "method": "GET",
            "path_qs": "/api/me",
            "headers": {"X-Staff-No": "\udcff"},
            "body": None,
        },
        (400, 401),
    ),
    # Forms: not UTF-8, malformed multipart (the sign-in was an unauthenticated 500).
    (
        "sign-in username=%ff%fe",
        _form(
            "/console/login",
            b"username=%ff%fe&password=x&csrf_token={csrf}",
            console=False,
            login=True,
        ),
        (400,),
    ),
    (
        "sign-in raw \\xff body",
        _form("/console/login", b"username=\xff\xfe&password=x", console=False, login=True),
        (400,),
    ),
    (
        "sign-in malformed multipart",
        _form(
            "/console/login", MALFORMED_MULTIPART, console=False, login=True, content_type=MULTIPART
        ),
        (400,),
    ),
    (
        "sign-in multipart part header with a control character",
        _form("/console/login", BAD_PART_HEADER, console=False, login=True, content_type=MULTIPART),
        (400,),
    ),
    (
        "sign-in NUL username",
        _form(
            "/console/login",
            b"username=a%00b&password=x&csrf_token={csrf}",
            console=False,
            login=True,
        ),
        (400,),
    ),
    ("CSRF guard not UTF-8", _form("/console/manager/reassign", b"csrf_token=%ff%fe"), (400,)),
    (
        "CSRF guard malformed multipart",
        _form("/console/qa/run", MALFORMED_MULTIPART, content_type=MULTIPART),
        (400,),
    ),
    (
        "QA review not UTF-8",
        _form("/console/qa/findings/1/review", b"csrf_token={csrf}&reason=%ff"),
        (400,),
    ),
    (
        "QA review id beyond int4",
        _form("/console/qa/findings/99999999999/review", b"csrf_token={csrf}"),
        (404,),
    ),
    (
        "manager reassign NUL",
        _form("/console/manager/reassign", b"csrf_token={csrf}&number={n}&to=%00"),
        (400,),
    ),
    (
        "admin user form not UTF-8",
        _form("/console/admin/users", b"csrf_token={csrf}&username=%ff%fe&role=qa"),
        (400,),
    ),
    (
        "admin user state id beyond int4",
        _form("/console/admin/users/99999999999/state", b"csrf_token={csrf}&disabled=1"),
        (404,),
    ),
    (
        "admin user state id ²",
        _form("/console/admin/users/%C2%B2/state", b"csrf_token={csrf}&disabled=1"),
        (404,),
    ),
    (
        "duty rota month 9999-12",
        _form("/console/duty/rota", b"csrf_token={csrf}&month=9999-12&staff_no=1818"),
        (400,),
    ),
    (
        "file upload in a form",
        _form(
            "/console/manager/reassign",
            (
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="csrf_token"\r\n'
                f"\r\n{{csrf}}\r\n"
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="to"; filename="a.txt"\r\n'
                f"\r\nx\r\n--{BOUNDARY}--\r\n"
            ).encode(),
            content_type=MULTIPART,
        ),
        (400,),
    ),
]


@pytest.mark.parametrize(("name", "build", "refused"), CASES, ids=[case[0] for case in CASES])
def test_issue_case_is_refused_by_name_and_writes_nothing(
    served: Served, name: str, build: Any, refused: tuple[int, ...]
) -> None:
    request = build(served)
    status, answer = check(served, request)
    assert status in refused, (name, status, answer[:300])
    # A reason the client can log: JSON with a stable code and a message (an HTML page's
    # 404 says so in its text).
    if answer.startswith(b"{"):
        reason = json.loads(answer)
        assert reason.get("error") and reason.get("message"), reason
    else:
        assert str(status) in answer.decode("utf-8", "replace") or answer, answer


def test_the_edges_still_take_good_input(served: Served) -> None:
    """The refusals above are not a closed door: the same edges store good input."""
    body = _json(_event(text="型号是 R740，时间带偏移", platform_time="2026-11-23T09:31:00Z"))
    status, answer = served.run(
        served.request(
            "POST",
            "/bridge/v1/events",
            headers=_signed(served, "POST", "/bridge/v1/events", body),
            body=body,
        )
    )
    assert status == 200, answer
    assert json.loads(answer)["customer_message"] is True
    status, answer = check(served, _chat("tab\tand\nnewline are fine")(served))
    assert status == 201, answer
    good = f"/chat/api/messages?visitor={quote(served.visitor)}&after=0"
    assert served.run(served.request("GET", good))[0] == 200
