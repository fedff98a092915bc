"""What one `member(id)` read costs in-process: µs per read, p50/p99, SQL statements and pool checkouts.

    .venv/bin/python bench/member_read_profile.py [--database URL] [-n 500] [--profile]

Seeds the demo brand on a fresh database (a temporary SQLite file by default; a PostgreSQL URL is
dropped and recreated) plus a member with two stored-value cards, two count cards and 24 card
statement lines, then sends N reads of that member with its cards, count cards and 20 transactions
through the real ASGI app (httpx.ASGITransport, one at a time) and prints the figures. It measures
the server's own cost without a network or a load generator in the way: a quick check for the read
path (issue 12), not the acceptance bench. `--profile` runs the reads under pyinstrument (installed
separately: it is not a dependency) and prints where the time goes; `--profile cpu` uses cProfile
on CPU time instead, which stays readable on a busy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MEIYE_ARGON2_PROFILE", "test")

from sqlalchemy import event  # noqa: E402

from domain.db import is_sqlite  # noqa: E402
from domain.prepared import watching_statements  # noqa: E402
from inprocess import demo_app  # noqa: E402
from tests.support import checkout, fresh_postgres_database, open_order  # noqa: E402

MEMBER_READ = """query($id: ID!) { member(id: $id) {
  id name phone tier
  storedValueCards { balance principal gift }
  countCards { remaining }
  transactions(first: 20) { edges { node { kind amount balanceAfter createdAt } } pageInfo { hasNextPage endCursor } }
} }"""


async def populate(demo) -> str:
    """A member with 金卡 and 银卡 (12 top-ups each: 24 statement lines) and two count cards."""
    member = await demo.register(name="读取压测", as_="owner")
    for i in range(24):
        done = await demo.top_up(member["id"], 10_000 + i, product="金卡" if i % 2 else "银卡", as_="owner")
        assert done["errors"] == [], done
    for product in list(demo.count_card_products.values())[:2]:
        order = await open_order(demo, [{"countCardProductId": product}], member_id=member["id"], as_="owner")
        paid = await checkout(demo, order["id"], [{"method": "CASH"}], as_="owner")
        assert paid["errors"] == [], paid
    return member["id"]


class Counter:
    def __init__(self, engine) -> None:
        self.engine = engine
        self.statements = 0
        self.checkouts = 0
        self._watching = watching_statements(engine, self._statement)

    def _statement(self, *_args) -> None:
        self.statements += 1

    def _checkout(self, *_args) -> None:
        self.checkouts += 1

    def __enter__(self):
        self._watching.__enter__()
        event.listen(self.engine.sync_engine.pool, "checkout", self._checkout)
        return self

    def __exit__(self, *exc) -> None:
        self._watching.__exit__(*exc)
        event.remove(self.engine.sync_engine.pool, "checkout", self._checkout)


def print_cpu_profile(profiler, n: int) -> None:
    """CPU µs per read by package (own time), then the 25 functions with the most own time."""
    import pstats

    stats = pstats.Stats(profiler)
    by_package: dict[str, float] = {}
    rows = []
    for (filename, line, name), (_cc, _nc, tottime, _cumtime, _callers) in stats.stats.items():
        parts = Path(filename).parts
        package = next((parts[i + 1] for i, p in enumerate(parts) if p == "site-packages" and i + 1 < len(parts)), None)
        if package is None:
            package = parts[-2] if str(ROOT) in filename else ("builtins/stdlib" if filename.startswith("~") or "python3" in filename else filename)
        by_package[package] = by_package.get(package, 0) + tottime
        rows.append((tottime, f"{Path(filename).name}:{line} {name}"))
    total = sum(by_package.values())
    for package, seconds in sorted(by_package.items(), key=lambda kv: -kv[1])[:15]:
        print(f"{seconds / n * 1e6:8.0f} µs {seconds / total:6.1%}  {package}")
    for seconds, where in sorted(rows, reverse=True)[:25]:
        print(f"{seconds / n * 1e6:8.0f} µs  {where}")


async def run(url: str, n: int, profile: str | None) -> None:
    async with demo_app(url) as (engine, http, demo):
        member_id = await populate(demo)
        token = demo.gql.tokens["owner"]
        body = {"query": MEMBER_READ, "variables": {"id": member_id}}
        headers = {"authorization": f"Bearer {token}"}

        async def read() -> None:
            response = await http.post("/graphql", json=body, headers=headers)
            data = response.json()
            assert "errors" not in data, data
            member = data["data"]["member"]
            assert len(member["storedValueCards"]) == 2 and len(member["countCards"]) == 2, member
            assert len(member["transactions"]["edges"]) == 20, member

        for _ in range(50):
            await read()  # warm: first-use compilation is not what is measured
        with Counter(engine) as counter:
            await read()
        print(f"database: {'SQLite' if is_sqlite(url) else 'PostgreSQL'}")
        print(f"statements per read: {counter.statements}; pool checkouts per read: {counter.checkouts}")
        gc.collect()
        gc.freeze()  # what the server does after startup: the seeding's objects are not what is measured
        profiler = None
        if profile == "cpu":
            import cProfile

            # CPU time, not wall time: on a shared machine the waits are other processes'.
            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
        elif profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005, async_mode="disabled")
            profiler.start()
        times = []
        cpu_started = time.process_time()
        started = time.perf_counter()
        for _ in range(n):
            t0 = time.perf_counter()
            await read()
            times.append(time.perf_counter() - t0)
        total = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        if profile == "cpu":
            profiler.disable()
            print_cpu_profile(profiler, n)
        elif profiler is not None:
            profiler.stop()
            print(profiler.output_text(unicode=True, color=False, show_all=False))
        times.sort()
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
        print(f"{n} reads: {total / n * 1e6:.0f} µs per read ({cpu / n * 1e6:.0f} µs of this process's CPU); p50 {statistics.median(times) * 1e3:.2f} ms, "
              f"p99 {p99 * 1e3:.2f} ms, max {times[-1] * 1e3:.2f} ms")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--database", help="SQLAlchemy URL; a PostgreSQL database is dropped and recreated. Default: a temporary SQLite file")
    p.add_argument("-n", type=int, default=500, help="reads to time (default 500)")
    p.add_argument("--profile", nargs="?", const="pyinstrument", choices=["pyinstrument", "cpu"],
                   help="run the timed reads under pyinstrument, or cProfile counting CPU time (--profile cpu)")
    args = p.parse_args()
    url = args.database or f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='meiye-read-')}/bench.db"
    if not is_sqlite(url):
        fresh_postgres_database(url)
    asyncio.run(run(url, args.n, args.profile))


if __name__ == "__main__":
    main()
