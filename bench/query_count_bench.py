"""How many SQL statements a page of members costs, at 20 and at 100 members a page.

    .venv/bin/python bench/query_count_bench.py [--database URL] [--verbose]

Lists must resolve their relations through dataloaders (PERFORMANCE.md): the statement count of a
`members` page with each member's stored-value cards (principal, gift, product name, issuing
store) and count cards must not grow with the page. This seeds the demo brand plus 110 members
with cards on a fresh database (a temporary SQLite file by default; a PostgreSQL URL is dropped
and recreated), runs both pages through the app in-process, counts the statements the database
receives for each, prints both counts and exits 1 if they differ.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MEIYE_ARGON2_PROFILE", "test")


from domain.db import is_sqlite  # noqa: E402
from domain.prepared import watching_statements  # noqa: E402
from inprocess import demo_app  # noqa: E402
from tests.support import checkout, fresh_postgres_database, open_order  # noqa: E402

MEMBERS = 110
PAGES = (20, 100)

MEMBERS_PAGE = """query($first: Int) { members(first: $first) { edges { node {
  id name
  storedValueCards { principal gift product { name } issuedStore { name } }
  countCards { id remaining product { name } }
} } } }"""


class StatementCounter:
    """Every statement the driver is handed while active (transaction BEGINs excluded)."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.statements: list[str] = []
        self._stack = ExitStack()

    def _seen(self, statement, _arguments) -> None:
        if not statement.lstrip().upper().startswith("BEGIN"):
            self.statements.append(" ".join(statement.split()))

    def __enter__(self) -> "StatementCounter":
        self._stack.enter_context(watching_statements(self.engine, self._seen))
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()


async def populate(demo) -> None:
    """MEMBERS members over both stores, each with a stored-value card (金卡 or 银卡, some with
    both); every third also bought a count card."""
    count_card = next(iter(demo.count_card_products.values()))
    for i in range(MEMBERS):
        store = demo.jingan if i % 2 else demo.xuhui
        member = await demo.register(name=f"压测会员{i}", store=store, as_="owner")
        top_up = await demo.top_up(member["id"], 100_000 + i, product="金卡" if i % 2 else "银卡", store=store, as_="owner")
        assert top_up["errors"] == [], top_up
        if i % 5 == 0:
            assert (await demo.top_up(member["id"], 50_000, product="银卡" if i % 2 else "金卡", store=store, as_="owner"))["errors"] == []
        if i % 3 == 0:
            order = await open_order(demo, [{"countCardProductId": count_card}], member_id=member["id"], store=store, as_="owner")
            paid = await checkout(demo, order["id"], [{"method": "CASH"}], as_="owner")
            assert paid["errors"] == [], paid


async def count_page(demo, engine, first: int) -> list[str]:
    with StatementCounter(engine) as counter:
        data = await demo.gql(MEMBERS_PAGE, {"first": first}, as_="owner")
    edges = data["members"]["edges"]
    assert len(edges) == first, len(edges)
    assert all(e["node"]["storedValueCards"] for e in edges), "every member on the page should have a card"
    return counter.statements


async def run(url: str, verbose: bool) -> int:
    async with demo_app(url) as (engine, http, demo):
        await populate(demo)
        await count_page(demo, engine, PAGES[0])  # warm: first-use work is not what is measured
        counts = {}
        for first in PAGES:
            statements = await count_page(demo, engine, first)
            counts[first] = len(statements)
            if verbose:
                print(f"-- members(first: {first}):")
                for s in statements:
                    print(f"   {s[:160]}")
    print(f"database: {'SQLite' if is_sqlite(url) else 'PostgreSQL'}; {MEMBERS} members with cards")
    for first, n in counts.items():
        print(f"members(first: {first:>3}) with storedValueCards + countCards: {n} SQL statements")
    if len(set(counts.values())) != 1:
        print("FAIL: the statement count grows with the page size (a relation resolved per row, not by a dataloader)")
        return 1
    print("ok: the same number of statements for both page sizes")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--database", help="SQLAlchemy URL; a PostgreSQL database is dropped and recreated. Default: a temporary SQLite file")
    p.add_argument("--verbose", action="store_true", help="print each statement")
    args = p.parse_args()
    url = args.database or f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='meiye-qcount-')}/bench.db"
    if not is_sqlite(url):
        fresh_postgres_database(url)
    return asyncio.run(run(url, args.verbose))


if __name__ == "__main__":
    sys.exit(main())
