"""Every route of the app, fuzzed: random bodies, headers, query strings and path values
must never be answered 5xx, and a refused request (4xx) must leave every table as it was
(but `WRITES_ON_REFUSAL`).

The routes are enumerated from the app itself (`create_app` with every module), so a new
endpoint is fuzzed without a line here; `test_every_route_is_fuzzed` keeps the list honest.
Bounded for CI: ``AFTERSALES_FUZZ_EXAMPLES`` examples per route (default 5), no deadline.
"""

from __future__ import annotations

import os
import re
import secrets
from typing import Any
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import create_app
from bot.channels.bridge_auth import sign
from bot.channels.wechat_crypto import compute_signature
from bot.context import SETTINGS
from bot.settings import Settings
from compliance.policy import load_policy
from tests.fuzz.conftest import BRIDGE_KEY_ID, BRIDGE_SECRET, ENVIRON, Served, _routes
from tests.fuzz.strategies import (
    CONTENT_TYPES,
    bodies,
    path_values,
    query_strings,
    texts,
    xml_bodies,
)

EXAMPLES = int(os.environ.get("AFTERSALES_FUZZ_EXAMPLES", "5"))
# A route whose successful call would end the fuzzing session's own sign-in.
NO_CONSOLE_AUTH = frozenset({"/console/logout"})
_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")

ROUTES = _routes(
    create_app(
        Settings(
            policy=load_policy(),
            db_url="sqlite:///unused-fuzz-route-list.sqlite3",
            migrate_on_start=False,
            scheduler_enabled=False,
            environ=ENVIRON,
        )
    )
)


def test_every_route_is_fuzzed(served: Served) -> None:
    assert served.routes == ROUTES
    paths = {path for _method, path in ROUTES}
    # The edges issue 15 names are all in the list.
    for expected in (
        "/bridge/v1/events",
        "/chat/api/messages",
        "/console/login",
        "/api/tickets/{number}/messages",
        "/wechat",
        "/api/duty",
    ):
        assert any(path.startswith(expected) for path in paths), expected
    assert len(ROUTES) > 60


def _real_values(served: Served, name: str) -> tuple[str, ...]:
    return {
        "number": (served.ticket_number,),
        "action": ("accept", "no-such-action"),
        "act": ("resend", "confirm"),
        "fmt": ("html", "xlsx"),
        "user": ("1", "2"),
        "message_id": ("1", "2"),
        "command_id": ("1",),
        "finding": ("1",),
        "session": (served.ticket_number,),
    }.get(name, ())


def _path(template: str, values: dict[str, str]) -> str:
    def fill(match: re.Match[str]) -> str:
        value = values[match.group(1)]
        return quote_from_bytes(value.encode("utf-8", "surrogatepass"), safe="")

    # `export.{fmt:html|xlsx}`: the regex of a variable is not part of the URL.
    return _PARAM.sub(fill, template)


def _tencent_signed(served: Served, template: str) -> str:
    """A signed callback query of the 公众号 (plain mode: the body is the XML itself)."""
    timestamp = str(int(served.app[SETTINGS].now().timestamp()))
    nonce = secrets.token_hex(8)
    which = "AFTERSALES_WECHAT_TOKEN" if template == "/wechat" else "AFTERSALES_WECOM_KF_TOKEN"
    signature = compute_signature(ENVIRON[which], timestamp, nonce)
    name = "signature" if template == "/wechat" else "msg_signature"
    return f"?{name}={signature}&timestamp={timestamp}&nonce={nonce}&openid=o-fuzz-openid-0001"


@st.composite
def requests(draw: st.DrawFn, served: Served, method: str, template: str) -> dict[str, Any]:
    values = {
        name: draw(path_values(_real_values(served, name))) for name in _PARAM.findall(template)
    }
    path_qs = _path(template, values) + draw(query_strings())
    if template in ("/wechat", "/wecom/kf") and draw(st.booleans()):
        # Signed, so the callback's body is read (its own query values are all it has).
        path_qs = _path(template, values) + _tencent_signed(served, template)
    content_type, body = draw(bodies())
    if path_qs.startswith("/wechat?signature=") and draw(st.booleans()):
        content_type, body = CONTENT_TYPES["xml"], draw(xml_bodies())
    body = body.replace(b"%7Bcsrf%7D", served.csrf.encode()).replace(
        b"{csrf}", served.csrf.encode()
    )
    headers: dict[str, str] = {}
    if content_type:
        headers["Content-Type"] = content_type
    auth = draw(st.sampled_from(("none", "staff", "console", "engineer", "engineer", "bridge")))
    # (With the console mounted the API's actor is the signed-in account; X-Staff-No is
    # then one more header to survive.)
    if auth == "staff":
        ascii_texts = texts.filter(lambda t: t.isascii() and t.isprintable())
        headers["X-Staff-No"] = draw(st.sampled_from(served.staff_nos) | ascii_texts)
    elif auth == "console" and template not in NO_CONSOLE_AUTH:
        headers["Cookie"] = served.console_cookie
        headers["X-CSRF-Token"] = served.csrf
    elif auth == "engineer" and template not in NO_CONSOLE_AUTH:
        headers["Cookie"] = served.engineer_cookie
        headers["X-CSRF-Token"] = served.engineer_csrf
        body = body.replace(served.csrf.encode(), served.engineer_csrf.encode())
    elif auth == "bridge":
        timestamp = str(int(served.app[SETTINGS].now().timestamp()))
        nonce = secrets.token_urlsafe(18)
        headers.update(
            {
                "X-Bridge-Key-Id": BRIDGE_KEY_ID,
                "X-Bridge-Timestamp": timestamp,
                "X-Bridge-Nonce": nonce,
                "X-Bridge-Signature": sign(BRIDGE_SECRET, method, path_qs, timestamp, nonce, body),
            }
        )
    return {"method": method, "path_qs": path_qs, "headers": headers, "body": body}


def check(served: Served, request: dict[str, Any]) -> tuple[int, bytes]:
    """Send `request`: never a 5xx; a 4xx leaves every table as it was."""

    async def attempt() -> tuple[int, bytes, dict[str, str], dict[str, str]]:
        # After a refusal nothing has written: its snapshot is this request's "before".
        before = served.last_snapshot or await served.snapshot()
        status, answer = await served.request(
            request["method"],
            request["path_qs"],
            headers=request["headers"],
            body=request["body"] if request["method"] != "GET" else None,
        )
        after = await served.snapshot() if 400 <= status < 500 else before
        served.last_snapshot = after if 400 <= status < 500 else None
        return status, answer, before, after

    status, answer, before, after = served.run(attempt())
    shown = f"{request['method']} {request['path_qs'][:300]} -> {status} {answer[:300]!r}"
    assert status < 500, shown
    if 400 <= status < 500:
        changed = sorted(table for table in before if before[table] != after[table])
        assert not changed, f"{shown}: refused but wrote to {changed}"
    return status, answer


@pytest.mark.parametrize(("method", "template"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_route_never_fails_and_a_refusal_writes_nothing(
    served: Served, method: str, template: str
) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        check(served, data.draw(requests(served, method, template)))

    run()
