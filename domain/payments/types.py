"""What the payment platforms tell us, as plain values. `integrations/` turns SDK calls and
callbacks into these after verifying them; `domain.payments` applies them. No SDK types here."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from typing import Protocol

from domain.members.customers import Channel


class TradeState(enum.StrEnum):
    """The platforms' states, folded: WeChat SUCCESS / Alipay TRADE_SUCCESS|TRADE_FINISHED → PAID;
    WeChat NOTPAY|USERPAYING / Alipay WAIT_BUYER_PAY|ACQ.TRADE_NOT_EXIST → PENDING;
    WeChat CLOSED|REVOKED|PAYERROR / Alipay TRADE_CLOSED (unpaid) → CLOSED;
    WeChat REFUND / Alipay TRADE_CLOSED after payment → REFUNDED."""

    PAID = "PAID"
    PENDING = "PENDING"
    CLOSED = "CLOSED"
    REFUNDED = "REFUNDED"


class EventKind(enum.StrEnum):
    PAYMENT = "PAYMENT"
    REFUND = "REFUND"


@dataclass(frozen=True)
class PaymentNotification:
    """A verified callback (or an active query's answer) about one trade."""

    channel: Channel
    kind: EventKind
    # Unique per platform event: WeChat's notification id (or transaction id + state), Alipay's notify_id.
    event_id: str
    out_trade_no: str
    platform_trade_no: str | None
    state: TradeState
    amount: int  # fen: WeChat amount.total; Alipay total_amount converted exactly
    app_id: str
    merchant_id: str | None  # WeChat mchid; Alipay seller_id
    refund_amount: int | None = None  # fen, for refunds
    out_refund_no: str | None = None
    paid_at: dt.datetime | None = None
    raw: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class WeChatPayParams:
    """What `wx.requestPayment` needs (API v3, signType RSA)."""

    app_id: str
    time_stamp: str
    nonce_str: str
    package: str  # "prepay_id=…"
    sign_type: str
    pay_sign: str


class PaymentGateway(Protocol):
    channel: Channel

    async def create_trade(self, *, out_trade_no: str, description: str, amount: int, payer_id: str, expires_at: dt.datetime) -> object:
        """WeChat: WeChatPayParams; Alipay: the platform trade number (str)."""

    async def query(self, out_trade_no: str) -> PaymentNotification | None:
        """The trade's state now; None when the platform has not seen it."""

    async def close(self, out_trade_no: str) -> None: ...

    def parse_notification(self, headers: dict[str, str], body: bytes, now: dt.datetime) -> PaymentNotification:
        """Verify and decode a callback; raise CallbackRejected on anything wrong."""


class CallbackRejected(Exception):
    """A callback that failed verification or could not be read; nothing may change."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
