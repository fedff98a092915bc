"""The sales area: retail products and count-card products on sale, orders, checkout, refunds, on-account credit."""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.types import Info

from domain.sales.checkout import Method
from domain.sales.stock import is_low
from resolvers import brands as brand_resolvers
from resolvers import cards as card_resolvers
from resolvers import sales as resolvers
from resolvers.ids import to_global_id
from resolvers.sales import LineInput, PaymentInput
from schema.errors import UserError, user_errors
from schema.payments import (
    PlatformRefund,
    RefundStatus,
    of_refund,
    status_of,
)
from schema.scalars import Fen
from schema.types import (
    CountCardProduct,
    Member,
    Node,
    Staff,
    Store,
    TenderEnum,
    _store,
)

MethodEnum = strawberry.enum(Method, description="How an order is paid")


@strawberry.type
class RetailProduct(Node):
    name: str
    category: str
    price: Fen

    @staticmethod
    def of(row) -> "RetailProduct":
        return RetailProduct(id=to_global_id("RetailProduct", row.id), name=row.name, category=row.category, price=row.price)


@strawberry.type
class OrderLine(Node):
    kind: str
    name: str
    category: str
    unit_price: Fen
    quantity: int
    list_amount: Fen
    discount: Fen
    net_amount: Fen = strawberry.field(description="What the line came to: list − discount (count-card sessions at their recognised value)")
    covered_by_count_card: int = strawberry.field(description="Units paid by count-card sessions")
    refunded_quantity: int
    refunded_amount: Fen
    technician_id: strawberry.Private[int | None]

    @strawberry.field
    async def technician(self, info: Info) -> Staff | None:
        return Staff.of(await info.context.loaders.staff.load(self.technician_id)) if self.technician_id else None

    @staticmethod
    def of(row) -> "OrderLine":
        return OrderLine(
            id=to_global_id("OrderLine", row.id), kind=row.kind, name=row.name, category=row.category, unit_price=row.unit_price,
            quantity=row.quantity, list_amount=row.list_amount, discount=row.discount, net_amount=row.net_amount,
            covered_by_count_card=row.covered_units, refunded_quantity=row.refunded_quantity, refunded_amount=row.refunded_amount,
            technician_id=row.technician_id,
        )


@strawberry.type
class OrderPayment:
    method: MethodEnum
    amount: Fen = strawberry.field(description="For COUNT_CARD: the session's recognised value")
    principal: Fen
    gift: Fen
    refunded_amount: Fen
    card_id: strawberry.ID | None
    count_card_id: strawberry.ID | None


@strawberry.type(description="What one coupon took off the order (off the list amount of its lines, before any tender)")
class OrderCoupon:
    code: str
    discount: Fen
@strawberry.type
class OrderRefundPayment:
    method: MethodEnum
    amount: Fen
    principal: Fen
    gift: Fen


@strawberry.type(description="One refund of the order: what went back, to which tenders, why")
class OrderRefund:
    id: strawberry.ID = strawberry.field(description="The Refund's global id (node(id) refetches it)")
    amount: Fen
    reason: str
    sessions_returned: int
    created_at: dt.datetime
    payments: list[OrderRefundPayment]


@strawberry.type(description="How the order was priced and paid")
class OrderBreakdown:
    list_total: Fen
    discount: Fen
    total: Fen
    paid: Fen
    points_earned: int
    lines: list[OrderLine]
    payments: list[OrderPayment]
    coupons: list[OrderCoupon]


