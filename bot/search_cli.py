"""`aftersales search`: rebuild the full-text index, or search it, from the command line.

- ``aftersales search reindex [--db URL]`` — every ticket, chat line and archived
  solution indexed again from the tables (after upgrading to revision 0150, or
  whenever the index is in doubt); prints how many documents.
- ``aftersales search query WORDS… [--db URL]`` — what QA or a manager would find
  (everything, closed tickets included), as JSON.

Exit 0 when done, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os

from storage.db import DEFAULT_DB_URL, make_async_engine, make_async_sessionmaker
from storage.migrate import upgrade

EXIT_OK = 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    search = sub.add_parser("search", help="rebuild or query the full-text search index")
    actions = search.add_subparsers(dest="search_command", metavar="ACTION", required=True)
    reindex = actions.add_parser("reindex", help="rebuild the whole index from the tables")
    query = actions.add_parser("query", help="search tickets, messages and archived solutions")
    query.add_argument("words", nargs="+", help="what to look for (Chinese is cut by jieba)")
    for parser in (reindex, query):
        parser.add_argument(
            "--db", metavar="URL", help="database URL (default: SQLite file ./aftersales.sqlite3)"
        )


async def _reindex(url: str) -> int:
    from bot import search

    engine = make_async_engine(url)
    try:
        count = await search.reindex(engine)
    finally:
        await engine.dispose()
    print(json.dumps({"documents": count}))
    return EXIT_OK


async def _query(url: str, words: list[str]) -> int:
    from bot import search

    engine = make_async_engine(url)
    try:
        results = await search.search(
            make_async_sessionmaker(engine), engine, " ".join(words), search.Scope(everything=True)
        )
    finally:
        await engine.dispose()
    print(json.dumps(results.to_dict(), ensure_ascii=False, indent=2))
    return EXIT_OK


def run_search_command(args: argparse.Namespace) -> int:
    url = args.db or os.environ.get("AFTERSALES_DB_URL") or DEFAULT_DB_URL
    upgrade(url)
    if args.search_command == "reindex":
        return asyncio.run(_reindex(url))
    return asyncio.run(_query(url, args.words))
