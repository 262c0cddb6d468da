"""Secrets at rest (`storage.sealing`): Fernet sealing, and revision 0101 sealing what
earlier revisions stored plain, and opening it again on the way down (both databases)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from storage.db import make_engine
from storage.migrate import current, downgrade, upgrade
from storage.sealing import PLAIN, SealError, SecretBox

KEY = "an-environment-key-of-more-than-32-bytes"
BRIDGE_SECRET = "bridge-secret-0123456789abcdef-0123456789abcdef-0123456789abcdef"
TOKEN = "ACCESS_TOKEN_xyz"
CONSOLE_KEY = "console-signing-key-stored-by-an-older-version"


def test_a_box_seals_and_opens_and_refuses_another_key() -> None:
    box = SecretBox(KEY)
    sealed = box.seal("s3cret")
    assert sealed.startswith("sealed:v1:") and "s3cret" not in sealed
    assert sealed != box.seal("s3cret")  # a fresh IV every time
    assert box.open(sealed) == "s3cret"
    assert box.open("legacy plain value") == "legacy plain value"
    assert box.seal(sealed) == sealed and box.seal("") == ""
    with pytest.raises(SealError, match="sealed with another AFTERSALES_SECRET_KEY"):
        SecretBox("another key, also more than 32 bytes").open(sealed)
    with pytest.raises(SealError, match="AFTERSALES_SECRET_KEY is not set"):
        PLAIN.open(sealed)
    with pytest.raises(SealError):
        box.open(sealed[:-4] + "AAAA")  # altered
    assert PLAIN.seal("s3cret") == "s3cret" and not PLAIN.sealing
    assert SecretBox.from_environ({"AFTERSALES_SECRET_KEY": f" {KEY} "}).open(sealed) == "s3cret"


def _rows(url: str) -> dict[str, str]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:

            def one(sql: str) -> str:
                return str(connection.execute(sa.text(sql)).scalar_one())

            return {
                "bridge": one("SELECT secret FROM bridge_keys"),
                "token": one("SELECT access_token FROM channel_tokens"),
                "console": one("SELECT value FROM console_secrets"),
            }
    finally:
        engine.dispose()


def _store_plain(url: str) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO bridge_keys (key_id, secret, shops, disabled, created_at) "
                    "VALUES ('shop-1', :s, '[]', false, :now)"
                ),
                {"s": BRIDGE_SECRET, "now": now},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO channel_tokens (channel, app_id, access_token, updated_at) "
                    "VALUES ('wechat', 'wxapp', :t, :now)"
                ),
                {"t": TOKEN, "now": now},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO console_secrets (name, value, created_at) "
                    "VALUES ('console.session_key', :v, :now)"
                ),
                {"v": CONSOLE_KEY, "now": now},
            )
    finally:
        engine.dispose()


def test_0101_seals_plain_secrets_and_the_downgrade_opens_them(db_url: str) -> None:
    upgrade(db_url, "0100")
    _store_plain(db_url)
    upgrade(db_url, "0101", secret_key=KEY)
    assert current(db_url) == "0101"
    sealed = _rows(db_url)
    box = SecretBox(KEY)
    assert all(value.startswith("sealed:v1:") for value in sealed.values()), sealed
    assert {name: box.open(value) for name, value in sealed.items()} == {
        "bridge": BRIDGE_SECRET,
        "token": TOKEN,
        "console": CONSOLE_KEY,
    }
    # Current already: nothing to seal twice.
    upgrade(db_url, secret_key=KEY)
    assert _rows(db_url) == sealed
    # Started with another key: refused at once, naming the secret.
    with pytest.raises(SealError, match=r"bridge_keys\.secret \('shop-1'\)"):
        upgrade(db_url, secret_key="a different key, also more than 32 bytes")
    with pytest.raises(SealError):
        downgrade(db_url, "0100")  # no key: the values cannot be opened
    downgrade(db_url, "0100", secret_key=KEY)
    assert _rows(db_url) == {"bridge": BRIDGE_SECRET, "token": TOKEN, "console": CONSOLE_KEY}


def test_without_a_key_nothing_is_sealed_until_a_start_with_one(db_url: str) -> None:
    upgrade(db_url, "0100")
    _store_plain(db_url)
    upgrade(db_url)
    assert _rows(db_url)["bridge"] == BRIDGE_SECRET
    upgrade(db_url, secret_key=KEY)  # what `serve` does on every start
    assert SecretBox(KEY).open(_rows(db_url)["bridge"]) == BRIDGE_SECRET
    assert _rows(db_url)["bridge"] != BRIDGE_SECRET
