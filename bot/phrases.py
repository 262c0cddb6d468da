"""How the bot reads a customer's short answers: backup confirmation, satisfaction.

The policy's phrase lists cover what the checker needs; these two are the
bot's own (the checker never has to judge them): whether a reply to the
data-backup warning confirms it, and which satisfaction label a reply picks.
They are data kept in one place so that moving them into the policy file
later changes no logic.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

# Replies that confirm although they contain a negation: no backup is needed.
BACKUP_CONFIRMED_DESPITE_NEGATION: tuple[str, ...] = (
    "不需要备份",
    "不用备份",
    "无需备份",
    "不必备份",
    "数据不重要",
    "没有重要数据",
    "没什么重要",
    "没啥重要",
    "无所谓",
    "不怕丢",
)
# Replies that say the data is not (yet) backed up or the customer needs time.
BACKUP_DENIED: tuple[str, ...] = (
    "没有备份",
    "没备份",
    "未备份",
    "还没",
    "没有",
    "不确定",
    "不知道",
    "不清楚",
    "稍等",
    "等一下",
    "等等",
    "先别",
    "不要远程",
    "不行",
    "不可以",
)
# Replies that confirm the backup or accept the stated risk.
BACKUP_CONFIRMED: tuple[str, ...] = (
    "备份",
    "确认",
    "确定",
    "没问题",
    "知道了",
    "明白",
    "可以",
    "好的",
    "好",
    "行",
    "嗯",
    "ok",
    "是的",
    "对",
    "有的",
    "都有",
)

BackupAnswer = Literal["confirmed", "denied", "unclear"]

# Punctuation, blanks and emoji codes that carry no meaning in a short answer.
_NOISE = re.compile(r"[\s\u3000。．.！!？?，,、；;：:~～…\-—\"'“”‘’()（）]+|\[[^\]]{1,6}\]")


def squeeze(text: str) -> str:
    """Lower-case `text` without punctuation, blanks and bracketed emoji codes."""
    return _NOISE.sub("", text).lower()


def _contains_any(text: str, phrases: Iterable[str]) -> bool:
    return any(phrase in text for phrase in phrases)


def backup_answer(text: str) -> BackupAnswer:
    """Whether a reply to the data-backup warning confirms it.

    Explicit "no backup needed" wins, then any denial or request to wait,
    then any confirmation; anything else is unclear (the engineer asks again).
    """
    norm = squeeze(text)
    if not norm:
        return "unclear"
    if _contains_any(norm, BACKUP_CONFIRMED_DESPITE_NEGATION):
        return "confirmed"
    if _contains_any(norm, BACKUP_DENIED):
        return "denied"
    if _contains_any(norm, BACKUP_CONFIRMED):
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
