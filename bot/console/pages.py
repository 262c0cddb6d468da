"""What every console page module shares: the console's state, and `render`.

`ConsoleState` (templates, the route table, the cookie signer, a synchronous
engine for the checker) lives on the console sub-app under `CONSOLE`;
`services_of` and `state_of` read it and the bot's services from a request;
`render` fills a page template with the common context (user, navigation,
CSRF token, notices) and the security headers every page carries.  The page
modules (`engineer`, `qa`, `manager`, `signin`, `users`) import these; the
sub-app itself is assembled in `bot.console.app`, which nothing here imports.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web
from sqlalchemy import Engine

from bot.console.auth import CONSOLE_SESSION, CONSOLE_USER, ConsoleUser, Route, current_user
from bot.console.keys import console_secret
from bot.console.security import Signer
from bot.context import SERVICES, Services
from bot.lifecycle import TicketError
from compliance.policy import Policy
from scripts_library import EVENT_LABELS, SCRIPT_LABELS, STATUS_LABELS
from storage.db import make_engine

PREFIX = "/console"
# The reminders page: its nav item carries the count of new reminders.
REMINDERS_HREF = f"{PREFIX}/reminders"
SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True, slots=True)
class NavItem:
    label: str
    href: str
    roles: frozenset[str]


NAV: tuple[NavItem, ...] = (
    NavItem("我的工单", f"{PREFIX}/queue", frozenset({"engineer"})),
    NavItem("全部工单", f"{PREFIX}/queue", frozenset({"manager", "admin"})),
    NavItem("质检概览", f"{PREFIX}/qa", frozenset({"qa", "manager", "admin"})),
    NavItem("问题列表", f"{PREFIX}/qa/findings", frozenset({"qa", "manager", "admin"})),
    NavItem("误报清单", f"{PREFIX}/qa/false-positives", frozenset({"qa", "manager", "admin"})),
    NavItem("范例句", f"{PREFIX}/qa/exemplars", frozenset({"qa", "manager", "admin"})),
    NavItem("值班", f"{PREFIX}/duty", frozenset({"engineer", "manager", "admin"})),
    NavItem("搜索", f"{PREFIX}/search", frozenset({"engineer", "qa", "manager", "admin"})),
    NavItem("提醒", REMINDERS_HREF, frozenset({"engineer", "manager", "admin"})),
    NavItem("团队管理", f"{PREFIX}/manager", frozenset({"manager", "admin"})),
    NavItem("账号", f"{PREFIX}/admin/users", frozenset({"admin"})),
)

# Only the console's own script and styles run; a customer's text that slipped
# past escaping could not load or run anything.  Inline style attributes stay
# allowed (templates use a few); charts are inline SVG.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)

# Short notices a redirect may carry (``?notice=key``): fixed texts, so a link
# cannot put words of its own on the page.
NOTICES: Mapping[str, tuple[str, str]] = {
    "signed_out": ("ok", "您已退出登录。"),
    "fp_saved": ("ok", "已标记为误报，原因已记录；该问题不再计入评分。"),
    "fp_removed": ("ok", "已撤销误报标记。"),
    "confirmed_saved": ("ok", "已确认为违规；这句话已作为范例句，供检测器学习。"),
    "reassigned": ("ok", "工单已改派，新工程师的问候语已发送给客户。"),
    "extension_granted": ("ok", "已批准延期，方案时限已延长。"),
    "user_created": ("ok", "账号已创建。"),
    "user_updated": ("ok", "账号已更新。"),
    "signin_unlocked": ("ok", "已解除登录锁定。"),
    "customer_forgotten": ("ok", "客户个人信息已删除，其未结工单已关闭。"),
    "check_done": ("ok", "质检已完成。"),
    "rota_saved": ("ok", "值班表已保存。"),
    "handover_saved": ("ok", "值班记录已提交并交接给下月值班工程师。"),
    "reminders_read": ("ok", "提醒已全部标为已读。"),
}


@dataclass(eq=False)
class ConsoleState:
    """What every console handler shares: templates, routes, the cookie signer."""

    templates: jinja2.Environment
    routes: Mapping[str, Route]
    prefix: str = PREFIX
    _signer: Signer | None = None
    _engine: Engine | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def signer(self, services: Services) -> Signer:
        """The signer, its secret read (or created) once per process."""
        if self._signer is None:
            async with self._lock:
                if self._signer is None:
                    secret = await console_secret(services.settings.environ, services.sessionmaker)
                    self._signer = Signer(secret)
        return self._signer

    async def sync_engine(self, services: Services) -> Engine:
        """A synchronous engine on the app's database, for the compliance checker and
        reports (synchronous code, run in worker threads); made on first use."""
        if self._engine is None:
            self._engine = make_engine(services.settings.db_url)
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


CONSOLE = web.AppKey("console", ConsoleState)


def services_of(request: web.Request) -> Services:
    return request.config_dict[SERVICES]


def state_of(request: web.Request) -> ConsoleState:
    return request.config_dict[CONSOLE]


def _local(value: datetime | str | None, fmt: str = "%m-%d %H:%M") -> str:
    if value is None or value == "":
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=SHANGHAI)
    return moment.astimezone(SHANGHAI).strftime(fmt)


def make_templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bot.console", "templates"),
        autoescape=jinja2.select_autoescape(("html",)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["local"] = _local
    return env


def nav_for(user: ConsoleUser, path: str, unread: int = 0) -> list[dict[str, Any]]:
    items = []
    for item in NAV:
        if user.role in item.roles:
            current = path == item.href or (
                item.href != f"{PREFIX}/qa" and path.startswith(item.href + "/")
            )
            items.append(
                {
                    "label": item.label,
                    "href": item.href,
                    "current": current,
                    "reminders": item.href == REMINDERS_HREF,
                    "count": unread if item.href == REMINDERS_HREF else 0,
                }
            )
    return items


async def _unread(services: Services, user: ConsoleUser) -> int:
    """New reminders addressed to the account's 工号 (the nav's count)."""
    if user.staff_no is None or user.role not in ("engineer", "manager", "admin"):
        return 0
    return await services.views.reminder_count(user.staff_no)


async def render(
    request: web.Request, template: str, *, status: int = 200, **context: Any
) -> web.Response:
    """A page: the template with the common context (user, nav, CSRF token, notices)."""
    state = state_of(request)
    services = services_of(request)
    user = request.get(CONSOLE_USER)
    session = request.get(CONSOLE_SESSION)
    signer = await state.signer(services)
    notice = NOTICES.get(request.query.get("notice", ""))
    base: dict[str, Any] = {
        "prefix": state.prefix,
        "static_prefix": f"{state.prefix}/static",
        "centre": services.policy.company.centre,
        "user": user,
        "role_label": user.role_label if user else "",
        "nav": nav_for(user, request.path, await _unread(services, user)) if user else [],
        "csrf_token": signer.csrf_token(session.nonce) if session else "",
        "flashes": [{"kind": notice[0], "text": notice[1]}] if notice else [],
        "page_title": "",
    }
    base.update(context)
    html = state.templates.get_template(template).render(base)
    response = web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
    # Pages show personal data: never from a shared cache, never framed elsewhere.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response


def channel_labels(policy: Policy) -> dict[str, str]:
    """Each channel's name as the policy words it (the compliance report's words too)."""
    return {name: channel.label for name, channel in policy.channels.items()}


def label_context(services: Services) -> dict[str, Any]:
    """The label tables a page template may use, the same words the QA report uses."""
    return {
        "fault_labels": {level.code: level.name for level in services.policy.fault_levels},
        "status_labels": STATUS_LABELS,
        "channel_labels": channel_labels(services.policy),
        "event_labels": EVENT_LABELS,
        "script_labels": SCRIPT_LABELS,
    }


async def visible_ticket(request: web.Request) -> dict[str, Any]:
    """The ticket's detail if this account may see it; 404 otherwise (not 403:
    an engineer does not learn which numbers exist)."""
    services = services_of(request)
    user = current_user(request)
    number = request.match_info["number"]
    try:
        detail = await services.views.ticket(number)
    except TicketError as exc:
        if exc.kind == "not_found":
            raise web.HTTPNotFound(text=f"工单 {number} 不存在") from None
        raise
    engineer = detail.get("engineer") or {}
    if not user.sees_all_tickets and (
        user.staff_no is None or engineer.get("staff_no") != user.staff_no
    ):
        raise web.HTTPNotFound(text=f"工单 {number} 不存在或未分配给您")
    return detail
