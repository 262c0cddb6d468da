"""The 公众号 channel's settings, read once from `Settings.environ` and validated.

Required: `AFTERSALES_WECHAT_TOKEN`, `AFTERSALES_WECHAT_APPID`,
`AFTERSALES_WECHAT_SECRET` (until all three are set `/wechat` answers 503
naming the missing ones).  `AFTERSALES_WECHAT_AES_KEY` enables compatible /
safe mode (unset: plaintext only); `AFTERSALES_WECHAT_AES_KEY_PREVIOUS`
keeps the old key during a rotation.

Optional, with their defaults:

- `AFTERSALES_WECHAT_API_BASE` (https://api.weixin.qq.com): where the API calls go (tests: a fake)
- `AFTERSALES_WECHAT_MAX_SKEW_S` (300): a callback timestamp further off our clock is
  logged as a clock problem (a message is still taken; URL verification is refused)
- `AFTERSALES_WECHAT_API_TIMEOUT_S` (5): per API call
- `AFTERSALES_WECHAT_API_ATTEMPTS` (3): attempts per API call
- `AFTERSALES_WECHAT_WELCOME` (subscribe,scan,click): the events answered with the
  welcome line; ``click:KEY`` limits menu clicks to that EventKey, ``off`` sends none
- `AFTERSALES_WECHAT_REPLY_BUDGET_S` (2): past this the webhook answers ``success`` and
  the reply follows by custom/send (WeChat itself waits 5 s)
- `AFTERSALES_WECHAT_SWEEP_S` (30): how often the intake journal is swept (0: never)
- `AFTERSALES_WECHAT_TOKEN_LEAD_S` (300): refresh the access token this long before it expires

A value that is set but unusable stops the app at start with a `SettingsError`
naming the variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.channels.edge import ChannelEnv
from bot.channels.wechat_api import DEFAULT_API_BASE, RetryPolicy
from bot.settings import SettingsError

CHANNEL = "wechat"
REQUIRED_ENV = (
    "AFTERSALES_WECHAT_TOKEN",
    "AFTERSALES_WECHAT_APPID",
    "AFTERSALES_WECHAT_SECRET",
)


WELCOME_TRIGGERS = ("subscribe", "scan", "click")


@dataclass(frozen=True, slots=True)
class WelcomeRule:
    """Which events get the welcome line: subscribe, SCAN, and menu CLICKs (all of
    them, or only the listed EventKeys)."""

    subscribe: bool = True
    scan: bool = True
    click: bool = True
    click_keys: frozenset[str] = frozenset()

    def applies(self, event: str, event_key: str) -> bool:
        if event == "subscribe":
            return self.subscribe
        if event == "scan":
            return self.scan
        if event == "click":
            return self.click and (not self.click_keys or event_key in self.click_keys)
        return False

    @classmethod
    def parse(cls, raw: str, *, name: str) -> WelcomeRule:
        """``subscribe,scan,click`` (the default), ``click:REPORT_FAULT``, ``off``."""
        text = raw.strip().lower()
        if text in ("off", "none", "0"):
            return cls(subscribe=False, scan=False, click=False)
        chosen: set[str] = set()
        keys: set[str] = set()
        for item in (part.strip() for part in raw.split(",")):
            if not item:
                continue
            trigger, _, key = item.partition(":")
            trigger = trigger.strip().lower()
            if trigger not in WELCOME_TRIGGERS or (key and trigger != "click"):
                raise SettingsError(
                    f"{name}: {item!r} is not one of subscribe, scan, click, click:KEY, off"
                )
            chosen.add(trigger)
            if key.strip():
                keys.add(key.strip())
        return cls(
            subscribe="subscribe" in chosen,
            scan="scan" in chosen,
            click="click" in chosen,
            click_keys=frozenset(keys),
        )


@dataclass(frozen=True, slots=True)
class WeChatConfig:
    """The channel's validated settings."""

    token: str
    app_id: str
    secret: str
    # Current EncodingAESKey first, then the previous one; empty: plaintext only.
    aes_keys: tuple[str, ...] = ()
    api_base: str = DEFAULT_API_BASE
    max_skew_s: float = 300
    token_lead_s: float = 300
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    welcome: WelcomeRule = field(default_factory=WelcomeRule)
    reply_budget_s: float = 2.0
    sweep_s: float = 30

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> WeChatConfig | None:
        """The configuration in `environ`, None when the channel is not configured.

        Raises `SettingsError` naming the variable for a value that is set but
        unusable (a 42-character AES key, a skew that is not a number …).
        """
        env = ChannelEnv(environ)
        if env.missing(REQUIRED_ENV):
            return None
        return cls(
            token=env.text("AFTERSALES_WECHAT_TOKEN"),
            app_id=env.text("AFTERSALES_WECHAT_APPID"),
            secret=env.text("AFTERSALES_WECHAT_SECRET"),
            aes_keys=env.aes_keys(
                "AFTERSALES_WECHAT_AES_KEY", "AFTERSALES_WECHAT_AES_KEY_PREVIOUS"
            ),
            api_base=env.url("AFTERSALES_WECHAT_API_BASE", DEFAULT_API_BASE),
            max_skew_s=env.number("AFTERSALES_WECHAT_MAX_SKEW_S", 300, minimum=0),
            token_lead_s=env.number("AFTERSALES_WECHAT_TOKEN_LEAD_S", 300, minimum=0),
            retry=RetryPolicy(
                timeout_s=env.number("AFTERSALES_WECHAT_API_TIMEOUT_S", 5.0, minimum=0.1),
                attempts=env.whole("AFTERSALES_WECHAT_API_ATTEMPTS", 3, minimum=1),
            ),
            reply_budget_s=env.number("AFTERSALES_WECHAT_REPLY_BUDGET_S", 2.0, minimum=0.1),
            sweep_s=env.number("AFTERSALES_WECHAT_SWEEP_S", 30, minimum=0),
            welcome=WelcomeRule.parse(
                env.text("AFTERSALES_WECHAT_WELCOME") or ",".join(WELCOME_TRIGGERS),
                name="AFTERSALES_WECHAT_WELCOME",
            ),
        )

    @staticmethod
    def missing(environ: Mapping[str, str]) -> tuple[str, ...]:
        """The required variables that are unset in `environ`."""
        return ChannelEnv(environ).missing(REQUIRED_ENV)
