"""An engineer's image or file: stored, put in the transcript, handed to the channel.

The web chat shows it from the store (its sender only confirms the line is
stored).  WeChat gets it through the media API: ``cgi-bin/media/upload`` for a
temporary media_id, then ``message/custom/send`` with ``msgtype: image`` —
inside the same 48 h service window as text lines (`WeChatMediaSender` wraps
the channel's text sender and passes every other line through).  WeCom kf
sends it itself (`WeComKfSender`: ``media/upload`` then ``kf/send_msg`` with
the line's msgid).  The bridge, whose command protocol carries text only,
refuses the upload with a 409 that says so, rather than sending the customer
a placeholder.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import aiohttp
from sqlalchemy import func, select

from bot.channels.wechat_api import ERRCODES_BLOCKED_BY_CHANNEL, ERRCODES_TOKEN_INVALID
from bot.channels.wechat_token import SharedAccessToken
from bot.channels.window import window_state
from bot.context import Services
from bot.http import ApiError
from bot.lifecycle import ACTIVE
from bot.media.store import MediaStore, StoredFile
from bot.messages import ChannelSender, DeliveryResult, OutboundMedia, OutboundMessage
from storage.desk_models import Attachment
from storage.models import (
    Customer,
    DeliveryStatus,
    Direction,
    Message,
    MessageRole,
    Ticket,
)

log = logging.getLogger("bot.media")

# Channels an engineer can send media on.
MEDIA_CHANNELS = frozenset({"web", "wechat", "wecom"})


@dataclass(frozen=True, slots=True)
class SentMedia:
    message_id: int
    attachment_id: int
    delivery: DeliveryResult


async def send_media(
    services: Services,
    store: MediaStore,
    number: str,
    staff_no: str,
    speaker_name: str,
    kept: StoredFile,
    filename: str | None,
) -> SentMedia:
    """Store the engineer's file as a line of ticket `number` and deliver it."""
    kind = "image" if kept.is_image else "file"
    label = "[图片]" if kind == "image" else "[文件]"
    async with services.tickets.transaction() as session:
        query = select(Ticket).where(Ticket.number == number)
        if services.tickets.lock_rows:
            query = query.with_for_update()
        ticket = (await session.execute(query)).scalar_one_or_none()
        if ticket is None:
            raise ApiError(404, "not_found", f"工单 {number} 不存在")
        if ticket.status not in ACTIVE:
            raise ApiError(409, "ticket_not_active", "工单已结束，不能再发送文件", field="file")
        if ticket.channel not in MEDIA_CHANNELS:
            raise ApiError(
                409,
                "channel_without_media",
                "千牛/京麦桥接暂不支持由工作台发送图片或文件，请用文字回复"
                if ticket.channel in ("qianniu", "jd")
                else "该渠道暂不支持由工作台发送图片或文件，请用文字回复",
                field="file",
            )
        now = services.now()
        last = await session.scalar(
            select(func.max(Message.sent_at)).where(Message.ticket_id == ticket.id)
        )
        # After every line already there, as the lifecycle's own stamping keeps them.
        at = max(now, last + timedelta(milliseconds=1)) if last is not None else now
        message = Message(
            ticket_id=ticket.id,
            channel=ticket.channel,
            direction=Direction.OUTBOUND,
            role=MessageRole.AGENT,
            sender=staff_no,
            sender_name=speaker_name,
            text=f"{label} {filename}" if filename else label,
            kind=kind,
            sent_at=at,
            delivery_status=DeliveryStatus.PENDING,
        )
        session.add(message)
        await session.flush()
        attachment = Attachment(
            message_id=message.id,
            ticket_id=ticket.id,
            channel=ticket.channel,
            kind=kind,
            source="upload",
            status="stored",
            filename=filename,
            content_type=kept.content_type,
            size=kept.size,
            sha256=kept.sha256,
            stored_name=kept.stored_name,
            attempts=0,
            created_at=now,
            stored_at=now,
        )
        session.add(attachment)
        await session.flush()
        customer = await session.scalar(
            select(Customer.external_id).where(Customer.id == ticket.customer_id)
        )
        outbound = OutboundMessage(
            channel=ticket.channel,
            customer_id=str(customer),
            text=message.text,
            staff_no=staff_no,
            ticket_number=number,
            message_id=message.id,
            media=OutboundMedia(
                kind=kind,
                path=str(store.root / kept.stored_name),
                content_type=kept.content_type,
                filename=filename,
            ),
        )
        ids = (message.id, attachment.id)
    result = await services.tickets.deliver(outbound)
    return SentMedia(ids[0], ids[1], result)


