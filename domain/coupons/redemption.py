"""Redeeming coupons (核销) inside checkout, checking them for the scan-to-redeem screen, and giving
them back on a whole refund. Sales (checkout, refunds) call these in their own transaction; this
module knows orders only as ids and priced lines (domain.coupons.pricing).

Exactly once: a coupon is redeemed by one conditional UPDATE (ISSUED and valid -> REDEEMED) in the
checkout's transaction, so of two orders racing for it one gets it and the other COUPON_USED; the
template's and the member's redeemed counters are conditional updates too, counted with or without
a limit. Locks are taken coupon, template, member counter, in that order, before checkout touches
cards or accounts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import Column, ForeignKey, Table, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.coupons import pricing
from domain.coupons.issuing import (
    CouponStatus,
    coupon_member_counts,
    coupons,
    normalise_code,
    schedule_expiry_reminder,
    withdraw_expiry_reminder,
)
from domain.coupons.templates import Template, coupon_templates, templates_by_ids
from domain.db import Id, metadata
from domain.errors import DomainError
from domain.ledger.postings import AccountKind, Leg, ensure_accounts, store_account

MAX_COUPONS_PER_ORDER = 5

# What each coupon took off each order line: a refund of a line gives back exactly its share.
coupon_line_shares = Table(
    "coupon_line_shares",
    metadata,
    Column("id", Id, primary_key=True),
    Column("coupon_id", Id, ForeignKey("coupons.id"), nullable=False, index=True),
    Column("order_id", Id, ForeignKey("orders.id"), nullable=False, index=True),
    Column("order_line_id", Id, ForeignKey("order_lines.id"), nullable=False),
    Column("amount", Id, nullable=False),
    Column("refunded", Id, nullable=False, default=0),
)


@dataclass
class Candidate:
    """One code on an order: the coupon and template (None when no such coupon), every reason it
    does not apply, and what it would take off each line."""

    code: str
    coupon: object | None
    template: Template | None
    reasons: list[str] = field(default_factory=list)
    shares: dict[int, int] = field(default_factory=dict)

    @property
    def discount(self) -> int:
        return sum(self.shares.values())

    @property
    def applicable(self) -> bool:
        return not self.reasons


@dataclass(frozen=True)
class OrderContext:
    brand_id: int
    order_id: int
    store_id: int
    member_id: int | None
    shard: int = 0  # of the store's accounts (domain.ledger.store_accounts)


async def evaluate(db: AsyncConnection, order: OrderContext, lines: list[pricing.Line], codes: list[str], now: dt.datetime) -> list[Candidate]:
    """Each code in order, with every reason it does not apply and, for those that do, its shares
    (each coupon on what the coupons before it left)."""
    if len(codes) > MAX_COUPONS_PER_ORDER:
        raise DomainError("TOO_MANY", "couponCodes", what="优惠券", max=MAX_COUPONS_PER_ORDER)
    wanted = [normalise_code(c) for c in codes]
    rows = {r.code: r for r in await db.execute(select(coupons).where(coupons.c.code.in_(wanted), coupons.c.brand_id == order.brand_id))} if wanted else {}
    found = await templates_by_ids(db, [r.template_id for r in rows.values()])
    redeemed_by_member = await _member_redeemed(db, order.member_id, list(found))
    candidates: list[Candidate] = []
    for given, code in zip(codes, wanted):
        row = rows.get(code)
        if row is None:
            candidates.append(Candidate(given, None, None, ["COUPON_NOT_FOUND"]))
            continue
        template = found[row.template_id]
        reasons = _reasons(row, template, order, lines, now, redeemed_by_member.get(template.id, 0))
        if any(c.coupon is not None and c.coupon.id == row.id for c in candidates):
            reasons.append("COUPON_DUPLICATE")
        candidates.append(Candidate(given, row, template, reasons))
    if len(candidates) > 1:
        for c in candidates:
            if c.template is not None and not c.template.combines:
                c.reasons.append("COUPON_DOES_NOT_STACK")
    taken: dict[int, int] = {}
    for c in candidates:
        if c.template is None or {"COUPON_SERVICE_OUT_OF_SCOPE", "COUPON_THRESHOLD_NOT_MET"} & set(c.reasons):
            continue
        c.shares = pricing.shares(pricing.Terms.of(c.template), lines, taken)
        if not c.shares:
            c.reasons.append("COUPON_NOTHING_TO_DISCOUNT")
        for line_id, amount in c.shares.items():
            taken[line_id] = taken.get(line_id, 0) + amount
    return candidates


def _reasons(row, template: Template, order: OrderContext, lines: list[pricing.Line], now: dt.datetime, member_redeemed: int) -> list[str]:
    reasons = []
    if row.status == CouponStatus.REDEEMED.value:
        reasons.append("COUPON_USED")
    elif row.status == CouponStatus.VOID.value:
        reasons.append("COUPON_VOID")
    if now < row.valid_from:
        reasons.append("COUPON_NOT_YET_VALID")
    if now >= row.valid_to:
        reasons.append("COUPON_EXPIRED")
    if row.member_id != order.member_id:
        reasons.append("COUPON_OTHER_MEMBER")
    if template.store_ids and order.store_id not in template.store_ids:
        reasons.append("COUPON_STORE_OUT_OF_SCOPE")
    terms = pricing.Terms.of(template)
    if not pricing.in_scope(terms, lines):
        reasons.append("COUPON_SERVICE_OUT_OF_SCOPE")
    elif not pricing.threshold_met(terms, lines) or not pricing.shares(terms, lines):
        reasons.append("COUPON_THRESHOLD_NOT_MET")
    if row.status == CouponStatus.ISSUED.value and (
        (template.total_limit is not None and template.redeemed_count >= template.total_limit)
        or (template.per_member_limit is not None and member_redeemed >= template.per_member_limit)
    ):
        reasons.append("COUPON_LIMIT_REACHED")
    return reasons


async def _member_redeemed(db: AsyncConnection, member_id: int | None, template_ids: list[int]) -> dict[int, int]:
    if member_id is None or not template_ids:
        return {}
    return dict((await db.execute(select(coupon_member_counts.c.template_id, coupon_member_counts.c.redeemed).where(
        coupon_member_counts.c.member_id == member_id, coupon_member_counts.c.template_id.in_(template_ids)))).all())


@dataclass
class Redeemed:
    """What checkout needs back: each line's coupon share, the lines a card's discount must not
    touch, the ledger leg of the discount, and the codes with their discounts for the breakdown."""

    shares: dict[int, int] = field(default_factory=dict)
    no_card_discount: set[int] = field(default_factory=set)
    legs: list[Leg] = field(default_factory=list)
    applied: list[tuple[str, int]] = field(default_factory=list)

    @property
    def discount(self) -> int:
        return sum(self.shares.values())


async def redeem(db: AsyncConnection, order: OrderContext, lines: list[pricing.Line], codes: list[str], now: dt.datetime) -> Redeemed:
    """Redeem every code on the order or refuse the checkout with the first reason of the first
    code that does not apply (field couponCodes.i)."""
    result = Redeemed()
    if not codes:
        return result
    candidates = await evaluate(db, order, lines, codes, now)
    for i, c in enumerate(candidates):
        if c.reasons:
            raise DomainError(c.reasons[0], f"couponCodes.{i}", coupon=c.code)
    for i, c in enumerate(candidates):
        await _take(db, order, c, f"couponCodes.{i}", now)
        for line_id, amount in c.shares.items():
            result.shares[line_id] = result.shares.get(line_id, 0) + amount
        if not c.template.stacks_with_card_discount:
            result.no_card_discount.update(c.shares)
        result.applied.append((c.coupon.code, c.discount))
    await db.execute(insert(coupon_line_shares), [
        {"coupon_id": c.coupon.id, "order_id": order.order_id, "order_line_id": line_id, "amount": amount, "refunded": 0}
        for c in candidates for line_id, amount in c.shares.items()
    ])
    # Discounts given: a debit beside the revenue the checkout credits at list less card discounts.
    result.legs.append(Leg(await discount_account(db, order.brand_id, order.store_id, order.shard), result.discount))
    return result


async def _take(db: AsyncConnection, order: OrderContext, c: Candidate, field_name: str, now: dt.datetime) -> None:
    taken = await db.execute(
        update(coupons).where(coupons.c.id == c.coupon.id, coupons.c.status == CouponStatus.ISSUED.value, coupons.c.valid_from <= now,
                              coupons.c.valid_to > now)
        .values(status=CouponStatus.REDEEMED.value, order_id=order.order_id, store_id=order.store_id, discount=c.discount, redeemed_at=now)
    )
    if taken.rowcount != 1:
        raise DomainError("COUPON_USED", field_name, coupon=c.code)
    template = c.template
    stmt = update(coupon_templates).where(coupon_templates.c.id == template.id)
    if template.total_limit is not None:
        stmt = stmt.where(coupon_templates.c.redeemed_count < template.total_limit)
    if (await db.execute(stmt.values(redeemed_count=coupon_templates.c.redeemed_count + 1))).rowcount != 1:
        raise DomainError("COUPON_LIMIT_REACHED", field_name, coupon=c.code)
    stmt = update(coupon_member_counts).where(coupon_member_counts.c.template_id == template.id, coupon_member_counts.c.member_id == c.coupon.member_id)
    if template.per_member_limit is not None:
        stmt = stmt.where(coupon_member_counts.c.redeemed < template.per_member_limit)
    if (await db.execute(stmt.values(redeemed=coupon_member_counts.c.redeemed + 1))).rowcount != 1:
        raise DomainError("COUPON_LIMIT_REACHED", field_name, coupon=c.code)
    await withdraw_expiry_reminder(db, brand_id=order.brand_id, coupon_id=c.coupon.id)


async def line_share_back(db: AsyncConnection, *, line_id: int, done_units: int, units: int, units_total: int) -> int:
    """What the coupons took off a line for `units` more of its `units_total` paid units (of which
    `done_units` were refunded before), cumulatively so the last part gives back exactly the rest;
    marked refunded. Refunds reverse it off the store's discounts given."""
    back = 0
    for share in await db.execute(select(coupon_line_shares).where(coupon_line_shares.c.order_line_id == line_id).order_by(coupon_line_shares.c.id)):
        amount = share.amount * (done_units + units) // units_total - share.amount * done_units // units_total
        if amount:
            await db.execute(update(coupon_line_shares).where(coupon_line_shares.c.id == share.id).values(refunded=share.refunded + amount))
            back += amount
    return back


