"""Basic leaf fields answered without graphql-core's per-field machinery (schema.execution, issue 12)
answer exactly what graphql-core answers, errors and nulls included."""

import gc

import strawberry

from schema.execution import PlainLeafExecutionContext


@strawberry.type
class Line:
    amount: int
    label: str
    note: str | None
    must: str


@strawberry.type
class Query:
    @strawberry.field
    def lines(self) -> list[Line | None]:
        return [Line(amount=1, label="甲", note=None, must="x"), Line(amount=2**40, label="乙", note="备注", must=None)]  # type: ignore[arg-type]

    @strawberry.field
    def one(self) -> Line:
        return Line(amount=7, label="丙", note=None, must="y")


def schema(shortcut: bool) -> strawberry.Schema:
    return strawberry.Schema(Query, execution_context_class=PlainLeafExecutionContext if shortcut else None)


def answers(query: str) -> list:
    results = []
    for shortcut in (True, False):
        result = schema(shortcut).execute_sync(query)
        results.append((result.data, [(e.message, e.path) for e in result.errors or []]))
    return results


def test_same_data_and_errors_as_graphql_core():
    fast, plain = answers("{ lines { amount label note must } one { amount label } }")
    assert fast == plain
    data, errors = fast
    assert data == {"lines": [{"amount": 1, "label": "甲", "note": None, "must": "x"}, None], "one": {"amount": 7, "label": "丙"}}
    # 2^40 is no GraphQL Int: graphql-core's own error, with its path, and the item is null.
    assert [path for _, path in errors] == [["lines", 1, "amount"]]
    fast, plain = answers("{ one { __typename label kind: label note } lines { note } }")
    assert fast == plain and fast[0]["one"] == {"__typename": "Line", "label": "丙", "kind": "丙", "note": None}
    fast, plain = answers("{ lines { label must } }")
    assert fast == plain and fast[1] == [("Cannot return null for non-nullable field Line.must.", ["lines", 1, "must"])]


def test_a_new_schema_is_answered_from_its_own_fields():
    # Schemas come and go in a process (each test app builds its own): a field of a schema built
    # later must never be answered with what an earlier one knew about its fields.
    for _ in range(3):
        assert schema(True).execute_sync("{ one { label amount } }").data == {"one": {"label": "丙", "amount": 7}}
        gc.collect()

    @strawberry.type
    class Other:
        status: str
        code: str

    @strawberry.type
    class OtherQuery:
        @strawberry.field
        def other(self) -> Other:
            return Other(status="OK", code="A1")

    other = strawberry.Schema(OtherQuery, execution_context_class=PlainLeafExecutionContext)
    assert other.execute_sync("{ other { code status } }").data == {"other": {"code": "A1", "status": "OK"}}


@strawberry.interface
class Named:
    id: strawberry.ID


@strawberry.type
class Entry(Named):
    amount: int
    note: str | None


@strawberry.type
class Edge:
    cursor: str
    node: Entry


@strawberry.type
class Page:
    has_next: bool


@strawberry.type
class Connection:
    edges: list[Edge]
    page: Page
    total: int | None


def _entry(i: int, **changes) -> Entry:
    return Entry(**{"id": strawberry.ID(f"E{i}"), "amount": i * 100, "note": None, **changes})


@strawberry.type
class TreeQuery:
    @strawberry.field
    async def page(self, broken: str = "") -> Connection:
        nodes = [_entry(i) for i in range(3)]
        if broken == "null-amount":
            nodes[1] = _entry(1, amount=None)
        if broken == "big-amount":
            nodes[2] = _entry(2, amount=2**40)
        if broken == "wrong-type":
            nodes[0] = Line(amount=1, label="x", note=None, must="y")  # type: ignore[assignment]
        edges = [Edge(cursor=f"c{i}", node=n) for i, n in enumerate(nodes)]
        if broken == "tuple":
            edges = tuple(edges)  # type: ignore[assignment]
        if broken == "generator":
            edges = (e for e in edges)  # type: ignore[assignment]
        return Connection(edges=edges, page=Page(has_next=broken == ""), total=None if broken else 3)

    @strawberry.field
    async def entries(self) -> list[Entry | None]:
        return [_entry(7), None, _entry(8, amount=None)]


def tree_answers(query: str, variables: dict | None = None) -> list:
    import asyncio

    results = []
    for context_class in (PlainLeafExecutionContext, None):
        schema = strawberry.Schema(TreeQuery, types=[Entry], execution_context_class=context_class)
        result = asyncio.run(schema.execute(query, variable_values=variables))
        results.append((result.data, [(e.message, e.path) for e in result.errors or []]))
    return results


PAGE = """query($broken: String!) { page(broken: $broken) { __typename total
  edges { cursor node { __typename id amount note alias: amount } } page { hasNext } } }"""


