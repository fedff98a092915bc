"""Who may do what (DESIGN.md §8), through the public staff GraphQL API.

- Every root field of the staff schema has a row in `resolvers.permissions`, and a document here.
- Every operation is called by every demo role and with no token: allowed roles get through, the
  others get exactly one FORBIDDEN (or UNAUTHENTICATED) top-level error and change nothing.
- Store-bound staff act only for their own store; a manager hires only desk staff.
- Phones are masked by role, and the desk still finds a member by the full number.
- A second brand sees and touches nothing of the first.
- Forged, expired and garbage tokens are refused.
"""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid
from dataclasses import dataclass
from typing import Awaitable, Callable
from zoneinfo import ZoneInfo

import jwt
import pytest
from sqlalchemy import select, text, update

from domain.actor import Role
from domain.brands import staff as staff_accounts
from domain.brands import stores as tenancy
from domain.db import read_transaction, write_transaction
from domain.models import metadata
from resolvers.permissions import FIELD_ROLES, OPERATION_ROLES, PUBLIC
from resolvers.tokens import STAFF_AUDIENCE
from schema.root import build_staff_schema
from tests.bookings.permission_ops import booking_operations
from tests.support import ROLES, TOP_UP, Demo, assert_ledger_ok, checkout, open_order

ROLE_OF = {
    "owner": Role.OWNER,
    "manager": Role.STORE_MANAGER,
    "reception": Role.RECEPTIONIST,
    "technician": Role.TECHNICIAN,
    "finance": Role.FINANCE,
    "marketer": Role.MARKETER,
}
ANONYMOUS = "anonymous"
CALLERS = ROLES + (ANONYMOUS,)
AUTH_CODES = {"FORBIDDEN", "UNAUTHENTICATED"}

# The demo member with a topped-up 金卡 (domain/demo.py), and a phone no demo member has.
CARD_HOLDER = "张小美"
CARD_HOLDER_PHONE = "13800138000"
NEW_PHONE = "13912345678"
NEW_PHONE_MASKED = "139****5678"


# ---------------------------------------------------------------------------------------------
# Demo ids and database snapshots


@dataclass
class Ids:
    jingan: str
    xuhui: str
    gold: str  # 金卡 product
    member: str  # 张小美, registered at 静安店
    card: str  # her 金卡, topped up with ¥1,000
    services: dict[str, str]
    retail: dict[str, str]
    count_card_products: dict[str, str]
    staff: dict[str, str]


async def demo_ids(demo: Demo) -> Ids:
    """The ids, through the API, of a brand seeded by the `demo` fixture."""
    data = await demo.gql(
        "query($s: String) { members(search: $s) { edges { node { id storedValueCards { id balance } } } } }",
        {"s": CARD_HOLDER}, as_="owner",
    )
    (edge,) = data["members"]["edges"]
    (card,) = edge["node"]["storedValueCards"]
    assert card["balance"] > 0, card
    return Ids(demo.jingan, demo.xuhui, demo.products["金卡"], edge["node"]["id"], card["id"],
               {k: v["id"] for k, v in demo.services.items()}, demo.retail, demo.count_card_products, demo.staff)


async def snapshot(engine) -> dict[str, list[tuple]]:
    """Every row of every table, in primary-key order: a denied call must leave it identical
    (row counts alone would miss a frozen card or a changed setting)."""
    found = {}
    async with read_transaction(engine) as db:
        for table in metadata.sorted_tables:
            rows = await db.execute(select(table).order_by(*table.primary_key.columns))
            found[table.name] = [tuple(r) for r in rows]
    return found


def diff(before: dict, after: dict) -> dict:
    """Tables whose contents differ, with their row counts: for assertion messages."""
    return {name: (len(before[name]), len(after[name])) for name in before if before[name] != after[name]}


def key() -> str:
    return uuid.uuid4().hex


def today() -> str:
    return dt.datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()


# ---------------------------------------------------------------------------------------------
# One valid document per root operation


def _empty_wechat_bill() -> str:
    import base64

    from integrations.standins.bills import build_wechat_trade_bill

    return base64.b64encode(build_wechat_trade_bill([])).decode()


@dataclass(frozen=True)
class Op:
    document: str
    # (ids, extra) -> variables; extra is what `prepare` returned, and "n", which differs for each
    # caller of one operation, so that each allowed call can succeed in turn (names, phones).
    variables: Callable[[Ids, dict], dict] = lambda ids, extra: {}
    # Put the data in the state the operation needs, as the owner, before the snapshot.
    prepare: Callable[[Demo, Ids], Awaitable[dict]] | None = None
    # An allowed call must visibly change the database (so that "nothing changed" on a denied
    # call is a real check and not a document that would do nothing anyway).
    writes: bool = False


async def fresh_card(demo: Demo, ids: Ids) -> dict:
    member = await demo.register(as_="owner")
    topped = await demo.top_up(member["id"], 50_000, product="银卡", as_="owner")
    assert topped["errors"] == [], topped
    return {"card": topped["card"]["id"]}


async def frozen_card(demo: Demo, ids: Ids) -> dict:
    card = await fresh_card(demo, ids)
    data = await demo.gql(
        "mutation($i: FreezeCardInput!) { freezeCard(input: $i) { card { status } errors { code } } }",
        {"i": {"cardId": card["card"], "reason": "挂失"}}, as_="owner",
    )
    assert data["freezeCard"] == {"card": {"status": "FROZEN"}, "errors": []}, data
    return card


async def open_order_at(demo: Demo, ids: Ids, store: str, lines: list[dict] | None = None) -> dict:
    return await open_order(demo, lines or [{"serviceId": ids.services["洗剪吹"]}], member_id=ids.member, store=store, note="怕痛", as_="owner")


async def open_jingan_order(demo: Demo, ids: Ids) -> dict:
    order = await open_order_at(demo, ids, ids.jingan, [{"serviceId": ids.services["洗剪吹"]}, {"productId": ids.retail["玫瑰精华水"]}])
    return {"order": order["id"], "lines": [line["id"] for line in order["lines"]]}


async def order_in(demo: Demo, ids: Ids, mutation: str) -> dict:
    order = await open_jingan_order(demo, ids)
    data = await demo.gql(f"mutation($i: OrderInput!) {{ {mutation}(input: $i) {{ errors {{ code }} }} }}", {"i": {"orderId": order["order"]}}, as_="owner")
    assert data[mutation]["errors"] == [], data
    return order


async def held_order(demo: Demo, ids: Ids) -> dict:
    return await order_in(demo, ids, "holdOrder")


async def paid_order(demo: Demo, ids: Ids) -> dict:
    order = await open_jingan_order(demo, ids)
    paid = await checkout(demo, order["order"], [{"method": "CASH"}], as_="owner")
    assert paid["errors"] == [] and paid["order"]["status"] == "PAID", paid
    return order


async def desk_hire(demo: Demo, ids: Ids) -> dict:
    """A fresh receptionist at 静安店, hired by the owner: someone a manager may deactivate."""
    data = await demo.gql(
        mutation("createStaff", "CreateStaffInput", "staff { id }"),
        {"i": {"username": f"desk-{key()[:12]}", "name": "新前台", "role": "RECEPTIONIST", "password": "desk-password", "storeId": ids.jingan}},
        as_="owner",
    )
    assert data["createStaff"]["errors"] == [], data
    return {"staff": data["createStaff"]["staff"]["id"]}


async def deactivated_hire(demo: Demo, ids: Ids) -> dict:
    hired = await desk_hire(demo, ids)
    data = await demo.gql(mutation("deactivateStaff", "StaffAccountInput", "staff { active }"), {"i": {"staffId": hired["staff"]}}, as_="owner")
    assert data["deactivateStaff"] == {"staff": {"active": False}, "errors": []}, data
    return hired


async def failed_notification(demo: Demo, ids: Ids) -> dict:
    """A FAILED balance reminder of 张小美's, with a quota left to resend it."""
    from domain.db import create_engine
    from domain.notifications.consent import notification_quotas
    from domain.notifications.reminders import notifications
    from domain.members.customers import customer_identities
    from resolvers.ids import parse_global_id, to_global_id
    from tests.conftest import TEST_URL

    template = await demo.gql(
        'mutation { setNotificationTemplate(input: {kind: BALANCE_CHANGED, templateId: "tmpl_perm", fields: [{key: "amount1", value: "{balance}"}]}) { errors { code } } }',
        as_="owner")
    assert template["setNotificationTemplate"]["errors"] == [], template
    member_id = parse_global_id(ids.member)[1]
    engine = create_engine(TEST_URL, pool=False)
    try:
        async with write_transaction(engine) as db:
            brand_id = await db.scalar(select(tenancy.stores.c.brand_id).limit(1))
            now = dt.datetime.now(dt.UTC)
            await db.execute(customer_identities.insert().values(brand_id=brand_id, channel="WECHAT", app_id="wx_perm", open_id=key(), member_id=member_id, created_at=now))
            await db.execute(notification_quotas.delete().where(notification_quotas.c.member_id == member_id))
            await db.execute(notification_quotas.insert().values(brand_id=brand_id, member_id=member_id, template_id="tmpl_perm", remaining=1, last_status="ACCEPT",
                                                                 updated_at=now, created_at=now))
            row_id = (await db.execute(notifications.insert().values(
                brand_id=brand_id, member_id=member_id, kind="BALANCE_CHANGED", dedupe_key=key(), values="{}", status="FAILED", due_at=now, attempts=1,
                last_error="47003: argument invalid", created_at=now).returning(notifications.c.id))).scalar_one()
    finally:
        await engine.dispose()
    return {"notification": to_global_id("Notification", row_id)}


