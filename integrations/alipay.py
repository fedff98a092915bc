"""Alipay for the mini-program, on the official alipay-sdk-python 3.7: trade create/query/close,
login (oauth token), the encrypted phone number, and RSA2 notification verification.

Amounts: Alipay speaks yuan strings with exactly two decimals; we speak integer fen. Both
directions are converted exactly here and nowhere else.

Notifications: one carrying refund_fee/out_biz_no is kind REFUND with state REFUNDED (a partial
refund arrives as TRADE_SUCCESS, a full one as TRADE_CLOSED). Alipay's refund_fee is the total
refunded on the trade so far, not this refund's share; it is passed on as refund_amount.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import http.client
import json
import re
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit

import alipay.aop.api.util.WebUtils as WebUtils
from alipay.aop.api.AlipayClientConfig import AlipayClientConfig
from alipay.aop.api.DefaultAlipayClient import DefaultAlipayClient
from alipay.aop.api.domain.AlipayTradeCloseModel import AlipayTradeCloseModel
from alipay.aop.api.domain.AlipayTradeCreateModel import AlipayTradeCreateModel
from alipay.aop.api.domain.AlipayTradeQueryModel import AlipayTradeQueryModel
from alipay.aop.api.exception.Exception import RequestException
from alipay.aop.api.request.AlipaySystemOauthTokenRequest import (
    AlipaySystemOauthTokenRequest,
)
from alipay.aop.api.request.AlipayTradeCloseRequest import AlipayTradeCloseRequest
from alipay.aop.api.request.AlipayTradeCreateRequest import AlipayTradeCreateRequest
from alipay.aop.api.request.AlipayTradeQueryRequest import AlipayTradeQueryRequest
from alipay.aop.api.util.SignatureUtils import get_sign_content, verify_with_rsa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from domain.members.customers import Channel
from domain.payments.types import (
    CallbackRejected,
    EventKind,
    PaymentNotification,
    TradeState,
)

CHINA_TZ = dt.timezone(dt.timedelta(hours=8))
HTTP_TIMEOUT = 10  # seconds; the SDK's own default is 15
MAX_FEN = 100_000_000_00  # Alipay's ceiling for one trade: ¥100,000,000.00
_YUAN = re.compile(r"(0|[1-9][0-9]{0,9})\.[0-9]{2}")  # ASCII digits only: Decimal() accepts any Unicode digit
_ALIPAY_USER_ID = re.compile(r"2088[0-9]{12}")

TRADE_STATES = {
    "WAIT_BUYER_PAY": TradeState.PENDING,
    "TRADE_SUCCESS": TradeState.PAID,
    "TRADE_FINISHED": TradeState.PAID,
    "TRADE_CLOSED": TradeState.CLOSED,
}


@dataclass(frozen=True, kw_only=True)
class AlipayConfig:
    app_id: str
    app_private_key_pem: str = field(repr=False)  # PKCS#1 or PKCS#8, PEM or bare base64
    alipay_public_key_pem: str  # "支付宝公钥", PEM or bare base64
    gateway: str = "https://openapi.alipay.com/gateway.do"
    notify_url: str
    seller_id: str | None = None
    aes_key: str | None = field(default=None, repr=False)  # "接口内容加密" key, base64


class AlipayError(Exception):
    """An Alipay call failed: Alipay's sub_code (or code), or NETWORK / SDK_ERROR / BAD_RESPONSE."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def fen_to_yuan(fen: int) -> str:
    """12345 → "123.45", exactly (the SDK needs a str: it cannot serialise Decimal)."""
    if not isinstance(fen, int) or isinstance(fen, bool) or not 0 < fen <= MAX_FEN:
        raise ValueError(f"amount must be between 1 and {MAX_FEN} fen, got {fen!r}")
    return str(Decimal(fen).scaleb(-2))


def yuan_to_fen(yuan: str) -> int:
    """"123.45" → 12345; anything but a plain two-decimal amount is refused, never rounded."""
    if not isinstance(yuan, str) or not _YUAN.fullmatch(yuan):
        raise ValueError(f"not a two-decimal yuan amount: {yuan!r}")
    return int(Decimal(yuan).scaleb(2))


