"""Console accounts and the console's signing secret, on the shared declarative Base.

A `User` signs in to the console (``/console``) with a role; an engineer's
account points at their roster row (`Engineer`: name and 工号), so what they
do in the console is recorded under their 工号 exactly as the chat API would.
`ConsoleSecret` keeps the key that signs session cookies when
``AFTERSALES_SECRET_KEY`` is not set: the first process to start stores one
and every other process serving the same database reads it.
`SigninThrottle` counts failed sign-ins per account and per client address,
in the database so that every `serve` process sees the same lockouts.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, Enum, ForeignKey, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, utcnow

__all__ = ["ConsoleSecret", "SigninThrottle", "User", "UserRole"]


class UserRole(enum.StrEnum):
    """What an account may open in the console."""

    ENGINEER = "engineer"
    QA = "qa"
    MANAGER = "manager"
    ADMIN = "admin"


class User(Base):
    """A console account."""

    __tablename__ = "console_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[UserRole] = mapped_column(
        Enum(
            UserRole,
            name="console_user_role",
            native_enum=False,
            create_constraint=False,
            length=16,
            values_callable=lambda kinds: [kind.value for kind in kinds],
            validate_strings=True,
        )
    )
    display_name: Mapped[str] = mapped_column(String(64))
    engineer_id: Mapped[int | None] = mapped_column(
        ForeignKey("engineers.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Sessions signed before this moment are void: set on sign-out, password
    # change and disabling, since signed cookies cannot be recalled one by one.
    sessions_valid_after: Mapped[datetime | None] = mapped_column()


class ConsoleSecret(Base):
    """A named secret shared by every process on the database (the cookie key)."""

    __tablename__ = "console_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Sealed (`storage.sealing`) when AFTERSALES_SECRET_KEY is set.
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SigninThrottle(Base):
    """Failed sign-ins of one account (``account:<username>``) or one client address
    (``address:<ip>``), and until when that key is locked out."""

    __tablename__ = "signin_throttles"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column()
    locked_until: Mapped[datetime | None] = mapped_column()
