"""Availability of a busy day: 30 technicians at one store, 300 bookings that day, against a plain
SQL reference reading the same rows, in one run (issue 10: under 20 ms of server time a call).

    .venv/bin/python bench/availability_bench.py [--database URL] [--calls 200]

1. A fresh database (a temporary SQLite file by default; a PostgreSQL --database is dropped and
   recreated), migrated, with the demo brand; untimed: 30 technicians at 静安店 working 09:00-21:00
   and 10 bookings of 洗剪吹 (45 min, 15 min buffer) each, 300 in the day.
2. Timed, `--calls` each:
   - `availability(storeId, serviceId, date)` through the GraphQL schema in-process (the server's
     time: parsing, permission, dataloaders, the domain, serialising; no network);
   - the domain call `domain.bookings.bookings.availability` alone;
   - the reference: the same reads as plain SQL (asyncpg on PostgreSQL, the sqlite3 driver on
     SQLite): the technicians, the day's shifts and the day's blocks; no slots computed.
It prints milliseconds per call for each and the ratios to the reference. Not a test: nothing
here asserts on time; compare ratios, not absolute figures.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MEIYE_ARGON2_PROFILE", "test")

from sqlalchemy import select  # noqa: E402

from domain.actor import Role  # noqa: E402
from domain.bookings import bookings as booking_service  # noqa: E402
from domain.bookings import resources as resource_service  # noqa: E402
from domain.bookings import shifts as shift_service  # noqa: E402
from domain.brands import staff as staff_accounts  # noqa: E402
from domain.brands.catalogue import services  # noqa: E402
from domain.brands.stores import stores  # noqa: E402
from domain.db import create_engine, is_sqlite, read_transaction, write_transaction  # noqa: E402
from domain.demo import seed  # noqa: E402
from domain.members import members  # noqa: E402
from domain.members.pii import PiiCipher  # noqa: E402
from domain.migrate import upgrade  # noqa: E402

TECHNICIANS = 30
PER_TECHNICIAN = 10
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


async def prepare(url: str) -> tuple:
    if not is_sqlite(url):
        from tests.support import fresh_postgres_database

        await asyncio.to_thread(fresh_postgres_database, url)
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url)
    cipher = PiiCipher(b"0" * 32)
    day = dt.datetime.now(SHANGHAI).date() + dt.timedelta(days=7)
    async with write_transaction(engine) as db:
        await seed(db, cipher)
        owner = staff_accounts.actor_from_row((await db.execute(select(staff_accounts.staff).where(staff_accounts.staff.c.username == "owner"))).one())
        store_id = await db.scalar(select(stores.c.id).where(stores.c.name == "静安店"))
        service_id = await db.scalar(select(services.c.id).where(services.c.name == "洗剪吹"))
        member_id = await db.scalar(select(members.members.c.id).limit(1))
        await resource_service.update_service(db, owner, service_id=service_id, buffer_minutes=15, resource_kind=None, clear_resource_kind=False, technician_ids=None)
        techs = []
        for i in range(TECHNICIANS):
            techs.append(await staff_accounts.create_staff(db, brand_id=owner.brand_id, store_id=store_id, username=f"bench{i}", name=f"技师{i}",
                                                           role=Role.TECHNICIAN, password="bench-password"))
        for t in techs:
            await shift_service.set_shifts(db, owner, technician_id=t, store_id=store_id, specs=[shift_service.ShiftSpec(day, "09:00", "21:00")], clear_dates=[])
            for k in range(PER_TECHNICIAN):
                start = dt.datetime(day.year, day.month, day.day, 9, tzinfo=SHANGHAI) + dt.timedelta(minutes=65 * k + (t % 4) * 5)
                await booking_service.create_booking(db, owner, store_id=store_id, member_id=member_id, service_id=service_id, technician_id=t,
                                                     start=start, note=None)
    return engine, owner, store_id, service_id, day, techs


# (statement, its parameters) with {} for each placeholder, in the order the domain reads.
REFERENCE_SQL = (
    ("SELECT id, name FROM staff WHERE brand_id = {} AND store_id = {} AND active AND role = 'TECHNICIAN' ORDER BY id", ("brand", "store")),
    ("SELECT technician_id, start_at, end_at FROM shifts WHERE store_id = {} AND local_date = {}", ("store", "day")),
    ("SELECT technician_id, start_at, block_end_at, local_date FROM bookings WHERE store_id = {} AND holds_slot AND local_date = {}", ("store", "day")),
)


def _statements(placeholder) -> list[tuple[str, tuple]]:
    return [(sql.format(*(placeholder(i + 1) for i in range(len(names)))), names) for sql, names in REFERENCE_SQL]


async def reference_pg(url: str, owner, store_id: int, day: dt.date, calls: int) -> float:
    import asyncpg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    conn = await asyncpg.connect(user=u.username or "postgres", password=u.password, host=u.host or "127.0.0.1", port=u.port or 5432, database=u.database)
    values = {"brand": owner.brand_id, "store": store_id, "day": day.isoformat()}
    statements = _statements(lambda i: f"${i}")
    try:
        started = time.perf_counter()
        for _ in range(calls):
            async with conn.transaction():
                for sql, names in statements:
                    await conn.fetch(sql, *(values[n] for n in names))
        return (time.perf_counter() - started) / calls
    finally:
        await conn.close()


def reference_sqlite(path: str, owner, store_id: int, day: dt.date, calls: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    values = {"brand": owner.brand_id, "store": store_id, "day": day.isoformat()}
    statements = _statements(lambda i: "?")
    started = time.perf_counter()
    for _ in range(calls):
        conn.execute("BEGIN")
        for sql, names in statements:
            conn.execute(sql, tuple(values[n] for n in names)).fetchall()
        conn.execute("COMMIT")
    conn.close()
    return (time.perf_counter() - started) / calls


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default=os.environ.get("MEIYE_BENCH_DATABASE_URL"))
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    path = None
    url = args.database
    if not url:
        path = str(Path(tempfile.mkdtemp(prefix="meiye-bench-")) / "availability.db")
        url = f"sqlite+aiosqlite:///{path}"
    engine, owner, store_id, service_id, day, techs = await prepare(url)
    print(f"load average {os.getloadavg()[0]:.2f}; {TECHNICIANS} technicians, {TECHNICIANS * PER_TECHNICIAN} bookings on {day}; {args.calls} calls each")

    async def domain_call():
        async with read_transaction(engine) as db:
            return await booking_service.availability(db, owner, store_id=store_id, service_id=service_id, day=day)

    slots = await domain_call()
    for _ in range(10):
        await domain_call()
    started = time.perf_counter()
    for _ in range(args.calls):
        await domain_call()
    domain_each = (time.perf_counter() - started) / args.calls

    graphql_each = await graphql_timing(engine, owner, store_id, service_id, day, args.calls)
    if path:
        reference_each = reference_sqlite(path, owner, store_id, day, args.calls)
    else:
        reference_each = await reference_pg(url, owner, store_id, day, args.calls)
    await engine.dispose()
    print(f"free starts: {len(slots)} (each listing who is free)")
    print(f"GraphQL availability (in-process): {graphql_each * 1000:.2f} ms each")
    print(f"domain availability:                {domain_each * 1000:.2f} ms each")
    print(f"plain SQL reference (same reads):   {reference_each * 1000:.2f} ms each")
    print(f"ratio GraphQL / reference: {graphql_each / reference_each:.1f}x; domain / reference: {domain_each / reference_each:.1f}x")
    return 0


async def graphql_timing(engine, owner, store_id: int, service_id: int, day: dt.date, calls: int) -> float:
    from resolvers.context import Context, Services
    from resolvers.ids import to_global_id
    from resolvers.settings import Settings
    from resolvers.tokens import TokenSigner
    from schema.root import build_staff_schema

    settings = Settings(database_url="sqlite+aiosqlite://")
    signer = TokenSigner(settings.secret_key, settings.token_ttl_seconds)
    services_ = Services(settings=settings, engine=engine, cipher=PiiCipher(b"0" * 32), signer=signer)
    token = signer.staff_token(owner)
    schema = build_staff_schema()
    query = "query($s: ID!, $v: ID!, $d: Date!) { availability(storeId: $s, serviceId: $v, date: $d) { start end technician { id name } technicians { id } } }"
    variables = {"s": to_global_id("Store", store_id), "v": to_global_id("Service", service_id), "d": day.isoformat()}

    async def one():
        ctx = Context(services_, authorization=f"Bearer {token}", accept_language=None)
        try:
            result = await schema.execute(query, variable_values=variables, context_value=ctx)
        finally:
            await ctx.close()
        if result.errors:
            raise SystemExit(f"availability failed: {result.errors}")

    for _ in range(10):
        await one()
    started = time.perf_counter()
    for _ in range(calls):
        await one()
    return (time.perf_counter() - started) / calls


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