# ---------------------------------------------------------------- local stand-ins

_local_gateways: set[tuple[str, int]] = set()
_patch_lock = threading.Lock()
_sdk_get_http_connection = WebUtils.get_http_connection


def use_local_gateway(host: str, port: int) -> None:
    """Let the SDK reach a plain-HTTP stand-in at host:port. The SDK always connects to port
    80/443 and then crashes building the URL when one is given (str + int), so its connection
    factory is replaced; URLs for any other host still go through the SDK's own code."""
    with _patch_lock:
        _local_gateways.add((host, int(port)))
        WebUtils.get_http_connection = _get_http_connection


def _get_http_connection(url, query_string, timeout):
    parts = urlsplit(url)
    if (parts.hostname, parts.port) not in _local_gateways:
        return _sdk_get_http_connection(url, query_string, timeout)
    connection = http.client.HTTPConnection(host=parts.hostname, port=parts.port, timeout=timeout)
    # Origin-form request target: uvicorn's h11 parser would take an absolute URL as the path.
    return f"{parts.path}?{query_string}", connection


# ---------------------------------------------------------------- keys


def _der(text: str) -> bytes | None:
    """Alipay's console hands out keys as bare base64 without PEM markers."""
    if "-----BEGIN" in text:
        return None
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def pkcs1_private_key(text: str) -> str:
    """The app key as PKCS#1 PEM, the only form the SDK's python-rsa signer loads."""
    der = _der(text)
    key = serialization.load_der_private_key(der, None) if der else serialization.load_pem_private_key(text.encode(), None)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()).decode()


def _public_key(text: str):
    der = _der(text)
    return serialization.load_der_public_key(der) if der else serialization.load_pem_public_key(text.encode())


