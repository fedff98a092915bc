"""The operations reports over a big ledger: technician performance and the prepaid liability
against plain SQL doing the same aggregation, for periods of growing length.

    .venv/bin/python bench/reports_bench.py [--database URL] [--postings 1000000] [--orders 200000] [--cards 20000] [--days 730]

PostgreSQL only; the database (`--database`, else $MEIYE_BENCH_DATABASE_URL, else meiye_bench_reports)
is dropped and recreated. Synthetic rows are made with INSERT … SELECT generate_series: `--cards`
members each with a 金卡, `--postings` / 2 top-ups spread over `--days` (two postings each, with
their statement lines), and `--orders` paid service orders with a technician. Reports must grow with
the period asked, not with the table (DESIGN.md §7): the figures for a day, a month and a year show
it, next to the plain-SQL reference of each (hand-written SQL over asyncpg, no SQLAlchemy, same
result checked). Not a test: nothing asserts on time; compare the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MEIYE_ARGON2_PROFILE", "test")

import asyncpg  # noqa: E402
from sqlalchemy import select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from domain.actor import Actor, Role  # noqa: E402
from domain.brands.staff import staff  # noqa: E402
from domain.db import create_engine, read_transaction, write_transaction  # noqa: E402
from domain.demo import seed  # noqa: E402
from domain.members.pii import PiiCipher  # noqa: E402
from domain.migrate import upgrade  # noqa: E402
from domain.reports import liability, performance  # noqa: E402
from resolvers.settings import Settings  # noqa: E402
from tests.support import fresh_postgres_database  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
RUNS = 5

GENERATE = """
INSERT INTO members (brand_id, member_no, name, phone_index, phone_cipher, registered_store_id, tier, points, total_top_up, consent_at, created_at)
SELECT $B, 'B' || g, '压测会员' || g, md5('bench' || g), 'x', CASE WHEN g % 3 = 0 THEN $S2 ELSE $S1 END, 'NORMAL', 0, 0, now(), now()
FROM generate_series(1, $CARDS) g;
INSERT INTO accounts (brand_id, code, kind, normal, floor_zero, member_id, balance, created_at)
SELECT $B, 'bench:' || m.id || ':' || k.kind, k.kind, -1, true, m.id, 0, now()
FROM members m CROSS JOIN (VALUES ('CARD_PRINCIPAL'), ('CARD_GIFT')) AS k(kind) WHERE m.brand_id = $B AND m.member_no LIKE 'B%';
INSERT INTO stored_value_cards (brand_id, member_id, product_id, issued_store_id, status, principal_account_id, gift_account_id, version, created_at)
SELECT $B, m.id, $P, m.registered_store_id, 'ACTIVE', pa.id, ga.id, 0, now()
FROM members m JOIN accounts pa ON pa.brand_id = $B AND pa.code = 'bench:' || m.id || ':CARD_PRINCIPAL'
JOIN accounts ga ON ga.brand_id = $B AND ga.code = 'bench:' || m.id || ':CARD_GIFT' WHERE m.brand_id = $B AND m.member_no LIKE 'B%';
UPDATE accounts a SET card_id = c.id FROM stored_value_cards c WHERE a.id IN (c.principal_account_id, c.gift_account_id) AND a.code LIKE 'bench:%';
CREATE TEMP TABLE bench_t AS
SELECT g, (SELECT min(id) FROM stored_value_cards WHERE brand_id = $B AND issued_store_id IS NOT NULL AND member_id IN
             (SELECT id FROM members WHERE member_no = 'B1')) + (g % $CARDS) AS card_id,
       1000 + (g::bigint * 7919) % 99000 AS amount,
       now() - ((g::bigint * 104729) % ($DAYS * 86400)) * interval '1 second' AS at
FROM generate_series(1, $TOPUPS) g;
INSERT INTO transfers (brand_id, kind, reference, store_id, staff_id, member_id, memo, created_at)
SELECT $B, 'TOP_UP', 'bench:' || b.g, c.issued_store_id, $R, c.member_id, 'CASH', b.at FROM bench_t b JOIN stored_value_cards c ON c.id = b.card_id;
INSERT INTO postings (transfer_id, account_id, amount, balance_after)
SELECT t.id, x.account_id, x.amount, 0 FROM bench_t b
JOIN transfers t ON t.brand_id = $B AND t.reference = 'bench:' || b.g
JOIN stored_value_cards c ON c.id = b.card_id
CROSS JOIN LATERAL (VALUES (c.principal_account_id, -b.amount),
                           ((SELECT id FROM accounts WHERE brand_id = $B AND code = 'store:' || c.issued_store_id || ':store_tender:CASH'), b.amount)) AS x(account_id, amount);
