"""WeChat Pay API v3 for the mini-program (JSAPI), on wechatpayv3 2.0.4 in public-key mode.

The SDK signs requests, verifies response signatures and decrypts callbacks. What it does not do
(payments.md, "What the SDKs do not do for you") is done here before the SDK sees a callback:
the timestamp window, the probe and missing-header cases, and the serial check (an unknown
serial would make the SDK fetch platform certificates over the network mid-callback).

State of a REFUND event describes the refund, not the trade: REFUND.SUCCESS → REFUNDED,
REFUND.CLOSED → CLOSED, REFUND.ABNORMAL → PENDING (money stuck, needs a manual transfer).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field

from wechatpayv3 import WeChatPay, WeChatPayType

from domain.members.customers import Channel
from domain.payments.types import (
    CallbackRejected,
    EventKind,
    PaymentNotification,
    TradeState,
    WeChatPayParams,
)

CALLBACK_MAX_SKEW = dt.timedelta(minutes=5)
SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
PROBE_PREFIX = "WECHATPAY/SIGNTEST/"
CHINA_TZ = dt.timezone(dt.timedelta(hours=8))
# (connect, read) seconds: a callback reply must go out within 5 s, and a hung query must not pin a thread.
HTTP_TIMEOUT = (5, 10)

TRADE_STATES = {
    "SUCCESS": TradeState.PAID,
    "NOTPAY": TradeState.PENDING,
    "USERPAYING": TradeState.PENDING,
    "CLOSED": TradeState.CLOSED,
    "REVOKED": TradeState.CLOSED,
    "PAYERROR": TradeState.CLOSED,
    "REFUND": TradeState.REFUNDED,
}
REFUND_EVENTS = {
    "REFUND.SUCCESS": TradeState.REFUNDED,
    "REFUND.ABNORMAL": TradeState.PENDING,
    "REFUND.CLOSED": TradeState.CLOSED,
}
_HEADERS = ("Wechatpay-Signature", "Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Serial", "Wechatpay-Signature-Type")


@dataclass(frozen=True, kw_only=True)
class WeChatPayConfig:
    app_id: str
    mch_id: str
    private_key_pem: str = field(repr=False)  # merchant API key (apiclient_key.pem), PKCS#8
    cert_serial: str  # serial of the merchant API certificate
    apiv3_key: str = field(repr=False)  # 32 ASCII characters
    platform_public_key_pem: str  # "微信支付公钥"
    platform_public_key_id: str  # "PUB_KEY_ID_…", sent back as Wechatpay-Serial
    api_base: str = "https://api.mch.weixin.qq.com"
    notify_url: str


class WeChatPayError(Exception):
    """A WeChat Pay API call failed: the platform's error code, or NETWORK, SDK_ERROR (e.g. a
    response whose signature did not verify), BAD_RESPONSE."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