@strawberry.type
class Order(Node):
    status: str
    note: str | None
    list_total: Fen
    discount: Fen
    total: Fen
    paid: Fen
    refunded: Fen
    points_earned: int
    created_at: dt.datetime
    paid_at: dt.datetime | None
    pk: strawberry.Private[int]
    store_id: strawberry.Private[int]
    member_id: strawberry.Private[int | None]

    @strawberry.field
    async def store(self, info: Info) -> Store:
        return await _store(info, self.store_id)

    @strawberry.field
    async def member(self, info: Info) -> Member | None:
        return Member.of(await info.context.loaders.member.load(self.member_id), info) if self.member_id else None

    @strawberry.field
    async def lines(self, info: Info) -> list[OrderLine]:
        return [OrderLine.of(r) for r in await info.context.loaders.order_lines.load(self.pk)]

    @strawberry.field(description="Its refunds, oldest first")
    async def refunds(self, info: Info) -> list[OrderRefund]:
        return [
            OrderRefund(id=to_global_id("Refund", r.id), amount=r.amount, reason=r.reason, sessions_returned=r.sessions_returned,
                        created_at=r.created_at, payments=[OrderRefundPayment(method=Method(p.method), amount=p.amount, principal=p.principal,
                                                                              gift=p.gift) for p in paid])
            for r, paid in await info.context.loaders.order_refunds.load(self.pk)
        ]

    @strawberry.field
    async def breakdown(self, info: Info) -> OrderBreakdown:
        lines = await info.context.loaders.order_lines.load(self.pk)
        payments = await info.context.loaders.order_payments.load(self.pk)
        coupons = await info.context.loaders.order_coupons.load(self.pk)
        return OrderBreakdown(
            coupons=[OrderCoupon(code=code, discount=amount) for code, amount in coupons],
            list_total=self.list_total, discount=self.discount, total=self.total, paid=self.paid, points_earned=self.points_earned,
            lines=[OrderLine.of(r) for r in lines],
            payments=[
                OrderPayment(
                    method=Method(p.method), amount=p.amount, principal=p.principal, gift=p.gift, refunded_amount=p.refunded_amount,
                    card_id=to_global_id("StoredValueCard", p.card_id) if p.card_id else None,
                    count_card_id=to_global_id("CountCard", p.count_card_id) if p.count_card_id else None,
                )
                for p in payments
            ],
        )

    @staticmethod
    def of(row) -> "Order":
        return Order(
            id=to_global_id("Order", row.id), status=row.status, note=row.note, list_total=row.list_total, discount=row.discount,
            total=row.total, paid=row.paid, refunded=row.refunded, points_earned=row.points_earned, created_at=row.created_at,
            paid_at=row.paid_at, pk=row.id, store_id=row.store_id, member_id=row.member_id,
        )


@strawberry.input
class OrderLineInput:
    service_id: strawberry.ID | None = None
    product_id: strawberry.ID | None = None
    count_card_product_id: strawberry.ID | None = None
    quantity: int = 1
    technician_id: strawberry.ID | None = None
    top_up_card_product_id: strawberry.ID | None = strawberry.field(default=None, description="充值 in the order: the member's card of this product")
    amount: Fen | None = strawberry.field(default=None, description="With topUpCardProductId: how much goes onto the card")


def _line_inputs(lines: list[OrderLineInput]) -> list[LineInput]:
    return [LineInput(l.service_id, l.product_id, l.count_card_product_id, l.quantity, l.technician_id, l.top_up_card_product_id, l.amount)
            for l in lines]


@strawberry.input
class OpenOrderInput:
    store_id: strawberry.ID
    lines: list[OrderLineInput]
    member_id: strawberry.ID | None = None
    note: str | None = strawberry.field(default=None, description="备注, e.g. 怕痛")


@strawberry.input
class AddOrderLinesInput:
    order_id: strawberry.ID
    lines: list[OrderLineInput]


@strawberry.input
class RemoveOrderLineInput:
    order_id: strawberry.ID
    line_id: strawberry.ID


@strawberry.input
class OrderInput:
    order_id: strawberry.ID


@strawberry.type
class OrderPayload:
    order: Order | None
    errors: list[UserError]


@strawberry.input
class PaymentInputType:
    method: MethodEnum
    amount: Fen | None = strawberry.field(default=None, description="Omit on one payment to have it take the rest; never on COUNT_CARD")
    card_id: strawberry.ID | None = None
    count_card_id: strawberry.ID | None = None


@strawberry.input
class CheckoutInput:
    order_id: strawberry.ID
    payments: list[PaymentInputType]
    idempotency_key: str
    coupon_codes: list[str] | None = None


