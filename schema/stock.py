"""Retail stock (库存): levels per product and store, receiving, adjusting, counting, transfers,
low-stock thresholds, and the brand's operations settings."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from domain.sales.stock import is_low
from resolvers import sales as resolvers
from resolvers.ids import to_global_id
from schema.errors import UserError, user_errors
from schema.sales import RetailProduct
from schema.scalars import Fen


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
