"""Access control found wanting by a hostile client (issue 7 §3, DESIGN.md §8), through the API:

- idempotency keys belong to their sender; a replay is checked for permission like the first call;
- a credit limit is set by the owner or the member's home-store manager only;
- deactivateStaff / reactivateStaff, and tokens from before either never work again;
- one login per request; login throttling per (username, address); unknown users answer alike.
"""

from __future__ import annotations


import httpx
import pytest
from sqlalchemy import select, update

from domain import idempotency
from domain.brands import staff as staff_accounts
from domain.brands import login_throttle
from domain.brands import stores as tenancy
from domain.db import read_transaction, write_transaction
from domain.errors import DomainError
from tests.support import CHECKOUT, TOP_UP, Demo, GraphQLClient, assert_ledger_ok, checkout, open_order
from tests.test_permissions import demo_ids, diff, mutation, snapshot

ERRORS = "errors { code field message }"
DEACTIVATE = mutation("deactivateStaff", "StaffAccountInput", "staff { id active }")
REACTIVATE = mutation("reactivateStaff", "StaffAccountInput", "staff { id active }")
SET_CREDIT = mutation("setCreditLimit", "SetCreditLimitInput", "member { id onAccount { creditLimit } }")
LOGIN = "mutation($u: String!, $p: String!) { staffLogin(input: {username: $u, password: $p}) { token errors { code field message } } }"


async def hire(demo: Demo, username: str, role: str = "RECEPTIONIST", store: str | None = None) -> str:
    data = await demo.gql(
        mutation("createStaff", "CreateStaffInput", "staff { id }"),
        {"i": {"username": username, "name": username, "role": role, "password": "hired-password", "storeId": store}}, as_="owner",
    )
    assert data["createStaff"]["errors"] == [], data
    demo.gql.tokens[username] = await demo.gql.login(username, "hired-password")
    return data["createStaff"]["staff"]["id"]


@pytest.fixture
async def xuhui_desk(demo) -> str:
    """A receptionist of 徐汇店 (the demo has desk staff at 静安店 only)."""
    await hire(demo, "xuhui-desk", store=demo.xuhui)
    return "xuhui-desk"


# ---------------------------------------------------------------------------------------------
# 1. Idempotency keys per sender, replays checked


async def test_another_stores_checkout_replayed_with_its_key_reveals_nothing(demo, engine, xuhui_desk):
    ids = await demo_ids(demo)
    order = await open_order(demo, [{"serviceId": ids.services["洗剪吹"]}], member_id=ids.member, store=demo.xuhui, as_=xuhui_desk)
    paid = await checkout(demo, order["id"], [{"method": "STORED_VALUE", "cardId": ids.card}], key="xh-1", as_=xuhui_desk)
    assert paid["errors"] == [] and paid["order"]["status"] == "PAID", paid

    before = await snapshot(engine)
    variables = {"i": {"orderId": order["id"], "payments": [{"method": "STORED_VALUE", "cardId": ids.card}], "idempotencyKey": "xh-1"}}
    body = await demo.gql.raw(CHECKOUT, variables, as_="reception")
    assert not body.get("errors"), body
    assert body["data"]["checkout"]["order"] is None, body
    assert [(e["code"], e["field"]) for e in body["data"]["checkout"]["errors"]] == [("STORE_FORBIDDEN", "orderId")], body
    assert await snapshot(engine) == before

    top_up = {"i": {"memberId": ids.member, "storeId": demo.xuhui, "cardId": ids.card, "amount": 10_000, "tender": "CASH", "idempotencyKey": "xh-2"}}
    first = (await demo.gql(TOP_UP, top_up, as_=xuhui_desk))["topUp"]
    assert first["errors"] == [] and first["amount"] == 10_000, first
    before = await snapshot(engine)
    body = await demo.gql.raw(TOP_UP, top_up, as_="reception")
    assert body["data"]["topUp"]["card"] is None and body["data"]["topUp"]["amount"] is None, body
    assert [(e["code"], e["field"]) for e in body["data"]["topUp"]["errors"]] == [("STORE_FORBIDDEN", "storeId")], body
    assert await snapshot(engine) == before, diff(before, await snapshot(engine))
    await assert_ledger_ok(engine)


