"""Campaigns (营销活动): a segment and a coupon template, launched once per idempotency key. The
members of the segment at the moment of launch each get one coupon (batch `campaign:{id}`, so a
retried or resumed issue never gives anyone two). Attribution is read from the coupons: how many
were issued, how many redeemed, and the spend (net of refunds) of the orders that redeemed them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import Column, ForeignKey, Integer, String, Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import audit, idempotency
from domain.actor import Actor
from domain.coupons.issuing import MAX_MEMBERS_PER_CALL, CouponSource
from domain.db import Id, created_at_column, metadata, utcnow
from domain.errors import DomainError
from domain.marketing import coupon_rewards, segments
from domain.validation import check_text

campaigns = Table(
    "campaigns",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False, index=True),
    Column("name", String(40), nullable=False),
    Column("segment_id", Id, ForeignKey("segments.id"), nullable=False),
    Column("coupon_template_id", Id, ForeignKey("coupon_templates.id"), nullable=False),
    # The segment's size at launch, and what the issue skipped (limits reached): the audit of the launch.
    Column("audience", Integer, nullable=False, default=0),
    Column("skipped", Integer, nullable=False, default=0),
    Column("launched_by", Id, ForeignKey("staff.id"), nullable=True),
    created_at_column(),
)


@dataclass(frozen=True)
class Attribution:
    issued: int
    redeemed: int
    revenue: int


def batch_key(campaign_id: int) -> str:
    return f"campaign:{campaign_id}"


async def launch(db: AsyncConnection, actor: Actor, *, name: str, segment_id: int, template_id: int, idempotency_key: str) -> int:
    """Launch once per key: a replay returns the first launch's campaign and issues nothing."""
    request = {"name": name, "segment_id": segment_id, "template_id": template_id}

    async def run() -> dict:
        return {"campaign_id": await _launch(db, actor, name=name, segment_id=segment_id, template_id=template_id)}

    result, _replayed = await idempotency.once(db, brand_id=actor.brand_id, sender=idempotency.staff_sender(actor.staff_id), key=idempotency_key,
                                               operation="launchCampaign", request=request, run=run)
    return result["campaign_id"]


async def _launch(db: AsyncConnection, actor: Actor, *, name: str, segment_id: int, template_id: int) -> int:
    name = check_text(name, "name", "活动名称", 40)
    audience = await segments.audience(db, actor, segment_id)
    await coupon_rewards.check_template(db, actor, template_id, "couponTemplateId")
    campaign_id = (await db.execute(insert(campaigns).values(
        brand_id=actor.brand_id, name=name, segment_id=segment_id, coupon_template_id=template_id, audience=len(audience), skipped=0,
        launched_by=actor.staff_id, created_at=utcnow(),
    ).returning(campaigns.c.id))).scalar_one()
    issued, skipped = 0, Counter()
    # In slices the coupons area accepts, all in this one transaction: the launch happens whole or not at all.
    for start in range(0, len(audience), MAX_MEMBERS_PER_CALL):
        result = await coupon_rewards.issue_batch(db, actor, template_id=template_id, member_ids=audience[start:start + MAX_MEMBERS_PER_CALL],
                                                  source=CouponSource.CAMPAIGN, batch_key=batch_key(campaign_id))
        issued += len(result.issued)
        skipped.update(result.skipped_by_reason)
    await db.execute(update(campaigns).where(campaigns.c.id == campaign_id).values(skipped=sum(skipped.values())))
    await audit.record(db, actor, "campaign.launch", "campaign", campaign_id, after={
        "name": name, "segment_id": segment_id, "template_id": template_id, "audience": len(audience), "issued": issued,
        "skipped": {str(k): v for k, v in skipped.items()},
    })
    return campaign_id


async def preview(db: AsyncConnection, actor: Actor, *, segment_id: int, template_id: int) -> tuple[int, int]:
    """What a launch would do now: the segment's members, and how many coupons it would issue
    (the template's limits may stop some)."""
    audience = await segments.audience(db, actor, segment_id)
    await coupon_rewards.check_template(db, actor, template_id, "couponTemplateId")
    would = 0
    for start in range(0, len(audience), MAX_MEMBERS_PER_CALL):
        would += await coupon_rewards.would_issue(db, actor, template_id=template_id, member_ids=audience[start:start + MAX_MEMBERS_PER_CALL])
    return len(audience), would


async def get_campaign(db: AsyncConnection, actor: Actor, campaign_id: int):
    row = (await db.execute(select(campaigns).where(campaigns.c.id == campaign_id))).first()
    if row is None or row.brand_id != actor.brand_id:
        raise DomainError("NOT_FOUND", "campaignId", what="营销活动")
    return row


async def list_campaigns(db: AsyncConnection, actor: Actor) -> list:
    return list(await db.execute(select(campaigns).where(campaigns.c.brand_id == actor.brand_id).order_by(campaigns.c.id.desc())))


async def attribution(db: AsyncConnection, brand_id: int, campaign_ids: list[int]) -> dict[int, Attribution]:
    stats = await coupon_rewards.batch_stats(db, brand_id, [batch_key(i) for i in campaign_ids])
    return {i: Attribution(*stats[batch_key(i)]) for i in campaign_ids}


async def attribution_by_ids(db: AsyncConnection, campaign_ids: list[int]) -> dict[int, Attribution]:
    """For the dataloader: campaigns of any brand, grouped by brand."""
    by_brand: dict[int, list[int]] = {}
    for cid, brand_id in await db.execute(select(campaigns.c.id, campaigns.c.brand_id).where(campaigns.c.id.in_(campaign_ids))):
        by_brand.setdefault(brand_id, []).append(cid)
    found: dict[int, Attribution] = {}
    for brand_id, ids in by_brand.items():
        found.update(await attribution(db, brand_id, ids))
    return found
