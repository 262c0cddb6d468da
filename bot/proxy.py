"""Behind a TLS-terminating reverse proxy: believe its forwarded scheme and client address.

With ``AFTERSALES_TRUST_PROXY=1`` the app's first middleware rewrites each
request from the proxy's headers, so ``request.secure`` (the Secure flag of the
console's cookies) and ``request.remote`` (the sign-in throttle's client
address) say what the proxy saw:

- ``X-Forwarded-Proto``: the first entry (the scheme the client used);
- ``X-Forwarded-For``: the last entry (the address that connected to our proxy;
  earlier entries are whatever the client claimed and are not believed).

Only turn it on behind a proxy that sets (not passes on) both headers: anyone who
can reach the app directly could otherwise claim any scheme or address.
``AFTERSALES_SECURE_COOKIES=1`` forces the Secure flag whatever the scheme.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def trust_forwarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Rewrite scheme and remote address from the proxy's X-Forwarded-* headers."""
    changes: dict[str, Any] = {}
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    if proto in ("http", "https"):
        changes["scheme"] = proto
    forwarded_for = request.headers.get("X-Forwarded-For", "").split(",")[-1].strip()
    if forwarded_for:
        changes["remote"] = forwarded_for[:64]
    return await handler(request.clone(**changes) if changes else request)
