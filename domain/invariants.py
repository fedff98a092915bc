"""Every invariant `meiye ledger verify` checks, gathered from the modules that own them."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from domain import card_reads, count_cards, ledger, platform_refunds
from domain.ledger import Check


async def verify_all(db: AsyncConnection) -> list[Check]:
    return [*await ledger.verify(db), *await card_reads.verify(db), *await count_cards.verify(db), *await platform_refunds.verify(db)]
