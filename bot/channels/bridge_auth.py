"""Request signing for the 千牛 / 京麦 bridge: HMAC-SHA256, a 300 s window, one-time nonces.

Every bridge request carries four headers:

- ``X-Bridge-Key-Id``: which shared secret signed it;
- ``X-Bridge-Timestamp``: unix seconds; further than the allowed skew (300 s)
  from the bot's clock is refused;
- ``X-Bridge-Nonce``: 16–64 characters of ``[A-Za-z0-9_-]``, never reused
  by that key within the window (the bot keeps the nonces it has seen until
  their timestamp leaves the window);
- ``X-Bridge-Signature``: lower-case hex HMAC-SHA256, under the key's secret,
  of ``METHOD \\n PATH?QUERY \\n TIMESTAMP \\n NONCE \\n SHA256-HEX(BODY)`` —
  the request line is signed too, so a signed poll cannot be replayed as a
  result report or the other way round.

Keys come from ``AFTERSALES_BRIDGE_KEYS`` (``key_id=secret,…``; such keys may
speak for every shop) and from the ``bridge_keys`` table (optionally limited
to ``platform:shop_id`` entries; see `add_bridge_key`).  The signature is
checked before the nonce is stored, so a forged request cannot use up
nonces, and compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.context import Services
from bot.http import ApiError
from bot.settings import SettingsError
from storage.channel_models import BridgeKey, BridgeNonce
from storage.sealing import PLAIN, SecretBox

HEADER_KEY_ID = "X-Bridge-Key-Id"
HEADER_TIMESTAMP = "X-Bridge-Timestamp"
HEADER_NONCE = "X-Bridge-Nonce"
HEADER_SIGNATURE = "X-Bridge-Signature"

KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
_HEX_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
MIN_SECRET_LENGTH = 32


def body_digest(body: bytes) -> str:
    """SHA-256 of the body, lower-case hex (of b"" for a GET)."""
    return hashlib.sha256(body).hexdigest()


def string_to_sign(method: str, path_qs: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    """What the signature covers (see the module docstring)."""
    return "\n".join((method.upper(), path_qs, timestamp, nonce, body_digest(body))).encode()


def sign(secret: str, method: str, path_qs: str, timestamp: str, nonce: str, body: bytes) -> str:
    """The ``X-Bridge-Signature`` value for a request."""
    message = string_to_sign(method, path_qs, timestamp, nonce, body)
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class BridgeIdentity:
    """An authenticated bridge: its key id and the shops it may speak for (empty: all)."""

    key_id: str
    shops: frozenset[str] = frozenset()

    def may_serve(self, platform: str, shop_id: str) -> bool:
        return not self.shops or f"{platform}:{shop_id}" in self.shops


def parse_env_keys(raw: str, *, name: str = "AFTERSALES_BRIDGE_KEYS") -> dict[str, str]:
    """``key_id=secret,…`` into a dict; `SettingsError` naming the bad entry."""
    keys: dict[str, str] = {}
    for position, entry in enumerate(filter(None, (e.strip() for e in raw.split(","))), 1):
        key_id, sep, secret = entry.partition("=")
        key_id, secret = key_id.strip(), secret.strip()
        if not sep or not KEY_ID.fullmatch(key_id):
            raise SettingsError(
                f"{name}: entry {position} must be key_id=secret with a key id of letters, "
                "digits, _ . or - (at most 64)"
            )
        if len(secret) < MIN_SECRET_LENGTH:
            raise SettingsError(
                f"{name}: the secret of {key_id!r} has {len(secret)} characters; "
                f"use at least {MIN_SECRET_LENGTH} random ones"
            )
        if key_id in keys:
            raise SettingsError(f"{name}: key id {key_id!r} is given twice")
        keys[key_id] = secret
    return keys


class BridgeKeys:
    """Looks up a key's secret and scope: the environment's keys first, then the table."""

    def __init__(
        self,
        env_keys: Mapping[str, str],
        sessionmaker: async_sessionmaker[AsyncSession],
        box: SecretBox = PLAIN,
    ) -> None:
        self._env = dict(env_keys)
        self._sessionmaker = sessionmaker
        self._box = box

    async def lookup(self, key_id: str) -> tuple[str, BridgeIdentity] | None:
        """(secret, identity) of an enabled key, or None."""
        if key_id in self._env:
            return self._env[key_id], BridgeIdentity(key_id)
        async with self._sessionmaker() as session:
            row = await session.get(BridgeKey, key_id)
        if row is None or row.disabled:
            return None
        return self._box.open(row.secret), BridgeIdentity(key_id, frozenset(row.shops or ()))


async def add_bridge_key(
    sessionmaker: async_sessionmaker[AsyncSession],
    key_id: str,
    secret: str,
    shops: Iterable[str] = (),
    description: str | None = None,
    box: SecretBox = PLAIN,
) -> None:
    """Store a bridge key (limited to ``platform:shop_id`` entries when `shops` is given),
    sealed by `box`."""
    if not KEY_ID.fullmatch(key_id):
        raise ValueError(f"key id {key_id!r}: letters, digits, _ . or -, at most 64")
    if len(secret) < MIN_SECRET_LENGTH:
        raise ValueError(f"secret of {key_id!r}: at least {MIN_SECRET_LENGTH} characters")
    scoped = sorted(set(shops))
    bad = [shop for shop in scoped if shop.count(":") != 1 or shop.startswith(":")]
    if bad:
        raise ValueError(f"shops must be platform:shop_id entries, got {bad!r}")
    async with sessionmaker.begin() as session:
        session.add(
            BridgeKey(key_id=key_id, secret=box.seal(secret), shops=scoped, description=description)
        )


async def authenticate(
    request_method: str,
    path_qs: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    keys: BridgeKeys,
    services: Services,
    max_skew_s: float,
) -> BridgeIdentity:
    """The bridge that signed this request, or an `ApiError` (401/400) saying why not."""
    key_id = headers.get(HEADER_KEY_ID, "")
    timestamp = headers.get(HEADER_TIMESTAMP, "")
    nonce = headers.get(HEADER_NONCE, "")
    signature = headers.get(HEADER_SIGNATURE, "").lower()
    missing = [
        name
        for name, value in (
            (HEADER_KEY_ID, key_id),
            (HEADER_TIMESTAMP, timestamp),
            (HEADER_NONCE, nonce),
            (HEADER_SIGNATURE, signature),
        )
        if not value
    ]
    if missing:
        raise ApiError(401, "missing_auth", f"missing header(s): {', '.join(missing)}")
    if not KEY_ID.fullmatch(key_id):
        raise ApiError(401, "unknown_key", f"{HEADER_KEY_ID} is malformed")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise ApiError(400, "bad_timestamp", f"{HEADER_TIMESTAMP} must be unix seconds")
    if not NONCE.fullmatch(nonce):
        raise ApiError(400, "bad_nonce", f"{HEADER_NONCE} must be 16–64 of [A-Za-z0-9_-]")
    if not _HEX_SIGNATURE.fullmatch(signature):
        raise ApiError(401, "bad_signature", f"{HEADER_SIGNATURE} must be 64 hex digits")
    found = await keys.lookup(key_id)
    if found is None:
        raise ApiError(401, "unknown_key", f"key id {key_id!r} is unknown or disabled")
    secret, identity = found
    now = services.now()
    skew = abs(now.timestamp() - int(timestamp))
    if skew > max_skew_s:
        raise ApiError(
            401,
            "stale_timestamp",
            f"timestamp is {skew:.0f}s from the bot's clock (allowed {max_skew_s:g}s)",
        )
    expected = sign(secret, request_method, path_qs, timestamp, nonce, body)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise ApiError(401, "bad_signature", "signature does not match")
    await _use_nonce(services, key_id, nonce, now, int(timestamp), max_skew_s)
    return identity


async def _use_nonce(
    services: Services, key_id: str, nonce: str, now: datetime, timestamp: int, window_s: float
) -> None:
    # Kept until no timestamp it could be sent with is acceptable any more.
    latest = max(now.timestamp(), float(timestamp))
    expires_at = now + timedelta(seconds=latest - now.timestamp() + window_s)
    try:
        async with services.tickets.transaction() as session:
            await session.execute(
                delete(BridgeNonce)
                .where(BridgeNonce.expires_at < now)
                .execution_options(synchronize_session=False)
            )
            session.add(BridgeNonce(key_id=key_id, nonce=nonce, expires_at=expires_at))
    except IntegrityError:
        raise ApiError(401, "replayed_nonce", "this nonce was already used") from None
