"""Retail stock (库存) at the stores, and the brand's operations settings it follows."""

from __future__ import annotations

from domain import idempotency
from domain.brands import operations
from domain.brands.stores import get_store
from domain.sales import stock
from resolvers.context import Context
from resolvers.errors import Outcome
from resolvers.ids import decode_id


def _ids(product_id: str, store_id: str) -> tuple[int, int]:
    return decode_id(product_id, "RetailProduct", "productId"), decode_id(store_id, "Store", "storeId")


async def _level(db, actor, store_id: int, product_id: int):
    return await stock.level_of(db, actor.brand_id, store_id, product_id)


async def levels(ctx: Context, *, store_id: str, only_low: bool) -> list:
    operation = "lowStock" if only_low else "stock"
    return await ctx.query(operation, lambda db, actor: stock.levels(db, actor, store_id=decode_id(store_id, "Store", "storeId"), only_low=only_low))


async def receive(ctx: Context, *, product_id: str, store_id: str, quantity: int, note: str | None, idempotency_key: str) -> Outcome:
    request = {"productId": product_id, "storeId": store_id, "quantity": quantity, "note": note}

    async def work(db, actor):
        async def run():
            product, store = _ids(product_id, store_id)
            await stock.receive(db, actor, store_id=store, product_id=product, quantity=quantity, note=note)
            return {"store_id": store, "product_id": product}

        done, _ = await idempotency.once(
            db, brand_id=actor.brand_id, sender=idempotency.staff_sender(actor.staff_id), key=idempotency_key, operation="receiveStock",
            request=request, run=run, guard=lambda: get_store(db, actor, decode_id(store_id, "Store", "storeId")),
        )
        return await _level(db, actor, done["store_id"], done["product_id"])

    return await ctx.mutate("receiveStock", work)


async def adjust(ctx: Context, *, product_id: str, store_id: str, delta: int, reason: str) -> Outcome:
    async def work(db, actor):
        product, store = _ids(product_id, store_id)
        await stock.adjust(db, actor, store_id=store, product_id=product, delta=delta, reason=reason)
        return await _level(db, actor, store, product)

    return await ctx.mutate("adjustStock", work)


async def count(ctx: Context, *, product_id: str, store_id: str, counted: int, reason: str) -> Outcome:
    async def work(db, actor):
        product, store = _ids(product_id, store_id)
        await stock.count(db, actor, store_id=store, product_id=product, counted=counted, reason=reason)
        return await _level(db, actor, store, product)

    return await ctx.mutate("countStock", work)


async def set_threshold(ctx: Context, *, product_id: str, store_id: str, threshold: int | None) -> Outcome:
    async def work(db, actor):
        product, store = _ids(product_id, store_id)
        await stock.set_low_threshold(db, actor, store_id=store, product_id=product, threshold=threshold)
        return await _level(db, actor, store, product)

    return await ctx.mutate("setLowStockThreshold", work)


async def transfer(ctx: Context, *, product_id: str, from_store_id: str, to_store_id: str, quantity: int, note: str | None,
                   idempotency_key: str) -> Outcome:
    request = {"productId": product_id, "fromStoreId": from_store_id, "toStoreId": to_store_id, "quantity": quantity, "note": note}

    def stores_of() -> tuple[int, int]:
        return decode_id(from_store_id, "Store", "fromStoreId"), decode_id(to_store_id, "Store", "toStoreId")

    async def work(db, actor):
        async def run():
            source, target = stores_of()
            product = decode_id(product_id, "RetailProduct", "productId")
            await stock.transfer(db, actor, from_store_id=source, to_store_id=target, product_id=product, quantity=quantity, note=note)
            return {"product_id": product}

        done, _ = await idempotency.once(
            db, brand_id=actor.brand_id, sender=idempotency.staff_sender(actor.staff_id), key=idempotency_key, operation="transferStock",
            request=request, run=run, guard=lambda: get_store(db, actor, stores_of()[0], field="fromStoreId"),
        )
        source, target = stores_of()
        return await _level(db, actor, source, done["product_id"]), await _level(db, actor, target, done["product_id"])

    return await ctx.mutate("transferStock", work)


async def operation_settings(ctx: Context):
    return await ctx.query("operationSettings", lambda db, actor: operations.rules_of(db, actor.brand_id))


async def update_operation_settings(ctx: Context, **changes) -> Outcome:
    return await ctx.mutate("updateOperationSettings", lambda db, actor: operations.update_rules(db, actor, **changes))
