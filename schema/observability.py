"""What an operator sees of each request: a request id, one JSON access-log line, and the request's
share of the Prometheus metrics (schema/metrics.py).

A pure ASGI middleware rather than Starlette's BaseHTTPMiddleware, which runs the app in a second
task and streams the body through a queue (tens of µs a request). What the layers inside learn
about the request (the GraphQL operation name, the error codes they answered with) they note on a
`RequestRecord` reached through a context variable: the resolvers run in the middleware's task or in
tasks that copy its context, so they all see the same record without it being passed down.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import os
import re
import time
import uuid

import orjson

access_log = logging.getLogger("meiye.access")
log = logging.getLogger("meiye")


def coded_error(message: str, code: str) -> dict:
    """The body of a request refused before GraphQL answers it, in the shape a client reads
    (`errors[0].extensions.code`)."""
    return {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]}


INTERNAL_ERROR_BODY = orjson.dumps(coded_error("Internal error / 服务器内部错误", "INTERNAL_ERROR"))

REQUEST_ID_HEADER = b"x-request-id"
_SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")
# The operation's name when the body does not give one: the first named operation in the document.
_OPERATION_NAME = re.compile(r"\b(?:query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)")
GRAPHQL_ENDPOINTS = {"/graphql": "staff", "/mp/graphql": "customer"}
MAX_CODES = 20  # a request's codes kept for the log line and the counter; a long list says nothing more


class RequestRecord:
    __slots__ = ("request_id", "endpoint", "parsed", "operation", "codes")

    def __init__(self, request_id: str, endpoint: str | None) -> None:
        self.request_id = request_id
        self.endpoint = endpoint  # "staff" / "customer" for the GraphQL endpoints, else None
        self.parsed = False  # whether the body guard accepted a GraphQL request body
        self.operation: str | None = None  # None: unnamed
        self.codes: list[str] = []


_current: contextvars.ContextVar[RequestRecord | None] = contextvars.ContextVar("meiye_request", default=None)


def current_request() -> RequestRecord | None:
    return _current.get()


def note_error_codes(codes) -> None:
    """The codes this request answers with (payload `errors { code }` and `extensions.code`)."""
    record = _current.get()
    if record is not None:
        room = MAX_CODES - len(record.codes)
        if room > 0:
            record.codes.extend(list(codes)[:room])


def note_graphql_request(data: dict) -> None:
    """The operation a GraphQL request body names (called once the body guard has accepted it)."""
    record = _current.get()
    if record is None:
        return
    name = data.get("operationName")
    if not name:
        found = _OPERATION_NAME.search(data.get("query") or "")
        name = found.group(1) if found else None
    record.parsed, record.operation = True, name


def request_id_from(headers) -> str:
    """The caller's X-Request-Id when it is one a log can carry safely, else a fresh one."""
    for key, value in headers:
        if key == REQUEST_ID_HEADER:
            if _SANE_REQUEST_ID.fullmatch(value):
                return value.decode("ascii")
            break
    return uuid.uuid4().hex


class Observability:
    """Outermost of our middlewares: every route answers with X-Request-Id, every request is one
    log line and one observation in `metrics` (None: no metrics, e.g. a bench of the bare app)."""

    def __init__(self, app, *, metrics=None, log_requests: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.log_requests = log_requests

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope["headers"])
        record = RequestRecord(request_id, GRAPHQL_ENDPOINTS.get(scope["path"]))
        header = (REQUEST_ID_HEADER, request_id.encode("ascii"))
        status = 500  # what the client gets if the app raises before answering
        answering = False

        async def send_with_id(message) -> None:
            nonlocal status, answering
            if message["type"] == "http.response.start":
                status, answering = message["status"], True
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        token = _current.set(record)
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            if answering:
                raise  # half an answer is out: nothing better can follow it
            # A bug that no layer turned into an answer: the client gets the coded JSON every other
            # error has, with the request's id, instead of Starlette's bare text 500 without one.
            log.error("unhandled error on %s %s (request %s)", scope["method"], scope["path"][:200], request_id, exc_info=True)
            note_error_codes(("INTERNAL_ERROR",))
            await send({"type": "http.response.start", "status": 500,
                        "headers": [(b"content-type", b"application/json"), header]})
            await send({"type": "http.response.body", "body": INTERNAL_ERROR_BODY})
        finally:
            seconds = time.perf_counter() - started
            _current.reset(token)
            if self.metrics is not None:
                self.metrics.observe_request(record, status, seconds)
            if self.log_requests and access_log.isEnabledFor(logging.INFO):
                access_log.info(access_line(scope, record, status, seconds))


def access_line(scope, record: RequestRecord, status: int, seconds: float) -> str:
    line = {
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        "request_id": record.request_id,
        "method": scope["method"],
        "path": scope["path"][:200],
        "status": status,
        "duration_ms": round(seconds * 1000, 2),
        "pid": os.getpid(),  # which worker answered, under `meiye serve --workers N`
    }
    if record.endpoint is not None:
        line["operation"] = record.operation
    if record.codes:
        line["errors"] = record.codes
    return orjson.dumps(line).decode()


def configure_access_log() -> None:
    """The server's access lines are bare JSON on stderr (a log shipper parses them as they are),
    not wrapped in the text format of the other loggers."""
    if access_log.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    access_log.addHandler(handler)
    access_log.setLevel(logging.INFO)
    access_log.propagate = False
