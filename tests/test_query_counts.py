"""Lists resolve relations through dataloaders: the statement count of a page does not grow with it."""

from contextlib import ExitStack

from domain.prepared import watching_statements

MEMBERS_PAGE = """query($first: Int) { members(first: $first) { edges { node {
  id name phone tags registeredStore { name }
  storedValueCards { principal gift product { name topUpRules { threshold } } issuedStore { name } }
  transactions(first: 5) { edges { node { kind amount store { name } staff { name } card { id } } } }
} } } }"""


class StatementCounter:
    """The statements `engine` sends meanwhile, through SQLAlchemy or straight to the driver (domain.prepared)."""

    def __init__(self, engine):
        self.engine = engine
        self.count = 0
        self._stack = ExitStack()

    def _count(self, statement, _arguments):
        if not statement.lstrip().upper().startswith("BEGIN"):
            self.count += 1

    def __enter__(self):
        self._stack.enter_context(watching_statements(self.engine, self._count))
        return self

    def __exit__(self, *exc):
        self._stack.close()


async def statements_for_page(demo, engine, first: int) -> int:
    with StatementCounter(engine) as counter:
        data = await demo.gql(MEMBERS_PAGE, {"first": first}, as_="manager")
    assert len(data["members"]["edges"]) == first
    return counter.count


async def test_member_page_statement_count_does_not_grow_with_page_size(demo, engine):
    for i in range(24):
        member = await demo.register(name=f"会员{i}", store=demo.jingan if i % 2 else demo.xuhui, as_="owner")
        await demo.top_up(member["id"], 100_000 + i, as_="owner", store=demo.jingan if i % 3 else demo.xuhui,
                          product="金卡" if i % 2 else "银卡")
    small = await statements_for_page(demo, engine, 3)
    large = await statements_for_page(demo, engine, 20)
    assert small == large, (small, large)
    assert large <= 10
