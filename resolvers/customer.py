"""What the mini-program does: log in, bind the phone, see one's own cards, buy and top up.
Platform calls (login, phone, payment orders) come from `ctx.platforms`; they never run inside a
database transaction."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass

from domain import idempotency
from domain.cards.count_card_products import list_count_card_products
from domain.coupons import rules as coupon_rules
from domain.db import utcnow
from domain.errors import DomainError
from domain.marketing import referrals
from domain.members import customers, members
from domain.members.customers import Channel
from domain.payments import intents as payments
from domain.payments.intents import Purpose
from domain.validation import check_amount
from resolvers.customer_context import CustomerContext
from resolvers.errors import Outcome
from resolvers.ids import decode_id, parse_global_id

log = logging.getLogger("meiye.mp")


@dataclass
class LoggedIn:
    token: str
    member: object | None


def _app(ctx: CustomerContext, channel: Channel, brand_id: int | None = None):
    app = ctx.platforms.app(channel, ctx.app_id, brand_id) if ctx.platforms is not None else None
    if app is None:
        raise DomainError("CHANNEL_NOT_CONFIGURED", "payWith" if brand_id else "code")
    return app


MAX_LOGIN_CODE = 128
MAX_OPEN_ID = 128  # customer_identities.open_id


async def login(ctx: CustomerContext, channel: Channel, code: str) -> Outcome[LoggedIn]:
    try:
        field = "code" if channel == Channel.WECHAT else "authCode"
        if not (code or "").strip():
            raise DomainError("REQUIRED", field, what="登录凭证")
        if len(code) > MAX_LOGIN_CODE:
            # Both platforms' codes are about 32 characters; a longer one is not theirs.
            raise DomainError("TOO_LONG", field, what="登录凭证", max=MAX_LOGIN_CODE)
        app = _app(ctx, channel)
        try:
            open_id = await app.login(code.strip())
        except Exception as error:  # noqa: BLE001 - any platform failure is a failed login to the customer
            log.warning("%s login failed: %s", channel, error)
            raise DomainError("LOGIN_FAILED", field) from None
        if not isinstance(open_id, str) or not 0 < len(open_id) <= MAX_OPEN_ID or not open_id.isprintable():
            log.warning("%s login answered an unusable user id of %s characters", channel, len(open_id) if isinstance(open_id, str) else "?")
            raise DomainError("LOGIN_FAILED", field)
        async with ctx.reads.write_transaction() as db:
            customer = await customers.login(db, brand_id=app.brand_id, channel=channel, app_id=app.app_id, open_id=open_id)
            member = await members.get_member(db, customers.system_actor(customer.brand_id), customer.member_id) if customer.member_id else None
    except DomainError as error:
        return Outcome(errors=[error])
    return Outcome(value=LoggedIn(ctx.services.signer.customer_token(customer.identity_id, customer.brand_id), member))


async def bind_phone(ctx: CustomerContext, *, phone_code: str, name: str | None, consent: bool, referral_code: str | None = None) -> Outcome:
    customer = await ctx.customer()
    try:
        if not (phone_code or "").strip() or len(phone_code) > 4096:
            raise DomainError("REQUIRED", "phoneCode", what="手机号凭证")
        app = _app(ctx, customer.channel, customer.brand_id)
        try:
            phone = await app.verified_phone(phone_code.strip())
        except Exception as error:  # noqa: BLE001
            log.warning("%s phone verification failed: %s", customer.channel, error)
            raise DomainError("PHONE_VERIFICATION_FAILED", "phoneCode") from None
        async with ctx.reads.write_transaction() as db:
            started = utcnow()
            member_id = await referrals.bind_phone_referred(db, ctx.cipher, customer, verified_phone=phone, name=name, consent=consent,
                                                            referral_code=referral_code)
            actor = customers.system_actor(customer.brand_id)
            member = await members.get_member(db, actor, member_id)
            if member.created_at >= started:  # registered just now by this binding: 注册礼
                await coupon_rules.on_registration(db, actor, member_id=member_id)
            return Outcome(value=member)
    except DomainError as error:
        return Outcome(errors=[error])


async def me(ctx: CustomerContext):
    customer = await ctx.customer()
    if customer.member_id is None:
        return None
    return await ctx.loaders.member.load(customer.member_id)


async def count_card_products(ctx: CustomerContext, *, store_id: str | None) -> list:
    customer = await ctx.customer()
    async with ctx.reads.reading() as db:
        store_pk = None
        if store_id:
            parsed = parse_global_id(store_id)
            store_pk = parsed[1] if parsed and parsed[0] == "Store" else -1
        return await list_count_card_products(db, customer.brand_id, store_pk)


async def stores(ctx: CustomerContext) -> list:
    from domain.brands.stores import list_stores

    customer = await ctx.customer()
    async with ctx.reads.reading() as db:
        return await list_stores(db, customer.brand_id)


@dataclass
class Purchase:
    intent_id: int | None
    count_card_id: int | None


async def buy_count_card(ctx: CustomerContext, *, product_id: str, store_id: str, pay_with: str, idempotency_key: str) -> Outcome[Purchase]:
    customer = await ctx.customer()
    request = {"productId": product_id, "storeId": store_id, "payWith": pay_with}
    try:
        async with ctx.reads.write_transaction() as db:
            done, _ = await idempotency.once(
                db, brand_id=customer.brand_id, sender=idempotency.customer_sender(customer.identity_id), key=idempotency_key,
                operation="mp.buyCountCard", request=request,
                run=lambda: _buy(ctx, db, customer, product_id, store_id, pay_with, idempotency_key),
            )
            purchase = Purchase(**done)
    except DomainError as error:
        return Outcome(errors=[error])
    return await _with_platform_order(ctx, purchase, "次卡")


async def top_up(ctx: CustomerContext, *, amount: int, store_id: str, pay_with: str, idempotency_key: str) -> Outcome[Purchase]:
    customer = await ctx.customer()
    request = {"amount": amount, "storeId": store_id, "payWith": pay_with}
    try:
        async with ctx.reads.write_transaction() as db:
            done, _ = await idempotency.once(
                db, brand_id=customer.brand_id, sender=idempotency.customer_sender(customer.identity_id), key=idempotency_key,
                operation="mp.topUp", request=request,
                run=lambda: _top_up(ctx, db, customer, amount, store_id, pay_with),
            )
            purchase = Purchase(**done)
    except DomainError as error:
        return Outcome(errors=[error])
    return await _with_platform_order(ctx, purchase, "储值充值")


async def _buy(ctx: CustomerContext, db, customer, product_id: str, store_id: str, pay_with: str, idempotency_key: str) -> dict:
    product_pk = decode_id(product_id, "CountCardProduct", "productId")
    store_pk = decode_id(store_id, "Store", "storeId")
    await payments.check_store(db, customer.brand_id, store_pk)
    if pay_with == "STORED_VALUE":
        card_id = await payments.buy_with_stored_value(db, customer, product_id=product_pk, store_id=store_pk, reference=idempotency.scoped_reference("mp", idempotency.customer_sender(customer.identity_id), idempotency_key))
        return asdict(Purchase(None, card_id))
    channel = Channel(pay_with)
    app = _app(ctx, channel, customer.brand_id)
    amount = await payments.count_card_price(db, customer.brand_id, store_pk, product_pk)
    intent_id = await payments.create_intent(
        db, customer, purpose=Purpose.BUY_COUNT_CARD, item_id=product_pk, amount=amount, store_id=store_pk,
        channel=channel, app_id=app.app_id, merchant_id=app.merchant_id,
    )
    return asdict(Purchase(intent_id, None))


async def _top_up(ctx: CustomerContext, db, customer, amount: int, store_id: str, pay_with: str) -> dict:
    check_amount(amount)
    if pay_with not in ("WECHAT", "ALIPAY"):
        raise DomainError("INVALID_VALUE", "payWith", what="支付方式")
    store_pk = decode_id(store_id, "Store", "storeId")
    await payments.check_store(db, customer.brand_id, store_pk)
    if customer.member_id is None:
        raise DomainError("NOT_BOUND", "phoneCode")
    channel = Channel(pay_with)
    app = _app(ctx, channel, customer.brand_id)
    product_pk = await payments.top_up_product(db, customer.brand_id, customer.member_id)
    intent_id = await payments.create_intent(
        db, customer, purpose=Purpose.TOP_UP, item_id=product_pk, amount=amount, store_id=store_pk,
        channel=channel, app_id=app.app_id, merchant_id=app.merchant_id,
    )
    return asdict(Purchase(intent_id, None))


async def _with_platform_order(ctx: CustomerContext, purchase: Purchase, description: str) -> Outcome[Purchase]:
    """Ask the platform for the payment order after the intent is committed, and keep what the
    mini-program needs to pay. A platform failure leaves the intent pending, to retry with the same key."""
    if purchase.intent_id is None:
        return Outcome(value=purchase)
    async with ctx.reads.reading() as db:
        intent = await payments.get_intent(db, purchase.intent_id)
    if intent.client_params is not None or intent.status != "PENDING":
        return Outcome(value=purchase)
    app = _app(ctx, Channel(intent.channel), intent.brand_id)
    try:
        created = await app.gateway.create_trade(
            out_trade_no=intent.out_trade_no, description=description, amount=intent.amount, payer_id=intent.payer_id, expires_at=intent.expires_at
        )
    except Exception as error:  # noqa: BLE001
        log.warning("creating %s trade %s failed: %s", intent.channel, intent.out_trade_no, error)
        return Outcome(value=purchase, errors=[DomainError("PLATFORM_UNAVAILABLE", "payWith")])
    if isinstance(created, str):
        params, trade_no = json.dumps({"alipayTradeNo": created}), created
    else:
        params, trade_no = json.dumps(asdict(created)), None
    async with ctx.reads.write_transaction() as db:
        await payments.save_client_params(db, intent.id, params, trade_no)
    return Outcome(value=purchase)


async def payment(ctx: CustomerContext, *, payment_id: str):
    customer = await ctx.customer()
    parsed = parse_global_id(payment_id)
    if parsed is None or parsed[0] != "Payment" or customer.member_id is None:
        return None
    async with ctx.reads.reading() as db:
        intent = await payments.get_intent(db, parsed[1])
    return intent if intent is not None and intent.member_id == customer.member_id else None


async def intent(ctx: CustomerContext, intent_id: int):
    async with ctx.reads.reading() as db:
        return await payments.get_intent(db, intent_id)
