"""Console accounts: password hashing, `aftersales user add`, the demo accounts.

Passwords are hashed with Argon2id (`argon2-cffi`, its RFC 9106 defaults); a
hash made with weaker parameters is upgraded at the next successful sign-in.
An engineer's account is tied to their roster row (`Engineer`: name and 工号),
so what they do in the console is recorded under their 工号; a QA or manager
account may be tied to one too (a manager needs it to reassign tickets).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from storage.account_models import User, UserRole
from storage.db import DEFAULT_DB_URL, DatabaseURLError, make_engine, make_sessionmaker
from storage.migrate import upgrade
from storage.models import Engineer

MIN_PASSWORD_CHARS = 8
USERNAME_RE = re.compile(r"^[\w.-]{2,64}$")
EXIT_OK = 0
EXIT_USAGE = 2

_hasher = PasswordHasher()
# Verified against when the username is unknown, so a wrong username costs the
# same time as a wrong password and does not reveal which accounts exist.
_DUMMY_HASH = _hasher.hash("aftersales-no-such-account")


class AccountError(ValueError):
    """An account request that cannot be carried out; the message says what to fix."""


# -- passwords ------------------------------------------------------------------------


def hash_password(password: str) -> str:
    """The Argon2id hash of `password`; refuses one shorter than 8 characters."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(f"密码至少需要 {MIN_PASSWORD_CHARS} 个字符")
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches `password_hash`; None (unknown user) costs the same."""
    try:
        matched = _hasher.verify(password_hash or _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return matched and password_hash is not None


# -- creating accounts ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewAccount:
    """What `aftersales user add` asks for."""

    username: str
    role: str
    password: str
    name: str | None = None
    staff_no: str | None = None


def create_account(session: Session, account: NewAccount) -> tuple[User, list[str]]:
    """Add an account (not committed); returns it and warnings worth showing.

    An engineer needs a 工号: their roster row is found by it, or created with
    `name`.  Raises `AccountError` naming the field to fix.
    """
    warnings: list[str] = []
    username = account.username.strip()
    if not USERNAME_RE.match(username):
        raise AccountError(f"username {account.username!r}: 2–64 letters, digits, '_', '.' or '-'")
    try:
        role = UserRole(account.role)
    except ValueError:
        known = ", ".join(r.value for r in UserRole)
        raise AccountError(f"--role {account.role!r}: one of {known}") from None
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise AccountError(f"username {username!r} already exists")
    staff_no = (account.staff_no or "").strip() or None
    if role is UserRole.ENGINEER and staff_no is None:
        raise AccountError("--staff-no is required for an engineer (the 工号 in the greeting)")
    engineer: Engineer | None = None
    if staff_no is not None:
        engineer = session.scalar(select(Engineer).where(Engineer.staff_no == staff_no))
        if engineer is None:
            if not account.name:
                raise AccountError(f"工号 {staff_no} is not in the roster: give --name to add it")
            engineer = Engineer(staff_no=staff_no, name=account.name.strip(), roles=[role.value])
            session.add(engineer)
            session.flush()
        elif role.value not in engineer.roles and role is not UserRole.ADMIN:
            warnings.append(
                f"roster row {staff_no} {engineer.name} has roles {list(engineer.roles)}, "
                f"not {role.value!r}: ticket actions follow the roster"
            )
        taken = session.scalar(select(User.username).where(User.engineer_id == engineer.id))
        if taken is not None:
            warnings.append(f"工号 {staff_no} already has the account {taken!r}")
    display = (account.name or (engineer.name if engineer else "") or username).strip()
    user = User(
        username=username,
        password_hash=hash_password(account.password),
        role=role,
        display_name=display[:64],
        engineer_id=engineer.id if engineer else None,
        created_at=datetime.now(UTC),
        disabled=False,
    )
    session.add(user)
    session.flush()
    return user, warnings


def _read_password(username: str) -> str:
    if not sys.stdin.isatty():
        raise AccountError("no terminal to prompt for the password: pass --password")
    first = getpass.getpass(f"password for {username}: ")
    second = getpass.getpass("repeat the password: ")
    if first != second:
        raise AccountError("the two passwords differ")
    return first


def run_user_command(args: argparse.Namespace) -> int:
    """`aftersales user add USERNAME --role … [--name] [--staff-no] [--password] [--db]`."""
    if args.user_command != "add":
        print(f"aftersales user: unknown action {args.user_command!r}", file=sys.stderr)
        return EXIT_USAGE
    url = args.db or os.environ.get("AFTERSALES_DB_URL") or DEFAULT_DB_URL
    try:
        password = args.password if args.password is not None else _read_password(args.username)
        engine = make_engine(url)
    except (AccountError, DatabaseURLError) as exc:
        print(f"aftersales user add: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        upgrade(engine)
        with make_sessionmaker(engine)() as session, session.begin():
            user, warnings = create_account(
                session,
                NewAccount(args.username, args.role, password, args.name, args.staff_no),
            )
            summary = f"created console account {user.username!r} ({user.role.value})"
            if user.engineer_id is not None:
                staff = session.get(Engineer, user.engineer_id)
                assert staff is not None
                summary += f" for {staff.name} 工号 {staff.staff_no}"
    except AccountError as exc:
        print(f"aftersales user add: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except IntegrityError:
        print(f"aftersales user add: username {args.username!r} already exists", file=sys.stderr)
        return EXIT_USAGE
    except SQLAlchemyError as exc:
        print(
            f"aftersales user add: database {url}: {exc.__class__.__name__}: {exc}", file=sys.stderr
        )
        return EXIT_USAGE
    finally:
        engine.dispose()
    for warning in warnings:
        print(f"aftersales user add: warning: {warning}", file=sys.stderr)
    print(summary)
    return EXIT_OK


# -- signing in ------------------------------------------------------------------------


async def authenticate(
    sessionmaker: async_sessionmaker[AsyncSession], username: str, password: str
) -> int | None:
    """The id of the enabled account `username` whose password is `password`, else None."""
    async with sessionmaker() as session:
        user = await session.scalar(select(User).where(User.username == username.strip()))
        stored = user.password_hash if user is not None and not user.disabled else None
        # Argon2 is deliberately slow: keep it off the event loop.
        ok = await asyncio.to_thread(verify_password, stored, password)
        if not ok or user is None:
            return None
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = await asyncio.to_thread(_hasher.hash, password)
            await session.commit()
        return user.id


# -- the demo roster's accounts ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DemoAccount:
    username: str
    password: str
    role: UserRole
    staff_no: str
    name: str


DEMO_ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount("zhangsan", "demo1818", UserRole.ENGINEER, "1818", "张三"),
    DemoAccount("lisi", "demo2046", UserRole.ENGINEER, "2046", "李四"),
    DemoAccount("qa", "demo7001", UserRole.QA, "7001", "赵质检"),
    DemoAccount("manager", "demo9001", UserRole.MANAGER, "9001", "王经理"),
)


def _seed_demo(session: Session, accounts: Sequence[DemoAccount]) -> list[str]:
    lines: list[str] = []
    for demo in accounts:
        engineer = session.scalar(select(Engineer).where(Engineer.staff_no == demo.staff_no))
        if engineer is None:
            engineer = Engineer(staff_no=demo.staff_no, name=demo.name, roles=[demo.role.value])
            session.add(engineer)
            session.flush()
        user = session.scalar(select(User).where(User.username == demo.username))
        if user is None:
            session.add(
                User(
                    username=demo.username,
                    password_hash=hash_password(demo.password),
                    role=demo.role,
                    display_name=engineer.name,
                    engineer_id=engineer.id,
                    created_at=datetime.now(UTC),
                    disabled=False,
                )
            )
        lines.append(
            f"{engineer.name}（{demo.role.value}，工号 {demo.staff_no}）: "
            f"用户名 {demo.username}  密码 {demo.password}"
        )
    return lines


async def seed_demo_accounts(sessionmaker: async_sessionmaker[AsyncSession]) -> list[str]:
    """Create the demo accounts (idempotent) and return one "how to sign in" line each.

    Engineers 张三 1818 and 李四 2046, QA 赵质检 7001, manager 王经理 9001; their
    roster rows are created when the roster has not put them there already.
    """
    for attempt in range(3):
        try:
            async with sessionmaker() as session, session.begin():
                return await session.run_sync(_seed_demo, DEMO_ACCOUNTS)
        except IntegrityError:
            # Another process seeded at the same moment: its rows are there now.
            if attempt == 2:
                raise
    return []  # pragma: no cover - the loop returns or raises