async def test_two_desks_with_the_same_key_both_succeed(demo, engine):
    ids = await demo_ids(demo)
    first = await open_order(demo, [{"serviceId": ids.services["洗剪吹"]}], as_="reception")
    second = await open_order(demo, [{"serviceId": ids.services["日式美甲"]}], as_="manager")
    a = await checkout(demo, first["id"], [{"method": "CASH"}], key="desk-1", as_="reception")
    b = await checkout(demo, second["id"], [{"method": "CASH"}], key="desk-1", as_="manager")
    assert (a["errors"], a["order"]["id"], a["order"]["paid"]) == ([], first["id"], 8800), a
    assert (b["errors"], b["order"]["id"], b["order"]["paid"]) == ([], second["id"], 16800), b

    x = await demo.top_up(ids.member, 10_000, card_id=ids.card, key="desk-2", as_="reception")
    y = await demo.top_up(ids.member, 20_000, card_id=ids.card, key="desk-2", as_="manager")
    assert (x["errors"], x["amount"], y["errors"], y["amount"]) == ([], 10_000, [], 20_000), (x, y)
    # ¥1,200 from the seed, plus both top-ups: neither desk replayed the other's.
    assert y["card"]["balance"] == 120_000 + 10_000 + 20_000, y
    await assert_ledger_ok(engine)


async def test_the_same_sender_replays_or_is_told_the_key_is_reused(demo, engine):
    ids = await demo_ids(demo)
    order = await open_order(demo, [{"serviceId": ids.services["洗剪吹"]}], as_="reception")
    first = await checkout(demo, order["id"], [{"method": "CASH"}], key="k-1", as_="reception")
    again = await checkout(demo, order["id"], [{"method": "CASH"}], key="k-1", as_="reception")
    assert first["errors"] == [] and again == first, (first, again)
    other = await open_order(demo, [{"serviceId": ids.services["洗剪吹"]}], as_="reception")
    reused = await checkout(demo, other["id"], [{"method": "CASH"}], key="k-1", as_="reception")
    assert [(e["code"], e["field"]) for e in reused["errors"]] == [("IDEMPOTENCY_KEY_REUSED", "idempotencyKey")], reused

    topped = await demo.top_up(ids.member, 10_000, card_id=ids.card, key="k-2")
    replay = await demo.top_up(ids.member, 10_000, card_id=ids.card, key="k-2")
    assert topped["errors"] == [] and replay == topped, (topped, replay)
    different = await demo.top_up(ids.member, 20_000, card_id=ids.card, key="k-2")
    assert [e["code"] for e in different["errors"]] == ["IDEMPOTENCY_KEY_REUSED"], different
    assert replay["card"]["balance"] == 130_000
    await assert_ledger_ok(engine)


async def test_a_replay_is_checked_for_the_senders_current_store(demo, engine):
    """A manager moved to 徐汇店 replays the 静安店 checkout they made: refused, as the call itself would be."""
    ids = await demo_ids(demo)
    order = await open_order(demo, [{"serviceId": ids.services["洗剪吹"]}], as_="manager")
    paid = await checkout(demo, order["id"], [{"method": "CASH"}], key="move-1", as_="manager")
    assert paid["errors"] == [], paid
    topped = await demo.top_up(ids.member, 10_000, card_id=ids.card, key="move-2", as_="manager")
    assert topped["errors"] == [], topped
    async with write_transaction(engine) as db:
        xuhui = (await db.execute(select(tenancy.stores.c.id).where(tenancy.stores.c.name == "徐汇店"))).scalar_one()
        await db.execute(update(staff_accounts.staff).where(staff_accounts.staff.c.username == "manager").values(store_id=xuhui))
    replay = await checkout(demo, order["id"], [{"method": "CASH"}], key="move-1", as_="manager")
    assert replay["order"] is None and [(e["code"], e["field"]) for e in replay["errors"]] == [("STORE_FORBIDDEN", "orderId")], replay
    replay = await demo.top_up(ids.member, 10_000, card_id=ids.card, key="move-2", as_="manager")
    assert replay["card"] is None and [(e["code"], e["field"]) for e in replay["errors"]] == [("STORE_FORBIDDEN", "storeId")], replay


