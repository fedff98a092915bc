"""Every call marketing makes into the coupons area, in one place: campaigns and referral rewards
issue through `domain.coupons.issuing.issue_coupons` (one coupon per member per batch key), a
reward taken back voids its coupon if still unused, and attribution reads the coupons of a batch
and the orders that redeemed them."""

from __future__ import annotations

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.actor import Actor
from domain.coupons import issuing
from domain.coupons.issuing import CouponSource, CouponStatus, IssueResult, coupons, issue_coupons
from domain.coupons.templates import get_template
from domain.marketing.activity import order_spend
from domain.members.customers import system_actor


async def check_template(db: AsyncConnection, actor: Actor, template_id: int, field: str) -> None:
    await get_template(db, actor.brand_id, template_id, field)


async def issue_batch(db: AsyncConnection, actor: Actor, *, template_id: int, member_ids: list[int], source: CouponSource,
                      batch_key: str) -> IssueResult:
    return await issue_coupons(db, actor, template_id=template_id, member_ids=member_ids, source=source.value, batch_key=batch_key)


async def would_issue(db: AsyncConnection, actor: Actor, *, template_id: int, member_ids: list[int]) -> int:
    return await issuing.would_issue(db, actor, template_id=template_id, member_ids=member_ids, batch_key=None)


async def issue(db: AsyncConnection, brand_id: int, *, template_id: int, member_id: int, batch_key: str) -> None:
    """A referral's reward coupon, issued by the system (a limit reached skips it: the points stand)."""
    await issue_batch(db, system_actor(brand_id, "邀请好友"), template_id=template_id, member_ids=[member_id], source=CouponSource.REFERRAL,
                      batch_key=batch_key)


async def void_unused(db: AsyncConnection, brand_id: int, *, batch_key: str) -> int:
    """Void the batch's coupons that are still unused; a redeemed one stays (its order stands)."""
    ids = list((await db.execute(select(coupons.c.id).where(coupons.c.brand_id == brand_id, coupons.c.batch_key == batch_key))).scalars())
    return len(await issuing.void_coupons(db, brand_id=brand_id, coupon_ids=ids))


async def batch_stats(db: AsyncConnection, brand_id: int, batch_keys: list[str]) -> dict[str, tuple[int, int, int]]:
    """Per batch: coupons issued, coupons redeemed, and the spend (net of refunds) of the orders
    that redeemed them; two statements for any number of batches."""
    found = {k: (0, 0, 0) for k in batch_keys}
    if not batch_keys:
        return found
    in_batches = and_(coupons.c.brand_id == brand_id, coupons.c.batch_key.in_(batch_keys))
    redeemed = coupons.c.status == CouponStatus.REDEEMED.value
    counts = await db.execute(
        select(coupons.c.batch_key, func.count(coupons.c.id), func.count(coupons.c.id).filter(redeemed))
        .where(in_batches).group_by(coupons.c.batch_key)
    )
    revenue: dict[str, int] = {}
    spend = order_spend()
    orders_of_batch = select(coupons.c.order_id, coupons.c.batch_key).where(in_batches, redeemed).distinct().subquery()
    for key, total in await db.execute(
        select(orders_of_batch.c.batch_key, func.coalesce(func.sum(spend.c.spend), 0))
        .select_from(orders_of_batch.join(spend, spend.c.order_id == orders_of_batch.c.order_id))
        .group_by(orders_of_batch.c.batch_key)
    ):
        revenue[key] = total
    for key, issued, used in counts:
        found[key] = (issued, used, revenue.get(key, 0))
    return found
