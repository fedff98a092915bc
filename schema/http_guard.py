"""The HTTP body in front of the GraphQL endpoints: capped while it is read, and shaped like a
GraphQL request before Strawberry sees it.

A pure ASGI wrapper, because Strawberry's view reads the whole body before any hook of ours runs:
the cap must stop the reading itself (a chunked upload has no Content-Length to trust), and every
malformed body (not UTF-8, not JSON, not an object, nested without end) must be a 4xx in the shape
a GraphQL client reads (`errors[0].extensions.code`), never the view's AttributeError or RecursionError.
"""

from __future__ import annotations

import orjson
from starlette.datastructures import Headers
from starlette.responses import JSONResponse

from domain.errors import request_message
from resolvers.context import parse_language
from schema.observability import coded_error, note_error_codes, note_graphql_request

MAX_BODY_BYTES = 256 * 1024
# A GraphQL request is an object whose variables nest a few levels (input → lines → payments);
# graphql-core coerces variables recursively, so a deep value must be refused before it gets there.
MAX_JSON_DEPTH = 32


class BadBody(Exception):
    def __init__(self, status: int, code: str, **params: object) -> None:
        super().__init__(code)
        self.status, self.code, self.params = status, code, params


def json_depth(value: object) -> int:
    """How deeply lists and objects nest; iterative so that no depth can exhaust the stack."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_JSON_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def is_json_media_type(content_type: str) -> bool:
    """`application/json`, in any case, with any parameters. The media type itself is compared, not
    searched for: `text/plain;charset=application/json` is a type a web page may send to another
    site without a preflight, and this guard is the only check of it before the schema runs."""
    return content_type.split(";", 1)[0].strip().lower() == "application/json"


def check_graphql_request(body: bytes) -> dict:
    """The body as a GraphQL-over-HTTP request object, or BadBody saying what is wrong with it."""
    try:
        # orjson refuses invalid UTF-8, lone surrogates, NaN/Infinity, numbers that overflow a
        # double, and nesting past 1024 levels, each as a JSONDecodeError.
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadBody(400, "BAD_REQUEST", why="body is not valid UTF-8 JSON / 请求体不是有效的 UTF-8 JSON") from None
    if not isinstance(data, dict):
        raise BadBody(400, "BAD_REQUEST", why="the body must be a JSON object (batches are not supported) / 请求体须为 JSON 对象")
    if json_depth(data) > MAX_JSON_DEPTH:
        raise BadBody(400, "BAD_REQUEST", why=f"JSON nested deeper than {MAX_JSON_DEPTH} levels / JSON 嵌套过深")
    if not isinstance(data.get("query"), str):
        raise BadBody(400, "BAD_REQUEST", why="`query` must be a string / query 须为字符串")
    for key, kind, name in (("variables", dict, "an object"), ("extensions", dict, "an object"), ("operationName", str, "a string")):
        if data.get(key) is not None and not isinstance(data[key], kind):
            raise BadBody(400, "BAD_REQUEST", why=f"`{key}` must be {name} or null / {key} 类型错误")
    return data


def error_response(status: int, code: str, lang: str, **params: object) -> JSONResponse:
    note_error_codes((code,))
    message = request_message(code, lang, **params)
    response = JSONResponse(coded_error(message, code), status_code=status)
    if status == 413:
        # The rest of the body is never read; the connection cannot carry another request.
        response.headers["connection"] = "close"
    return response


class GraphQLBodyGuard:
    """Wraps a GraphQL ASGI app: reads at most `max_bytes`, checks the request, replays it inward;
    or, `direct`, hands the checked request to the endpoint's `answer_post(scope, data, send)`
    (schema.graphql_http), which need not read or parse the body again."""

    def __init__(self, app, max_bytes: int = MAX_BODY_BYTES, *, direct: bool = False) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.direct = direct

    async def __call__(self, scope, receive, send) -> None:
        # A GET carries no body: GraphiQL where the endpoint serves it, else the endpoint's own refusal.
        if scope["type"] != "http" or scope.get("method") == "GET":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        lang = parse_language(headers.get("accept-language"))
        try:
            body = await self._read(headers, receive)
            if body is None:
                return  # the client went away
            if not is_json_media_type(headers.get("content-type", "")):
                raise BadBody(415, "UNSUPPORTED_MEDIA_TYPE")
            data = check_graphql_request(body)
            note_graphql_request(data)
        except BadBody as bad:
            await error_response(bad.status, bad.code, lang, **bad.params)(scope, receive, send)
            return
        if self.direct:
            await self.app.answer_post(scope, data, send)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, headers: Headers, receive) -> bytes | None:
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                raise BadBody(400, "BAD_REQUEST", why="invalid Content-Length")
            if int(declared) > self.max_bytes:
                raise BadBody(413, "PAYLOAD_TOO_LARGE", max=self.max_bytes)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise BadBody(413, "PAYLOAD_TOO_LARGE", max=self.max_bytes)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _replay(body: bytes, receive):
    """A `receive` that hands the already-read body over once, then waits on the real one (disconnect)."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class _TooLarge(Exception):
    pass


class BodyCap:
    """The same cap on every route (payment notifications are a few KB): they read their body
    with Starlette's `request.body()`, which would hold whatever a stranger sends in memory."""

    def __init__(self, app, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > self.max_bytes:
            await error_response(413, "PAYLOAD_TOO_LARGE", "zh", max=self.max_bytes)(scope, receive, send)
            return
        size, started = 0, False

        async def capped_receive():
            nonlocal size
            message = await receive()
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                raise _TooLarge
            return message

        async def tracked_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, capped_receive, tracked_send)
        except _TooLarge:
            if not started:
                await error_response(413, "PAYLOAD_TOO_LARGE", "zh", max=self.max_bytes)(scope, receive, send)
