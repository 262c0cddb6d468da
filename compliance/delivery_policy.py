"""The delivery part of the policy: the checklists an engineer ticks and what resolving needs.

Seed 000 【售后动作标准】 lists what an engineer does at the customer's site (上门:
静电衣, 静电手套, 鞋套, 垃圾清理, 扎线; 协商执行: 断网、断电 only with the customer's
consent) and at the company (在司: 灰尘清理, 硅脂更新, SATA线附送, the hardware and log
checks; 协商执行: operating system and driver updates only with consent).
【售后交付标准】1 adds what delivery confirms: 24 h of stable running (72 h for an
intermittent fault), the site's labels as the customer set them (c, on site), the
accessories as sent and packaging good enough for the carrier (d, e, before the
server goes back).  The items are the policy file's ``[delivery]`` lists; which
of them must be ticked before a ticket is resolved is the policy's choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ChecklistName = Literal["onsite", "workshop", "return"]
CHECKLISTS: tuple[ChecklistName, ...] = ("onsite", "workshop", "return")


@dataclass(frozen=True, slots=True)
class ChecklistItem:
    """One thing to tick: a stable code and the seed's words."""

    code: str
    text: str


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    # 【售后交付标准】1.a–b: resolving waits for the stable run (a manager may waive it,
    # with a reason); tickets of these fault levels fixed nothing on a server (技术咨询).
    stable_run_required: bool = False
    stable_run_exempt_levels: tuple[str, ...] = ()
    # The on-site list is owed by a ticket with a visit, the workshop list by one
    # repaired in house; with this on, resolving waits until each is ticked.
    checklists_required: bool = False
    # 【售后交付标准】1.d–e: the return list before the return-shipping line goes out.
    return_checklist_required: bool = True
    onsite: tuple[ChecklistItem, ...] = ()
    workshop: tuple[ChecklistItem, ...] = ()
    # The return list (``returning`` in the file: ``return`` is a Python word).
    returning: tuple[ChecklistItem, ...] = ()

    def checklist(self, name: str) -> tuple[ChecklistItem, ...]:
        """The items of checklist `name` (onsite, workshop, return)."""
        if name == "onsite":
            return self.onsite
        if name == "workshop":
            return self.workshop
        if name == "return":
            return self.returning
        raise KeyError(name)
