"""Accounts: `aftersales user add`, password hashing, the demo accounts, the shared secret."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select

from bot.accounts import (
    NewAccount,
    create_account,
    hash_password,
    seed_demo_accounts,
    verify_password,
)
from bot.app import create_app
from bot.channels import web as web_channel
from bot.cli import main
from bot.console.auth import SESSION_COOKIE
from bot.console.keys import SECRET_ENV, SECRET_NAME
from bot.context import SERVICES
from compliance.policy import Policy
from storage.account_models import ConsoleSecret, User, UserRole
from storage.db import make_engine, make_sessionmaker
from storage.migrate import current, downgrade, heads, upgrade
from storage.models import Base, Engineer
from tests.console.conftest import (
    Console,
    FakeClock,
    _ConsolePages,
    csrf_of,
    make_settings,
)


def test_passwords_are_argon2id_and_verified() -> None:
    hashed = hash_password("correct horse")
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "correct horse")
    assert not verify_password(hashed, "wrong horse")
    assert not verify_password(None, "correct horse")
    assert not verify_password("not a hash", "correct horse")


def _users(url: str) -> dict[str, tuple[str, str | None, bool]]:
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as db:
            rows = db.execute(
                select(User.username, User.role, Engineer.staff_no, User.disabled).outerjoin(
                    Engineer, User.engineer_id == Engineer.id
                )
            ).all()
    finally:
        engine.dispose()
    return {name: (role.value, staff, disabled) for name, role, staff, disabled in rows}


def test_user_add_creates_accounts_and_names_what_is_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    status = main(
        ["user", "add", "admin", "--role", "admin", "--password", "admin-pass-1", "--db", url]
    )
    assert status == 0
    assert "created console account 'admin' (admin)" in capsys.readouterr().out
    status = main(
        [
            "user",
            "add",
            "wangwu",
            "--role",
            "engineer",
            "--staff-no",
            "3001",
            "--name",
            "王五",
            "--password",
            "wangwu-pass",
            "--db",
            url,
        ]
    )
    assert status == 0
    assert "for 王五 工号 3001" in capsys.readouterr().out
    assert _users(url) == {"admin": ("admin", None, False), "wangwu": ("engineer", "3001", False)}

    cases = [
        (["user", "add", "admin", "--role", "qa", "--password", "another-pass"], "already exists"),
        (["user", "add", "x1", "--role", "engineer", "--password", "long-enough"], "--staff-no"),
        (
            [
                "user",
                "add",
                "x2",
                "--role",
                "engineer",
                "--staff-no",
                "4001",
                "--password",
                "long-enough",
            ],
            "give --name",
        ),
        (["user", "add", "x3", "--role", "qa", "--password", "short"], "至少需要 8 个字符"),
        (["user", "add", "bad name!", "--role", "qa", "--password", "long-enough"], "username"),
    ]
    for argv, message in cases:
        assert main([*argv, "--db", url]) == 2
        assert message in capsys.readouterr().err
    assert set(_users(url)) == {"admin", "wangwu"}


def test_user_add_without_a_terminal_asks_for_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    assert main(["user", "add", "qa2", "--role", "qa", "--db", url]) == 2
    assert "pass --password" in capsys.readouterr().err


async def test_demo_accounts_are_seeded_once(console: Console) -> None:
    lines = await seed_demo_accounts(console.services.sessionmaker)
    assert lines[0] == "张三（engineer，工号 1818）: 用户名 zhangsan  密码 demo1818"
    async with console.services.sessionmaker() as db:
        roles = dict((await db.execute(select(User.username, User.role))).all())
    assert roles == {
        "zhangsan": UserRole.ENGINEER,
        "lisi": UserRole.ENGINEER,
        "qa": UserRole.QA,
        "manager": UserRole.MANAGER,
    }


async def test_admin_creates_and_disables_accounts_in_the_console(console: Console) -> None:
    async with console.services.tickets.transaction() as db:
        await db.run_sync(create_account, NewAccount("root", "admin", "root-pass-1"))
    admin = await console.sign_in("root", password="root-pass-1")
    token = await csrf_of(admin, "/console/admin/users")
    created = await admin.post(
        "/console/admin/users",
        data={
            "csrf_token": token,
            "username": "qa2",
            "role": "qa",
            "password": "qa2-pass-1",
            "name": "钱质检",
        },
        allow_redirects=False,
    )
    assert created.status == 303
    bad = await admin.post(
        "/console/admin/users",
        data={
            "csrf_token": token,
            "username": "e9",
            "role": "engineer",
            "password": "e9-pass-1",
        },
    )
    assert bad.status == 400 and "--staff-no" in await bad.text()
    async with console.services.sessionmaker() as db:
        qa2 = await db.scalar(select(User).where(User.username == "qa2"))
        assert qa2 is not None and qa2.display_name == "钱质检"
    disabled = await admin.post(
        f"/console/admin/users/{qa2.id}/state",
        data={"csrf_token": token, "disabled": "1"},
        allow_redirects=False,
    )
    assert disabled.status == 303
    async with console.services.sessionmaker() as db:
        again = await db.get(User, qa2.id)
        assert again is not None and again.disabled


async def test_the_secret_is_shared_through_the_database(
    aiohttp_client: Any, policy: Policy, db_url: str, clock: FakeClock
) -> None:
    first = await aiohttp_client(
        create_app(
            make_settings(policy, db_url, clock, instance_id="a"),
            channel_modules=[web_channel],
            page_modules=[_ConsolePages()],
        )
    )
    second = await aiohttp_client(
        create_app(
            make_settings(policy, db_url, clock, instance_id="b"),
            channel_modules=[web_channel],
            page_modules=[_ConsolePages()],
        )
    )
    console = Console(first.server, first, clock, aiohttp_client)
    await console.sign_in("qa", first)
    cookie = next(c for c in first.session.cookie_jar if c.key == SESSION_COOKIE).value
    second.session.cookie_jar.update_cookies({SESSION_COOKIE: cookie})
    assert (await second.get("/console/qa", allow_redirects=False)).status == 200
    async with first.server.app[SERVICES].sessionmaker() as db:
        stored = await db.scalar(
            select(ConsoleSecret.value).where(ConsoleSecret.name == SECRET_NAME)
        )
    assert stored and len(stored) >= 32


async def test_the_environment_secret_wins(
    aiohttp_client: Any, policy: Policy, db_url: str, clock: FakeClock
) -> None:
    environ = {SECRET_ENV: "e" * 48}
    client = await aiohttp_client(
        create_app(
            make_settings(policy, db_url, clock, environ=environ),
            channel_modules=[web_channel],
            page_modules=[_ConsolePages()],
        )
    )
    console = Console(client.server, client, clock, aiohttp_client)
    await console.sign_in("qa", client)
    async with client.server.app[SERVICES].sessionmaker() as db:
        assert await db.scalar(select(ConsoleSecret.value)) is None
    other = await aiohttp_client(
        create_app(
            make_settings(policy, db_url, clock),
            channel_modules=[web_channel],
            page_modules=[_ConsolePages()],
        )
    )
    cookie = next(c for c in client.session.cookie_jar if c.key == SESSION_COOKIE).value
    other.session.cookie_jar.update_cookies({SESSION_COOKIE: cookie})
    # Without the variable the other process signs with the database's key: no session.
    assert (await other.get("/console/qa", allow_redirects=False)).status == 303


def test_console_tables_match_their_migration(tmp_path: Path) -> None:
    """The migrated schema has exactly the columns of `User` and `ConsoleSecret`, and one
    head; down to the initial schema removes them, up brings them back."""
    url = f"sqlite:///{tmp_path / 'schema.sqlite3'}"
    upgrade(url)
    assert len(heads()) == 1
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = [
                d for d in compare_metadata(context, Base.metadata) if "console_" in str(d)
            ]
        assert differences == []
        head = current(url)
        downgrade(url, "0001")
        assert not inspect(engine).has_table(User.__tablename__)
        upgrade(url)
        assert current(url) == head
        assert inspect(engine).has_table(ConsoleSecret.__tablename__)
    finally:
        engine.dispose()
