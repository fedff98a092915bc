"""Segments (客户分群): a saved rule over the brand's members. Who is in it is computed from the rule
each time it is asked (never a copied list), so a segment is always current.

A rule's conditions all hold (AND); within one list any value matches (OR):
- tags: has any of these tags;  tiers: is of any of these tiers;  storeIds: home store is one of these;
- minTotalSpent: total spend (domain.marketing.activity), net of refunds, at least this many fen;
- dormantDays: no paid visit in the last N business days of the brand (recency ≥ N; a member who
  never paid a visit is dormant too);
- minRfmScore: RFM score R+F+M (domain.marketing.rfm) at least this.
An empty rule is every member of the brand. Birthday months are not a condition: members have no
birthday yet.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import Column, ForeignKey, String, Table, Text, UniqueConstraint, and_, exists, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import audit
from domain.actor import Actor
from domain.brands.stores import brands, stores
from domain.db import Id, created_at_column, metadata, utcnow
from domain.errors import DomainError
from domain.marketing import rfm
from domain.marketing.activity import is_visit
from domain.members.members import MAX_TAGS, Tier, member_tags, members
from domain.pagination import decode_cursor, page_size
from domain.sales.orders import orders
from domain.timezones import day_bounds
from domain.validation import check_amount, check_text

MAX_DORMANT_DAYS = 3650
MAX_STORES = 100

segments = Table(
    "segments",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    Column("name", String(40), nullable=False),
    Column("rule", Text, nullable=False),
    Column("created_by", Id, ForeignKey("staff.id"), nullable=True),
    created_at_column(),
    UniqueConstraint("brand_id", "name"),
)


@dataclass(frozen=True)
class Rule:
    tags: list[str] = field(default_factory=list)
    tiers: list[str] = field(default_factory=list)
    store_ids: list[int] = field(default_factory=list)
    min_total_spent: int | None = None
    dormant_days: int | None = None
    min_rfm_score: int | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Rule":
        return cls(**json.loads(text))


async def check_rule(db: AsyncConnection, actor: Actor, rule: Rule) -> Rule:
    tags = []
    for tag in rule.tags:
        text = check_text(tag, "rule.tags", "标签", 20)
        if text not in tags:
            tags.append(text)
    if len(tags) > MAX_TAGS:
        raise DomainError("TOO_MANY", "rule.tags", what="标签", max=MAX_TAGS)
    tiers = sorted(set(Tier(t).value for t in rule.tiers))
    store_ids = sorted(set(rule.store_ids))
    if len(store_ids) > MAX_STORES:
        raise DomainError("TOO_MANY", "rule.storeIds", what="门店", max=MAX_STORES)
    if store_ids:
        found = set((await db.execute(select(stores.c.id).where(stores.c.id.in_(store_ids), stores.c.brand_id == actor.brand_id))).scalars())
        if found != set(store_ids):
            raise DomainError("NOT_FOUND", "rule.storeIds", what="门店")
    if rule.min_total_spent is not None:
        check_amount(rule.min_total_spent, "rule.minTotalSpent")
    if rule.dormant_days is not None and not 1 <= rule.dormant_days <= MAX_DORMANT_DAYS:
        raise DomainError("INVALID_VALUE", "rule.dormantDays", what=f"沉睡天数（1-{MAX_DORMANT_DAYS}）")
    if rule.min_rfm_score is not None and not 3 <= rule.min_rfm_score <= 15:
        raise DomainError("INVALID_VALUE", "rule.minRfmScore", what="RFM最低分（3-15）")
    return Rule(tags, tiers, store_ids, rule.min_total_spent, rule.dormant_days, rule.min_rfm_score)


async def create_segment(db: AsyncConnection, actor: Actor, *, name: str, rule: Rule) -> int:
    name = check_text(name, "name", "分群名称", 40)
    rule = await check_rule(db, actor, rule)
    if await db.scalar(select(segments.c.id).where(segments.c.brand_id == actor.brand_id, segments.c.name == name)):
        raise DomainError("DUPLICATE_NAME", "name", name=name)
    segment_id = (await db.execute(insert(segments).values(
        brand_id=actor.brand_id, name=name, rule=rule.to_json(), created_by=actor.staff_id, created_at=utcnow(),
    ).returning(segments.c.id))).scalar_one()
    await audit.record(db, actor, "segment.create", "segment", segment_id, after={"name": name, "rule": asdict(rule)})
    return segment_id


async def get_segment(db: AsyncConnection, actor: Actor, segment_id: int, *, field: str = "segmentId"):
    row = (await db.execute(select(segments).where(segments.c.id == segment_id))).first()
    if row is None or row.brand_id != actor.brand_id:
        raise DomainError("NOT_FOUND", field, what="客户分群")
    return row


async def list_segments(db: AsyncConnection, actor: Actor) -> list:
    return list(await db.execute(select(segments).where(segments.c.brand_id == actor.brand_id).order_by(segments.c.id.desc())))


async def _conditions(db: AsyncConnection, brand_id: int, rule: Rule, now: dt.datetime) -> list:
    conditions = [members.c.brand_id == brand_id]
    if rule.tags:
        conditions.append(exists().where(member_tags.c.member_id == members.c.id, member_tags.c.tag.in_(rule.tags)))
    if rule.tiers:
        conditions.append(members.c.tier.in_(rule.tiers))
    if rule.store_ids:
        conditions.append(members.c.registered_store_id.in_(rule.store_ids))
    if rule.min_total_spent is not None:
        conditions.append(members.c.total_spent >= rule.min_total_spent)
    if rule.dormant_days is not None:
        # Dormant for N days: the last visit was N or more business days ago, so none since the
        # start of the day N - 1 days before today.
        tz_name = await db.scalar(select(brands.c.timezone).where(brands.c.id == brand_id))
        today = now.astimezone(ZoneInfo(tz_name)).date()
        since, _ = day_bounds(today - dt.timedelta(days=rule.dormant_days - 1), tz_name)
        conditions.append(~exists().where(orders.c.member_id == members.c.id, is_visit(), orders.c.paid_at >= since))
    return conditions


async def _rfm_ids(db: AsyncConnection, brand_id: int, rule: Rule, now: dt.datetime) -> set[int] | None:
    if rule.min_rfm_score is None:
        return None
    return {m for m, r in (await rfm.brand_rfm(db, brand_id, now)).items() if r.score >= rule.min_rfm_score}


async def member_ids(db: AsyncConnection, brand_id: int, rule: Rule, now: dt.datetime | None = None) -> list[int]:
    """Every member the rule matches now, newest first (a campaign's audience)."""
    now = now or utcnow()
    ids = list((await db.execute(select(members.c.id).where(and_(*await _conditions(db, brand_id, rule, now))).order_by(members.c.id.desc()))).scalars())
    wanted = await _rfm_ids(db, brand_id, rule, now)
    return ids if wanted is None else [i for i in ids if i in wanted]


async def audience(db: AsyncConnection, actor: Actor, segment_id: int, *, field: str = "segmentId") -> list[int]:
    """The members of the actor's brand's segment now (issueCoupons to a segment, a campaign's launch)."""
    segment = await get_segment(db, actor, segment_id, field=field)
    return await member_ids(db, actor.brand_id, Rule.from_json(segment.rule))


async def member_count(db: AsyncConnection, brand_id: int, rule: Rule, now: dt.datetime | None = None) -> int:
    now = now or utcnow()
    if rule.min_rfm_score is not None:
        return len(await member_ids(db, brand_id, rule, now))
    return await db.scalar(select(func.count()).select_from(members).where(and_(*await _conditions(db, brand_id, rule, now))))


async def members_page(db: AsyncConnection, brand_id: int, rule: Rule, *, first: int | None, after: str | None,
                       now: dt.datetime | None = None) -> tuple[list, bool]:
    """One page of the segment's members, newest first, and whether more follow."""
    limit = page_size(first)
    before_id = decode_cursor(after)
    now = now or utcnow()
    conditions = await _conditions(db, brand_id, rule, now)
    if before_id is not None:
        conditions.append(members.c.id < before_id)
    wanted = await _rfm_ids(db, brand_id, rule, now)
    if wanted is not None:
        ids = [i for i in (await db.execute(select(members.c.id).where(and_(*conditions)).order_by(members.c.id.desc()))).scalars() if i in wanted]
        conditions = [members.c.id.in_(ids[:limit + 1])]
    rows = list(await db.execute(select(members).where(and_(*conditions)).order_by(members.c.id.desc()).limit(limit + 1)))
    return rows[:limit], len(rows) > limit