async def test_customer_keys_are_per_customer(demo, engine):
    """Two customers' identities with one key each get their own outcome; one customer reusing
    a key for another request is told so (the mini-program's callers use `once` the same way)."""
    async with write_transaction(engine) as db:
        brand_id = (await db.execute(select(tenancy.brands.c.id))).scalar_one()
    runs = []

    async def call(sender: str, request: dict):
        async with write_transaction(engine) as db:
            async def run():
                runs.append(sender)
                return {"n": len(runs)}

            return await idempotency.once(db, brand_id=brand_id, sender=sender, key="buy-1", operation="mp.topUp", request=request, run=run)

    one, two = idempotency.customer_sender(1), idempotency.customer_sender(2)
    assert await call(one, {"amount": 100}) == ({"n": 1}, False)
    assert await call(two, {"amount": 200}) == ({"n": 2}, False)
    assert await call(one, {"amount": 100}) == ({"n": 1}, True)
    with pytest.raises(DomainError) as refused:
        await call(two, {"amount": 300})
    assert refused.value.code == "IDEMPOTENCY_KEY_REUSED"
    assert runs == [one, two]


# ---------------------------------------------------------------------------------------------
# 2. Credit limits: the owner, or the manager of the member's home store


async def test_a_manager_sets_credit_only_for_their_own_stores_members(demo, engine):
    wang = (await demo.gql("{ members(search: \"王芳\") { edges { node { id registeredStore { id } } } } }", as_="owner"))["members"]["edges"][0]["node"]
    assert wang["registeredStore"]["id"] == demo.xuhui
    before = await snapshot(engine)
    body = await demo.gql(SET_CREDIT, {"i": {"memberId": wang["id"], "limit": 100_000}}, as_="manager")
    assert body["setCreditLimit"]["member"] is None
    assert [(e["code"], e["field"]) for e in body["setCreditLimit"]["errors"]] == [("STORE_FORBIDDEN", "memberId")], body
    assert await snapshot(engine) == before
    await hire(demo, "xuhui-manager", role="STORE_MANAGER", store=demo.xuhui)
    ok = await demo.gql(SET_CREDIT, {"i": {"memberId": wang["id"], "limit": 100_000}}, as_="xuhui-manager")
    assert ok["setCreditLimit"] == {"member": {"id": wang["id"], "onAccount": {"creditLimit": 100_000}}, "errors": []}, ok
    ok = await demo.gql(SET_CREDIT, {"i": {"memberId": wang["id"], "limit": 50_000}}, as_="owner")
    assert ok["setCreditLimit"]["errors"] == [] and ok["setCreditLimit"]["member"]["onAccount"] == {"creditLimit": 50_000}, ok


# ---------------------------------------------------------------------------------------------
# 3. Deactivation, and tokens from before it


async def test_deactivated_then_reactivated_keeps_old_tokens_dead(demo, engine):
    staff_id = await hire(demo, "temp-desk", store=demo.jingan)
    old = demo.gql.tokens["temp-desk"]
    assert (await demo.gql("{ viewer { username } }", token=old))["viewer"] == {"username": "temp-desk"}

    data = await demo.gql(DEACTIVATE, {"i": {"staffId": staff_id}}, as_="manager")
    assert data["deactivateStaff"] == {"staff": {"id": staff_id, "active": False}, "errors": []}, data
    body = await demo.gql.raw("{ viewer { username } }", token=old)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"], body
    login = await demo.gql(LOGIN, {"u": "temp-desk", "p": "hired-password"})
    assert [e["code"] for e in login["staffLogin"]["errors"]] == ["INVALID_CREDENTIALS"], login

    data = await demo.gql(REACTIVATE, {"i": {"staffId": staff_id}}, as_="owner")
    assert data["reactivateStaff"] == {"staff": {"id": staff_id, "active": True}, "errors": []}, data
    body = await demo.gql.raw("{ viewer { username } }", token=old)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"], "a token from before the deactivation works again"
    fresh = await demo.gql.login("temp-desk", "hired-password")
    assert (await demo.gql("{ viewer { username } }", token=fresh))["viewer"] == {"username": "temp-desk"}

    log = await demo.gql("{ auditLog(first: 5) { edges { node { action entityId before after staff { id } } } } }", as_="owner")
    actions = [(e["node"]["action"], e["node"]["before"], e["node"]["after"]) for e in log["auditLog"]["edges"][:2]]
    assert actions == [("staff.reactivate", {"active": False}, {"active": True}), ("staff.deactivate", {"active": True}, {"active": False})], log


