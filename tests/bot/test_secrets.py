"""Secrets: the banner hides the database password, a non-demo `serve` needs
AFTERSALES_SECRET_KEY, bridge keys are sealed at rest, cookies can be forced Secure and
a trusted proxy's scheme and address are believed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.app import create_app
from bot.channels import web as web_channel
from bot.channels.bridge_auth import BridgeKeys, add_bridge_key
from bot.console import app as console_app
from bot.serve import _banner, displayed_url, secret_key_problem
from bot.settings import Settings
from compliance.policy import Policy
from storage.account_models import SigninThrottle
from storage.channel_models import BridgeKey
from tests.bot.conftest import Bot, make_settings, start_bot
from tests.support import FakeClock

REPO = Path(__file__).resolve().parents[2]
KEY = "an-environment-key-of-more-than-32-bytes"


def test_the_banner_masks_the_database_password(policy: Policy) -> None:
    url = "postgresql+psycopg://aftersales:pa55w0rd@db.internal:5432/prod"
    settings = Settings(policy=policy, db_url=url)
    banner = _banner(settings, header_auth=False)
    assert "pa55w0rd" not in banner
    assert "postgresql+psycopg://aftersales:***@db.internal:5432/prod" in banner
    assert displayed_url("sqlite:///aftersales.sqlite3") == "sqlite:///aftersales.sqlite3"
    assert displayed_url("nonsense://u:secret@h/x") == "nonsense://u:***@h/x"


def test_only_the_demo_starts_without_a_secret_key(policy: Policy) -> None:
    problem = secret_key_problem(Settings(policy=policy))
    assert problem is not None and "export AFTERSALES_SECRET_KEY=" in problem
    assert "--demo" in problem
    assert secret_key_problem(Settings(policy=policy, demo=True)) is None
    short = Settings(policy=policy, environ={"AFTERSALES_SECRET_KEY": "short"})
    assert secret_key_problem(short) == "AFTERSALES_SECRET_KEY: at least 32 bytes needed, got 5"
    keyed = Settings(policy=policy, environ={"AFTERSALES_SECRET_KEY": KEY})
    assert secret_key_problem(keyed) is None


def test_serve_without_a_secret_key_refuses_to_start(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("AFTERSALES_SECRET_KEY", None)
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve", "--port", "9"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "AFTERSALES_SECRET_KEY is not set" in result.stderr
    assert "secrets.token_urlsafe" in result.stderr
    assert not (tmp_path / "aftersales.sqlite3").exists()  # refused before touching anything


async def test_bridge_keys_are_sealed_at_rest(
    aiohttp_client: Any, policy: Policy, db_url: str, clock: FakeClock
) -> None:
    bot = await start_bot(
        aiohttp_client, policy, db_url, clock, environ={"AFTERSALES_SECRET_KEY": KEY}
    )
    services = bot.services
    assert services.secrets.sealing
    secret = "shop-secret-0123456789abcdef0123456789"
    await add_bridge_key(services.sessionmaker, "shop-1", secret, box=services.secrets)
    async with services.sessionmaker() as db:
        stored = await db.scalar(select(BridgeKey.secret))
    assert stored is not None and stored.startswith("sealed:v1:") and secret not in stored
    found = await BridgeKeys({}, services.sessionmaker, services.secrets).lookup("shop-1")
    assert found is not None and found[0] == secret


async def _login_cookie_header(client: Any, **headers: str) -> str:
    response = await client.get("/console/login", headers=headers)
    assert response.status == 200
    return ";".join(response.headers.getall("Set-Cookie"))


async def test_secure_cookies_can_be_forced_and_a_proxy_trusted(
    aiohttp_client: Any, policy: Policy, sqlite_url: str, clock: FakeClock
) -> None:
    def app(**overrides: Any) -> Any:
        settings = make_settings(policy, sqlite_url, clock, **overrides)
        return create_app(settings, channel_modules=[web_channel], page_modules=[console_app])

    plain = await aiohttp_client(app())
    assert "Secure" not in await _login_cookie_header(plain, **{"X-Forwarded-Proto": "https"})
    forced = await aiohttp_client(app(secure_cookies=True))
    assert "Secure" in await _login_cookie_header(forced)
    proxied = await aiohttp_client(app(trust_proxy=True))
    assert "Secure" not in await _login_cookie_header(proxied)
    assert "Secure" in await _login_cookie_header(proxied, **{"X-Forwarded-Proto": "https"})


async def test_behind_a_trusted_proxy_the_throttle_counts_the_forwarded_address(
    aiohttp_client: Any, policy: Policy, sqlite_url: str, clock: FakeClock
) -> None:
    settings = make_settings(policy, sqlite_url, clock, trust_proxy=True)
    client = await aiohttp_client(
        create_app(settings, channel_modules=[web_channel], page_modules=[console_app])
    )
    bot = Bot(client, clock)
    form = await client.get("/console/login")
    token = _csrf(await form.text())
    await client.post(
        "/console/login",
        data={"username": "x", "password": "y", "csrf_token": token},
        headers={"X-Forwarded-For": "198.51.100.7, 203.0.113.9"},
    )
    async with bot.services.sessionmaker() as db:
        keys = set(await db.scalars(select(SigninThrottle.key)))
    assert keys == {"account:x", "address:203.0.113.9"}


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]*)"', html)
    assert match is not None
    return match.group(1)