INSERT INTO card_entries (brand_id, member_id, card_id, transfer_id, kind, principal_delta, gift_delta, principal_after, gift_after, store_id, staff_id, created_at)
SELECT $B, c.member_id, c.id, t.id, 'TOP_UP', b.amount, 0, 0, 0, c.issued_store_id, $R, b.at FROM bench_t b
JOIN transfers t ON t.brand_id = $B AND t.reference = 'bench:' || b.g JOIN stored_value_cards c ON c.id = b.card_id;
UPDATE accounts a SET balance = a.balance + a.normal * s.total
FROM (SELECT p.account_id, sum(p.amount) AS total FROM postings p JOIN transfers t ON t.id = p.transfer_id WHERE t.reference LIKE 'bench:%' GROUP BY p.account_id) s
WHERE a.id = s.account_id;
INSERT INTO orders (brand_id, store_id, member_id, status, note, list_total, discount, total, paid, refunded, points_earned, paid_at, version, created_at)
SELECT $B, CASE WHEN g % 3 = 0 THEN $S2 ELSE $S1 END, NULL, 'PAID', 'bench', 29800, 0, 29800, 29800, 0, 0,
       now() - ((g::bigint * 15485863) % ($DAYS * 86400)) * interval '1 second', 0, now()
FROM generate_series(1, $ORDERS) g;
INSERT INTO order_lines (order_id, kind, item_id, name, category, unit_price, quantity, technician_id, list_amount, discount, covered_units, net_amount,
                         refunded_quantity, refunded_amount, created_at)
SELECT o.id, 'SERVICE', $SV, '面部深层清洁', '面部护理', 29800, 1, CASE WHEN o.id % 2 = 0 THEN $T ELSE $M END, 29800, 0, 0, 29800, 0, 0, now()
FROM orders o WHERE o.brand_id = $B AND o.note = 'bench';
ANALYZE;
"""

PLAIN_PERFORMANCE = """
SELECT l.technician_id, sum(l.quantity - l.refunded_quantity), sum(l.net_amount - l.refunded_amount)
FROM orders o JOIN order_lines l ON l.order_id = o.id
WHERE o.brand_id = $1 AND o.paid_at >= $2 AND o.paid_at < $3 AND l.technician_id IS NOT NULL AND l.kind = 'SERVICE'
  AND o.status IN ('PAID', 'PARTIALLY_REFUNDED', 'REFUNDED')
