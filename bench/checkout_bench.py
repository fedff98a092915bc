"""Checkout throughput: the GraphQL `checkout` mutation through a real `meiye serve`, against a plain
asyncpg reference issuing the same SQL statements, in one run (PERFORMANCE.md, DESIGN.md §9).

    .venv/bin/python bench/checkout_bench.py [--database URL] [--clients 16] [--orders 1000] [--workers 1] [--load wrk|httpx]

1. Drops and recreates the PostgreSQL database (--database, else $MEIYE_BENCH_DATABASE_URL, else
   postgresql+asyncpg://postgres@127.0.0.1:5432/meiye_bench) and starts `meiye serve --demo` on it.
2. Untimed, for each side: `--cards` members registered through the API, each with a 金卡 topped
   up with ¥5,000 (+¥1,500 gift); one open order (洗剪吹, one line) per checkout to come, spread
   over the cards: the first opened through the API, the others copied from it in SQL.
3. Untimed: a few warm-up checkouts; then one checkout is run through the same app in this process
   while `domain.prepared.watching_statements` records every statement it sends.
4. Timed: wrk (bench/loadgen.py; `--load httpx` or no wrk installed: `--clients` httpx clients in
   this process) on `--clients` keep-alive connections pays the GraphQL side's orders with
   `checkout` (payments [{method: STORED_VALUE, cardId}]), each order's mutation sent once; the
   paid orders are then counted in the database. Meanwhile the CPU of the load generator, of the
   server's processes and of the database's backends is measured.
5. The server is stopped. Timed: as many asyncpg connections pay as many of the other side's
   orders with the reference: the recorded statements, the SQL text taken from the recording and
   the values computed as domain/checkout.py does (the bench checks that the reference sends the
   identical sequence of statements), in the same transactions.
6. `meiye ledger verify` over the whole database, so a wrong reference cannot go unnoticed.

It prints both throughputs, their ratio (GraphQL ÷ asyncpg; PERFORMANCE.md's goal is ≥ 50 %), the
CPU each checkout cost each process, and what the busy database backends were doing (sampled from
pg_stat_activity) during each side. `--skip-reference` times the GraphQL side alone.
Absolute numbers depend on the machine and its load; compare ratios. Not a test: nothing here
asserts on time. Exits 1 if a checkout fails, or the reference no longer matches the real SQL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MEIYE_ARGON2_PROFILE", "test")

import asyncpg  # noqa: E402
import httpx  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from tests.live_server import MEIYE, Server, cli_env, free_port, run_cli, wait_healthy  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import loadgen  # noqa: E402
from loadgen import gql, mutate  # noqa: E402

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/meiye_bench"
SERVICE = "洗剪吹"
PRODUCT = "金卡"
TOP_UP_AMOUNT = 500_000  # 充5000送1500: ¥6,500 a card, ≈ 86 checkouts of ¥74.80
WARMUP_PER_CLIENT = 2
REQUEST_TIMEOUT = 60.0

CHECKOUT = """mutation($i: CheckoutInput!) { checkout(input: $i) { order { id status total } errors { code field message } } }"""
REGISTER = """mutation($i: RegisterMemberInput!) { registerMember(input: $i) { member { id } errors { code message } } }"""
TOP_UP = """mutation($i: TopUpInput!) { topUp(input: $i) { card { id balance } errors { code message } } }"""
OPEN_ORDER = """mutation($i: OpenOrderInput!) { openOrder(input: $i) { order { id total } errors { code message } } }"""

# What one checkout of the benchmark's shape sends in its write transaction and after it, in order:
# (name, verb, table). Names are what the reference below asks for; the texts come from the
# recording of a real checkout. Reads before the write transaction (e.g. re-reading the caller's
# staff account) do not depend on the order or card and are replayed as recorded.
EXPECTED = [
    ("actor", "SELECT", "staff"),
    ("claim_key", "INSERT", "idempotency_keys"),
    ("take_order", "UPDATE", "orders"),
    ("sale_context", "SELECT", "order_lines"),  # with the store's, brand's and member's rules and the shard's account ids
    ("take_card", "UPDATE", "stored_value_cards"),
    ("card_balances", "SELECT", "accounts"),
    ("post_transfer", "WITH", "transfers"),  # the transfer, its legs' balance updates and postings (domain.ledger.postings)
    ("close", "WITH", "idempotency_keys"),  # every closing write, the member's too, with the order's update (domain.writes)
]
STORE_SHARDS = 16  # domain.ledger.store_accounts
SHARD_ACCOUNTS = ["store_tender:CASH", "store_tender:BANK_CARD", "store_tender:WECHAT", "store_tender:ALIPAY", "store_revenue",
                  "store_discount:coupon", "store_gift_issued", "store_gift_consumed", "store_clearing"]


@dataclass
class Job:
    order_gid: str
    card_gid: str

    @property
    def order_pk(self) -> int:
        return _pk(self.order_gid)

    @property
    def card_pk(self) -> int:
        return _pk(self.card_gid)


def _pk(gid: str) -> int:
    from resolvers.ids import parse_global_id

    return parse_global_id(gid)[1]


def to_gid(type_name: str, pk: int) -> str:
    from resolvers.ids import to_global_id

    return to_global_id(type_name, pk)


def _pg_connect_kwargs(url: str, database: str | None = None) -> dict:
    u = make_url(url)
    return dict(user=u.username or "postgres", password=u.password, host=u.host or "127.0.0.1", port=u.port or 5432,
                database=database or u.database)


async def recreate_database(url: str, synchronous_commit: str | None) -> None:
    name = make_url(url).database
    conn = await asyncpg.connect(**_pg_connect_kwargs(url, "postgres"), timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
        if synchronous_commit:
            await conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = {synchronous_commit}')
    finally:
        await conn.close()


def start_server(url: str, workers: int, log_path: Path) -> Server:
    port = free_port()
    args = [str(MEIYE), "serve", "--demo", "--port", str(port), "--database", url, "--workers", str(workers)]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(args, env=cli_env(), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = Server(process, port, log_path)
    try:
        wait_healthy(server)
    except BaseException:
        server.stop()
        raise
    return server


@contextlib.asynccontextmanager
async def http_clients(base_url: str, n: int):
    """`n` clients, each with one keep-alive connection, connected before use."""
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(httpx.AsyncClient(base_url=base_url, timeout=REQUEST_TIMEOUT, limits=httpx.Limits(max_connections=1)))
            for _ in range(n)
        ]
        await asyncio.gather(*(c.get("/health") for c in clients))
        yield clients




async def fan_out(clients, items, work) -> list:
    """`work(client, item)` for every item, `len(clients)` at a time, results in item order."""
    results: list = [None] * len(items)
    next_index = iter(range(len(items)))

    async def worker(client):
        for i in next_index:
            results[i] = await work(client, items[i])

    await asyncio.gather(*(worker(c) for c in clients))
    return results


@dataclass
class Desk:
    token: str
    store: str
    service: str
    product: str
    brand_id: int
    staff_id: int


async def desk(http) -> Desk:
    token = (await gql(http, "mutation { staffLogin(input: {username: \"reception\", password: \"meiye-demo\"}) { token errors { code } } }"))["staffLogin"]["token"]
    data = await gql(http, "{ viewer { id } brand { id } stores { id name } services { id name } storedValueCardProducts { id name } }", token=token)
    return Desk(
        token=token,
        store={s["name"]: s["id"] for s in data["stores"]}["静安店"],
        service={s["name"]: s["id"] for s in data["services"]}[SERVICE],
        product={p["name"]: p["id"] for p in data["storedValueCardProducts"]}[PRODUCT],
        brand_id=_pk(data["brand"]["id"]),
        staff_id=_pk(data["viewer"]["id"]),
    )


async def prepare(clients, d: Desk, url: str, *, side: str, cards: int, orders: int) -> list[Job]:
    """`cards` members with a funded card each (through the API), and `orders` open one-line orders
    spread over them: the first opened through the API, the rest copied from it in SQL (as the API
    would have written them, only faster)."""
    async def new_card(http, i):
        member = (await mutate(http, REGISTER, {"i": {"name": f"{side}{i}", "phone": f"13{hash(side) % 10}{uuid.uuid4().int % 10**8:08d}",
                                                        "storeId": d.store, "consent": True}}, d.token, "registerMember"))["member"]["id"]
        card = (await mutate(http, TOP_UP, {"i": {"memberId": member, "cardProductId": d.product, "storeId": d.store, "amount": TOP_UP_AMOUNT,
                                                  "tender": "CASH", "idempotencyKey": f"prep-{uuid.uuid4().hex}"}}, d.token, "topUp"))["card"]["id"]
        return _pk(member), card

    owners = await fan_out(clients, list(range(cards)), new_card)
    card_of = dict(owners)
    template = (await mutate(clients[0], OPEN_ORDER, {"i": {"storeId": d.store, "memberId": to_gid("Member", owners[0][0]),
                                                            "lines": [{"serviceId": d.service}]}}, d.token, "openOrder"))["order"]["id"]
    conn = await asyncpg.connect(**_pg_connect_kwargs(url))
    try:
        async def columns(table: str, *leave_out: str) -> list[str]:
            rows = await conn.fetch("SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 "
                                    "ORDER BY ordinal_position", table)
            return [f'"{r[0]}"' for r in rows if r[0] not in ("id", *leave_out)]

        order_cols = await columns("orders", "member_id")
        line_cols = await columns("order_lines", "order_id")
        async with conn.transaction():
            copied = await conn.fetch(
                f"INSERT INTO orders ({', '.join(order_cols)}, member_id) SELECT {', '.join('o.' + c for c in order_cols)}, u.m "
                f"FROM orders o, unnest($2::bigint[]) WITH ORDINALITY AS u(m, i) WHERE o.id = $1 ORDER BY u.i RETURNING id, member_id",
                _pk(template), [owners[(i + 1) % cards][0] for i in range(orders - 1)],
            )
            await conn.execute(
                f"INSERT INTO order_lines (order_id, {', '.join(line_cols)}) SELECT u.id, {', '.join('l.' + c for c in line_cols)} "
                f"FROM order_lines l, unnest($2::bigint[]) AS u(id) WHERE l.order_id = $1",
                _pk(template), [r["id"] for r in copied],
            )
    finally:
        await conn.close()
    return [Job(template, card_of[owners[0][0]])] + [Job(to_gid("Order", r["id"]), card_of[r["member_id"]]) for r in sorted(copied)]


class WaitSampler:
    """What the benchmark database's busy backends are doing, sampled every 50 ms."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.samples: Counter = Counter()
        self.busy = 0

    async def __aenter__(self) -> "WaitSampler":
        self.conn = await asyncpg.connect(**_pg_connect_kwargs(self.url))
        self.sessions = await self._sessions()
        self.task = asyncio.create_task(self._run())
        return self

    async def _sessions(self) -> int:
        """Connections ever opened to the database (pg_stat_database.sessions)."""
        return await self.conn.fetchval("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")

    async def _run(self) -> None:
        database = make_url(self.url).database
        while True:
            for wait_type, wait, query in await self.conn.fetch(
                "SELECT wait_event_type, wait_event, query FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() "
                "AND state = 'active'", database,
            ):
                self.busy += 1
                if wait_type == "Lock":
                    verb, table = shape(query)
                    self.samples[f"row lock ({wait}) at {verb} {table}"] += 1
                elif wait_type:
                    self.samples[f"{wait_type}:{wait}"] += 1
                else:
                    self.samples["running"] += 1
            await asyncio.sleep(0.05)

    async def __aexit__(self, *exc) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        self.sessions = await self._sessions() - self.sessions
        await self.conn.close()

    def summary(self) -> str:
        if not self.busy:
            return "no busy backend sampled"
        top = ", ".join(f"{share / self.busy:.0%} {what}" for what, share in self.samples.most_common(3))
        return f"busy backends were: {top}; {self.sessions} new connection(s) opened meanwhile"


