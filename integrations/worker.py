"""`meiye worker`: asks the platforms about payments whose callback never came, applies what they
report through the callbacks' own path, closes intents past their expiry, sends (or queries) the
refunds owed back through the platforms (integrations/refunds.py), and hands the outbox's events to
the areas' consumers (referral rewards). Any number of workers may run: each intent is claimed by a
conditional update before it is queried, each event is taken once per consumer."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging

from domain import outbox
from domain.marketing import referrals
from domain.db import read_transaction, utcnow, write_transaction
from domain.members.customers import Channel
from domain.payments import intents as payments
from domain.payments.types import TradeState

log = logging.getLogger("meiye.worker")
RETRY_GAP = dt.timedelta(minutes=2)

# The areas' outbox consumers: each takes each of its events once, however many workers run.
CONSUMERS: tuple[outbox.Consumer, ...] = (referrals.CONSUMER,)


async def run_once(services, now: dt.datetime | None = None) -> dict[str, int]:
    now = now or utcnow()
    counts = {"queried": 0, "applied": 0, "closed": 0, "failed": 0, "events": 0}
    async with read_transaction(services.engine) as db:
        due = await payments.due_for_query(db, now)
    for intent in due:
        async with write_transaction(services.engine) as db:
            if not await payments.claim_for_query(db, intent.id, intent.next_query_at, now, RETRY_GAP):
                continue
        app = services.platforms.by_app_id(Channel(intent.channel), intent.app_id) if services.platforms else None
        if app is None or app.gateway is None:
            counts["failed"] += 1
            continue
        try:
            note = await app.gateway.query(intent.out_trade_no)
            counts["queried"] += 1
            if note is not None and note.state in (TradeState.PAID, TradeState.CLOSED, TradeState.REFUNDED):
                # One event per state reached, so a query repeats nothing a callback already did.
                note = dataclasses.replace(note, event_id=f"query:{intent.out_trade_no}:{note.state.value}")
                async with write_transaction(services.engine) as db:
                    outcome = await payments.apply_notification(db, note)
                counts["applied"] += outcome == "APPLIED"
                counts["closed"] += outcome == "CLOSED"
            elif intent.expires_at <= now:
                await app.gateway.close(intent.out_trade_no)
                async with write_transaction(services.engine) as db:
                    counts["closed"] += await payments.close_expired(db, intent.id)
        except Exception:  # noqa: BLE001 - one platform hiccup must not stop the others; the intent is retried
            log.exception("querying %s %s failed", intent.channel, intent.out_trade_no)
            counts["failed"] += 1
    from integrations import refunds

    counts.update(await refunds.send_due(services, now))
    for consumer in CONSUMERS:
        counts["events"] += await outbox.consume(services.engine, consumer, now=now)
    from integrations import subscribe_messages

    counts.update({f"notifications_{k}": v for k, v in (await subscribe_messages.run_once(services, now=now)).items()})
    return counts


async def run_forever(services, interval: float = 30.0, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    while not stop.is_set():
        counts = await run_once(services)
        if any(counts.values()):
            log.info("worker pass: %s", counts)
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except TimeoutError:
            pass
