"""A GraphQL POST runs the request pipeline without Strawberry's extension runner
(schema.graphql_http, schema.pipeline.execute_post, issue 12): it answers what Strawberry's own
`Schema.execute` answers, data, errors, messages, paths and codes, for every kind of request."""

import orjson
import pytest
from strawberry.http import process_result
from strawberry.schema.exceptions import CannotGetOperationTypeError

from resolvers.context import Context
from schema.graphql_http import POST_OPERATIONS
from schema.pipeline import lean_pipeline

DEEP = "{ viewer { store { brand { stores { brand { stores { brand { stores { brand { stores { brand { name } } } } } } } } } } } }"

CASES = [
    ("a plain read", "{ viewer { id name role } stores { name } }", None, None, "owner"),
    ("a syntax error", "{ viewer { id ", None, None, "owner"),
    ("an unknown field", "{ nope }", None, None, "owner"),
    ("a variable of the wrong type", "query($f: Int) { members(first: $f) { edges { cursor } } }", {"f": "x"}, None, "owner"),
    ("a missing variable", "query($id: ID!) { member(id: $id) { id } }", {}, None, "owner"),
    ("a field the role may not read", "query($id: ID!) { member(id: $id) { name storedValueCards { balance } } }", "member", None, "technician"),
    ("no token", "{ stores { id } }", None, None, None),
    ("too deep", DEEP, None, None, "owner"),
    ("two operations, no name", "query A { viewer { id } } query B { stores { id } }", None, None, "owner"),
    ("two operations, one named", "query A { viewer { id } } query B { stores { id } }", None, "B", "owner"),
    ("a control character in a text argument",
     'mutation { registerMember(input: {name: "a\\u0001b", phone: "13500000001", storeId: "U3RvcmU6MQ==", consent: true}) { member { id } errors { code field } } }',
     None, None, "reception"),
    ("a bad cursor", "query($id: ID!) { member(id: $id) { transactions(first: 2, after: \"zz\") { edges { cursor } } } }", "member", None, "owner"),
]


def staff_endpoint(app):
    guard = app.graphql_posts["/graphql"].app  # Observability(GraphQLBodyGuard(endpoint))
    return guard.app


@pytest.mark.parametrize("name,query,variables,operation,role", CASES, ids=[c[0] for c in CASES])
async def test_a_post_answers_as_strawberrys_execute(app, demo, name, query, variables, operation, role):
    endpoint = staff_endpoint(app)
    assert lean_pipeline(endpoint.schema) is not None
    if variables == "member":
        variables = {"id": (await demo.register(name="比对", as_="owner"))["id"]}
    token = demo.gql.tokens[role] if role else None
    headers = {"authorization": f"Bearer {token}"} if token else {}
    body = {"query": query, "variables": variables, "operationName": operation}
    response = await demo.gql.http.post("/graphql", json=body, headers=headers)
    assert response.status_code == 200

    context = Context(endpoint._services_ref["services"], authorization=headers.get("authorization"), accept_language=None)
    try:
        expected = await endpoint.schema.execute(query, variables, context_value=context, operation_name=operation,
                                                 allowed_operation_types=POST_OPERATIONS)
    finally:
        await context.close()
    assert response.json() == orjson.loads(endpoint.encode_json(process_result(expected))), name


async def test_an_unknown_operation_is_the_same_refusal(app, demo):
    endpoint = staff_endpoint(app)
    context = Context(endpoint._services_ref["services"], authorization=None, accept_language=None)
    with pytest.raises(CannotGetOperationTypeError):
        await endpoint.schema.execute("query A { stores { id } }", context_value=context, operation_name="B")
    await context.close()
    response = await demo.gql.http.post("/graphql", json={"query": "query A { stores { id } }", "operationName": "B"})
    assert response.status_code == 400
    assert response.json() == {"data": None, "errors": [{"message": 'Unknown operation named "B".', "extensions": {"code": "BAD_REQUEST"}}]}


async def test_a_schema_with_another_extension_keeps_strawberrys_runner(app):
    from functools import partial

    from strawberry.extensions import SchemaExtension

    from schema.pipeline import RequestPipeline

    class Other(SchemaExtension):
        pass

    schema = staff_endpoint(app).schema
    assert lean_pipeline(schema) is not None
    original = schema.extensions
    try:
        schema.extensions = [partial(RequestPipeline, staff=True), Other]
        assert lean_pipeline(schema) is None
    finally:
        schema.extensions = original


async def test_a_bug_is_masked_and_logged_the_same_way(app, demo, monkeypatch, caplog):
    import logging

    import resolvers.brands

    async def broken(_ctx):
        raise RuntimeError("secret detail of a bug")

    monkeypatch.setattr(resolvers.brands, "viewer", broken)
    endpoint = staff_endpoint(app)
    headers = {"authorization": f"Bearer {demo.gql.tokens['owner']}"}
    with caplog.at_level(logging.INFO, logger="meiye.graphql"):
        response = await demo.gql.http.post("/graphql", json={"query": "{ viewer { id } }"}, headers=headers)
    assert response.json() == {"data": {"viewer": None}, "errors": [{"message": "Internal error / 服务器内部错误", "locations": [{"line": 1, "column": 3}],
                                                               "path": ["viewer"], "extensions": {"code": "INTERNAL_ERROR"}}]}
    assert "secret detail" not in response.text
    assert [r.levelname for r in caplog.records if r.name == "meiye.graphql"] == ["ERROR"]
    context = Context(endpoint._services_ref["services"], authorization=headers["authorization"], accept_language=None)
    try:
        expected = await endpoint.schema.execute("{ viewer { id } }", context_value=context, allowed_operation_types=POST_OPERATIONS)
    finally:
        await context.close()
    assert response.json() == orjson.loads(endpoint.encode_json(process_result(expected)))
