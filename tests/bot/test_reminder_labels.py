"""Every timer and every reminder reason has the words people read (no internal names in
the console): `TIMER_LABELS` for each `TimerKind`, `REMINDER_LABELS` for each reason a
handler passes to a reminder."""

from __future__ import annotations

import ast
from pathlib import Path

from bot.lifecycle import TimerKind
from scripts_library import REMINDER_LABELS, TIMER_LABELS

LIFECYCLE = Path(__file__).resolve().parents[2] / "bot" / "lifecycle"


def _reasons() -> set[str]:
    """The reason of every ``remind(...)`` / ``self._remind(...)`` call (its fifth argument)."""
    found: set[str] = set()
    for path in LIFECYCLE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or len(node.args) < 5:
                continue
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
            if name not in ("remind", "_remind"):
                continue
            reason = node.args[4]
            if isinstance(reason, ast.Constant) and isinstance(reason.value, str):
                found.add(reason.value)
            elif isinstance(reason, ast.JoinedStr):  # progress_day{day}
                found.update({"progress_day4", "progress_day7"})
            else:  # a variable: the values it takes are listed where it is set
                found.update({"duty_routed", "duty_rota_empty"})
    return found


def test_every_timer_kind_has_its_words() -> None:
    assert set(TimerKind) <= set(TIMER_LABELS)
    assert set(TIMER_LABELS) <= {kind.value for kind in TimerKind}


def test_every_reminder_reason_has_its_words() -> None:
    reasons = _reasons()
    assert {"accept_overdue", "rma_chase", "onsite_late", "archive_overdue"} <= reasons
    assert reasons <= set(REMINDER_LABELS), reasons - set(REMINDER_LABELS)
