"""Technician performance with commission, and the prepaid liability with escrow, worked by hand;
the CSV exports with their permission checks."""

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from sqlalchemy import text, update

from domain.db import write_transaction
from domain.ledger.postings import transfers
from tests.bookings.support import hire_technician
from tests.support import assert_ledger_ok, checkout, open_order

PERFORMANCE = """query($s: ID, $f: Date!, $t: Date!) { technicianPerformance(storeId: $s, from: $f, to: $t) {
  technician { id name } servicesCount serviceRevenue countCardSessions cardSales productsSold commission
  commissionParts { service sessions storedValue countCard product } rating } }"""
LIABILITY = """query($d: Date) { prepaidLiability(date: $d) { date principal gift countCardDeferred escrowRatioPercent escrowRequired
  byStore { store { id } principal gift countCardDeferred } } }"""
RULES = """mutation($i: SetCommissionRulesInput!) { setCommissionRules(input: $i) { rules { kind target ratePercent amount } errors { code field } } }"""
TODAY = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()


async def _rules(demo):
    facial = demo.services["面部深层清洁"]["id"]
    result = (await demo.gql(RULES, {"i": {"rules": [
        {"kind": "CATEGORY", "ratePercent": 10},                  # every service: 10% of the money paid
        {"kind": "SERVICE", "serviceId": facial, "ratePercent": 15},  # but 面部深层清洁: 15%
        {"kind": "SESSION", "amount": 2000},                      # ¥20 per count-card session served
        {"kind": "STORED_VALUE", "ratePercent": 2},               # 2% of top-up principal, to who took it
        {"kind": "COUNT_CARD", "ratePercent": 5},                 # 5% of count cards sold
        {"kind": "PRODUCT", "ratePercent": 8},                    # 8% of retail
    ]}}, as_="owner"))["setCommissionRules"]
    assert result["errors"] == [], result
    return result


async def _business(demo):
    """One member's day: a ¥1,000 top-up at the desk, two services, a count card, one session of it,
    two bottles of toner, and the nail service refunded."""
    tech = demo.staff["technician"]
    member = await demo.register("业绩会员")
    await demo.top_up(member["id"], 100_000)  # by 小周 at the desk: 金卡 +¥200 gift
    a = await open_order(demo, [{"serviceId": demo.services["面部深层清洁"]["id"], "technicianId": tech},
                                {"serviceId": demo.services["日式美甲"]["id"], "technicianId": tech}], member_id=member["id"])
    assert (await checkout(demo, a["id"], [{"method": "CASH"}]))["errors"] == []
    b = await open_order(demo, [{"countCardProductId": demo.count_card_products["面部清洁10次卡"], "technicianId": tech}], member_id=member["id"])
    assert (await checkout(demo, b["id"], [{"method": "CASH"}]))["errors"] == []
    card = (await demo.gql("query($id: ID!) { member(id: $id) { countCards { id } } }", {"id": member["id"]}, as_="owner"))["member"]["countCards"][0]
    c = await open_order(demo, [{"serviceId": demo.services["面部深层清洁"]["id"], "technicianId": tech}], member_id=member["id"])
    assert (await checkout(demo, c["id"], [{"method": "COUNT_CARD", "countCardId": card["id"]}]))["errors"] == []
    d = await open_order(demo, [{"productId": demo.retail["玫瑰精华水"], "quantity": 2, "technicianId": tech}], member_id=member["id"])
    assert (await checkout(demo, d["id"], [{"method": "CASH"}]))["errors"] == []
    nail = next(l for l in a["lines"] if l["name"] == "日式美甲")
    refund = (await demo.gql("""mutation($i: RefundOrderInput!) { refundOrder(input: $i) { errors { code } } }""",
                             {"i": {"orderId": a["id"], "lines": [{"lineId": nail["id"]}], "reason": "不满意", "idempotencyKey": uuid.uuid4().hex}},
                             as_="manager"))["refundOrder"]
    assert refund["errors"] == [], refund
    return member, c


