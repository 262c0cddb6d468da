"""The QA view: dashboard, findings list, session page, false positives, exports, runs.

Everything is read through `bot.console.qa_data` on a synchronous engine in a
worker thread (the checker and the report writers are synchronous and may take
a while over a long period; the event loop keeps serving chats meanwhile).
"""

from __future__ import annotations

import asyncio
import io
import tempfile
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session as DbSession

from bot.console.auth import QA_ROLES, Route, current_user
from bot.console.charts import Bar, bar_chart, column_chart
from bot.console.media import line_attachments
from bot.console.overrides import override_reasons
from bot.console.pages import channel_labels, render, services_of, state_of
from bot.console.qa_data import (
    Filters,
    QaView,
    build_view,
    false_positives_by_phrase,
    recent_runs,
    record_review,
    run_check,
)
from bot.console.qa_display import group_by_index, highlight
from bot.http import read_form
from bot.validation import Invalid, parse_day, parse_id
from compliance.calendar import SHANGHAI
from compliance.codes import RULE_CODES
from compliance.dbsource import describe_url
from compliance.detection import LAYER_LABELS
from compliance.exemplars import export_policy, list_exemplars
from compliance.masking import mask_pii
from compliance.reports import BINARY_FORMATS, make_writer
from compliance.reports.summary import (
    RULE_TITLES,
    SEVERITY_LABELS,
    ReportedSession,
    RunInfo,
    SummaryBuilder,
)
from compliance.reports.xlsx import XlsxReport
from scripts_library import EVENT_LABELS
from storage.models import Engineer, Ticket

MAX_PERIOD_DAYS = 366
MAX_REASON = 500
VERDICTS = ("false_positive", "confirmed")


# -- period and filters -----------------------------------------------------------------


def _date(raw: str | None) -> date | None:
    if not raw:
        return None
    try:
        return parse_day(raw)
    except Invalid:
        return None


def period_of(request: web.Request) -> tuple[date, date, str | None]:
    """``since``/``until`` from the query (default: this month so far); an error to show."""
    today = services_of(request).now().astimezone(SHANGHAI).date()
    since = _date(request.query.get("since")) or today.replace(day=1)
    until = _date(request.query.get("until")) or today
    problem = None
    if (request.query.get("since") and _date(request.query.get("since")) is None) or (
        request.query.get("until") and _date(request.query.get("until")) is None
    ):
        problem = "日期格式应为 YYYY-MM-DD，已改用默认期间。"
    if until < since:
        since, until = until, since
    if (until - since).days > MAX_PERIOD_DAYS:
        since = until - timedelta(days=MAX_PERIOD_DAYS)
        problem = f"期间最长 {MAX_PERIOD_DAYS} 天，已截短。"
    return since, until, problem


def filters_of(request: web.Request) -> Filters:
    query = request.query
    severity = query.get("severity", "")
    channel = query.get("channel", "")
    return Filters(
        code=query.get("code", "").strip().upper()[:6],
        severity=severity if severity in SEVERITY_LABELS else "",
        engineer=query.get("engineer", "").strip()[:32],
        channel=channel if channel in services_of(request).policy.channels else "",
        day=_date(query.get("day")),
        show_false_positives=query.get("fp", "show") != "hide",
    )


def _query_of(since: date, until: date, filters: Filters | None = None) -> str:
    params: dict[str, str] = {"since": since.isoformat(), "until": until.isoformat()}
    if filters is not None:
        for key, value in (
            ("code", filters.code),
            ("severity", filters.severity),
            ("engineer", filters.engineer),
            ("channel", filters.channel),
            ("day", filters.day.isoformat() if filters.day else ""),
            ("fp", "" if filters.show_false_positives else "hide"),
        ):
            if value:
                params[key] = value
    return urlencode(params)


async def _engine(request: web.Request) -> Engine:
    return await state_of(request).sync_engine(services_of(request))


async def _view(request: web.Request, since: date, until: date) -> QaView:
    engine = await _engine(request)
    return await asyncio.to_thread(build_view, engine, services_of(request).policy, since, until)


def _names(engine: Engine) -> dict[str, str]:
    with DbSession(engine) as db:
        return {staff: name for staff, name in db.execute(select(Engineer.staff_no, Engineer.name))}


