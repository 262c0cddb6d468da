"""The attachments of a list of messages, as the pages and the chat API show them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.desk_models import Attachment

# How a pending or failed attachment reads in the transcript (no internal names).
STATE_LABELS: Mapping[str, str] = {
    "pending": "正在获取…",
    "stored": "",
    "failed": "获取失败（已多次重试）",
    "refused": "文件过大或类型不支持，未保存",
    "erased": "已按客户要求或保存期限删除",
}
KIND_LABELS: Mapping[str, str] = {"image": "图片", "file": "文件", "voice": "语音", "video": "视频"}


def attachment_view(row: Attachment, url: Callable[[int], str]) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "kind_label": KIND_LABELS.get(row.kind, "文件"),
        "status": row.status,
        "status_label": STATE_LABELS.get(row.status, ""),
        "filename": row.filename,
        "content_type": row.content_type,
        "size": row.size,
        "is_image": row.status == "stored" and (row.content_type or "").startswith("image/"),
        "url": url(row.id) if row.status == "stored" else None,
    }


async def attachments_by_message(
    sessionmaker: async_sessionmaker[AsyncSession],
    message_ids: Iterable[int],
    url: Callable[[int], str],
) -> dict[int, list[dict[str, Any]]]:
    ids = sorted({int(i) for i in message_ids})
    found: dict[int, list[dict[str, Any]]] = {}
    if not ids:
        return found
    async with sessionmaker() as session:
        rows = (
            await session.execute(
                select(Attachment).where(Attachment.message_id.in_(ids)).order_by(Attachment.id)
            )
        ).scalars()
        for row in rows:
            if row.message_id is not None:
                found.setdefault(row.message_id, []).append(attachment_view(row, url))
    return found


async def with_attachments(
    sessionmaker: async_sessionmaker[AsyncSession],
    messages: Sequence[dict[str, Any]],
    url: Callable[[int], str],
) -> list[dict[str, Any]]:
    """`messages` (dicts with an ``id``), each with its ``attachments`` list."""
    found = await attachments_by_message(
        sessionmaker, (m["id"] for m in messages if m.get("id")), url
    )
    return [{**m, "attachments": found.get(m.get("id") or 0, [])} for m in messages]
