"""The engineer / QA / manager console: server-rendered pages under ``/console``.

`bot.app.create_app` mounts it through `setup` (its page-module hook);
`setup_console` is the same call under a name that says what it does.
"""

from __future__ import annotations

from aiohttp import web

from bot.console.app import setup_console

__all__ = ["setup", "setup_console"]


def setup(app: web.Application) -> None:
    """Mount the console on the bot's app (the hook `bot.app.PAGE_MODULES` calls)."""
    setup_console(app)
