"""Signed session cookies and CSRF tokens for the console.

A session is a small JSON payload (user id, issue time, a random nonce)
signed with HMAC-SHA256; nothing secret is in it, it is only tamper-proof.
The CSRF token of a session is derived from its nonce with a second key, so
the server keeps no per-session state and several `serve` processes that
share the secret (environment or database) accept each other's cookies.

Keys for the two purposes are derived from the one secret so that a CSRF
token can never be replayed as a session signature or the other way round.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

# Twelve hours: one working shift; the engineer signs in again next morning.
DEFAULT_SESSION_TTL_S = 12 * 3600
# The sign-in form's token lives in its own short-lived cookie (no session yet).
LOGIN_TOKEN_TTL_S = 3600
MIN_SECRET_BYTES = 32


class SecretKeyError(ValueError):
    """A configured secret that is too short to sign anything safely."""


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_secret() -> str:
    """A fresh random secret, as stored in the database on first start."""
    return secrets.token_urlsafe(48)


@dataclass(frozen=True, slots=True)
class SessionData:
    """What a signed session cookie says: who, since when, and its CSRF nonce."""

    user_id: int
    # Milliseconds since the epoch: compared with the account's
    # `sessions_valid_after`, which a sign-out sets to "now".
    issued_at_ms: int
    nonce: str


class Signer:
    """Signs and verifies session cookies and derives CSRF tokens from one secret."""

    def __init__(self, secret: str | bytes, *, session_ttl_s: int = DEFAULT_SESSION_TTL_S) -> None:
        raw = secret.encode("utf-8") if isinstance(secret, str) else secret
        if len(raw) < MIN_SECRET_BYTES:
            raise SecretKeyError(
                f"AFTERSALES_SECRET_KEY: at least {MIN_SECRET_BYTES} bytes needed, got {len(raw)}"
            )
        self._session_key = hmac.new(raw, b"aftersales.console.session", hashlib.sha256).digest()
        self._csrf_key = hmac.new(raw, b"aftersales.console.csrf", hashlib.sha256).digest()
        self.session_ttl_s = session_ttl_s

    # -- generic signed values -------------------------------------------------------

    def _mac(self, body: str) -> str:
        return _b64encode(hmac.new(self._session_key, body.encode("ascii"), "sha256").digest())

    def dumps(self, payload: dict[str, Any]) -> str:
        """`payload` as ``BODY.MAC`` (URL-safe base64, fits a cookie)."""
        body = _b64encode(json.dumps(payload, separators=(",", ":")).encode("utf-8"))
        return f"{body}.{self._mac(body)}"

    def loads(self, token: str) -> dict[str, Any] | None:
        """The payload of a token this signer made, or None when forged or garbled."""
        body, sep, mac = token.partition(".")
        if not sep or not body or not hmac.compare_digest(mac, self._mac(body)):
            return None
        try:
            payload = json.loads(_b64decode(body))
        except (ValueError, binascii.Error):
            return None
        return payload if isinstance(payload, dict) else None

    # -- sessions ------------------------------------------------------------------------

    def new_session(self, user_id: int, now: float) -> SessionData:
        return SessionData(
            user_id=user_id, issued_at_ms=int(now * 1000), nonce=secrets.token_urlsafe(16)
        )

    def session_cookie(self, session: SessionData) -> str:
        return self.dumps({"u": session.user_id, "t": session.issued_at_ms, "n": session.nonce})

    def read_session(self, cookie: str, now: float) -> SessionData | None:
        """The session in a cookie, or None when forged, garbled or expired."""
        payload = self.loads(cookie)
        if payload is None:
            return None
        user_id, issued_at, nonce = payload.get("u"), payload.get("t"), payload.get("n")
        if not (isinstance(user_id, int) and isinstance(issued_at, int) and isinstance(nonce, str)):
            return None
        # A cookie "issued" in the future is as suspect as an old one.
        if not issued_at / 1000 - 60 <= now <= issued_at / 1000 + self.session_ttl_s:
            return None
        return SessionData(user_id=user_id, issued_at_ms=issued_at, nonce=nonce)

    # -- CSRF ------------------------------------------------------------------------------

    def csrf_token(self, nonce: str) -> str:
        """The CSRF token that goes with a session (or sign-in form) nonce."""
        return _b64encode(hmac.new(self._csrf_key, nonce.encode("utf-8"), "sha256").digest())

    def csrf_ok(self, nonce: str, token: str | None) -> bool:
        """Whether `token` is the CSRF token of `nonce` (constant-time)."""
        if not token:
            return False
        return hmac.compare_digest(token, self.csrf_token(nonce))

    # -- the sign-in form (before there is a session) -----------------------------------------

    def login_cookie(self, nonce: str, now: float) -> str:
        return self.dumps({"ln": nonce, "t": int(now)})

    def read_login_cookie(self, cookie: str, now: float) -> str | None:
        payload = self.loads(cookie)
        if payload is None:
            return None
        nonce, issued_at = payload.get("ln"), payload.get("t")
        if not (isinstance(nonce, str) and isinstance(issued_at, int)):
            return None
        if not issued_at - 60 <= now <= issued_at + LOGIN_TOKEN_TTL_S:
            return None
        return nonce
