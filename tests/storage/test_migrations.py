"""Migrations: one linear history, up/down/up on both databases, schema equal to the models."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

# The console and channel tables are part of the schema too.
import storage.account_models
import storage.channel_models  # noqa: F401
from storage.db import make_engine
from storage.migrate import alembic_config, current, downgrade, heads, upgrade
from storage.models import Base

REPO = Path(__file__).resolve().parents[2]
TABLES_0001 = {
    "engineers",
    "customers",
    "tickets",
    "messages",
    "ticket_events",
    "check_runs",
    "findings",
    "qa_reviews",
    "timers",
    "channel_tokens",
    "ticket_counters",
}
TABLES_0002 = {"console_users", "console_secrets"}
TABLES_0010 = {"kf_cursors", "bridge_keys", "bridge_nonces", "bridge_events", "bridge_commands"}
TABLES_0020 = {"exemplars"}
ALL_TABLES = TABLES_0001 | TABLES_0002 | TABLES_0010 | TABLES_0020
HEAD = "0020"


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_history_is_linear_from_0001() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    revisions = [rev.revision for rev in script.walk_revisions("base", "heads")]
    assert heads() == (HEAD,)
    assert list(reversed(revisions)) == ["0001", "0002", "0010", "0011", "0020"]


def test_up_down_up(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert current(engine) is None
        upgrade(db_url)
        assert _tables(engine) == ALL_TABLES
        assert current(engine) == HEAD

        downgrade(db_url, "0001")
        assert _tables(engine) == TABLES_0001
        assert current(engine) == "0001"

        downgrade(db_url, "base")
        assert _tables(engine) == set()
        assert current(engine) is None

        upgrade(db_url)
        assert _tables(engine) == ALL_TABLES
        assert current(engine) == HEAD
    finally:
        engine.dispose()


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
    assert set(Base.metadata.tables) == ALL_TABLES


def test_index_and_constraint_names_follow_the_convention(engine: Engine) -> None:
    inspector = inspect(engine)
    timer_indexes = {ix["name"]: ix["column_names"] for ix in inspector.get_indexes("timers")}
    assert timer_indexes == {
        "ix_timers_status_due_at": ["status", "due_at"],
        "ix_timers_ticket_id": ["ticket_id"],
    }
    message_uniques = {uq["name"] for uq in inspector.get_unique_constraints("messages")}
    assert message_uniques == {"uq_messages_channel_external_id"}
    ticket_fks = {fk["name"] for fk in inspector.get_foreign_keys("tickets")}
    assert ticket_fks == {
        "fk_tickets_customer_id_customers",
        "fk_tickets_assigned_engineer_id_engineers",
    }


def test_upgrade_twice_is_a_no_op(engine: Engine) -> None:
    upgrade(engine)
    assert current(engine) == HEAD


def test_concurrent_upgrades_in_one_process(db_url: str) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def migrate() -> None:
        try:
            start.wait()
            upgrade(db_url)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=migrate) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert current(db_url) == heads()[0]


def test_concurrent_upgrades_from_several_processes(db_url: str) -> None:
    """Several `serve` processes start at once: the later ones find the schema current."""
    code = (
        "import sys; from storage.migrate import upgrade; "
        "print('ready', flush=True); sys.stdin.readline(); upgrade(sys.argv[1])"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code, db_url],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    # Imports take longer than a migration: release all three only once they are loaded.
    for process in processes:
        assert process.stdout is not None
        assert process.stdout.readline() == "ready\n"
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    outcomes = [(process.wait(timeout=60), process.communicate()[1]) for process in processes]
    assert outcomes == [(0, "")] * 3
    assert current(db_url) == heads()[0]


def test_a_failed_migration_leaves_the_schema_as_it_was(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migrations run in one transaction, DDL included (SQLite too, see storage.db)."""
    upgrade(db_url, "0001")
    from alembic import op

    real_create_index = op.create_index

    def create_index_then_fail(*args: object, **kwargs: object) -> None:
        real_create_index(*args, **kwargs)  # type: ignore[arg-type]
        raise RuntimeError("disk full")

    monkeypatch.setattr(op, "create_index", create_index_then_fail)
    with pytest.raises(RuntimeError, match="disk full"):
        upgrade(db_url)
    engine = make_engine(db_url)
    try:
        assert current(engine) == "0001"
        assert _tables(engine) == TABLES_0001
    finally:
        engine.dispose()


def test_0011_adds_finding_spans_and_keeps_the_rows_saved_before(db_url: str) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import insert, select

    from storage.models import CheckRun, Finding, Severity

    findings = Finding.__table__
    upgrade(db_url, "0010")
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            run_id = conn.execute(
                insert(CheckRun.__table__)
                .values(source="t.jsonl", policy_name="朴赛", started_at=datetime.now(UTC))
                .returning(CheckRun.__table__.c.id)
            ).scalar_one()
            # Only the columns revision 0010 has.
            conn.execute(
                insert(findings).values(
                    check_run_id=run_id,
                    session="S1",
                    rule="LNG006",
                    severity=Severity.WARNING,
                    index=2,
                    message="称呼客户“你”",
                    evidence="你",
                    inferred=False,
                    created_at=datetime.now(UTC),
                )
            )
        upgrade(db_url)
        assert current(engine) == HEAD
        with engine.connect() as conn:
            row = conn.execute(
                select(findings.c.evidence, findings.c.span_start, findings.c.span_end)
            ).one()
        assert tuple(row) == ("你", None, None)
        downgrade(db_url, "0010")
        columns = {column["name"] for column in inspect(engine).get_columns("findings")}
        assert "span_start" not in columns and "evidence" in columns
        with engine.connect() as conn:
            assert conn.execute(select(findings.c.evidence)).scalar_one() == "你"
    finally:
        engine.dispose()
