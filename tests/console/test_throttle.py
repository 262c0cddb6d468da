"""Sign-in throttling through the real console: lockout with 429 and Retry-After, per
account and per client address, and an admin lifting it from the accounts page."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.accounts import NewAccount, create_account
from storage.account_models import SigninThrottle
from tests.console.conftest import FORM_TOKEN, PASSWORDS, Console, csrf_of


async def _try(browser: TestClient[Any, Any], username: str, password: str) -> Any:
    form = await browser.get("/console/login")
    token = FORM_TOKEN.search(await form.text())
    assert token is not None
    return await browser.post(
        "/console/login",
        data={"username": username, "password": password, "csrf_token": token.group(1)},
        allow_redirects=False,
    )


async def test_wrong_passwords_lock_the_account_even_for_the_right_one(
    console: Console, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.console.throttle")
    browser = await console.new_client()
    for _ in range(5):
        response = await _try(browser, "zhangsan", "guess-wrong")
        assert response.status == 401
    locked = await _try(browser, "zhangsan", PASSWORDS["zhangsan"])
    assert locked.status == 429
    assert 1 <= int(locked.headers["Retry-After"]) <= 30
    assert "登录失败次数过多" in await locked.text()
    assert "sign-in throttled: account:zhangsan after 5 attempts, locked for 30 s" in caplog.text
    # Another browser (another process would read the same row) is refused too.
    other = await console.new_client()
    assert (await _try(other, "zhangsan", PASSWORDS["zhangsan"])).status == 429
    # Other accounts from the same address still sign in.
    await console.sign_in("lisi")


async def test_an_admin_lifts_the_lockout_from_the_accounts_page(console: Console) -> None:
    async with console.services.tickets.transaction() as db:
        await db.run_sync(create_account, NewAccount("root", "admin", "root-pass-1"))
    browser = await console.new_client()
    for _ in range(6):
        await _try(browser, "zhangsan", "guess-wrong")
    admin = await console.sign_in("root", password="root-pass-1")
    page = await admin.get("/console/admin/users")
    text = await page.text()
    assert "登录锁定" in text and 'value="account:zhangsan"' in text
    token = await csrf_of(admin, "/console/admin/users")
    bad = await admin.post(
        "/console/admin/users/unlock", data={"csrf_token": token, "key": "zhangsan"}
    )
    assert bad.status == 400
    done = await admin.post(
        "/console/admin/users/unlock",
        data={"csrf_token": token, "key": "account:zhangsan"},
        allow_redirects=False,
    )
    assert done.status == 303 and done.headers["Location"].endswith("notice=signin_unlocked")
    await console.sign_in("zhangsan", client=browser)


async def test_a_success_clears_the_account_count(console: Console) -> None:
    browser = await console.new_client()
    for _ in range(4):
        assert (await _try(browser, "lisi", "guess-wrong")).status == 401
    await console.sign_in("lisi")
    async with console.services.sessionmaker() as db:
        keys = set(await db.scalars(select(SigninThrottle.key)))
    assert "account:lisi" not in keys
    for _ in range(4):
        assert (await _try(browser, "lisi", "guess-wrong")).status == 401
    await console.sign_in("lisi")


async def test_one_address_guessing_many_accounts_is_locked_out(console: Console) -> None:
    browser = await console.new_client()
    for n in range(20):
        assert (await _try(browser, f"nobody{n}", "guess-wrong")).status == 401
    refused = await _try(browser, "lisi", PASSWORDS["lisi"])
    assert refused.status == 429
    async with console.services.sessionmaker() as db:
        row = await db.get(SigninThrottle, "address:127.0.0.1")
    assert row is not None and row.failures == 20 and row.locked_until is not None
