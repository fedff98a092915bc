"""The ASGI app: the staff GraphQL endpoint, health, and the lifespan that owns the engine."""

from __future__ import annotations

import contextlib
import gc
import json
import logging

import orjson
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.http.async_base_view import (
    HTTPException,  # the class the view raises (cross_web's, since 0.341)
)
from strawberry.types.unset import UNSET

from domain.db import create_engine
from domain.members.pii import PiiCipher
from integrations.callbacks import callback_routes
from resolvers.context import Context, Services
from resolvers.customer_context import CustomerContext
from resolvers.settings import Settings
from resolvers.tokens import TokenSigner
from schema.graphql_http import MeiyeApp, answer_graphql_post
from schema.http_guard import BodyCap, GraphQLBodyGuard
from schema.metrics import Metrics, metrics_route, ready_route
from schema.observability import Observability, coded_error, note_error_codes
from schema.report_exports import export_routes
from schema.root import build_customer_schema, build_staff_schema

log = logging.getLogger("meiye")


class GraphQLEndpoint(GraphQL):
    def __init__(self, schema, services_ref: dict, *, graphql_ide: str | None = None) -> None:
        # Queries never run from a GET (a link must not act); a GET without one shows the IDE, if any.
        super().__init__(schema, allow_queries_via_get=False, graphql_ide=graphql_ide)
        self._services_ref = services_ref

    async def get_context(self, request: Request, response: Response) -> Context:
        return Context(
            self._services_ref["services"],
            authorization=request.headers.get("authorization"),
            accept_language=request.headers.get("accept-language"),
            request=request,
            response=response,
        )

    async def run(self, request, context=UNSET, root_value=UNSET):  # type: ignore[override]
        # Strawberry answers its own refusals (an unknown operationName, a missing query) in plain
        # text; a GraphQL client reads errors[0].extensions.code, so they are JSON like every other.
        try:
            return await super().run(request, context, root_value)
        except HTTPException as error:
            code = "PAYLOAD_TOO_LARGE" if error.status_code == 413 else "BAD_REQUEST"
            note_error_codes((code,))
            return JSONResponse(coded_error(error.reason, code), status_code=error.status_code)

    async def execute_operation(self, request, request_adapter, request_data, context, root_value, sub_response):  # type: ignore[override]
        # The context owns the request's read connection (resolvers.request_db): back to the pool
        # once the operation has run, however it ended (an error, a cancelled request).
        try:
            return await super().execute_operation(
                request=request, request_adapter=request_adapter, request_data=request_data, context=context,
                root_value=root_value, sub_response=sub_response,
            )
        finally:
            await context.close()

    async def answer_post(self, scope, data: dict, send) -> None:
        """A POST the body guard has read and checked (schema.graphql_http)."""
        await answer_graphql_post(self, scope, data, send)

    def decode_json(self, data):  # type: ignore[override]
        # The same parser as GraphQLBodyGuard, which has already accepted this body: the standard
        # library's would read what orjson refused (a 5,000-digit integer raises ValueError there).
        return orjson.loads(data)

    def encode_json(self, data: object) -> bytes:  # type: ignore[override]
        # Strawberry's default is json.dumps (the whole response in Python); orjson writes the same
        # JSON several times faster, and Chinese as UTF-8 rather than \\u escapes. An integer past
        # 64 bits (a Fen or ID is at most 2^63) is the one value it refuses: then the standard library.
        try:
            return orjson.dumps(data)
        except TypeError:
            return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


class CustomerGraphQLEndpoint(GraphQLEndpoint):
    """/mp/graphql: the mini-program names its app with `X-Meiye-App-Id` when one deployment serves several."""

    async def get_context(self, request: Request, response: Response) -> CustomerContext:
        return CustomerContext(
            self._services_ref["services"],
            authorization=request.headers.get("authorization"),
            accept_language=request.headers.get("accept-language"),
            app_id=request.headers.get("x-meiye-app-id"),
            request=request,
            response=response,
        )


def parse_bill(channel, data: bytes) -> list:
    from domain.members.customers import Channel
    from integrations import bills

    return bills.parse_wechat_trade_bill(data) if channel == Channel.WECHAT else bills.parse_alipay_bill(data)


def make_services(settings: Settings, engine=None) -> Services:
    return Services(
        settings=settings,
        engine=engine or create_engine(settings.database_url, pool_size=settings.db_pool_size),
        cipher=PiiCipher(settings.data_key.encode()),
        signer=TokenSigner(settings.secret_key, settings.token_ttl_seconds),
        parse_bill=parse_bill,
    )


def create_app(settings: Settings, *, engine=None, platforms=None, freeze_gc: bool = False) -> MeiyeApp:
    """`engine` and `platforms` let tests share theirs; otherwise the lifespan makes its own.
    `freeze_gc` is for the server process (tests would pin every earlier test's objects)."""
    settings.check()
    services_ref: dict = {}
    from integrations import gauges, runtime

    standins = runtime.demo_standins(settings) if settings.demo and platforms is None else None

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        services = make_services(settings, engine)
        services.platforms = platforms if platforms is not None else await runtime.setup(services, settings, standins)
        services_ref["services"] = services
        if freeze_gc:
            # The ~115k objects of the schemas, models and SDKs live as long as the process: frozen,
            # no full collection walks them again (55 ms each, the p99 of a read; PERFORMANCE.md).
            gc.collect()
            gc.freeze()
        try:
            with metrics.watching_pool(services.engine):
                yield
        finally:
            if engine is None:
                await services.engine.dispose()

    async def health(_request):
        return JSONResponse({"status": "ok"})

    metrics = Metrics(gauges.read)

    # GraphiQL at GET /graphql and /mp/graphql for exploring the API, never in production.
    ide = None if settings.production else "graphiql"
    methods = ["GET", "POST"] if ide else ["POST"]
    staff_graphql = GraphQLEndpoint(build_staff_schema(), services_ref, graphql_ide=ide)
    customer_graphql = CustomerGraphQLEndpoint(build_customer_schema(), services_ref, graphql_ide=ide)
    routes = [
        Route("/graphql", GraphQLBodyGuard(staff_graphql), methods=methods),
        Route("/mp/graphql", GraphQLBodyGuard(customer_graphql), methods=methods),
        Route("/health", health),
        Route("/ready", ready_route(services_ref)),
        Route("/metrics", metrics_route(metrics, services_ref, settings)),
        *callback_routes(services_ref, on_rejected=metrics.callback_rejected),
        *export_routes(services_ref),
    ]
    if standins is not None:
        routes.extend(standins.routes())
    middleware = [Middleware(Observability, metrics=metrics, log_requests=settings.access_log), Middleware(BodyCap)]
    graphql_posts = {
        path: Observability(GraphQLBodyGuard(endpoint, direct=True), metrics=metrics, log_requests=settings.access_log)
        for path, endpoint in (("/graphql", staff_graphql), ("/mp/graphql", customer_graphql))
    }
    return MeiyeApp(routes=routes, lifespan=lifespan, middleware=middleware, graphql_posts=graphql_posts)
