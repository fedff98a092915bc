"""The ASGI app: the staff GraphQL endpoint, health, and the lifespan that owns the engine."""

from __future__ import annotations

import contextlib
import logging

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from strawberry.asgi import GraphQL

from domain.db import create_engine
from domain.members.pii import PiiCipher
from integrations.callbacks import callback_routes
from schema.report_exports import export_routes
from resolvers.context import Context, Services
from resolvers.customer_context import CustomerContext
from resolvers.settings import Settings
from resolvers.tokens import TokenSigner
from schema.root import build_customer_schema, build_staff_schema

log = logging.getLogger("meiye")

MAX_BODY_BYTES = 256 * 1024


class GraphQLEndpoint(GraphQL):
    def __init__(self, schema, services_ref: dict) -> None:
        super().__init__(schema, allow_queries_via_get=False, graphql_ide=None)
        self._services_ref = services_ref

    async def get_context(self, request: Request, response: Response) -> Context:
        return Context(
            self._services_ref["services"],
            authorization=request.headers.get("authorization"),
            accept_language=request.headers.get("accept-language"),
            request=request,
            response=response,
        )

    async def handle_request(self, request, response=None):  # type: ignore[override]
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
            return PlainTextResponse("request body too large", status_code=413)
        return await super().handle_request(request)


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
        engine=engine or create_engine(settings.database_url),
        cipher=PiiCipher(settings.data_key.encode()),
        signer=TokenSigner(settings.secret_key, settings.token_ttl_seconds),
        parse_bill=parse_bill,
    )


def create_app(settings: Settings, *, engine=None, platforms=None) -> Starlette:
    """`engine` and `platforms` let tests share theirs; otherwise the lifespan makes its own."""
    settings.check()
    services_ref: dict = {}
    from integrations import runtime

    standins = runtime.demo_standins(settings) if settings.demo and platforms is None else None

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        services = make_services(settings, engine)
        services.platforms = platforms if platforms is not None else await runtime.setup(services, settings, standins)
        services_ref["services"] = services
        try:
            yield
        finally:
            if engine is None:
                await services.engine.dispose()

    async def health(_request):
        return JSONResponse({"status": "ok"})

    staff_graphql = GraphQLEndpoint(build_staff_schema(), services_ref)
    customer_graphql = CustomerGraphQLEndpoint(build_customer_schema(), services_ref)
    routes = [
        Route("/graphql", staff_graphql, methods=["POST"]),
        Route("/mp/graphql", customer_graphql, methods=["POST"]),
        Route("/health", health),
        *callback_routes(services_ref),
        *export_routes(services_ref),
    ]
    if standins is not None:
        routes.extend(standins.routes())
    return Starlette(routes=routes, lifespan=lifespan)