async def member_in_debt(demo: Demo, ids: Ids) -> dict:
    data = await demo.gql(
        "mutation($i: SetCreditLimitInput!) { setCreditLimit(input: $i) { errors { code } } }",
        {"i": {"memberId": ids.member, "limit": 500_000}}, as_="owner",
    )
    assert data["setCreditLimit"]["errors"] == [], data
    order = await open_order_at(demo, ids, ids.jingan)
    paid = await checkout(demo, order["id"], [{"method": "ON_ACCOUNT"}], as_="owner")
    assert paid["errors"] == [], paid
    return {}


async def cashable_count_card(demo: Demo, ids: Ids) -> dict:
    """A count card bought at 静安店 by a fresh member, in a brand that cashes count cards out."""
    allowed = await demo.gql(mutation("updateOperationSettings", "UpdateOperationSettingsInput", "settings { countCardCashOut }"),
                             {"i": {"countCardCashOut": True}}, as_="owner")
    assert allowed["updateOperationSettings"]["errors"] == [], allowed
    member = await demo.register(as_="owner")
    order = await open_order(demo, [{"countCardProductId": ids.count_card_products["面部清洁10次卡"]}], member_id=member["id"], as_="owner")
    assert (await checkout(demo, order["id"], [{"method": "CASH"}], as_="owner"))["errors"] == []
    data = await demo.gql("query($id: ID!) { member(id: $id) { countCards { id } } }", {"id": member["id"]}, as_="owner")
    return {"count_card": data["member"]["countCards"][0]["id"]}


async def member_with_fee(demo: Demo, ids: Ids) -> dict:
    data = await demo.gql(mutation("updateOperationSettings", "UpdateOperationSettingsInput", "settings { membershipFee }"),
                          {"i": {"membershipFee": 9_900}}, as_="owner")
    assert data["updateOperationSettings"]["errors"] == [], data
    registered = await demo.gql(
        mutation("registerMember", "RegisterMemberInput", "member { id }"),
        {"i": {"name": "会员费", "phone": f"137{uuid.uuid4().int % 10**8:08d}", "storeId": ids.jingan, "consent": True,
               "membershipFee": {"amount": 9_900, "tender": "CASH"}, "idempotencyKey": key()}}, as_="owner",
    )
    assert registered["registerMember"]["errors"] == [], registered
    return {"member": registered["registerMember"]["member"]["id"]}


async def bound_card(demo: Demo, ids: Ids) -> dict:
    number = f"P-{key()[:10]}"
    data = await demo.gql(mutation("bindMemberCard", "BindMemberCardInput", "member { id }"), {"i": {"memberId": ids.member, "cardNumber": number}}, as_="owner")
    assert data["bindMemberCard"]["errors"] == [], data
    return {"card_number": number}


async def e_card(demo: Demo, ids: Ids) -> dict:
    from resolvers.member_operations import card_qr_payload
    from resolvers.settings import Settings

    brand_id = _pk((await demo.gql("{ brand { id } }", as_="owner"))["brand"]["id"])
    return {"payload": card_qr_payload(Settings().secret_key, brand_id=brand_id, member_id=_pk(ids.member))}


async def stocked_shelf(demo: Demo, ids: Ids) -> dict:
    data = await demo.gql(
        mutation("receiveStock", "ReceiveStockInput", "stock { quantity }"),
        {"i": {"productId": ids.retail["玫瑰精华水"], "storeId": ids.jingan, "quantity": 10, "idempotencyKey": key()}}, as_="owner",
    )
    assert data["receiveStock"]["errors"] == [], data
    return {}


ERRORS = "errors { code field message }"
ORDER = "order { id status total paid store { id } lines { id name } }"


def mutation(name: str, input_type: str, selection: str) -> str:
    return f"mutation($i: {input_type}!) {{ {name}(input: $i) {{ {selection} {ERRORS} }} }}"


def order_mutation(name: str, input_type: str = "OrderInput") -> str:
    return mutation(name, input_type, ORDER)