@strawberry.input
class RefundLineInput:
    line_id: strawberry.ID
    quantity: int = 1


@strawberry.input
class RefundOrderInput:
    order_id: strawberry.ID
    reason: str
    idempotency_key: str
    lines: list[RefundLineInput] | None = strawberry.field(default=None, description="Omit to refund everything not yet refunded")


@strawberry.type
class Refund(Node):
    amount: Fen
    sessions_returned: int
    order: Order
    platform_refunds: list[PlatformRefund] = strawberry.field(description="What WeChat Pay / Alipay owe back for it, and where each stands")
    status: RefundStatus


async def refund_of(info: Info, row) -> Refund:
    """A refund with what the payment platforms still owe for it."""
    owed = await of_refund(info, row.id)
    return Refund(id=to_global_id("Refund", row.id), amount=row.amount, sessions_returned=row.sessions_returned,
                  order=await _order(info, row.order_id), platform_refunds=owed, status=status_of(owed))


@strawberry.type
class RefundPayload:
    refund: Refund | None
    errors: list[UserError]


@strawberry.input
class CreateRetailProductInput:
    name: str
    price: Fen
    category: str | None = None


@strawberry.type
class CreateRetailProductPayload:
    product: RetailProduct | None
    errors: list[UserError]


@strawberry.input
class CreateCountCardProductInput:
    name: str
    service_ids: list[strawberry.ID]
    price: Fen
    valid_days: int
    sessions: int | None = strawberry.field(default=None, description="Omit for a time card (年卡/月卡)")
    daily_limit: int | None = None
    weekly_limit: int | None = None
    store_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Stores that accept it; omit for all")
    requires_booking: bool = strawberry.field(default=False, description="需提前预约: sessions pay only orders from a booking's check-in")


@strawberry.type
class CreateCountCardProductPayload:
    product: CountCardProduct | None
    errors: list[UserError]


@strawberry.input
class SetStorePriceInput:
    store_id: strawberry.ID
    item_id: strawberry.ID
    price: Fen | None = strawberry.field(default=None, description="Omit to go back to the brand's price")


@strawberry.type
class SetStorePricePayload:
    ok: bool
    errors: list[UserError]


@strawberry.input
class SetCreditLimitInput:
    member_id: strawberry.ID
    limit: Fen


@strawberry.input
class RepayOnAccountInput:
    member_id: strawberry.ID
    store_id: strawberry.ID
    amount: Fen
    tender: TenderEnum
    idempotency_key: str


@strawberry.type
class MemberCreditPayload:
    member: Member | None
    errors: list[UserError]


@strawberry.type
class OrderQuery:
    @strawberry.field
    async def retail_products(self, info: Info) -> list[RetailProduct]:
        return [RetailProduct.of(r) for r in await brand_resolvers.retail_products(info.context)]

    @strawberry.field
    async def count_card_products(self, info: Info, store_id: strawberry.ID | None = None) -> list[CountCardProduct]:
        return [CountCardProduct.of(r) for r in await card_resolvers.count_card_products(info.context, store_id=store_id)]

    @strawberry.field(description="挂单: orders on hold at a store")
    async def held_orders(self, info: Info, store_id: strawberry.ID) -> list[Order]:
        return [Order.of(r) for r in await resolvers.held_orders(info.context, store_id=store_id)]

    @strawberry.field
    async def order(self, info: Info, id: strawberry.ID) -> Order | None:
        row = await resolvers.order(info.context, order_id=id)
        return Order.of(row) if row is not None else None


async def _order(info: Info, pk: int) -> Order:
    return Order.of(await info.context.loaders.order.load(pk))


def _order_payload(info: Info, outcome) -> OrderPayload:
    return OrderPayload(order=Order.of(outcome.value) if outcome.ok else None, errors=user_errors(outcome.errors, info.context.lang))