async def test_a_new_password_ends_older_tokens(demo, engine):
    staff_id = await hire(demo, "pw-desk", store=demo.jingan)
    old = demo.gql.tokens["pw-desk"]
    from domain.brands import staff_admin
    from resolvers.ids import parse_global_id

    async with write_transaction(engine) as db:
        owner = await staff_accounts.load_actor(db, (await db.execute(select(staff_accounts.staff.c.id).where(staff_accounts.staff.c.username == "owner"))).scalar_one())
        await staff_admin.set_password(db, owner, staff_id=parse_global_id(staff_id)[1], password="another-password")
    body = await demo.gql.raw("{ viewer { username } }", token=old)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"], body
    assert await demo.gql.login("pw-desk", "another-password")


@pytest.mark.parametrize(
    "caller, target, code",
    [
        ("owner", "owner", "CANNOT_DEACTIVATE_SELF"),
        ("manager", "manager", "CANNOT_DEACTIVATE_SELF"),
        ("manager", "finance", "STORE_FORBIDDEN"),
        ("manager", "xuhui-desk", "STORE_FORBIDDEN"),
        ("manager", "jingan-manager", "ROLE_FORBIDDEN"),
    ],
)
async def test_who_may_deactivate_whom(caller, target, code, demo, engine, xuhui_desk):
    await hire(demo, "jingan-manager", role="STORE_MANAGER", store=demo.jingan)
    staff = {s["username"]: s["id"] for s in (await demo.gql("{ staffMembers { id username } }", as_="owner"))["staffMembers"]}
    before = await snapshot(engine)
    data = await demo.gql(DEACTIVATE, {"i": {"staffId": staff[target]}}, as_=caller)
    assert data["deactivateStaff"]["staff"] is None
    assert [(e["code"], e["field"]) for e in data["deactivateStaff"]["errors"]] == [(code, "staffId")], data
    assert await snapshot(engine) == before


async def test_the_owner_deactivates_a_manager_and_another_brand_cannot(demo, engine):
    staff = {s["username"]: s["id"] for s in (await demo.gql("{ staffMembers { id username } }", as_="owner"))["staffMembers"]}
    data = await demo.gql(DEACTIVATE, {"i": {"staffId": staff["manager"]}}, as_="owner")
    assert data["deactivateStaff"] == {"staff": {"id": staff["manager"], "active": False}, "errors": []}, data
    body = await demo.gql.raw("{ viewer { id } }", as_="manager")
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]


# ---------------------------------------------------------------------------------------------
# 4. Login: one per request, throttled per (username, address), unknown users alike


async def test_several_logins_in_one_request_check_nothing(demo, engine):
    before = await snapshot(engine)
    for document in (
        'mutation { a: staffLogin(input: {username: "owner", password: "x1"}) { token } b: staffLogin(input: {username: "owner", password: "meiye-demo"}) { token } }',
        'mutation { ...A ...B } fragment A on Mutation { a: staffLogin(input: {username: "owner", password: "x"}) { token } } '
        'fragment B on Mutation { b: staffLogin(input: {username: "owner", password: "y"}) { token } }',
    ):
        body = await demo.gql.raw(document)
        assert body.get("data") is None, body
        assert [e["extensions"]["code"] for e in body["errors"]] == ["ONE_LOGIN_PER_REQUEST"], body
    assert await snapshot(engine) == before, "a refused multi-login counted failures"


def client_at(app, address: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 40000)), base_url="http://meiye.test")


