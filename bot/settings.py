"""The bot's settings: loaded once (command line + environment), validated, passed down.

`Settings` is frozen; `create_app(settings)` reads nothing else from the
process environment.  Channel modules that need credentials (WeChat's
`AFTERSALES_WECHAT_*`) read them from `settings.environ`, a snapshot taken at
load time, so tests hand in a plain dict instead of patching `os.environ`.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType

from compliance.policy import Policy, load_policy
from storage.db import DEFAULT_DB_URL


class SettingsError(ValueError):
    """A setting that cannot be used; the message names the variable or option."""


def env_number(
    environ: Mapping[str, str],
    name: str,
    default: float,
    *,
    minimum: float | None = None,
    whole: bool = False,
) -> float:
    """The number in variable `name` (`default` when unset or blank).

    Raises `SettingsError` naming the variable for a value that is not a number,
    not a whole number when `whole`, or below `minimum`.
    """
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(int(raw)) if whole else float(raw)
    except ValueError:
        kind = "an integer" if whole else "a number"
        raise SettingsError(f"{name}: expected {kind}, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise SettingsError(f"{name}: must be at least {minimum:g}, got {raw!r}")
    return value


def env_flag(environ: Mapping[str, str], name: str) -> bool:
    """A yes/no variable: 1/true/yes/on or 0/false/no/off (unset or blank: no)."""
    raw = environ.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise SettingsError(f"{name}: expected 1 or 0, got {raw!r}")


def utc_now() -> datetime:
    """The wall clock, aware; the default `Settings.now`."""
    return datetime.now(UTC)


def _instance_id() -> str:
    # Unique per process, readable in the timers table's locked_by column.
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything `create_app` needs; build with `Settings.load` or directly in tests."""

    policy: Policy
    db_url: str = DEFAULT_DB_URL
    host: str = "127.0.0.1"
    port: int = 8080
    # Largest request body accepted (aiohttp client_max_size); larger is 413.
    max_body_bytes: int = 64 * 1024
    # Longest customer message text kept (characters); longer is refused with 400.
    max_text_chars: int = 4000
    # Run Alembic migrations when the app starts (serve does; tests may pre-migrate).
    migrate_on_start: bool = True
    # The timer scheduler: on in serve, off in tests that fire timers by hand.
    scheduler_enabled: bool = True
    scheduler_interval_s: float = 5.0
    # A running pre-send check looks for QA's new exemplars at most this often
    # (seconds; `bot.exemplar_watch`); 0 looks before every draft.
    exemplar_poll_s: float = 2.0
    # A claimed timer whose process died is claimable again after this long.
    timer_lock_s: int = 120
    # Warn the engineer and the manager this much attended time before the
    # 4 h solution deadline, so the one extension can still be granted in time.
    solution_warning_lead_s: int = 1800
    # On SIGTERM: answer /readyz 503 this long before closing the listener, so a load
    # balancer stops sending; then wait up to shutdown_timeout_s for in-flight requests.
    drain_s: float = 0.0
    shutdown_timeout_s: float = 10.0
    # Seed demo roster rows into the engineers table at start (serve --demo).
    demo: bool = False
    # Closed tickets' customer texts are masked this many days after closing
    # (`AFTERSALES_RETENTION_DAYS`; 0 keeps them).
    retention_days: int = 365
    # Cookies always carry the Secure flag (`AFTERSALES_SECURE_COOKIES=1`), and a
    # reverse proxy's X-Forwarded-Proto / X-Forwarded-For are believed
    # (`AFTERSALES_TRUST_PROXY=1`): only behind a proxy that sets them itself.
    secure_cookies: bool = False
    trust_proxy: bool = False
    instance_id: str = field(default_factory=_instance_id)
    # The clock of the whole app (messages, timers, deadlines); tests inject one.
    now: Callable[[], datetime] = utc_now
    environ: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if self.max_body_bytes < 1024:
            raise SettingsError(f"max_body_bytes: at least 1024, got {self.max_body_bytes}")
        if self.max_text_chars < 1:
            raise SettingsError(f"max_text_chars: must be positive, got {self.max_text_chars}")
        if self.scheduler_interval_s <= 0:
            raise SettingsError(
                f"scheduler_interval_s: must be positive, got {self.scheduler_interval_s}"
            )
        if self.exemplar_poll_s < 0:
            raise SettingsError(
                f"exemplar_poll_s: must not be negative, got {self.exemplar_poll_s}"
            )
        if self.timer_lock_s <= 0:
            raise SettingsError(f"timer_lock_s: must be positive, got {self.timer_lock_s}")
        if self.drain_s < 0 or self.shutdown_timeout_s < 0:
            raise SettingsError("drain_s and shutdown_timeout_s: must not be negative")
        if self.retention_days < 0:
            raise SettingsError(f"retention_days: must be 0 or more, got {self.retention_days}")
        if not 0 < self.port < 65536:
            raise SettingsError(f"port: must be 1–65535, got {self.port}")

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @classmethod
    def load(
        cls,
        *,
        db_url: str | None = None,
        host: str = "127.0.0.1",
        port: int = 8080,
        policy: str | None = None,
        demo: bool = False,
        environ: Mapping[str, str] | None = None,
    ) -> Settings:
        """Settings from command-line values, falling back to `AFTERSALES_*` variables.

        Variables: `AFTERSALES_DB_URL`, `AFTERSALES_POLICY`,
        `AFTERSALES_MAX_BODY_BYTES`, `AFTERSALES_SCHEDULER_INTERVAL_S`,
        `AFTERSALES_SCHEDULER` (``off`` disables the timer scheduler),
        `AFTERSALES_DRAIN_S`, `AFTERSALES_SHUTDOWN_TIMEOUT_S` (see `bot.serve`),
        `AFTERSALES_RETENTION_DAYS`, `AFTERSALES_SECURE_COOKIES`, `AFTERSALES_TRUST_PROXY`.
        """
        env = dict(os.environ if environ is None else environ)
        scheduler = env.get("AFTERSALES_SCHEDULER", "on").strip().lower()
        if scheduler not in ("on", "off"):
            raise SettingsError(f"AFTERSALES_SCHEDULER: expected on or off, got {scheduler!r}")
        return cls(
            policy=load_policy(policy or env.get("AFTERSALES_POLICY") or None),
            db_url=db_url or env.get("AFTERSALES_DB_URL") or DEFAULT_DB_URL,
            host=host,
            port=port,
            max_body_bytes=int(env_number(env, "AFTERSALES_MAX_BODY_BYTES", 64 * 1024, whole=True)),
            scheduler_enabled=scheduler == "on",
            scheduler_interval_s=env_number(env, "AFTERSALES_SCHEDULER_INTERVAL_S", 5.0),
            exemplar_poll_s=env_number(env, "AFTERSALES_EXEMPLAR_POLL_S", 2.0, minimum=0),
            drain_s=env_number(env, "AFTERSALES_DRAIN_S", 0.0, minimum=0),
            shutdown_timeout_s=env_number(env, "AFTERSALES_SHUTDOWN_TIMEOUT_S", 10.0, minimum=0),
            demo=demo,
            retention_days=int(
                env_number(env, "AFTERSALES_RETENTION_DAYS", 365, minimum=0, whole=True)
            ),
            secure_cookies=env_flag(env, "AFTERSALES_SECURE_COOKIES"),
            trust_proxy=env_flag(env, "AFTERSALES_TRUST_PROXY"),
            environ=MappingProxyType(env),
        )
