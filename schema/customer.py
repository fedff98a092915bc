"""The customer (mini-program) schema: only what a customer may see, about themselves."""

from __future__ import annotations

import datetime as dt
import enum
import json

import strawberry
from strawberry.types import Info

from domain.cards.stored_value import CardStatus
from domain.members.members import Tier
from domain.members.pii import mask_phone
from resolvers import customer as resolvers
from resolvers.ids import to_global_id
from resolvers.member_operations import card_qr_payload
from resolvers.members import entries_page_args
from schema.bookings import MyBooking, MyOrder, my_bookings, my_orders
from schema.coupons import Coupon, my_coupons
from schema.errors import UserError, user_errors
from schema.scalars import Fen
from schema.types import (
    CountCardProduct,
    Node,
    OrderRef,
    PageInfo,
    Store,
    _store,
    encode_cursor,
    points_history_page,
)


@strawberry.enum
class PayWith(enum.Enum):
    WECHAT = "WECHAT"
    ALIPAY = "ALIPAY"
    STORED_VALUE = "STORED_VALUE"


@strawberry.enum
class PlatformPay(enum.Enum):
    WECHAT = "WECHAT"
    ALIPAY = "ALIPAY"


@strawberry.type
class MyStoredValueCard(Node):
    product_name: str
    service_discount_percent: int
    principal: Fen
    gift: Fen
    balance: Fen
    status: strawberry.enum(CardStatus, name="CardStatus")  # type: ignore[valid-type]
    issued_store_id: strawberry.Private[int]

    @strawberry.field
    async def issued_store(self, info: Info) -> Store:
        return await _store(info, self.issued_store_id)


@strawberry.type
class MyCountCard(Node):
    product_name: str
    remaining: int | None
    sessions_total: int | None
    expires_at: dt.datetime
    status: str


@strawberry.type
class MyTransaction:
    kind: str
    amount: Fen
    principal_amount: Fen
    gift_amount: Fen
    balance_after: Fen
    created_at: dt.datetime
    store_id: strawberry.Private[int | None]

    @strawberry.field
    async def store(self, info: Info) -> Store | None:
        return await _store(info, self.store_id)


@strawberry.type
class MyTransactionEdge:
    cursor: str
    node: MyTransaction


@strawberry.type
class MyTransactionConnection:
    edges: list[MyTransactionEdge]
    page_info: PageInfo


@strawberry.type(description="One change of my points")
class MyPointsEntry:
    kind: str
    delta: int
    points_after: int
    reason: str | None
    created_at: dt.datetime
    order: OrderRef | None
    store_id: strawberry.Private[int | None]

    @strawberry.field
    async def store(self, info: Info) -> Store | None:
        return await _store(info, self.store_id)


@strawberry.type
class MyPointsEntryEdge:
    cursor: str
    node: MyPointsEntry


@strawberry.type
class MyPointsEntryConnection:
    edges: list[MyPointsEntryEdge]
    page_info: PageInfo


