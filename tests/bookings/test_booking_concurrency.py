"""No double booking, guaranteed by the database: 20 bookings of one slot through 20 real parallel
connections give exactly one (PostgreSQL: the exclusion constraint; SQLite: the serialised write
transaction), "any technician" spreads concurrent bookings over the free technicians, and on
PostgreSQL even a raw INSERT that overlaps is refused by the constraint itself."""

import asyncio
import datetime as dt

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from domain.bookings import bookings as booking_service
from domain.bookings.records import bookings
from domain.db import read_transaction, write_transaction
from domain.errors import DomainError
from domain.invariants import verify_all
from tests.bookings.support import SH, actor_of, hire_technician, local_day, pk, set_shifts


async def _race(engine, actor, attempts) -> list:
    """Each attempt in its own transaction on its own connection, all released at once."""
    gate = asyncio.Event()

    async def one(kwargs):
        await gate.wait()
        try:
            async with write_transaction(engine) as db:
                return await booking_service.create_booking(db, actor, **kwargs)
        except DomainError as error:
            return error.code

    tasks = [asyncio.create_task(one(k)) for k in attempts]
    await asyncio.sleep(0.05)
    gate.set()
    return await asyncio.gather(*tasks)


async def test_twenty_bookings_of_one_slot_at_once_give_exactly_one(demo, engine):
    day = local_day(4)
    amei = demo.staff["technician"]
    await set_shifts(demo, amei, day, ("10:00", "14:00"))
    members = [pk((await demo.register(name=f"抢{i}", as_="owner"))["id"]) for i in range(20)]
    actor = await actor_of(engine, "reception")
    start = dt.datetime(day.year, day.month, day.day, 10, tzinfo=SH)
    results = await _race(engine, actor, [
        dict(store_id=pk(demo.jingan), member_id=m, service_id=pk(demo.services["洗剪吹"]["id"]), technician_id=pk(amei), start=start, note=None)
        for m in members
    ])
    assert sorted(r for r in results if isinstance(r, str)) == ["SLOT_TAKEN"] * 19
    assert len([r for r in results if isinstance(r, int)]) == 1
    async with read_transaction(engine) as db:
        assert len(list(await db.execute(select(bookings.c.id).where(bookings.c.holds_slot == True)))) == 1  # noqa: E712


async def test_any_technician_bookings_at_once_spread_over_the_free_ones(demo, engine):
    day = local_day(4)
    techs = [demo.staff["technician"], await hire_technician(demo, "tech2", "小王"), await hire_technician(demo, "tech3", "小赵")]
    for t in techs:
        await set_shifts(demo, t, day, ("10:00", "14:00"))
    members = [pk((await demo.register(name=f"任{i}", as_="owner"))["id"]) for i in range(12)]
    actor = await actor_of(engine, "reception")
    start = dt.datetime(day.year, day.month, day.day, 11, tzinfo=SH)
    results = await _race(engine, actor, [
        dict(store_id=pk(demo.jingan), member_id=m, service_id=pk(demo.services["洗剪吹"]["id"]), technician_id=None, start=start, note=None)
        for m in members
    ])
    assert sorted(r for r in results if isinstance(r, str)) == ["SLOT_TAKEN"] * 9
    async with read_transaction(engine) as db:
        taken = sorted(r.technician_id for r in await db.execute(select(bookings.c.technician_id).where(bookings.c.holds_slot == True)))  # noqa: E712
    assert taken == sorted(pk(t) for t in techs)


async def test_the_database_itself_refuses_an_overlapping_insert(demo, engine, on_postgres):
    """On SQLite, which has no exclusion constraints, the same overlap slips past a raw insert, and
    `meiye ledger verify` reports it."""
    day = local_day(4)
    amei = pk(demo.staff["technician"])
    member = pk((await demo.register(as_="owner"))["id"])
    start = dt.datetime(day.year, day.month, day.day, 10, tzinfo=SH)
    actor = await actor_of(engine, "owner")

    def row(s: dt.datetime, minutes: int, holds: bool = True) -> dict:
        return dict(brand_id=actor.brand_id, store_id=pk(demo.jingan), member_id=member, service_id=pk(demo.services["洗剪吹"]["id"]),
                    technician_id=amei, status="CONFIRMED", holds_slot=holds, start_at=s, end_at=s + dt.timedelta(minutes=minutes),
                    block_end_at=s + dt.timedelta(minutes=minutes), local_date=day.isoformat(), source="DESK", version=0, created_at=s)

    async with write_transaction(engine) as db:
        await db.execute(insert(bookings).values(**row(start, 60)))
    if not on_postgres:
        async with write_transaction(engine) as db:
            await db.execute(insert(bookings).values(**row(start + dt.timedelta(minutes=59), 30)))
        async with read_transaction(engine) as db:
            broken = {c.name: c.broken for c in await verify_all(db) if c.broken}
        assert list(broken) == ["no two slot-holding bookings overlap on a technician or a resource"] and len(broken[list(broken)[0]]) == 1
        return
    with pytest.raises(IntegrityError):
        async with write_transaction(engine) as db:
            await db.execute(insert(bookings).values(**row(start + dt.timedelta(minutes=59), 30)))
    # Touching is not overlapping, and a row that holds no slot (cancelled) is not checked.
    async with write_transaction(engine) as db:
        await db.execute(insert(bookings).values(**row(start + dt.timedelta(minutes=60), 30)))
        await db.execute(insert(bookings).values(**row(start, 60, holds=False)))


async def test_two_technicians_at_once_share_out_two_rooms(demo, engine):
    """Both pick the first room; the one that loses it on the constraint fits again and takes the second."""
    day = local_day(4)
    techs = [demo.staff["technician"], await hire_technician(demo, "tech2", "小王"), await hire_technician(demo, "tech3", "小赵")]
    for t in techs:
        await set_shifts(demo, t, day, ("10:00", "14:00"))
    for name in ("房1", "房2"):
        made = await demo.gql("mutation($i: CreateResourceInput!) { createResource(input: $i) { errors { code } } }",
                              {"i": {"storeId": demo.jingan, "name": name, "kind": "ROOM"}}, as_="owner")
        assert made["createResource"]["errors"] == []
    await demo.gql("mutation($i: UpdateServiceInput!) { updateService(input: $i) { errors { code } } }",
                   {"i": {"serviceId": demo.services["精油全身SPA"]["id"], "resourceKind": "ROOM"}}, as_="owner")
    members = [pk((await demo.register(name=f"房{i}", as_="owner"))["id"]) for i in range(3)]
    actor = await actor_of(engine, "reception")
    start = dt.datetime(day.year, day.month, day.day, 10, tzinfo=SH)
    results = await _race(engine, actor, [
        dict(store_id=pk(demo.jingan), member_id=m, service_id=pk(demo.services["精油全身SPA"]["id"]), technician_id=pk(t), start=start, note=None)
        for m, t in zip(members, techs)
    ])
    assert sorted(r for r in results if isinstance(r, str)) == ["SLOT_TAKEN"]
    async with read_transaction(engine) as db:
        rooms = sorted(r for r in (await db.execute(select(bookings.c.resource_id).where(bookings.c.holds_slot == True))).scalars())  # noqa: E712
    assert len(rooms) == 2 and len(set(rooms)) == 2
