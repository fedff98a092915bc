"""Reports: the store's daily close (日结) and the cross-store settlement statement (跨店结算单)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry
from strawberry.types import Info

from resolvers import reports as report_resolvers
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
            count_card_sessions=r.count_card_sessions, coupons_redeemed=r.coupons_redeemed,
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