def _common(request: web.Request) -> dict[str, Any]:
    return {
        "event_labels": EVENT_LABELS,
        "rule_titles": RULE_TITLES,
        "rule_codes": RULE_CODES,
        "severity_labels": SEVERITY_LABELS,
        "channel_labels": channel_labels(services_of(request).policy),
        "layer_labels": LAYER_LABELS,
        "mask_pii": mask_pii,
    }


def _every_day(
    counts: Sequence[tuple[date, int]], since: date, until: date
) -> list[tuple[date, int]]:
    """The period's days with their counts, zeros included, so the chart's axis is the
    period; a period longer than a quarter keeps only the days with findings."""
    if (until - since).days > 92:
        return list(counts)
    found = dict(counts)
    return [
        (since + timedelta(days=n), found.get(since + timedelta(days=n), 0))
        for n in range((until - since).days + 1)
    ]


# -- dashboard --------------------------------------------------------------------------------


async def dashboard(request: web.Request) -> web.StreamResponse:
    """Sessions checked, average score, findings by code / engineer / day (inline SVG)."""
    since, until, problem = period_of(request)
    view = await _view(request, since, until)
    names = await asyncio.to_thread(_names, await _engine(request))
    summary = view.summary
    by_code = [
        Bar(f"{r.code} {RULE_TITLES.get(r.code, r.name)}", r.count, alarm=r.severity == "error")
        for r in sorted(summary.by_rule, key=lambda r: -r.count)
    ]
    by_engineer = [
        Bar(f"{names.get(e.engineer, e.name or '')} {e.engineer}".strip(), e.findings)
        for e in sorted(summary.engineers, key=lambda e: -e.findings)
    ]
    by_day = [
        Bar(day.strftime("%m-%d"), count) for day, count in _every_day(summary.by_day, since, until)
    ]
    runs = await asyncio.to_thread(recent_runs, await _engine(request))
    return await render(
        request,
        "qa_dashboard.html",
        page_title="质检概览",
        since=since,
        until=until,
        problem=problem,
        view=view,
        summary=summary,
        names=names,
        runs=runs,
        query=_query_of(since, until),
        chart_code=bar_chart("按规则统计的问题数", by_code, empty="本期没有问题"),
        chart_engineer=bar_chart("按工程师统计的问题数", by_engineer, empty="本期没有问题"),
        chart_day=column_chart("按日期统计的问题数", by_day, empty="本期没有问题"),
        **_common(request),
    )


async def run(request: web.Request) -> web.StreamResponse:
    """Check every stored session of the period now and save the run."""
    form = await read_form(request)
    today = services_of(request).now().astimezone(SHANGHAI).date()
    since = _date(str(form.get("since", ""))) or today.replace(day=1)
    until = _date(str(form.get("until", ""))) or today
    if until < since:
        since, until = until, since
    engine = await _engine(request)
    services = services_of(request)
    result = await asyncio.to_thread(
        run_check,
        engine,
        services.policy,
        since,
        until,
        by=f"{current_user(request).display_name}（{current_user(request).username}）",
        now=services.now(),
    )
    prefix = state_of(request).prefix
    query = _query_of(since, until)
    del result  # the dashboard lists the run with its figures
    raise web.HTTPSeeOther(f"{prefix}/qa?{query}&notice=check_done")


# -- findings list -------------------------------------------------------------------------------


async def findings(request: web.Request) -> web.StreamResponse:
    """Every finding of the period that passes the filters, newest session first."""
    since, until, problem = period_of(request)
    filters = filters_of(request)
    view = await _view(request, since, until)
    names = await asyncio.to_thread(_names, await _engine(request))
    rows = []
    for session_view, shown in view.filtered(filters):
        for item in shown:
            rows.append((session_view, item))
    engineers = sorted({e for v in view.sessions for e in v.reported.score.engineers})
    codes = sorted({f.finding.rule for v in view.sessions for f in v.findings})
    return await render(
        request,
        "qa_findings.html",
        page_title="问题列表",
        since=since,
        until=until,
        problem=problem,
        filters=filters,
        rows=rows,
        engineers=engineers,
        codes=codes,
        names=names,
        query=_query_of(since, until, filters),
        back=request.path_qs,
        **_common(request),
    )


