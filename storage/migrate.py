"""Schema migrations (Alembic), driven from code: no alembic.ini needed at run time.

`upgrade(url)` brings a database to the newest schema (`aftersales serve` does
it on start); `downgrade(url, "base")` removes it.  The migration scripts live
in `storage/migrations/versions/` and ship with the package.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from storage.db import make_engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # ConfigParser interpolation: a literal % in a password must be doubled.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _with_engine(url_or_engine: str | Engine, action: str, revision: str) -> None:
    engine = url_or_engine if isinstance(url_or_engine, Engine) else make_engine(url_or_engine)
    try:
        with engine.begin() as connection:
            config = alembic_config(str(engine.url))
            config.attributes["connection"] = connection
            getattr(command, action)(config, revision)
    finally:
        if not isinstance(url_or_engine, Engine):
            engine.dispose()


def upgrade(url_or_engine: str | Engine, revision: str = "head") -> None:
    """Migrate the database up to `revision` (default: the newest)."""
    _with_engine(url_or_engine, "upgrade", revision)


def downgrade(url_or_engine: str | Engine, revision: str) -> None:
    """Migrate the database down to `revision` (`base` removes every table)."""
    _with_engine(url_or_engine, "downgrade", revision)


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
