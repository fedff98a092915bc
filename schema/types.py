"""Output types of the staff schema. Relations load through the request's dataloaders."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry
from strawberry.types import Info

from domain.actor import Role
from domain.bookings.resources import ResourceKind
from domain.brands.stores import SplitRule
from domain.cards.stored_value import CardStatus, Tender
from domain.members.members import Tier
from domain.members.pii import mask_phone
from domain.pagination import encode_cursor
from resolvers.bookings import area_loaders
from resolvers.ids import parse_global_id, to_global_id
from resolvers.members import entries_page_args
from schema import member_fields
from schema.member_fields import GenderEnum, MembershipFee
from schema.scalars import Fen

RoleEnum = strawberry.enum(Role, description="Staff roles (DESIGN.md §8)")
TierEnum = strawberry.enum(Tier, description="会员等级: 普通/银卡/金卡")
SplitRuleEnum = strawberry.enum(SplitRule, description="Which balance of a stored-value card pays")
TenderEnum = strawberry.enum(Tender, description="How money was taken at the desk")
CardStatusEnum = strawberry.enum(CardStatus)


@strawberry.interface(description="Relay: every object with a global id")
class Node:
    id: strawberry.ID


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Brand(Node):
    name: str
    stored_value_split_rule: SplitRuleEnum
    settlement_rate_percent: int
    timezone: str
    default_card_product_id: strawberry.ID | None

    @staticmethod
    def of(row) -> "Brand":
        return Brand(
            id=to_global_id("Brand", row.id), name=row.name, stored_value_split_rule=SplitRule(row.split_rule),
            settlement_rate_percent=row.settlement_rate_bp // 100, timezone=row.timezone,
            default_card_product_id=to_global_id("StoredValueCardProduct", row.default_card_product_id) if row.default_card_product_id else None,
        )


@strawberry.type
class Store(Node):
    name: str

    @staticmethod
    def of(row) -> "Store":
        return Store(id=to_global_id("Store", row.id), name=row.name)


async def _store(info: Info, store_id: int | None) -> Store | None:
    if store_id is None:
        return None
    row = await info.context.loaders.store.load(store_id)
    return Store.of(row) if row is not None else None


@strawberry.type
class Staff(Node):
    name: str
    username: str
    role: RoleEnum
    store_id: strawberry.Private[int | None]
    active: bool = strawberry.field(default=True, description="False once deactivated: the account can neither sign in nor act")

    @strawberry.field
    async def store(self, info: Info) -> Store | None:
        return await _store(info, self.store_id)

    @staticmethod
    def of(row) -> "Staff":
        return Staff(id=to_global_id("Staff", row.id), name=row.name, username=row.username, role=Role(row.role), store_id=row.store_id,
                     active=row.active)


ResourceKindEnum = strawberry.enum(ResourceKind, name="ResourceKind", description="What a service may need: a room (手术室 too), a bed, equipment")


@strawberry.type
class Service(Node):
    name: str
    category: str
    price: Fen
    duration_minutes: int

    @strawberry.field(description="Prep/cleanup after the service, in minutes: the technician (and resource) stay blocked")
    async def buffer_minutes(self, info: Info) -> int:
        return (await area_loaders(info.context).rules.load(parse_global_id(self.id)[1]))[0]

    @strawberry.field(description="The kind of resource a booking of this service occupies, if any")
    async def resource_kind(self, info: Info) -> ResourceKindEnum | None:
        kind = (await area_loaders(info.context).rules.load(parse_global_id(self.id)[1]))[1]
        return ResourceKind(kind) if kind else None

    @strawberry.field(description="The technicians who perform it; empty: every technician of the store")
    async def technician_ids(self, info: Info) -> list[strawberry.ID]:
        return [to_global_id("Staff", t) for t in await area_loaders(info.context).skilled.load(parse_global_id(self.id)[1])]

    @staticmethod
    def of(row) -> "Service":
        return Service(id=to_global_id("Service", row.id), name=row.name, category=row.category, price=row.price, duration_minutes=row.duration_minutes)


@strawberry.type
class TopUpRule:
    threshold: Fen
    bonus: Fen


@strawberry.type
class StoredValueCardProduct(Node):
    name: str
    service_discount_percent: int = strawberry.field(description="What a member pays for services with this card: 85 is 85折")
    pk: strawberry.Private[int]

    @strawberry.field
    async def top_up_rules(self, info: Info) -> list[TopUpRule]:
        return [TopUpRule(threshold=r.threshold, bonus=r.bonus) for r in await info.context.loaders.top_up_rules.load(self.pk)]

    @strawberry.field(description="Stores that accept the card; empty: every store")
    async def accepted_stores(self, info: Info) -> list[Store]:
        risk = await info.context.loaders.card_product_risk.load(self.pk)
        return [Store.of(row) for row in await info.context.loaders.store.load_many(list(risk.accepted_store_ids))]

    @strawberry.field(description="跨店每日限额: what one card may spend per day away from its issuing store; null: no cap")
    async def cross_store_daily_limit(self, info: Info) -> Fen | None:
        return (await info.context.loaders.card_product_risk.load(self.pk)).cross_store_daily_limit

    @staticmethod
    def of(row) -> "StoredValueCardProduct":
        return StoredValueCardProduct(
            id=to_global_id("StoredValueCardProduct", row.id), name=row.name, service_discount_percent=row.service_discount_percent, pk=row.id
        )


@strawberry.type
class StoredValueCard(Node):
    principal: Fen = strawberry.field(description="本金: what the member paid in and has not spent")
    gift: Fen = strawberry.field(description="赠送金: bonus balance")
    balance: Fen = strawberry.field(description="principal + gift")
    status: CardStatusEnum
    frozen_reason: str | None
    created_at: dt.datetime
    product_id: strawberry.Private[int]
    issued_store_id: strawberry.Private[int]
    member_id: strawberry.Private[int]

    @strawberry.field
    async def product(self, info: Info) -> StoredValueCardProduct:
        return StoredValueCardProduct.of(await info.context.loaders.card_product.load(self.product_id))

    @strawberry.field
    async def issued_store(self, info: Info) -> Store:
        return await _store(info, self.issued_store_id)

    @strawberry.field
    async def member(self, info: Info) -> Annotated["Member", strawberry.lazy("schema.types")]:
        return Member.of(await info.context.loaders.member.load(self.member_id), info)

    @staticmethod
    def of(row) -> "StoredValueCard":
        return StoredValueCard(
            id=to_global_id("StoredValueCard", row.id), principal=row.principal, gift=row.gift, balance=row.principal + row.gift,
            status=CardStatus(row.status), frozen_reason=row.frozen_reason, created_at=row.created_at,
            product_id=row.product_id, issued_store_id=row.issued_store_id, member_id=row.member_id,
        )


@strawberry.type(description="One line of a member's stored-value statement: one card's share of one ledger transfer")
class MemberTransaction(Node):
    kind: str
    amount: Fen = strawberry.field(description="Change of the card's balance (principal + gift); negative when spent")
    principal_amount: Fen
    gift_amount: Fen
    balance_after: Fen = strawberry.field(description="The card's balance (principal + gift) after this line")
    principal_after: Fen
    gift_after: Fen
    created_at: dt.datetime
    card_id: strawberry.Private[int]
    store_id: strawberry.Private[int | None]
    staff_id: strawberry.Private[int | None]

    @strawberry.field
    async def card(self, info: Info) -> StoredValueCard:
        return StoredValueCard.of(await info.context.loaders.card.load(self.card_id))

    @strawberry.field
    async def store(self, info: Info) -> Store | None:
        return await _store(info, self.store_id)

    @strawberry.field
    async def staff(self, info: Info) -> Staff | None:
        if self.staff_id is None:
            return None
        return Staff.of(await info.context.loaders.staff.load(self.staff_id))

    @staticmethod
    def of(row) -> "MemberTransaction":
        return MemberTransaction(
            id=to_global_id("MemberTransaction", row.id), kind=row.kind,
            amount=row.principal_delta + row.gift_delta, principal_amount=row.principal_delta, gift_amount=row.gift_delta,
            balance_after=row.principal_after + row.gift_after, principal_after=row.principal_after, gift_after=row.gift_after,
            created_at=row.created_at, card_id=row.card_id, store_id=row.store_id, staff_id=row.staff_id,
        )


@strawberry.type
class MemberTransactionEdge:
    cursor: str
    node: MemberTransaction


@strawberry.type
class MemberTransactionConnection:
    edges: list[MemberTransactionEdge]
    page_info: PageInfo


@strawberry.type
class CountCardProduct(Node):
    name: str
    sessions: int | None = strawberry.field(description="None: a time card, unlimited within validity")
    price: Fen
    valid_days: int
    daily_limit: int | None
    weekly_limit: int | None
    requires_booking: bool = strawberry.field(description="需提前预约: its sessions pay only orders from a booking's check-in")
    pk: strawberry.Private[int]

    @strawberry.field
    async def services(self, info: Info) -> list[Service]:
        ids = await info.context.loaders.count_card_services.load(self.pk)
        return [Service.of(r) for r in await info.context.loaders.service.load_many(ids)]

    @strawberry.field(description="Stores that accept it; empty means every store")
    async def stores(self, info: Info) -> list[Store]:
        ids = sorted(await info.context.loaders.count_card_scopes.load(self.pk))
        return [Store.of(r) for r in await info.context.loaders.store.load_many(ids)]

    @staticmethod
    def of(row) -> "CountCardProduct":
        return CountCardProduct(
            id=to_global_id("CountCardProduct", row.id), name=row.name, sessions=row.sessions, price=row.price, valid_days=row.valid_days,
            daily_limit=row.daily_limit, weekly_limit=row.weekly_limit, requires_booking=row.requires_booking, pk=row.id,
        )


@strawberry.type
class CountCard(Node):
    remaining: int | None = strawberry.field(description="Sessions left; None for a time card")
    sessions_total: int | None
    expires_at: dt.datetime
    status: str
    created_at: dt.datetime
    product_id: strawberry.Private[int]
    issued_store_id: strawberry.Private[int]

    @strawberry.field
    async def product(self, info: Info) -> CountCardProduct:
        return CountCardProduct.of(await info.context.loaders.count_card_product.load(self.product_id))

    @strawberry.field
    async def issued_store(self, info: Info) -> Store:
        return await _store(info, self.issued_store_id)

    @staticmethod
    def of(row) -> "CountCard":
        return CountCard(
            id=to_global_id("CountCard", row.id), remaining=row.sessions_left, sessions_total=row.sessions_total, expires_at=row.expires_at,
            status=row.status, created_at=row.created_at, product_id=row.product_id, issued_store_id=row.issued_store_id,
        )


@strawberry.type(description="An order by its id")
class OrderRef:
    id: strawberry.ID


@strawberry.type(description="RFM (README): recency in days since the last paid visit (null: never), frequency = paid visits in 365 days, monetary = spend in 365 days net of refunds; each scored 1-5 by quintiles within the brand, score = R + F + M")
class Rfm:
    recency: int | None
    frequency: int
    monetary: Fen
    recency_score: int
    frequency_score: int
    monetary_score: int
    score: int

    @staticmethod
    def of(value) -> "Rfm":
        return Rfm(recency=value.recency, frequency=value.frequency, monetary=value.monetary, recency_score=value.recency_score,
                   frequency_score=value.frequency_score, monetary_score=value.monetary_score, score=value.score)


@strawberry.type(description="One change of a member's points (积分明细): its kind, what caused it, the points after it")
class PointsEntry(Node):
    kind: str = strawberry.field(description="EARNED, REFUND_REVERSAL, EXCHANGED, EXCHANGE_REVERSAL, REFERRAL_REWARD, REFERRAL_REVERSAL, REVIEW_REWARD, REVIEW_REVERSAL, ADJUSTMENT, OPENING")
    delta: int
    points_after: int
    reason: str | None
    created_at: dt.datetime
    order_id: strawberry.Private[int | None]
    store_id: strawberry.Private[int | None]
    staff_id: strawberry.Private[int | None]

    @strawberry.field(description="The order behind the change (fetch it by its id with `order`)")
    def order(self) -> OrderRef | None:
        return OrderRef(id=to_global_id("Order", self.order_id)) if self.order_id is not None else None

    @strawberry.field
    async def store(self, info: Info) -> Store | None:
        return await _store(info, self.store_id)

    @strawberry.field
    async def staff(self, info: Info) -> Staff | None:
        return Staff.of(await info.context.loaders.staff.load(self.staff_id)) if self.staff_id else None

    @staticmethod
    def of(row) -> "PointsEntry":
        return PointsEntry(
            id=to_global_id("PointsEntry", row.id), kind=row.kind, delta=row.delta, points_after=row.points_after, reason=row.reason,
            created_at=row.created_at, order_id=row.order_id, store_id=row.store_id, staff_id=row.staff_id,
        )


@strawberry.type
class PointsEntryEdge:
    cursor: str
    node: PointsEntry


@strawberry.type
class PointsEntryConnection:
    edges: list[PointsEntryEdge]
    page_info: PageInfo


async def points_history_page(info: Info, member_pk: int, first: int | None, after: str | None) -> tuple[list, bool]:
    """One page of the member's points entries, newest first, through the request's loader."""
    size, before_id = entries_page_args(first, after)
    rows = await info.context.loaders.points_page(size, before_id).load(member_pk)
    return rows[:size], len(rows) > size


@strawberry.type(description="挂账: what the member owes and may owe")
class OnAccount:
    debt: Fen
    credit_limit: Fen
    available: Fen


@strawberry.type
class Member(Node):
    member_no: str
    name: str
    phone: str = strawberry.field(description="Masked (139****5678) unless the caller's role may see it in full")
    tier: TierEnum
    points: int
    referral_code: str = strawberry.field(description="推荐码: what a friend gives when registering")
    created_at: dt.datetime
    pk: strawberry.Private[int]
    registered_store_id: strawberry.Private[int]

    @strawberry.field(description="积分明细, newest first")
    async def points_history(self, info: Info, first: int | None = 20, after: str | None = None) -> PointsEntryConnection:
        page, more = await points_history_page(info, self.pk, first, after)
        return PointsEntryConnection(
            edges=[PointsEntryEdge(cursor=encode_cursor(r.id), node=PointsEntry.of(r)) for r in page],
            page_info=PageInfo(has_next_page=more, end_cursor=encode_cursor(page[-1].id) if page else None),
        )

    @strawberry.field(description="Recency, frequency and monetary value, each scored 1-5 by quintiles within the brand")
    async def rfm(self, info: Info) -> Rfm:
        return Rfm.of(await info.context.loaders.rfm.load(self.pk))

    @strawberry.field
    async def tags(self, info: Info) -> list[str]:
        return await info.context.loaders.tags_by_member.load(self.pk)

    @strawberry.field
    async def registered_store(self, info: Info) -> Store:
        return await _store(info, self.registered_store_id)

    @strawberry.field(description="Null with a FORBIDDEN error for roles that do not see money (technicians, marketers)")
    async def stored_value_cards(self, info: Info) -> list[StoredValueCard] | None:
        info.context.authorize_field("Member.storedValueCards")
        return [StoredValueCard.of(row) for row in await info.context.loaders.cards_by_member.load(self.pk)]

    @strawberry.field
    async def count_cards(self, info: Info) -> list[CountCard]:
        return [CountCard.of(row) for row in await info.context.loaders.count_cards_by_member.load(self.pk)]

    @strawberry.field(description="Null with a FORBIDDEN error for roles that do not see money (technicians, marketers)")
    async def on_account(self, info: Info) -> OnAccount | None:
        info.context.authorize_field("Member.onAccount")
        debt, limit = await info.context.loaders.credit.load(self.pk)
        return OnAccount(debt=debt, credit_limit=limit, available=max(0, limit - debt))

    @strawberry.field(description="Null with a FORBIDDEN error for roles that do not see money (technicians, marketers)")
    async def transactions(self, info: Info, first: int | None = 20, after: str | None = None) -> MemberTransactionConnection | None:
        info.context.authorize_field("Member.transactions")
        size, before_id = entries_page_args(first, after)
        rows = await info.context.loaders.entries_page(size, before_id).load(self.pk)
        page = rows[:size]
        return MemberTransactionConnection(
            edges=[MemberTransactionEdge(cursor=encode_cursor(r.id), node=MemberTransaction.of(r)) for r in page],
            page_info=PageInfo(has_next_page=len(rows) > size, end_cursor=encode_cursor(page[-1].id) if page else None),
        )

    # Store operations (issue 9): schema/member_fields.py reads each through a batched loader.
    @strawberry.field(description="The physical member card bound now; null when none")
    async def card_number(self, info: Info) -> str | None:
        return await member_fields.card_number(info, self.pk)

    @strawberry.field(description="会员费; null with a FORBIDDEN error for roles that do not see money")
    async def membership_fee(self, info: Info) -> MembershipFee | None:
        return await member_fields.membership_fee(info, self.pk)

    @strawberry.field
    async def birthday(self, info: Info) -> dt.date | None:
        return await member_fields.birthday(info, self.pk)

    @strawberry.field
    async def gender(self, info: Info) -> GenderEnum | None:
        return await member_fields.gender(info, self.pk)

    @strawberry.field(description="过敏: technicians see it before a treatment")
    async def allergies(self, info: Info) -> str | None:
        return await member_fields.profile_text(info, self.pk, "allergies")

    @strawberry.field(description="偏好")
    async def preferences(self, info: Info) -> str | None:
        return await member_fields.profile_text(info, self.pk, "preferences")

    @strawberry.field(description="备注")
    async def notes(self, info: Info) -> str | None:
        return await member_fields.profile_text(info, self.pk, "notes")

    @strawberry.field(description="When the member last paid an order not wholly refunded")
    async def last_visit_at(self, info: Info) -> dt.datetime | None:
        return (await member_fields.visits(info, self.pk)).last_visit_at

    @strawberry.field(description="Paid orders not wholly refunded")
    async def visits(self, info: Info) -> int:
        return (await member_fields.visits(info, self.pk)).visits

    @strawberry.field(description="The services taken most (units not refunded), at most three")
    async def favourite_services(self, info: Info) -> list[Service]:
        ids = (await member_fields.visits(info, self.pk)).favourite_service_ids
        return [Service.of(row) for row in await info.context.loaders.service.load_many(list(ids))]

    @strawberry.field(description="The technician who served the most service units")
    async def favourite_technician(self, info: Info) -> Staff | None:
        staff_id = (await member_fields.visits(info, self.pk)).favourite_technician_id
        return Staff.of(await info.context.loaders.staff.load(staff_id)) if staff_id else None

    @staticmethod
    def of(row, info: Info) -> "Member":
        ctx = info.context
        phone = ctx.cipher.decrypt(row.phone_cipher)
        return Member(
            id=to_global_id("Member", row.id), member_no=row.member_no, name=row.name,
            phone=phone if ctx.sees_full_pii() else mask_phone(phone),
            tier=Tier(row.tier), points=row.points, referral_code=row.referral_code, created_at=row.created_at, pk=row.id,
            registered_store_id=row.registered_store_id,
        )


@strawberry.type
class MemberEdge:
    cursor: str
    node: Member


@strawberry.type
class MemberConnection:
    edges: list[MemberEdge]
    page_info: PageInfo


@strawberry.type
class AuditEntry(Node):
    action: str
    entity: str
    entity_id: str | None
    before: strawberry.scalars.JSON | None
    after: strawberry.scalars.JSON | None
    created_at: dt.datetime
    staff_id: strawberry.Private[int | None]

    @strawberry.field
    async def staff(self, info: Info) -> Staff | None:
        return Staff.of(await info.context.loaders.staff.load(self.staff_id)) if self.staff_id else None


@strawberry.type
class AuditEntryEdge:
    cursor: str
    node: AuditEntry


@strawberry.type
class AuditEntryConnection:
    edges: list[AuditEntryEdge]
    page_info: PageInfo
