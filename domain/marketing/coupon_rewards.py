"""Every call marketing makes into the coupons area, in one place: campaigns and referral rewards
issue through `domain.coupons.issuing.issue_coupons`, and attribution reads the issued coupons.

(Until the coupons area exists on this branch, no template can be named: every template is NOT_FOUND.)
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from domain.actor import Actor
from domain.errors import DomainError


async def check_template(db: AsyncConnection, actor: Actor, template_id: int, field: str) -> None:
    raise DomainError("NOT_FOUND", field, what="优惠券模板")


async def issue(db: AsyncConnection, brand_id: int, *, template_id: int, member_id: int, batch_key: str) -> None:
    raise DomainError("NOT_FOUND", "templateId", what="优惠券模板")


async def void_unused(db: AsyncConnection, brand_id: int, *, batch_key: str) -> None:
    return None
