"""Secrets at rest: bridge keys, channel access tokens and the console's signing key,
sealed with a key derived from ``AFTERSALES_SECRET_KEY`` (cryptography's Fernet).

A sealed value is stored as ``sealed:v1:<Fernet token>``: AES-128-CBC with an
HMAC-SHA256 over it, so a value copied from the database is useless without the
environment's key, and a tampered one is refused rather than misread.  The
Fernet key is derived from the secret with HKDF-SHA256 under its own label,
so it never equals the key that signs console cookies.

A value without the prefix is a plain one stored before sealing (or by a demo
without a key) and is read as it is; `seal_stored` seals every such value in
the three columns (migration 0101 does it, and so does every start with a key),
`unseal_stored` undoes it for a downgrade.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Connection

__all__ = [
    "PLAIN",
    "SEALED_COLUMNS",
    "SECRET_ENV",
    "SealError",
    "SecretBox",
    "seal_stored",
    "unseal_stored",
    "verify_stored",
]

SECRET_ENV = "AFTERSALES_SECRET_KEY"
PREFIX = "sealed:v1:"
_LABEL = b"aftersales.secrets-at-rest.v1"

# (table, key column, secret column) of every secret the database holds.
SEALED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("bridge_keys", "key_id", "secret"),
    ("channel_tokens", "id", "access_token"),
    ("console_secrets", "name", "value"),
)


class SealError(ValueError):
    """A sealed value that cannot be opened: no key, or not the key it was sealed with."""


@dataclass(frozen=True, slots=True)
class SecretBox:
    """Seals and opens stored secrets; without a key it stores them plain (demo, tests)."""

    secret: str | None = None
    _fernet: Fernet | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.secret:
            derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_LABEL).derive(
                self.secret.encode("utf-8")
            )
            object.__setattr__(self, "_fernet", Fernet(base64.urlsafe_b64encode(derived)))

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> SecretBox:
        return cls(environ.get(SECRET_ENV, "").strip() or None)

    @property
    def sealing(self) -> bool:
        """Whether values are sealed (a key is configured)."""
        return self._fernet is not None

    @staticmethod
    def is_sealed(stored: str | None) -> bool:
        return bool(stored) and str(stored).startswith(PREFIX)

    def seal(self, plain: str) -> str:
        """`plain` as stored: sealed with a key, as it is without one ("" stays "")."""
        if self._fernet is None or not plain or self.is_sealed(plain):
            return plain
        return PREFIX + self._fernet.encrypt(plain.encode("utf-8")).decode("ascii")

    def open(self, stored: str) -> str:
        """The plain value of what the database holds; `SealError` if it cannot be opened."""
        if not self.is_sealed(stored):
            return stored
        if self._fernet is None:
            raise SealError(
                f"a stored secret is sealed but {SECRET_ENV} is not set: start with the key "
                "it was sealed with"
            )
        try:
            return self._fernet.decrypt(stored[len(PREFIX) :].encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise SealError(
                f"a stored secret was sealed with another {SECRET_ENV} (or was altered): start "
                "with the key it was sealed with"
            ) from None


PLAIN = SecretBox()


def _rewrite(connection: Connection, change: object) -> int:
    changed = 0
    inspector = sa.inspect(connection)
    present = set(inspector.get_table_names())
    for table_name, key_name, column_name in SEALED_COLUMNS:
        if table_name not in present:
            continue
        table = sa.table(table_name, sa.column(key_name), sa.column(column_name))
        key, column = table.c[key_name], table.c[column_name]
        for row_key, value in connection.execute(sa.select(key, column)).all():
            if value is None:
                continue
            new = change(value)  # type: ignore[operator]
            if new != value:
                connection.execute(sa.update(table).where(key == row_key).values({column: new}))
                changed += 1
    return changed


def seal_stored(connection: Connection, box: SecretBox) -> int:
    """Seal every plain secret in `SEALED_COLUMNS`; returns how many (0 without a key)."""
    if not box.sealing:
        return 0
    return _rewrite(connection, box.seal)


def unseal_stored(connection: Connection, box: SecretBox) -> int:
    """Open every sealed secret back to plain (a downgrade); `SealError` without the key."""
    return _rewrite(connection, box.open)


def verify_stored(connection: Connection, box: SecretBox) -> None:
    """Raise `SealError` naming the first stored secret `box` cannot open (a database
    sealed under another key), so `serve` stops at start rather than at first use."""
    present = set(sa.inspect(connection).get_table_names())
    for table_name, key_name, column_name in SEALED_COLUMNS:
        if table_name not in present:
            continue
        table = sa.table(table_name, sa.column(key_name), sa.column(column_name))
        for row_key, value in connection.execute(
            sa.select(table.c[key_name], table.c[column_name])
        ).all():
            if not box.is_sealed(value):
                continue
            try:
                box.open(value)
            except SealError as exc:
                raise SealError(f"{table_name}.{column_name} ({row_key!r}): {exc}") from None
