"""The sales area: orders (open, lines, hold/resume, cancel), checkout, refunds, store prices, on-account credit."""

from __future__ import annotations

from dataclasses import dataclass

from domain import idempotency
from domain.brands import operations
from domain.brands.stores import get_store
from domain.cards.stored_value import Tender
from domain.errors import DomainError
from domain.members.members import get_member
from domain.payments import refunds as platform_refunds  # noqa: F401 - registers the platforms' tenders
from domain.sales import checkout as checkout_service
from domain.sales import credit, orders, pricing, refunds, stock
from domain.sales.checkout import Method, PaymentSpec
from domain.sales.orders import LineSpec
from domain.sales.pricing import ItemKind
from resolvers.context import Context
from resolvers.coupons import scanned_codes
from resolvers.errors import Outcome
from resolvers.ids import decode_id, parse_global_id


@dataclass
class LineInput:
    service_id: str | None
    product_id: str | None
    count_card_product_id: str | None
    quantity: int
    technician_id: str | None
    top_up_card_product_id: str | None = None
    amount: int | None = None


def _lines(lines: list[LineInput]) -> list[LineSpec]:
    specs = []
    for i, line in enumerate(lines):
        chosen = [(k, v) for k, v in ((ItemKind.SERVICE, line.service_id), (ItemKind.PRODUCT, line.product_id),
                                      (ItemKind.COUNT_CARD, line.count_card_product_id), (ItemKind.TOP_UP, line.top_up_card_product_id)) if v]
        if len(chosen) != 1:
            raise DomainError("LINE_REQUIRED", f"lines.{i}")
        kind, gid = chosen[0]
        type_name, field = {ItemKind.SERVICE: ("Service", "serviceId"), ItemKind.PRODUCT: ("RetailProduct", "productId"),
                            ItemKind.COUNT_CARD: ("CountCardProduct", "countCardProductId"),
                            ItemKind.TOP_UP: ("StoredValueCardProduct", "topUpCardProductId")}[kind]
        if (kind == ItemKind.TOP_UP) != (line.amount is not None):
            raise DomainError("INVALID_VALUE", f"lines.{i}.amount", what="金额（只用于充值行）")
        specs.append(LineSpec(kind, decode_id(gid, type_name, f"lines.{i}.{field}"), line.quantity,
                              decode_id(line.technician_id, "Staff", f"lines.{i}.technicianId") if line.technician_id else None,
                              line.amount))
    return specs


async def open_order(ctx: Context, *, store_id: str, member_id: str | None, lines: list[LineInput], note: str | None) -> Outcome:
    async def work(db, actor):
        order_id = await orders.open_order(
            db, actor, store_id=decode_id(store_id, "Store", "storeId"),
            member_id=decode_id(member_id, "Member", "memberId") if member_id else None, lines=_lines(lines), note=note,
        )
        return await orders.get_order(db, actor, order_id)

    return await ctx.mutate("openOrder", work)


async def add_lines(ctx: Context, *, order_id: str, lines: list[LineInput]) -> Outcome:
    async def work(db, actor):
        pk = decode_id(order_id, "Order", "orderId")
        await orders.add_lines(db, actor, order_id=pk, lines=_lines(lines))
        return await orders.get_order(db, actor, pk)

    return await ctx.mutate("addOrderLines", work)


async def remove_line(ctx: Context, *, order_id: str, line_id: str) -> Outcome:
    async def work(db, actor):
        pk = decode_id(order_id, "Order", "orderId")
        await orders.remove_line(db, actor, order_id=pk, line_id=decode_id(line_id, "OrderLine", "lineId"))
        return await orders.get_order(db, actor, pk)

    return await ctx.mutate("removeOrderLine", work)


async def transition(ctx: Context, operation: str, *, order_id: str) -> Outcome:
    move = {"holdOrder": orders.hold, "resumeOrder": orders.resume, "cancelOrder": orders.cancel}[operation]

    async def work(db, actor):
        pk = decode_id(order_id, "Order", "orderId")
        await move(db, actor, order_id=pk)
        return await orders.get_order(db, actor, pk)

    return await ctx.mutate(operation, work)


async def held_orders(ctx: Context, *, store_id: str) -> list:
    return await ctx.query("heldOrders", lambda db, actor: orders.held_orders(db, actor, store_id=decode_id(store_id, "Store", "storeId")))


async def order(ctx: Context, *, order_id: str):
    actor = await ctx.authorize("order")
    parsed = parse_global_id(order_id)
    if parsed is None or parsed[0] != "Order":
        return None
    row = await ctx.loaders.order.load(parsed[1])
    if row is None or row.brand_id != actor.brand_id or not actor.can_act_for_store(row.store_id):
        return None
    return row


@dataclass
class PaymentInput:
    method: Method
    amount: int | None
    card_id: str | None
    count_card_id: str | None


