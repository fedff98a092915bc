"""Registering, updating and finding members through the staff API."""

import base64

import pytest
from sqlalchemy import select, text

from domain.db import read_transaction
from domain.members.members import members

REGISTER = """mutation($i: RegisterMemberInput!) { registerMember(input: $i) {
  member { id memberNo name phone tier points tags registeredStore { id } } errors { code field message } } }"""


async def register(demo, as_="reception", **fields):
    payload = {"name": "周琳", "phone": "13912345678", "storeId": demo.jingan, "consent": True, **fields}
    return (await demo.gql(REGISTER, {"i": payload}, as_=as_))["registerMember"]


async def member_count(engine) -> int:
    async with read_transaction(engine) as db:
        return await db.scalar(text("SELECT count(*) FROM members"))


async def test_register_gives_member_number_masked_phone_and_tags(demo):
    result = await register(demo, tags=["怕痛", "敏感肌", "怕痛"])
    assert result["errors"] == []
    member = result["member"]
    assert member["memberNo"] == "M000004"  # the demo brand already has three
    assert member["phone"] == "139****5678"
    assert (member["tier"], member["points"]) == ("NORMAL", 0)
    assert member["tags"] == ["怕痛", "敏感肌"]
    assert member["registeredStore"]["id"] == demo.jingan


async def test_phone_is_normalised_and_one_member_per_phone(demo, engine):
    assert (await register(demo, phone="+86 139-1234-5678"))["errors"] == []
    before = await member_count(engine)
    duplicate = await register(demo, phone="13912345678", name="另一个人")
    assert duplicate["member"] is None
    assert [(e["code"], e["field"]) for e in duplicate["errors"]] == [("PHONE_TAKEN", "phone")]
    assert duplicate["errors"][0]["message"] == "该手机号已注册会员"
    assert await member_count(engine) == before


async def test_phone_is_not_stored_in_clear(demo, engine):
    await register(demo, phone="13912345678")
    async with read_transaction(engine) as db:
        row = (await db.execute(select(members).where(members.c.name == "周琳"))).one()
        dump = " ".join(str(v) for v in row)
        audit = " ".join(str(v) for v in (await db.execute(text("SELECT before, after FROM audit_log"))).all())
    assert "13912345678" not in dump and "12345678" not in dump
    assert "13912345678" not in audit


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"phone": "1391234567"}, "INVALID_PHONE", "phone"),
        ({"phone": "23912345678"}, "INVALID_PHONE", "phone"),
        ({"phone": "12012345678"}, "INVALID_PHONE", "phone"),
        ({"phone": "1391234567a"}, "INVALID_PHONE", "phone"),
        ({"phone": ""}, "INVALID_PHONE", "phone"),
        ({"name": "   "}, "REQUIRED", "name"),
        ({"name": "名" * 41}, "TOO_LONG", "name"),
        ({"consent": False}, "CONSENT_REQUIRED", "consent"),
        ({"storeId": "U3RvcmU6OTk5"}, "NOT_FOUND", "storeId"),  # Store:999
        ({"storeId": "not-an-id"}, "NOT_FOUND", "storeId"),
        ({"storeId": "TWVtYmVyOjE="}, "NOT_FOUND", "storeId"),  # a Member id where a Store id belongs
        ({"tags": ["标" * 21]}, "TOO_LONG", "tags"),
        ({"tags": [f"t{i}" for i in range(21)]}, "TOO_MANY", "tags"),
    ],
)
async def test_bad_registrations_are_coded_errors_and_change_nothing(demo, engine, fields, code, field):
    before = await member_count(engine)
    result = await register(demo, **fields)
    assert result["member"] is None
    assert [(e["code"], e["field"]) for e in result["errors"]] == [(code, field)]
    assert await member_count(engine) == before


async def test_errors_speak_english_when_asked(demo):
    data = await demo.gql(REGISTER, {"i": {"name": "x", "phone": "123", "storeId": demo.jingan, "consent": True}}, as_="reception", lang="en-US,en;q=0.9")
    assert data["registerMember"]["errors"] == [
        {"code": "INVALID_PHONE", "field": "phone", "message": "Enter an 11-digit mainland China mobile number"}
    ]


