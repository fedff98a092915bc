"""Assembles the staff schema from each area's Query and Mutation, with the protective extensions."""

from __future__ import annotations

import logging
from functools import partial

import strawberry
from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import MaskErrors, ParserCache
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from domain.errors import DomainError
from resolvers.context import out_of_range
from resolvers.errors import AuthError, QueryError
from schema.bookings import BookingMutation, BookingQuery
from schema.brands import StaffChangeMutation, StaffMutation, StaffQuery
from schema.cards import CashOutMutation
from schema.coupons import CouponMutation, CouponQuery
from schema.execution import DocumentValidationCache, PlainLeafExecutionContext
from schema.introspection import IntrospectionGate, NoIntrospection
from schema.limits import QueryLimitsRule
from schema.login_rule import OneLoginPerRequest
from schema.marketing import MarketingMutation, MarketingQuery
from schema.member_operations import MemberOperationsMutation, MemberOperationsQuery
from schema.members import LoyaltyMutation, LoyaltyQuery, MemberMutation, MemberQuery
from schema.nodes import NodeQuery
from schema.observability import note_error_codes
from schema.notifications import NotificationMutation, NotificationQuery
from schema.order_history import OrderHistoryQuery
from schema.payments import FinanceMutation, PlatformRefundQuery
from schema.reports import OperationsReportMutation, OperationsReportQuery, ReportQuery
from schema.sales import (
    Order,
    OrderLine,
    OrderMutation,
    OrderQuery,
    Refund,
    RetailProduct,
    StockMutation,
    StockQuery,
)
from schema.scalars import SCALAR_MAP
from schema.text_guard import TextGuard
from schema.types import (
    AuditEntry,
    Brand,
    CountCard,
    CountCardProduct,
    Member,
    MemberTransaction,
    Service,
    Staff,
    Store,
    StoredValueCard,
    StoredValueCardProduct,
)

log = logging.getLogger("meiye.graphql")

StaffQueryRoot = merge_types("Query", (StaffQuery, MemberQuery, OrderQuery, ReportQuery, PlatformRefundQuery, NodeQuery, BookingQuery,
                                        CouponQuery, LoyaltyQuery, MarketingQuery, NotificationQuery, OperationsReportQuery,
                                        StockQuery, MemberOperationsQuery, OrderHistoryQuery))
StaffMutationRoot = merge_types("Mutation", (StaffMutation, MemberMutation, OrderMutation, FinanceMutation, BookingMutation,
                                             CouponMutation, LoyaltyMutation, MarketingMutation, NotificationMutation, OperationsReportMutation,
                                             StockMutation, CashOutMutation, MemberOperationsMutation, StaffChangeMutation))

EXPOSED_ERRORS = (AuthError, QueryError)


def should_mask(error: GraphQLError) -> bool:
    """Parse and validation errors (no original error) and our own auth/query errors are shown;
    anything else is a bug, shown to the client as a bare message (and logged with its stack)."""
    original = error.original_error
    if original is None or isinstance(original, EXPOSED_ERRORS):
        return False
    if isinstance(original, GraphQLError) or isinstance(original, ValueError) and "Fen" in str(original):
        return False
    if isinstance(original, (DomainError, OverflowError)):
        _as_client_error(error, original)
        return False
    return True


def _as_client_error(error: GraphQLError, original: Exception) -> None:
    """A domain refusal that reached the top without its resolver turning it into a payload or a
    QueryError, or a value beyond what Python can hold (a date in year 1 or 9999 moved to a time
    zone, an integer past 2^63): still the client's input, so a coded error rather than a masked bug."""
    refusal = original if isinstance(original, DomainError) else out_of_range()
    error.message = refusal.message("zh")
    error.extensions = {"code": refusal.code, "field": refusal.field}


def client_error_code(error: GraphQLError) -> str:
    code = (error.extensions or {}).get("code")
    if code:
        return code
    return "GRAPHQL_PARSE_FAILED" if isinstance(error, GraphQLSyntaxError) else "GRAPHQL_VALIDATION_FAILED"


