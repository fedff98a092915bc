"""Shared set-up for the coupon tests: the demo brand's owner as a domain actor, templates by spec."""

from __future__ import annotations

from sqlalchemy import select

from domain.actor import Actor, Role
from domain.brands.staff import staff
from domain.coupons.templates import CouponKind, TemplateSpec, create_template
from domain.db import write_transaction
from resolvers.ids import parse_global_id


def pk(global_id: str) -> int:
    return parse_global_id(global_id)[1]


async def owner(engine) -> Actor:
    async with write_transaction(engine) as db:
        row = (await db.execute(select(staff.c.id, staff.c.brand_id).where(staff.c.username == "owner"))).one()
    return Actor(staff_id=row.id, brand_id=row.brand_id, role=Role.OWNER, store_id=None, name="店主")


async def template(engine, actor: Actor, **fields) -> int:
    spec = {"name": "满300减50", "kind": CouponKind.THRESHOLD_OFF, "threshold": 30000, "amount_off": 5000, "valid_days": 30, **fields}
    async with write_transaction(engine) as db:
        return await create_template(db, actor, TemplateSpec(**spec))