async def test_a_stranger_cannot_lock_the_owner_out(demo, app, engine):
    async with client_at(app, "203.0.113.9") as http:
        stranger = GraphQLClient(http)
        codes = []
        for _ in range(12):
            codes.append((await stranger(LOGIN, {"u": "owner", "p": "guess-guess"}))["staffLogin"]["errors"][0]["code"])
        assert codes[:5] == ["INVALID_CREDENTIALS"] * 5 and set(codes[5:]) == {"LOGIN_THROTTLED"}, codes
        # Even the right password waits, from the stranger's address: it is not checked.
        throttled = (await stranger(LOGIN, {"u": "owner", "p": "meiye-demo"}))["staffLogin"]
        assert throttled["token"] is None and [e["code"] for e in throttled["errors"]] == ["LOGIN_THROTTLED"], throttled
    # The owner at the desk signs in as ever.
    assert await demo.gql.login("owner")


async def test_unknown_users_and_wrong_passwords_answer_alike(demo, app):
    async with client_at(app, "198.51.100.7") as http:
        gql = GraphQLClient(http)
        answers = {}
        for username in ("owner", "nobody-here"):
            seen = []
            for _ in range(7):
                seen.append((await gql(LOGIN, {"u": username, "p": "wrong-password"}))["staffLogin"])
            answers[username] = [(r["token"], [(e["code"], e["field"], e["message"].split("请")[0]) for e in r["errors"]]) for r in seen]
        assert answers["owner"] == answers["nobody-here"], answers
        assert answers["owner"][0] == (None, [("INVALID_CREDENTIALS", None, "用户名或密码错误")])


async def test_an_address_spraying_usernames_is_throttled(demo, app, engine):
    async with client_at(app, "192.0.2.44") as http:
        gql = GraphQLClient(http)
        for i in range(login_throttle.ADDRESS_LIMIT):
            result = (await gql(LOGIN, {"u": f"user{i}", "p": "wrong-password"}))["staffLogin"]
            assert [e["code"] for e in result["errors"]] == ["INVALID_CREDENTIALS"], (i, result)
        result = (await gql(LOGIN, {"u": "reception", "p": "meiye-demo"}))["staffLogin"]
        assert [e["code"] for e in result["errors"]] == ["LOGIN_THROTTLED"], result
    assert await demo.gql.login("reception")


async def test_a_success_forgets_the_pairs_failures(demo, app):
    async with client_at(app, "192.0.2.50") as http:
        gql = GraphQLClient(http)
        for _ in range(4):
            assert (await gql(LOGIN, {"u": "finance", "p": "nope-nope"}))["staffLogin"]["errors"][0]["code"] == "INVALID_CREDENTIALS"
        assert (await gql(LOGIN, {"u": "finance", "p": "meiye-demo"}))["staffLogin"]["errors"] == []
        for _ in range(4):
            assert (await gql(LOGIN, {"u": "finance", "p": "nope-nope"}))["staffLogin"]["errors"][0]["code"] == "INVALID_CREDENTIALS"


def test_pair_waits_double_up_to_a_cap():
    waits = [login_throttle.pair_wait(n).total_seconds() for n in range(1, 14)]
    assert waits == [0, 0, 0, 0, 15, 30, 60, 120, 240, 480, 900, 900, 900]


async def test_many_addresses_failing_one_account_only_slow_it(engine):
    async with write_transaction(engine) as db:
        for i in range(login_throttle.ACCOUNT_SLOW_AFTER):
            await login_throttle.record_failure(db, username="owner", address=f"10.1.0.{i}")
    async with read_transaction(engine) as db:
        verdict = await login_throttle.check(db, username="owner", address="10.9.9.9")
        assert verdict == login_throttle.Verdict(wait_seconds=0, slow_seconds=login_throttle.ACCOUNT_DELAY_SECONDS)
        assert await login_throttle.check(db, username="manager", address="10.9.9.9") == login_throttle.Verdict(0, 0)