OPERATIONS: dict[str, Op] = {
    # queries
    "viewer": Op("{ viewer { id name username role store { id } } }"),
    "brand": Op("{ brand { id name storedValueSplitRule settlementRatePercent timezone } }"),
    "stores": Op("{ stores { id name } }"),
    "staffMembers": Op("{ staffMembers { id username role store { id } } }"),
    "services": Op("{ services { id name price durationMinutes category } }"),
    "retailProducts": Op("{ retailProducts { id name price category } }"),
    "countCardProducts": Op(
        "query($s: ID) { countCardProducts(storeId: $s) { id name sessions price validDays services { id } stores { id } } }",
        lambda ids, extra: {"s": ids.jingan},
    ),
    "storedValueCardProducts": Op("{ storedValueCardProducts { id name serviceDiscountPercent topUpRules { threshold bonus } } }"),
    # Money fields (storedValueCards, onAccount, transactions) are walked per role by FIELD_ROLES below.
    "member": Op(
        """query($id: ID!) { member(id: $id) { id memberNo name phone tier points tags registeredStore { id } referralCode
             pointsHistory(first: 5) { edges { node { kind delta pointsAfter order { id } } } } countCards { id remaining } } }""",
        lambda ids, extra: {"id": ids.member},
    ),
    "members": Op(
        "query { members(first: 10) { edges { cursor node { id name phone } } pageInfo { hasNextPage endCursor } } }"
    ),
    "node": Op("query($id: ID!) { node(id: $id) { id ... on Store { name } } }", lambda ids, extra: {"id": ids.jingan}),
    "nodes": Op("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", lambda ids, extra: {"ids": [ids.jingan, ids.xuhui]}),
    "storedValueCard": Op(
        "query($id: ID!) { storedValueCard(id: $id) { id principal gift balance status product { name } member { id phone } } }",
        lambda ids, extra: {"id": ids.card},
    ),
    "heldOrders": Op(
        "query($s: ID!) { heldOrders(storeId: $s) { id status note total } }", lambda ids, extra: {"s": ids.jingan}, prepare=held_order,
    ),
    "order": Op(
        """query($id: ID!) { order(id: $id) { id status note total store { id } member { id }
             lines { id name quantity technician { id } } breakdown { total payments { method amount } } } }""",
        lambda ids, extra: {"id": extra["order"]}, prepare=open_jingan_order,
    ),
    "orders": Op(
        """query($s: ID) { orders(storeId: $s, first: 5) { edges { cursor node { id status total lines { name } refunds { amount }
             breakdown { payments { method amount } } } } pageInfo { hasNextPage } } }""",
        lambda ids, extra: {"s": ids.jingan}, prepare=paid_order,
    ),
    "dailyClose": Op(
        """query($s: ID!, $d: Date!) { dailyClose(storeId: $s, date: $d) { date store { id } sales { total orders }
             payments { total } topUps { principal gift count } refunds { count amount } onAccount { charged repaid } } }""",
        lambda ids, extra: {"s": ids.jingan, "d": today()},
    ),
    "crossStoreSettlement": Op(
        "query($f: Date!, $t: Date!) { crossStoreSettlement(from: $f, to: $t) { payerStore { id } payeeStore { id } consumed settlementAmount items } }",
        lambda ids, extra: {"f": today(), "t": today()},
    ),
    "stock": Op("query($s: ID!) { stock(storeId: $s) { product { id name } quantity lowStockThreshold low } }", lambda ids, extra: {"s": ids.jingan}),
    "lowStock": Op("query($s: ID!) { lowStock(storeId: $s) { product { id } quantity } }", lambda ids, extra: {"s": ids.jingan}),
    "operationSettings": Op("{ operationSettings { allowNegativeStock membershipFee } }"),
    "memberByCard": Op("query($c: String!) { memberByCard(cardNumber: $c) { id name } }", lambda ids, extra: {"c": extra["card_number"]},
                       prepare=bound_card),
    "memberByCardQr": Op("query($p: String!) { memberByCardQr(payload: $p) { id name } }", lambda ids, extra: {"p": extra["payload"]},
                         prepare=e_card),
    "auditLog": Op("{ auditLog(first: 10) { edges { node { id action entity entityId staff { id } } } pageInfo { hasNextPage } } }"),
    "platformRefunds": Op("{ platformRefunds(first: 10) { id amount status unsolicited refundId } }"),


    "notificationTemplates": Op("{ notificationTemplates { kind templateId page fields { key value } } }"),
    "notificationSettings": Op("{ notificationSettings { miniprogramState lang quietHours dailyCap } }"),
    "notifications": Op("{ notifications(first: 5) { edges { node { id kind status attempts lastError sentAt } } pageInfo { hasNextPage } } }"),
    "technicianPerformance": Op(
        """query($f: Date!, $t: Date!) { technicianPerformance(from: $f, to: $t) { technician { id name } servicesCount serviceRevenue cardSales commission rating } }""",
        lambda ids, extra: {"f": today(), "t": today()},
    ),
    "prepaidLiability": Op("{ prepaidLiability { principal gift countCardDeferred escrowRequired byStore { store { id } principal } } }"),
    "commissionRules": Op("{ commissionRules { kind target ratePercent amount } }"),
    "memberValue": Op("query($id: ID!) { memberValue(memberId: $id) { lifetimeSpend visits averageTicket lastVisit } }", lambda ids, extra: {"id": ids.member}),
    # mutations
    "setNotificationTemplate": Op(
        mutation("setNotificationTemplate", "SetNotificationTemplateInput", "template { kind templateId }"),
        lambda ids, extra: {"i": {"kind": "BALANCE_CHANGED", "templateId": f"tmpl_{extra['n']}", "page": "pages/card/index",
                                  "fields": [{"key": "thing1", "value": "{store}"}, {"key": "amount2", "value": "{balance}"}]}},
        writes=True,
    ),
    "updateNotificationSettings": Op(
        mutation("updateNotificationSettings", "UpdateNotificationSettingsInput", "settings { dailyCap }"),
        lambda ids, extra: {"i": {"dailyCap": 2 + extra["n"] % 40}}, writes=True,
    ),
    "resendNotification": Op(
        mutation("resendNotification", "ResendNotificationInput", "notification { id status }"),
        lambda ids, extra: {"i": {"notificationId": extra["notification"]}}, prepare=failed_notification, writes=True,
    ),
    "setCommissionRules": Op(
        mutation("setCommissionRules", "SetCommissionRulesInput", "rules { kind ratePercent }"),
        lambda ids, extra: {"i": {"rules": [{"kind": "CATEGORY", "ratePercent": 1 + extra["n"] % 50}]}}, writes=True,
    ),
    "setEscrowRatio": Op(
        mutation("setEscrowRatio", "SetEscrowRatioInput", "escrowRatioPercent"),
        lambda ids, extra: {"i": {"escrowRatioPercent": 10 + extra["n"] % 80}}, writes=True,
    ),
    "staffLogin": Op(
        mutation("staffLogin", "StaffLoginInput", "token staff { id role }"),
        lambda ids, extra: {"i": {"username": "reception", "password": "meiye-demo"}},
    ),
    "createStore": Op(
        mutation("createStore", "CreateStoreInput", "store { id name }"), lambda ids, extra: {"i": {"name": f"陆家嘴{extra['n']}店"}}, writes=True,
    ),
    "createStaff": Op(
        mutation("createStaff", "CreateStaffInput", "staff { id role store { id } }"),
        lambda ids, extra: {"i": {"username": f"newhire{extra['n']}", "name": "新同事", "role": "RECEPTIONIST", "password": "new-hire-pass", "storeId": ids.jingan}},
        writes=True,
    ),
    "deactivateStaff": Op(
        mutation("deactivateStaff", "StaffAccountInput", "staff { id active }"),
        lambda ids, extra: {"i": {"staffId": extra["staff"]}}, prepare=desk_hire, writes=True,
    ),
    "reactivateStaff": Op(
        mutation("reactivateStaff", "StaffAccountInput", "staff { id active }"),
        lambda ids, extra: {"i": {"staffId": extra["staff"]}}, prepare=deactivated_hire, writes=True,
    ),
    "updateStaff": Op(
        mutation("updateStaff", "UpdateStaffInput", "staff { id role store { id } }"),
        lambda ids, extra: {"i": {"staffId": extra["staff"], "role": "TECHNICIAN", "name": f"新同事{extra['n']}"}}, prepare=desk_hire, writes=True,
    ),
    "resetStaffPassword": Op(
        mutation("resetStaffPassword", "ResetStaffPasswordInput", "staff { id }"),
        lambda ids, extra: {"i": {"staffId": extra["staff"], "password": "brand-new-password"}}, prepare=desk_hire, writes=True,
    ),
    "updateBrandSettings": Op(
        mutation("updateBrandSettings", "UpdateBrandSettingsInput", "brand { settlementRatePercent storedValueSplitRule }"),
        lambda ids, extra: {"i": {"settlementRatePercent": 80 - extra["n"], "storedValueSplitRule": "GIFT_FIRST"}}, writes=True,
    ),
    "createService": Op(
        mutation("createService", "CreateServiceInput", "service { id name price }"),
        lambda ids, extra: {"i": {"name": f"头皮护理{extra['n']}", "price": 19800, "durationMinutes": 45, "category": "美发"}}, writes=True,
    ),
    "createRetailProduct": Op(
        mutation("createRetailProduct", "CreateRetailProductInput", "product { id name price }"),
        lambda ids, extra: {"i": {"name": f"护手霜{extra['n']}", "price": 5800, "category": "护肤品"}}, writes=True,
    ),
    "createCountCardProduct": Op(
        mutation("createCountCardProduct", "CreateCountCardProductInput", "product { id name sessions services { id } }"),
        lambda ids, extra: {"i": {"name": f"洗剪吹5次卡{extra['n']}", "serviceIds": [ids.services["洗剪吹"]], "price": 40_000, "validDays": 180, "sessions": 5}},
        writes=True,
    ),
    "setStorePrice": Op(
        mutation("setStorePrice", "SetStorePriceInput", "ok"),
        lambda ids, extra: {"i": {"storeId": ids.jingan, "itemId": ids.services["洗剪吹"], "price": 7800 - extra["n"]}}, writes=True,
    ),
    "createStoredValueCardProduct": Op(
        mutation("createStoredValueCardProduct", "CreateStoredValueCardProductInput", "product { id name topUpRules { threshold bonus } }"),
        lambda ids, extra: {"i": {"name": f"钻石卡{extra['n']}", "serviceDiscountPercent": 80, "topUpRules": [{"threshold": 1_000_000, "bonus": 300_000}]}},
        writes=True,
    ),
    "registerMember": Op(
        mutation("registerMember", "RegisterMemberInput", "member { id memberNo phone }"),
        lambda ids, extra: {"i": {"name": "周琳", "phone": f"1391234560{extra['n']}", "storeId": ids.jingan, "consent": True, "tags": ["新客"]}},
        writes=True,
    ),
    "updateMember": Op(
        mutation("updateMember", "UpdateMemberInput", "member { id name tags }"),
        lambda ids, extra: {"i": {"memberId": ids.member, "name": f"张晓美{extra['n']}", "addTags": ["VIP"]}}, writes=True,
    ),
    "topUp": Op(
        TOP_UP,
        lambda ids, extra: {"i": {"memberId": ids.member, "storeId": ids.jingan, "cardId": ids.card, "amount": 100_000,
                                  "tender": "WECHAT", "idempotencyKey": key()}},
        writes=True,
    ),
    "freezeCard": Op(
        mutation("freezeCard", "FreezeCardInput", "card { id status frozenReason }"),
        lambda ids, extra: {"i": {"cardId": extra["card"], "reason": "会员挂失"}}, prepare=fresh_card, writes=True,
    ),
    "unfreezeCard": Op(
        mutation("unfreezeCard", "UnfreezeCardInput", "card { id status }"),
        lambda ids, extra: {"i": {"cardId": extra["card"]}}, prepare=frozen_card, writes=True,
    ),
    "openOrder": Op(
        order_mutation("openOrder", "OpenOrderInput"),
        lambda ids, extra: {"i": {"storeId": ids.jingan, "memberId": ids.member, "note": "怕痛",
                                  "lines": [{"serviceId": ids.services["精油全身SPA"], "technicianId": ids.staff["technician"]}]}},
        writes=True,
    ),
    "addOrderLines": Op(
        order_mutation("addOrderLines", "AddOrderLinesInput"),
        lambda ids, extra: {"i": {"orderId": extra["order"], "lines": [{"productId": ids.retail["玫瑰精华水"], "quantity": 2}]}},
        prepare=open_jingan_order, writes=True,
    ),
    "removeOrderLine": Op(
        order_mutation("removeOrderLine", "RemoveOrderLineInput"),
        lambda ids, extra: {"i": {"orderId": extra["order"], "lineId": extra["lines"][-1]}}, prepare=open_jingan_order, writes=True,
    ),
    "holdOrder": Op(order_mutation("holdOrder"), lambda ids, extra: {"i": {"orderId": extra["order"]}}, prepare=open_jingan_order, writes=True),
    "resumeOrder": Op(order_mutation("resumeOrder"), lambda ids, extra: {"i": {"orderId": extra["order"]}}, prepare=held_order, writes=True),
    "cancelOrder": Op(order_mutation("cancelOrder"), lambda ids, extra: {"i": {"orderId": extra["order"]}}, prepare=open_jingan_order, writes=True),
    "checkout": Op(
        order_mutation("checkout", "CheckoutInput"),
        lambda ids, extra: {"i": {"orderId": extra["order"], "payments": [{"method": "WECHAT"}], "idempotencyKey": key()}},
        prepare=open_jingan_order, writes=True,
    ),
    "refundOrder": Op(
        mutation("refundOrder", "RefundOrderInput", "refund { id amount order { status refunded } }"),
        lambda ids, extra: {"i": {"orderId": extra["order"], "reason": "客人不满意", "idempotencyKey": key()}},
        prepare=paid_order, writes=True,
    ),
    "setCreditLimit": Op(
        mutation("setCreditLimit", "SetCreditLimitInput", "member { id onAccount { debt creditLimit available } }"),
        lambda ids, extra: {"i": {"memberId": ids.member, "limit": 200_000 + extra["n"]}}, writes=True,
    ),
    "repayOnAccount": Op(
        mutation("repayOnAccount", "RepayOnAccountInput", "member { id onAccount { debt creditLimit available } }"),
        lambda ids, extra: {"i": {"memberId": ids.member, "storeId": ids.jingan, "amount": 4_000, "tender": "CASH", "idempotencyKey": key()}},
        prepare=member_in_debt, writes=True,
    ),
    "cashOutCard": Op(
        mutation("cashOutCard", "CashOutCardInput", "paidOut giftForfeited card { id status }"),
        lambda ids, extra: {"i": {"cardId": extra["card"], "tender": "CASH", "reason": "顾客搬家", "idempotencyKey": key()}},
        prepare=fresh_card, writes=True,
    ),
    "cashOutCountCard": Op(
        mutation("cashOutCountCard", "CashOutCountCardInput", "valueLeft fee paidOut countCard { id status }"),
        lambda ids, extra: {"i": {"countCardId": extra["count_card"], "tender": "CASH", "reason": "不想做了", "idempotencyKey": key()}},
        prepare=cashable_count_card, writes=True,
    ),
    "bindMemberCard": Op(
        mutation("bindMemberCard", "BindMemberCardInput", "member { id cardNumber }"),
        lambda ids, extra: {"i": {"memberId": ids.member, "cardNumber": f"CARD-{extra['n']}-{key()[:8]}"}}, writes=True,
    ),
    "refundMembershipFee": Op(
        mutation("refundMembershipFee", "RefundMembershipFeeInput", "member { id membershipFee { refunded } }"),
        lambda ids, extra: {"i": {"memberId": extra["member"], "reason": "误收", "idempotencyKey": key()}},
        prepare=member_with_fee, writes=True,
    ),
    "receiveStock": Op(
        mutation("receiveStock", "ReceiveStockInput", "stock { quantity }"),
        lambda ids, extra: {"i": {"productId": ids.retail["玫瑰精华水"], "storeId": ids.jingan, "quantity": 5, "idempotencyKey": key()}},
        writes=True,
    ),
    "adjustStock": Op(
        mutation("adjustStock", "AdjustStockInput", "stock { quantity }"),
        lambda ids, extra: {"i": {"productId": ids.retail["玫瑰精华水"], "storeId": ids.jingan, "delta": 2, "reason": "找到一箱"}}, writes=True,
    ),
    "countStock": Op(
        mutation("countStock", "CountStockInput", "stock { quantity }"),
        lambda ids, extra: {"i": {"productId": ids.retail["玫瑰精华水"], "storeId": ids.jingan, "counted": 7 + extra["n"], "reason": "盘点"}},
        writes=True,
    ),
    "transferStock": Op(
        mutation("transferStock", "TransferStockInput", "sent { quantity } received { quantity }"),
        lambda ids, extra: {"i": {"productId": ids.retail["玫瑰精华水"], "fromStoreId": ids.jingan, "toStoreId": ids.xuhui, "quantity": 1,
                                  "idempotencyKey": key()}},
        prepare=stocked_shelf, writes=True,
    ),
    "setLowStockThreshold": Op(
        mutation("setLowStockThreshold", "SetLowStockThresholdInput", "stock { lowStockThreshold low }"),
        lambda ids, extra: {"i": {"productId": ids.retail["玫瑰精华水"], "storeId": ids.jingan, "threshold": 3 + extra["n"]}}, writes=True,
    ),
    "updateOperationSettings": Op(
        mutation("updateOperationSettings", "UpdateOperationSettingsInput", "settings { allowNegativeStock }"),
        lambda ids, extra: {"i": {"allowNegativeStock": extra["n"] % 2 == 0}}, writes=True,
    ),
    "reconcileBill": Op(
        mutation("reconcileBill", "ReconcileBillInput", "report { clean matched { count } }"),
        lambda ids, extra: {"i": {"channel": "WECHAT", "date": today(), "bill": _empty_wechat_bill()}},
    ),
    # loyalty and marketing
    "tierRules": Op("{ tierRules { basis tiers { tier threshold pointsMultiplierPercent } } }"),
    "setTierRules": Op(
        mutation("setTierRules", "SetTierRulesInput", "rules { basis tiers { tier threshold pointsMultiplierPercent } }"),
        lambda ids, extra: {"i": {"basis": "TOP_UP", "tiers": [
            {"tier": "NORMAL", "threshold": 0, "pointsMultiplierPercent": 100},
            {"tier": "SILVER", "threshold": 300_000, "pointsMultiplierPercent": 121 + extra["n"]},
            {"tier": "GOLD", "threshold": 1_000_000, "pointsMultiplierPercent": 150}]}},
        writes=True,
    ),
    "adjustPoints": Op(
        mutation("adjustPoints", "AdjustPointsInput", "member { id points pointsHistory(first: 1) { edges { node { kind delta reason } } } }"),
        lambda ids, extra: {"i": {"memberId": ids.member, "delta": 10, "reason": "补录积分", "idempotencyKey": key()}}, writes=True,
    ),
    "segment": Op(
        "query($id: ID!) { segment(id: $id) { id name memberCount rule { dormantDays } members(first: 5) { edges { node { id phone rfm { score } } } } } }",
        lambda ids, extra: {"id": extra["segment"]}, prepare=lambda demo, ids: dormant_segment(demo, ids),
    ),
    "segments": Op("{ segments { id name memberCount } }"),
    "createSegment": Op(
        mutation("createSegment", "CreateSegmentInput", "segment { id name memberCount }"),
        lambda ids, extra: {"i": {"name": f"沉睡客户{extra['n']}", "rule": {"dormantDays": 30, "storeIds": [ids.jingan]}}}, writes=True,
    ),
    "campaigns": Op("{ campaigns { id name issuedCount redeemedCount revenue } }"),
    "campaignPreview": Op(
        "query($s: ID!, $t: ID!) { campaignPreview(segmentId: $s, couponTemplateId: $t) { audience wouldIssue } }",
        lambda ids, extra: {"s": extra["segment"], "t": extra["template"]}, prepare=lambda demo, ids: campaign_parts(demo, ids),
    ),
    "launchCampaign": Op(
        mutation("launchCampaign", "LaunchCampaignInput", "campaign { id name issuedCount }"),
        lambda ids, extra: {"i": {"name": "唤醒活动", "segmentId": extra["segment"], "couponTemplateId": extra["template"], "idempotencyKey": key()}},
        prepare=lambda demo, ids: campaign_parts(demo, ids), writes=True,
    ),
    "referralReward": Op("{ referralReward { referrerPoints friendPoints referrerCouponTemplateId } }"),
    "setReferralReward": Op(
        mutation("setReferralReward", "SetReferralRewardInput", "reward { referrerPoints friendPoints }"),
        lambda ids, extra: {"i": {"referrerPoints": 200 + extra["n"], "friendPoints": 100}}, writes=True,
    ),
    "couponRules": Op("{ couponRules { id trigger templateId serviceId visitCount active } }"),
    "createCouponRule": Op(
        mutation("createCouponRule", "CreateCouponRuleInput", "rule { id trigger }"),
        lambda ids, extra: {"i": {"trigger": "REGISTRATION", "templateId": extra["template"]}},
        prepare=lambda demo, ids: coupon_template(demo), writes=True,
    ),
    "couponIssuePreview": Op(
        "query($t: ID!, $m: [ID!]!) { couponIssuePreview(templateId: $t, memberIds: $m) }",
        lambda ids, extra: {"t": extra["template"], "m": [ids.member]}, prepare=lambda demo, ids: coupon_template(demo),
    ),
    "couponTemplates": Op("{ couponTemplates { id name kind threshold amountOff issuedCount } }"),
    "createCouponTemplate": Op(
        mutation("createCouponTemplate", "CreateCouponTemplateInput", "template { id name }"),
        lambda ids, extra: {"i": {"name": f"满300减50-{extra['n']}", "kind": "THRESHOLD_OFF", "threshold": 30000, "amountOff": 5000, "validDays": 30}},
        writes=True,
    ),
    "issueCoupons": Op(
        mutation("issueCoupons", "IssueCouponsInput", "issuedCount coupons { code }"),
        lambda ids, extra: {"i": {"templateId": extra["template"], "memberIds": [ids.member], "idempotencyKey": key()}},
        prepare=lambda demo, ids: coupon_template(demo), writes=True,
    ),
    "coupon": Op(
        "query($c: String!) { coupon(code: $c) { code status template { name } member { id } } }",
        lambda ids, extra: {"c": extra["code"]}, prepare=lambda demo, ids: issued_coupon(demo, ids),
    ),
    "couponCheck": Op(
        "query($o: ID!, $c: String!) { couponCheck(orderId: $o, code: $c) { applicable discount reasons } }",
        lambda ids, extra: {"o": extra["order"], "c": extra["code"]}, prepare=lambda demo, ids: coupon_and_order(demo, ids),
    ),
    "exchangePoints": Op(
        mutation("exchangePoints", "ExchangePointsInput", "coupon { code status }"),
        lambda ids, extra: {"i": {"memberId": ids.member, "templateId": extra["template"], "idempotencyKey": key()}},
        prepare=lambda demo, ids: points_to_spend(demo, ids), writes=True,
    ),
}
OPERATIONS.update(booking_operations(Op, mutation))