@strawberry.type(description="The signed-in customer's own membership")
class Me(Node):
    member_no: str
    name: str
    phone: str
    tier: strawberry.enum(Tier, name="Tier")  # type: ignore[valid-type]
    points: int
    referral_code: str = strawberry.field(description="推荐码: share it with friends; both are rewarded on the friend's first paid order")
    pk: strawberry.Private[int]

    @strawberry.field(description="积分明细, newest first")
    async def points_history(self, info: Info, first: int | None = 20, after: str | None = None) -> MyPointsEntryConnection:
        page, more = await points_history_page(info, self.pk, first, after)
        return MyPointsEntryConnection(
            edges=[MyPointsEntryEdge(cursor=encode_cursor(r.id), node=MyPointsEntry(
                kind=r.kind, delta=r.delta, points_after=r.points_after, reason=r.reason, created_at=r.created_at,
                order=OrderRef(id=to_global_id("Order", r.order_id)) if r.order_id is not None else None, store_id=r.store_id,
            )) for r in page],
            page_info=PageInfo(has_next_page=more, end_cursor=encode_cursor(page[-1].id) if page else None),
        )

    @strawberry.field(description="The physical member card bound now, or the member number as the e-card's number")
    async def card_number(self, info: Info) -> str:
        return await info.context.loaders.member_card_number.load(self.pk) or self.member_no

    @strawberry.field(description="The e-card's QR code content, signed by the server and valid for ten minutes: the desk scans it (memberByCardQr)")
    async def card_qr_payload(self, info: Info) -> str:
        customer = await info.context.customer()
        return card_qr_payload(info.context.services.settings.secret_key, brand_id=customer.brand_id, member_id=self.pk)

    @strawberry.field
    async def stored_value_cards(self, info: Info) -> list[MyStoredValueCard]:
        rows = await info.context.loaders.cards_by_member.load(self.pk)
        products = await info.context.loaders.card_product.load_many([r.product_id for r in rows])
        return [
            MyStoredValueCard(
                id=to_global_id("StoredValueCard", r.id), product_name=p.name, service_discount_percent=p.service_discount_percent,
                principal=r.principal, gift=r.gift, balance=r.principal + r.gift, status=CardStatus(r.status), issued_store_id=r.issued_store_id,
            )
            for r, p in zip(rows, products)
        ]

    @strawberry.field
    async def count_cards(self, info: Info) -> list[MyCountCard]:
        rows = await info.context.loaders.count_cards_by_member.load(self.pk)
        products = await info.context.loaders.count_card_product.load_many([r.product_id for r in rows])
        return [
            MyCountCard(id=to_global_id("CountCard", r.id), product_name=p.name, remaining=r.sessions_left, sessions_total=r.sessions_total,
                        expires_at=r.expires_at, status=r.status)
            for r, p in zip(rows, products)
        ]

    @strawberry.field(description="我的券, newest first, each with its signed QR payload")
    async def coupons(self, info: Info) -> list[Coupon]:
        return await my_coupons(info, self.pk)

    @strawberry.field
    async def transactions(self, info: Info, first: int | None = 20, after: str | None = None) -> MyTransactionConnection:
        size, before_id = entries_page_args(first, after)
        rows = await info.context.loaders.entries_page(size, before_id).load(self.pk)
        page = rows[:size]
        return MyTransactionConnection(
            edges=[
                MyTransactionEdge(
                    cursor=encode_cursor(r.id),
                    node=MyTransaction(kind=r.kind, amount=r.principal_delta + r.gift_delta, principal_amount=r.principal_delta, gift_amount=r.gift_delta,
                                       balance_after=r.principal_after + r.gift_after, created_at=r.created_at, store_id=r.store_id),
                )
                for r in page
            ],
            page_info=PageInfo(has_next_page=len(rows) > size, end_cursor=encode_cursor(page[-1].id) if page else None),
        )

    @strawberry.field(description="Own bookings, the latest start first")
    async def bookings(self, info: Info) -> list[MyBooking]:
        return await my_bookings(info, self.pk)

    @strawberry.field(description="Own paid orders, newest first; each line says whether it can be reviewed")
    async def orders(self, info: Info) -> list[MyOrder]:
        return await my_orders(info, self.pk)

    @staticmethod
    def of(row, info: Info) -> "Me":
        phone = info.context.cipher.decrypt(row.phone_cipher)
        return Me(id=to_global_id("Member", row.id), member_no=row.member_no, name=row.name, phone=phone if info.context.sees_full_pii() else mask_phone(phone),
                  tier=Tier(row.tier), points=row.points, referral_code=row.referral_code, pk=row.id)


@strawberry.type
class WeChatPayParams:
    app_id: str
    time_stamp: str
    nonce_str: str
    package: str
    sign_type: str
    pay_sign: str


@strawberry.type
class Payment(Node):
    status: str
    channel: str
    amount: Fen
    out_trade_no: str
    created_at: dt.datetime
    wechat_pay_params: WeChatPayParams | None = strawberry.field(description="Pass to wx.requestPayment")
    alipay_trade_no: str | None = strawberry.field(description="Pass to my.tradePay")
    result_id: strawberry.Private[int | None]
    purpose: strawberry.Private[str]

    @strawberry.field(description="The count card bought, once paid")
    async def count_card(self, info: Info) -> MyCountCard | None:
        if self.purpose != "BUY_COUNT_CARD" or self.result_id is None:
            return None
        return await _my_count_card(info, self.result_id)

    @staticmethod
    def of(row) -> "Payment":
        params = json.loads(row.client_params) if row.client_params else {}
        wechat = None
        if "pay_sign" in params:
            wechat = WeChatPayParams(**params)
        return Payment(
            id=to_global_id("Payment", row.id), status=row.status, channel=row.channel, amount=row.amount, out_trade_no=row.out_trade_no,
            created_at=row.created_at, wechat_pay_params=wechat, alipay_trade_no=params.get("alipayTradeNo"), result_id=row.result_id, purpose=row.purpose,
        )


async def my_stored_value_card(info: Info, row) -> MyStoredValueCard:
    p = await info.context.loaders.card_product.load(row.product_id)
    return MyStoredValueCard(
        id=to_global_id("StoredValueCard", row.id), product_name=p.name, service_discount_percent=p.service_discount_percent,
        principal=row.principal, gift=row.gift, balance=row.principal + row.gift, status=CardStatus(row.status), issued_store_id=row.issued_store_id,
    )


async def _my_count_card(info: Info, card_id: int) -> MyCountCard | None:
    from sqlalchemy import select

    from domain.cards.count_cards import count_cards
    async with info.context.reads.reading() as db:
        row = (await db.execute(select(count_cards).where(count_cards.c.id == card_id))).first()
    if row is None:
        return None
    product = await info.context.loaders.count_card_product.load(row.product_id)
    return MyCountCard(id=to_global_id("CountCard", row.id), product_name=product.name, remaining=row.sessions_left,
                       sessions_total=row.sessions_total, expires_at=row.expires_at, status=row.status)


