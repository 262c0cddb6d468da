"""The 公众号's handle on the channel harness: `Bot` (the app, WeChat's side of the
webhook, the fake API) and its fixtures `fake_api` and `make_bot` (registered for the
whole folder by ``conftest.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.channels.testing import FakeWeChatApi, Mode, WeChatCallbacks
from compliance.policy import load_policy
from tests.channels.harness import ChannelApp, FakeServer, StartApp
from tests.support import FakeClock

TOKEN = "aftersalesTOKEN2026"
AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
OLD_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APP_ID = "wx49f0ab532d5d035a"
OPENID = "oCust_2N3kd8sKe0Pq"
POLICY = load_policy(None)


@dataclass
class Bot(ChannelApp):
    """One running app instance, its WeChat counterpart and the fake API."""

    wechat: WeChatCallbacks
    fake: FakeWeChatApi
    msg_ids: Iterator[int] = field(default_factory=lambda: iter(range(7_000_000_001, 8 << 40)))

    async def post(
        self,
        plaintext: str,
        mode: Mode = "safe",
        *,
        timestamp: int | None = None,
        params: Mapping[str, str] | None = None,
    ) -> tuple[int, str]:
        signed = self.wechat.request(
            plaintext, mode, timestamp=self.clock.unix if timestamp is None else timestamp
        )
        response = await self.client.post(
            "/wechat", params={**signed.params, **(params or {})}, data=signed.body
        )
        return response.status, await response.text()

    async def say(self, text: str, mode: Mode = "safe", *, msg_id: int | None = None) -> str:
        """The customer writes; returns the passive reply's text ('' for ``success``)."""
        xml = self.wechat.text_xml(OPENID, text, msg_id or next(self.msg_ids), self.clock.unix)
        status, body = await self.post(xml, mode)
        assert status == 200, body
        if body == "success":
            return ""
        return str(self.wechat.open_reply(body)["Content"])

    async def api(self, method: str, path: str, staff_no: str, **body: Any) -> dict[str, Any]:
        response = await self.client.request(
            method, path, json=body if method == "POST" else None, headers={"X-Staff-No": staff_no}
        )
        data = await response.json()
        assert response.status < 300, data
        return dict(data)


def wechat_env(api_base: str, **extra: str) -> dict[str, str]:
    return {
        "AFTERSALES_WECHAT_TOKEN": TOKEN,
        "AFTERSALES_WECHAT_AES_KEY": AES_KEY,
        "AFTERSALES_WECHAT_APPID": APP_ID,
        "AFTERSALES_WECHAT_SECRET": "s3cret",
        "AFTERSALES_WECHAT_API_BASE": api_base,
        "AFTERSALES_WECHAT_API_ATTEMPTS": "2",
        # The budget's own tests set it low; elsewhere a loaded test machine must not
        # turn a passive reply into custom/send.  The journal sweep is tested on its own.
        "AFTERSALES_WECHAT_REPLY_BUDGET_S": "10",
        "AFTERSALES_WECHAT_SWEEP_S": "0",
        **extra,
    }


BotFactory = Callable[..., Awaitable[Bot]]


@pytest.fixture
async def fake_api(fake_server: FakeServer) -> tuple[FakeWeChatApi, str]:
    fake = FakeWeChatApi()
    return fake, await fake_server(fake.app())


@pytest.fixture
async def make_bot(
    start_app: StartApp, fake_api: tuple[FakeWeChatApi, str]
) -> AsyncIterator[BotFactory]:
    fake, base = fake_api

    async def factory(
        db_url: str,
        *,
        env: Mapping[str, str] | None = None,
        clock: FakeClock | None = None,
        aes_key: str | None = AES_KEY,
        app_id: str = APP_ID,
        token: str = TOKEN,
        console: bool = False,
    ) -> Bot:
        app = await start_app(
            db_url, env=wechat_env(base) if env is None else env, clock=clock, console=console
        )
        callbacks = WeChatCallbacks(token, aes_key, app_id)
        return Bot(app.client, app.clock, app.engine, callbacks, fake, browsers=app.browsers)

    yield factory
