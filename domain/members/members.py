"""Members (会员): one per phone per brand, shared by every store of the brand (全域会员通)."""

from __future__ import annotations

import enum
import secrets

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    UniqueConstraint,
    bindparam,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import audit
from domain.actor import Actor
from domain.brands.stores import brands, get_store
from domain.db import (
    Id,
    UtcDateTime,
    created_at_column,
    insert_ignoring_conflicts,
    metadata,
    utcnow,
)
from domain.errors import DomainError
from domain.prepared import Prepared, with_list
from domain.members.pii import PiiCipher, looks_like_phone, mask_phone, normalise_phone
from domain.pagination import decode_cursor, page_size
from domain.validation import check_text


class Tier(enum.StrEnum):
    NORMAL = "NORMAL"
    SILVER = "SILVER"
    GOLD = "GOLD"


members = Table(
    "members",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    Column("member_no", String(20), nullable=False),
    Column("name", String(40), nullable=False),
    Column("phone_index", String(64), nullable=False),
    Column("phone_cipher", String(200), nullable=False),
    Column("registered_store_id", Id, ForeignKey("stores.id"), nullable=False),
    Column("tier", String(10), nullable=False, default=Tier.NORMAL.value),
    Column("points", Id, nullable=False, default=0),
    Column("total_top_up", Id, nullable=False, default=0),
    # What the member has spent, net of refunds (domain.members.tiers: the SPEND basis of tiers).
    Column("total_spent", Id, nullable=False, default=0),
    # 推荐码: what a friend gives when registering (domain.marketing.referrals).
    Column("referral_code", String(12), nullable=False),
    Column("consent_at", UtcDateTime(), nullable=False),
    created_at_column(),
    UniqueConstraint("brand_id", "phone_index"),
    UniqueConstraint("brand_id", "member_no"),
    # An index, not a constraint: SQLite adds it to the table without rebuilding it.
    Index("ix_members_brand_id_referral_code", "brand_id", "referral_code", unique=True),
    Index("ix_members_brand_id_name", "brand_id", "name"),
)


member_tags = Table(
    "member_tags",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False),
    Column("tag", String(20), nullable=False),
    UniqueConstraint("member_id", "tag"),
)


MAX_TAGS = 20

# 推荐码: 8 characters of 31 that cannot be misread for one another (no 0/O, 1/I/L): 31^8 ≈ 8.5e11
# codes, so a brand's codes are far apart and cannot be walked by guessing.
REFERRAL_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
REFERRAL_CODE_LENGTH = 8


def new_referral_code() -> str:
    return "".join(secrets.choice(REFERRAL_ALPHABET) for _ in range(REFERRAL_CODE_LENGTH))


async def _unused_referral_code(db: AsyncConnection, brand_id: int) -> str:
    while True:
        code = new_referral_code()
        if await db.scalar(select(members.c.id).where(members.c.brand_id == brand_id, members.c.referral_code == code)) is None:
            return code




async def register_member(
    db: AsyncConnection,
    actor: Actor,
    cipher: PiiCipher,
    *,
    name: str,
    phone: str,
    store_id: int,
    consent: bool,
    tags: list[str] | None = None,
) -> int:
    name = check_text(name, "name", "姓名", 40)
    phone = normalise_phone(phone)
    if not consent:
        raise DomainError("CONSENT_REQUIRED", "consent")
    tag_list = _clean_tags(tags or [])
    await get_store(db, actor, store_id)
    phone_index = cipher.phone_index(phone)
    if await db.scalar(select(members.c.id).where(members.c.brand_id == actor.brand_id, members.c.phone_index == phone_index)):
        raise DomainError("PHONE_TAKEN", "phone")
    seq = (
        await db.execute(
            update(brands).where(brands.c.id == actor.brand_id).values(member_seq=brands.c.member_seq + 1).returning(brands.c.member_seq)
        )
    ).scalar_one()
    now = utcnow()
    try:
        async with db.begin_nested():
            member_id = (
                await db.execute(
                    insert(members)
                    .values(
                        brand_id=actor.brand_id,
                        member_no=f"M{seq:06d}",
                        name=name,
                        phone_index=phone_index,
                        phone_cipher=cipher.encrypt(phone),
                        registered_store_id=store_id,
                        referral_code=await _unused_referral_code(db, actor.brand_id),
                        consent_at=now,
                        created_at=now,
                    )
                    .returning(members.c.id)
                )
            ).scalar_one()
    except IntegrityError:
        # Another desk registered the same phone between our check and our insert.
        raise DomainError("PHONE_TAKEN", "phone") from None
    await _add_tags(db, actor.brand_id, member_id, tag_list)
    await audit.record(
        db, actor, "member.register", "member", member_id,
        after={"name": name, "phone": mask_phone(phone), "store_id": store_id, "tags": tag_list}, store_id=store_id,
    )
    return member_id


