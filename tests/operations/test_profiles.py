"""The member profile (画像): birthday, gender, allergies, preferences and notes, sealed at rest
like phones (a dump of every text column finds none of it), read by the roles that serve the
customer, written only by the roles that may read them, audited sealed; and the visit summary
from the member's orders, batched."""

import uuid

from sqlalchemy import String, Text, select

from domain.db import read_transaction
from domain.models import metadata
from tests.support import checkout, open_order
from tests.test_query_counts import StatementCounter

ALLERGY = "对芒果和果酸过敏"
NOTE = "怕痛，喜欢安静，不要推销"
PREFERENCE = "偏好无香精产品"
PROFILE = "birthday gender allergies preferences notes"
MEMBER = f"query($id: ID!) {{ member(id: $id) {{ id name {PROFILE} }} }}"
REGISTER = """mutation($i: RegisterMemberInput!) { registerMember(input: $i) {
  member { id birthday gender allergies preferences notes } errors { code field message } } }"""
UPDATE = "mutation($i: UpdateMemberInput!) { updateMember(input: $i) { member { id allergies notes } errors { code field message } } }"


async def profiled_member(demo) -> str:
    data = await demo.gql(REGISTER, {"i": {"name": "林悦", "phone": f"136{uuid.uuid4().int % 10**8:08d}", "storeId": demo.jingan, "consent": True,
                                           "birthday": "1990-05-20", "gender": "FEMALE", "allergies": ALLERGY, "preferences": PREFERENCE,
                                           "notes": NOTE}}, as_="reception")
    assert data["registerMember"]["errors"] == [], data
    assert data["registerMember"]["member"] | {"id": None} == {"id": None, "birthday": "1990-05-20", "gender": "FEMALE", "allergies": ALLERGY,
                                                               "preferences": PREFERENCE, "notes": NOTE}
    return data["registerMember"]["member"]["id"]


async def test_each_role_reads_what_it_needs(demo):
    member = await profiled_member(demo)
    seen = {}
    for role in ("owner", "manager", "reception", "technician", "finance", "marketer"):
        body = await demo.gql.raw(MEMBER, {"id": member}, as_=role)
        forbidden = sorted(e["path"][-1] for e in body.get("errors") or [] if e["extensions"]["code"] == "FORBIDDEN")
        seen[role] = (forbidden, body["data"]["member"]["allergies"])
    assert seen == {
        "owner": ([], ALLERGY), "manager": ([], ALLERGY), "reception": ([], ALLERGY), "technician": (["birthday"], ALLERGY),
        "finance": (["allergies", "birthday", "notes", "preferences"], None), "marketer": (["allergies", "notes", "preferences"], None),
    }


async def test_a_role_that_may_not_read_a_field_may_not_write_it_and_changes_are_audited_sealed(demo, engine):
    member = await profiled_member(demo)
    body = await demo.gql.raw(UPDATE, {"i": {"memberId": member, "allergies": "无"}}, as_="marketer")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await demo.gql(MEMBER, {"id": member}, as_="owner"))["member"]["allergies"] == ALLERGY
    cleared = await demo.gql(UPDATE, {"i": {"memberId": member, "allergies": "", "notes": "改为周末来"}}, as_="reception")
    assert cleared["updateMember"] == {"member": {"id": member, "allergies": None, "notes": "改为周末来"}, "errors": []}
    too_long = await demo.gql(UPDATE, {"i": {"memberId": member, "notes": "x" * 501}}, as_="owner")
    assert too_long["updateMember"]["errors"][0]["code"] == "TOO_LONG"
    future = await demo.gql(UPDATE, {"i": {"memberId": member, "birthday": "2999-01-01"}}, as_="owner")
    assert future["updateMember"]["errors"][0] == {"code": "INVALID_VALUE", "field": "birthday", "message": "生日（1900-01-01至今天）无效"}
    audit = (await demo.gql("{ auditLog(first: 20) { edges { node { action before after } } } }", as_="owner"))["auditLog"]["edges"]
    changes = [e["node"] for e in audit if e["node"]["action"] == "member.profile"]
    assert len(changes) == 2
    latest = changes[0]
    assert set(latest["before"]) == {"allergies", "notes"} and latest["after"]["allergies"] is None
    assert latest["before"]["allergies"].startswith("sealed:") and latest["after"]["notes"].startswith("sealed:")


async def test_a_dump_of_every_text_column_finds_no_profile_in_clear(demo, engine):
    member = await profiled_member(demo)
    await demo.gql(UPDATE, {"i": {"memberId": member, "notes": NOTE + "（更新）"}}, as_="manager")
    found = []
    async with read_transaction(engine) as db:
        for table in metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, (String, Text))]
            if not columns:
                continue
            for row in await db.execute(select(*columns)):
                for column, value in zip(columns, row):
                    if value and any(secret in value for secret in (ALLERGY, NOTE, PREFERENCE, "芒果", "怕痛", "1990-05-20")):
                        found.append(f"{table.name}.{column.name}")
    assert found == []


async def test_the_visit_summary_counts_paid_orders_and_kept_services_in_constant_statements(demo, engine):
    member = (await demo.register(name="常客"))["id"]
    haircut, spa = demo.services["洗剪吹"]["id"], demo.services["精油全身SPA"]["id"]
    tech = demo.staff["technician"]
    for lines in ([{"serviceId": haircut, "technicianId": tech, "quantity": 3}], [{"serviceId": spa}], [{"serviceId": spa, "technicianId": tech}]):
        order = await open_order(demo, lines, member_id=member)
        assert (await checkout(demo, order["id"], [{"method": "CASH"}]))["errors"] == []
    refunded = await open_order(demo, [{"serviceId": spa}, {"serviceId": spa}], member_id=member)
    assert (await checkout(demo, refunded["id"], [{"method": "CASH"}]))["errors"] == []
    gone = await demo.gql("mutation($i: RefundOrderInput!) { refundOrder(input: $i) { errors { code } } }",
                          {"i": {"orderId": refunded["id"], "reason": "取消", "idempotencyKey": uuid.uuid4().hex}}, as_="manager")
    assert gone["refundOrder"]["errors"] == []
    await open_order(demo, [{"serviceId": haircut}], member_id=member)  # open: not a visit
    query = "query($id: ID!) { member(id: $id) { lastVisitAt visits favouriteServices { name } favouriteTechnician { username } } }"
    summary = (await demo.gql(query, {"id": member}, as_="technician"))["member"]
    assert summary["lastVisitAt"] is not None
    assert (summary["visits"], summary["favouriteServices"], summary["favouriteTechnician"]) == (
        3, [{"name": "洗剪吹"}, {"name": "精油全身SPA"}], {"username": "technician"})
    page = "query($f: Int) { members(first: $f) { edges { node { id visits lastVisitAt favouriteServices { name } favouriteTechnician { id } " \
           "cardNumber allergies } } } }"
    for i in range(8):
        other = (await demo.register(name=f"客{i}"))["id"]
        order = await open_order(demo, [{"serviceId": haircut, "technicianId": tech}], member_id=other)
        assert (await checkout(demo, order["id"], [{"method": "CASH"}]))["errors"] == []
    counts = []
    for first in (2, 9):
        with StatementCounter(engine) as counter:
            data = await demo.gql(page, {"f": first}, as_="manager")
        assert len(data["members"]["edges"]) == first
        counts.append(counter.count)
    assert counts[0] == counts[1], counts