class WeChatPayGateway:
    channel = Channel.WECHAT

    def __init__(self, config: WeChatPayConfig) -> None:
        if len(config.apiv3_key.encode()) != 32:
            raise ValueError("the APIv3 key must be exactly 32 bytes")
        self.config = config
        self._pay = WeChatPay(
            wechatpay_type=WeChatPayType.MINIPROG,
            mchid=config.mch_id,
            private_key=config.private_key_pem,
            cert_serial_no=config.cert_serial,
            appid=config.app_id,
            apiv3_key=config.apiv3_key,
            notify_url=config.notify_url,
            public_key=config.platform_public_key_pem,
            public_key_id=config.platform_public_key_id,
            timeout=HTTP_TIMEOUT,
        )
        # wechatpayv3 has no constructor option for the host; this is how stand-ins are reached.
        self._pay._core._gate_way = config.api_base.rstrip("/")

    # ---------------------------------------------------------------- API calls

    async def _call(self, fn, **kwargs) -> tuple[int, dict]:
        try:
            status, text = await asyncio.to_thread(fn, **kwargs)
        except Exception as e:  # noqa: BLE001 - requests errors, and the SDK's bare Exception for a bad response signature
            raise WeChatPayError("NETWORK" if type(e).__module__.startswith("requests") else "SDK_ERROR", str(e)) from e
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        try:
            data = json.loads(text) if text else {}
        except ValueError as e:
            raise WeChatPayError("BAD_RESPONSE", f"not JSON (HTTP {status})", status) from e
        if not isinstance(data, dict):
            raise WeChatPayError("BAD_RESPONSE", f"not a JSON object (HTTP {status})", status)
        return status, data

    async def create_trade(self, *, out_trade_no: str, description: str, amount: int, payer_id: str, expires_at: dt.datetime) -> WeChatPayParams:
        _check_fen(amount)
        if expires_at.tzinfo is None:
            raise ValueError("expires_at must carry a time zone")
        status, data = await self._call(
            self._pay.pay,
            description=description,
            out_trade_no=out_trade_no,
            amount={"total": amount, "currency": "CNY"},
            payer={"openid": payer_id},
            time_expire=expires_at.astimezone(CHINA_TZ).isoformat(timespec="seconds"),
            notify_url=self.config.notify_url,
        )
        prepay_id = data.get("prepay_id")
        if status != 200 or not isinstance(prepay_id, str) or not prepay_id:
            raise _error(status, data)
        return self.payment_params(prepay_id)

    def payment_params(self, prepay_id: str) -> WeChatPayParams:
        """What wx.requestPayment needs; paySign is RSA-SHA256 over appid, timeStamp, nonceStr, package."""
        time_stamp, nonce_str, package = str(int(time.time())), secrets.token_hex(16), f"prepay_id={prepay_id}"
        pay_sign = self._pay.sign([self.config.app_id, time_stamp, nonce_str, package])
        return WeChatPayParams(app_id=self.config.app_id, time_stamp=time_stamp, nonce_str=nonce_str, package=package, sign_type="RSA", pay_sign=pay_sign)

    async def query(self, out_trade_no: str) -> PaymentNotification | None:
        status, data = await self._call(self._pay.query, out_trade_no=out_trade_no)
        if status == 404 and data.get("code") == "ORDER_NOT_EXIST":
            return None
        if status != 200:
            raise _error(status, data)
        trade_state = data.get("trade_state")
        if trade_state not in TRADE_STATES or data.get("out_trade_no") != out_trade_no:
            raise WeChatPayError("BAD_RESPONSE", f"unexpected answer for {out_trade_no}: {trade_state!r}", status)
        amount = data.get("amount") or {}
        transaction_id = data.get("transaction_id") or None
        return PaymentNotification(
            channel=Channel.WECHAT,
            kind=EventKind.PAYMENT,
            # A query has no notification id; the transaction and its state identify what was seen.
            event_id=f"query:{transaction_id or out_trade_no}:{trade_state}",
            out_trade_no=out_trade_no,
            platform_trade_no=transaction_id,
            state=TRADE_STATES[trade_state],
            amount=_fen(amount.get("total", 0)),
            app_id=str(data.get("appid") or ""),
            merchant_id=data.get("mchid"),
            paid_at=_parse_time(data.get("success_time")),
            raw=data,
        )

    async def close(self, out_trade_no: str) -> None:
        status, data = await self._call(self._pay.close, out_trade_no=out_trade_no)
        if status in (200, 204) or data.get("code") == "ORDER_CLOSED":
            return
        raise _error(status, data)

    # ---------------------------------------------------------------- callbacks

    def parse_notification(self, headers, body: bytes, now: dt.datetime) -> PaymentNotification:
        """Verify and decode a v3 callback. `headers` may be any mapping (Starlette's Headers, a
        dict with any letter case); `body` must be the raw bytes as received."""
        lower = {str(k).lower(): str(v) for k, v in headers.items()}
        values = {name: lower.get(name.lower(), "") for name in _HEADERS}
        signature, timestamp = values["Wechatpay-Signature"], values["Wechatpay-Timestamp"]
        if not signature or not timestamp or not values["Wechatpay-Nonce"] or not values["Wechatpay-Serial"]:
            raise CallbackRejected("missing Wechatpay-* signature headers")
        if signature.startswith(PROBE_PREFIX):
            raise CallbackRejected("signature probe")
        if values["Wechatpay-Signature-Type"] != SIGNATURE_TYPE:
            raise CallbackRejected("missing or unsupported Wechatpay-Signature-Type")
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            raise CallbackRejected("malformed Wechatpay-Timestamp")
        if abs(now.timestamp() - int(timestamp)) > CALLBACK_MAX_SKEW.total_seconds():
            raise CallbackRejected("Wechatpay-Timestamp outside the 5-minute window")
        if not hmac.compare_digest(values["Wechatpay-Serial"].encode(), self.config.platform_public_key_id.encode()):
            raise CallbackRejected("unknown Wechatpay-Serial")
        try:
            base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError) as e:
            raise CallbackRejected("malformed signature") from e
        try:
            envelope = self._pay.callback(values, bytes(body))
        except Exception as e:  # noqa: BLE001 - the SDK raises bare Exception, ValueError, UnicodeDecodeError…
            raise CallbackRejected(f"unreadable callback: {type(e).__name__}") from e
        if not envelope:
            raise CallbackRejected("bad signature or undecryptable resource")
        try:
            return self._notification(envelope)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise CallbackRejected(f"malformed callback resource: {e!r}") from e

    def _notification(self, envelope: dict) -> PaymentNotification:
        event_id, event_type, resource = envelope["id"], envelope["event_type"], envelope["resource"]
        if not isinstance(event_id, str) or not event_id or not isinstance(resource, dict):
            raise ValueError("envelope without id or resource")
        amount = resource["amount"]
        common = dict(
            channel=Channel.WECHAT,
            event_id=event_id,
            out_trade_no=_text(resource["out_trade_no"]),
            platform_trade_no=resource.get("transaction_id") or None,
            amount=_fen(amount["total"]),
            merchant_id=_text(resource["mchid"]),
            raw=envelope,
        )
        if event_type == "TRANSACTION.SUCCESS":
            if resource.get("trade_state") != "SUCCESS":
                raise ValueError(f"TRANSACTION.SUCCESS with trade_state {resource.get('trade_state')!r}")
            return PaymentNotification(
                kind=EventKind.PAYMENT, state=TradeState.PAID, app_id=_text(resource["appid"]),
                paid_at=_parse_time(resource.get("success_time")), **common,
            )
        if event_type in REFUND_EVENTS:
            return PaymentNotification(
                kind=EventKind.REFUND,
                state=REFUND_EVENTS[event_type],
                # A refund resource carries mchid but no appid; the merchant id is what identifies it.
                app_id=str(resource.get("appid") or self.config.app_id),
                refund_amount=_fen(amount["refund"]),
                out_refund_no=_text(resource["out_refund_no"]),
                paid_at=_parse_time(resource.get("success_time")),
                **common,
            )
        raise ValueError(f"unsupported event_type {event_type!r}")


def _check_fen(amount: int) -> None:
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise ValueError(f"amount must be a positive whole number of fen, got {amount!r}")


def _fen(value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"amount is not a whole number of fen: {value!r}")
    return value


def _text(value) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value


def _parse_time(value) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None


def _error(status: int, data: dict) -> WeChatPayError:
    return WeChatPayError(str(data.get("code") or f"HTTP_{status}"), str(data.get("message") or ""), status)