def test_forwarded_for_is_believed_only_from_a_trusted_proxy():
    from resolvers.client_address import client_address

    class Request:
        def __init__(self, peer, forwarded):
            self.client = type("C", (), {"host": peer})()
            self.headers = {"x-forwarded-for": forwarded} if forwarded else {}

    assert client_address(Request("203.0.113.1", "1.2.3.4")) == "203.0.113.1"
    assert client_address(Request("10.0.0.2", "1.2.3.4, 198.51.100.3"), ("10.0.0.2",)) == "198.51.100.3"
    assert client_address(Request("10.0.0.2", "1.2.3.4, 10.0.0.2"), ("10.0.0.2",)) == "1.2.3.4"
    assert client_address(Request("10.0.0.2", None), ("10.0.0.2",)) == "10.0.0.2"


# ---------------------------------------------------------------------------------------------
# 5. node(id) / nodes(ids)

NODE = "query($id: ID!) { node(id: $id) { __typename id } }"
NODES = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"


async def one_of_each(demo: Demo, engine) -> dict[str, str]:
    """A global id of every staff-schema type that has one, made as the owner at 静安店."""
    ids = await demo_ids(demo)
    bought = await open_order(demo, [{"countCardProductId": ids.count_card_products["面部清洁10次卡"]}, {"productId": ids.retail["玫瑰精华水"]}],
                              member_id=ids.member, as_="owner")
    paid = await checkout(demo, bought["id"], [{"method": "CASH"}], as_="owner")
    assert paid["errors"] == [], paid
    refund = await demo.gql(
        mutation("refundOrder", "RefundOrderInput", "refund { id }"),
        {"i": {"orderId": bought["id"], "reason": "退货", "idempotencyKey": "node-refund", "lines": [{"lineId": bought["lines"][1]["id"], "quantity": 1}]}},
        as_="owner",
    )
    assert refund["refundOrder"]["errors"] == [], refund
    data = await demo.gql(
        """query($id: ID!) { brand { id } services { id } storedValueCardProducts { id } countCardProducts { id } retailProducts { id }
             staffMembers { id username } auditLog(first: 1) { edges { node { id } } }
             member(id: $id) { id storedValueCards { id } countCards { id } transactions(first: 1) { edges { node { id } } } } }""",
        {"id": ids.member}, as_="owner",
    )
    member = data["member"]
    return {
        "Brand": data["brand"]["id"], "Store": demo.jingan, "Staff": next(s["id"] for s in data["staffMembers"] if s["username"] == "manager"),
        "Service": data["services"][0]["id"], "StoredValueCardProduct": data["storedValueCardProducts"][0]["id"],
        "CountCardProduct": data["countCardProducts"][0]["id"], "RetailProduct": data["retailProducts"][0]["id"],
        "Member": member["id"], "StoredValueCard": member["storedValueCards"][0]["id"], "CountCard": member["countCards"][0]["id"],
        "MemberTransaction": member["transactions"]["edges"][0]["node"]["id"], "Order": bought["id"], "OrderLine": bought["lines"][0]["id"],
        "Refund": refund["refundOrder"]["refund"]["id"], "AuditEntry": data["auditLog"]["edges"][0]["node"]["id"],
    }


# What each role may refetch of one_of_each (all at 静安店): the roles of each type's own query.
HIDDEN = {
    "owner": set(),
    "manager": set(),
    "reception": {"Staff", "AuditEntry"},
    "finance": {"Staff"},
    "technician": {"Staff", "StoredValueCard", "MemberTransaction", "Order", "OrderLine", "Refund", "AuditEntry"},
    "marketer": {"Staff", "StoredValueCard", "MemberTransaction", "Order", "OrderLine", "Refund", "AuditEntry"},
}


def test_every_type_with_a_global_id_can_be_refetched():
    from resolvers.nodes import STAFF_TYPES
    from schema.root import build_staff_schema

    schema = build_staff_schema()._schema
    implementing = {t.name for t in schema.get_possible_types(schema.type_map["Node"])}
    assert implementing == set(STAFF_TYPES), implementing ^ set(STAFF_TYPES)


