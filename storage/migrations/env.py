"""Alembic environment: migrates over the connection `storage.migrate` hands over.

Without one (the `alembic` command line with `-x url=…` or `sqlalchemy.url`)
it opens an engine through `storage.db`, so SQLite gets the same pragmas.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

# Imported for their side effect: they register the console, kf / bridge and
# after-the-chat (warranty, repair, delivery) tables on Base.metadata.
import storage.account_models
import storage.channel_models
import storage.delivery_models
import storage.desk_models
import storage.duty_models
import storage.knowledge_models
import storage.repair_models  # noqa: F401
from storage.db import make_engine
from storage.models import Base
from storage.search import is_search_internal

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url")
    url = url or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("no database: pass -x url=… or set sqlalchemy.url")
    return url


def run_migrations_offline() -> None:
    # Batch mode: SQLite cannot ALTER most things, Alembic rebuilds the table instead.
    context.configure(
        url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True
    )
    with context.begin_transaction():
        context.run_migrations()


def _include_name(name: str | None, type_: str, _parents: object) -> bool:
    # The full-text index (FTS5 tables, the GIN index) is made by migration 0150 by hand.
    return not (type_ in ("table", "index") and is_search_internal(name))


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        include_name=_include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection: Connection | None = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
