"""The enumerations of the schema: ticket status, message direction and role, events …

Stored by value as strings (see `storage.models`), so both databases hold the
same text and a new member needs no migration of its column.
"""

from __future__ import annotations

import enum


class TicketStatus(enum.StrEnum):
    """Where a ticket is in its lifecycle."""

    OPENED = "opened"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Direction(enum.StrEnum):
    """Whether a message came from the channel or went out to it."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


class MessageRole(enum.StrEnum):
    """Who speaks: the customer, an engineer (or the bot for one), a channel event, the system."""

    CUSTOMER = "customer"
    AGENT = "agent"
    EVENT = "event"
    SYSTEM = "system"


class DeliveryStatus(enum.StrEnum):
    """What became of an outbound message."""

    PENDING = "pending"
    SENT = "sent"
    # The webhook's own answer (WeChat's passive reply): not confirmed by the channel.
    ANSWERED = "answered"
    FAILED = "failed"
    BLOCKED_BY_CHANNEL = "blocked_by_channel"
    # The channel may or may not have taken it (a timeout, a 5xx): never resent blindly.
    UNKNOWN = "unknown"
    MISSED = "missed"


class EventKind(enum.StrEnum):
    """Every step a ticket can record: one vocabulary for the journal, the API and the console.

    Stored by value.  A value never changes meaning; a member no step records any
    more stays (old rows keep loading) and is listed in `RETIRED_EVENTS`.
    """

    # The SPEC §4 vocabulary: what `aftersales check` reads.
    TICKET_OPENED = "ticket_opened"
    TICKET_ACCEPTED = "ticket_accepted"
    REMOTE_LOGIN = "remote_login"
    SOLUTION_GIVEN = "solution_given"
    EXTENSION_GRANTED = "extension_granted"
    ESCALATED = "escalated"
    RESOLVED = "resolved"
    CLOSED = "closed"
    SATISFACTION_RATED = "satisfaction_rated"
    # Seed 002 1.1.2: a tracked complaint's clocks (first reply 2 h, resolved in 15 days).
    COMPLAINT_OPENED = "complaint_opened"
    COMPLAINT_RESOLVED = "complaint_resolved"
    # Internal steps, kept for the audit trail; exports for the checker leave them out.
    # Intake: how the bot read and routed the customer's first message.
    CLASSIFIED = "classified"  # fault level, intent and the cue that decided them
    FAULT_LEVEL_CHANGED = "fault_level_changed"  # the engineer corrected the level (reason)
    ASSIGNED = "assigned"  # the on-duty engineer with the fewest open tickets
    REASSIGNED = "reassigned"  # another engineer took over (who answered when: SLA, 工号)
    # Remote access (SCR003): the warning, the customer's answer, the request.
    BACKUP_WARNING_SENT = "backup_warning_sent"  # the warning must precede remote login
    BACKUP_CONFIRMED = "backup_confirmed"  # the customer's answer that unlocks remote access
    BACKUP_NOT_CONFIRMED = "backup_not_confirmed"  # the customer said the data is not backed up
    REMOTE_REQUESTED = "remote_requested"  # asked for 向日葵/ToDesk: the SCR003 trigger point
    # Drafts and the pre-send check.
    DRAFT_SUGGESTED = "draft_suggested"  # a line offered to the engineer (cue, escalation …)
    PRESEND_OVERRIDE = "presend_override"  # sent despite a warning, with the reason
    # The plan's clock (1.3): the engineer asks, a manager grants (EXTENSION_GRANTED).
    EXTENSION_REQUESTED = "extension_requested"
    # Delivery and closing (SCR006, seed 003 scoring, the knowledge base).
    STABLE_RUN_STARTED = "stable_run_started"  # 24 h (72 h intermittent) before delivery
    STABLE_RUN_ELAPSED = "stable_run_elapsed"  # delivery may proceed
    SUGGESTION_REQUESTED = "suggestion_requested"  # asked once, never twice
    SUGGESTION_DECLINED = "suggestion_declined"  # 暂时没有: do not ask again
    SUGGESTION_RECORDED = "suggestion_recorded"  # the customer's suggestion, as said
    SURVEY_SENT = "survey_sent"  # the satisfaction question went out
    SATISFACTION_REASON = "satisfaction_reason"  # why 一般 / 不满意 (seed 003 form, q. 4)
    REVIEW_INVITED = "review_invited"  # 邀评 after a good rating (seed 000 2.a.2)
    ARCHIVED = "archived"  # the solution is in the knowledge base
    ARCHIVE_SKIPPED_DUPLICATE = "archive_skipped_duplicate"  # a known solution: not filed
    # Warranty, vendor RMA, on-site visit.
    WARRANTY_ASSESSED = "warranty_assessed"  # the tier by sign-for date and exclusions
    RMA_STARTED = "rma_started"  # the part went to the vendor
    RMA_RETURNED = "rma_returned"  # the part came back
    RMA_CHASE_DUE = "rma_chase_due"  # vendor RMA chase every 3 days, PM after 15
    ONSITE_SCHEDULED = "onsite_scheduled"  # the visit's deadline by distance
    # Delivery (seed 000 1.5 ※, 【售后动作标准】, 【售后交付标准】): the visit kept or moved,
    # the lists ticked, a waived stable run, the server sent back.
    ONSITE_RESCHEDULED = "onsite_rescheduled"  # a new date agreed, the reschedule line sent
    ONSITE_ARRIVED = "onsite_arrived"  # the engineer is on site (late or in time)
    CHECKLIST_TICKED = "checklist_ticked"  # the 上门 / 在司 / return list as now ticked
    STABLE_RUN_WAIVED = "stable_run_waived"  # a manager let delivery go without it (reason)
    RETURN_SHIPPED = "return_shipped"  # carrier and tracking number sent to the customer
    # After the chat (seed 000 1.2, 2.1–2.2; seed 004 1.3, 1.5): contract, quote, repair, loan.
    CONTRACT_RECORDED = "contract_recorded"  # a sales contract's single-part warranty terms
    QUOTE_SENT = "quote_sent"  # paid work priced for the customer (amount, items)
    QUOTE_CONFIRMED = "quote_confirmed"  # the customer agreed: paid repair may start
    REPAIR_STARTED = "repair_started"  # in-house (≤ 7 working days) or factory (10–15)
    REPAIR_FINISHED = "repair_finished"  # the repair path is done (old parts handed over)
    RMA_RETURN_PROMISED = "rma_return_promised"  # the product manager's return date
    LOANER_SENT = "loaner_sent"  # a replacement unit went to the customer (day 7 offer)
    LOANER_RETURNED = "loaner_returned"  # the replacement unit came back
    # On-call duty (seed 003 值班管理制度): routing outside the working day, contacts.
    ROUTED_ON_CALL = "routed_on_call"  # rest day, out of hours or urgent: the engineer on duty
    CONTACT_RECORDED = "contact_recorded"  # a call or visit, with its duration and result
    # Customers: one person across channels, and how to address them (沟通标准 2).
    CUSTOMER_LINKED = "customer_linked"  # joined to the same person on another channel
    CUSTOMER_RECORDED = "customer_recorded"  # surname, title or phone number taken down
    # Timers and the outbox.
    REMINDER_SENT = "reminder_sent"  # an SLA timer nudged an engineer or manager
    PROGRESS_UPDATE_DUE = "progress_update_due"  # working day 4 / 7 update is owed (SLA005)
    DELIVERY_PROBLEM = "delivery_problem"  # a line the channel did not take
    DELIVERY_RETRIED = "delivery_retried"  # the engineer sent an undelivered line again
    DELIVERY_CONFIRMED = "delivery_confirmed"  # the engineer settled an unknown line as received
    # Privacy: the customer's personal data was erased (unsubscribe, an admin's
    # request), their open tickets closed; a closed ticket passed retention.
    CUSTOMER_FORGOTTEN = "customer_forgotten"
    RETENTION_MASKED = "retention_masked"
    # Retired (RETIRED_EVENTS): rows holding it still load; no step records it.
    NOTE = "note"


SPEC_EVENTS: frozenset[EventKind] = frozenset(
    {
        EventKind.TICKET_OPENED,
        EventKind.TICKET_ACCEPTED,
        EventKind.REMOTE_LOGIN,
        EventKind.SOLUTION_GIVEN,
        EventKind.EXTENSION_GRANTED,
        EventKind.ESCALATED,
        EventKind.RESOLVED,
        EventKind.CLOSED,
        EventKind.SATISFACTION_RATED,
        EventKind.COMPLAINT_OPENED,
        EventKind.COMPLAINT_RESOLVED,
    }
)
"""The events a transcript may carry (SPEC §4); the rest of `EventKind` stays internal."""

RETIRED_EVENTS: frozenset[EventKind] = frozenset({EventKind.NOTE})
"""Kinds old rows may hold but no step records any more (their values stay reserved)."""


class Severity(enum.StrEnum):
    """A finding's severity (SPEC §3)."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Verdict(enum.StrEnum):
    """A QA reviewer's verdict on a finding."""

    FALSE_POSITIVE = "false_positive"
    CONFIRMED = "confirmed"


class Polarity(enum.StrEnum):
    """Whether an exemplar sentence is a violation (positive) or a false alarm (negative)."""

    POSITIVE = "positive"
    NEGATIVE = "negative"


class TimerStatus(enum.StrEnum):
    """A timer waits (pending), has run (fired) or is no longer needed (cancelled)."""

    PENDING = "pending"
    FIRED = "fired"
    CANCELLED = "cancelled"


class EngineerRole(enum.StrEnum):
    """What a roster member does; an engineer may hold several roles."""

    ENGINEER = "engineer"
    QA = "qa"
    MANAGER = "manager"
    ADMIN = "admin"