# -- one session ----------------------------------------------------------------------------------


def _session_day(engine: Engine, session_id: str) -> date | None:
    with DbSession(engine) as db:
        opened = db.scalar(select(Ticket.opened_at).where(Ticket.number == session_id))
    return opened.astimezone(SHANGHAI).date() if opened is not None else None


async def session_page(request: web.Request) -> web.StreamResponse:
    """A stored session's transcript with each finding marked where it is."""
    session_id = request.match_info["session"]
    engine = await _engine(request)
    day = await asyncio.to_thread(_session_day, engine, session_id)
    if day is None:
        raise web.HTTPNotFound(text=f"会话 {session_id} 不存在")
    view = await _view(request, day, day)
    found = view.session(session_id)
    if found is None:
        raise web.HTTPNotFound(text=f"会话 {session_id} 不存在")
    by_index = group_by_index(found.findings)
    overrides = await asyncio.to_thread(override_reasons, engine, [session_id])
    lines = [
        {
            "line": line,
            "pieces": highlight(line, by_index.get(line.index, [])),
            "findings": by_index.get(line.index, []),
            "override": overrides.get(line.line_no or 0) if line.source == "db:messages" else None,
        }
        for line in found.session.lines
    ]
    names = await asyncio.to_thread(_names, engine)
    back = request.query.get("back", "")
    prefix = state_of(request).prefix
    return await render(
        request,
        "qa_session.html",
        page_title=f"会话 {session_id}",
        found=found,
        lines=lines,
        session_findings=by_index.get(None, []),
        names=names,
        back=back if back.startswith(f"{prefix}/qa") else f"{prefix}/qa/findings",
        here=request.path_qs,
        line_attachments=await line_attachments(request, session_id),
        **_common(request),
    )


async def review(request: web.Request) -> web.StreamResponse:
    """QA's verdict on a finding: false positive (with a reason), or undo (confirmed)."""
    prefix = state_of(request).prefix
    try:
        finding_id = parse_id(request.match_info["finding"])
    except Invalid:
        raise web.HTTPNotFound() from None
    form = await read_form(request)
    verdict = str(form.get("verdict", "false_positive"))
    reason = str(form.get("reason", "")).strip()[:MAX_REASON]
    back = str(form.get("back", ""))
    if not back.startswith(f"{prefix}/qa"):
        back = f"{prefix}/qa/findings"
    if verdict not in VERDICTS:
        raise web.HTTPBadRequest(text=f"verdict must be one of {', '.join(VERDICTS)}")
    if verdict == "false_positive" and not reason:
        return await render(
            request,
            "message.html",
            status=400,
            page_title="请填写原因",
            message="标记误报须填写原因（例如：“靠近”是正常用语，不是脏话）。",
            back=back,
        )
    user = current_user(request)
    session_id = await asyncio.to_thread(
        record_review,
        await _engine(request),
        finding_id,
        verdict,
        reason or "撤销误报标记",
        f"{user.display_name}（{user.username}）",
        services_of(request).now(),
        services_of(request).policy,
    )
    if session_id is None:
        raise web.HTTPNotFound(text=f"问题 {finding_id} 不存在")
    if verdict == "false_positive":
        notice = "fp_saved"
    else:
        notice = "confirmed_saved" if form.get("confirm") else "fp_removed"
    separator = "&" if "?" in back else "?"
    raise web.HTTPSeeOther(f"{back}{separator}notice={notice}")


async def false_positives(request: web.Request) -> web.StreamResponse:
    """False positives grouped by rule and phrase: candidates for the policy's exceptions."""
    groups = await asyncio.to_thread(false_positives_by_phrase, await _engine(request))
    return await render(
        request, "qa_false_positives.html", page_title="误报清单", groups=groups, **_common(request)
    )


async def exemplars(request: web.Request) -> web.StreamResponse:
    """The exemplars QA's marks taught the detectors, and the export into policy form."""
    detector = request.query.get("detector", "").strip()[:64] or None
    rows = await asyncio.to_thread(
        list_exemplars, await _engine(request), detector=detector, include_retired=True
    )
    return await render(
        request,
        "qa_exemplars.html",
        page_title="范例句",
        rows=rows,
        detector=detector or "",
        detectors=sorted(services_of(request).policy.detectors),
        **_common(request),
    )


