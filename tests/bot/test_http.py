"""The request plumbing shared by the API and the channels: bodies with a size limit."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.http import ApiError, json_errors, read_body


async def test_read_body_refuses_what_is_over_its_limit(aiohttp_client: Any) -> None:
    async def echo(request: web.Request) -> web.Response:
        return web.Response(body=await read_body(request, limit=16))

    app = web.Application(middlewares=[json_errors])
    app.router.add_post("/", echo)
    client = await aiohttp_client(app)
    ok = await client.post("/", data=b"0123456789abcdef")
    assert (ok.status, await ok.read()) == (200, b"0123456789abcdef")
    over = await client.post("/", data=b"0123456789abcdefg")
    assert over.status == 413
    assert await over.json() == {
        "error": "body_too_large",
        "message": "body is over the 16-byte limit",
    }


async def test_read_body_without_a_limit_is_the_apps(aiohttp_client: Any) -> None:
    async def echo(request: web.Request) -> web.Response:
        try:
            return web.Response(body=await read_body(request))
        except ApiError as exc:
            return web.Response(status=exc.status, text=exc.message)

    app = web.Application(client_max_size=1024)
    app.router.add_post("/", echo)
    client = await aiohttp_client(app)
    assert (await client.post("/", data=b"x" * 1024)).status == 200
    over = await client.post("/", data=b"x" * 1025)
    assert (over.status, await over.text()) == (413, "请求体超过大小上限")
