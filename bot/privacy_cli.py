"""`aftersales privacy`: forget a customer, or mask closed tickets past retention, from
the command line (the same work as the console's button and the scheduler's chore).

- ``aftersales privacy forget (--ticket N | --channel C --customer ID) [--db URL]``
- ``aftersales privacy retention [--days N] [--db URL]`` (default: ``AFTERSALES_RETENTION_DAYS``,
  365)

Exit 0 when done, 2 for a usage error or an unknown customer (named).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import UTC, datetime

from bot.settings import SettingsError, env_number
from bot.validation import cli_text, cli_whole
from storage.db import DEFAULT_DB_URL, make_async_engine, make_async_sessionmaker
from storage.migrate import upgrade

EXIT_OK = 0
EXIT_USAGE = 2


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    privacy = sub.add_parser(
        "privacy", help="forget a customer, or mask closed tickets past retention"
    )
    actions = privacy.add_subparsers(dest="privacy_command", metavar="ACTION", required=True)
    forget = actions.add_parser("forget", help="erase one customer's personal data")
    forget.add_argument(
        "--ticket", metavar="NUMBER", type=cli_text(32), help="the customer of this ticket"
    )
    forget.add_argument(
        "--channel", type=cli_text(16), help="with --customer: wechat, wecom, qianniu, jd, web"
    )
    forget.add_argument(
        "--customer", metavar="ID", type=cli_text(128), help="the customer's id on that channel"
    )
    retention = actions.add_parser(
        "retention", help="mask customer texts of tickets closed longer ago than the retention"
    )
    retention.add_argument(
        "--days",
        type=cli_whole(0, 36500),
        help="retention in days (default: AFTERSALES_RETENTION_DAYS or 365)",
    )
    for parser in (forget, retention):
        parser.add_argument(
            "--db", metavar="URL", help="database URL (default: SQLite file ./aftersales.sqlite3)"
        )


async def _forget(url: str, args: argparse.Namespace) -> int:
    # The lifecycle is imported here, not at the top: `aftersales check` builds this
    # parser too and should not pay for loading the bot.
    from bot.lifecycle import find_customer, forget_in

    engine = make_async_engine(url)
    lock = engine.dialect.name == "postgresql"
    try:
        async with make_async_sessionmaker(engine)() as session, session.begin():
            if args.ticket:
                customer = await find_customer(session, lock=lock, ticket_number=args.ticket)
            else:
                customer = await find_customer(
                    session, lock=lock, channel=args.channel, external_id=args.customer
                )
            if customer is None:
                what = args.ticket or f"{args.channel}/{args.customer}"
                print(f"aftersales privacy forget: no customer for {what}", file=sys.stderr)
                return EXIT_USAGE
            done = await forget_in(session, customer, datetime.now(UTC), reason="cli", actor="cli")
    finally:
        await engine.dispose()
    print(json.dumps(done.to_dict(), ensure_ascii=False))
    return EXIT_OK


async def _retention(url: str, days: int) -> int:
    from bot.lifecycle import RETENTION_BATCH, mask_expired_in

    engine = make_async_engine(url)
    lock = engine.dialect.name == "postgresql"
    masked: list[str] = []
    try:
        sessionmaker = make_async_sessionmaker(engine)
        while True:
            async with sessionmaker() as session, session.begin():
                batch = await mask_expired_in(session, datetime.now(UTC), days, skip_locked=lock)
            masked.extend(batch)
            if len(batch) < RETENTION_BATCH:
                break
    finally:
        await engine.dispose()
    print(json.dumps({"retention_days": days, "masked": masked}, ensure_ascii=False))
    return EXIT_OK


def run_privacy_command(args: argparse.Namespace) -> int:
    url = args.db or os.environ.get("AFTERSALES_DB_URL") or DEFAULT_DB_URL
    if args.privacy_command == "forget":
        if not args.ticket and not (args.channel and args.customer):
            print(
                "aftersales privacy forget: give --ticket NUMBER, or --channel and --customer",
                file=sys.stderr,
            )
            return EXIT_USAGE
        upgrade(url)
        return asyncio.run(_forget(url, args))
    try:
        days = (
            args.days
            if args.days is not None
            else int(env_number(os.environ, "AFTERSALES_RETENTION_DAYS", 365, whole=True))
        )
    except SettingsError as exc:
        print(f"aftersales privacy retention: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if days <= 0:
        print("aftersales privacy retention: --days must be 1 or more", file=sys.stderr)
        return EXIT_USAGE
    upgrade(url)
    return asyncio.run(_retention(url, days))
