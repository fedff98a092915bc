"""A request reads through one pooled connection (resolvers.request_db, issue 12): the actor's row,
every root field and every dataloader batch share it, concurrent requests each have their own, and
it is back in the pool when the request ends, however it ended."""

import asyncio

from sqlalchemy import event

from tests.support import checkout, open_order

MEMBER_READ = """query($id: ID!) { member(id: $id) {
  id name phone
  storedValueCards { balance principal gift product { name } issuedStore { name } }
  countCards { remaining product { name } }
  transactions(first: 20) { edges { node { kind amount balanceAfter store { name } card { id } } } }
} }"""

MEMBERS_PAGE = """{ members(first: 20) { edges { node {
  id name tags registeredStore { name }
  storedValueCards { principal gift product { name } }
  countCards { remaining }
  transactions(first: 5) { edges { node { kind amount } } }
} } } }"""


class PoolWatch:
    """Connections checked out of the engine's pool while active, and the most out at once."""

    def __init__(self, engine) -> None:
        self.pool = engine.sync_engine.pool
        self.checkouts = 0
        self.out = 0
        self.most_out = 0

    def _checkout(self, *_args) -> None:
        self.checkouts += 1
        self.out += 1
        self.most_out = max(self.most_out, self.out)

    def _checkin(self, *_args) -> None:
        self.out -= 1

    def __enter__(self) -> "PoolWatch":
        event.listen(self.pool, "checkout", self._checkout)
        event.listen(self.pool, "checkin", self._checkin)
        return self

    def __exit__(self, *exc) -> None:
        event.remove(self.pool, "checkout", self._checkout)
        event.remove(self.pool, "checkin", self._checkin)


async def member_with_history(demo) -> str:
    member = await demo.register(name="一连接", as_="owner")
    for i in range(6):
        assert (await demo.top_up(member["id"], 10_000 + i, product="金卡" if i % 2 else "银卡", as_="owner"))["errors"] == []
    for product in list(demo.count_card_products.values())[:2]:
        order = await open_order(demo, [{"countCardProductId": product}], member_id=member["id"], as_="owner")
        assert (await checkout(demo, order["id"], [{"method": "CASH"}], as_="owner"))["errors"] == []
    return member["id"]


async def test_a_member_read_takes_one_connection(demo, engine):
    member_id = await member_with_history(demo)
    with PoolWatch(engine) as watch:
        data = await demo.gql(MEMBER_READ, {"id": member_id}, as_="manager")
    member = data["member"]
    assert len(member["storedValueCards"]) == 2 and len(member["countCards"]) == 2
    assert len(member["transactions"]["edges"]) == 6
    assert watch.checkouts == 1, watch.checkouts
    assert watch.out == 0  # given back when the request ended


async def test_a_members_page_takes_one_connection(demo, engine):
    await member_with_history(demo)
    for i in range(22):
        member = await demo.register(name=f"页{i}", as_="owner")
        assert (await demo.top_up(member["id"], 10_000, as_="owner"))["errors"] == []
    with PoolWatch(engine) as watch:
        data = await demo.gql(MEMBERS_PAGE, as_="manager")
    assert len(data["members"]["edges"]) == 20
    assert watch.checkouts == 1, watch.checkouts
    assert watch.out == 0


async def test_concurrent_requests_each_have_their_own(demo, engine):
    member_id = await member_with_history(demo)
    with PoolWatch(engine) as watch:
        results = await asyncio.gather(*[demo.gql(MEMBER_READ, {"id": member_id}, as_="manager") for _ in range(4)])
    assert all(len(r["member"]["transactions"]["edges"]) == 6 for r in results)
    assert watch.checkouts == 4, watch.checkouts
    assert watch.out == 0


async def test_the_connection_goes_back_after_errors(demo, engine):
    member_id = await member_with_history(demo)
    with PoolWatch(engine) as watch:
        # A technician may read the member but not its money: FORBIDDEN on those fields, the rest answers.
        body = await demo.gql.raw(MEMBER_READ, {"id": member_id}, as_="technician")
        assert body["data"]["member"]["name"] == "一连接" and body["errors"]
        # A bad cursor: a top-level error from inside a field.
        body = await demo.gql.raw("{ members(first: 5, after: \"nonsense\") { edges { node { id } } } }", as_="manager")
        assert body["errors"]
        # No token at all: refused before any read of the member.
        body = await demo.gql.raw(MEMBER_READ, {"id": member_id})
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert watch.checkouts == 2, watch.checkouts  # the anonymous request never needed one
    assert watch.out == 0


async def test_a_mutation_never_holds_two_connections(demo, engine):
    member_id = await member_with_history(demo)
    with PoolWatch(engine) as watch:
        done = await demo.top_up(member_id, 10_000, as_="owner")
    assert done["errors"] == [] and done["card"]["balance"] > 0, done
    assert watch.most_out == 1, watch.most_out
    assert watch.out == 0


async def test_a_deactivated_account_stops_at_its_next_request(demo):
    """The actor is read through the request's connection, not cached across requests."""
    staff_id = demo.staff["reception"]
    assert (await demo.gql("{ members(first: 1) { edges { node { id } } } }", as_="reception"))["members"] is not None
    data = await demo.gql(
        "mutation($i: StaffAccountInput!) { deactivateStaff(input: $i) { errors { code } } }", {"i": {"staffId": staff_id}}, as_="owner"
    )
    assert data["deactivateStaff"]["errors"] == []
    body = await demo.gql.raw("{ members(first: 1) { edges { node { id } } } }", as_="reception")
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_concurrent_tasks_share_it_one_statement_at_a_time(engine):
    from sqlalchemy import text

    from resolvers.request_db import RequestConnection, RequestFinished

    reads = RequestConnection(engine)
    with PoolWatch(engine) as watch:
        values = await asyncio.gather(*[reads.db.scalar(text(f"SELECT {i}")) for i in range(10)])
        assert values == list(range(10))
        await reads.close()
    assert (watch.checkouts, watch.out) == (1, 0)
    try:
        await reads.db.scalar(text("SELECT 1"))
    except RequestFinished:
        pass
    else:
        raise AssertionError("a read after the request ended must not take a connection again")


async def test_root_fields_resolving_together_read_the_actor_once(demo, engine):
    from domain.prepared import watching_statements

    first = await demo.register(name="根字段一", as_="owner")
    second = await demo.register(name="根字段二", as_="owner")
    sent: list[str] = []
    query = "query($a: ID!, $b: ID!) { a: member(id: $a) { name } b: member(id: $b) { name } viewer { id } }"
    with watching_statements(engine, lambda sql, _args: sent.append(sql)):
        data = await demo.gql(query, {"a": first["id"], "b": second["id"]}, as_="owner")
    assert (data["a"]["name"], data["b"]["name"]) == ("根字段一", "根字段二")
    assert sum("FROM staff" in sql and "staff.id =" in sql for sql in sent) == 1, sent