async def test_node_answers_each_role_what_its_own_query_would(demo, engine):
    made = await one_of_each(demo, engine)
    for caller, hidden in HIDDEN.items():
        data = await demo.gql(NODES, {"ids": list(made.values())}, as_=caller)
        got = {t: (n["__typename"], n["id"]) if n else None for t, n in zip(made, data["nodes"])}
        assert got == {t: None if t in hidden else (t, gid) for t, gid in made.items()}, (caller, got)
    one = await demo.gql(NODE, {"id": made["Order"]}, as_="reception")
    assert one["node"] == {"__typename": "Order", "id": made["Order"]}


async def test_node_never_tells_missing_from_not_yours(demo, engine, xuhui_desk):
    made = await one_of_each(demo, engine)
    from resolvers.ids import parse_global_id, to_global_id

    missing = [to_global_id(t, parse_global_id(g)[1] + 10_000) for t, g in made.items()]
    garbage = ["", "bm90LWFuLWlk", to_global_id("Payment", 1), to_global_id("Nope", 1), "%%%"]
    data = await demo.gql(NODES, {"ids": missing + garbage}, as_="owner")
    assert data["nodes"] == [None] * (len(missing) + len(garbage))
    # 徐汇店's desk sees 静安店's orders, refunds and staff as if they did not exist.
    data = await demo.gql(NODES, {"ids": [made["Order"], made["OrderLine"], made["Refund"], made["Staff"]]}, as_=xuhui_desk)
    assert data["nodes"] == [None] * 4


async def test_nodes_is_capped(demo):
    body = await demo.gql.raw(NODES, {"ids": [demo.jingan] * 101}, as_="owner")
    assert [(e["extensions"]["code"], e["extensions"]["field"]) for e in body["errors"]] == [("TOO_MANY", "ids")], body
    assert len((await demo.gql(NODES, {"ids": [demo.jingan] * 100}, as_="owner"))["nodes"]) == 100
    body = await demo.gql.raw(NODE, {"id": demo.jingan})
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]


async def customer_token(engine, settings, member_gid: str | None, open_id: str) -> str:
    from domain.members import customers
    from domain.members.customers import Channel
    from resolvers.ids import parse_global_id
    from resolvers.tokens import TokenSigner

    async with write_transaction(engine) as db:
        brand_id = (await db.execute(select(tenancy.brands.c.id))).scalar_one()
        customer = await customers.login(db, brand_id=brand_id, channel=Channel.WECHAT, app_id="wx-test", open_id=open_id)
        if member_gid:
            await db.execute(update(customers.customer_identities).where(customers.customer_identities.c.id == customer.identity_id)
                             .values(member_id=parse_global_id(member_gid)[1]))
    return TokenSigner(settings.secret_key, 600).customer_token(customer.identity_id, brand_id)


async def test_a_customer_refetches_only_their_own(demo, engine, settings, client):
    made = await one_of_each(demo, engine)
    mp = GraphQLClient(client.http, path="/mp/graphql")
    mine = await customer_token(engine, settings, made["Member"], "o_mine")
    other_member = await demo.register(name="别人", as_="owner")
    theirs = await customer_token(engine, settings, other_member["id"], "o_theirs")

    own = ["Member", "StoredValueCard", "CountCard", "Store", "CountCardProduct"]
    expected_types = {"Member": "Me", "StoredValueCard": "MyStoredValueCard", "CountCard": "MyCountCard", "Store": "Store",
                      "CountCardProduct": "CountCardProduct"}
    data = await mp(NODES, {"ids": [made[t] for t in own]}, token=mine)
    assert [(n["__typename"], n["id"]) for n in data["nodes"]] == [(expected_types[t], made[t]) for t in own], data
    staff_only = [made[t] for t in made if t not in own]
    assert (await mp(NODES, {"ids": staff_only}, token=mine))["nodes"] == [None] * len(staff_only)
    # Another customer: the brand's stores and products, nothing of 张小美's.
    data = await mp(NODES, {"ids": [made[t] for t in own]}, token=theirs)
    assert [n["__typename"] if n else None for n in data["nodes"]] == [None, None, None, "Store", "CountCardProduct"], data
    body = await mp.raw(NODE, {"id": made["Member"]})
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]


# ---------------------------------------------------------------------------------------------
# 6. Introspection and GraphiQL by mode

