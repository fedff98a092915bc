"""Assembles the staff schema from each area's Query and Mutation, with the protective extensions."""

from __future__ import annotations

import logging
from functools import partial

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from resolvers.errors import AuthError, QueryError
from schema.brands import StaffMutation, StaffQuery
from schema.cash_out import CashOutMutation
from schema.introspection import IntrospectionGate
from schema.login_rule import OneLoginPerRequest
from schema.member_operations import MemberOperationsMutation, MemberOperationsQuery
from schema.members import MemberMutation, MemberQuery
from schema.nodes import NodeQuery
from schema.order_history import OrderHistoryQuery
from schema.payments import FinanceMutation, PlatformRefundQuery
from schema.reports import ReportQuery
from schema.sales import (
    Order,
    OrderLine,
    OrderMutation,
    OrderQuery,
    Refund,
    RetailProduct,
)
from schema.scalars import SCALAR_MAP
from schema.staff_changes import StaffChangeMutation
from schema.stock import StockMutation, StockQuery
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

StaffQueryRoot = merge_types("Query", (StaffQuery, MemberQuery, OrderQuery, ReportQuery, PlatformRefundQuery, NodeQuery, StockQuery, MemberOperationsQuery, OrderHistoryQuery))
StaffMutationRoot = merge_types("Mutation", (StaffMutation, MemberMutation, OrderMutation, FinanceMutation, StockMutation, CashOutMutation, MemberOperationsMutation, StaffChangeMutation))

EXPOSED_ERRORS = (AuthError, QueryError)


def should_mask(error: GraphQLError) -> bool:
    """Parse and validation errors (no original error) and our own auth/query errors are shown;
    anything else is a bug: logged with its stack here, shown to the client as a bare message."""
    original = error.original_error
    if original is None or isinstance(original, EXPOSED_ERRORS):
        return False
    if isinstance(original, GraphQLError) or isinstance(original, ValueError) and "Fen" in str(original):
        return False
    log.error("unexpected error in %s", error.path, exc_info=original)
    return True


def _shared_rules(*limiters) -> partial:
    """The limiters' validation rules, made once. Each limiter builds a new rule class when it is
    constructed; constructed per request, every request's rules would differ, ValidationCache (keyed
    by document and rules) would never hit, and every request would be validated in full again."""
    return partial(AddValidationRules, [rule for limiter in limiters for rule in limiter.validation_rules])


def protective_extensions() -> list:
    return [
        partial(MaskErrors, should_mask_error=should_mask, error_message="Internal error / 服务器内部错误"),
        _shared_rules(QueryDepthLimiter(max_depth=10), MaxAliasesLimiter(max_alias_count=30)),
        partial(MaxTokensLimiter, max_token_count=3000),
        partial(AddValidationRules, [OneLoginPerRequest]),
        partial(ParserCache, maxsize=512),
        partial(ValidationCache, maxsize=512),
    ]


def build_staff_schema() -> strawberry.Schema:
    return strawberry.Schema(
        query=StaffQueryRoot,
        mutation=StaffMutationRoot,
        types=[AuditEntry, Brand, CountCard, CountCardProduct, Order, OrderLine, Refund, RetailProduct, Member, MemberTransaction, Service, Staff, Store, StoredValueCard, StoredValueCardProduct],
        extensions=[*protective_extensions(), partial(IntrospectionGate, staff=True)],
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
    )


def build_customer_schema() -> strawberry.Schema:
    from schema.customer import MpMutation, MpQuery
    from schema.nodes import MpNodeQuery

    return strawberry.Schema(
        query=merge_types("Query", (MpQuery, MpNodeQuery)),
        mutation=merge_types("Mutation", (MpMutation,)),
        extensions=[*protective_extensions(), partial(IntrospectionGate, staff=False)],
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
    )