async def test_commission_by_the_rules_worked_by_hand(demo, engine):
    await _rules(demo)
    await _business(demo)
    rows = (await demo.gql(PERFORMANCE, {"f": TODAY.isoformat(), "t": TODAY.isoformat()}, as_="finance"))["technicianPerformance"]
    by_name = {r["technician"]["name"]: r for r in rows}
    amei = by_name["阿美"]
    # 面部深层清洁 ¥298 cash × 15% = 44.70; 日式美甲 ¥168 × 10% refunded = 0; a session of the count card: ¥20;
    # the count card ¥2,000 × 5% = 100.00; two toners ¥336 × 8% = 26.88.
    assert amei["commissionParts"] == {"service": 4470, "sessions": 2000, "storedValue": 0, "countCard": 10000, "product": 2688}
    assert amei["commission"] == 19158
    # Two services kept (the nail one was refunded); revenue ¥298 cash + ¥200 recognised from the count card.
    assert (amei["servicesCount"], amei["serviceRevenue"], amei["countCardSessions"]) == (2, 49800, 1)
    assert (amei["cardSales"], amei["productsSold"], amei["rating"]) == (200_000, 2, None)
    desk = by_name["小周"]
    # The demo seeds' top-ups have no staff; the ¥1,000 at the desk: principal only, 2%.
    assert (desk["cardSales"], desk["commission"], desk["servicesCount"]) == (100_000, 2000, 0)
    # Yesterday: nothing.
    yesterday = (TODAY - dt.timedelta(days=1)).isoformat()
    assert (await demo.gql(PERFORMANCE, {"f": yesterday, "t": yesterday}, as_="owner"))["technicianPerformance"] == []
    # The technician sees their own row, the same figures as finance sees, and nobody else's.
    own = (await demo.gql(PERFORMANCE, {"f": TODAY.isoformat(), "t": TODAY.isoformat()}, as_="technician"))["technicianPerformance"]
    assert own == [amei]
    bad = await demo.gql.raw(PERFORMANCE, {"f": TODAY.isoformat(), "t": yesterday}, as_="owner")
    assert bad["errors"][0]["extensions"]["code"] == "DATE_RANGE_INVALID"
    await assert_ledger_ok(engine)


async def test_a_technician_sees_only_their_own_row(demo, engine):
    await _rules(demo)
    xiaoli = await hire_technician(demo, "xiaoli", "小李")
    for tech in (demo.staff["technician"], xiaoli):
        order = await open_order(demo, [{"serviceId": demo.services["面部深层清洁"]["id"], "technicianId": tech}])
        assert (await checkout(demo, order["id"], [{"method": "CASH"}]))["errors"] == []
    day = {"f": TODAY.isoformat(), "t": TODAY.isoformat()}
    everyone = (await demo.gql(PERFORMANCE, day, as_="owner"))["technicianPerformance"]
    assert sorted(r["technician"]["name"] for r in everyone) == ["小李", "林总", "阿美"]  # 林总: the seed's top-ups
    token = await demo.gql.login("xiaoli", "tech-pass-123")
    mine = (await demo.gql.raw(PERFORMANCE, day, token=token))["data"]["technicianPerformance"]
    assert [(r["technician"]["id"], r["servicesCount"], r["serviceRevenue"], r["commission"]) for r in mine] == [(xiaoli, 1, 29800, 4470)]
    theirs = (await demo.gql(PERFORMANCE, {**day, "s": demo.jingan}, as_="technician"))["technicianPerformance"]
    assert [(r["technician"]["id"], r["servicesCount"], r["commission"]) for r in theirs] == [(demo.staff["technician"], 1, 4470)]
    other_store = await demo.gql.raw(PERFORMANCE, {**day, "s": demo.xuhui}, as_="technician")
    assert other_store["errors"][0]["extensions"]["code"] == "STORE_FORBIDDEN" and other_store["data"] is None
    # A period without work is still the technician's own row, of zeros: never someone else's.
    yesterday = (TODAY - dt.timedelta(days=1)).isoformat()
    quiet = (await demo.gql.raw(PERFORMANCE, {"f": yesterday, "t": yesterday}, token=token))["data"]["technicianPerformance"]
    assert [(r["technician"]["id"], r["servicesCount"], r["commission"]) for r in quiet] == [(xiaoli, 0, 0)]


async def test_a_bad_store_id_is_a_coded_error_after_the_role_check(demo):
    day = {"f": TODAY.isoformat(), "t": TODAY.isoformat()}
    member = await demo.register("不是门店")
    for store in ("garbage", member["id"], "U3RvcmU6OTk5OTk="):
        bad = await demo.gql.raw(PERFORMANCE, {**day, "s": store}, as_="owner")
        assert [e["extensions"]["code"] for e in bad["errors"]] == ["NOT_FOUND"] and bad["data"] is None, (store, bad)
        # The desk may not read performance at all: the same FORBIDDEN whatever the id.
        for store_arg in (store, demo.jingan):
            refused = await demo.gql.raw(PERFORMANCE, {**day, "s": store_arg}, as_="reception")
            assert [e["extensions"]["code"] for e in refused["errors"]] == ["FORBIDDEN"], (store_arg, refused)


async def test_bad_commission_rules_are_refused(demo):
    result = (await demo.gql(RULES, {"i": {"rules": [{"kind": "CATEGORY", "ratePercent": 101}]}}, as_="owner"))["setCommissionRules"]
    assert [(e["code"], e["field"]) for e in result["errors"]] == [("INVALID_VALUE", "rules.0.ratePercent")]
    result = (await demo.gql(RULES, {"i": {"rules": [{"kind": "SESSION", "ratePercent": 5}]}}, as_="owner"))["setCommissionRules"]
    assert [e["code"] for e in result["errors"]] == ["INVALID_VALUE"]
    result = (await demo.gql(RULES, {"i": {"rules": [{"kind": "SERVICE", "ratePercent": 5}]}}, as_="owner"))["setCommissionRules"]
    assert [e["code"] for e in result["errors"]] == ["REQUIRED"]


