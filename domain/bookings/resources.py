"""Rooms, beds and equipment of a store (a medical-aesthetics store's 手术室 is a ROOM), and what a
service needs to be booked: its buffer after (prep/cleanup), the kind of resource it occupies, and
the technicians who can perform it (none named: every technician of the store)."""

from __future__ import annotations

import enum

from sqlalchemy import Boolean, Column, ForeignKey, Integer, String, Table, UniqueConstraint, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import audit
from domain.actor import Actor, Role
from domain.brands.catalogue import services
from domain.brands.staff import staff
from domain.brands.stores import get_store
from domain.db import Id, created_at_column, insert_ignoring_conflicts, metadata, utcnow
from domain.errors import DomainError
from domain.validation import check_text

MAX_BUFFER_MINUTES = 240
MAX_SKILLED = 200


class ResourceKind(enum.StrEnum):
    ROOM = "ROOM"
    BED = "BED"
    EQUIPMENT = "EQUIPMENT"


resources = Table(
    "resources",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    Column("store_id", Id, ForeignKey("stores.id"), nullable=False, index=True),
    Column("name", String(40), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    created_at_column(),
    UniqueConstraint("store_id", "name"),
)


# A service's booking rules; a service without a row has no buffer and needs no resource.
service_booking_rules = Table(
    "service_booking_rules",
    metadata,
    Column("id", Id, primary_key=True),
    Column("service_id", Id, ForeignKey("services.id"), nullable=False, unique=True),
    Column("buffer_minutes", Integer, nullable=False, default=0),
    Column("resource_kind", String(10), nullable=True),
)


service_technicians = Table(
    "service_technicians",
    metadata,
    Column("id", Id, primary_key=True),
    Column("service_id", Id, ForeignKey("services.id"), nullable=False),
    Column("technician_id", Id, ForeignKey("staff.id"), nullable=False),
    UniqueConstraint("service_id", "technician_id"),
)


async def create_resource(db: AsyncConnection, actor: Actor, *, store_id: int, name: str, kind: ResourceKind) -> int:
    await get_store(db, actor, store_id)
    name = check_text(name, "name", "资源名称", 40)
    if await db.scalar(select(resources.c.id).where(resources.c.store_id == store_id, resources.c.name == name)):
        raise DomainError("DUPLICATE_NAME", "name", name=name)
    resource_id = (
        await db.execute(
            insert(resources).values(brand_id=actor.brand_id, store_id=store_id, name=name, kind=kind.value, active=True, created_at=utcnow())
            .returning(resources.c.id)
        )
    ).scalar_one()
    await audit.record(db, actor, "resource.create", "resource", resource_id, after={"name": name, "kind": kind.value}, store_id=store_id)
    return resource_id


async def list_resources(db: AsyncConnection, actor: Actor, store_id: int) -> list:
    await get_store(db, actor, store_id, act=False)
    return list(await db.execute(select(resources).where(resources.c.store_id == store_id).order_by(resources.c.id)))


async def resources_by_ids(db: AsyncConnection, ids: list[int]) -> dict[int, object]:
    return {r.id: r for r in await db.execute(select(resources).where(resources.c.id.in_(ids)))}


async def get_service(db: AsyncConnection, brand_id: int, service_id: int, field: str = "serviceId"):
    row = (await db.execute(select(services).where(services.c.id == service_id))).first()
    if row is None or row.brand_id != brand_id or not row.active:
        raise DomainError("NOT_FOUND", field, what="项目")
    return row


async def update_service(
    db: AsyncConnection, actor: Actor, *, service_id: int, buffer_minutes: int | None, resource_kind: ResourceKind | None,
    clear_resource_kind: bool, technician_ids: list[int] | None,
) -> None:
    """Set what booking a service needs; `technician_ids` replaces its skilled technicians ([]: everyone)."""
    await get_service(db, actor.brand_id, service_id)
    if buffer_minutes is not None and not 0 <= buffer_minutes <= MAX_BUFFER_MINUTES:
        raise DomainError("INVALID_VALUE", "bufferMinutes", what=f"缓冲时间（0-{MAX_BUFFER_MINUTES}分钟）")
    if technician_ids is not None:
        ids = sorted(set(technician_ids))
        if len(ids) > MAX_SKILLED:
            raise DomainError("TOO_MANY", "technicianIds", what="技师", max=MAX_SKILLED)
        found = set((await db.execute(select(staff.c.id).where(staff.c.brand_id == actor.brand_id, staff.c.id.in_(ids),
                                                               staff.c.role == Role.TECHNICIAN.value))).scalars())
        if found != set(ids):
            raise DomainError("NOT_FOUND", "technicianIds", what="技师")
        await db.execute(delete(service_technicians).where(service_technicians.c.service_id == service_id))
        if ids:
            await db.execute(insert(service_technicians), [{"service_id": service_id, "technician_id": t} for t in ids])
    before = await rules_for(db, service_id)
    values: dict = {}
    if buffer_minutes is not None:
        values["buffer_minutes"] = buffer_minutes
    if resource_kind is not None:
        values["resource_kind"] = resource_kind.value
    elif clear_resource_kind:
        values["resource_kind"] = None
    await db.execute(insert_ignoring_conflicts(db, service_booking_rules).values(service_id=service_id, buffer_minutes=0, resource_kind=None))
    if values:
        await db.execute(update(service_booking_rules).where(service_booking_rules.c.service_id == service_id).values(**values))
    await audit.record(db, actor, "service.booking_rules", "service", service_id,
                       before={"buffer_minutes": before[0], "resource_kind": before[1]},
                       after={**values, **({"technicians": sorted(set(technician_ids))} if technician_ids is not None else {})})


async def rules_for(db: AsyncConnection, service_id: int) -> tuple[int, str | None]:
    """(buffer minutes, resource kind or None) of a service."""
    row = (await db.execute(select(service_booking_rules).where(service_booking_rules.c.service_id == service_id))).first()
    return (row.buffer_minutes, row.resource_kind) if row else (0, None)


async def rules_by_service_ids(db: AsyncConnection, ids: list[int]) -> dict[int, tuple[int, str | None]]:
    found = {i: (0, None) for i in ids}
    for row in await db.execute(select(service_booking_rules).where(service_booking_rules.c.service_id.in_(ids))):
        found[row.service_id] = (row.buffer_minutes, row.resource_kind)
    return found


async def skilled_by_service_ids(db: AsyncConnection, ids: list[int]) -> dict[int, list[int]]:
    found: dict[int, list[int]] = {i: [] for i in ids}
    for row in await db.execute(select(service_technicians).where(service_technicians.c.service_id.in_(ids)).order_by(service_technicians.c.technician_id)):
        found[row.service_id].append(row.technician_id)
    return found


async def store_technicians(db: AsyncConnection, brand_id: int, store_id: int) -> list:
    """The active technicians of a store, by id."""
    return list(await db.execute(
        select(staff.c.id, staff.c.name).where(staff.c.brand_id == brand_id, staff.c.store_id == store_id, staff.c.active == True,  # noqa: E712
                                               staff.c.role == Role.TECHNICIAN.value).order_by(staff.c.id)
    ))


async def technicians_for(db: AsyncConnection, brand_id: int, store_id: int, service_id: int) -> list:
    """The store's technicians who can perform the service."""
    everyone = await store_technicians(db, brand_id, store_id)
    skilled = set((await skilled_by_service_ids(db, [service_id]))[service_id])
    return [t for t in everyone if not skilled or t.id in skilled]


async def store_resources(db: AsyncConnection, store_id: int, kind: str) -> list[int]:
    return list((await db.execute(
        select(resources.c.id).where(resources.c.store_id == store_id, resources.c.kind == kind, resources.c.active == True).order_by(resources.c.id)  # noqa: E712
    )).scalars())