class AlipayGateway:
    channel = Channel.ALIPAY

    def __init__(self, config: AlipayConfig) -> None:
        self.config = config
        self._public_key = _public_key(config.alipay_public_key_pem)
        self._public_key_pem = self._public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        self._aes_key = base64.b64decode(config.aes_key, validate=True) if config.aes_key else None
        if self._aes_key is not None and len(self._aes_key) not in (16, 24, 32):
            raise ValueError("aes_key must be base64 of a 16-byte AES key")
        sdk = AlipayClientConfig()
        sdk.server_url = config.gateway
        sdk.app_id = config.app_id
        sdk.app_private_key = pkcs1_private_key(config.app_private_key_pem)
        sdk.alipay_public_key = self._public_key_pem
        sdk.sign_type = "RSA2"
        sdk.charset = "utf-8"
        sdk.timeout = HTTP_TIMEOUT
        self._client = DefaultAlipayClient(sdk)

    async def _execute(self, request) -> dict:
        """Run one SDK call off the event loop; the answer's signature is verified by the SDK."""
        try:
            raw = await asyncio.to_thread(self._client.execute, request)
        except (OSError, http.client.HTTPException, RequestException) as e:  # the SDK wraps connect/send failures
            raise AlipayError("NETWORK", str(e)) from e
        except Exception as e:  # noqa: BLE001 - ResponseException (signature did not verify, odd shape), or the SDK's own bugs
            raise AlipayError("SDK_ERROR", str(e)) from e
        try:
            data = json.loads(raw)
        except ValueError as e:
            raise AlipayError("BAD_RESPONSE", "answer is not JSON") from e
        if not isinstance(data, dict):
            raise AlipayError("BAD_RESPONSE", "answer is not a JSON object")
        return data

    @staticmethod
    def _failed(data: dict) -> AlipayError:
        return AlipayError(str(data.get("sub_code") or data.get("code") or "UNKNOWN"), str(data.get("sub_msg") or data.get("msg") or ""))

    async def create_trade(self, *, out_trade_no: str, description: str, amount: int, payer_id: str, expires_at: dt.datetime) -> str:
        if expires_at.tzinfo is None:
            raise ValueError("expires_at must carry a time zone")
        model = AlipayTradeCreateModel()
        model.out_trade_no = out_trade_no
        model.subject = description
        model.total_amount = fen_to_yuan(amount)
        model.product_code = "JSAPI_PAY"
        model.op_app_id = self.config.app_id
        # Apps created before open_id existed only get the 2088… user_id from oauth; it goes in buyer_id.
        if _ALIPAY_USER_ID.fullmatch(payer_id):
            model.buyer_id = payer_id
        else:
            model.buyer_open_id = payer_id
        model.time_expire = expires_at.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S")
        if self.config.seller_id:
            model.seller_id = self.config.seller_id
        request = AlipayTradeCreateRequest(biz_model=model)
        request.notify_url = self.config.notify_url
        data = await self._execute(request)
        trade_no = data.get("trade_no")
        if data.get("code") != "10000" or not isinstance(trade_no, str) or not trade_no:
            raise self._failed(data)
        return trade_no

    async def query(self, out_trade_no: str) -> PaymentNotification | None:
        model = AlipayTradeQueryModel()
        model.out_trade_no = out_trade_no
        data = await self._execute(AlipayTradeQueryRequest(biz_model=model))
        if data.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
            return None
        status = data.get("trade_status")
        if data.get("code") != "10000":
            raise self._failed(data)
        if status not in TRADE_STATES or data.get("out_trade_no") != out_trade_no:
            raise AlipayError("BAD_RESPONSE", f"unexpected answer for {out_trade_no}: {status!r}")
        state = TRADE_STATES[status]
        # A closed trade that had been paid (send_pay_date set) was closed by a full refund.
        if status == "TRADE_CLOSED" and data.get("send_pay_date"):
            state = TradeState.REFUNDED
        try:
            amount = yuan_to_fen(data.get("total_amount"))
        except ValueError as e:
            raise AlipayError("BAD_RESPONSE", str(e)) from e
        return PaymentNotification(
            channel=Channel.ALIPAY,
            kind=EventKind.PAYMENT,
            event_id=f"query:{data.get('trade_no') or out_trade_no}:{status}",
            out_trade_no=out_trade_no,
            platform_trade_no=data.get("trade_no") or None,
            state=state,
            amount=amount,
            app_id=self.config.app_id,  # the query answer names no app; it was asked with ours
            merchant_id=self.config.seller_id,
            paid_at=_parse_time(data.get("send_pay_date")),
            raw=data,
        )

    async def close(self, out_trade_no: str) -> None:
        model = AlipayTradeCloseModel()
        model.out_trade_no = out_trade_no
        data = await self._execute(AlipayTradeCloseRequest(biz_model=model))
        # A trade Alipay never recorded has nothing to close; closing is how we give up on it anyway.
        if data.get("code") != "10000" and data.get("sub_code") != "ACQ.TRADE_NOT_EXIST":
            raise self._failed(data)

    async def oauth_token(self, auth_code: str) -> str:
        """my.getAuthCode's code → the user's open_id (user_id for apps without open_id)."""
        request = AlipaySystemOauthTokenRequest()
        request.grant_type = "authorization_code"
        request.code = auth_code
        data = await self._execute(request)
        user = data.get("open_id") or data.get("user_id")
        if data.get("code") not in (None, "10000") or not isinstance(user, str) or not user:
            raise self._failed(data)
        return user

    def decrypt_phone(self, encrypted_response: str) -> str:
        """The string my.getPhoneNumber hands the mini-program (`res.response`): a JSON envelope
        {"response": base64 AES-CBC ciphertext, "sign": RSA2, …}. The signature is required:
        unauthenticated CBC ciphertext can be bit-flipped."""
        if self._aes_key is None:
            raise AlipayError("NO_AES_KEY", "AlipayConfig.aes_key is not set")
        try:
            envelope = json.loads(encrypted_response)
            ciphertext, sign = envelope["response"], envelope["sign"]
            if not isinstance(ciphertext, str) or not isinstance(sign, str) or envelope.get("sign_type", "RSA2") != "RSA2":
                raise ValueError("envelope fields")
        except (ValueError, TypeError, KeyError) as e:
            raise AlipayError("BAD_PHONE_RESPONSE", "not a signed getPhoneNumber response") from e
        # Alipay signs the ciphertext as the JSON string literal, quotes included.
        if not self._verify_rsa2(f'"{ciphertext}"', sign):
            raise AlipayError("BAD_PHONE_RESPONSE", "signature does not verify")
        try:
            decryptor = Cipher(algorithms.AES(self._aes_key), modes.CBC(bytes(16))).decryptor()
            padded = decryptor.update(base64.b64decode(ciphertext, validate=True)) + decryptor.finalize()
            unpadder = sym_padding.PKCS7(128).unpadder()
            content = json.loads(unpadder.update(padded) + unpadder.finalize())
        except (ValueError, TypeError, binascii.Error) as e:
            raise AlipayError("BAD_PHONE_RESPONSE", "cannot decrypt (wrong AES key?)") from e
        if not isinstance(content, dict):
            raise AlipayError("BAD_PHONE_RESPONSE", "decrypted content is not an object")
        mobile = content.get("mobile")
        if content.get("code") != "10000" or not isinstance(mobile, str) or not mobile:
            raise AlipayError(str(content.get("subCode") or content.get("code")), str(content.get("subMsg") or content.get("msg") or ""))
        return mobile

    # ---------------------------------------------------------------- notifications

    def _verify_rsa2(self, content: str, sign: str) -> bool:
        """The SDK's verify_with_rsa, plus a SHA-256 pin: python-rsa takes the hash from the
        signature itself, so the SDK alone also accepts an RSA-SHA1 signature labelled RSA2."""
        message = content.encode("utf-8")
        try:
            if not verify_with_rsa(self._public_key_pem, message, sign):
                return False
            self._public_key.verify(base64.b64decode(sign), message, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return False
        except Exception:  # noqa: BLE001 - python-rsa raises VerificationError instead of returning False; bad base64 raises too
            return False
        return True

    def parse_notification(self, headers, body: bytes, now: dt.datetime) -> PaymentNotification:
        """Verify and decode an asynchronous notification (the raw form-encoded POST body).
        Alipay signs no timestamp we could bound, so `now` is not used; retries carry the same
        notify_id, which is the event id."""
        try:
            pairs = parse_qsl(bytes(body).decode("utf-8"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError) as e:
            raise CallbackRejected("body is not a UTF-8 form") from e
        params = dict(pairs)
        if len(params) != len(pairs):
            raise CallbackRejected("repeated form field")
        sign, sign_type = params.pop("sign", ""), params.pop("sign_type", "")
        if not sign:
            raise CallbackRejected("unsigned notification")
        if sign_type != "RSA2":
            raise CallbackRejected(f"sign_type {sign_type!r} is not RSA2")
        if not self._verify_rsa2(get_sign_content(params), sign):
            raise CallbackRejected("bad signature")
        try:
            return self._notification(params)
        except (KeyError, ValueError) as e:
            raise CallbackRejected(f"malformed notification: {e}") from e

    def _notification(self, params: dict[str, str]) -> PaymentNotification:
        status = params["trade_status"]
        if status not in TRADE_STATES:
            raise ValueError(f"unknown trade_status {status!r}")
        for name in ("notify_id", "out_trade_no", "app_id"):
            if not params.get(name):
                raise ValueError(f"{name} missing")
        refund_fee, out_biz_no = params.get("refund_fee"), params.get("out_biz_no")
        refund = bool(refund_fee or out_biz_no)
        if refund and not refund_fee:
            raise ValueError("refund notification without refund_fee")
        return PaymentNotification(
            channel=Channel.ALIPAY,
            kind=EventKind.REFUND if refund else EventKind.PAYMENT,
            event_id=params["notify_id"],
            out_trade_no=params["out_trade_no"],
            platform_trade_no=params.get("trade_no") or None,
            state=TradeState.REFUNDED if refund else TRADE_STATES[status],
            amount=yuan_to_fen(params["total_amount"]),
            app_id=params["app_id"],
            merchant_id=params.get("seller_id") or None,
            refund_amount=yuan_to_fen(refund_fee) if refund else None,
            out_refund_no=(out_biz_no or None) if refund else None,
            paid_at=_parse_time(params.get("gmt_payment")),
            raw=dict(params),
        )


def _parse_time(value) -> dt.datetime | None:
    """Alipay's "yyyy-MM-dd HH:mm:ss", Beijing time."""
    try:
        return dt.datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA_TZ)
    except (TypeError, ValueError):
        return None