async def coupon_template(demo: Demo, **fields) -> dict:
    spec = {"name": f"券-{key()[:8]}", "kind": "THRESHOLD_OFF", "threshold": 0, "amountOff": 1000, "validDays": 30, **fields}
    data = await demo.gql(mutation("createCouponTemplate", "CreateCouponTemplateInput", "template { id }"), {"i": spec}, as_="owner")
    assert data["createCouponTemplate"]["errors"] == [], data
    return {"template": data["createCouponTemplate"]["template"]["id"]}


async def issued_coupon(demo: Demo, ids: Ids) -> dict:
    template = await coupon_template(demo)
    data = await demo.gql(mutation("issueCoupons", "IssueCouponsInput", "coupons { code }"),
                          {"i": {"templateId": template["template"], "memberIds": [ids.member], "idempotencyKey": key()}}, as_="owner")
    assert data["issueCoupons"]["errors"] == [], data
    return {"code": data["issueCoupons"]["coupons"][0]["code"]}


async def coupon_and_order(demo: Demo, ids: Ids) -> dict:
    return {**await issued_coupon(demo, ids), **await open_jingan_order(demo, ids)}


async def points_to_spend(demo: Demo, ids: Ids) -> dict:
    await paid_order(demo, ids)  # earns the member points
    return await coupon_template(demo, pointsCost=10)


