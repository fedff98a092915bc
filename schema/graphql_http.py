"""A GraphQL POST answered without Starlette's router or Strawberry's HTTP view (issue 12).

Every POST to /graphql or /mp/graphql went through Starlette's error and exception middlewares, its
router, BodyCap, the body guard, then Strawberry's view: a request adapter, content negotiation,
checks for batches, uploads and streams, a sub-response, the body parsed a second time, and a
Starlette Response. None of it answers anything for a JSON body the guard has already read,
capped and checked, and together it cost about a sixth of a member read's CPU. Here the guard
hands the parsed body to `answer_graphql_post`, which runs the operation (schema.pipeline's
`execute_post`: Strawberry's steps without its extension runner) and sends the JSON itself.

What those layers did that matters is kept: Observability is still outermost (request id, access
line, metrics, the coded JSON 500), the guard still refuses what is not a GraphQL JSON body, and
Strawberry's own refusals (no query, an unknown operationName) are the same coded 400s as before
(schema.app's GraphQLEndpoint.run). A GET (GraphiQL), any other method or path, and an app served
under a root path stay on the Starlette app and Strawberry's view.
"""

from __future__ import annotations

from typing import Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from strawberry.exceptions import MissingQueryError
from strawberry.http import process_result
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from schema.observability import coded_error, note_error_codes
from schema.pipeline import execute_post

# What Strawberry's view allows over POST.
POST_OPERATIONS = frozenset({OperationType.QUERY, OperationType.MUTATION, OperationType.SUBSCRIPTION})
JSON_HEADERS = (b"content-type", b"application/json")


def refusal_reason(error: Exception) -> str:
    """The text Strawberry's view answers these with (an HTTP 400)."""
    if isinstance(error, CannotGetOperationTypeError):
        return error.as_http_error_reason()
    if isinstance(error, InvalidOperationTypeError):
        return error.as_http_error_reason("POST")
    return "No GraphQL query found in the request"


async def send_json(send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-length", str(len(body)).encode()), JSON_HEADERS]})
    await send({"type": "http.response.body", "body": body})


async def answer_graphql_post(endpoint, scope, data: dict, send) -> None:
    """Run the request the body guard accepted (`data`) on `endpoint`'s schema and send its JSON.
    `endpoint` is a schema.app.GraphQLEndpoint: its context, schema and JSON encoder."""
    context = await endpoint.get_context(Request(scope), None)
    try:
        result = await execute_post(
            endpoint.schema, query=data["query"], variables=data.get("variables"), context=context,
            operation_name=data.get("operationName"), operation_extensions=data.get("extensions"), allowed=POST_OPERATIONS,
        )
    except (CannotGetOperationTypeError, InvalidOperationTypeError, MissingQueryError) as error:
        note_error_codes(("BAD_REQUEST",))
        await send_json(send, 400, endpoint.encode_json(coded_error(refusal_reason(error), "BAD_REQUEST")))
        return
    finally:
        await context.close()
    await send_json(send, 200, endpoint.encode_json(process_result(result)))


class MeiyeApp(Starlette):
    """The Starlette app, with the GraphQL POSTs taken before its middleware and router."""

    def __init__(self, *, graphql_posts: dict[str, Callable[..., Awaitable[None]]], **kwargs) -> None:
        super().__init__(**kwargs)
        self.graphql_posts = graphql_posts

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            answer = self.graphql_posts.get(scope["path"])
            if answer is not None:
                scope["app"] = self
                await answer(scope, receive, send)
                return
        await super().__call__(scope, receive, send)
