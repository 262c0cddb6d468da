"""No console page or API answers without a session; every POST needs its CSRF token;
each role sees only what it may."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from yarl import URL

from bot.console.app import build_routes
from bot.console.auth import SESSION_COOKIE
from storage.account_models import User
from tests.console.conftest import Console, csrf_of, post_json

# Values for the routes' path parameters.
PATH_VALUES = {
    "number": "PS-20261123-0001",
    "action": "accept",
    "session": "PS-20261123-0001",
    "finding": "1",
    "fmt": "xlsx",
    "user": "1",
    "message_id": "1",
    "act": "resend",
    "attachment_id": "1",
}
GUARDED = [route for route in build_routes() if not route.public]


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)(?::[^}]*)?\}", lambda m: PATH_VALUES[m.group(1)], path).replace(
        "export.{fmt}", "export.xlsx"
    )


@pytest.mark.parametrize("route", GUARDED, ids=lambda r: f"{r.method} {r.path}")
async def test_every_route_refuses_without_a_session(console: Console, route: Any) -> None:
    path = "/console" + concrete(route.path)
    response = await console.client.request(route.method, path, allow_redirects=False)
    if route.api:
        assert response.status == 401
        assert (await response.json())["error"] == "unauthenticated"
    else:
        assert response.status == 303
        assert response.headers["Location"].startswith("/console/login?next=")


async def test_unknown_console_paths_and_the_bare_prefix_redirect_to_sign_in(
    console: Console,
) -> None:
    response = await console.client.get("/console/no/such/page", allow_redirects=False)
    assert response.status == 303
    location = URL(response.headers["Location"])
    assert (location.path, location.query["next"]) == ("/console/login", "/console/no/such/page")
    response = await console.client.get("/console/api/nothing", allow_redirects=False)
    assert response.status == 401
    response = await console.client.get("/console", allow_redirects=True)
    assert response.url.path == "/console/login"


@pytest.mark.parametrize(
    "route", [r for r in GUARDED if r.method == "POST"], ids=lambda r: f"{r.method} {r.path}"
)
async def test_every_form_and_action_rejects_a_missing_or_wrong_csrf_token(
    console: Console, route: Any
) -> None:
    browser = await console.sign_in("manager")
    path = "/console" + concrete(route.path)
    missing = await browser.post(path, data={"reason": "x"}, allow_redirects=False)
    assert missing.status == 403, await missing.text()
    wrong = await browser.post(
        path, data={"csrf_token": "forged", "reason": "x"}, allow_redirects=False
    )
    assert wrong.status == 403
    header = await browser.post(path, json={}, headers={"X-CSRF-Token": "forged"})
    assert header.status == 403


async def test_sign_in_form_needs_its_token_and_the_right_password(console: Console) -> None:
    browser = await console.new_client()
    no_token = await browser.post(
        "/console/login", data={"username": "qa", "password": "demo7001"}, allow_redirects=False
    )
    assert no_token.status == 403
    assert "已过期" in await no_token.text()
    assert SESSION_COOKIE not in {c.key for c in browser.session.cookie_jar}

    form = await browser.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', await form.text())
    assert token is not None
    wrong = await browser.post(
        "/console/login",
        data={"username": "qa", "password": "wrong-password", "csrf_token": token.group(1)},
        allow_redirects=False,
    )
    assert wrong.status == 401
    assert "用户名或密码不正确" in await wrong.text()

    form = await browser.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', await form.text())
    assert token is not None
    ok = await browser.post(
        "/console/login",
        data={
            "username": "qa",
            "password": "demo7001",
            "csrf_token": token.group(1),
            "next": "https://evil.example/console/",
        },
        allow_redirects=False,
    )
    assert ok.status == 303
    assert ok.headers["Location"] == "/console/"
    cookie = ok.cookies[SESSION_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/"
    home = await browser.get("/console/", allow_redirects=False)
    assert home.headers["Location"] == "/console/qa"


async def test_a_tampered_cookie_is_no_session(console: Console) -> None:
    browser = await console.sign_in("zhangsan")
    cookie = next(c for c in browser.session.cookie_jar if c.key == SESSION_COOKIE)
    body, mac = cookie.value.split(".")
    forged = body[:-1] + ("A" if body[-1] != "A" else "B") + "." + mac
    browser.session.cookie_jar.clear()
    browser.session.cookie_jar.update_cookies({SESSION_COOKIE: forged})
    response = await browser.get("/console/queue", allow_redirects=False)
    assert response.status == 303


async def test_sign_out_ends_the_session_even_for_a_copied_cookie(console: Console) -> None:
    browser = await console.sign_in("zhangsan")
    cookie = next(c for c in browser.session.cookie_jar if c.key == SESSION_COOKIE).value
    thief = await console.new_client()
    thief.session.cookie_jar.update_cookies({SESSION_COOKIE: cookie})
    assert (await thief.get("/console/queue", allow_redirects=False)).status == 200
    token = await csrf_of(browser, "/console/queue")
    refused = await browser.post("/console/logout", allow_redirects=False)
    assert refused.status == 403
    out = await browser.post("/console/logout", data={"csrf_token": token}, allow_redirects=False)
    assert out.status == 303
    assert out.headers["Location"] == "/console/login?notice=signed_out"
    response = await thief.get("/console/queue", allow_redirects=False)
    assert response.status == 303


async def test_a_disabled_account_loses_its_session(console: Console) -> None:
    browser = await console.sign_in("lisi")
    assert (await browser.get("/console/queue", allow_redirects=False)).status == 200
    async with console.services.sessionmaker() as db, db.begin():
        user = await db.scalar(select(User).where(User.username == "lisi"))
        assert user is not None
        user.disabled = True
    assert (await browser.get("/console/queue", allow_redirects=False)).status == 303


@pytest.mark.parametrize(
    ("username", "path", "status"),
    [
        ("zhangsan", "/console/queue", 200),
        ("zhangsan", "/console/qa", 403),
        ("zhangsan", "/console/qa/findings", 403),
        ("zhangsan", "/console/manager", 403),
        ("zhangsan", "/console/admin/users", 403),
        ("qa", "/console/qa", 200),
        ("qa", "/console/qa/false-positives", 200),
        ("qa", "/console/queue", 403),
        ("qa", "/console/manager", 403),
        ("manager", "/console/queue", 200),
        ("manager", "/console/qa", 200),
        ("manager", "/console/manager", 200),
        ("manager", "/console/admin/users", 403),
    ],
)
async def test_role_scoping_of_pages(
    console: Console, username: str, path: str, status: int
) -> None:
    browser = await console.sign_in(username)
    response = await browser.get(path, allow_redirects=False)
    assert response.status == status, await response.text()


async def test_an_engineer_sees_and_works_only_their_own_tickets(console: Console) -> None:
    first = await console.customer_says("服务器开不了机了", who="a")
    second = await console.customer_says("硬盘灯一直闪红色", who="b")
    # The bot assigns the engineer with the fewest open tickets: one each.
    owners = {
        t["number"]: t["engineer"]["staff_no"]
        for t in await console.services.views.list_tickets(status="active")
    }
    assert sorted(owners.values()) == ["1818", "2046"]
    mine = first if owners[first] == "1818" else second
    theirs = second if mine == first else first

    zhang = await console.sign_in("zhangsan")
    queue = await (await zhang.get("/console/queue")).text()
    assert mine in queue and theirs not in queue
    api = await (await zhang.get("/console/api/queue")).json()
    assert api["tickets"] == [mine]
    assert (await zhang.get(f"/console/tickets/{mine}")).status == 200
    assert (await zhang.get(f"/console/tickets/{theirs}")).status == 404
    assert (await zhang.get(f"/console/api/tickets/{theirs}/live")).status == 404
    token = await csrf_of(zhang, "/console/queue")
    stolen = await post_json(zhang, f"/console/api/tickets/{theirs}/accept", {}, token)
    assert stolen.status == 404
    presend = await post_json(zhang, f"/console/api/tickets/{theirs}/presend", {"text": "x"}, token)
    assert presend.status == 404
    # A manager-only action is refused to an engineer even on their own ticket.
    reassign = await post_json(
        zhang, f"/console/api/tickets/{mine}/reassign", {"to": "2046"}, token
    )
    assert reassign.status == 403

    manager = await console.sign_in("manager")
    everything = await (await manager.get("/console/api/queue")).json()
    assert sorted(everything["tickets"]) == sorted([first, second])
    assert (await manager.get(f"/console/tickets/{theirs}")).status == 200


async def test_the_engineer_api_accepts_the_console_session_with_csrf(console: Console) -> None:
    number = await console.customer_says("服务器开不了机了")
    owner = (await console.services.views.ticket(number))["engineer"]["staff_no"]
    browser = await console.sign_in("zhangsan" if owner == "1818" else "lisi")
    me = await browser.get("/api/me")
    assert me.status == 200
    assert (await me.json())["staff_no"] == owner
    refused = await browser.post(f"/api/tickets/{number}/accept", json={})
    assert refused.status == 403
    token = await csrf_of(browser, "/console/queue")
    accepted = await post_json(browser, f"/api/tickets/{number}/accept", {}, token)
    assert accepted.status == 200, await accepted.text()
    anonymous: TestClient[Any, Any] = await console.new_client()
    assert (await anonymous.get("/api/me")).status == 401
    # The header the API trusted before the console existed no longer signs anyone in.
    assert (await anonymous.get("/api/me", headers={"X-Staff-No": "9001"})).status == 401
