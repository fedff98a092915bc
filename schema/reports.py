"""Reports: the store's daily close (日结) and the cross-store settlement statement (跨店结算单)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry.types import Info

from domain.reports.performance import RuleKind
from resolvers import reports as report_resolvers
from resolvers import reports as resolvers
from resolvers.ids import to_global_id
from schema.errors import UserError, user_errors
from schema.scalars import Fen
from schema.types import Store, _store


@strawberry.type
class CategorySales:
    category: str
    quantity: int
    list_amount: Fen
    discount: Fen
    net_amount: Fen


@strawberry.type
class MethodAmount:
    method: str
    amount: Fen


@strawberry.type
class SalesSummary:
    total: Fen
    list_total: Fen
    discount: Fen
    orders: int
    by_category: list[CategorySales]


@strawberry.type
class PaymentsSummary:
    total: Fen
    by_method: list[MethodAmount]


@strawberry.type
class TopUpSummary:
    principal: Fen
    gift: Fen
    count: int
    by_method: list[MethodAmount]


@strawberry.type
class StoredValueSpent:
    principal: Fen
    gift: Fen
    total: Fen


@strawberry.type
class RefundSummary:
    count: int
    amount: Fen
    sessions_returned: int
    by_method: list[MethodAmount]


@strawberry.type
class OnAccountSummary:
    charged: Fen
    repaid: Fen
    refunded: Fen
    net_change: Fen


@strawberry.type(description="退卡 that day: stored-value principal paid out and gift forfeited, count cards paid out and fees kept")
class CashOutSummary:
    count: int
    principal: Fen
    gift_forfeited: Fen
    count_card_paid_out: Fen
    count_card_fees: Fen


@strawberry.type(description="会员费 taken at this store that day (store revenue), and refunded that day")
class MembershipFeeSummary:
    count: int
    amount: Fen
    refunded_count: int
    refunded: Fen


@strawberry.type(description="日结: one store's business day")
class DailyClose:
    date: dt.date
    sales: SalesSummary
    payments: PaymentsSummary
    top_ups: TopUpSummary
    stored_value_spent: StoredValueSpent
    count_card_sessions: int
    coupons_redeemed: int
    coupon_discount: Fen = strawberry.field(description="What the coupons redeemed today took off their orders")
    refunds: RefundSummary
    on_account: OnAccountSummary
    cash_outs: CashOutSummary
    membership_fees: MembershipFeeSummary
    ledger_tender_movements: list[MethodAmount] = strawberry.field(description="Net debits of the store's tender and receivable accounts that day, straight from the ledger")
    store_id: strawberry.Private[int]

    @strawberry.field
    async def store(self, info: Info) -> Store:
        return await _store(info, self.store_id)


def _amounts(mapping: dict) -> list[MethodAmount]:
    return [MethodAmount(method=k, amount=v) for k, v in sorted(mapping.items())]


@strawberry.type
class SettlementLine:
    consumed: Fen
    settlement_amount: Fen
    items: int
    payer_store_id: strawberry.Private[int]
    payee_store_id: strawberry.Private[int]

    @strawberry.field(description="The store that sold the card and owes")
    async def payer_store(self, info: Info) -> Store:
        return await _store(info, self.payer_store_id)

    @strawberry.field(description="The store that served and is owed")
    async def payee_store(self, info: Info) -> Store:
        return await _store(info, self.payee_store_id)


@strawberry.type
class ReportQuery:
    @strawberry.field
    async def daily_close(self, info: Info, store_id: strawberry.ID, date: dt.date) -> DailyClose:
        r = await report_resolvers.daily_close(info.context, store_id=store_id, day=date)
        sales_total = sum(c["net_amount"] for c in r.sales)
        return DailyClose(
            date=r.date, store_id=r.store_id,
            sales=SalesSummary(
                total=sales_total, list_total=sum(c["list_amount"] for c in r.sales), discount=sum(c["discount"] for c in r.sales),
                orders=r.orders_paid, by_category=[CategorySales(**c) for c in r.sales],
            ),
            payments=PaymentsSummary(total=sum(r.payments.values()), by_method=_amounts(r.payments)),
            top_ups=TopUpSummary(principal=r.top_ups["principal"], gift=r.top_ups["gift"], count=r.top_ups["count"], by_method=_amounts(r.top_ups["by_method"])),
            stored_value_spent=StoredValueSpent(total=sum(r.stored_value_spent.values()), **r.stored_value_spent),
            count_card_sessions=r.count_card_sessions, coupons_redeemed=r.coupons_redeemed, coupon_discount=r.coupon_discount,
            refunds=RefundSummary(count=r.refunds["count"], amount=r.refunds["amount"], sessions_returned=r.refunds["sessions_returned"], by_method=_amounts(r.refunds["by_method"])),
            on_account=OnAccountSummary(**r.on_account),
            ledger_tender_movements=_amounts(r.ledger_tenders),
            cash_outs=CashOutSummary(**r.cash_outs),
            membership_fees=MembershipFeeSummary(**r.membership_fees),
        )

    @strawberry.field(description="跨店结算单: items from `from` to `to` (inclusive, business days), netted per store pair")
    async def cross_store_settlement(
        self, info: Info, from_: Annotated[dt.date, strawberry.argument(name="from")], to: dt.date
    ) -> list[SettlementLine]:
        lines = await report_resolvers.settlement(info.context, start=from_, end=to)
        return [
            SettlementLine(consumed=l.consumed, settlement_amount=l.amount, items=l.items, payer_store_id=l.payer_store_id, payee_store_id=l.payee_store_id)
            for l in lines
        ]


CommissionRuleKind = strawberry.enum(RuleKind, name="CommissionRuleKind")


@strawberry.type
class TechnicianRef:
    id: strawberry.ID
    name: str


@strawberry.type
class CommissionParts:
    service: Fen
    sessions: Fen
    stored_value: Fen
    count_card: Fen
    product: Fen


@strawberry.type
class TechnicianPerformance:
    technician: TechnicianRef
    services_count: int
    service_revenue: Fen
    count_card_sessions: int
    card_sales: Fen
    products_sold: int
    product_revenue: Fen
    commission: Fen
    commission_parts: CommissionParts
    rating: Decimal | None = strawberry.field(description="Average review rating to two decimals; null without reviews")
    review_count: int

    @staticmethod
    def of(p) -> "TechnicianPerformance":
        return TechnicianPerformance(
            technician=TechnicianRef(id=to_global_id("Staff", p.technician_id), name=p.name), services_count=p.services_count,
            service_revenue=p.service_revenue, count_card_sessions=p.count_card_sessions, card_sales=p.card_sales, products_sold=p.products_sold,
            product_revenue=p.product_revenue, commission=p.commission,
            rating=Decimal(str(p.rating)).quantize(Decimal("0.01")) if p.rating is not None else None, review_count=p.review_count,
            commission_parts=CommissionParts(**{k: p.parts.get(k, 0) for k in ("service", "sessions", "stored_value", "count_card", "product")}),
        )


@strawberry.type
class StoreLiability:
    principal: Fen
    gift: Fen
    count_card_deferred: Fen
    store_id: strawberry.Private[int | None]

    @strawberry.field
    async def store(self, info: Info) -> Store | None:
        return await _store(info, self.store_id)


@strawberry.type(description="预收款: what customers have paid in and not yet used, as of the end of `date`")
class PrepaidLiability:
    date: dt.date
    principal: Fen
    gift: Fen
    count_card_deferred: Fen
    escrow_ratio_percent: Decimal
    escrow_required: Fen = strawberry.field(description="(principal + countCardDeferred) × the escrow ratio, rounded up to the fen")
    by_store: list[StoreLiability]


@strawberry.type
class MemberValue:
    lifetime_spend: Fen
    visits: int
    average_ticket: Fen
    last_visit: dt.datetime | None


@strawberry.type
class CommissionRule:
    kind: CommissionRuleKind
    target: str = strawberry.field(description="SERVICE/SESSION: the service's id; CATEGORY: the category (empty: every service); else empty")
    rate_percent: Decimal | None
    amount: Fen | None


@strawberry.input
class CommissionRuleInput:
    kind: CommissionRuleKind
    service_id: strawberry.ID | None = None
    category: str | None = None
    rate_percent: Decimal | None = strawberry.field(default=None, description="0-100, to two decimals (basis points)")
    amount: Fen | None = strawberry.field(default=None, description="SESSION: fen per count-card session")


@strawberry.input
class SetCommissionRulesInput:
    rules: list[CommissionRuleInput]


@strawberry.type
class SetCommissionRulesPayload:
    rules: list[CommissionRule] | None
    errors: list[UserError]


@strawberry.input
class SetEscrowRatioInput:
    escrow_ratio_percent: Decimal


@strawberry.type
class SetEscrowRatioPayload:
    escrow_ratio_percent: Decimal | None
    errors: list[UserError]


def _rule(r) -> CommissionRule:
    target = to_global_id("Service", int(r.target)) if r.kind in (RuleKind.SERVICE, RuleKind.SESSION) and r.target else r.target
    return CommissionRule(kind=r.kind, target=target, rate_percent=Decimal(r.rate_bp) / 100 if r.rate_bp is not None else None, amount=r.amount)


def _bp(percent: Decimal | None) -> int | None:
    """Percent to two decimals as basis points; finer than that is refused, not rounded."""
    if percent is None:
        return None
    bp = percent * 100
    return int(bp) if bp == bp.to_integral_value() else -1


@strawberry.type
class OperationsReportQuery:
    @strawberry.field(description="员工绩效: per technician (or desk staff) for business days `from`..`to`")
    async def technician_performance(self, info: Info, from_: Annotated[dt.date, strawberry.argument(name="from")], to: dt.date,
                                     store_id: strawberry.ID | None = None) -> list[TechnicianPerformance]:
        return [TechnicianPerformance.of(p) for p in await resolvers.technician_performance(info.context, store_id=store_id, start=from_, end=to)]

    @strawberry.field
    async def prepaid_liability(self, info: Info, date: dt.date | None = None) -> PrepaidLiability:
        r = await resolvers.prepaid_liability(info.context, day=date)
        return PrepaidLiability(date=r.date, principal=r.principal, gift=r.gift, count_card_deferred=r.count_card_deferred,
                                escrow_ratio_percent=Decimal(r.escrow_ratio_bp) / 100, escrow_required=r.escrow_required,
                                by_store=[StoreLiability(principal=h.principal, gift=h.gift, count_card_deferred=h.count_card_deferred, store_id=s)
                                          for s, h in r.by_store.items()])

    @strawberry.field
    async def commission_rules(self, info: Info) -> list[CommissionRule]:
        return [_rule(r) for r in await resolvers.commission_rules(info.context)]

    @strawberry.field(description="会员价值: lifetime spend, visits, average ticket, last visit")
    async def member_value(self, info: Info, member_id: strawberry.ID) -> MemberValue:
        v = await resolvers.member_value(info.context, member_id=member_id)
        return MemberValue(lifetime_spend=v.lifetime_spend, visits=v.visits, average_ticket=v.average_ticket, last_visit=v.last_visit)


@strawberry.type
class OperationsReportMutation:
    @strawberry.mutation(description="Replace the brand's commission rules")
    async def set_commission_rules(self, info: Info, input: SetCommissionRulesInput) -> SetCommissionRulesPayload:
        rules = [{"kind": r.kind.value, "service_id": r.service_id, "category": r.category, "rate_bp": _bp(r.rate_percent), "amount": r.amount} for r in input.rules]
        outcome = await resolvers.set_commission_rules(info.context, rules)
        return SetCommissionRulesPayload(rules=[_rule(r) for r in outcome.value] if outcome.ok else None, errors=user_errors(outcome.errors, info.context.lang))

    @strawberry.mutation
    async def set_escrow_ratio(self, info: Info, input: SetEscrowRatioInput) -> SetEscrowRatioPayload:
        outcome = await resolvers.set_escrow_ratio(info.context, _bp(input.escrow_ratio_percent))
        return SetEscrowRatioPayload(escrow_ratio_percent=Decimal(outcome.value) / 100 if outcome.ok else None, errors=user_errors(outcome.errors, info.context.lang))
