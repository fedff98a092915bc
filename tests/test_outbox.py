"""The outbox: events queued once per dedupe key, scheduled reminders moved or withdrawn until taken,
and each consumer taking each event exactly once, however many workers run at the same time."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import func, select

from domain import outbox
from domain.brands import stores as tenancy
from domain.db import create_engine, read_transaction, write_transaction

NOW = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)


async def _brand(engine) -> int:
    async with write_transaction(engine) as db:
        brand_id = await tenancy.create_brand(db, name="外箱美业")
        await tenancy.create_store(db, brand_id=brand_id, name="一店")
        return brand_id


async def test_an_event_is_queued_once_per_dedupe_key(engine):
    brand_id = await _brand(engine)
    async with write_transaction(engine) as db:
        first = await outbox.emit(db, brand_id=brand_id, kind="card.topped_up", dedupe_key="topup:1", payload={"amount": 100000})
        again = await outbox.emit(db, brand_id=brand_id, kind="card.topped_up", dedupe_key="topup:1", payload={"amount": 1})
    async with read_transaction(engine) as db:
        rows = list(await db.execute(select(outbox.outbox_events)))
    assert (first, again) == (True, False)
    assert len(rows) == 1 and rows[0].payload == '{"amount": 100000}'


async def test_a_reminder_moves_until_it_is_taken_and_withdraws_only_if_untaken(engine):
    brand_id = await _brand(engine)
    seen: list[tuple[str, dict]] = []

    async def handle(db, event):
        seen.append((event.dedupe_key, event.payload))

    consumer = outbox.Consumer("test.reminders", ("booking.reminder",), handle)
    async with write_transaction(engine) as db:
        for key, hours in (("booking:1:remind-24h", 24), ("booking:2:remind-24h", 24)):
            await outbox.schedule(db, brand_id=brand_id, kind="booking.reminder", dedupe_key=key, payload={"v": 1},
                                  due_at=NOW + dt.timedelta(hours=hours))
        # booking 1 moves to a day later; booking 2 is cancelled
        await outbox.schedule(db, brand_id=brand_id, kind="booking.reminder", dedupe_key="booking:1:remind-24h", payload={"v": 2},
                              due_at=NOW + dt.timedelta(hours=48))
        assert await outbox.withdraw(db, brand_id=brand_id, dedupe_keys=["booking:2:remind-24h"]) == 1
    assert await outbox.consume(engine, consumer, now=NOW + dt.timedelta(hours=30)) == 0
    assert await outbox.consume(engine, consumer, now=NOW + dt.timedelta(hours=49)) == 1
    assert seen == [("booking:1:remind-24h", {"v": 2})]
    async with write_transaction(engine) as db:
        # taken: neither moved nor withdrawn any more
        await outbox.schedule(db, brand_id=brand_id, kind="booking.reminder", dedupe_key="booking:1:remind-24h", payload={"v": 3},
                              due_at=NOW + dt.timedelta(hours=72))
        assert await outbox.withdraw(db, brand_id=brand_id, dedupe_keys=["booking:1:remind-24h"]) == 0
    assert await outbox.consume(engine, consumer, now=NOW + dt.timedelta(hours=100)) == 0
    assert seen == [("booking:1:remind-24h", {"v": 2})]


async def test_a_failing_handler_leaves_its_event_for_the_next_pass(engine):
    brand_id = await _brand(engine)
    calls = []

    async def handle(db, event):
        calls.append(event.id)
        if len(calls) == 1:
            raise RuntimeError("platform down")

    consumer = outbox.Consumer("test.flaky", ("order.paid",), handle)
    async with write_transaction(engine) as db:
        await outbox.emit(db, brand_id=brand_id, kind="order.paid", dedupe_key="order:9:paid", payload={})
    assert await outbox.consume(engine, consumer) == 0
    assert await outbox.consume(engine, consumer) == 1
    assert await outbox.consume(engine, consumer) == 0
    assert len(calls) == 2


async def test_two_consumers_each_take_an_event_once(engine):
    brand_id = await _brand(engine)
    taken: dict[str, int] = {"a": 0, "b": 0}

    def counting(name):
        async def handle(db, event):
            taken[name] += 1
        return outbox.Consumer(f"test.{name}", ("order.paid",), handle)

    async with write_transaction(engine) as db:
        await outbox.emit(db, brand_id=brand_id, kind="order.paid", dedupe_key="order:1:paid", payload={})
        await outbox.emit(db, brand_id=brand_id, kind="order.refunded", dedupe_key="order:1:refunded", payload={})
    for _ in range(2):
        await outbox.consume(engine, counting("a"))
        await outbox.consume(engine, counting("b"))
    assert taken == {"a": 1, "b": 1}


async def test_parallel_workers_apply_each_event_exactly_once(engine, database_url, on_postgres):
    """Four workers with their own connections race over 40 events: every event is applied once."""
    brand_id = await _brand(engine)
    async with write_transaction(engine) as db:
        for i in range(40):
            await outbox.emit(db, brand_id=brand_id, kind="order.paid", dedupe_key=f"order:{i}:paid", payload={"i": i})
    applied: list[int] = []

    async def handle(db, event):
        applied.append(event.payload["i"])
        await asyncio.sleep(0)

    consumer = outbox.Consumer("test.parallel", ("order.paid",), handle)
    engines = [create_engine(database_url) for _ in range(4)] if on_postgres else [engine]
    try:
        counts = await asyncio.gather(*(outbox.consume(e, consumer) for e in engines * (1 if on_postgres else 4)))
    finally:
        if on_postgres:
            for e in engines:
                await e.dispose()
    assert sum(counts) == 40 and sorted(applied) == list(range(40))
    async with read_transaction(engine) as db:
        assert await db.scalar(select(func.count()).select_from(outbox.outbox_deliveries)) == 40
