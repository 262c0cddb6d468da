"""The media store on its own: types read from the bytes, limits, one file per content."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.media.config import MediaConfig
from bot.media.store import MediaRefused, MediaStore, sniff
from bot.settings import SettingsError

PNG = b"\x89PNG\r\n\x1a\n" + bytes(32)


@pytest.mark.parametrize(
    ("data", "claimed", "name", "expected"),
    [
        (PNG, "application/pdf", "x.pdf", "image/png"),  # the bytes win over the claim
        (b"\xff\xd8\xff\xe0" + bytes(8), None, None, "image/jpeg"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", None, None, "image/webp"),
        (b"%PDF-1.7", None, None, "application/pdf"),
        (b"#!AMR\n", None, None, "audio/amr"),
        (
            b"PK\x03\x04" + bytes(8),
            None,
            "报价.xlsx",
            ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ),
        (b"PK\x03\x04" + bytes(8), None, "logs.zip", "application/zip"),
        (b"plain words", "text/plain; charset=utf-8", "a.txt", "text/plain"),
        (b"plain words", None, "a.txt", "text/plain"),
        (b"\x00\x01", "application/octet-stream", "blob", "application/octet-stream"),
    ],
)
def test_the_type_is_read_from_the_bytes_first(
    data: bytes, claimed: str | None, name: str | None, expected: str
) -> None:
    assert sniff(data, claimed, name) == expected


async def test_the_same_bytes_are_one_file_and_limits_refuse(tmp_path: Path) -> None:
    store = MediaStore(MediaConfig(directory=tmp_path, max_bytes=64))
    first = await store.put(PNG, "image/png", "a.png")
    second = await store.put(PNG, "image/jpeg", "b.jpg")
    assert first == second and first.stored_name.endswith(".png")
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [f"{first.sha256}.png"]
    assert store.path("../etc/passwd") is None
    assert store.path(first.stored_name) == tmp_path / first.stored_name
    with pytest.raises(MediaRefused) as too_big:
        await store.put(PNG + bytes(64), "image/png", "big.png")
    assert too_big.value.code == "file_too_large"
    with pytest.raises(MediaRefused) as exe:
        await store.put(b"MZ\x90\x00", "application/x-msdownload", "x.exe")
    assert exe.value.code == "file_type_not_allowed"
    with pytest.raises(MediaRefused) as empty:
        await store.put(b"", "image/png", "e.png")
    assert empty.value.code == "empty_file"
    assert store.remove(first.stored_name) and not (tmp_path / first.stored_name).exists()


def test_bad_media_settings_name_the_variable(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="AFTERSALES_MEDIA_MAX_BYTES"):
        MediaConfig.from_environ({"AFTERSALES_MEDIA_MAX_BYTES": "lots"})
    with pytest.raises(SettingsError, match="AFTERSALES_MEDIA_TYPES"):
        MediaConfig.from_environ({"AFTERSALES_MEDIA_TYPES": "image/png, exe"})
    config = MediaConfig.from_environ(
        {"AFTERSALES_MEDIA_DIR": str(tmp_path), "AFTERSALES_MEDIA_TYPES": "image/png"}
    )
    assert config.directory == tmp_path and config.types == frozenset({"image/png"})
