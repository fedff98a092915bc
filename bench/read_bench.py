"""Read throughput and latency: two staff reads through a real `meiye serve --demo`, against a
Starlette + asyncpg app (bench/read_reference.py) answering them with the same JSON, in one run.

    .venv/bin/python bench/read_bench.py [--database URL] [--workers 1] [--seconds 5] [--connections 1,16]

1. Drops and recreates the PostgreSQL database (--database, else $MEIYE_BENCH_DATABASE_URL, else
   postgresql+asyncpg://postgres@127.0.0.1:5432/meiye_bench_read) and starts `meiye serve --demo
   --workers N` on it, and the reference with as many uvicorn workers.
2. Untimed, through the API: `--members` members registered, and one of them given a 金卡 and a
   银卡 (top-ups alternating between them, `--entries` statement lines) and two count cards (a
   面部清洁10次卡 and a SPA月卡, sold in orders paid in cash).
3. Untimed: each read is run once through the app in this process while SQLAlchemy's
   `domain.prepared.watching_statements` counts the statements it sends; then both sides answer it once and the
   bench checks the two JSON bodies are equal (key order aside). Exits 1 if not.
4. Timed, for each read, each `--connections` figure and each side (server, then reference), for
   `--seconds`: wrk sends the same POST over and over (-t min(2, c) -c c), its latency histogram
   giving p50 and p99. Any non-200 answer or non-empty `errors` list fails the run.

The two reads: `member(id)` with its stored-value cards (balances), count cards (sessions left) and
its 20 latest transactions; and `members(first: 20)`, a page of members with a few fields each.
Not a test: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("MEIYE_ARGON2_PROFILE", "test")

import asyncpg  # noqa: E402
import httpx  # noqa: E402
from sqlalchemy import event  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

import loadgen  # noqa: E402
from loadgen import gql, mutate  # noqa: E402
from tests.live_server import Server, cli_env, free_port, start_server  # noqa: E402

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/meiye_bench_read"
START_TIMEOUT = 60.0

MEMBER_READ = """query MemberRead($id: ID!) { member(id: $id) { id memberNo name tier points
  storedValueCards { id principal gift balance status }
  countCards { id remaining sessionsTotal expiresAt status }
  transactions(first: 20) { edges { cursor node { id kind amount principalAmount giftAmount balanceAfter createdAt } }
    pageInfo { hasNextPage endCursor } } } }"""
MEMBER_PAGE = """query MemberPage { members(first: 20) { edges { cursor node { id memberNo name tier points } }
  pageInfo { hasNextPage endCursor } } }"""

REGISTER = "mutation($i: RegisterMemberInput!) { registerMember(input: $i) { member { id } errors { code message } } }"
TOP_UP = "mutation($i: TopUpInput!) { topUp(input: $i) { card { id } errors { code message } } }"
OPEN_ORDER = "mutation($i: OpenOrderInput!) { openOrder(input: $i) { order { id } errors { code message } } }"
CHECKOUT = "mutation($i: CheckoutInput!) { checkout(input: $i) { order { id status } errors { code message } } }"


def _pg_kwargs(url: str, database: str | None = None) -> dict:
    u = make_url(url)
    return dict(user=u.username or "postgres", password=u.password, host=u.host or "127.0.0.1", port=u.port or 5432, database=database or u.database)


def dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def recreate_database(url: str) -> None:
    name = make_url(url).database
    conn = await asyncpg.connect(**_pg_kwargs(url, "postgres"), timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()




async def seed(http: httpx.AsyncClient, *, members: int, entries: int) -> tuple[str, str]:
    """The desk's token and the id of the member with two cards of each kind."""
    token = (await gql(http, 'mutation { staffLogin(input: {username: "reception", password: "meiye-demo"}) { token } }'))["staffLogin"]["token"]
    data = await gql(http, "{ stores { id name } storedValueCardProducts { id name } countCardProducts { id name } }", token=token)
    store = {s["name"]: s["id"] for s in data["stores"]}["静安店"]
    sv = {p["name"]: p["id"] for p in data["storedValueCardProducts"]}
    cc = {p["name"]: p["id"] for p in data["countCardProducts"]}
    ids = []
    for i in range(members):
        m = await mutate(http, REGISTER, {"i": {"name": f"会员{i:03}", "phone": f"139{uuid.uuid4().int % 10**8:08d}", "storeId": store,
                                                "consent": True}}, token, "registerMember")
        ids.append(m["member"]["id"])
    member = ids[0]
    for i in range(entries):
        product = ("金卡", "银卡")[i % 2]
        await mutate(http, TOP_UP, {"i": {"memberId": member, "cardProductId": sv[product], "storeId": store, "amount": 10_000 + 100 * i,
                                          "tender": "CASH", "idempotencyKey": f"seed-{uuid.uuid4().hex}"}}, token, "topUp")
    for product in ("面部清洁10次卡", "SPA月卡"):
        order = (await mutate(http, OPEN_ORDER, {"i": {"storeId": store, "memberId": member, "lines": [{"countCardProductId": cc[product]}]}},
                              token, "openOrder"))["order"]["id"]
        await mutate(http, CHECKOUT, {"i": {"orderId": order, "payments": [{"method": "CASH"}], "idempotencyKey": f"seed-{uuid.uuid4().hex}"}},
                     token, "checkout")
    return token, member