@strawberry.type
class OrderMutation:
    @strawberry.mutation
    async def create_retail_product(self, info: Info, input: CreateRetailProductInput) -> CreateRetailProductPayload:
        outcome = await brand_resolvers.create_retail_product(info.context, name=input.name, price=input.price, category=input.category)
        return CreateRetailProductPayload(product=RetailProduct.of(outcome.value) if outcome.ok else None, errors=user_errors(outcome.errors, info.context.lang))

    @strawberry.mutation
    async def create_count_card_product(self, info: Info, input: CreateCountCardProductInput) -> CreateCountCardProductPayload:
        outcome = await card_resolvers.create_count_card_product(
            info.context, name=input.name, service_ids=input.service_ids, sessions=input.sessions, price=input.price,
            valid_days=input.valid_days, daily_limit=input.daily_limit, weekly_limit=input.weekly_limit, store_ids=input.store_ids or [],
            requires_booking=input.requires_booking,
        )
        return CreateCountCardProductPayload(product=CountCardProduct.of(outcome.value) if outcome.ok else None, errors=user_errors(outcome.errors, info.context.lang))

    @strawberry.mutation(description="A store's own price for a service, product or count card")
    async def set_store_price(self, info: Info, input: SetStorePriceInput) -> SetStorePricePayload:
        outcome = await resolvers.set_store_price(info.context, store_id=input.store_id, item_id=input.item_id, price=input.price)
        return SetStorePricePayload(ok=outcome.ok, errors=user_errors(outcome.errors, info.context.lang))

    @strawberry.mutation
    async def open_order(self, info: Info, input: OpenOrderInput) -> OrderPayload:
        outcome = await resolvers.open_order(info.context, store_id=input.store_id, member_id=input.member_id, lines=_line_inputs(input.lines), note=input.note)
        return _order_payload(info, outcome)

    @strawberry.mutation
    async def add_order_lines(self, info: Info, input: AddOrderLinesInput) -> OrderPayload:
        return _order_payload(info, await resolvers.add_lines(info.context, order_id=input.order_id, lines=_line_inputs(input.lines)))

    @strawberry.mutation
    async def remove_order_line(self, info: Info, input: RemoveOrderLineInput) -> OrderPayload:
        return _order_payload(info, await resolvers.remove_line(info.context, order_id=input.order_id, line_id=input.line_id))

    @strawberry.mutation(description="挂单")
    async def hold_order(self, info: Info, input: OrderInput) -> OrderPayload:
        return _order_payload(info, await resolvers.transition(info.context, "holdOrder", order_id=input.order_id))

    @strawberry.mutation(description="取单")
    async def resume_order(self, info: Info, input: OrderInput) -> OrderPayload:
        return _order_payload(info, await resolvers.transition(info.context, "resumeOrder", order_id=input.order_id))

    @strawberry.mutation
    async def cancel_order(self, info: Info, input: OrderInput) -> OrderPayload:
        return _order_payload(info, await resolvers.transition(info.context, "cancelOrder", order_id=input.order_id))

    @strawberry.mutation(description="结账: any mix of tenders; one outcome per idempotencyKey")
    async def checkout(self, info: Info, input: CheckoutInput) -> OrderPayload:
        outcome = await resolvers.checkout(
            info.context, order_id=input.order_id, coupon_codes=input.coupon_codes or [], idempotency_key=input.idempotency_key,
            payments=[PaymentInput(p.method, p.amount, p.card_id, p.count_card_id) for p in input.payments],
        )
        if not outcome.ok:
            return OrderPayload(order=None, errors=user_errors(outcome.errors, info.context.lang))
        return OrderPayload(order=await _order(info, outcome.value), errors=[])

    @strawberry.mutation(description="退款: whole order or some lines, with a reason")
    async def refund_order(self, info: Info, input: RefundOrderInput) -> RefundPayload:
        outcome = await resolvers.refund(
            info.context, order_id=input.order_id, reason=input.reason, idempotency_key=input.idempotency_key,
            lines=None if input.lines is None else [(l.line_id, l.quantity) for l in input.lines],
        )
        if not outcome.ok:
            return RefundPayload(refund=None, errors=user_errors(outcome.errors, info.context.lang))
        from resolvers.sales import refund_row

        return RefundPayload(refund=await refund_of(info, await refund_row(info.context, outcome.value)), errors=[])

    @strawberry.mutation(description="挂账额度")
    async def set_credit_limit(self, info: Info, input: SetCreditLimitInput) -> MemberCreditPayload:
        outcome = await resolvers.set_credit_limit(info.context, member_id=input.member_id, limit=input.limit)
        return await _member_payload(info, outcome)

    @strawberry.mutation(description="挂账还款")
    async def repay_on_account(self, info: Info, input: RepayOnAccountInput) -> MemberCreditPayload:
        outcome = await resolvers.repay(
            info.context, member_id=input.member_id, store_id=input.store_id, amount=input.amount, tender=input.tender, idempotency_key=input.idempotency_key
        )
        return await _member_payload(info, outcome)


