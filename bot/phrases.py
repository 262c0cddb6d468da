"""How the bot reads a customer's short answers: backup confirmation, satisfaction.

Whether a reply to the data-backup warning confirms it, and which satisfaction
label a reply picks.  The phrase lists are policy data
(`[phrases] backup_confirmed / backup_confirmed_despite_negation / backup_denied`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

from compliance.policy import Phrases

BackupAnswer = Literal["confirmed", "denied", "unclear"]

# Punctuation, blanks and emoji codes that carry no meaning in a short answer.
_NOISE = re.compile(r"[\s\u3000。．.！!？?，,、；;：:~～…\-—\"'“”‘’()（）]+|\[[^\]]{1,6}\]")


def squeeze(text: str) -> str:
    """Lower-case `text` without punctuation, blanks and bracketed emoji codes."""
    return _NOISE.sub("", text).lower()


def _contains_any(text: str, phrases: Iterable[str]) -> bool:
    return any(phrase in text for phrase in phrases)


def backup_answer(text: str, phrases: Phrases) -> BackupAnswer:
    """Whether a reply to the data-backup warning confirms it.

    Explicit "no backup needed" wins, then any denial or request to wait,
    then any confirmation; anything else is unclear (the engineer asks again).
    """
    norm = squeeze(text)
    if not norm:
        return "unclear"
    if _contains_any(norm, phrases.backup_confirmed_despite_negation):
        return "confirmed"
    if _contains_any(norm, phrases.backup_denied):
        return "denied"
    if _contains_any(norm, phrases.backup_confirmed):
        return "confirmed"
    return "unclear"


def satisfaction_label(text: str, labels: Iterable[str]) -> str | None:
    """The satisfaction label a reply picks, or None when it picks none for sure.

    The reply must be the label, or start with it ("满意，谢谢"); longer labels
    are tried first so 很满意 and 不满意 are never read as 满意, and "不太满意"
    picks nothing rather than a wrong label.
    """
    norm = squeeze(text)
    ordered = sorted(labels, key=len, reverse=True)
    for label in ordered:
        if norm == label:
            return label
    for label in ordered:
        if norm.startswith(label):
            return label
    return None
