"""The lifecycle's words: its steps, its timers, its status groups and its actors.

Steps are `storage.enums.EventKind` members, one per thing that can happen to
a ticket; the SPEC §4 ones (`SPEC_EVENTS`) are what the compliance checker
reads, the rest stay in the audit trail.  A retired kind (`RETIRED_EVENTS`)
is never recorded again but still read.  Timers are `TimerKind` members, each
with one handler in `bot.lifecycle.deadlines`.
"""

from __future__ import annotations

import enum

from storage.enums import RETIRED_EVENTS, SPEC_EVENTS, EngineerRole, EventKind, TicketStatus

__all__ = [
    "ACCEPTED",
    "ACTIVE",
    "BOT_ACTOR",
    "CLOSED",
    "IN_PROGRESS",
    "MANAGERS",
    "OPENED",
    "OPEN_TICKET_TIMERS",
    "RESOLVED",
    "RETIRED_EVENTS",
    "SPEC_EVENTS",
    "SYSTEM_ACTOR",
    "WORKERS",
    "WORKING",
    "EngineerRole",
    "EventKind",
    "TicketStatus",
    "TimerKind",
]

OPENED = TicketStatus.OPENED
ACCEPTED = TicketStatus.ACCEPTED
IN_PROGRESS = TicketStatus.IN_PROGRESS
RESOLVED = TicketStatus.RESOLVED
CLOSED = TicketStatus.CLOSED
# Every status but closed: a new customer message joins such a ticket.
ACTIVE: tuple[TicketStatus, ...] = (OPENED, ACCEPTED, IN_PROGRESS, RESOLVED)
# Accepted and being worked on.
WORKING: tuple[TicketStatus, ...] = (ACCEPTED, IN_PROGRESS)

# Who works tickets (the assigned engineer, or a manager on any ticket), and
# who alone may grant an extension or hand a ticket over.
WORKERS: frozenset[EngineerRole] = frozenset({EngineerRole.ENGINEER, EngineerRole.MANAGER})
MANAGERS: frozenset[EngineerRole] = frozenset({EngineerRole.MANAGER})

# The actor of steps nobody on the roster took: the bot speaking or routing
# (BOT_ACTOR), a timer or the outbox (SYSTEM_ACTOR).
BOT_ACTOR = "bot"
SYSTEM_ACTOR = "system"


class TimerKind(enum.StrEnum):
    """What an SLA timer is for; stored by value in ``timers.kind``."""

    ACCEPT_ENGINEER = "accept_engineer"  # the accept limit after opening: remind the engineer
    ACCEPT_MANAGER = "accept_manager"  # later still: remind the managers
    SOLUTION_WARNING = "solution_warning"  # before the 4 h plan deadline, while it can be extended
    SOLUTION_DUE = "solution_due"  # 4 h without plan or extension: escalate
    EXTENSION_DUE = "extension_due"  # 8 h with the extension: escalate
    PROGRESS = "progress_update"  # working days 4 and 7: draft the update
    RMA_CHASE = "rma_chase"  # every 3 days while a part is at the vendor
    RMA_PM = "rma_product_manager"  # after 15 days: call in the product manager
    ARCHIVE = "archive_due"  # 2 working days after closing, not yet archived
    STABLE_RUN = "stable_run_due"  # 24 h (72 h intermittent) after the fix
    ONSITE = "onsite_due"  # the morning of the on-site deadline
    REPAIR_DUE = "repair_due"  # the morning an in-house / factory repair's limit ends
    # Seed 002: the fault level's response and remote-response times, a complaint's clocks.
    FAULT_RESPONSE = "fault_response_due"  # the level's response time after opening
    REMOTE_RESPONSE = "remote_response_due"  # the level's remote-response time after the request
    COMPLAINT_REPLY = "complaint_reply_due"  # 2 h after a complaint: first reply owed
    COMPLAINT_RESOLVE = "complaint_resolve_due"  # 15 days after a complaint: resolution owed
    # The suggestion question left unanswered: the satisfaction survey follows.
    SURVEY_DUE = "survey_due"


# Cancelled when the ticket closes (the archive reminder starts then; a complaint's
# clocks run until the complaint is resolved, whatever the ticket does).
OPEN_TICKET_TIMERS: tuple[TimerKind, ...] = tuple(
    kind
    for kind in TimerKind
    if kind
    not in (
        TimerKind.ARCHIVE,
        TimerKind.COMPLAINT_REPLY,
        TimerKind.COMPLAINT_RESOLVE,
        # A survey owed still goes out after close (its rating joins the closed ticket).
        TimerKind.SURVEY_DUE,
    )
)