@dataclass
class Sent:
    """What one request sent, seen from SQLAlchemy in this process."""

    statements: int
    transactions: int  # BEGINs (asyncpg's are not statements SQLAlchemy sees)
    checkouts: int  # connections taken from the pool
    connects: int  # of which new database connections


async def count_statements(url: str, token: str, body: dict) -> Sent:
    """What one request sends, through the app in this process (its second run: caches warm)."""
    from domain.db import create_engine
    from domain.prepared import watching_statements
    from resolvers.settings import Settings
    from schema.app import create_app

    engine = create_engine(url)
    counts = {"statements": 0, "transactions": 0, "checkouts": 0, "connects": 0}

    def counter(name):
        def count(*_args, **_kwargs):
            counts[name] += 1
        return count

    hooks = [(engine.sync_engine, "begin", counter("transactions")), (engine.sync_engine.pool, "checkout", counter("checkouts")), (engine.sync_engine.pool, "connect", counter("connects"))]
    try:
        app = create_app(Settings(database_url=url), engine=engine)
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as http:
                await http.post("/graphql", json=body, headers={"authorization": f"Bearer {token}"})
                for target, name, hook in hooks:
                    event.listen(target, name, hook)
                try:
                    with watching_statements(engine, counter("statements")):
                        response = await http.post("/graphql", json=body, headers={"authorization": f"Bearer {token}"})
                finally:
                    for target, name, hook in hooks:
                        event.remove(target, name, hook)
        if response.status_code != 200 or response.json().get("errors"):
            raise RuntimeError(f"in-process read failed: {response.text[:300]}")
    finally:
        await engine.dispose()
    return Sent(**counts)