async def test_prepaid_liability_as_of_a_day_worked_by_hand(demo, engine):
    member, session_order = await _business(demo)
    ratio = (await demo.gql("mutation { setEscrowRatio(input: {escrowRatioPercent: 40}) { escrowRatioPercent errors { code } } }", as_="owner"))["setEscrowRatio"]
    assert ratio == {"escrowRatioPercent": "40", "errors": []}
    # The session served tomorrow, as far as the ledger knows: today's liability still holds the whole card.
    async with write_transaction(engine) as db:
        transfer_id = (await db.execute(text("SELECT o.transfer_id FROM orders o JOIN order_payments p ON p.order_id = o.id WHERE p.method = 'COUNT_CARD'"))).scalar_one()
        await db.execute(update(transfers).where(transfers.c.id == transfer_id).values(created_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=2)))
    today = (await demo.gql(LIABILITY, {"d": TODAY.isoformat()}, as_="finance"))["prepaidLiability"]
    # Cards: 张小美 ¥1,000+¥200 and our member ¥1,000+¥200 at 静安店, 王芳 ¥500+¥50 at 徐汇店; the count card ¥2,000 unused.
    assert (today["principal"], today["gift"], today["countCardDeferred"]) == (250_000, 45_000, 200_000)
    assert today["escrowRequired"] == 180_000  # (2,500 + 2,000) × 40%
    stores = {s["store"]["id"]: (s["principal"], s["gift"], s["countCardDeferred"]) for s in today["byStore"]}
    assert stores == {demo.jingan: (200_000, 40_000, 200_000), demo.xuhui: (50_000, 5_000, 0)}
    later = (await demo.gql(LIABILITY, {"d": (TODAY + dt.timedelta(days=3)).isoformat()}, as_="finance"))["prepaidLiability"]
    assert (later["principal"], later["countCardDeferred"], later["escrowRequired"]) == (250_000, 180_000, 172_000)
    before = (await demo.gql(LIABILITY, {"d": (TODAY - dt.timedelta(days=1)).isoformat()}, as_="owner"))["prepaidLiability"]
    assert (before["principal"], before["gift"], before["countCardDeferred"], before["escrowRequired"]) == (0, 0, 0, 0)
    value = (await demo.gql("query($id: ID!) { memberValue(memberId: $id) { lifetimeSpend visits averageTicket lastVisit } }",
                            {"id": member["id"]}, as_="marketer"))["memberValue"]
    # ¥298 + ¥168 − ¥168 refunded, ¥2,000 card, ¥0 session (paid before), ¥336 toners: four visits.
    assert (value["lifetimeSpend"], value["visits"], value["averageTicket"]) == (263_400, 4, 65_850)


async def test_csv_exports_with_bom_yuan_and_the_same_permissions(demo, client):
    await _rules(demo)
    await _business(demo)
    day = TODAY.isoformat()
    http = client.http
    response = await http.get(f"/reports/technician-performance.csv?from={day}&to={day}", headers={"authorization": f"Bearer {demo.gql.tokens['finance']}"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")
    lines = response.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("staff,services,service_revenue_yuan")
    assert "阿美,2,498.00,1,2000.00,2,191.58," in lines
    liability = await http.get("/reports/prepaid-liability.csv", headers={"authorization": f"Bearer {demo.gql.tokens['owner']}"})
    assert "total,2500.00,450.00,1800.00" in liability.content.decode("utf-8-sig").splitlines()
    own = await http.get(f"/reports/technician-performance.csv?from={day}&to={day}", headers={"authorization": f"Bearer {demo.gql.tokens['technician']}"})
    assert own.status_code == 200 and own.content.decode("utf-8-sig").splitlines()[1:] == [l for l in lines if l.startswith("阿美,")]
    assert (await http.get(f"/reports/technician-performance.csv?from={day}&to={day}", headers={"authorization": f"Bearer {demo.gql.tokens['reception']}"})).status_code == 403
    assert (await http.get("/reports/prepaid-liability.csv")).status_code == 401
    assert (await http.get("/reports/technician-performance.csv?from=nope&to=x", headers={"authorization": f"Bearer {demo.gql.tokens['owner']}"})).status_code == 400
    members = (await http.get("/reports/members.csv", headers={"authorization": f"Bearer {demo.gql.tokens['marketer']}"})).content.decode("utf-8-sig")
    assert "138****8000" in members and "13800138000" not in members
    full = (await http.get("/reports/members.csv", headers={"authorization": f"Bearer {demo.gql.tokens['owner']}"})).content.decode("utf-8-sig")
    assert "13800138000" in full
    close = await http.get(f"/reports/daily-close.csv?storeId={demo.jingan}&date={day}", headers={"authorization": f"Bearer {demo.gql.tokens['manager']}"})
    assert close.status_code == 200 and "payments,CASH" in close.content.decode("utf-8-sig")
    assert (await http.get("/reports/nope.csv", headers={"authorization": f"Bearer {demo.gql.tokens['owner']}"})).status_code == 404
