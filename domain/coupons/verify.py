"""The coupons' invariants for `meiye ledger verify`: counters equal the coupons they count, and
the store's discounts given equal the coupon shares still standing."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.coupons.issuing import CouponStatus, coupons
from domain.coupons.redemption import coupon_line_shares
from domain.coupons.templates import coupon_templates
from domain.ledger.postings import AccountKind, accounts
from domain.ledger.verify import Check


async def verify(db: AsyncConnection) -> list[Check]:
    issued = select(coupons.c.template_id, func.count().label("n")).group_by(coupons.c.template_id).subquery()
    redeemed = (select(coupons.c.template_id, func.count().label("n")).where(coupons.c.status == CouponStatus.REDEEMED.value)
                .group_by(coupons.c.template_id).subquery())
    rows = list(await db.execute(
        select(coupon_templates.c.id, coupon_templates.c.issued_count, func.coalesce(issued.c.n, 0), coupon_templates.c.redeemed_count,
               func.coalesce(redeemed.c.n, 0))
        .select_from(coupon_templates.outerjoin(issued, issued.c.template_id == coupon_templates.c.id)
                     .outerjoin(redeemed, redeemed.c.template_id == coupon_templates.c.id))
    ))
    bad_counts = [f"template {t}: issued {i} vs {ci} coupons, redeemed {r} vs {cr}" for t, i, ci, r, cr in rows if i != ci or r != cr]
    over = [f"template {t}: {ci} issued over its limit {limit}" for t, ci, limit in await db.execute(
        select(coupon_templates.c.id, coupon_templates.c.issued_count, coupon_templates.c.total_limit)
        .where(coupon_templates.c.total_limit.is_not(None), coupon_templates.c.issued_count > coupon_templates.c.total_limit))]
    standing = dict((await db.execute(
        select(coupons.c.store_id, func.sum(coupon_line_shares.c.amount - coupon_line_shares.c.refunded))
        .select_from(coupon_line_shares.join(coupons, coupons.c.id == coupon_line_shares.c.coupon_id))
        .where(coupons.c.store_id.is_not(None)).group_by(coupons.c.store_id)
    )).all())
    given_back = dict((await db.execute(
        select(accounts.c.store_id, func.sum(accounts.c.balance))
        .where(accounts.c.kind == AccountKind.STORE_DISCOUNT.value, or_(accounts.c.code.like("%:coupon"), accounts.c.code.like("%:coupon#%"))).group_by(accounts.c.store_id)
    )).all())
    # A coupon given back by a whole refund has no store: its shares were refunded in full.
    mismatched = [f"store {s}: discounts given {given_back.get(s, 0)}, coupon shares standing {standing.get(s, 0)}"
                  for s in set(standing) | set(given_back) if (given_back.get(s) or 0) != (standing.get(s) or 0)]
    return [
        Check("every coupon template's issued and redeemed counts equal its coupons", len(rows), bad_counts),
        Check("no coupon template issued beyond its total limit", len(rows), over),
        Check("each store's coupon discounts given equal the coupon shares not refunded", len(standing | given_back), mismatched),
    ]