GROUP BY l.technician_id
"""
PLAIN_TOP_UPS = """SELECT staff_id, sum(principal_delta) FROM card_entries WHERE brand_id = $1 AND kind = 'TOP_UP' AND created_at >= $2 AND created_at < $3
AND staff_id IS NOT NULL GROUP BY staff_id"""
# The definition itself: balances as of the cutoff are the sums of the postings up to it.
PLAIN_LIABILITY = """
SELECT a.kind, sum(a.normal * p.amount) FROM postings p JOIN transfers t ON t.id = p.transfer_id JOIN accounts a ON a.id = p.account_id
WHERE t.brand_id = $1 AND t.created_at < $2 AND a.kind IN ('CARD_PRINCIPAL', 'CARD_GIFT', 'COUNT_CARD_LIABILITY') GROUP BY a.kind
"""


def _sql(template: str, values: dict) -> str:
    for key in sorted(values, key=len, reverse=True):
        template = template.replace(f"${key}", str(values[key]))
    return template


async def _median(fn) -> tuple[float, object]:
    times, result = [], None
    for _ in range(RUNS):
        start = time.perf_counter()
        result = await fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default=os.environ.get("MEIYE_BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/meiye_bench_reports"))
    parser.add_argument("--postings", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--cards", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=730)
    args = parser.parse_args()
    if not args.database.startswith("postgresql"):
        print("PostgreSQL only", file=sys.stderr)
        return 2
    url = args.database
    await asyncio.to_thread(fresh_postgres_database, url)
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url)
    async with write_transaction(engine) as db:
        await seed(db, PiiCipher(Settings().data_key.encode()))
        ids = {r.username: r for r in await db.execute(select(staff))}
    owner = ids["owner"]
    parsed = make_url(url)
    conn = await asyncpg.connect(user=parsed.username or "postgres", host=parsed.host or "127.0.0.1", port=parsed.port or 5432, database=parsed.database)
    try:
        stores = [r["id"] for r in await conn.fetch("SELECT id FROM stores WHERE brand_id = $1 ORDER BY id", owner.brand_id)]
        product = await conn.fetchval("SELECT id FROM stored_value_card_products WHERE brand_id = $1 AND name = '金卡'", owner.brand_id)
        service = await conn.fetchval("SELECT id FROM services WHERE brand_id = $1 AND name = '面部深层清洁'", owner.brand_id)
        values = {"B": owner.brand_id, "S1": stores[0], "S2": stores[1], "P": product, "SV": service, "R": ids["reception"].id, "T": ids["technician"].id,
                  "M": ids["manager"].id, "CARDS": args.cards, "TOPUPS": args.postings // 2, "ORDERS": args.orders, "DAYS": args.days}
        started = time.perf_counter()
        await conn.execute(_sql(GENERATE, values))
        postings = await conn.fetchval("SELECT count(*) FROM postings")
        print(f"generated {postings:,} postings, {args.orders:,} orders in {time.perf_counter() - started:.1f}s; load average {os.getloadavg()[0]:.2f}")
        actor = Actor(owner.id, owner.brand_id, Role.OWNER, None, owner.name)
        today = dt.datetime.now(TZ).date()
        print(f"{'report':38} {'ours ms':>9} {'plain ms':>9} {'ratio':>7}")
        for days in (1, 30, 365):
            start_day = today - dt.timedelta(days=days)
            end_day = today - dt.timedelta(days=1)
            lo = dt.datetime.combine(start_day, dt.time.min, tzinfo=TZ)
            hi = dt.datetime.combine(end_day + dt.timedelta(days=1), dt.time.min, tzinfo=TZ)

            async def ours():
                async with read_transaction(engine) as db:
                    return await performance.technician_performance(db, actor, store_id=None, start_day=start_day, end_day=end_day)

            async def plain():
                lines = await conn.fetch(PLAIN_PERFORMANCE, owner.brand_id, lo, hi)
                return lines, await conn.fetch(PLAIN_TOP_UPS, owner.brand_id, lo, hi)

            ours_s, found = await _median(ours)
            plain_s, (lines, tops) = await _median(plain)
            assert sorted((p.technician_id, p.service_revenue) for p in found if p.service_revenue) == sorted((r[0], r[2]) for r in lines)
            assert sum(p.card_sales for p in found) == sum(r[1] for r in tops)
            print(f"technicianPerformance, {days:>3} days        {ours_s * 1000:9.1f} {plain_s * 1000:9.1f} {ours_s / plain_s:7.2f}")
        for back in (1, 30, 365):
            day = today - dt.timedelta(days=back)
            cutoff = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=TZ)

            async def ours_l():
                async with read_transaction(engine) as db:
                    return await liability.prepaid_liability(db, actor, day=day)

            ours_s, held = await _median(ours_l)
            plain_s, rows = await _median(lambda: conn.fetch(PLAIN_LIABILITY, owner.brand_id, cutoff))
            by = {r[0]: r[1] for r in rows}
            assert (held.principal, held.gift) == (by.get("CARD_PRINCIPAL", 0), by.get("CARD_GIFT", 0)), (held, by)
            print(f"prepaidLiability as of {back:>3} days ago     {ours_s * 1000:9.1f} {plain_s * 1000:9.1f} {ours_s / plain_s:7.2f}")
        day_lo = dt.datetime.combine(today - dt.timedelta(days=1), dt.time.min, tzinfo=TZ)
        plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN " + PLAIN_PERFORMANCE, owner.brand_id, day_lo, day_lo + dt.timedelta(days=1)))
        print("a day's performance reads through ix_orders_brand_id_paid_at:", "ix_orders_brand_id_paid_at" in plan)
    finally:
        await conn.close()
        await engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
