"""The key that signs console sessions: from the environment, else shared through the database.

``AFTERSALES_SECRET_KEY`` wins when set (and a non-demo `serve` refuses to
start without it).  Otherwise — the demo and the tests — the first process to
start on a database generates a key and stores it in `console_secrets`;
every later process (and every process started at the same moment, which
loses the insert race) reads that one, so a cookie signed by one `serve`
process is accepted by all of them.  A stored key is read through
`storage.sealing` (a row sealed by migration 0101 opens only with the key).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.console.security import new_secret
from storage.account_models import ConsoleSecret
from storage.sealing import SECRET_ENV, SecretBox

__all__ = ["SECRET_ENV", "SECRET_NAME", "console_secret"]

SECRET_NAME = "console.session_key"


async def console_secret(
    environ: Mapping[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> str:
    """The signing secret: the environment's, or the database's (created on first use)."""
    configured = environ.get(SECRET_ENV, "").strip()
    if configured:
        return configured
    async with sessionmaker() as session:
        stored = await session.scalar(
            select(ConsoleSecret.value).where(ConsoleSecret.name == SECRET_NAME)
        )
    box = SecretBox.from_environ(environ)
    if stored:
        return box.open(stored)
    try:
        async with sessionmaker() as session, session.begin():
            session.add(
                ConsoleSecret(name=SECRET_NAME, value=new_secret(), created_at=datetime.now(UTC))
            )
    except IntegrityError:
        pass  # another process stored one first: use theirs
    async with sessionmaker() as session:
        value = await session.scalar(
            select(ConsoleSecret.value).where(ConsoleSecret.name == SECRET_NAME)
        )
    if not value:  # pragma: no cover - the row was just written
        raise RuntimeError("console secret missing after insert")
    return box.open(value)
