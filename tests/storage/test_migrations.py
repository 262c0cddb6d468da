"""Migrations: one linear history, up/down/up on both databases, schema equal to the models."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect
from sqlalchemy.orm import Session

# The console and channel tables are part of the schema too.
import storage.account_models
import storage.channel_models
import storage.delivery_models
import storage.desk_models
import storage.duty_models
import storage.knowledge_models
import storage.repair_models  # noqa: F401
from storage.db import make_engine
from storage.migrate import alembic_config, current, downgrade, heads, upgrade
from storage.models import Base, EventKind, TicketEvent
from storage.search import is_search_internal

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
TABLES_0041 = {"channel_inbox"}
TABLES_0042 = {"exemplars"}
TABLES_0100 = {"signin_throttles"}
TABLES_0110 = {
    "sales_contracts",
    "ticket_warranties",
    "repair_quotes",
    "repair_jobs",
    "loaner_units",
}
TABLES_0130 = {"duty_rota", "contact_records", "duty_handovers"}
TABLES_0140 = {"onsite_visits", "checklist_ticks", "reminder_reads"}
TABLES_0150 = {"solution_records", "search_documents"}
# 0160 adds customers.person_id (one customer across channels): no new table.
TABLES_0160: set[str] = set()
TABLES_0170 = {"attachments"}
TABLES_0171 = {"ticket_notes", "ticket_tags", "ticket_reads"}
ALL_TABLES = (
    TABLES_0001
    | TABLES_0002
    | TABLES_0010
    | TABLES_0041
    | TABLES_0042
    | TABLES_0100
    | TABLES_0110
    | TABLES_0130
    | TABLES_0140
    | TABLES_0150
    | TABLES_0160
    | TABLES_0170
    | TABLES_0171
)
HEAD = "0171"


def _tables(engine: Engine) -> set[str]:
    # SQLite lists the FTS5 search index and its shadow tables too (migration 0150).
    names = set(inspect(engine).get_table_names()) - {"alembic_version"}
    return {name for name in names if not is_search_internal(name)}


def test_history_is_linear_from_0001() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    revisions = [rev.revision for rev in script.walk_revisions("base", "heads")]
    assert heads() == (HEAD,)
    assert list(reversed(revisions)) == [
        "0001",
        "0002",
        "0010",
        "0011",
        "0030",
        "0031",
        "0040",
        "0041",
        "0042",
        "0100",
        "0101",
        "0110",
        "0130",
        "0140",
        "0150",
        "0160",
        "0170",
        "0171",
    ]


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
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_name": lambda name, kind, _parents: (
                    not (kind in ("table", "index") and is_search_internal(name))
                ),
            },
        )
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
        upgrade(db_url, "0011")
        assert current(engine) == "0011"
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


# Rows written with plain columns: exactly what an older revision's code stored.
_customers = sa.table(
    "customers",
    sa.column("id", sa.Integer),
    sa.column("channel", sa.String),
    sa.column("external_id", sa.String),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
_tickets = sa.table(
    "tickets",
    sa.column("id", sa.Integer),
    sa.column("number", sa.String),
    sa.column("channel", sa.String),
    sa.column("customer_id", sa.Integer),
    sa.column("status", sa.String),
    sa.column("intermittent_fault", sa.Boolean),
    sa.column("opened_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
    sa.column("version_id", sa.Integer),
)
_events = sa.table(
    "ticket_events",
    sa.column("id", sa.Integer),
    sa.column("ticket_id", sa.Integer),
    sa.column("event", sa.String),
    sa.column("at", sa.DateTime(timezone=True)),
    sa.column("data", sa.JSON),
)
_messages = sa.table(
    "messages",
    sa.column("id", sa.Integer),
    sa.column("ticket_id", sa.Integer),
    sa.column("channel", sa.String),
    sa.column("direction", sa.String),
    sa.column("role", sa.String),
    sa.column("text", sa.String),
    sa.column("kind", sa.String),
    sa.column("sent_at", sa.DateTime(timezone=True)),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("delivery_attempts", sa.Integer),
)


def _seed_ticket(conn: sa.Connection, now: datetime) -> None:
    conn.execute(_customers.insert().values(id=1, channel="web", external_id="v1", created_at=now))
    conn.execute(
        _tickets.insert().values(
            id=1,
            number="PS-20261123-0001",
            channel="web",
            customer_id=1,
            status="opened",
            intermittent_fault=False,
            opened_at=now,
            updated_at=now,
            version_id=1,
        )
    )


# A ticket's journal as the bot wrote it before revision 0030: internal steps as
# notes carrying their kind, next to SPEC events and a free-text note.
OLD_JOURNAL: tuple[tuple[str, dict[str, object]], ...] = (
    ("ticket_opened", {}),
    ("note", {"kind": "classified", "fault_level": "二级", "intents": ["fault"]}),
    ("note", {"kind": "assigned", "staff_no": "1818", "reason": "on duty"}),
    ("note", {"kind": "draft_suggested", "key": "complaint_response", "text": "抱歉"}),
    ("note", {"kind": "extension_requested", "reason": "等待厂商"}),
    ("note", {"kind": "archive_skipped_duplicate", "duplicate_of": "PS-1"}),
    ("note", {"text": "客户要求下午联系"}),
    ("note", {"kind": "something_else", "x": 1}),
    ("reminder_sent", {"to": "9001", "reason": "accept_overdue"}),
)


def test_0030_turns_step_notes_into_event_kinds_and_back(db_url: str) -> None:
    upgrade(db_url, "0011")
    engine = make_engine(db_url)
    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            _seed_ticket(conn, now)
            for n, (event, data) in enumerate(OLD_JOURNAL, start=1):
                conn.execute(
                    _events.insert().values(id=n, ticket_id=1, event=event, at=now, data=data)
                )

        def journal() -> list[tuple[str, dict[str, object]]]:
            with engine.connect() as conn:
                rows = conn.execute(
                    sa.select(_events.c.event, _events.c.data).order_by(_events.c.id)
                )
                return [(row.event, row.data) for row in rows]

        upgrade(db_url, "0030")
        assert journal() == [
            ("ticket_opened", {}),
            ("classified", {"fault_level": "二级", "intents": ["fault"]}),
            ("assigned", {"staff_no": "1818", "reason": "on duty"}),
            ("draft_suggested", {"key": "complaint_response", "text": "抱歉"}),
            ("extension_requested", {"reason": "等待厂商"}),
            ("archive_skipped_duplicate", {"duplicate_of": "PS-1"}),
            ("note", {"text": "客户要求下午联系"}),
            ("note", {"kind": "something_else", "x": 1}),
            ("reminder_sent", {"to": "9001", "reason": "accept_overdue"}),
        ]
        # The models read every migrated row back as a member of the vocabulary.
        with Session(engine) as session:
            kinds = session.scalars(sa.select(TicketEvent.event).order_by(TicketEvent.id)).all()
        assert kinds[1] is EventKind.CLASSIFIED
        assert kinds[5] is EventKind.ARCHIVE_SKIPPED_DUPLICATE

        downgrade(db_url, "0011")
        restored = journal()
        assert restored == list(OLD_JOURNAL)
        # Written the old way, "kind" first.
        assert list(restored[1][1]) == ["kind", "fault_level", "intents"]
    finally:
        engine.dispose()


def test_0031_links_the_last_two_days_of_replies_to_what_they_answer(db_url: str) -> None:
    upgrade(db_url, "0030")
    engine = make_engine(db_url)
    now = datetime.now(UTC)
    asked = now - timedelta(hours=1)
    old = now - timedelta(days=3)
    # (id, role, sent_at): a greeting 2 s after the question, a line 30 s later
    # (the engineer's own), the customer again with its answer, and three-day-old
    # traffic that no redelivery or service window reaches any more.
    lines = [
        (1, "customer", old),
        (2, "agent", old + timedelta(seconds=1)),
        (3, "customer", asked),
        (4, "agent", asked + timedelta(seconds=2)),
        (5, "agent", asked + timedelta(seconds=3)),
        (6, "agent", asked + timedelta(seconds=30)),
        (7, "customer", asked + timedelta(minutes=2)),
        (8, "agent", asked + timedelta(minutes=2, seconds=1)),
    ]
    try:
        with engine.begin() as conn:
            _seed_ticket(conn, now)
            for message_id, role, at in lines:
                conn.execute(
                    _messages.insert().values(
                        id=message_id,
                        ticket_id=1,
                        channel="web",
                        direction="inbound" if role == "customer" else "outbound",
                        role=role,
                        text=f"line {message_id}",
                        kind="text",
                        sent_at=at,
                        created_at=at,
                        delivery_attempts=0,
                    )
                )
        upgrade(db_url, "0031")
        with engine.connect() as conn:
            links = dict(
                conn.execute(sa.text("SELECT id, in_reply_to_id FROM messages ORDER BY id")).all()
            )
        assert links == {1: None, 2: None, 3: None, 4: 3, 5: 3, 6: None, 7: None, 8: 7}
        downgrade(db_url, "0030")
        columns = {column["name"] for column in inspect(engine).get_columns("messages")}
        assert "in_reply_to_id" not in columns
        with engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(_messages)).scalar() == 8
    finally:
        engine.dispose()
