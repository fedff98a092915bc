"""Personal data at rest: phone numbers are stored so that a database dump does not reveal them,
while the desk can still find a member by typing the full number.

- `phone_index`: HMAC-SHA256 of the normalised number under a key the database never sees; equal
  numbers give equal indexes, so lookups and the one-member-per-phone rule stay exact.
- `phone_cipher`: AES-256-GCM of the number, for the roles that may read it in full.
Both keys are derived from the deployment's data key, which comes from the environment.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.errors import DomainError

_MOBILE = re.compile(r"^1[3-9]\d{9}$")


_SEPARATORS = re.compile(r"[\s\-()]")


def normalise_phone(raw: str | None, field: str = "phone") -> str:
    """A mainland China mobile number as 11 digits, or INVALID_PHONE."""
    phone = _SEPARATORS.sub("", raw or "")
    for prefix in ("+86", "0086", "86"):
        if phone.startswith(prefix) and len(phone) == 11 + len(prefix):
            phone = phone[len(prefix) :]
            break
    if not _MOBILE.match(phone):
        raise DomainError("INVALID_PHONE", field)
    return phone


def looks_like_phone(text: str) -> bool:
    try:
        normalise_phone(text)
        return True
    except DomainError:
        return False


def mask_phone(phone: str) -> str:
    return f"{phone[:3]}****{phone[-4:]}"


class PiiCipher:
    def __init__(self, data_key: bytes) -> None:
        if len(data_key) < 16:
            raise ValueError("the data key must be at least 16 bytes")
        self._index_key = hmac.new(data_key, b"meiye/phone-index/v1", hashlib.sha256).digest()
        self._aead = AESGCM(hmac.new(data_key, b"meiye/phone-cipher/v1", hashlib.sha256).digest())

    def phone_index(self, phone: str) -> str:
        return hmac.new(self._index_key, phone.encode(), hashlib.sha256).hexdigest()

    def encrypt(self, plaintext: str, purpose: bytes = b"phone") -> str:
        """`purpose` binds a ciphertext to its use: a sealed secret cannot pass for a phone."""
        nonce = os.urandom(12)
        return base64.b64encode(nonce + self._aead.encrypt(nonce, plaintext.encode(), purpose)).decode()

    def decrypt(self, token: str, purpose: bytes = b"phone") -> str:
        raw = base64.b64decode(token)
        return self._aead.decrypt(raw[:12], raw[12:], purpose).decode()