async def checkout(ctx: Context, *, order_id: str, payments: list[PaymentInput], coupon_codes: list[str], idempotency_key: str) -> Outcome:
    request = {"orderId": order_id, "couponCodes": coupon_codes,
               "payments": [[p.method.value, p.amount, p.card_id, p.count_card_id] for p in payments]}

    async def work(db, actor):
        done, _ = await idempotency.once(
            db, brand_id=actor.brand_id, sender=idempotency.staff_sender(actor.staff_id), key=idempotency_key, operation="checkout",
            request=request, run=lambda remembering: pay(db, actor, remembering), run_remembers=True,
            guard=lambda: orders.get_order(db, actor, decode_id(order_id, "Order", "orderId")),
        )
        return done["order_id"]

    async def pay(db, actor, remembering) -> dict:
        pk = decode_id(order_id, "Order", "orderId")
        response = {"order_id": pk}
        specs = [
            PaymentSpec(
                p.method, p.amount,
                decode_id(p.card_id, "StoredValueCard", f"payments.{i}.cardId") if p.card_id else None,
                decode_id(p.count_card_id, "CountCard", f"payments.{i}.countCardId") if p.count_card_id else None,
            )
            for i, p in enumerate(payments)
        ]
        codes = scanned_codes(ctx, coupon_codes)
        paid = await checkout_service.checkout(db, actor, order_id=pk, payments=specs, coupon_codes=codes,
                                               reference=idempotency.scoped_reference("checkout", idempotency.staff_sender(actor.staff_id), idempotency_key),
                                               also_write=[remembering(response)])
        # The payload shows the order as the checkout left it: no read after the commit.
        ctx.loaders.order.prime(pk, paid)
        return response

    return await ctx.mutate("checkout", work)


async def refund(ctx: Context, *, order_id: str, lines: list[tuple[str, int]] | None, reason: str, idempotency_key: str) -> Outcome:
    request = {"orderId": order_id, "lines": lines, "reason": reason}

    async def work(db, actor):
        done, _ = await idempotency.once(
            db, brand_id=actor.brand_id, sender=idempotency.staff_sender(actor.staff_id), key=idempotency_key, operation="refundOrder",
            request=request, run=lambda: give_back(db, actor), guard=lambda: orders.get_order(db, actor, decode_id(order_id, "Order", "orderId")),
        )
        return done["refund_id"]

    async def give_back(db, actor) -> dict:
        refund_id = await refunds.refund_order(
            db, actor, order_id=decode_id(order_id, "Order", "orderId"),
            lines=None if lines is None else [(decode_id(l, "OrderLine", f"lines.{i}.lineId"), q) for i, (l, q) in enumerate(lines)],
            reason=reason, reference=idempotency.scoped_reference("refund", idempotency.staff_sender(actor.staff_id), idempotency_key),
        )
        return {"refund_id": refund_id}

    outcome = await ctx.mutate("refundOrder", work)
    if outcome.ok:
        from resolvers.payments import send_after_commit

        await send_after_commit(ctx, outcome.value)
    return outcome


async def refund_row(ctx: Context, refund_id: int):
    async with ctx.reads.reading() as db:
        return await refunds.get_refund(db, refund_id)


async def set_store_price(ctx: Context, *, store_id: str, item_id: str, price: int | None) -> Outcome:
    async def work(db, actor):
        parsed = parse_global_id(item_id or "")
        kinds = {"Service": ItemKind.SERVICE, "RetailProduct": ItemKind.PRODUCT, "CountCardProduct": ItemKind.COUNT_CARD}
        if parsed is None or parsed[0] not in kinds:
            raise DomainError("NOT_FOUND", "itemId", what="项目")
        await pricing.set_store_price(db, actor, store_id=decode_id(store_id, "Store", "storeId"), kind=kinds[parsed[0]], item_id=parsed[1], price=price)
        return True

    return await ctx.mutate("setStorePrice", work)


async def set_credit_limit(ctx: Context, *, member_id: str, limit: int) -> Outcome:
    async def work(db, actor):
        pk = decode_id(member_id, "Member", "memberId")
        await credit.set_credit_limit(db, actor, member_id=pk, limit=limit)
        return pk

    return await ctx.mutate("setCreditLimit", work)


async def repay(ctx: Context, *, member_id: str, store_id: str, amount: int, tender: Tender, idempotency_key: str) -> Outcome:
    request = {"memberId": member_id, "storeId": store_id, "amount": amount, "tender": tender.value}

    async def work(db, actor):
        done, _ = await idempotency.once(
            db, brand_id=actor.brand_id, sender=idempotency.staff_sender(actor.staff_id), key=idempotency_key, operation="repayOnAccount",
            request=request, run=lambda: repay_now(db, actor), guard=lambda: may_repay(db, actor),
        )
        return done["member_id"]

    async def repay_now(db, actor) -> dict:
        pk = decode_id(member_id, "Member", "memberId")
        await credit.repay(db, actor, member_id=pk, store_id=decode_id(store_id, "Store", "storeId"), amount=amount, tender=tender,
                           reference=idempotency.scoped_reference("repay", idempotency.staff_sender(actor.staff_id), idempotency_key))
        return {"member_id": pk}

    async def may_repay(db, actor) -> None:
        await get_store(db, actor, decode_id(store_id, "Store", "storeId"))
        await get_member(db, actor, decode_id(member_id, "Member", "memberId"))

    return await ctx.mutate("repayOnAccount", work)


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