async def exemplars_export(request: web.Request) -> web.StreamResponse:
    """The active exemplars as a policy file extending the running policy."""
    rows = await asyncio.to_thread(list_exemplars, await _engine(request))
    body = export_policy(services_of(request).policy, rows)
    return web.Response(
        text=body,
        content_type="application/toml",
        charset="utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="exemplars.toml"',
            "Cache-Control": "no-store",
        },
    )


# -- exports -------------------------------------------------------------------------------------


def _export_items(view: QaView, filters: Filters) -> list[ReportedSession]:
    items = []
    for session_view, shown in view.filtered(filters):
        if not session_view.checked:
            continue
        reported = session_view.reported
        items.append(
            ReportedSession(
                session=reported.session,
                findings=tuple(s.finding for s in shown),
                false_positive=tuple(s.false_positive for s in shown),
                score=reported.score,
            )
        )
    return items


def _write_report(
    fmt: str, run: RunInfo, items: list[ReportedSession], overrides: Mapping[int, str]
) -> bytes:
    """The report of `items` in `fmt` (html or xlsx), by the checker's own writers."""
    builder = SummaryBuilder(run)
    stream = io.StringIO()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"report.{fmt}"
        writer = make_writer(fmt, stream=stream, path=path)
        if isinstance(writer, XlsxReport):
            writer.override_reasons = overrides
        writer.begin(run)
        for item in items:
            writer.session(item)
            builder.add(item)
        writer.finish(builder.build())
        if fmt in BINARY_FORMATS:
            return path.read_bytes()
    return stream.getvalue().encode("utf-8")


async def export(request: web.Request) -> web.StreamResponse:
    """The findings list as it is on screen (same period and filters), as HTML or XLSX."""
    fmt = request.match_info["fmt"]
    since, until, _problem = period_of(request)
    filters = filters_of(request)
    view = await _view(request, since, until)
    items = _export_items(view, filters)
    engine = await _engine(request)
    description = f"{describe_url(str(engine.url))} {since.isoformat()}..{until.isoformat()}"
    described = [description]
    for label, value in (
        ("规则", filters.code),
        ("级别", filters.severity),
        ("工程师", filters.engineer),
        ("渠道", filters.channel),
        ("日期", filters.day.isoformat() if filters.day else ""),
    ):
        if value:
            described.append(f"{label}={value}")
    run_info = RunInfo(policy=services_of(request).policy, sources=(" ".join(described),))
    reasons = await asyncio.to_thread(override_reasons, engine, [i.session.id for i in items])
    body = await asyncio.to_thread(_write_report, fmt, run_info, items, reasons)
    name = f"qa-{since.isoformat()}-{until.isoformat()}.{fmt}"
    content_type = (
        "text/html"
        if fmt == "html"
        else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    return web.Response(
        body=body,
        content_type=content_type,
        charset="utf-8" if fmt == "html" else None,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


ROUTES: tuple[Route, ...] = (
    Route("GET", "/qa", dashboard, "console.qa", roles=QA_ROLES),
    Route("POST", "/qa/run", run, "console.qa.run", roles=QA_ROLES),
    Route("GET", "/qa/findings", findings, "console.qa.findings", roles=QA_ROLES),
    Route("GET", "/qa/sessions/{session}", session_page, "console.qa.session", roles=QA_ROLES),
    Route("POST", "/qa/findings/{finding}/review", review, "console.qa.review", roles=QA_ROLES),
    Route(
        "GET", "/qa/false-positives", false_positives, "console.qa.false_positives", roles=QA_ROLES
    ),
    Route("GET", "/qa/export.{fmt:html|xlsx}", export, "console.qa.export", roles=QA_ROLES),
    Route("GET", "/qa/exemplars", exemplars, "console.qa.exemplars", roles=QA_ROLES),
    Route(
        "GET", "/qa/exemplars.toml", exemplars_export, "console.qa.exemplars_export", roles=QA_ROLES
    ),
)
