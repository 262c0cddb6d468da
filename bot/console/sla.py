"""How a deadline reads in the console: time left, soon, breached (red), done.

The deadlines themselves come from the bot's timers (computed there in
attended time from the calendar); here they are only turned into the words
and the colour an engineer scans a queue for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

SlaState = Literal["ok", "soon", "breached", "done", "none"]

# A deadline within this many seconds is shown amber: act now.
SOON_S = 15 * 60


def human_duration(seconds: float) -> str:
    """A duration the way a Chinese reader says it: ``2天3小时``, ``1小时5分``, ``45秒``."""
    total = int(abs(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}天{hours}小时" if hours else f"{days}天"
    if hours:
        return f"{hours}小时{minutes}分" if minutes else f"{hours}小时"
    if minutes:
        return f"{minutes}分{secs}秒" if secs and minutes < 5 else f"{minutes}分钟"
    return f"{secs}秒"


@dataclass(frozen=True, slots=True)
class SlaBadge:
    """One deadline of a ticket as shown in the queue and on the ticket page."""

    label: str
    state: SlaState
    text: str
    deadline: datetime | None = None

    @property
    def breached(self) -> bool:
        return self.state == "breached"

    def to_dict(self) -> dict[str, str | None]:
        return {
            "label": self.label,
            "state": self.state,
            "text": self.text,
            "deadline": self.deadline.isoformat() if self.deadline else None,
        }


def countdown(
    label: str,
    deadline: datetime | None,
    now: datetime,
    *,
    done: bool = False,
    done_text: str = "已完成",
    soon_s: int = SOON_S,
) -> SlaBadge:
    """The badge of one deadline at `now`: done, none, time left, or how late it is."""
    if done:
        return SlaBadge(label, "done", done_text, deadline)
    if deadline is None:
        return SlaBadge(label, "none", "—", None)
    left = (deadline - now).total_seconds()
    if left < 0:
        return SlaBadge(label, "breached", f"已超时 {human_duration(left)}", deadline)
    state: SlaState = "soon" if left <= soon_s else "ok"
    return SlaBadge(label, state, f"剩余 {human_duration(left)}", deadline)
