"""The QR payload of a coupon (扫码核销): its code signed by the server, so that a scanned payload
someone altered is refused. Pure: the key is the caller's (derived from the server's secret in the
resolvers); the domain never reads the environment."""

from __future__ import annotations

import base64
import hashlib
import hmac

from domain.errors import DomainError

PREFIX = "MYC1."


def payload(code: str, key: bytes) -> str:
    return f"{PREFIX}{code}.{_signature(code, key)}"


def code_of(scanned: str, key: bytes, field: str = "code") -> str:
    """The coupon code of what was scanned or typed: a signed payload is checked and unwrapped; a
    bare code (typed at the desk) passes as it is."""
    text = (scanned or "").strip()
    if not text.upper().startswith(PREFIX):
        return text
    code, _, signature = text[len(PREFIX):].rpartition(".")
    if not code or not hmac.compare_digest(signature, _signature(code, key)):
        raise DomainError("COUPON_QR_INVALID", field)
    return code


def _signature(code: str, key: bytes) -> str:
    digest = hmac.new(key, f"coupon:{code}".encode(), hashlib.sha256).digest()[:15]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")