async def discount_account(db: AsyncConnection, brand_id: int, store_id: int, shard: int = 0) -> int:
    spec = store_account(AccountKind.STORE_DISCOUNT, store_id, "coupon", shard=shard)
    return (await ensure_accounts(db, brand_id, [spec]))[spec.code]


async def give_back(db: AsyncConnection, *, brand_id: int, order_id: int, now: dt.datetime) -> list[int]:
    """A whole order refunded: its coupons still valid are the member's again (and count as not
    redeemed); those past their validity stay used. Returns the coupons given back."""
    rows = list(await db.execute(select(coupons).where(coupons.c.order_id == order_id, coupons.c.status == CouponStatus.REDEEMED.value).order_by(coupons.c.id)))
    back = []
    found = await templates_by_ids(db, [r.template_id for r in rows])
    for row in rows:
        if row.valid_to <= now:
            continue
        await db.execute(update(coupons).where(coupons.c.id == row.id, coupons.c.status == CouponStatus.REDEEMED.value).values(
            status=CouponStatus.ISSUED.value, order_id=None, store_id=None, discount=0, redeemed_at=None))
        await db.execute(update(coupon_templates).where(coupon_templates.c.id == row.template_id).values(redeemed_count=coupon_templates.c.redeemed_count - 1))
        await db.execute(update(coupon_member_counts).where(coupon_member_counts.c.template_id == row.template_id, coupon_member_counts.c.member_id == row.member_id)
                         .values(redeemed=coupon_member_counts.c.redeemed - 1))
        await schedule_expiry_reminder(db, brand_id=brand_id, coupon_id=row.id, member_id=row.member_id, name=found[row.template_id].name,
                                       valid_to=row.valid_to, now=now)
        back.append(row.id)
    return back


async def coupons_by_order_ids(db: AsyncConnection, order_ids: list[int]) -> dict[int, list[tuple[str, int]]]:
    """Each order's coupons as (code, discount), from the shares kept (a coupon given back by a
    refund still shows what it took off that order)."""
    found: dict[int, list[tuple[str, int]]] = {i: [] for i in order_ids}
    if not order_ids:
        return found
    rows = await db.execute(
        select(coupon_line_shares.c.order_id, coupons.c.code, func.sum(coupon_line_shares.c.amount))
        .join(coupons, coupons.c.id == coupon_line_shares.c.coupon_id)
        .where(coupon_line_shares.c.order_id.in_(order_ids))
        .group_by(coupon_line_shares.c.order_id, coupons.c.id, coupons.c.code).order_by(coupons.c.id)
    )
    for order_id, code, amount in rows:
        found[order_id].append((code, amount))
    return found