async def timed(workers: list, jobs: list, work, max_seconds: float | None) -> tuple[float, list]:
    """Every worker takes the next job until none is left (or `max_seconds` have passed); the
    elapsed time and each finished job's result."""
    pending = iter(jobs)
    results: list = []
    start = time.perf_counter()
    deadline = start + max_seconds if max_seconds else None

    async def worker(w):
        for job in pending:
            results.append(await work(w, job))
            if deadline and time.perf_counter() > deadline:
                return

    await asyncio.gather(*(worker(w) for w in workers))
    return time.perf_counter() - start, results


async def graphql_checkouts(clients, d: Desk, jobs: list[Job], max_seconds: float | None = None) -> tuple[float, int, list]:
    async def pay(http, job: Job):
        data = await gql(http, CHECKOUT, {"i": {"orderId": job.order_gid, "payments": [{"method": "STORED_VALUE", "cardId": job.card_gid}],
                                                "idempotencyKey": f"bench-{uuid.uuid4().hex}"}}, d.token)
        return data["checkout"]["errors"] or None

    elapsed, results = await timed(clients, jobs, pay, max_seconds)
    return elapsed, len(results), [e for e in results if e]


# --- recording what one checkout sends ---------------------------------------------------------


@dataclass
class Recording:
    prelude: list[tuple[str, tuple]]  # read-only statements before the write transaction, with their parameters
    texts: list[str]  # the write transaction's statements and the response's reads

    @property
    def all_texts(self) -> list[str]:
        return [text for text, _ in self.prelude] + self.texts