async def dormant_segment(demo: Demo, ids: Ids) -> dict:
    data = await demo.gql(OPERATIONS["createSegment"].document, {"i": {"name": f"沉睡{key()[:8]}", "rule": {"dormantDays": 30}}}, as_="owner")
    assert data["createSegment"]["errors"] == [], data
    return {"segment": data["createSegment"]["segment"]["id"]}


async def campaign_parts(demo: Demo, ids: Ids) -> dict:
    return {**await dormant_segment(demo, ids), **await coupon_template(demo)}


def expected_outcome(operation: str, caller: str) -> str:
    if operation in PUBLIC:
        return "ok"
    if caller == ANONYMOUS:
        return "UNAUTHENTICATED"
    return "ok" if ROLE_OF[caller] in OPERATION_ROLES[operation] else "FORBIDDEN"


def assert_refused(body: dict, operation: str, code: str) -> None:
    errors = body.get("errors") or []
    assert len(errors) == 1, f"{operation}: expected exactly one top-level {code} error, got {body}"
    (error,) = errors
    assert (error.get("extensions") or {}).get("code") == code, f"{operation}: expected {code}, got {body}"
    assert error.get("path") == [operation], body
    assert (body.get("data") or {}).get(operation) is None, f"{operation}: refused but returned data: {body}"


def assert_allowed(body: dict, operation: str, caller: str) -> None:
    codes = [(e.get("extensions") or {}).get("code") for e in body.get("errors") or []]
    assert not AUTH_CODES & set(codes), f"{operation} as {caller}: the role is in OPERATION_ROLES but was refused: {body}"
    assert not body.get("errors"), f"{operation} as {caller}: unexpected top-level errors: {body}"
    result = body["data"][operation]
    assert result is not None, f"{operation} as {caller}: no data: {body}"
    if isinstance(result, dict) and "errors" in result:
        assert result["errors"] == [], f"{operation} as {caller}: the valid document failed: {body}"


# ---------------------------------------------------------------------------------------------
# 1. No operation without a permission row (and a document here)


def test_every_root_field_has_a_permission_row_and_a_document():
    schema = build_staff_schema()._schema
    fields = set(schema.query_type.fields) | set(schema.mutation_type.fields)
    assert schema.subscription_type is None
    assert not PUBLIC & set(OPERATION_ROLES), "an operation is both public and role-checked"
    assert fields == set(OPERATION_ROLES) | PUBLIC, (
        f"root fields without a row in resolvers/permissions.py: {sorted(fields - set(OPERATION_ROLES) - PUBLIC)}; "
        f"rows without a root field: {sorted(set(OPERATION_ROLES) - fields)}"
    )
    assert set(OPERATIONS) == fields, f"add a document to OPERATIONS for: {sorted(fields - set(OPERATIONS))}"
    for operation, roles in OPERATION_ROLES.items():
        assert roles, f"{operation} allows no role at all"
        assert roles <= set(Role), operation


# ---------------------------------------------------------------------------------------------
# 2 and 3. Every operation, every role, and no token


async def check_call(demo: Demo, ids: Ids, engine, operation: str, caller: str, n: int) -> None:
    op = OPERATIONS[operation]
    extra = {"n": n, **(await op.prepare(demo, ids) if op.prepare else {})}
    # Queries run in a read-only transaction; mutations are compared row by row, before and after.
    is_mutation = op.document.lstrip().startswith("mutation")
    before = await snapshot(engine) if is_mutation else None
    body = await demo.gql.raw(op.document, op.variables(ids, extra), as_=None if caller == ANONYMOUS else caller)
    after = await snapshot(engine) if is_mutation else None
    expected = expected_outcome(operation, caller)
    if expected == "ok":
        assert_allowed(body, operation, caller)
        if op.writes:
            assert after != before, f"{operation} as {caller} succeeded but changed nothing: the document is not a real test"
    else:
        assert_refused(body, operation, expected)
        assert after == before, f"{operation} refused ({expected}) for {caller} but changed tables {diff(before, after)}"


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
async def test_operation_as_every_role_and_without_a_token(operation, demo, engine):
    """One test per operation, walking the six roles and no token on one seeded brand: a test
    per (operation, role) re-seeds ~280 times and takes minutes. Every caller is checked and all
    failures are reported together, each naming its operation and caller."""
    ids = await demo_ids(demo)
    failures = []
    for n, caller in enumerate(CALLERS):
        try:
            await check_call(demo, ids, engine, operation, caller, n)
        except AssertionError as error:
            failures.append(f"[{operation} as {caller}] {error}")
    assert not failures, "\n".join(failures)
    await assert_ledger_ok(engine)


# ---------------------------------------------------------------------------------------------
# 3b. Fields some roles may not read (FIELD_ROLES), through member(id) and members

FIELD_SELECTIONS = {
    "Member.storedValueCards": "storedValueCards { id balance }",
    "Member.onAccount": "onAccount { debt creditLimit available }",
    "Member.transactions": "transactions(first: 5) { edges { node { kind amount balanceAfter } } }",
    "Member.countCards": "countCards { id remaining }",
    "Member.points": "points",
    "Member.membershipFee": "membershipFee { amount refunded }",
    "Member.birthday": "birthday",
    "Member.gender": "gender",
    "Member.allergies": "allergies",
    "Member.preferences": "preferences",
    "Member.notes": "notes",
}


async def with_a_profile_and_a_fee(demo: Demo, ids: Ids, engine) -> None:
    """张小美 with every field the FIELD_ROLES rows guard filled in, so an allowed read is not null."""
    data = await demo.gql(
        mutation("updateMember", "UpdateMemberInput", "member { id }"),
        {"i": {"memberId": ids.member, "birthday": "1992-03-08", "gender": "FEMALE", "allergies": "果酸过敏", "preferences": "安静",
               "notes": "怕痛"}}, as_="owner",
    )
    assert data["updateMember"]["errors"] == [], data
    async with write_transaction(engine) as db:
        await db.execute(text("INSERT INTO transfers (brand_id, kind, reference, created_at) SELECT brand_id, 'MEMBERSHIP_FEE', 'test-fee', created_at"
                              " FROM members WHERE id = :m"), {"m": _pk(ids.member)})
        await db.execute(text("INSERT INTO membership_fees (brand_id, member_id, store_id, amount, tender, transfer_id, created_at)"
                              " SELECT brand_id, id, registered_store_id, 9900, 'CASH', (SELECT max(id) FROM transfers), created_at FROM members WHERE id = :m"),
                         {"m": _pk(ids.member)})


def _pk(gid: str) -> int:
    import base64

    return int(base64.b64decode(gid).decode().split(":")[1])


def test_every_field_row_names_a_field_and_has_a_selection():
    schema = build_staff_schema()._schema
    for name in FIELD_ROLES:
        type_name, field = name.split(".")
        assert field in schema.type_map[type_name].fields, name
    assert set(FIELD_SELECTIONS) == set(FIELD_ROLES)


