"""What the ticket page's seed-002 and on-call panels show (`_ticket_levels.html`,
`_ticket_duty.html`): the fault level with its response times and who changed it,
the complaint and its clocks, the on-call routing, and the calls and visits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from compliance.policy import Policy
from compliance.rules.timing import duration

WHY_LABELS: Mapping[str, str] = {
    "rest_day": "休息日",
    "out_of_hours": "非工作时段",
    "urgent": "客户标注紧急",
}
CONTACT_LABELS: Mapping[str, str] = {"call": "电话", "visit": "上门"}


def _limit(seconds: int | None) -> str:
    return duration(seconds) if seconds else "—"


def ticket_panels(policy: Policy, detail: Mapping[str, Any]) -> dict[str, Any]:
    """The panels' context for one ticket detail (`TicketViews.ticket`)."""
    level = policy.fault_level(detail.get("fault_level"))
    deadlines = detail.get("deadlines", {})
    events = detail.get("events", [])
    names = {lv.code: lv.name for lv in policy.fault_levels}
    changes = [
        {
            "ts": e["ts"],
            "actor": e["actor"],
            "from": names.get(e["data"].get("from") or "", "—"),
            "to": names.get(e["data"].get("to") or "", e["data"].get("to")),
            "reason": e["data"].get("reason"),
        }
        for e in events
        if e["event"] == "fault_level_changed"
    ]
    complaints = [
        {
            "ts": e["ts"],
            "opened": e["event"] == "complaint_opened",
            "actor": e["actor"],
            "note": e["data"].get("note") or e["data"].get("cue"),
        }
        for e in events
        if e["event"] in ("complaint_opened", "complaint_resolved")
    ]
    routed = next((e for e in events if e["event"] == "routed_on_call"), None)
    contacts = [
        {
            "ts": e["ts"],
            "actor": e["actor"],
            "kind": CONTACT_LABELS.get(e["data"].get("kind"), e["data"].get("kind")),
            "duration": duration(int(e["data"].get("duration_s") or 0)),
            "result": e["data"].get("result"),
            "on_duty": bool(e["data"].get("on_duty")),
        }
        for e in events
        if e["event"] == "contact_recorded"
    ]
    return {
        "levels": {
            "timed": policy.sla.response_by_fault_level,
            "name": level.name if level else None,
            "description": level.description if level else None,
            "response": _limit(level.response_s if level else None),
            "remote_response": _limit(level.remote_response_s if level else None),
            "response_due": deadlines.get("fault_response_due"),
            "remote_due": deadlines.get("remote_response_due"),
            "changes": changes,
        },
        "complaint": {
            "tracked": policy.complaints.tracked,
            "open": detail.get("state", {}).get("complaint_open", False),
            "reply_due": deadlines.get("complaint_reply_due"),
            "resolve_due": deadlines.get("complaint_resolve_due"),
            "first_reply": _limit(policy.complaints.first_reply_s),
            "resolve_days": policy.complaints.resolve_days,
            "history": complaints,
        },
        "duty": {
            "routed": {
                "why": WHY_LABELS.get(routed["data"].get("why"), routed["data"].get("why")),
                "month": routed["data"].get("month"),
                "staff_no": routed["data"].get("staff_no"),
                "in_window": routed["data"].get("in_duty_window"),
            }
            if routed
            else None,
            "contacts": contacts,
            "window": f"{policy.duty.opens:%H:%M}–{policy.duty.closes:%H:%M}",
        },
    }
