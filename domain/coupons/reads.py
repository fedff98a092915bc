"""Reading coupons: by code (the desk's lookup), a member's own (the mini-program's 我的券)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.coupons.issuing import CouponStatus, coupons, normalise_code

MAX_LISTED = 200


def status_of(row, now: dt.datetime) -> CouponStatus:
    """EXPIRED is never stored: an issued coupon past its end reads as expired."""
    if row.status == CouponStatus.ISSUED.value and row.valid_to <= now:
        return CouponStatus.EXPIRED
    return CouponStatus(row.status)


async def coupon_by_code(db: AsyncConnection, brand_id: int, code: str):
    return (await db.execute(select(coupons).where(coupons.c.code == normalise_code(code), coupons.c.brand_id == brand_id))).first()


async def coupons_by_ids(db: AsyncConnection, ids: list[int]) -> dict[int, object]:
    return {r.id: r for r in await db.execute(select(coupons).where(coupons.c.id.in_(ids)))} if ids else {}


async def coupons_by_member_ids(db: AsyncConnection, member_ids: list[int]) -> dict[int, list]:
    """Each member's coupons, newest first (at most MAX_LISTED each)."""
    found: dict[int, list] = {i: [] for i in member_ids}
    if not member_ids:
        return found
    for row in await db.execute(select(coupons).where(coupons.c.member_id.in_(member_ids)).order_by(coupons.c.id.desc())):
        if len(found[row.member_id]) < MAX_LISTED:
            found[row.member_id].append(row)
    return found
