"""Assembles the staff schema from each area's Query and Mutation, with the protective extensions."""

from __future__ import annotations

import logging

import strawberry
from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from schema.bookings import BookingMutation, BookingQuery
from schema.brands import StaffChangeMutation, StaffMutation, StaffQuery
from schema.cards import CashOutMutation
from schema.coupons import CouponMutation, CouponQuery
from schema.execution import PlainLeafExecutionContext
from schema.marketing import MarketingMutation, MarketingQuery
from schema.member_operations import MemberOperationsMutation, MemberOperationsQuery
from schema.members import LoyaltyMutation, LoyaltyQuery, MemberMutation, MemberQuery
from schema.nodes import NodeQuery
from schema.observability import note_error_codes
from schema.pipeline import protective_extensions, should_mask
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