SCHEMA_PROBE = "{ __schema { queryType { name } } }"
TYPE_PROBE = '{ __type(name: "Query") { name } }'


@pytest.fixture
async def production(settings, engine):
    """The app as in production, on the test database (its own secrets; the demo accounts' passwords still work)."""
    from dataclasses import replace

    from schema.app import create_app

    prod = replace(settings, env="production", secret_key="p" * 40, data_key="d" * 40)
    app = create_app(prod, engine=engine, platforms=object())
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://meiye.test") as http:
            yield http


def codes(body: dict) -> list[str]:
    return [(e.get("extensions") or {}).get("code") for e in body.get("errors") or []]


async def test_production_introspection_only_for_signed_in_staff(demo, production):
    gql = GraphQLClient(production)
    for probe in (SCHEMA_PROBE, TYPE_PROBE):
        body = await gql.raw(probe)
        assert body.get("data") is None and codes(body) == ["INTROSPECTION_DISABLED"], body
        mp = await production.post("/mp/graphql", json={"query": probe})
        assert mp.status_code == 200 and codes(mp.json()) == ["INTROSPECTION_DISABLED"], mp.text
    assert (await gql("{ __typename }")) == {"__typename": "Query"}
    # A token of the development secret is no sign-in here.
    body = await gql.raw(SCHEMA_PROBE, as_="owner", token=demo.gql.tokens["owner"])
    assert codes(body) == ["INTROSPECTION_DISABLED"], body
    token = await gql.login("technician")
    assert (await gql(SCHEMA_PROBE, token=token)) == {"__schema": {"queryType": {"name": "Query"}}}
    mp = await production.post("/mp/graphql", json={"query": SCHEMA_PROBE}, headers={"authorization": f"Bearer {token}"})
    assert codes(mp.json()) == ["INTROSPECTION_DISABLED"], mp.text


async def test_development_introspection_for_anyone(client):
    assert (await client.http.post("/graphql", json={"query": SCHEMA_PROBE})).json() == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
    assert (await client.http.post("/mp/graphql", json={"query": SCHEMA_PROBE})).json() == {"data": {"__schema": {"queryType": {"name": "Query"}}}}


async def test_graphiql_in_development_never_in_production(client, production):
    for path in ("/graphql", "/mp/graphql"):
        page = await client.http.get(path, headers={"accept": "text/html"})
        assert page.status_code == 200 and "graphiql" in page.text.lower(), page.text[:200]
        # A query in a GET never runs, IDE or not.
        refused = await client.http.get(path, params={"query": "{ __typename }"}, headers={"accept": "application/json"})
        assert refused.status_code >= 400 and "__typename" not in refused.text.replace("%7B", ""), refused.text
        assert (await production.get(path, headers={"accept": "text/html"})).status_code == 405
        assert (await production.get(path, params={"query": "{ __typename }"})).status_code == 405


@pytest.mark.parametrize("username, password, refusal", [
    ("own\x00er", "meiye-demo", ("INVALID_TEXT", "username")),
    ("\udfffowner", "x", 400),
    ("owner", "bad\udfff", 400),
    ("张" * 300, "\x00", ("INVALID_TEXT", "password")),
])
async def test_unstorable_login_text_is_refused_the_same_on_both_databases(username, password, refusal, demo, client):
    """Text no account can have is refused before any account is looked up: a lone surrogate by the
    body check (400), a control character by the text check (INVALID_TEXT on the field). Neither
    tells whether a username exists, and no failure is counted against the owner."""
    import json

    # json.dumps escapes lone surrogates as \\udfff, as a hostile client would send them.
    body = json.dumps({"query": LOGIN, "variables": {"u": username, "p": password}})
    response = await client.http.post("/graphql", content=body, headers={"content-type": "application/json"})
    if refusal == 400:
        assert response.status_code == 400 and response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST", response.text
    else:
        assert response.status_code == 200, response.text
        result = response.json()["data"]["staffLogin"]
        assert result["token"] is None and [(e["code"], e["field"]) for e in result["errors"]] == [refusal], result
    assert (await client.login("owner"))
