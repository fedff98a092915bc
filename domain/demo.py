"""The demo brand of DESIGN.md §7: two stores, six staff accounts (password `meiye-demo`), a few
services, card products and members. Seeding is idempotent: a database that has it is left alone."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.actor import Actor, Role
from domain.brands import catalogue
from domain.brands import staff as staff_accounts
from domain.brands import stores as tenancy
from domain.cards import count_card_products as card_catalogue
from domain.cards import stored_value as cards
from domain.cards.stored_value import Tender, TopUpRule
from domain.ledger.store_accounts import open_store
from domain.members import members
from domain.members.pii import PiiCipher
from domain.notifications import settings as notification_settings

DEMO_PASSWORD = "meiye-demo"
DEMO_BRAND = "悦颜美业（演示）"
STORES = ("静安店", "徐汇店")
STAFF = (
    ("owner", "林总", Role.OWNER, None),
    ("manager", "陈店长", Role.STORE_MANAGER, 0),
    ("reception", "小周", Role.RECEPTIONIST, 0),
    ("technician", "阿美", Role.TECHNICIAN, 0),
    ("finance", "赵会计", Role.FINANCE, None),
    ("marketer", "孙营销", Role.MARKETER, None),
)
SERVICES = (
    ("面部深层清洁", 29800, 60, "面部护理"),
    ("精油全身SPA", 58800, 90, "身体护理"),
    ("日式美甲", 16800, 60, "美甲"),
    ("洗剪吹", 8800, 45, "美发"),
)
CARD_PRODUCTS = (
    ("金卡", 85, (TopUpRule(100_000, 20_000), TopUpRule(300_000, 80_000), TopUpRule(500_000, 150_000))),
    ("银卡", 95, (TopUpRule(50_000, 5_000), TopUpRule(100_000, 12_000))),
)
RETAIL = (("玫瑰精华水", 16800, "护肤品"),)
# (name, service, sessions, price, valid days, daily limit, weekly limit); sessions None is a time card.
COUNT_CARDS = (
    ("面部清洁10次卡", "面部深层清洁", 10, 200_000, 365, 1, None),
    ("SPA月卡", "精油全身SPA", None, 150_000, 30, 1, 3),
)
MEMBERS = (
    ("张小美", "13800138000", 0, ("金卡", 100_000)),
    ("王芳", "13700137000", 1, ("银卡", 50_000)),
    ("李娜", "13900139000", 0, None),
)


async def seed(db: AsyncConnection, cipher: PiiCipher) -> bool:
    """Seed the demo brand unless it is there; True when it seeded."""
    if await db.scalar(select(staff_accounts.staff.c.id).where(staff_accounts.staff.c.username == "owner")):
        return False
    brand_id = await tenancy.create_brand(db, name=DEMO_BRAND)
    store_ids = [await open_store(db, brand_id=brand_id, name=name) for name in STORES]
    staff_ids = {}
    for username, name, role, store in STAFF:
        staff_ids[username] = await staff_accounts.create_staff(
            db, brand_id=brand_id, store_id=None if store is None else store_ids[store],
            username=username, name=name, role=role, password=DEMO_PASSWORD,
        )
    owner = Actor(staff_ids["owner"], brand_id, Role.OWNER, None, "林总")
    for name, price, minutes, category in SERVICES:
        await catalogue.create_service(db, owner, name=name, price=price, duration_minutes=minutes, category=category)
    service_ids = {r.name: r.id for r in await catalogue.list_services(db, brand_id)}
    for name, price, category in RETAIL:
        await catalogue.create_retail_product(db, owner, name=name, price=price, category=category)
    for name, service, sessions, price, days, daily, weekly in COUNT_CARDS:
        await card_catalogue.create_count_card_product(
            db, owner, name=name, service_ids=[service_ids[service]], sessions=sessions, price=price, valid_days=days,
            daily_limit=daily, weekly_limit=weekly, store_ids=[],
        )
    product_ids = {}
    for name, percent, rules in CARD_PRODUCTS:
        product_ids[name] = await cards.create_product(db, owner, name=name, service_discount_percent=percent, rules=list(rules))
    await cards.set_default_product(db, owner, product_ids["银卡"])
    for name, phone, store, card in MEMBERS:
        member_id = await members.register_member(db, owner, cipher, name=name, phone=phone, store_id=store_ids[store], consent=True)
        if card is not None:
            product, amount = card
            await cards.top_up(
                db, owner, member_id=member_id, store_id=store_ids[store], amount=amount, tender=Tender.CASH,
                reference=f"demo:topup:{member_id}", product_id=product_ids[product],
            )
    # A demo is tried at any hour: its messages go out at once (a real brand keeps 22:00-08:00 quiet).
    await notification_settings.update_rules(db, None, brand_id, quiet_hours=False)
    return True