@pytest.mark.parametrize("field", sorted(FIELD_ROLES))
async def test_field_as_every_role(field, demo, engine):
    ids = await demo_ids(demo)
    await with_a_profile_and_a_fee(demo, ids, engine)
    _type, name = field.split(".")
    selection = FIELD_SELECTIONS[field]
    failures = []
    for caller in ROLES:
        allowed = ROLE_OF[caller] in FIELD_ROLES[field]
        for root, document, path in (
            ("member", f"query($id: ID!) {{ member(id: $id) {{ id name {selection} }} }}", ["member", name]),
            ("members", f"query($s: String) {{ members(search: $s) {{ edges {{ node {{ id name {selection} }} }} }} }}",
             ["members", "edges", 0, "node", name]),
        ):
            body = await demo.gql.raw(document, {"id": ids.member, "s": CARD_HOLDER}, as_=caller)
            node = body["data"]["member"] if root == "member" else body["data"]["members"]["edges"][0]["node"]
            if allowed:
                ok = not body.get("errors") and node[name] is not None
            else:
                errors = body.get("errors") or []
                ok = ([(e.get("extensions") or {}).get("code") for e in errors] == ["FORBIDDEN"] and errors[0]["path"] == path
                      and node[name] is None and node["name"] == CARD_HOLDER)
            if not ok:
                failures.append(f"{field} via {root} as {caller} (allowed={allowed}): {body}")
    assert not failures, "\n".join(failures)


# ---------------------------------------------------------------------------------------------
# 4. Store scope, and whom a store manager may hire

STORE_BOUND = ("manager", "reception", "technician")


async def mutate(demo: Demo, document: str, variables: dict, caller: str | None) -> dict:
    return await demo.gql.raw(document, variables, as_=caller)


async def xuhui_orders(demo: Demo, ids: Ids) -> dict:
    """As the owner, at 徐汇店: an open order, a held one and a paid one."""
    opened = await open_order_at(demo, ids, ids.xuhui, [{"serviceId": ids.services["洗剪吹"]}, {"productId": ids.retail["玫瑰精华水"]}])
    held = await open_order_at(demo, ids, ids.xuhui)
    data = await demo.gql(order_mutation("holdOrder"), {"i": {"orderId": held["id"]}}, as_="owner")
    assert data["holdOrder"]["errors"] == [], data
    paid = await open_order_at(demo, ids, ids.xuhui)
    done = await checkout(demo, paid["id"], [{"method": "CASH"}], as_="owner")
    assert done["errors"] == [], done
    return {"open": opened["id"], "line": opened["lines"][-1]["id"], "held": held["id"], "paid": paid["id"]}


def xuhui_calls(ids: Ids, o: dict) -> list[tuple[str, dict, str, str | None]]:
    """(operation, variables, how a store-bound role of 静安店 is refused, the field named):
    "payload" is a STORE_FORBIDDEN payload error, "query" a top-level STORE_FORBIDDEN, "null" no data."""
    lines = [{"serviceId": ids.services["洗剪吹"]}]
    return [
        ("topUp", {"i": {"memberId": ids.member, "storeId": ids.xuhui, "cardId": ids.card, "amount": 100_000, "tender": "CASH", "idempotencyKey": key()}}, "payload", "storeId"),
        ("registerMember", {"i": {"name": "周琳", "phone": NEW_PHONE, "storeId": ids.xuhui, "consent": True}}, "payload", "storeId"),
        ("createStaff", {"i": {"username": "elsewhere", "name": "别店前台", "role": "RECEPTIONIST", "password": "elsewhere-pass", "storeId": ids.xuhui}}, "payload", "storeId"),
        ("setStorePrice", {"i": {"storeId": ids.xuhui, "itemId": ids.services["洗剪吹"], "price": 1}}, "payload", "storeId"),
        ("openOrder", {"i": {"storeId": ids.xuhui, "memberId": ids.member, "lines": lines}}, "payload", "storeId"),
        ("addOrderLines", {"i": {"orderId": o["open"], "lines": lines}}, "payload", "orderId"),
        ("removeOrderLine", {"i": {"orderId": o["open"], "lineId": o["line"]}}, "payload", "orderId"),
        ("holdOrder", {"i": {"orderId": o["open"]}}, "payload", "orderId"),
        ("resumeOrder", {"i": {"orderId": o["held"]}}, "payload", "orderId"),
        ("refundOrder", {"i": {"orderId": o["paid"], "reason": "别店退款", "idempotencyKey": key()}}, "payload", "orderId"),
        ("repayOnAccount", {"i": {"memberId": ids.member, "storeId": ids.xuhui, "amount": 100, "tender": "CASH", "idempotencyKey": key()}}, "payload", "storeId"),
        ("heldOrders", {"s": ids.xuhui}, "query", None),
        ("dailyClose", {"s": ids.xuhui, "d": today()}, "query", None),
        ("order", {"id": o["held"]}, "null", None),
        # Last: for the owner these end the open order.
        ("checkout", {"i": {"orderId": o["open"], "payments": [{"method": "CASH"}], "idempotencyKey": key()}}, "payload", "orderId"),
        ("cancelOrder", {"i": {"orderId": o["held"]}}, "payload", "orderId"),
    ]


@pytest.mark.parametrize("caller", STORE_BOUND)
async def test_store_bound_staff_cannot_act_for_another_store(caller, demo, engine):
    ids = await demo_ids(demo)
    orders = await xuhui_orders(demo, ids)
    before = await snapshot(engine)
    for operation, variables, refusal, field in xuhui_calls(ids, orders):
        body = await mutate(demo, OPERATIONS[operation].document, variables, caller)
        where = f"{caller} of 静安店 called {operation} for 徐汇店"
        if ROLE_OF[caller] not in OPERATION_ROLES[operation]:
            assert_refused(body, operation, "FORBIDDEN")
        elif refusal == "payload":
            assert not body.get("errors"), f"{where}: {body}"
            errors = body["data"][operation]["errors"]
            assert [(e["code"], e["field"]) for e in errors] == [("STORE_FORBIDDEN", field)], f"{where}: {body}"
        elif refusal == "query":
            assert [(e.get("extensions") or {}).get("code") for e in body.get("errors") or []] == ["STORE_FORBIDDEN"], f"{where}: {body}"
            assert (body.get("data") or {}).get(operation) is None, f"{where}: {body}"
        else:
            assert body == {"data": {operation: None}}, f"{where}: {body}"
        after = await snapshot(engine)
        assert after == before, f"{where}: refused, but changed {diff(before, after)}"
    # The same top-up at the own store works: the refusal was about the store.
    if ROLE_OF[caller] in OPERATION_ROLES["topUp"]:
        result = await demo.top_up(ids.member, 100_000, card_id=ids.card, as_=caller)
        assert result["errors"] == [], result
    await assert_ledger_ok(engine)


async def test_the_owner_acts_for_any_store(demo, engine):
    ids = await demo_ids(demo)
    orders = await xuhui_orders(demo, ids)
    for i in range(len(xuhui_calls(ids, orders))):
        operation, variables, _refusal, _field = xuhui_calls(ids, orders)[i]
        if operation in ("holdOrder", "resumeOrder", "refundOrder", "checkout", "cancelOrder"):
            # These succeed for the owner and move the order along: fresh ones for each.
            operation, variables, _refusal, _field = xuhui_calls(ids, await xuhui_orders(demo, ids))[i]
        if operation == "repayOnAccount":
            continue  # 张小美 owes nothing: OVERPAYMENT, a different story
        body = await mutate(demo, OPERATIONS[operation].document, variables, "owner")
        assert not body.get("errors") and body["data"][operation] is not None, f"owner: {operation} at 徐汇店: {body}"
        if isinstance(body["data"][operation], dict) and "errors" in body["data"][operation]:
            assert body["data"][operation]["errors"] == [], f"owner: {operation} at 徐汇店: {body}"
    await assert_ledger_ok(engine)


CREATE_STAFF = OPERATIONS["createStaff"].document


@pytest.mark.parametrize("role", ["OWNER", "FINANCE", "STORE_MANAGER", "MARKETER"])
async def test_a_manager_hires_only_desk_staff(role, demo, engine):
    before = await snapshot(engine)
    body = await mutate(
        demo, CREATE_STAFF,
        {"i": {"username": "promoted", "name": "想升职", "role": role, "password": "promoted-pass", "storeId": demo.jingan}},
        "manager",
    )
    assert not body.get("errors"), body
    assert [(e["code"], e["field"]) for e in body["data"]["createStaff"]["errors"]] == [("ROLE_FORBIDDEN", "role")], body
    assert body["data"]["createStaff"]["staff"] is None
    assert await snapshot(engine) == before, f"a refused createStaff ({role}) changed {diff(before, await snapshot(engine))}"


async def test_a_manager_hires_for_their_own_store_only(demo, engine):
    before = await snapshot(engine)
    body = await mutate(
        demo, CREATE_STAFF,
        {"i": {"username": "elsewhere", "name": "别店前台", "role": "RECEPTIONIST", "password": "elsewhere-pass", "storeId": demo.xuhui}},
        "manager",
    )
    assert [(e["code"], e["field"]) for e in body["data"]["createStaff"]["errors"]] == [("STORE_FORBIDDEN", "storeId")], body
    assert await snapshot(engine) == before
    # Without a store, the manager's own store is meant.
    data = await demo.gql(
        CREATE_STAFF, {"i": {"username": "own-tech", "name": "新技师", "role": "TECHNICIAN", "password": "own-tech-pass"}}, as_="manager"
    )
    assert data["createStaff"]["errors"] == [] and data["createStaff"]["staff"]["store"] == {"id": demo.jingan}, data
    # The owner hires finance (brand-wide, no store).
    data = await demo.gql(
        CREATE_STAFF, {"i": {"username": "cfo", "name": "财务总监", "role": "FINANCE", "password": "finance-pass"}}, as_="owner"
    )
    assert data["createStaff"]["errors"] == [] and data["createStaff"]["staff"] == {
        "id": data["createStaff"]["staff"]["id"], "role": "FINANCE", "store": None,
    }, data


