"""The content-hash file store: the same bytes are one file, whoever sent them.

A file is named by the SHA-256 of its bytes and the extension of its type,
under a two-character fan-out directory (``ab/ab12….png``).  Writes go to a
temporary name first and are renamed into place, so a reader never sees half
a file and two processes storing the same bytes both succeed.  The content
type is read from the bytes where they have a signature (a browser's or a
channel's claim is used only when they do not), and checked against the
configured list.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from bot.media.config import MediaConfig

_STORED_NAME = re.compile(r"[0-9a-f]{2}/[0-9a-f]{64}\.[a-z0-9]{1,8}")

# Signatures of the types the store keeps (the first bytes of the file).
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
    (b"%PDF-", "application/pdf"),
    (b"#!AMR", "audio/amr"),
    (b"#!SILK", "audio/silk"),
    (b"\x02#!SILK", "audio/silk"),
    (b"ID3", "audio/mpeg"),
)
EXTENSIONS: dict[str, str] = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/bmp": "bmp",
    "application/pdf": "pdf",
    "text/plain": "txt",
    "application/zip": "zip",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "audio/amr": "amr",
    "audio/mpeg": "mp3",
    "audio/silk": "silk",
    "video/mp4": "mp4",
}
_BY_EXTENSION = {ext: kind for kind, ext in EXTENSIONS.items()}


class MediaRefused(ValueError):
    """Bytes the store will not keep: too large, empty or of a type not allowed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class StoredFile:
    sha256: str
    stored_name: str
    size: int
    content_type: str

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")

    def as_upload(self, filename: str | None) -> dict[str, object]:
        """What `bot.lifecycle` reads from ``InboundMessage.raw["attachment"]``."""
        return {
            "sha256": self.sha256,
            "stored_name": self.stored_name,
            "size": self.size,
            "content_type": self.content_type,
            "filename": filename,
        }


def sniff(data: bytes, claimed: str | None, filename: str | None) -> str:
    """The content type of `data`: its signature first, then the claim, then the name."""
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp":
        return "video/mp4"
    if data.startswith(b"PK\x03\x04"):
        # Office files are zips: the name tells them apart.
        ext = (filename or "").rpartition(".")[2].lower()
        return _BY_EXTENSION[ext] if ext in ("docx", "xlsx") else "application/zip"
    claim = (claimed or "").split(";")[0].strip().lower()
    if claim and claim != "application/octet-stream":
        return claim
    ext = (filename or "").rpartition(".")[2].lower()
    return _BY_EXTENSION.get(ext, "application/octet-stream")


class MediaStore:
    """Files under `config.directory`, named by content hash."""

    def __init__(self, config: MediaConfig) -> None:
        self.config = config
        self.root = config.directory

    def check(self, data: bytes, claimed: str | None, filename: str | None) -> str:
        """The content type to keep `data` as; `MediaRefused` when it may not be kept."""
        if not data:
            raise MediaRefused("empty_file", "文件是空的")
        if len(data) > self.config.max_bytes:
            raise MediaRefused(
                "file_too_large", f"文件超过大小上限（{self.config.max_bytes} 字节）"
            )
        kind = sniff(data, claimed, filename)
        if kind not in self.config.types:
            raise MediaRefused("file_type_not_allowed", f"不支持的文件类型：{kind}")
        return kind

    async def put(self, data: bytes, claimed: str | None, filename: str | None) -> StoredFile:
        """Store `data` (checked first); the same bytes land on the same name."""
        kind = self.check(data, claimed, filename)
        digest = hashlib.sha256(data).hexdigest()
        name = f"{digest[:2]}/{digest}.{EXTENSIONS.get(kind, 'bin')}"
        await asyncio.to_thread(self._write, name, data)
        return StoredFile(digest, name, len(data), kind)

    def _write(self, name: str, data: bytes) -> None:
        target = self.root / name
        if target.exists() and target.stat().st_size == len(data):
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        temporary.write_bytes(data)
        os.replace(temporary, target)

    def path(self, stored_name: str) -> Path | None:
        """The file of a stored name, or None for a name that is not one of ours."""
        if not _STORED_NAME.fullmatch(stored_name):
            return None
        target = self.root / stored_name
        return target if target.is_file() else None

    def remove(self, stored_name: str) -> bool:
        """Delete a stored file; whether there was one."""
        target = self.path(stored_name)
        if target is None:
            return False
        target.unlink(missing_ok=True)
        return True

    async def read(self, stored_name: str) -> bytes | None:
        target = self.path(stored_name)
        return None if target is None else await asyncio.to_thread(target.read_bytes)
