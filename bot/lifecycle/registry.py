"""The one table of engineer actions: what the API and the console both mount.

In the order a ticket meets them.  Adding a step is a module in
`bot.lifecycle.actions` with its `Action`, its `EventKind` member (and label),
and one line here; `tests/bot/test_lifecycle_registry.py` fails until all of
them are there and the API and the console answer for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.lifecycle.actions import Action
from bot.lifecycle.actions.accept import ACCEPT
from bot.lifecycle.actions.closing import ARCHIVE, CLOSE, RESOLVE, STABLE_RUN
from bot.lifecycle.actions.complaint import COMPLAINT
from bot.lifecycle.actions.contact import CONTACT
from bot.lifecycle.actions.contract import CONTRACT
from bot.lifecycle.actions.customer import CUSTOMER
from bot.lifecycle.actions.delivery import CHECKLIST, RETURN_SHIPPING, STABLE_RUN_WAIVER
from bot.lifecycle.actions.drafts import SEND
from bot.lifecycle.actions.fault_level import FAULT_LEVEL
from bot.lifecycle.actions.handover import REASSIGN
from bot.lifecycle.actions.loaner import LOANER
from bot.lifecycle.actions.onsite import ONSITE, ONSITE_ARRIVAL, ONSITE_RESCHEDULE
from bot.lifecycle.actions.quote import QUOTE, QUOTE_CONFIRMATION
from bot.lifecycle.actions.remote import BACKUP_CONFIRMATION, BACKUP_WARNING, REMOTE
from bot.lifecycle.actions.repair import REPAIR
from bot.lifecycle.actions.rma import RMA
from bot.lifecycle.actions.solution import ESCALATE, EXTENSION, EXTENSION_REQUEST, SOLUTION
from bot.lifecycle.actions.warranty import WARRANTY

ACTIONS: tuple[Action[Any], ...] = (
    ACCEPT,
    SEND,
    BACKUP_WARNING,
    BACKUP_CONFIRMATION,
    REMOTE,
    CONTRACT,
    WARRANTY,
    QUOTE,
    QUOTE_CONFIRMATION,
    SOLUTION,
    ONSITE,
    ONSITE_RESCHEDULE,
    ONSITE_ARRIVAL,
    EXTENSION_REQUEST,
    EXTENSION,
    ESCALATE,
    REPAIR,
    RMA,
    LOANER,
    STABLE_RUN,
    STABLE_RUN_WAIVER,
    CHECKLIST,
    RETURN_SHIPPING,
    RESOLVE,
    CLOSE,
    ARCHIVE,
    REASSIGN,
    FAULT_LEVEL,
    COMPLAINT,
    CONTACT,
    CUSTOMER,
)

BY_NAME: Mapping[str, Action[Any]] = {action.name: action for action in ACTIONS}
