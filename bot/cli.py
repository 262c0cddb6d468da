"""The `aftersales` command line (SPEC §3).

One parser with a subcommand per job; each subcommand's work lives with the
package that owns it (`compliance.cli` for `check`, `bot.serve` for `serve`),
this module only parses, loads the policy once and dispatches.

Exit status: 0 success, 1 findings of severity error (`check`), 2 usage or
input error, with a message on stderr that names the file, line or key.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import date

from bot.validation import Invalid, cli_text, cli_whole, parse_day, shown
from compliance.policy import PolicyError, build_calendar, load_policy
from compliance.reports import WRITERS

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2


def _add_policy(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--policy",
        metavar="FILE",
        help="policy TOML file or packaged profile name (default: the 朴赛 standard, 'pusai'; "
        "also 'seed002')",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aftersales",
        description="After-sales assistant: chat bot, prompted script lines, compliance checker.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = sub.add_parser(
        "serve",
        help="run the bot's webhooks, the web chat page and the console (one aiohttp app)",
        description="Run the bot: channel webhooks, /chat, the engineer/QA console.",
    )
    serve.add_argument(
        "--db", metavar="URL", help="database URL (default: SQLite file ./aftersales.sqlite3)"
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    serve.add_argument("--port", type=cli_whole(1, 65535), default=8080, help="port (default 8080)")
    serve.add_argument("--demo", action="store_true", help="seed a demo roster and accounts")
    _add_policy(serve)

    check = sub.add_parser(
        "check",
        help="check transcripts (JSON Lines files, directories, stored sessions)",
        description="Check transcripts against the policy rules (SPEC §6). Exit 0: no error-level "
        "finding; 1: error-level findings; 2: usage or input error.",
    )
    check.add_argument("paths", nargs="*", metavar="PATH", help="*.jsonl file or directory of them")
    check.add_argument("--db", metavar="URL", help="check sessions stored in this database")
    check.add_argument(
        "--since", metavar="DATE", type=date.fromisoformat, help="with --db: from DATE"
    )
    check.add_argument(
        "--until", metavar="DATE", type=date.fromisoformat, help="with --db: to DATE"
    )
    check.add_argument(
        "--format", choices=list(WRITERS), default="text", help="report format (default text)"
    )
    binary = " and ".join(name for name, kind in WRITERS.items() if kind.binary)
    check.add_argument(
        "--out", metavar="FILE", help=f"write the report here (default stdout; {binary} needs it)"
    )
    check.add_argument(
        "--select",
        action="append",
        default=[],
        metavar="CODES",
        help="only these codes or prefixes (comma-separated)",
    )
    check.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="CODES",
        help="skip these codes or prefixes",
    )
    check.add_argument(
        "--save", action="store_true", help="save the findings to the database (--db, or --save-db)"
    )
    check.add_argument(
        "--save-db", metavar="URL", help="with --save for files: the database to save into"
    )
    check.add_argument(
        "--no-progress", action="store_true", help="no progress bar even on a terminal"
    )
    check.add_argument(
        "--jobs",
        type=int,
        default=0,
        metavar="N",
        help="processes that read and check transcript files (default 0: one per CPU "
        "for 16 MiB of input or more, else 1)",
    )
    _add_policy(check)

    cal = sub.add_parser(
        "calendar",
        help="is a date a working day, and why (one JSON object per date)",
        description="Print one JSON object per date: {date, working_day, reason}.",
    )
    cal.add_argument("dates", nargs="+", metavar="DATE", help="YYYY-MM-DD (1970–2100)")
    _add_policy(cal)

    exemplars = sub.add_parser(
        "exemplars",
        help="exemplars QA's marks taught the detectors: list them, or export them as policy",
    )
    ex_sub = exemplars.add_subparsers(dest="exemplars_command", metavar="ACTION", required=True)
    for action, text in (
        ("list", "one JSON object per stored exemplar, newest first"),
        ("export", "a policy file (TOML) that extends the policy with the active exemplars"),
    ):
        ex = ex_sub.add_parser(action, help=text)
        ex.add_argument(
            "--db", metavar="URL", help="database URL (default: SQLite file ./aftersales.sqlite3)"
        )
        ex.add_argument("--detector", metavar="NAME", help="only this detector (abuse, remote …)")
        ex.add_argument("--all", action="store_true", help="also the retired ones")
        if action == "export":
            ex.add_argument("--out", metavar="FILE", help="write here (default: standard output)")
            _add_policy(ex)

    from bot.privacy_cli import add_parser as add_privacy

    add_privacy(sub)

    from bot.search_cli import add_parser as add_search

    add_search(sub)

    user = sub.add_parser("user", help="manage console accounts")
    user_sub = user.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    add = user_sub.add_parser("add", help="create a console account")
    add.add_argument("username", type=cli_text(64))
    add.add_argument("--role", choices=("engineer", "qa", "manager", "admin"), required=True)
    add.add_argument(
        "--name", type=cli_text(64), help="display name (engineers: the name in the greeting)"
    )
    add.add_argument("--staff-no", type=cli_text(32), help="工号 (engineers)")
    add.add_argument("--password", type=cli_text(256), help="password (prompted when omitted)")
    add.add_argument(
        "--db", metavar="URL", help="database URL (default: SQLite file ./aftersales.sqlite3)"
    )
    return parser


def run_calendar(args: argparse.Namespace) -> int:
    policy = load_policy(args.policy)
    calendar = build_calendar(policy)
    status = EXIT_OK
    for raw in args.dates:
        try:
            day = parse_day(raw)
        except Invalid as exc:
            print(f"aftersales calendar: {shown(raw)!r}: {exc}", file=sys.stderr)
            status = EXIT_USAGE
            continue
        info = calendar.day(day)
        record = {"date": day.isoformat(), "working_day": info.working_day, "reason": info.reason}
        print(json.dumps(record, ensure_ascii=False))
    return status


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # Our own loggers speak at INFO; libraries (alembic, aiohttp) only warn.
    logging.basicConfig(level=logging.WARNING, format="aftersales: %(levelname)s: %(message)s")
    for name in ("bot", "compliance", "storage"):
        logging.getLogger(name).setLevel(logging.INFO)
    try:
        if args.command == "calendar":
            return run_calendar(args)
        if args.command == "check":
            from compliance.cli import run_check

            return run_check(args)
        if args.command == "serve":
            from bot.serve import run_serve

            return run_serve(args)
        if args.command == "exemplars":
            from compliance.exemplars import run_exemplars_command

            return run_exemplars_command(args)
        if args.command == "privacy":
            from bot.privacy_cli import run_privacy_command

            return run_privacy_command(args)
        if args.command == "search":
            from bot.search_cli import run_search_command

            return run_search_command(args)
        if args.command == "user":
            from bot.accounts import run_user_command

            return run_user_command(args)
    except PolicyError as exc:
        print(f"aftersales: policy error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    parser.error(f"unknown command {args.command!r}")
    return EXIT_USAGE  # pragma: no cover - parser.error exits


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
