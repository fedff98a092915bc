"""Every invariant `meiye ledger verify` checks, gathered from the modules that own them."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from domain.bookings import records as bookings
from domain.cards import count_cards
from domain.cards import reads as card_reads
from domain.coupons import verify as coupon_verify
from domain.ledger import verify as ledger_verify
from domain.ledger.verify import Check
from domain.marketing import activity
from domain.members import points
from domain.notifications import sending as notification_sending
from domain.payments import refunds as platform_refunds
from domain.sales import stock


async def verify_all(db: AsyncConnection) -> list[Check]:
    return [
        *await ledger_verify.verify(db), *await card_reads.verify(db), *await count_cards.verify(db),
        *await points.verify(db), *await platform_refunds.verify(db), *await bookings.verify(db),
        *await coupon_verify.verify(db), *await activity.verify(db), *await notification_sending.verify(db),
        *await stock.verify(db),
    ]