async def _member_payload(info: Info, outcome) -> MemberCreditPayload:
    if not outcome.ok:
        return MemberCreditPayload(member=None, errors=user_errors(outcome.errors, info.context.lang))
    return MemberCreditPayload(member=Member.of(await info.context.loaders.member.load(outcome.value), info), errors=[])


@strawberry.type(description="One product's stock at one store")
class StockLevel:
    product: RetailProduct
    quantity: int
    low_stock_threshold: int | None = strawberry.field(description="At or below it the product is low; null: no warning")
    low: bool

    @staticmethod
    def of(row) -> "StockLevel":
        product = RetailProduct(id=to_global_id("RetailProduct", row.product_id), name=row.name, category=row.category, price=row.price)
        return StockLevel(product=product, quantity=row.quantity, low_stock_threshold=row.low_stock_threshold, low=is_low(row))


@strawberry.type
class OperationSettings:
    allow_negative_stock: bool = strawberry.field(description="Whether a sale may take a tracked stock level below zero")
    count_card_cash_out: bool = strawberry.field(description="Whether count cards may be cashed out (退卡)")
    count_card_cash_out_fee_percent: int = strawberry.field(description="The share of a count card's unused value kept as a fee")
    membership_fee: Fen | None = strawberry.field(description="会员费 taken at registration; null: free")

    @staticmethod
    def of(rules) -> "OperationSettings":
        return OperationSettings(allow_negative_stock=rules.allow_negative_stock, count_card_cash_out=rules.count_card_cash_out,
                                 count_card_cash_out_fee_percent=rules.count_card_cash_out_fee_percent, membership_fee=rules.membership_fee)


@strawberry.input
class ReceiveStockInput:
    product_id: strawberry.ID
    store_id: strawberry.ID
    quantity: int
    idempotency_key: str
    note: str | None = strawberry.field(default=None, description="Supplier, delivery note")


@strawberry.input
class AdjustStockInput:
    product_id: strawberry.ID
    store_id: strawberry.ID
    delta: int = strawberry.field(description="Negative for breakage or testers opened")
    reason: str


@strawberry.input
class CountStockInput:
    product_id: strawberry.ID
    store_id: strawberry.ID
    counted: int = strawberry.field(description="What is on the shelf: the level becomes this")
    reason: str


@strawberry.input
class TransferStockInput:
    product_id: strawberry.ID
    from_store_id: strawberry.ID
    to_store_id: strawberry.ID
    quantity: int
    idempotency_key: str
    note: str | None = None


@strawberry.input
class SetLowStockThresholdInput:
    product_id: strawberry.ID
    store_id: strawberry.ID
    threshold: int | None = strawberry.field(default=None, description="Omit to stop warning")


@strawberry.input
class UpdateOperationSettingsInput:
    allow_negative_stock: bool | None = None
    count_card_cash_out: bool | None = None
    count_card_cash_out_fee_percent: int | None = None
    membership_fee: Fen | None = strawberry.field(default=None, description="0 makes registration free")


@strawberry.type
class StockPayload:
    stock: StockLevel | None
    errors: list[UserError]