# ---------------------------------------------------------------------------------------------
# 5. Phone masking

FULL_PHONE_ROLES = {"owner", "manager", "finance"}
MASKED = re.compile(r"^1\d{2}\*{4}\d{4}$")
FULL = re.compile(r"^1\d{10}$")


@pytest.mark.parametrize("caller", ROLES)
async def test_phones_are_masked_by_role(caller, demo):
    ids = await demo_ids(demo)
    member = await demo.register("周琳", NEW_PHONE, as_="owner")
    full = caller in FULL_PHONE_ROLES
    want = NEW_PHONE if full else NEW_PHONE_MASKED
    pattern = FULL if full else MASKED

    data = await demo.gql("query($id: ID!) { member(id: $id) { id phone } }", {"id": member["id"]}, as_=caller)
    assert data["member"] == {"id": member["id"], "phone": want}, f"member.phone as {caller}"

    listed = await demo.gql("{ members(first: 100) { edges { node { id phone } } } }", as_=caller)
    phones = {e["node"]["id"]: e["node"]["phone"] for e in listed["members"]["edges"]}
    assert len(phones) == 4 and phones[member["id"]] == want, phones
    assert all(pattern.match(p) for p in phones.values()), f"members list as {caller}: {phones}"

    # The desk types the full number (with or without separators) and finds the member.
    for typed in (NEW_PHONE, "139 1234 5678", "+86 139-1234-5678"):
        found = await demo.gql("query($s: String) { members(search: $s) { edges { node { id phone } } } }", {"s": typed}, as_=caller)
        assert found["members"]["edges"] == [{"node": {"id": member["id"], "phone": want}}], f"search {typed!r} as {caller}: {found}"

    if ROLE_OF[caller] in OPERATION_ROLES["storedValueCard"]:
        card = await demo.gql("query($id: ID!) { storedValueCard(id: $id) { member { phone } } }", {"id": ids.card}, as_=caller)
        assert pattern.match(card["storedValueCard"]["member"]["phone"]), card
    if ROLE_OF[caller] in OPERATION_ROLES["order"]:
        order = await open_order(demo, [{"serviceId": ids.services["洗剪吹"]}], member_id=member["id"], as_="owner")
        data = await demo.gql("query($id: ID!) { order(id: $id) { member { phone } } }", {"id": order["id"]}, as_=caller)
        assert data["order"] == {"member": {"phone": want}}, f"order.member.phone as {caller}: {data}"


async def test_the_desk_sees_masked_phones_in_its_own_payloads(demo):
    ids = await demo_ids(demo)
    member = await demo.register("周琳", NEW_PHONE, as_="reception")
    assert member["phone"] == NEW_PHONE_MASKED, member
    data = await demo.gql(
        "mutation($i: UpdateMemberInput!) { updateMember(input: $i) { member { phone } errors { code } } }",
        {"i": {"memberId": ids.member, "addTags": ["VIP"]}}, as_="reception",
    )
    assert data["updateMember"] == {"member": {"phone": "138****8000"}, "errors": []}, data
    data = await demo.gql(
        "mutation($i: TopUpInput!) { topUp(input: $i) { card { member { phone } } errors { code } } }",
        {"i": {"memberId": ids.member, "storeId": ids.jingan, "cardId": ids.card, "amount": 50_000, "tender": "CASH", "idempotencyKey": key()}},
        as_="reception",
    )
    assert data["topUp"] == {"card": {"member": {"phone": "138****8000"}}, "errors": []}, data


# ---------------------------------------------------------------------------------------------
# 6. Brand isolation


