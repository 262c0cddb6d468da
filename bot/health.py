"""Health checks for a load balancer or a process supervisor.

- ``GET /healthz`` — liveness: the process answers (no database work), 200 ``ok``.
- ``GET /readyz`` — readiness: the database answers a trivial query within
  `READY_TIMEOUT_S` and the process is not draining; 200 ``ready``, else 503 with
  the reason, so a balancer stops sending new requests to it.

`serve` sets the draining flag on SIGTERM before it stops listening (see
`bot.serve`), so in-flight requests finish while new ones go elsewhere.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from sqlalchemy import text

from bot.context import SERVICES

log = logging.getLogger("bot.health")

READY_TIMEOUT_S = 2.0
DRAINING = web.AppKey("draining", asyncio.Event)


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def readyz(request: web.Request) -> web.Response:
    app = request.app
    if app[DRAINING].is_set():
        return web.Response(status=503, text="draining\n")
    engine = app[SERVICES].engine
    try:
        async with asyncio.timeout(READY_TIMEOUT_S), engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to reach the database means "not ready"
        log.warning("readiness check failed: %s", exc)
        return web.Response(status=503, text=f"database unavailable: {type(exc).__name__}\n")
    return web.Response(text="ready\n")


def setup(app: web.Application) -> None:
    app[DRAINING] = asyncio.Event()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