class WeChatMediaSender:
    """The WeChat sender, with images sent through media upload + custom send."""

    channel = "wechat"

    def __init__(
        self,
        inner: ChannelSender,
        http: aiohttp.ClientSession,
        base_url: str,
        token: SharedAccessToken,
        services: Services,
    ) -> None:
        self.inner = inner
        self._http = http
        self._base = base_url.rstrip("/")
        self._token = token
        self._services = services

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        if message.media is None:
            return await self.inner.send(message)
        window = await window_state(
            self._services.sessionmaker,
            self.channel,
            message.customer_id,
            excluding=message.message_id,
        )
        blocked = window.refusal(self._services.now(), "WeChat")
        if blocked is not None:
            return DeliveryResult("blocked_by_channel", blocked)
        if message.media.kind != "image":
            return DeliveryResult("failed", "WeChat custom send takes images only, not files")
        token = await self._token.get()
        result = await self._send_image(token, message)
        if result == "token":
            await self._token.invalidate(token)
            result = await self._send_image(await self._token.get(), message)
        return result if isinstance(result, DeliveryResult) else DeliveryResult("failed", result)

    async def _send_image(self, token: str, message: OutboundMessage) -> DeliveryResult | str:
        assert message.media is not None
        data = Path(message.media.path).read_bytes()
        form = aiohttp.FormData()
        form.add_field(
            "media",
            data,
            filename=message.media.filename or Path(message.media.path).name,
            content_type=message.media.content_type,
        )
        try:
            async with self._http.post(
                f"{self._base}/cgi-bin/media/upload",
                params={"access_token": token, "type": "image"},
                data=form,
                timeout=aiohttp.ClientTimeout(total=60),
            ) as response:
                body = json.loads(await response.read() or b"{}")
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            # Nothing reached the customer yet: a failed upload is a plain failure.
            return DeliveryResult("failed", f"media/upload: {type(exc).__name__}: {exc}")
        errcode = body.get("errcode", 0) if isinstance(body, dict) else -1
        if errcode in ERRCODES_TOKEN_INVALID:
            return "token"
        media_id = body.get("media_id") if isinstance(body, dict) else None
        if errcode or not isinstance(media_id, str):
            return DeliveryResult("failed", f"media/upload: errcode {errcode}")
        payload = {
            "touser": message.customer_id,
            "msgtype": "image",
            "image": {"media_id": media_id},
        }
        try:
            async with self._http.post(
                f"{self._base}/cgi-bin/message/custom/send",
                params={"access_token": token},
                data=json.dumps(payload).encode("utf-8"),
                headers={"Content-Type": "application/json; charset=utf-8"},
                timeout=aiohttp.ClientTimeout(total=10),
            ) as response:
                answer = json.loads(await response.read() or b"{}")
        except aiohttp.ClientConnectorError as exc:
            return DeliveryResult("failed", f"custom/send: {exc}")
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            # It may have been taken: never repeated blindly (as text lines).
            return DeliveryResult("unknown", f"custom/send: {type(exc).__name__}: {exc}")
        code = answer.get("errcode", 0) if isinstance(answer, dict) else -1
        if code == 0:
            return DeliveryResult("sent")
        if code in ERRCODES_TOKEN_INVALID:
            return "token"
        blocked = ERRCODES_BLOCKED_BY_CHANNEL.get(code)
        if blocked is not None:
            return DeliveryResult("blocked_by_channel", blocked)
        return DeliveryResult("failed", f"custom/send: errcode {code}")
