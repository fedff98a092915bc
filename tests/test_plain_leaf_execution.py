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