def test_a_whole_connection_is_answered_as_graphql_core_answers_it():
    fast, plain = tree_answers(PAGE, {"broken": ""})
    assert fast == plain
    data, errors = fast
    assert errors == []
    assert data["page"]["edges"][1] == {"cursor": "c1", "node": {"__typename": "Entry", "id": "E1", "amount": 100, "note": None, "alias": 100}}
    assert data["page"]["__typename"] == "Connection" and data["page"]["total"] == 3 and data["page"]["page"] == {"hasNext": True}


def test_a_value_deep_in_a_connection_that_cannot_be_answered_is_graphql_cores_error():
    for broken, path in [("null-amount", ["page", "edges", 1, "node", "amount"]), ("big-amount", ["page", "edges", 2, "node", "amount"]),
                         ("wrong-type", ["page", "edges", 0, "node"])]:
        fast, plain = tree_answers(PAGE, {"broken": broken})
        assert fast == plain, broken
        data, errors = fast
        # A non-null field's error nulls everything up to the nearest nullable: here the root.
        assert data is None and [p for _, p in errors] == [path], (broken, errors)
    for broken in ("tuple", "generator"):
        fast, plain = tree_answers(PAGE, {"broken": broken})
        assert fast == plain and fast[1] == [] and [e["cursor"] for e in fast[0]["page"]["edges"]] == ["c0", "c1", "c2"]


def test_a_list_a_resolver_returned_is_answered_item_by_item_with_graphql_cores_nulls():
    fast, plain = tree_answers("{ entries { id amount } }")
    assert fast == plain
    assert fast[0] == {"entries": [{"id": "E7", "amount": 700}, None, None]}
    assert fast[1] == [("Cannot return null for non-nullable field Entry.amount.", ["entries", 2, "amount"])]


def test_a_connection_under_a_resolver_costs_graphql_core_no_field(monkeypatch):
    import asyncio

    from graphql.execution.executor import Executor

    seen = []
    real = Executor.execute_field
    monkeypatch.setattr(Executor, "execute_field", lambda self, parent, *rest: seen.append(parent.name) or real(self, parent, *rest))
    for context_class in (None, PlainLeafExecutionContext):
        seen.clear()
        schema = strawberry.Schema(TreeQuery, types=[Entry], execution_context_class=context_class)
        assert asyncio.run(schema.execute(PAGE, variable_values={"broken": ""})).errors is None
        if context_class is None:
            # graphql-core's own: the root, then each of the connection's 4 fields, 3 edges' 2, 3 nodes' 5 and the page's 1.
            assert sorted(set(seen)) == ["Connection", "Edge", "Entry", "Page", "TreeQuery"] and len(seen) == 1 + 4 + 3 * 2 + 3 * 5 + 1
        else:
            assert seen == ["TreeQuery"]


def test_a_document_with_skip_or_include_is_completed_for_its_own_variables():
    # Completers are shared between requests of one document only without directives: @include
    # on a variable must follow each request's value, in both directions and back. The parser
    # cache, as in the app, hands each request the same document.
    import asyncio

    from functools import partial

    from strawberry.extensions import ParserCache

    schema = strawberry.Schema(TreeQuery, types=[Entry], extensions=[partial(ParserCache, maxsize=8)], execution_context_class=PlainLeafExecutionContext)
    query = "query($with: Boolean!) { page { edges { node { id amount @include(if: $with) } } } }"
    for wanted in (True, False, True, False):
        data = asyncio.run(schema.execute(query, variable_values={"with": wanted})).data
        assert data["page"]["edges"][0]["node"] == ({"id": "E0", "amount": 0} if wanted else {"id": "E0"})
    shared = "{ page { edges { cursor node { amount } } } }"
    first, again = (asyncio.run(schema.execute(shared)) for _ in range(2))
    assert first.data == again.data and first.errors is None and again.data["page"]["edges"][2] == {"cursor": "c2", "node": {"amount": 200}}


def test_an_object_without_the_attribute_is_graphql_cores_error():
    # A type without is_type_of (no interface) given an object that lacks a field's attribute:
    # graphql-core's own error, at that field, not an exception out of the shortcut.
    @strawberry.type
    class Bare:
        code: str
        label: str | None

    class NotBare:
        code = "X"

    @strawberry.type
    class BareQuery:
        @strawberry.field
        def bare(self) -> Bare:
            return NotBare()  # type: ignore[return-value]

        @strawberry.field
        def bares(self) -> list[Bare]:
            return [Bare(code="A", label=None), NotBare()]  # type: ignore[list-item]

    results = []
    for context_class in (PlainLeafExecutionContext, None):
        result = strawberry.Schema(BareQuery, execution_context_class=context_class).execute_sync("{ bare { code label } bares { code label } }")
        results.append((result.data, [(e.message, e.path) for e in result.errors or []]))
    assert results[0] == results[1]
    # label is nullable: the error nulls it alone.
    assert results[0][0] == {"bare": {"code": "X", "label": None}, "bares": [{"code": "A", "label": None}, {"code": "X", "label": None}]}
    assert sorted(path for _, path in results[0][1]) == [["bare", "label"], ["bares", 1, "label"]]
