"""WeChat callback signatures and message encryption (WXBizMsgCrypt), at the edge.

The cipher itself is wechatpy's (`wechatpy.crypto.WeChatCrypto`); this module
adds what the webhook needs around it:

- signatures are computed with wechatpy's `WeChatSigner` and compared with
  `hmac.compare_digest`, because wechatpy compares them with `!=`;
- the current and the previous EncodingAESKey are both accepted, so an
  administrator can rotate the key in the WeChat console and in our
  environment without losing the messages that arrive in between;
- a reply is encrypted with the key that decrypted the message it answers
  (during a rotation WeChat still holds the key it encrypted with).

Everything that can go wrong with a request raises `CryptoRejected`, which the
webhook turns into a 4xx with the reason logged.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import WeChatSigner

# An EncodingAESKey is 43 base64 characters (32 bytes without the trailing "=").
AES_KEY_LENGTH = 43


class CryptoRejected(Exception):
    """A signature or ciphertext that must not be accepted; the message says why."""


class AesKeyError(ValueError):
    """An EncodingAESKey that cannot be a WeChat key; the message says what is wrong."""


def compute_signature(*parts: str) -> str:
    """WeChat's signature: SHA-1 of the parts sorted and concatenated, lower-case hex."""
    signer = WeChatSigner()
    signer.add_data(*parts)
    return str(signer.signature)


def signature_matches(given: str, *parts: str) -> bool:
    """Whether `given` is the signature of `parts`, compared in constant time."""
    expected = compute_signature(*parts).encode("ascii")
    # compare_digest on str demands ASCII; a hostile value may not be.
    return hmac.compare_digest(expected, given.encode("utf-8", "surrogatepass"))


def validate_aes_key(key: str, *, name: str) -> str:
    """`key` if it is a usable EncodingAESKey, else `AesKeyError` naming `name`."""
    if len(key) != AES_KEY_LENGTH:
        raise AesKeyError(
            f"{name}: an EncodingAESKey has {AES_KEY_LENGTH} characters, got {len(key)}"
        )
    try:
        raw = base64.b64decode(key + "=", validate=True)
    except binascii.Error:
        raise AesKeyError(f"{name}: not base64 (letters, digits, '+' and '/' only)") from None
    if len(raw) != 32:  # pragma: no cover - 43 valid base64 characters always give 32 bytes
        raise AesKeyError(f"{name}: decodes to {len(raw)} bytes, expected 32")
    return key


@dataclass(frozen=True, slots=True)
class Decrypted:
    """A decrypted payload and the index of the key that opened it (0: current)."""

    plaintext: str
    key_index: int


class MessageCrypto:
    """Signature checks and AES en/decryption for one Official Account.

    `aes_keys` is the current EncodingAESKey first, then the previous one (if
    any); `app_id` is the receive id WeChat seals into every ciphertext.
    """

    def __init__(self, token: str, aes_keys: Sequence[str], app_id: str) -> None:
        if not aes_keys:
            raise AesKeyError("at least one EncodingAESKey is needed")
        self.token = token
        self.app_id = app_id
        self._cryptos = tuple(WeChatCrypto(token, key, app_id) for key in aes_keys)

    @property
    def key_count(self) -> int:
        return len(self._cryptos)

    def check_signature(self, signature: str, timestamp: str, nonce: str, *extra: str) -> None:
        """Raise `CryptoRejected` unless `signature` signs token, timestamp, nonce (+ extra)."""
        if not signature_matches(signature, self.token, timestamp, nonce, *extra):
            raise CryptoRejected("signature does not match")

    def decrypt(self, encrypted: str, msg_signature: str, timestamp: str, nonce: str) -> Decrypted:
        """The plaintext sealed in `encrypted`, after checking `msg_signature` over it.

        The signature covers the ciphertext and the token only, so it is checked
        once; then each key is tried in order.
        """
        self.check_signature(msg_signature, timestamp, nonce, encrypted)
        envelope = {"Encrypt": encrypted}
        for index, crypto in enumerate(self._cryptos):
            try:
                # wechatpy re-checks the signature (with `!=`); it already matched
                # above in constant time, so that check cannot leak anything.
                plaintext = crypto.decrypt_message(envelope, msg_signature, timestamp, nonce)
            except InvalidSignatureException:  # pragma: no cover - checked above
                raise CryptoRejected("signature does not match") from None
            except (InvalidAppIdException, ValueError, struct.error, IndexError):
                # A wrong key yields garbage: bad padding, a bad length field,
                # undecodable bytes or another receive id.  Try the next key.
                continue
            return Decrypted(plaintext=str(plaintext), key_index=index)
        raise CryptoRejected(
            f"ciphertext does not decrypt for app id {self.app_id!r} with any of "
            f"{len(self._cryptos)} EncodingAESKey(s)"
        )

    def encrypt(self, plaintext: str, nonce: str, timestamp: str, *, key_index: int = 0) -> str:
        """`plaintext` sealed into WeChat's reply envelope (Encrypt, MsgSignature, …)."""
        return str(self._cryptos[key_index].encrypt_message(plaintext, nonce, timestamp))
