"""The channel tables: one migration after the single previous head, up/down on both
databases, and a migrated schema equal to `storage.channel_models`."""

from __future__ import annotations

from alembic.script import ScriptDirectory
from sqlalchemy import inspect

import storage.account_models  # the console tables are part of the schema too
import storage.channel_models  # noqa: F401  (registers the channel tables)
from storage.db import make_engine
from storage.migrate import alembic_config, current, downgrade, heads, schema_drift, upgrade

CHANNEL_TABLES = {
    "kf_cursors",
    "bridge_keys",
    "bridge_nonces",
    "bridge_events",
    "bridge_commands",
    "channel_inbox",
}


def test_history_has_one_head_and_0010_follows_one_revision() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert len(heads()) == 1
    revision = script.get_revision("0010")
    assert revision is not None and isinstance(revision.down_revision, str)
    assert "0010" in {rev.revision for rev in script.walk_revisions("base", "heads")}


def test_channel_tables_migrate_up_and_down_and_match_the_models(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert current(engine) == heads()[0]
        assert set(inspect(engine).get_table_names()) >= CHANNEL_TABLES
        with engine.connect() as conn:
            assert schema_drift(conn) == []
        script = ScriptDirectory.from_config(alembic_config())
        previous = script.get_revision("0010").down_revision
        assert isinstance(previous, str)
        downgrade(db_url, previous)  # (with any later revisions first)
        assert not CHANNEL_TABLES & set(inspect(engine).get_table_names())
        upgrade(db_url)
        assert current(engine) == heads()[0]
        uniques = {uq["name"] for uq in inspect(engine).get_unique_constraints("bridge_events")}
        assert uniques == {"uq_bridge_events_channel_event_id"}
    finally:
        engine.dispose()


def test_0040_backfills_connected_at_from_the_first_notice(db_url: str) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import insert, select

    from storage.channel_models import KfCursor

    cursors = KfCursor.__table__
    downgrade(db_url, "0011")
    engine = make_engine(db_url)
    notified = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    try:
        with engine.begin() as conn:
            # Only the columns revision 0011 has.
            conn.execute(
                insert(cursors).values(
                    open_kfid="wkOld",
                    cursor="c9",
                    pending_seq=3,
                    synced_seq=3,
                    notified_at=notified,
                    updated_at=datetime(2026, 11, 21, 2, 0, tzinfo=UTC),
                )
            )
        upgrade(db_url)
        with engine.connect() as conn:
            row = conn.execute(select(cursors.c.cursor, cursors.c.connected_at)).one()
        assert row.cursor == "c9"
        connected = row.connected_at
        # SQLite hands back the stored UTC time without its zone.
        if connected.tzinfo is None:
            connected = connected.replace(tzinfo=UTC)
        assert connected == notified
    finally:
        engine.dispose()
