"""WeChat crypto interoperates with Tencent's WXBizMsgCrypt, and keys rotate."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import xmltodict

from bot.channels.wechat_crypto import (
    AesKeyError,
    CryptoRejected,
    MessageCrypto,
    compute_signature,
    signature_matches,
    validate_aes_key,
)

REPO = Path(__file__).resolve().parents[2]
REALDATA = Path(os.environ.get("AFTERSALES_REALDATA") or REPO / "../shared/realdata").resolve()
VECTORS = REALDATA / "wechat" / "wxbizmsgcrypt_vectors.json"


def _vectors() -> list[dict[str, Any]]:
    if not VECTORS.is_file():
        return []
    return list(json.loads(VECTORS.read_text(encoding="utf-8")))


def _encrypted(vector: dict[str, Any]) -> str:
    if "echostr" in vector:
        return str(vector["echostr"])
    return str(xmltodict.parse(vector["post_body"])["xml"]["Encrypt"])


def _need_vectors() -> None:
    if not VECTORS.is_file():
        pytest.skip(f"WXBizMsgCrypt vectors absent: {VECTORS} (set AFTERSALES_REALDATA)")


# The Official Account sample of Tencent's WXBizMsgCrypt demo, restated (test
# vectors are facts): it runs even where the real-data folder is absent.
MP_SAMPLE = {
    "token": "spamtest",
    "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    "receive_id": "wx2c2769f8efd9abc2",
    "timestamp": "1409735669",
    "nonce": "1320562132",
    "msg_signature": "5d197aaffba7e9b25a30732f161a50dee96bd5fa",
    "encrypt": (
        "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8"
        "PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jis"
        "a+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6"
        "X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl"
        "9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
    ),
}


def test_official_account_sample_decrypts_without_realdata() -> None:
    crypto = MessageCrypto(
        MP_SAMPLE["token"], [MP_SAMPLE["encoding_aes_key"]], MP_SAMPLE["receive_id"]
    )
    opened = crypto.decrypt(
        MP_SAMPLE["encrypt"], MP_SAMPLE["msg_signature"], MP_SAMPLE["timestamp"], MP_SAMPLE["nonce"]
    )
    fields = xmltodict.parse(opened.plaintext)["xml"]
    assert fields["Content"] == "abcdteT"
    assert fields["MsgId"] == "6054768590064713728"
    assert opened.key_index == 0


def _vector_params() -> list[Any]:
    vectors = _vectors()
    if not vectors:
        reason = f"WXBizMsgCrypt vectors absent: {VECTORS} (set AFTERSALES_REALDATA)"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="absent")]
    return [pytest.param(vector, id=str(vector["name"])) for vector in vectors]


@pytest.mark.realdata
@pytest.mark.parametrize("vector", _vector_params())
def test_every_official_vector_decrypts_to_its_plaintext(vector: dict[str, Any]) -> None:
    crypto = MessageCrypto(vector["token"], [vector["encoding_aes_key"]], vector["receive_id"])
    opened = crypto.decrypt(
        _encrypted(vector), vector["msg_signature"], vector["timestamp"], vector["nonce"]
    )
    assert opened.plaintext == vector["decrypted_plaintext"]
    assert vector["decrypted_receive_id"] == vector["receive_id"]


@pytest.mark.realdata
def test_the_negative_vector_is_rejected() -> None:
    _need_vectors()
    negatives = [v for v in _vectors() if "negative_case" in v]
    assert negatives, "the vector file should hold a case that must fail"
    for vector in negatives:
        crypto = MessageCrypto(vector["token"], [vector["encoding_aes_key"]], vector["receive_id"])
        assert vector["negative_case"]["expect"] == "InvalidSignature"
        with pytest.raises(CryptoRejected, match="signature"):
            crypto.decrypt(
                _encrypted(vector),
                vector["msg_signature"],
                vector["timestamp"],
                vector["negative_case"]["nonce"],
            )


@pytest.mark.realdata
def test_vector_signatures_match_our_computation() -> None:
    _need_vectors()
    for vector in _vectors():
        assert signature_matches(
            vector["msg_signature"],
            vector["token"],
            vector["timestamp"],
            vector["nonce"],
            _encrypted(vector),
        ), vector["name"]


KEY_OLD = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
KEY_NEW = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"


def _seal(key: str, plaintext: str) -> tuple[str, str]:
    """`plaintext` encrypted under `key` as WeChat would send it: (Encrypt, msg_signature)."""
    sealed = MessageCrypto("tok", [key], "wxapp").encrypt(plaintext, "42", "1700000000")
    fields = xmltodict.parse(sealed)["xml"]
    return fields["Encrypt"], fields["MsgSignature"]


def test_round_trip_and_reply_signature() -> None:
    crypto = MessageCrypto("tok", [KEY_NEW], "wxapp")
    sealed = xmltodict.parse(crypto.encrypt("<xml>你好]]></xml>", "99", "1700000001"))["xml"]
    assert sealed["MsgSignature"] == compute_signature("tok", "1700000001", "99", sealed["Encrypt"])
    opened = crypto.decrypt(sealed["Encrypt"], sealed["MsgSignature"], "1700000001", "99")
    assert opened.plaintext == "<xml>你好]]></xml>"


def test_key_rotation_accepts_current_and_previous_key() -> None:
    rotating = MessageCrypto("tok", [KEY_NEW, KEY_OLD], "wxapp")
    encrypted, signature = _seal(KEY_OLD, "<xml>old</xml>")
    opened = rotating.decrypt(encrypted, signature, "1700000000", "42")
    assert (opened.plaintext, opened.key_index) == ("<xml>old</xml>", 1)
    encrypted, signature = _seal(KEY_NEW, "<xml>new</xml>")
    opened = rotating.decrypt(encrypted, signature, "1700000000", "42")
    assert (opened.plaintext, opened.key_index) == ("<xml>new</xml>", 0)


def test_a_key_that_was_rotated_out_no_longer_decrypts() -> None:
    current_only = MessageCrypto("tok", [KEY_NEW], "wxapp")
    encrypted, signature = _seal(KEY_OLD, "<xml>old</xml>")
    with pytest.raises(CryptoRejected, match="does not decrypt"):
        current_only.decrypt(encrypted, signature, "1700000000", "42")


def test_another_app_id_is_rejected() -> None:
    encrypted, signature = _seal(KEY_NEW, "<xml/>")
    with pytest.raises(CryptoRejected, match="app id"):
        MessageCrypto("tok", [KEY_NEW], "wxother").decrypt(encrypted, signature, "1700000000", "42")


@pytest.mark.parametrize("garbage", ["", "abc", "!!!!", "A" * 16, "QUJD" * 30, "中文不是base64"])
def test_garbage_ciphertext_is_rejected_not_raised(garbage: str) -> None:
    crypto = MessageCrypto("tok", [KEY_NEW, KEY_OLD], "wxapp")
    signature = compute_signature("tok", "1", "2", garbage)
    with pytest.raises(CryptoRejected):
        crypto.decrypt(garbage, signature, "1", "2")


def test_signature_comparison_handles_hostile_values() -> None:
    good = compute_signature("tok", "1", "2")
    assert signature_matches(good, "tok", "1", "2")
    assert not signature_matches(good.upper(), "tok", "1", "2")
    assert not signature_matches("", "tok", "1", "2")
    assert not signature_matches("签名", "tok", "1", "2")
    assert not signature_matches("\udcff", "tok", "1", "2")


@pytest.mark.parametrize(
    ("key", "problem"),
    [("short", "43 characters"), ("*" * 43, "not base64"), ("a" * 44, "43 characters")],
)
def test_bad_aes_keys_are_named(key: str, problem: str) -> None:
    with pytest.raises(AesKeyError, match=f"AFTERSALES_WECHAT_AES_KEY: .*{problem}"):
        validate_aes_key(key, name="AFTERSALES_WECHAT_AES_KEY")
    assert validate_aes_key(KEY_NEW, name="x") == KEY_NEW