def _clean_tags(tags: list[str]) -> list[str]:
    cleaned: list[str] = []
    for tag in tags:
        text = check_text(tag, "tags", "标签", 20)
        if text not in cleaned:
            cleaned.append(text)
    if len(cleaned) > MAX_TAGS:
        raise DomainError("TOO_MANY", "tags", what="标签", max=MAX_TAGS)
    return cleaned


async def _add_tags(db: AsyncConnection, brand_id: int, member_id: int, tags: list[str]) -> None:
    if tags:
        await db.execute(
            insert_ignoring_conflicts(db, member_tags),
            [{"brand_id": brand_id, "member_id": member_id, "tag": t} for t in tags],
        )


async def get_member(db: AsyncConnection, actor: Actor, member_id: int, *, field: str = "memberId"):
    row = (await db.execute(select(members).where(members.c.id == member_id))).first()
    if row is None or row.brand_id != actor.brand_id:
        raise DomainError("NOT_FOUND", field, what="会员")
    return row


async def update_member(
    db: AsyncConnection,
    actor: Actor,
    *,
    member_id: int,
    name: str | None = None,
    add_tags: list[str] | None = None,
    remove_tags: list[str] | None = None,
) -> None:
    member = await get_member(db, actor, member_id)
    before_tags = await tags_of(db, member_id)
    changes: dict = {}
    if name is not None:
        changes["name"] = check_text(name, "name", "姓名", 40)
        await db.execute(update(members).where(members.c.id == member_id).values(name=changes["name"]))
    if add_tags:
        await _add_tags(db, actor.brand_id, member_id, _clean_tags(add_tags))
    if remove_tags:
        await db.execute(delete(member_tags).where(member_tags.c.member_id == member_id, member_tags.c.tag.in_(remove_tags)))
    after_tags = await tags_of(db, member_id)
    if len(after_tags) > MAX_TAGS:
        raise DomainError("TOO_MANY", "addTags", what="标签", max=MAX_TAGS)
    await audit.record(
        db, actor, "member.update", "member", member_id,
        before={"name": member.name, "tags": before_tags},
        after={"name": changes.get("name", member.name), "tags": after_tags},
    )


async def tags_of(db: AsyncConnection, member_id: int) -> list[str]:
    return list((await db.execute(select(member_tags.c.tag).where(member_tags.c.member_id == member_id).order_by(member_tags.c.id))).scalars())


def _members_page_statement(after_cursor: bool):
    stmt = select(members).where(members.c.brand_id == bindparam("brand_id"))
    if after_cursor:
        stmt = stmt.where(members.c.id < bindparam("before_id"))
    return stmt.order_by(members.c.id.desc()).limit(bindparam("limit"))


# A page of the brand's members without a search, the list's usual read, is built once (issue 12).
_members_first_page = Prepared(_members_page_statement(False))
_members_page_after = Prepared(_members_page_statement(True))


async def search_members(
    db: AsyncConnection,
    actor: Actor,
    cipher: PiiCipher,
    *,
    search: str | None,
    first: int | None,
    after: str | None,
) -> tuple[list, bool]:
    """Newest first. A full phone number matches exactly (through its index), a member number
    exactly, anything else as part of the name. Returns the page and whether more follow."""
    limit = page_size(first)
    before_id = decode_cursor(after)
    text = (search or "").strip()
    if len(text) > 40:
        raise DomainError("TOO_LONG", "search", what="搜索词", max=40)
    if not text:
        params = {"brand_id": actor.brand_id, "limit": limit + 1, "before_id": before_id}
        rows = (await (_members_first_page if before_id is None else _members_page_after).execute(db, params)).all()
        return rows[:limit], len(rows) > limit
    stmt = select(members).where(members.c.brand_id == actor.brand_id)
    if text:
        conditions = [members.c.member_no == text.upper(), members.c.name.contains(text, autoescape=True)]
        if looks_like_phone(text):
            conditions.append(members.c.phone_index == cipher.phone_index(normalise_phone(text)))
        stmt = stmt.where(or_(*conditions))
    if before_id is not None:
        stmt = stmt.where(members.c.id < before_id)
    rows = (await db.execute(stmt.order_by(members.c.id.desc()).limit(limit + 1))).all()
    return rows[:limit], len(rows) > limit


_members_by_ids = with_list(lambda is_in: select(members).where(is_in(members.c.id, "ids")))  # built once: the member read's statement


async def members_by_ids(db: AsyncConnection, ids: list[int]) -> dict[int, object]:
    return {r.id: r for r in await _members_by_ids.execute(db, {"ids": ids})}


async def tags_by_member_ids(db: AsyncConnection, ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {i: [] for i in ids}
    rows = await db.execute(
        select(member_tags.c.member_id, member_tags.c.tag).where(member_tags.c.member_id.in_(ids)).order_by(member_tags.c.id)
    )
    for member_id, tag in rows:
        found[member_id].append(tag)
    return found