async def record_checkout(url: str, d: Desk, job: Job) -> Recording:
    """Run one GraphQL checkout through the app in this process, recording what it sends."""
    from domain.db import create_engine
    from domain.prepared import watching_statements
    from resolvers.settings import Settings
    from schema.app import create_app

    engine = create_engine(url)
    sent: list[tuple[str, object]] = []

    def seen(statement, parameters):
        sent.append((statement, tuple(parameters)))

    try:
        app = create_app(Settings(database_url=url), engine=engine)
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as http:
                with watching_statements(engine, seen):
                    data = await gql(http, CHECKOUT, {"i": {"orderId": job.order_gid, "payments": [{"method": "STORED_VALUE", "cardId": job.card_gid}],
                                                            "idempotencyKey": f"record-{uuid.uuid4().hex}"}}, d.token)
    finally:
        await engine.dispose()
    if data["checkout"]["errors"]:
        raise RuntimeError(f"recording checkout failed: {data['checkout']['errors']}")
    sent = [(text, params) for text, params in sent if not text.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK"))]
    # The checkout reads its caller's staff account in its own write transaction: nothing comes before it.
    first = 0
    prelude = sent[:first]
    if any(shape(text)[0] != "SELECT" or not isinstance(params, tuple) for text, params in prelude):
        raise SystemExit("a checkout now writes before its write transaction; the reference cannot replay that:\n"
                         + "\n".join(f"  {shape(t)}" for t, _ in prelude))
    return Recording(prelude, [text for text, _ in sent[first:]])


_SHAPE = re.compile(r"^\s*(?:SELECT\s.*?\sFROM\s+(\w+)|INSERT\s+INTO\s+(\w+)|UPDATE\s+(\w+)|WITH\s+\w+\s+AS\s+\(\s*(?:INSERT\s+INTO|UPDATE)\s+(\w+))", re.S)


def shape(statement: str) -> tuple[str, str]:
    m = _SHAPE.match(statement)
    if not m:
        return ("?", statement[:40])
    verb = statement.split(None, 1)[0].upper()
    if verb == "SELECT":
        return verb, _outer_from(statement) or m.group(1)
    return verb, m.group(1) or m.group(2) or m.group(3) or m.group(4)


def _outer_from(statement: str) -> str | None:
    """The table after the FROM outside any parentheses (a SELECT's columns may hold subqueries)."""
    depth = 0
    for i, ch in enumerate(statement):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0 and statement.startswith("FROM", i) and statement[i - 1].isspace():
            return statement[i + 4:].split()[0]
    return None


def statements_by_name(recorded: list[str]) -> dict[str, str]:
    got = [shape(s) for s in recorded]
    want = [(verb, table) for _, verb, table in EXPECTED]
    if got != want:
        lines = [f"  {i:2} recorded {g!s:45} expected {w}" for i, (g, w) in
                 enumerate(zip(got + [None] * (len(want) - len(got)), want + [None] * (len(got) - len(want))))]
        raise SystemExit("the checkout's SQL is no longer what the asyncpg reference reproduces; update EXPECTED and reference():\n" + "\n".join(lines))
    texts: dict[str, str] = {}
    for (name, _, _), text in zip(EXPECTED, recorded):
        if texts.setdefault(name, text) != text:
            raise SystemExit(f"statement {name} was sent with two different texts")
    return texts


# --- the asyncpg reference ----------------------------------------------------------------------


def fingerprint(operation: str, request: dict) -> str:
    canonical = json.dumps([operation, request], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def discounted(amount: int, percent: int) -> int:
    return (amount * percent * 2 + 100) // 200


class Reference:
    """domain/checkout.py's work for one STORED_VALUE payment of an order of service lines at the
    card's own store, as the recorded statements, through one asyncpg connection."""

    def __init__(self, recording: Recording, d: Desk) -> None:
        self.prelude = recording.prelude
        self.sql = statements_by_name(recording.texts)
        self.d = d
        self.trace: list[str] | None = None

    def q(self, name: str) -> str:
        text = self.sql[name]
        if self.trace is not None:
            self.trace.append(text)
        return text

    async def checkout(self, conn: asyncpg.Connection, job: Job) -> None:
        q, brand_id, staff_id = self.q, self.d.brand_id, self.d.staff_id
        order_pk, card_pk = job.order_pk, job.card_pk
        key = f"ref-{uuid.uuid4().hex}"
        request = {"orderId": job.order_gid, "couponCodes": [], "payments": [["STORED_VALUE", None, job.card_gid, None]]}
        now = dt.datetime.now(dt.UTC)
        async with conn.transaction():
            staff = await conn.fetchrow(q("actor"), staff_id)
            if staff is None or not staff["active"]:
                raise RuntimeError("the bench's staff account is gone")
            key_id = await conn.fetchval(q("claim_key"), brand_id, f"staff:{staff_id}", key, "checkout", fingerprint("checkout", request), now)
            order = await conn.fetchrow(q("take_order"), 1, order_pk, brand_id, "OPEN")
            if key_id is None or order is None:
                raise RuntimeError(f"order {order_pk} not open or key taken")
            store_id, member_id = order["store_id"], order["member_id"]
            shard = order_pk % STORE_SHARDS
            codes = [f"store:{store_id}:{part}" + (f"#{shard}" if shard else "") for part in SHARD_ACCOUNTS]
            lines = await conn.fetch(q("sale_context"), "VISIT", *codes, store_id, member_id, order_pk)
            settings = lines[0]
            revenue, consumed = settings["shard_account_4"], settings["shard_account_7"]
            card = await conn.fetchrow(q("take_card"), 1, card_pk, brand_id)
            percent = card["percent"]
            p_acct, g_acct = card["principal_account_id"], card["gift_account_id"]
            balances = dict(await conn.fetch(q("card_balances"), p_acct, g_acct))
            principal, gift = balances[p_acct], balances[g_acct]
            due = sum(discounted(l["unit_price"] * l["quantity"], percent) for l in lines)
            if due > principal + gift:
                raise RuntimeError(f"card {card_pk} short")
            if settings["split_rule"] != "PROPORTIONAL":
                raise RuntimeError("the reference implements the PROPORTIONAL split only")
            from_gift = due * gift // (principal + gift)
            from_principal = due - from_gift
            multiplier = {"NORMAL": settings["normal_points_pct"], "SILVER": settings["silver_points_pct"], "GOLD": settings["gold_points_pct"]}
            points = from_principal // 100 * multiplier[settings["member_tier"]] // 100
            by_spend = settings["tier_basis"] == "SPEND"
            silver, gold = (settings["silver_threshold"], settings["gold_threshold"]) if by_spend else (2**62, 2**62)
            payments = [{"method": "STORED_VALUE", "amount": due, "index": 0, "principal": from_principal, "gift": from_gift, "card_id": card_pk}]
            legs = {p_acct: from_principal, g_acct: from_gift, revenue: -from_principal, consumed: -from_gift}
            ids = sorted(a for a, amount in legs.items() if amount)
            posted = await conn.fetch(q("post_transfer"), brand_id, "CHECKOUT", f"checkout:staff:{staff_id}:{key}", store_id, staff_id, member_id, None,
                                      f"order {order_pk}", dt.datetime.now(dt.UTC), ids, [legs[a] for a in ids])
            if len(posted) != len(ids):
                raise RuntimeError(f"a leg of order {order_pk} was refused")
            transfer_id = posted[0]["transfer_id"]
            after = {r["account_id"]: r["balance_after"] for r in posted}
            [line] = lines
            list_total = line["unit_price"] * line["quantity"]
            event = {"member_id": member_id, "order_id": order_pk, "store_id": store_id, "total": due, "transfer_id": transfer_id}
            stamp = dt.datetime.now(dt.UTC)
            await conn.fetchrow(
                q("close"),
                "PAID", list_total, list_total - due, due, due, points, now, transfer_id,  # the order's update
                json.dumps({"order_id": order_pk}), key_id,  # the idempotency key's response
                order_pk, "STORED_VALUE", due, from_principal, from_gift, card_pk, None, None, None, 0, 0, 0,  # the payment
                line["id"], due, 0,  # the line it paid
                list_total, list_total - due, 0, due, line["id"],  # the line's amounts
                due, gold, "GOLD", silver, "SILVER", "NORMAL", "GOLD", 2, "SILVER", 1, 0, "GOLD", 2, "SILVER", 1, 0, points, member_id,  # member
                brand_id, member_id, points, "EARNED", order_pk, store_id, staff_id, stamp,  # points entry
                brand_id, staff_id, store_id, "order.checkout", "order", order_pk, None,
                json.dumps({"total": due, "payments": payments}, ensure_ascii=False), stamp,  # audit
                brand_id, member_id, card_pk, transfer_id, "CHECKOUT", -from_principal, -from_gift, after[p_acct], after[g_acct],
                store_id, staff_id, stamp,  # the card's statement line
                brand_id, "order.paid", f"order:{order_pk}:paid", member_id, store_id, json.dumps(event, sort_keys=True), stamp, stamp,  # outbox
                order_pk,
            )


@contextlib.asynccontextmanager
async def pg_connections(url: str, n: int):
    conns = [await asyncpg.connect(**_pg_connect_kwargs(url)) for _ in range(n)]
    try:
        yield conns
    finally:
        await asyncio.gather(*(c.close() for c in conns))


async def reference_checkouts(conns: list, ref: Reference, jobs: list[Job], max_seconds: float | None = None) -> tuple[float, int]:
    elapsed, results = await timed(conns, jobs, ref.checkout, max_seconds)
    return elapsed, len(results)


_T0 = time.perf_counter()


def note(message: str) -> None:
    print(f"[{time.perf_counter() - _T0:5.1f}s] {message}", file=sys.stderr, flush=True)


# --- the run ------------------------------------------------------------------------------------


@dataclass
class Side:
    """One timed side: how many it paid in how long, and what it cost in CPU."""

    seconds: float
    done: int
    loadgen_cpu: float | None = None  # the load generator's own user + system seconds
    server_cpu: float | None = None  # meiye serve and its workers
    pg_cpu: float | None = None  # the database's backends (a lower bound)
    latency: str = ""
    workers: int = 0

    @property
    def rate(self) -> float:
        return self.done / self.seconds

    def cpu_line(self, what: str) -> str:
        parts = [f"load generator ({what}) {loadgen.per_request(self.loadgen_cpu, self.done)}"]
        if self.server_cpu is not None:
            parts.append(f"server ({self.workers} worker(s)) {loadgen.per_request(self.server_cpu, self.done)}")
        parts.append(f"PostgreSQL {loadgen.per_request(self.pg_cpu, self.done)}")
        return "CPU per checkout: " + ", ".join(parts)


def checkout_body(job: Job) -> str:
    return json.dumps({"query": CHECKOUT, "variables": {"i": {"orderId": job.order_gid, "payments": [{"method": "STORED_VALUE", "cardId": job.card_gid}],
                                                             "idempotencyKey": f"bench-{uuid.uuid4().hex}"}}}, separators=(",", ":"))


async def paid_count(url: str, jobs: list[Job]) -> int:
    conn = await asyncpg.connect(**_pg_connect_kwargs(url))
    try:
        return await conn.fetchval("SELECT count(*) FROM orders WHERE id = ANY($1::bigint[]) AND status = 'PAID'", [j.order_pk for j in jobs])
    finally:
        await conn.close()


async def timed_graphql(args, server: Server, clients, d: Desk, jobs: list[Job]) -> tuple[Side, WaitSampler, list]:
    """The timed GraphQL side: wrk sending each order's checkout once, or the httpx clients."""
    url = args.database
    tree = loadgen.TreeCpu(server.process.pid).start()
    async with WaitSampler(url) as waits, loadgen.BackendCpu(lambda: asyncpg.connect(**_pg_connect_kwargs(url))) as pg:
        if args.load == "wrk":
            run = await asyncio.to_thread(
                loadgen.run_wrk, server.base_url, "/graphql", [checkout_body(j) for j in jobs], headers={"Authorization": f"Bearer {d.token}"},
                connections=args.clients, seconds=args.max_seconds, threads=args.wrk_threads,
            )
            errors = []
            if run.errors or run.socket_errors:
                errors = [f"{run.errors} error response(s), {run.socket_errors} socket error(s)", *run.samples]
            side = Side(run.seconds, 0, run.cpu_seconds, latency=f"p50 {run.p50_ms:.1f} ms, p99 {run.p99_ms:.1f} ms (wrk)")
        else:
            cpu = loadgen.own_cpu()
            seconds, _, errors = await graphql_checkouts(clients, d, jobs, args.max_seconds)
            side = Side(seconds, 0, loadgen.own_cpu() - cpu)
    side.server_cpu, side.pg_cpu = tree.stop(), pg.seconds
    side.workers = tree.workers
    side.done = await paid_count(url, jobs)  # what the database says, whatever the client counted
    if args.load == "wrk" and side.done < run.answered:
        errors.append(f"wrk had {run.answered} answers but only {side.done} orders are paid")
    return side, waits, errors


async def timed_reference(args, ref: Reference, jobs: list[Job], warmup: int, gql_done: int, recorded: list[str]) -> tuple[Side, WaitSampler]:
    url = args.database
    async with pg_connections(url, args.clients) as conns:
        ref.trace = []
        await reference_checkouts(conns[:1], ref, jobs[:1])
        if ref.trace != recorded:
            raise SystemExit("the asyncpg reference did not send the recorded statements")
        ref.trace = None
        await reference_checkouts(conns, ref, jobs[1:1 + warmup])
        note(f"timing {gql_done} asyncpg reference checkouts")
        cpu = loadgen.own_cpu()
        async with WaitSampler(url) as waits, loadgen.BackendCpu(lambda: asyncpg.connect(**_pg_connect_kwargs(url))) as pg:
            seconds, done = await reference_checkouts(conns, ref, jobs[1 + warmup:1 + warmup + gql_done], args.max_seconds)
        return Side(seconds, done, loadgen.own_cpu() - cpu, pg_cpu=pg.seconds), waits


async def run(args) -> int:
    url = args.database
    warmup = WARMUP_PER_CLIENT * args.clients
    await recreate_database(url, args.synchronous_commit)
    pg = await asyncpg.connect(**_pg_connect_kwargs(url))
    try:
        version = (await pg.fetchval("SHOW server_version")).split()[0]
        sync_commit = await pg.fetchval("SHOW synchronous_commit")
    finally:
        await pg.close()

    log_path = Path(tempfile.mkdtemp(prefix="meiye-bench-")) / "server.log"
    note(f"starting meiye serve --demo --workers {args.workers} on a fresh {make_url(url).database}")
    server = start_server(url, args.workers, log_path)
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=REQUEST_TIMEOUT) as http:
            d = await desk(http)
        async with http_clients(server.base_url, args.clients) as clients:
            note("preparing cards and orders (untimed)")
            gql_jobs = await prepare(clients, d, url, side="G", cards=args.cards, orders=1 + warmup + args.orders)
            ref_jobs = [] if args.skip_reference else await prepare(clients, d, url, side="R", cards=args.cards, orders=1 + warmup + args.orders)
            prepared = time.perf_counter() - _T0
            _, done, errors = await graphql_checkouts(clients, d, gql_jobs[1:1 + warmup])
            if errors:
                raise RuntimeError(f"warm-up checkouts failed: {errors[:3]}")
            recording = await record_checkout(url, d, gql_jobs[0])
            ref = None if args.skip_reference else Reference(recording, d)
            recorded = recording.all_texts
            note(f"recorded one checkout: {len(recorded)} statements; timing {args.orders} GraphQL checkouts ({args.load})")
            gql, gql_waits, errors = await timed_graphql(args, server, clients, d, gql_jobs[1 + warmup:])
    finally:
        code = server.stop()
    if errors:
        print(f"FAIL: GraphQL checkouts returned errors, e.g. {errors[:3]}")
        return 1
    if ref is not None:
        ref_side, ref_waits = await timed_reference(args, ref, ref_jobs, warmup, gql.done, recorded)

    note("meiye ledger verify")
    verify = await asyncio.to_thread(run_cli, "ledger", "verify", "--database", url)

    print(f"checkout benchmark: PostgreSQL {version} (synchronous_commit={sync_commit}), {os.cpu_count()} CPUs "
          f"(load average {os.getloadavg()[0]:.1f}), {args.clients} concurrent clients ({args.load}), {args.cards} cards per side, "
          f"meiye serve --workers {args.workers}")
    print(f"  one checkout = {len(recorded)} SQL statements in one transaction (+ BEGIN and COMMIT), the response from RETURNING")
    print(f"  GraphQL checkout over HTTP (meiye serve): {gql.rate:7.0f} checkouts/s  ({gql.done} paid in {gql.seconds:5.1f} s; "
          f"{gql.seconds * 1000 * args.clients / gql.done:6.1f} ms each{'; ' + gql.latency if gql.latency else ''})")
    print(f"      {gql.cpu_line(args.load)}")
    print(f"      {gql_waits.summary()}")
    if ref is not None:
        print(f"  asyncpg reference, the same statements:   {ref_side.rate:7.0f} checkouts/s  ({ref_side.done} in {ref_side.seconds:5.1f} s; "
              f"{ref_side.seconds * 1000 * args.clients / ref_side.done:6.1f} ms each)")
        print(f"      {ref_side.cpu_line('asyncpg, in this process')}")
        print(f"      {ref_waits.summary()}")
        print(f"  ratio GraphQL / asyncpg reference: {gql.rate / ref_side.rate:.0%}  (PERFORMANCE.md goal: >= 50 %)")
    else:
        print("  asyncpg reference skipped (--skip-reference)")
    print(f"  untimed setup {prepared:.0f} s; whole run {time.perf_counter() - _T0:.0f} s; server exit code {code}; "
          f"ledger verify: {'ok' if verify.returncode == 0 else 'BROKEN'}")
    if verify.returncode != 0:
        print(verify.stdout + verify.stderr)
        return 1
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description="GraphQL checkout vs. an asyncpg reference doing the same SQL")
    p.add_argument("--database", default=os.environ.get("MEIYE_BENCH_DATABASE_URL", DEFAULT_URL),
                   help=f"PostgreSQL URL, dropped and recreated (default $MEIYE_BENCH_DATABASE_URL or {DEFAULT_URL})")
    p.add_argument("--clients", type=int, default=16, help="concurrent clients (connections) on each side (default 16)")
    p.add_argument("--orders", type=int, default=1000, help="timed checkouts on each side (default 1000)")
    p.add_argument("--cards", type=int, default=32, help="members with a card on each side (default 32)")
    p.add_argument("--workers", type=int, default=1, help="`meiye serve --workers` (default 1)")
    p.add_argument("--max-seconds", type=float, default=30.0, help="stop each timed side after this long (default 30); "
                   "the reference then runs as many checkouts as the GraphQL side finished")
    p.add_argument("--synchronous-commit", choices=["on", "off"], help="set on the benchmark database (default: the server's setting)")
    p.add_argument("--load", choices=["wrk", "httpx"], help="the GraphQL side's load generator (default wrk when installed, else httpx)")
    p.add_argument("--wrk-threads", type=int, help="wrk's threads (default min(2, clients))")
    p.add_argument("--skip-reference", action="store_true", help="time the GraphQL side only, e.g. while the checkout's SQL no longer "
                   "matches EXPECTED and Reference")
    args = p.parse_args()
    if not args.database.startswith("postgresql"):
        p.error("the checkout benchmark runs on PostgreSQL")
    if args.load is None:
        args.load = "wrk" if loadgen.wrk_path() else "httpx"
        if args.load == "httpx":
            print(loadgen.INSTALL_HINT, file=sys.stderr)
    elif args.load == "wrk" and not loadgen.wrk_path():
        p.error(loadgen.INSTALL_HINT.split(";")[0])
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