@strawberry.input
class WechatLoginInput:
    code: str


@strawberry.input
class AlipayLoginInput:
    auth_code: str


@strawberry.type
class LoginPayload:
    token: str | None
    member: Me | None
    errors: list[UserError]


@strawberry.input
class BindPhoneInput:
    phone_code: str = strawberry.field(description="WeChat's getPhoneNumber code, or Alipay's encrypted phone response")
    consent: bool
    name: str | None = None
    referral_code: str | None = strawberry.field(default=None, description="推荐码 of the friend who invited this customer (new members only)")


@strawberry.type
class BindPhonePayload:
    member: Me | None
    errors: list[UserError]


@strawberry.input
class BuyCountCardInput:
    product_id: strawberry.ID
    store_id: strawberry.ID
    pay_with: PayWith
    idempotency_key: str


@strawberry.type
class BuyCountCardPayload:
    payment: Payment | None
    count_card: MyCountCard | None
    errors: list[UserError]


@strawberry.input
class MpTopUpInput:
    amount: Fen
    store_id: strawberry.ID
    pay_with: PlatformPay
    idempotency_key: str


@strawberry.type
class MpTopUpPayload:
    payment: Payment | None
    errors: list[UserError]


@strawberry.type
class MpQuery:
    @strawberry.field
    async def me(self, info: Info) -> Me | None:
        row = await resolvers.me(info.context)
        return Me.of(row, info) if row is not None else None

    @strawberry.field
    async def stores(self, info: Info) -> list[Store]:
        return [Store.of(r) for r in await resolvers.stores(info.context)]

    @strawberry.field
    async def count_card_products(self, info: Info, store_id: strawberry.ID | None = None) -> list[CountCardProduct]:
        return [CountCardProduct.of(r) for r in await resolvers.count_card_products(info.context, store_id=store_id)]

    @strawberry.field
    async def payment(self, info: Info, id: strawberry.ID) -> Payment | None:
        row = await resolvers.payment(info.context, payment_id=id)
        return Payment.of(row) if row is not None else None


async def _payment_result(info: Info, outcome):
    payment = None
    if outcome.value is not None and outcome.value.intent_id is not None:
        payment = Payment.of(await resolvers.intent(info.context, outcome.value.intent_id))
    return payment


@strawberry.type
class MpMutation:
    @strawberry.mutation
    async def wechat_login(self, info: Info, input: WechatLoginInput) -> LoginPayload:
        from domain.members.customers import Channel

        outcome = await resolvers.login(info.context, Channel.WECHAT, input.code)
        return _login_payload(info, outcome)

    @strawberry.mutation
    async def alipay_login(self, info: Info, input: AlipayLoginInput) -> LoginPayload:
        from domain.members.customers import Channel

        outcome = await resolvers.login(info.context, Channel.ALIPAY, input.auth_code)
        return _login_payload(info, outcome)

    @strawberry.mutation
    async def bind_phone(self, info: Info, input: BindPhoneInput) -> BindPhonePayload:
        outcome = await resolvers.bind_phone(info.context, phone_code=input.phone_code, name=input.name, consent=input.consent,
                                             referral_code=input.referral_code)
        return BindPhonePayload(member=Me.of(outcome.value, info) if outcome.ok else None, errors=user_errors(outcome.errors, info.context.lang))

    @strawberry.mutation
    async def buy_count_card(self, info: Info, input: BuyCountCardInput) -> BuyCountCardPayload:
        outcome = await resolvers.buy_count_card(
            info.context, product_id=input.product_id, store_id=input.store_id, pay_with=input.pay_with.value, idempotency_key=input.idempotency_key
        )
        card = None
        if outcome.value is not None and outcome.value.count_card_id is not None:
            card = await _my_count_card(info, outcome.value.count_card_id)
        return BuyCountCardPayload(payment=await _payment_result(info, outcome), count_card=card, errors=user_errors(outcome.errors, info.context.lang))

    @strawberry.mutation
    async def top_up(self, info: Info, input: MpTopUpInput) -> MpTopUpPayload:
        outcome = await resolvers.top_up(
            info.context, amount=input.amount, store_id=input.store_id, pay_with=input.pay_with.value, idempotency_key=input.idempotency_key
        )
        return MpTopUpPayload(payment=await _payment_result(info, outcome), errors=user_errors(outcome.errors, info.context.lang))


def _login_payload(info: Info, outcome) -> LoginPayload:
    if not outcome.ok:
        return LoginPayload(token=None, member=None, errors=user_errors(outcome.errors, info.context.lang))
    member = Me.of(outcome.value.member, info) if outcome.value.member is not None else None
    return LoginPayload(token=outcome.value.token, member=member, errors=[])
