"""Schema migrations (Alembic), driven from code: no alembic.ini needed at run time.

`upgrade(url)` brings a database to the newest schema (`aftersales serve` does
it on start); `downgrade(url, "base")` removes it.  The migration scripts live
in `storage/migrations/versions/` and ship with the package.

Each call runs in one transaction (both databases have transactional DDL here,
see `storage.db`), so a failed migration leaves the schema as it was.  Several
processes may call `upgrade` at once: on PostgreSQL they queue on an advisory
lock, on SQLite on the write lock (taken at BEGIN); the later ones find the
schema current.  The same locks serialise threads of one process, which
matters because Alembic keeps its migration context in module globals.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError

from storage.db import immediate_transactions, make_engine
from storage.sealing import SecretBox, seal_stored, verify_stored

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# First key of the advisory lock that serialises migrations (the second is the schema).
_PG_LOCK_CLASS = 0x0AF7E5A1
# Alembic keeps its migration context in module globals: threads of one process
# take turns here before they queue on the database's own lock.
_PROCESS_LOCK = threading.Lock()
# SQLite can answer "database is locked" at once, without waiting out the busy
# timeout (a new file switching to WAL while another process migrates it): retry
# a bounded number of times; the later attempt finds the schema current.
_SQLITE_RETRY_DELAYS_S = (0.1, 0.3, 1.0, 2.0)


def alembic_config(
    connection: Connection | None = None, *, secret_key: str | None = None
) -> Config:
    """An Alembic `Config` built in code, pointing at the shipped scripts.

    With `connection`, `env.py` migrates over it instead of opening its own;
    `secret_key` (``AFTERSALES_SECRET_KEY``) is what revision 0101 seals stored
    secrets with.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    if secret_key:
        config.attributes["secret_key"] = secret_key
    return config


def _in_transaction(url_or_engine: str | Engine, action: Callable[[Connection], None]) -> None:
    engine = url_or_engine if isinstance(url_or_engine, Engine) else make_engine(url_or_engine)
    try:
        with _PROCESS_LOCK:
            for delay in (*_SQLITE_RETRY_DELAYS_S, None):
                try:
                    _run_locked(engine, action)
                    return
                except OperationalError as exc:
                    locked = engine.dialect.name == "sqlite" and "locked" in str(exc.orig)
                    if not locked or delay is None:
                        raise
                    time.sleep(delay)
    finally:
        if not isinstance(url_or_engine, Engine):
            engine.dispose()


def _run_locked(engine: Engine, action: Callable[[Connection], None]) -> None:
    with immediate_transactions(engine).begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:lock_class, hashtext(current_schema()))"),
                {"lock_class": _PG_LOCK_CLASS},
            )
        action(connection)


def upgrade(
    url_or_engine: str | Engine, revision: str = "head", *, secret_key: str | None = None
) -> None:
    """Migrate the database up to `revision` (default: the newest).

    With `secret_key`, plain secrets still in the database are sealed in the same
    transaction (`storage.sealing`), also when the schema was current already; a
    secret sealed under another key is a `SealError` naming it.
    """

    def action(connection: Connection) -> None:
        command.upgrade(alembic_config(connection, secret_key=secret_key), revision)
        if secret_key and revision == "head":
            box = SecretBox(secret_key)
            verify_stored(connection, box)
            seal_stored(connection, box)

    _in_transaction(url_or_engine, action)


def downgrade(url_or_engine: str | Engine, revision: str, *, secret_key: str | None = None) -> None:
    """Migrate the database down to `revision` (`base` removes every table)."""
    _in_transaction(
        url_or_engine,
        lambda connection: command.downgrade(
            alembic_config(connection, secret_key=secret_key), revision
        ),
    )


def current(url_or_engine: str | Engine) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    engine = url_or_engine if isinstance(url_or_engine, Engine) else make_engine(url_or_engine)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        if not isinstance(url_or_engine, Engine):
            engine.dispose()


def heads() -> tuple[str, ...]:
    """The newest revision(s) of the scripts; more than one is a broken history."""
    return tuple(ScriptDirectory.from_config(alembic_config()).get_heads())


def schema_drift(connection: Connection) -> list[Any]:
    """Alembic's differences between the migrated database and every model module.

    All model modules are imported here, so the answer does not depend on what the
    caller happened to import; the hand-made full-text index (migration 0150) is left
    out, as `env.py` leaves it out of autogenerate.
    """
    import storage.account_models
    import storage.channel_models
    import storage.delivery_models
    import storage.desk_models
    import storage.duty_models
    import storage.knowledge_models
    import storage.repair_models  # noqa: F401
    from storage.models import Base
    from storage.search import is_search_internal

    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "include_name": lambda name, kind, _parents: (
                not (kind in ("table", "index") and is_search_internal(name))
            ),
        },
    )
    return list(compare_metadata(context, Base.metadata))
