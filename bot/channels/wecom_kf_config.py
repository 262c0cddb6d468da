"""The WeCom 微信客服 (kf) channel's settings, read once from `Settings.environ`.

Required: `AFTERSALES_WECOM_CORP_ID`, `AFTERSALES_WECOM_KF_SECRET` (the secret
that `gettoken` takes for the kf API; see docs/channels.md for which one),
`AFTERSALES_WECOM_KF_TOKEN` and `AFTERSALES_WECOM_KF_AES_KEY` (the callback's
Token and EncodingAESKey).  Unset: `/wecom/kf` answers 503 naming them.

Optional, with their defaults:

- `AFTERSALES_WECOM_KF_AES_KEY_PREVIOUS` (–): the old key during a rotation
- `AFTERSALES_WECOM_API_BASE` (https://qyapi.weixin.qq.com): where the API calls go (tests: a fake)
- `AFTERSALES_WECOM_API_TIMEOUT_S` (5): per API call
- `AFTERSALES_WECOM_API_ATTEMPTS` (3): attempts per API call
- `AFTERSALES_WECOM_KF_MAX_SKEW_S` (300): a callback further off our clock is refused (0: off)
- `AFTERSALES_WECOM_KF_SYNC_BUDGET_S` (3): how long a callback waits for its sync
- `AFTERSALES_WECOM_KF_LEASE_S` (60): how long one worker holds an account's cursor
- `AFTERSALES_WECOM_KF_SWEEP_S` (60): the periodic sweep of pending notices (0: none)
- `AFTERSALES_WECOM_KF_WELCOME` (on): answer enter_session's welcome_code with the
  welcome line (off: leave it to the welcome configured in WeCom's admin console)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.channels.edge import ChannelEnv
from bot.channels.wechat_api import RetryPolicy
from bot.channels.wecom_kf_api import DEFAULT_API_BASE

CHANNEL = "wecom"
REQUIRED_ENV = (
    "AFTERSALES_WECOM_CORP_ID",
    "AFTERSALES_WECOM_KF_SECRET",
    "AFTERSALES_WECOM_KF_TOKEN",
    "AFTERSALES_WECOM_KF_AES_KEY",
)


@dataclass(frozen=True, slots=True)
class WeComKfConfig:
    """The kf channel's settings, validated."""

    corp_id: str
    secret: str
    token: str
    aes_keys: tuple[str, ...]
    api_base: str = DEFAULT_API_BASE
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_skew_s: float = 300
    sync_budget_s: float = 3
    lease_s: float = 60
    sweep_s: float = 60
    welcome: bool = True

    @staticmethod
    def missing(environ: Mapping[str, str]) -> tuple[str, ...]:
        return ChannelEnv(environ).missing(REQUIRED_ENV)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> WeComKfConfig | None:
        """The config, None when a required variable is unset; `SettingsError` when one is bad."""
        env = ChannelEnv(environ)
        if env.missing(REQUIRED_ENV):
            return None
        return cls(
            corp_id=env.text("AFTERSALES_WECOM_CORP_ID"),
            secret=env.text("AFTERSALES_WECOM_KF_SECRET"),
            token=env.text("AFTERSALES_WECOM_KF_TOKEN"),
            aes_keys=env.aes_keys(
                "AFTERSALES_WECOM_KF_AES_KEY", "AFTERSALES_WECOM_KF_AES_KEY_PREVIOUS"
            ),
            api_base=env.url("AFTERSALES_WECOM_API_BASE", DEFAULT_API_BASE),
            retry=RetryPolicy(
                timeout_s=env.number("AFTERSALES_WECOM_API_TIMEOUT_S", 5, minimum=0.1),
                attempts=env.whole("AFTERSALES_WECOM_API_ATTEMPTS", 3, minimum=1),
            ),
            max_skew_s=env.number("AFTERSALES_WECOM_KF_MAX_SKEW_S", 300, minimum=0),
            sync_budget_s=env.number("AFTERSALES_WECOM_KF_SYNC_BUDGET_S", 3, minimum=0),
            lease_s=env.number("AFTERSALES_WECOM_KF_LEASE_S", 60, minimum=5),
            sweep_s=env.number("AFTERSALES_WECOM_KF_SWEEP_S", 60, minimum=0),
            welcome=env.choice("AFTERSALES_WECOM_KF_WELCOME", "on", ("on", "off")) == "on",
        )
