"""Where media files are stored and what is accepted, from ``AFTERSALES_MEDIA_*``.

- ``AFTERSALES_MEDIA_DIR`` — the directory (default ``aftersales-media`` in the
  working directory, next to the default SQLite file); every serve process
  sharing one database must see the same directory (a shared volume);
- ``AFTERSALES_MEDIA_MAX_BYTES`` — the largest file kept (default 10 MiB);
  a larger download is refused, a larger upload answered 413;
- ``AFTERSALES_MEDIA_TYPES`` — the content types kept, comma-separated
  (default: common images, PDF, plain text, Office documents, zip, AMR/MP3
  voice, MP4 video); the type is read from the bytes where they say it;
- ``AFTERSALES_MEDIA_RETRY_S`` — the first retry after a failed download
  (doubling each time, default 60 s), ``AFTERSALES_MEDIA_ATTEMPTS`` — how many
  attempts before the attachment is marked failed (default 6);
- ``AFTERSALES_MEDIA_SWEEP_S`` — how often the fetcher looks for pending
  downloads (default 5 s; 0 switches the background fetcher off).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bot.settings import SettingsError, env_number

DEFAULT_TYPES: frozenset[str] = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "image/bmp",
        "application/pdf",
        "text/plain",
        "application/zip",
        "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.ms-excel",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "audio/amr",
        "audio/mpeg",
        "audio/silk",
        "video/mp4",
    }
)


@dataclass(frozen=True, slots=True)
class MediaConfig:
    """The media settings, validated once."""

    directory: Path
    max_bytes: int = 10 * 1024 * 1024
    types: frozenset[str] = DEFAULT_TYPES
    retry_s: float = 60.0
    attempts: int = 6
    sweep_s: float = 5.0

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> MediaConfig:
        directory = Path(environ.get("AFTERSALES_MEDIA_DIR", "").strip() or "aftersales-media")
        raw_types = environ.get("AFTERSALES_MEDIA_TYPES", "").strip()
        types = DEFAULT_TYPES
        if raw_types:
            types = frozenset(t.strip().lower() for t in raw_types.split(",") if t.strip())
            bad = sorted(t for t in types if "/" not in t)
            if bad:
                raise SettingsError(f"AFTERSALES_MEDIA_TYPES: not a content type: {bad[0]!r}")
        return cls(
            directory=directory,
            max_bytes=int(
                env_number(
                    environ, "AFTERSALES_MEDIA_MAX_BYTES", 10 * 1024 * 1024, minimum=1, whole=True
                )
            ),
            types=types,
            retry_s=env_number(environ, "AFTERSALES_MEDIA_RETRY_S", 60.0, minimum=0),
            attempts=int(
                env_number(environ, "AFTERSALES_MEDIA_ATTEMPTS", 6, minimum=1, whole=True)
            ),
            sweep_s=env_number(environ, "AFTERSALES_MEDIA_SWEEP_S", 5.0, minimum=0),
        )