def start_reference(url: str, workers: int, log_path: Path, probe: dict, token: str) -> Server:
    port = free_port()
    env = cli_env(MEIYE_BENCH_DSN=dsn(url), PYTHONPATH=str(ROOT))
    args = [sys.executable, "-m", "uvicorn", "bench.read_reference:app", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
            "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(args, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    ref = Server(process, port, log_path)  # the reference app stops like a server
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            raise SystemExit(f"the reference exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.post(f"{ref.base_url}/graphql", json=probe, headers={"authorization": f"Bearer {token}"}, timeout=2).status_code == 200:
                return ref
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            ref.stop()
            raise SystemExit(f"the reference did not answer within {START_TIMEOUT}s:\n{log_path.read_text()}")
        time.sleep(0.1)


def same_answer(server_url: str, ref_url: str, body: dict, token: str) -> tuple[dict, dict]:
    headers = {"authorization": f"Bearer {token}"}
    ours = httpx.post(f"{server_url}/graphql", json=body, headers=headers, timeout=30).json()
    theirs = httpx.post(f"{ref_url}/graphql", json=body, headers=headers, timeout=30).json()
    return ours, theirs


def first_difference(a, b, path: str = "") -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return f"{path}.{key}: only in {'the server' if key in a else 'the reference'}"
            if (d := first_difference(a[key], b[key], f"{path}.{key}")) is not None:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items from the server, {len(b)} from the reference"
        return next((d for i, (x, y) in enumerate(zip(a, b)) if (d := first_difference(x, y, f"{path}[{i}]")) is not None), None)
    return None if a == b and type(a) is type(b) else f"{path}: server {a!r}, reference {b!r}"


@dataclass
class Measure:
    rate: float
    p50: float
    p99: float
    requests: int
    wrk_cpu: float
    side_cpu: float
    pg_cpu: float | None


async def measure(base_url: str, pid: int, url: str, body: dict, token: str, connections: int, seconds: float) -> Measure:
    tree = loadgen.TreeCpu(pid).start()
    async with loadgen.BackendCpu(lambda: asyncpg.connect(**_pg_kwargs(url))) as pg:
        run = await asyncio.to_thread(loadgen.run_wrk, base_url, "/graphql", [json.dumps(body, separators=(",", ":"))],
                                      headers={"Authorization": f"Bearer {token}"}, connections=connections, seconds=seconds, mode="cycle")
    side_cpu = tree.stop()
    if run.errors or run.socket_errors:
        raise SystemExit(f"{base_url}: {run.errors} error answer(s), {run.socket_errors} socket error(s), e.g. {run.samples[:2]}")
    return Measure(run.rate, run.p50_ms, run.p99_ms, run.answered, run.cpu_seconds, side_cpu, pg.seconds)


def report(name: str, sent: Sent, results: dict) -> None:
    print(f"  {name}: one costs the server {sent.statements} SQL statements in {sent.transactions} transaction(s), "
          f"{sent.checkouts} pool checkout(s), {sent.connects} new connection(s); the reference {5 if name.startswith('member(') else 2} "
          f"statements, 1 pool checkout, no transaction")
    for c, (ours, ref) in results.items():
        print(f"    {c:2} connection(s): meiye {ours.rate:7.0f}/s p50 {ours.p50:6.1f} ms p99 {ours.p99:6.1f} ms | "
              f"reference {ref.rate:7.0f}/s p50 {ref.p50:6.1f} ms p99 {ref.p99:6.1f} ms | ratio {ours.rate / ref.rate:4.0%}")
        print(f"       CPU per request: meiye {loadgen.per_request(ours.side_cpu, ours.requests)} + PostgreSQL "
              f"{loadgen.per_request(ours.pg_cpu, ours.requests)}; reference {loadgen.per_request(ref.side_cpu, ref.requests)} + PostgreSQL "
              f"{loadgen.per_request(ref.pg_cpu, ref.requests)}; wrk {loadgen.per_request(ours.wrk_cpu, ours.requests)} / "
              f"{loadgen.per_request(ref.wrk_cpu, ref.requests)}")


_T0 = time.perf_counter()


def note(message: str) -> None:
    print(f"[{time.perf_counter() - _T0:5.1f}s] {message}", file=sys.stderr, flush=True)


async def run(args) -> int:
    url = args.database
    await recreate_database(url)
    folder = Path(tempfile.mkdtemp(prefix="meiye-read-bench-"))
    note(f"starting meiye serve --demo --workers {args.workers} on a fresh {make_url(url).database}")
    server = start_server(url, folder / "server.log", demo=True, workers=args.workers, env=cli_env())
    ref = None
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as http:
            note("seeding members, cards and statement lines (untimed)")
            token, member = await seed(http, members=args.members, entries=args.entries)
        reads = {f"member(id) with 2 cards, 2 count cards, {min(20, args.entries)} transactions": {"query": MEMBER_READ, "variables": {"id": member}},
                 "members(first: 20)": {"query": MEMBER_PAGE, "variables": {}}}
        statements = {name: await count_statements(url, token, body) for name, body in reads.items()}
        ref = start_reference(url, args.workers, folder / "reference.log", reads["members(first: 20)"], token)
        for name, body in reads.items():
            ours, theirs = same_answer(server.base_url, ref.base_url, body, token)
            if ours.get("errors") or (diff := first_difference(ours, theirs)) is not None:
                print(f"FAIL: {name}: the reference's answer differs: {ours.get('errors') or diff}")
                return 1
        note("both sides answer the same JSON; timing")
        results: dict = {}
        for name, body in reads.items():
            for c in args.connections:
                ours = await measure(server.base_url, server.process.pid, url, body, token, c, args.seconds)
                theirs = await measure(ref.base_url, ref.process.pid, url, body, token, c, args.seconds)
                results.setdefault(name, {})[c] = (ours, theirs)
    finally:
        server.stop()
        if ref is not None:
            ref.stop()
    conn = await asyncpg.connect(**_pg_kwargs(url))
    try:
        version = (await conn.fetchval("SHOW server_version")).split()[0]
    finally:
        await conn.close()
    print(f"read benchmark: PostgreSQL {version}, {os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.1f}), "
          f"meiye serve --workers {args.workers} and the reference with as many, wrk for {args.seconds:g} s each")
    for name in reads:
        report(name, statements[name], results[name])
    print(f"  whole run {time.perf_counter() - _T0:.0f} s")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description="GraphQL member reads vs. a Starlette + asyncpg endpoint returning the same JSON")
    p.add_argument("--database", default=os.environ.get("MEIYE_BENCH_DATABASE_URL", DEFAULT_URL),
                   help=f"PostgreSQL URL, dropped and recreated (default $MEIYE_BENCH_DATABASE_URL or {DEFAULT_URL})")
    p.add_argument("--workers", type=int, default=1, help="workers of meiye serve and of the reference (default 1)")
    p.add_argument("--seconds", type=float, default=5.0, help="each timed run (default 5)")
    p.add_argument("--connections", default="1,16", help="comma-separated connection counts (default 1,16)")
    p.add_argument("--members", type=int, default=40, help="members registered (default 40)")
    p.add_argument("--entries", type=int, default=22, help="the read member's statement lines, top-ups on two cards (default 22)")
    args = p.parse_args()
    args.connections = [int(c) for c in args.connections.split(",")]
    if not args.database.startswith("postgresql"):
        p.error("the read benchmark runs on PostgreSQL")
    if not loadgen.wrk_path():
        p.error(loadgen.INSTALL_HINT.split(";")[0])
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