@strawberry.type
class TransferStockPayload:
    sent: StockLevel | None = strawberry.field(description="The sending store's level after")
    received: StockLevel | None = strawberry.field(description="The receiving store's level after")
    errors: list[UserError]


@strawberry.type
class OperationSettingsPayload:
    settings: OperationSettings | None
    errors: list[UserError]


def _stock_payload(info: Info, outcome) -> StockPayload:
    return StockPayload(stock=StockLevel.of(outcome.value) if outcome.ok else None, errors=user_errors(outcome.errors, info.context.lang))


@strawberry.type
class StockQuery:
    @strawberry.field(description="库存: what a store keeps (products it has received, counted or been sent)")
    async def stock(self, info: Info, store_id: strawberry.ID) -> list[StockLevel]:
        return [StockLevel.of(r) for r in await resolvers.levels(info.context, store_id=store_id, only_low=False)]

    @strawberry.field(description="库存预警: what is at or below its threshold at a store")
    async def low_stock(self, info: Info, store_id: strawberry.ID) -> list[StockLevel]:
        return [StockLevel.of(r) for r in await resolvers.levels(info.context, store_id=store_id, only_low=True)]

    @strawberry.field
    async def operation_settings(self, info: Info) -> OperationSettings:
        return OperationSettings.of(await resolvers.operation_settings(info.context))


@strawberry.type
class StockMutation:
    @strawberry.mutation(description="入库: a delivery; one outcome per idempotencyKey")
    async def receive_stock(self, info: Info, input: ReceiveStockInput) -> StockPayload:
        return _stock_payload(info, await resolvers.receive(info.context, product_id=input.product_id, store_id=input.store_id,
                                                             quantity=input.quantity, note=input.note, idempotency_key=input.idempotency_key))

    @strawberry.mutation(description="报损/调整, with a reason")
    async def adjust_stock(self, info: Info, input: AdjustStockInput) -> StockPayload:
        return _stock_payload(info, await resolvers.adjust(info.context, product_id=input.product_id, store_id=input.store_id,
                                                            delta=input.delta, reason=input.reason))

    @strawberry.mutation(description="盘点: the counted quantity becomes the level")
    async def count_stock(self, info: Info, input: CountStockInput) -> StockPayload:
        return _stock_payload(info, await resolvers.count(info.context, product_id=input.product_id, store_id=input.store_id,
                                                           counted=input.counted, reason=input.reason))

    @strawberry.mutation
    async def set_low_stock_threshold(self, info: Info, input: SetLowStockThresholdInput) -> StockPayload:
        return _stock_payload(info, await resolvers.set_threshold(info.context, product_id=input.product_id, store_id=input.store_id,
                                                                   threshold=input.threshold))

    @strawberry.mutation(description="调拨: goods from one store to another; one outcome per idempotencyKey")
    async def transfer_stock(self, info: Info, input: TransferStockInput) -> TransferStockPayload:
        outcome = await resolvers.transfer(info.context, product_id=input.product_id, from_store_id=input.from_store_id,
                                           to_store_id=input.to_store_id, quantity=input.quantity, note=input.note,
                                           idempotency_key=input.idempotency_key)
        if not outcome.ok:
            return TransferStockPayload(sent=None, received=None, errors=user_errors(outcome.errors, info.context.lang))
        sent, received = outcome.value
        return TransferStockPayload(sent=StockLevel.of(sent), received=StockLevel.of(received), errors=[])

    @strawberry.mutation
    async def update_operation_settings(self, info: Info, input: UpdateOperationSettingsInput) -> OperationSettingsPayload:
        outcome = await resolvers.update_operation_settings(
            info.context, allow_negative_stock=input.allow_negative_stock, count_card_cash_out=input.count_card_cash_out,
            count_card_cash_out_fee_percent=input.count_card_cash_out_fee_percent, membership_fee=input.membership_fee,
        )
        settings = OperationSettings.of(outcome.value) if outcome.ok else None
        return OperationSettingsPayload(settings=settings, errors=user_errors(outcome.errors, info.context.lang))