async def test_search_by_name_phone_and_member_number_with_cursor_pages(demo):
    for i in range(5):
        await register(demo, name=f"王小{i}", phone=f"1380000000{i}")
    query = """query($s: String, $first: Int, $after: String) { members(search: $s, first: $first, after: $after) {
      edges { cursor node { name memberNo } } pageInfo { hasNextPage endCursor } } }"""
    page1 = (await demo.gql(query, {"s": "王小", "first": 3}, as_="reception"))["members"]
    assert [e["node"]["name"] for e in page1["edges"]] == ["王小4", "王小3", "王小2"]
    assert page1["pageInfo"]["hasNextPage"] is True
    page2 = (await demo.gql(query, {"s": "王小", "first": 3, "after": page1["pageInfo"]["endCursor"]}, as_="reception"))["members"]
    assert [e["node"]["name"] for e in page2["edges"]] == ["王小1", "王小0"]
    assert page2["pageInfo"]["hasNextPage"] is False

    by_phone = (await demo.gql(query, {"s": "13800000003"}, as_="reception"))["members"]["edges"]
    assert [e["node"]["name"] for e in by_phone] == ["王小3"]
    number = by_phone[0]["node"]["memberNo"]
    by_number = (await demo.gql(query, {"s": number.lower()}, as_="reception"))["members"]["edges"]
    assert [e["node"]["name"] for e in by_number] == ["王小3"]
    # Part of a phone number finds nothing: only the full number is looked up, through its index.
    assert (await demo.gql(query, {"s": "1380000"}, as_="reception"))["members"]["edges"] == []
    # LIKE wildcards are literal.
    assert (await demo.gql(query, {"s": "%"}, as_="reception"))["members"]["edges"] == []


async def test_bad_page_arguments_are_coded_top_level_errors(demo):
    body = await demo.gql.raw("{ members(first: 0) { edges { cursor } } }", as_="reception")
    assert body["errors"][0]["extensions"]["code"] == "INVALID_VALUE"
    body = await demo.gql.raw('{ members(after: "garbage") { edges { cursor } } }', as_="reception")
    assert body["errors"][0]["extensions"]["code"] == "INVALID_CURSOR"
    body = await demo.gql.raw("{ members(first: 101) { edges { cursor } } }", as_="reception")
    assert body["errors"][0]["extensions"]["code"] == "INVALID_VALUE"
    # A cursor names a row id: one past a BIGINT (PostgreSQL's driver refused it with an internal
    # error) or not plainly digits is no cursor, on every list.
    member = (await register(demo))["member"]
    for value in (2**63, 10**30, -5, "1_0", " 7", "٣"):
        cursor = base64.urlsafe_b64encode(f"c:{value}".encode()).decode()
        for query in ("query($a: String) { members(after: $a) { edges { cursor } } }",
                      "query($a: String, $id: ID!) { member(id: $id) { transactions(after: $a) { edges { cursor } } } }"):
            body = await demo.gql.raw(query, {"a": cursor, "id": member["id"]}, as_="owner")
            assert [e["extensions"]["code"] for e in body["errors"]] == ["INVALID_CURSOR"], (value, body)
    largest = base64.urlsafe_b64encode(f"c:{2**63 - 1}".encode()).decode()
    body = await demo.gql.raw("query($a: String) { members(after: $a) { edges { node { id } } } }", {"a": largest}, as_="owner")
    assert "errors" not in body and len(body["data"]["members"]["edges"]) >= 1


async def test_update_member_name_and_tags_is_audited(demo):
    member = (await register(demo, tags=["怕痛"]))["member"]
    data = await demo.gql(
        """mutation($i: UpdateMemberInput!) { updateMember(input: $i) { member { name tags } errors { code } } }""",
        {"i": {"memberId": member["id"], "name": "周琳琳", "addTags": ["VIP"], "removeTags": ["怕痛"]}},
        as_="marketer",
    )
    assert data["updateMember"] == {"member": {"name": "周琳琳", "tags": ["VIP"]}, "errors": []}
    log = (await demo.gql("{ auditLog(first: 2) { edges { node { action before after staff { username } } } } }", as_="owner"))["auditLog"]["edges"]
    assert log[0]["node"]["action"] == "member.update"
    assert log[0]["node"]["before"] == {"name": "周琳", "tags": ["怕痛"]}
    assert log[0]["node"]["after"] == {"name": "周琳琳", "tags": ["VIP"]}
    assert log[0]["node"]["staff"]["username"] == "marketer"
