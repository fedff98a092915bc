"""The read bench's reference: a Starlette + asyncpg app answering the bench's two GraphQL reads with
the same JSON as `meiye serve`, by hand-written SQL and no GraphQL, SQLAlchemy or dataloader.

    MEIYE_BENCH_DSN=postgresql://postgres@127.0.0.1:5432/db uvicorn bench.read_reference:app --workers N

POST /graphql with the bench's `MemberRead` or `MemberPage` query (recognised by its operation name;
anything else is a 400). The work matches what the server must do for them: verify the staff token
(HS256, the server's own TokenSigner) and re-read that staff row by id (a deactivated account or a
bumped token version is refused, as the server does), then one statement per kind of thing: the
member, its stored-value cards with their two account balances, its count cards, its 21 latest
statement lines (20 and whether more follow). asyncpg prepares and caches each statement.
"""

from __future__ import annotations

import base64
import contextlib
import os

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from resolvers.settings import Settings
from resolvers.tokens import TokenSigner

STAFF = "SELECT brand_id, active, token_version FROM staff WHERE id = $1"
MEMBER = "SELECT id, member_no, name, tier, points FROM members WHERE id = $1 AND brand_id = $2"
CARDS = ("SELECT c.id, p.balance AS principal, g.balance AS gift, c.status FROM stored_value_cards c"
         " JOIN accounts p ON p.id = c.principal_account_id JOIN accounts g ON g.id = c.gift_account_id"
         " WHERE c.member_id = $1 ORDER BY c.id")
COUNT_CARDS = "SELECT id, sessions_left, sessions_total, expires_at, status FROM count_cards WHERE member_id = $1 ORDER BY id"
ENTRIES = ("SELECT id, kind, principal_delta, gift_delta, principal_after, gift_after, created_at FROM card_entries"
           " WHERE member_id = $1 ORDER BY id DESC LIMIT $2")
PAGE = "SELECT id, member_no, name, tier, points FROM members WHERE brand_id = $1 ORDER BY id DESC LIMIT $2"
PAGE_SIZE = 20

_settings = Settings.from_env(demo=True)
_signer = TokenSigner(_settings.secret_key, _settings.token_ttl_seconds)


def gid(type_name: str, pk: int) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


def cursor(pk: int) -> str:
    return base64.urlsafe_b64encode(f"c:{pk}".encode()).decode()


def member_node(m) -> dict:
    return {"id": gid("Member", m["id"]), "memberNo": m["member_no"], "name": m["name"], "tier": m["tier"], "points": m["points"]}


async def member_read(db, brand_id: int, variables: dict) -> dict:
    try:
        type_name, pk = base64.b64decode(variables["id"], validate=True).decode().split(":", 1)
        pk = int(pk)
    except (KeyError, TypeError, ValueError):
        return {"member": None}
    m = await db.fetchrow(MEMBER, pk, brand_id) if type_name == "Member" else None
    if m is None:
        return {"member": None}
    cards = await db.fetch(CARDS, pk)
    count_cards = await db.fetch(COUNT_CARDS, pk)
    entries = await db.fetch(ENTRIES, pk, PAGE_SIZE + 1)
    page = entries[:PAGE_SIZE]
    node = member_node(m)
    node["storedValueCards"] = [{"id": gid("StoredValueCard", c["id"]), "principal": c["principal"], "gift": c["gift"],
                                 "balance": c["principal"] + c["gift"], "status": c["status"]} for c in cards]
    node["countCards"] = [{"id": gid("CountCard", c["id"]), "remaining": c["sessions_left"], "sessionsTotal": c["sessions_total"],
                           "expiresAt": c["expires_at"].isoformat(), "status": c["status"]} for c in count_cards]
    node["transactions"] = {
        "edges": [{"cursor": cursor(e["id"]), "node": {
            "id": gid("MemberTransaction", e["id"]), "kind": e["kind"], "amount": e["principal_delta"] + e["gift_delta"],
            "principalAmount": e["principal_delta"], "giftAmount": e["gift_delta"], "balanceAfter": e["principal_after"] + e["gift_after"],
            "createdAt": e["created_at"].isoformat()}} for e in page],
        "pageInfo": {"hasNextPage": len(entries) > PAGE_SIZE, "endCursor": cursor(page[-1]["id"]) if page else None},
    }
    return {"member": node}


async def member_page(db, brand_id: int, _variables: dict) -> dict:
    rows = await db.fetch(PAGE, brand_id, PAGE_SIZE + 1)
    page = rows[:PAGE_SIZE]
    return {"members": {"edges": [{"cursor": cursor(r["id"]), "node": member_node(r)} for r in page],
                        "pageInfo": {"hasNextPage": len(rows) > PAGE_SIZE, "endCursor": cursor(page[-1]["id"]) if page else None}}}


OPERATIONS = {"MemberRead": member_read, "MemberPage": member_page}


def _json(payload: dict, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type="application/json")


async def graphql(request: Request) -> Response:
    try:
        body = orjson.loads(await request.body())
        work = OPERATIONS[body["query"].split(None, 2)[1].split("(")[0]]
    except (orjson.JSONDecodeError, KeyError, IndexError, AttributeError, TypeError):
        return _json({"errors": [{"message": "not one of the bench's reads"}]}, 400)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    claimed = _signer.staff_claims(token) if scheme.lower() == "bearer" else None
    if claimed is None:
        return _json({"data": None, "errors": [{"message": "unauthenticated"}]})
    actor, version = claimed
    async with request.app.state.pool.acquire() as db:
        row = await db.fetchrow(STAFF, actor.staff_id)
        if row is None or not row["active"] or row["token_version"] != version or row["brand_id"] != actor.brand_id:
            return _json({"data": None, "errors": [{"message": "unauthenticated"}]})
        return _json({"data": await work(db, actor.brand_id, body.get("variables") or {})})


@contextlib.asynccontextmanager
async def lifespan(app):
    app.state.pool = await asyncpg.create_pool(os.environ["MEIYE_BENCH_DSN"], min_size=1, max_size=int(os.environ.get("MEIYE_BENCH_POOL", "16")))
    try:
        yield
    finally:
        await app.state.pool.close()


app = Starlette(routes=[Route("/graphql", graphql, methods=["POST"])], lifespan=lifespan)