class MeiyeSchema(strawberry.Schema):
    def process_errors(self, errors, execution_context=None) -> None:
        """Strawberry logs every error at ERROR with a traceback, so a client's typo looked like
        a bug. A client's mistake is one INFO line (and gets a code it can branch on); only an
        unexpected exception, which MaskErrors hides from the client, is logged with its stack."""
        for error in errors:
            if should_mask(error):
                log.error("unexpected error in %s: %s", error.path, type(error.original_error).__name__, exc_info=error.original_error)
                note_error_codes(("INTERNAL_ERROR",))  # what CodedMaskErrors will answer
                continue
            code = client_error_code(error)
            if not (error.extensions or {}).get("code"):
                # Parse, validation and variable errors carry no code of their own; cached ones get it once.
                error.extensions = {**(error.extensions or {}), "code": code}
            note_error_codes((code,))
            where = f" at {'.'.join(map(str, error.path))}" if error.path else ""
            log.info("client error %s%s: %.200r", code, where, error.message)


MAX_TOKENS = 3000


class CodedMaskErrors(MaskErrors):
    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        masked = super().anonymise_error(error)
        masked.extensions = {"code": "INTERNAL_ERROR"}
        return masked

    def _process_result(self, result: object) -> None:
        # Strawberry's own asks isinstance() of a runtime-checkable Protocol, ~10 µs every request.
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)


MASK = CodedMaskErrors(should_mask_error=should_mask, error_message="Internal error / 服务器内部错误")


class RequestPipeline(TextGuard, IntrospectionGate, DocumentValidationCache, ParserCache):
    """Everything a request is parsed, validated, guarded and masked with, in one extension where
    there were five: Strawberry makes every extension anew and wraps each of its hooks on every
    request (about 40 µs a request for the four others). It parses through the shared parser
    cache (at most MAX_TOKENS tokens), validates through the document cache with the query limits,
    one login a request and, where introspection is not allowed, NoIntrospection (the rule classes
    are made once, so that the cache, keyed by document and rules, hits), refuses control
    characters in text arguments (TextGuard's resolve hook, on only when a request could hold
    one), and masks unexpected errors once the operation has run (CodedMaskErrors)."""

    RULES = (QueryLimitsRule, OneLoginPerRequest)

    def __init__(self, *, staff: bool) -> None:
        ParserCache.__init__(self, maxsize=512)
        self.staff = staff

    async def on_operation(self):
        context = self.execution_context
        context.parse_options["max_tokens"] = MAX_TOKENS
        rules = context.validation_rules + self.RULES
        if not await self._may_introspect():
            rules += (NoIntrospection,)
        context.validation_rules = rules
        yield
        MASK._process_result(context.result)


def protective_extensions(*, staff: bool) -> list:
    return [partial(RequestPipeline, staff=staff)]


def build_staff_schema() -> strawberry.Schema:
    return MeiyeSchema(
        query=StaffQueryRoot,
        mutation=StaffMutationRoot,
        types=[AuditEntry, Brand, CountCard, CountCardProduct, Order, OrderLine, Refund, RetailProduct, Member, MemberTransaction, Service, Staff, Store, StoredValueCard, StoredValueCardProduct],
        extensions=protective_extensions(staff=True),
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
        execution_context_class=PlainLeafExecutionContext,
    )


def build_customer_schema() -> strawberry.Schema:
    from schema.bookings import MpBookingMutation, MpBookingQuery
    from schema.coupons import MpCouponMutation, MpCouponQuery
    from schema.customer import MpMutation, MpQuery
    from schema.nodes import MpNodeQuery
    from schema.notifications import MpNotificationMutation, MpNotificationQuery

    return MeiyeSchema(
        query=merge_types("Query", (MpQuery, MpNodeQuery, MpBookingQuery, MpCouponQuery, MpNotificationQuery)),
        mutation=merge_types("Mutation", (MpMutation, MpBookingMutation, MpCouponMutation, MpNotificationMutation)),
        extensions=protective_extensions(staff=False),
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
        execution_context_class=PlainLeafExecutionContext,
    )