async def test_another_brand_sees_and_touches_nothing_of_the_first(demo, engine):
    ids = await demo_ids(demo)
    # The first brand's business: a held order, a paid one, a count card, and a cross-store spend
    # (张小美's 金卡 was sold at 静安店 and pays at 徐汇店), so that settlement has a line.
    held = await held_order(demo, ids)
    paid = await paid_order(demo, ids)
    sale = await open_order_at(demo, ids, ids.jingan, [{"countCardProductId": ids.count_card_products["面部清洁10次卡"]}])
    assert (await checkout(demo, sale["id"], [{"method": "CASH"}], as_="owner"))["errors"] == []
    spend = await open_order_at(demo, ids, ids.xuhui)
    assert (await checkout(demo, spend["id"], [{"method": "STORED_VALUE", "cardId": ids.card}], as_="owner"))["errors"] == []
    first = await demo.gql(
        """query($d: Date!) { members(first: 100) { edges { node { id memberNo countCards { id } } } } stores { id } staffMembers { id }
             services { id } retailProducts { id } countCardProducts { id } storedValueCardProducts { id }
             auditLog(first: 100) { edges { node { id } } } crossStoreSettlement(from: $d, to: $d) { items } }""",
        {"d": today()}, as_="owner",
    )
    first_members = {e["node"]["id"] for e in first["members"]["edges"]}
    assert ids.member in first_members and len(first_members) == 3
    count_card = next(c["id"] for e in first["members"]["edges"] for c in e["node"]["countCards"])
    assert first["crossStoreSettlement"] == [{"items": 1}], first

    # A second brand, with a store of the same name, and its owner.
    async with write_transaction(engine) as db:
        brand_id = await tenancy.create_brand(db, name="别家美业")
        await tenancy.create_store(db, brand_id=brand_id, name="静安店")
        await staff_accounts.create_staff(
            db, brand_id=brand_id, store_id=None, username="other-owner", name="别总", role=Role.OWNER, password="other-brand-pass",
        )
    other = "other-owner"
    demo.gql.tokens[other] = await demo.gql.login(other, "other-brand-pass")
    own_store = (await demo.gql("{ stores { id name } }", as_=other))["stores"]
    assert [s["name"] for s in own_store] == ["静安店"] and own_store[0]["id"] not in (ids.jingan, ids.xuhui), own_store
    own_store_id = own_store[0]["id"]

    # Reading: nothing of the first brand, by id, by list or by search.
    data = await demo.gql(
        "query($m: ID!, $c: ID!, $o: ID!) { member(id: $m) { id } storedValueCard(id: $c) { id } order(id: $o) { id } }",
        {"m": ids.member, "c": ids.card, "o": paid["order"]}, as_=other,
    )
    assert data == {"member": None, "storedValueCard": None, "order": None}, data
    lists = await demo.gql(
        """query($d: Date!) { members(first: 100) { edges { node { id } } } staffMembers { id } services { id } retailProducts { id }
             countCardProducts { id } storedValueCardProducts { id } auditLog(first: 100) { edges { node { id } } } brand { name }
             crossStoreSettlement(from: $d, to: $d) { items } }""",
        {"d": today()}, as_=other,
    )
    for name in ("services", "retailProducts", "countCardProducts", "storedValueCardProducts", "crossStoreSettlement"):
        assert lists[name] == [], f"the other brand lists the first's {name}: {lists}"
    assert lists["members"]["edges"] == [] and lists["auditLog"]["edges"] == [] and lists["brand"]["name"] == "别家美业", lists
    assert not {s["id"] for s in lists["staffMembers"]} & {s["id"] for s in first["staffMembers"]}, lists
    for typed in (CARD_HOLDER_PHONE, CARD_HOLDER, "M000001"):
        found = await demo.gql("query($s: String) { members(search: $s) { edges { node { id } } } }", {"s": typed}, as_=other)
        assert found["members"]["edges"] == [], f"search {typed!r} in the other brand found {found}"
    for operation, variables in (("heldOrders", {"s": ids.jingan}), ("dailyClose", {"s": ids.jingan, "d": today()})):
        body = await demo.gql.raw(OPERATIONS[operation].document, variables, as_=other)
        assert [(e.get("extensions") or {}).get("code") for e in body.get("errors") or []] == ["NOT_FOUND"], f"{operation} of the first brand's store: {body}"
        assert (body.get("data") or {}).get(operation) is None, body

    # The other brand can register the same phone (a member is per phone per brand: nothing leaks)
    # and has its own catalogue and an open order.
    data = await demo.gql(
        OPERATIONS["registerMember"].document,
        {"i": {"name": "张小美", "phone": CARD_HOLDER_PHONE, "storeId": own_store_id, "consent": True}}, as_=other,
    )
    assert data["registerMember"]["errors"] == [] and data["registerMember"]["member"]["phone"] == CARD_HOLDER_PHONE, data
    own_member = data["registerMember"]["member"]["id"]
    assert own_member not in first_members
    own_product = (await demo.gql(OPERATIONS["createStoredValueCardProduct"].document, {"i": {"name": "金卡"}}, as_=other))[
        "createStoredValueCardProduct"]["product"]["id"]
    own_service = (await demo.gql(OPERATIONS["createService"].document,
                                  {"i": {"name": "面部深层清洁", "price": 100, "durationMinutes": 30, "category": "面部护理"}}, as_=other))[
        "createService"]["service"]["id"]
    own_lines = [{"serviceId": own_service}]
    data = await demo.gql(OPERATIONS["openOrder"].document, {"i": {"storeId": own_store_id, "memberId": own_member, "lines": own_lines}}, as_=other)
    assert data["openOrder"]["errors"] == [], data
    own_order = data["openOrder"]["order"]["id"]

    # Writing with the first brand's ids: NOT_FOUND on the foreign id, and nothing changed.
    def top_up(**fields) -> dict:
        return {"i": {"memberId": own_member, "storeId": own_store_id, "amount": 100_000, "tender": "CASH", "idempotencyKey": key(), **fields}}

    def open_(**fields) -> dict:
        return {"i": {"storeId": own_store_id, "memberId": own_member, "lines": own_lines, **fields}}

    def pay(payment: dict) -> dict:
        return {"i": {"orderId": own_order, "payments": [payment], "idempotencyKey": key()}}

    technician = ids.staff["technician"]
    attempts = [
        ("topUp", top_up(memberId=ids.member, cardId=ids.card), "memberId"),
        ("topUp", top_up(memberId=ids.member, cardProductId=own_product), "memberId"),
        ("topUp", top_up(cardId=ids.card), "cardId"),
        ("topUp", top_up(cardProductId=ids.gold), "cardProductId"),
        ("topUp", top_up(storeId=ids.jingan, cardProductId=own_product), "storeId"),
        ("updateMember", {"i": {"memberId": ids.member, "name": "改名", "addTags": ["抢客"]}}, "memberId"),
        ("freezeCard", {"i": {"cardId": ids.card, "reason": "恶意冻结"}}, "cardId"),
        ("unfreezeCard", {"i": {"cardId": ids.card}}, "cardId"),
        ("registerMember", {"i": {"name": "周琳", "phone": NEW_PHONE, "storeId": ids.jingan, "consent": True}}, "storeId"),
        ("createStaff", {"i": {"username": "spy", "name": "卧底", "role": "RECEPTIONIST", "password": "spy-password", "storeId": ids.jingan}}, "storeId"),
        ("setStorePrice", {"i": {"storeId": ids.jingan, "itemId": own_service, "price": 1}}, "storeId"),
        ("setStorePrice", {"i": {"storeId": own_store_id, "itemId": ids.services["洗剪吹"], "price": 1}}, "itemId"),
        ("createCountCardProduct", {"i": {"name": "借来的卡", "serviceIds": [ids.services["洗剪吹"]], "price": 100, "validDays": 30, "sessions": 1}}, "serviceIds"),
        ("createCountCardProduct", {"i": {"name": "借来的卡", "serviceIds": [own_service], "price": 100, "validDays": 30, "sessions": 1, "storeIds": [ids.jingan]}}, "storeIds"),
        ("openOrder", open_(storeId=ids.jingan), "storeId"),
        ("openOrder", open_(memberId=ids.member), "memberId"),
        ("openOrder", open_(lines=[{"serviceId": ids.services["洗剪吹"]}]), "lines.0.serviceId"),
        ("openOrder", open_(lines=[{"productId": ids.retail["玫瑰精华水"]}]), "lines.0.productId"),
        ("openOrder", open_(lines=[{"serviceId": own_service, "technicianId": technician}]), "lines.0.technicianId"),
        ("addOrderLines", {"i": {"orderId": held["order"], "lines": own_lines}}, "orderId"),
        ("removeOrderLine", {"i": {"orderId": held["order"], "lineId": held["lines"][0]}}, "orderId"),
        ("holdOrder", {"i": {"orderId": held["order"]}}, "orderId"),
        ("resumeOrder", {"i": {"orderId": held["order"]}}, "orderId"),
        ("cancelOrder", {"i": {"orderId": held["order"]}}, "orderId"),
        ("checkout", {"i": {"orderId": held["order"], "payments": [{"method": "CASH"}], "idempotencyKey": key()}}, "orderId"),
        ("checkout", pay({"method": "STORED_VALUE", "cardId": ids.card}), "payments.0.cardId"),
        ("checkout", pay({"method": "COUNT_CARD", "countCardId": count_card}), "payments.0.countCardId"),
        ("refundOrder", {"i": {"orderId": paid["order"], "reason": "退别家的单", "idempotencyKey": key()}}, "orderId"),
        ("setCreditLimit", {"i": {"memberId": ids.member, "limit": 100_000}}, "memberId"),
        ("repayOnAccount", {"i": {"memberId": ids.member, "storeId": own_store_id, "amount": 100, "tender": "CASH", "idempotencyKey": key()}}, "memberId"),
    ]
    before = await snapshot(engine)
    for operation, variables, field in attempts:
        body = await mutate(demo, OPERATIONS[operation].document, variables, other)
        assert not body.get("errors"), body
        result = body["data"][operation]
        assert [(e["code"], e["field"]) for e in result["errors"]] == [("NOT_FOUND", field)], f"{operation} {variables}: {body}"
        after = await snapshot(engine)
        assert after == before, f"{operation} with the first brand's ids changed {diff(before, after)}"

    # The first brand's member, card and orders are as they were.
    data = await demo.gql(
        """query($id: ID!, $h: ID!, $p: ID!) { member(id: $id) { name tags storedValueCards { status } onAccount { creditLimit } }
             held: order(id: $h) { status lines { id } } paid: order(id: $p) { status refunded } }""",
        {"id": ids.member, "h": held["order"], "p": paid["order"]}, as_="owner",
    )
    assert data == {
        "member": {"name": CARD_HOLDER, "tags": [], "storedValueCards": [{"status": "ACTIVE"}], "onAccount": {"creditLimit": 0}},
        "held": {"status": "HELD", "lines": [{"id": line} for line in held["lines"]]},
        "paid": {"status": "PAID", "refunded": 0},
    }, data
    await assert_ledger_ok(engine)


# ---------------------------------------------------------------------------------------------
# 7. Tokens


def owner_claims(demo: Demo, secret: str) -> dict:
    return jwt.decode(demo.gql.tokens["owner"], secret, algorithms=["HS256"], audience=STAFF_AUDIENCE)


def bad_token(kind: str, claims: dict, secret: str) -> str:
    now = int(time.time())
    if kind == "forged":
        return jwt.encode(claims, "another-secret-key-that-is-long-enough!!", algorithm="HS256")
    if kind == "expired":
        return jwt.encode({**claims, "iat": now - 7300, "exp": now - 100}, secret, algorithm="HS256")
    if kind == "other-audience":
        return jwt.encode({**claims, "aud": "meiye-customer"}, secret, algorithm="HS256")
    if kind == "no-expiry":
        return jwt.encode({k: v for k, v in claims.items() if k != "exp"}, secret, algorithm="HS256")
    if kind == "unsigned":
        return jwt.encode(claims, None, algorithm="none")
    if kind == "garbage":
        return "not-a-token"
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["forged", "expired", "other-audience", "no-expiry", "unsigned", "garbage"])
async def test_bad_tokens_are_unauthenticated(kind, demo, engine, settings):
    ids = await demo_ids(demo)
    claims = owner_claims(demo, settings.secret_key)
    # Control: the same claims, freshly signed with the server's key, are accepted.
    control = jwt.encode({**claims, "exp": int(time.time()) + 600}, settings.secret_key, algorithm="HS256")
    assert (await demo.gql("{ viewer { role } }", token=control))["viewer"] == {"role": "OWNER"}

    token = bad_token(kind, claims, settings.secret_key)
    prepared = {name: await op.prepare(demo, ids) for name, op in OPERATIONS.items() if op.prepare}
    before = await snapshot(engine)
    for operation in sorted(OPERATIONS):
        op = OPERATIONS[operation]
        body = await demo.gql.raw(op.document, op.variables(ids, {"n": 0, **prepared.get(operation, {})}), token=token)
        if operation in PUBLIC:
            assert_allowed(body, operation, f"{kind} token")
        else:
            assert_refused(body, operation, "UNAUTHENTICATED")
    assert await snapshot(engine) == before


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Basic b3duZXI6bWVpeWUtZGVtbw==", "garbage", "Bearer a.b.c"])
async def test_malformed_authorization_headers_are_unauthenticated(header, demo, client):
    response = await client.http.post("/graphql", json={"query": "{ viewer { id } }"}, headers={"authorization": header})
    assert response.status_code == 200, response.text
    assert_refused(response.json(), "viewer", "UNAUTHENTICATED")


async def test_a_deactivated_account_stops_working_at_once(demo, engine):
    async with write_transaction(engine) as db:
        await db.execute(update(staff_accounts.staff).where(staff_accounts.staff.c.username == "reception").values(active=False))
    login = await demo.gql(
        "mutation { staffLogin(input: {username: \"reception\", password: \"meiye-demo\"}) { token errors { code } } }"
    )
    assert login["staffLogin"] == {"token": None, "errors": [{"code": "INVALID_CREDENTIALS"}]}, login
    before = await snapshot(engine)
    body = await demo.gql.raw(
        OPERATIONS["registerMember"].document,
        {"i": {"name": "周琳", "phone": NEW_PHONE, "storeId": demo.jingan, "consent": True}}, as_="reception",
    )
    after = await snapshot(engine)
    assert after == before, f"a deactivated receptionist's token still registered a member: {diff(before, after)}"
    assert_refused(body, "registerMember", "UNAUTHENTICATED")
