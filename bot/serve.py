"""`aftersales serve`: run the bot on SQLite by default, PostgreSQL with `--db`.

With no arguments it listens on 127.0.0.1:8080 over ./aftersales.sqlite3
(migrated on start) and prints where the chat page and the API are.
`--demo` seeds the policy's roster (engineers 张三 1818 and 李四 2046, a
manager and QA) into the database even when the policy is not the roster's
source.  Several processes may serve one PostgreSQL database; SQLite is for
one process.

Without `--demo` it refuses to start unless ``AFTERSALES_SECRET_KEY`` is set:
that key signs console sessions and seals the secrets the database holds, and
a key kept only in the database would let anyone who reads it sign in as an
admin.  The banner never prints the database password.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import re
import signal
import sys

from aiohttp import web
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.api import header_actor
from bot.app import create_app
from bot.console.security import MIN_SECRET_BYTES
from bot.context import ACTOR_RESOLVER
from bot.health import DRAINING
from bot.settings import Settings, SettingsError
from storage.sealing import SECRET_ENV, SealError

log = logging.getLogger("bot.serve")


SECRET_HELP = (
    f"{SECRET_ENV} is not set. It signs console sessions and seals the secrets stored in "
    "the database (bridge keys, access tokens), so every serve process on one database "
    "needs the same value. Set it to a random string of at least "
    f"{MIN_SECRET_BYTES} bytes, for example:\n"
    f"  export {SECRET_ENV}=\"$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')\"\n"
    "and keep it with your other credentials. To try the product without one, run "
    "'aftersales serve --demo'."
)


def displayed_url(url: str) -> str:
    """`url` with its password masked, for the banner and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        # Not a URL SQLAlchemy can read: mask whatever sits between ':' and '@'.
        return re.sub(r"(//[^/:@]*:)[^@/]*@", r"\1***@", url)


def secret_key_problem(settings: Settings) -> str | None:
    """Why this `serve` may not start for lack of a usable secret key (None: it may)."""
    key = settings.environ.get(SECRET_ENV, "").strip()
    if not key:
        return None if settings.demo else SECRET_HELP
    if len(key.encode("utf-8")) < MIN_SECRET_BYTES:
        return (
            f"{SECRET_ENV}: at least {MIN_SECRET_BYTES} bytes needed, got "
            f"{len(key.encode('utf-8'))}"
        )
    return None


def _banner(settings: Settings, header_auth: bool) -> str:
    base = settings.base_url
    roster = ", ".join(
        f"{e.name} {e.staff_no} ({'/'.join(e.roles)})" for e in settings.policy.roster.engineers
    )
    lines = [
        f"aftersales: serving on {base}  (database: {displayed_url(settings.db_url)})",
        f"  web chat (customers):  {base}/chat",
        f"  engineer API:          {base}/api/tickets"
        + ("   (header X-Staff-No: 工号)" if header_auth else "   (signed in through the console)"),
    ]
    if settings.demo:
        lines.append(f"  demo roster:           {roster}")
    lines.append("  stop with Ctrl+C")
    return "\n".join(lines)


async def serve(settings: Settings) -> None:
    """Run the app until SIGINT or SIGTERM, then shut down gracefully.

    On the signal `/readyz` answers 503 at once (`bot.health`); after
    `settings.drain_s` — long enough for a load balancer's health check to notice —
    the listener closes and requests in flight get up to
    `settings.shutdown_timeout_s` to finish (stored before acknowledged holds for
    them); then the timer scheduler stops and the database is closed.
    """
    app = create_app(settings)
    # The console, when mounted, replaces the header-based actor with its sign-in.
    header_auth = app[ACTOR_RESOLVER] is header_actor
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=settings.shutdown_timeout_s)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on every platform
            loop.add_signal_handler(sig, stop.set)
    try:
        await site.start()
        print(_banner(settings, header_auth), flush=True)
        await stop.wait()
        app[DRAINING].set()
        if settings.drain_s:
            log.info("draining: /readyz answers 503 for %gs before closing", settings.drain_s)
            await asyncio.sleep(settings.drain_s)
    finally:
        await runner.cleanup()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)


def run_serve(args: argparse.Namespace) -> int:
    """Entry point of `aftersales serve` (see `bot.cli`); returns the exit status."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = Settings.load(
            db_url=args.db, host=args.host, port=args.port, policy=args.policy, demo=args.demo
        )
    except SettingsError as exc:
        print(f"aftersales serve: {exc}", file=sys.stderr)
        return 2
    problem = secret_key_problem(settings)
    if problem is not None:
        print(f"aftersales serve: {problem}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(settings))
    except SealError as exc:
        print(f"aftersales serve: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"aftersales serve: cannot listen on {settings.host}:{settings.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 2
    return 0
