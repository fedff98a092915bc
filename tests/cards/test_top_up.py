"""Top-ups, bonuses, freezing and the member's statement, through the staff API."""

import pytest
from sqlalchemy import text

from domain.db import read_transaction
from tests.support import TOP_UP, assert_ledger_ok

STATEMENT = """query($id: ID!) { member(id: $id) { tier storedValueCards { id principal gift balance status issuedStore { id } }
  transactions(first: 10) { edges { node { kind amount principalAmount giftAmount balanceAfter principalAfter giftAfter
    store { id } staff { username } card { id } } } } } }"""


async def money_snapshot(engine) -> tuple:
    async with read_transaction(engine) as db:
        return tuple(
            [await db.scalar(text(f"SELECT count(*) FROM {t}")) for t in ("transfers", "postings", "card_entries", "stored_value_cards", "idempotency_keys")]
            + [tuple(await db.execute(text("SELECT id, balance FROM accounts ORDER BY id")))]
        )


@pytest.mark.parametrize(
    ("amount", "bonus"),
    [(99_999, 0), (100_000, 20_000), (299_999, 20_000), (300_000, 80_000), (500_000, 150_000), (1_000_000, 150_000)],
)
async def test_bonus_is_the_highest_rule_reached(demo, engine, amount, bonus):
    member = await demo.register()
    result = await demo.top_up(member["id"], amount)
    assert result["errors"] == []
    assert (result["amount"], result["bonus"]) == (amount, bonus)
    assert (result["card"]["principal"], result["card"]["gift"], result["card"]["balance"]) == (amount, bonus, amount + bonus)
    await assert_ledger_ok(engine)


async def test_first_top_up_issues_the_card_at_the_selling_store_and_later_ones_add_to_it(demo, engine):
    member = await demo.register(store=demo.jingan)
    first = await demo.top_up(member["id"], 100_000, store=demo.xuhui, as_="owner", tender="WECHAT")
    second = await demo.top_up(member["id"], 50_000, store=demo.jingan, tender="BANK_CARD")
    assert first["card"]["id"] == second["card"]["id"]
    assert first["card"]["issuedStore"]["id"] == demo.xuhui
    assert (second["card"]["principal"], second["card"]["gift"]) == (150_000, 20_000)
    by_card_id = await demo.top_up(member["id"], 1_000, card_id=first["card"]["id"])
    assert by_card_id["card"]["balance"] == 171_000

    data = (await demo.gql(STATEMENT, {"id": member["id"]}, as_="manager"))["member"]
    lines = [e["node"] for e in data["transactions"]["edges"]]
    assert [(l["kind"], l["amount"], l["principalAmount"], l["giftAmount"], l["balanceAfter"]) for l in lines] == [
        ("TOP_UP", 1_000, 1_000, 0, 171_000),
        ("TOP_UP", 50_000, 50_000, 0, 170_000),
        ("TOP_UP", 120_000, 100_000, 20_000, 120_000),
    ]
    assert [l["store"]["id"] for l in lines] == [demo.jingan, demo.jingan, demo.xuhui]
    assert [l["staff"]["username"] for l in lines] == ["reception", "reception", "owner"]
    assert data["tier"] == "NORMAL"
    await assert_ledger_ok(engine)


async def test_tier_rises_with_cumulative_top_up(demo):
    member = await demo.register()
    await demo.top_up(member["id"], 299_999)
    assert (await demo.gql(STATEMENT, {"id": member["id"]}, as_="reception"))["member"]["tier"] == "NORMAL"
    await demo.top_up(member["id"], 1)
    assert (await demo.gql(STATEMENT, {"id": member["id"]}, as_="reception"))["member"]["tier"] == "SILVER"
    await demo.top_up(member["id"], 700_000)
    assert (await demo.gql(STATEMENT, {"id": member["id"]}, as_="reception"))["member"]["tier"] == "GOLD"


async def test_same_key_replays_the_first_result_and_moves_no_money(demo, engine):
    member = await demo.register()
    first = await demo.top_up(member["id"], 100_000, key="desk-1-0001")
    before = await money_snapshot(engine)
    again = await demo.top_up(member["id"], 100_000, key="desk-1-0001")
    assert again == first
    assert await money_snapshot(engine) == before
    reused = await demo.top_up(member["id"], 100_001, key="desk-1-0001")
    assert [(e["code"], e["field"]) for e in reused["errors"]] == [("IDEMPOTENCY_KEY_REUSED", "idempotencyKey")]
    assert await money_snapshot(engine) == before


def _bad_inputs():
    return [
        ({"amount": 0}, "AMOUNT_NOT_POSITIVE", "amount"),
        ({"amount": -100}, "AMOUNT_NOT_POSITIVE", "amount"),
        ({"amount": 100_000_001}, "AMOUNT_TOO_LARGE", "amount"),
        ({"amount": 2**53 - 1}, "AMOUNT_TOO_LARGE", "amount"),
        ({"idempotencyKey": ""}, "IDEMPOTENCY_KEY_REQUIRED", "idempotencyKey"),
        ({"idempotencyKey": "k" * 101}, "TOO_LONG", "idempotencyKey"),
        ({"memberId": "TWVtYmVyOjk5OTk="}, "NOT_FOUND", "memberId"),
        ({"memberId": "%%%"}, "NOT_FOUND", "memberId"),
        ({"storeId": "U3RvcmU6OTk5"}, "NOT_FOUND", "storeId"),
        ({"cardProductId": "U3RvcmVkVmFsdWVDYXJkUHJvZHVjdDo5OTk="}, "NOT_FOUND", "cardProductId"),
        ({"cardProductId": None}, "CARD_PRODUCT_REQUIRED", "cardProductId"),
    ]


@pytest.mark.parametrize(("change", "code", "field"), _bad_inputs())
async def test_bad_top_ups_are_coded_errors_and_move_nothing(demo, engine, change, code, field):
    member = await demo.register()
    payload = {"memberId": member["id"], "storeId": demo.jingan, "amount": 100_000, "tender": "CASH",
               "idempotencyKey": "k1", "cardProductId": demo.products["金卡"], **change}
    before = await money_snapshot(engine)
    result = (await demo.gql(TOP_UP, {"i": payload}, as_="reception"))["topUp"]
    assert result["card"] is None
    assert [(e["code"], e["field"]) for e in result["errors"]] == [(code, field)]
    assert result["errors"][0]["message"]
    assert await money_snapshot(engine) == before


async def test_non_integer_amounts_are_refused_before_anything_runs(demo, engine):
    member = await demo.register()
    before = await money_snapshot(engine)
    for amount in (100.5, "100", True):
        body = await demo.gql.raw(TOP_UP, {"i": {"memberId": member["id"], "storeId": demo.jingan, "amount": amount, "tender": "CASH",
                                                 "idempotencyKey": "x", "cardProductId": demo.products["金卡"]}}, as_="reception")
        assert body["data"] is None and body["errors"], body
    assert await money_snapshot(engine) == before


async def test_another_members_card_is_refused(demo, engine):
    a, b = await demo.register(), await demo.register()
    card = (await demo.top_up(a["id"], 10_000))["card"]
    before = await money_snapshot(engine)
    result = await demo.top_up(b["id"], 10_000, card_id=card["id"])
    assert [(e["code"], e["field"]) for e in result["errors"]] == [("CARD_MEMBER_MISMATCH", "cardId")]
    assert await money_snapshot(engine) == before


FREEZE = "mutation($i: FreezeCardInput!) { freezeCard(input: $i) { card { status frozenReason } errors { code field } } }"
UNFREEZE = "mutation($i: UnfreezeCardInput!) { unfreezeCard(input: $i) { card { status frozenReason } errors { code field } } }"


async def test_frozen_card_takes_no_top_up_until_a_manager_unfreezes_it(demo, engine):
    member = await demo.register()
    card = (await demo.top_up(member["id"], 100_000))["card"]
    frozen = (await demo.gql(FREEZE, {"i": {"cardId": card["id"], "reason": "顾客挂失"}}, as_="reception"))["freezeCard"]
    assert frozen == {"card": {"status": "FROZEN", "frozenReason": "顾客挂失"}, "errors": []}
    again = (await demo.gql(FREEZE, {"i": {"cardId": card["id"]}}, as_="reception"))["freezeCard"]
    assert again["errors"] == [{"code": "CARD_FROZEN", "field": "cardId"}]

    before = await money_snapshot(engine)
    refused = await demo.top_up(member["id"], 10_000, card_id=card["id"])
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [("CARD_FROZEN", "cardId")]
    refused = await demo.top_up(member["id"], 10_000)  # by product: the same, frozen card
    assert [e["code"] for e in refused["errors"]] == ["CARD_FROZEN"]
    assert await money_snapshot(engine) == before

    body = await demo.gql.raw(UNFREEZE, {"i": {"cardId": card["id"]}}, as_="reception")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    thawed = (await demo.gql(UNFREEZE, {"i": {"cardId": card["id"]}}, as_="manager"))["unfreezeCard"]
    assert thawed == {"card": {"status": "ACTIVE", "frozenReason": None}, "errors": []}
    assert (await demo.top_up(member["id"], 10_000, card_id=card["id"]))["card"]["balance"] == 130_000
    actions = [e["node"]["action"] for e in (await demo.gql("{ auditLog(first: 3) { edges { node { action } } } }", as_="owner"))["auditLog"]["edges"]]
    assert actions == ["card.top_up", "card.unfreeze", "card.freeze"]
    await assert_ledger_ok(engine)


async def test_card_product_validation(demo):
    create = """mutation($i: CreateStoredValueCardProductInput!) { createStoredValueCardProduct(input: $i) {
      product { name serviceDiscountPercent topUpRules { threshold bonus } } errors { code field } } }"""
    ok = (await demo.gql(create, {"i": {"name": "钻石卡", "serviceDiscountPercent": 75, "topUpRules": [
        {"threshold": 1_000_000, "bonus": 300_000}, {"threshold": 200_000, "bonus": 30_000}]}}, as_="owner"))["createStoredValueCardProduct"]
    assert ok["errors"] == []
    assert ok["product"]["topUpRules"] == [{"threshold": 200_000, "bonus": 30_000}, {"threshold": 1_000_000, "bonus": 300_000}]
    cases = [
        ({"name": "钻石卡"}, "DUPLICATE_NAME", "name"),
        ({"serviceDiscountPercent": 0}, "PERCENT_OUT_OF_RANGE", "serviceDiscountPercent"),
        ({"serviceDiscountPercent": 101}, "PERCENT_OUT_OF_RANGE", "serviceDiscountPercent"),
        ({"topUpRules": [{"threshold": 0, "bonus": 0}]}, "AMOUNT_NOT_POSITIVE", "topUpRules.0.threshold"),
        ({"topUpRules": [{"threshold": 100, "bonus": -1}]}, "INVALID_VALUE", "topUpRules.0.bonus"),
        ({"topUpRules": [{"threshold": 100, "bonus": 101}]}, "BONUS_TOO_LARGE", "topUpRules.0.bonus"),
        ({"topUpRules": [{"threshold": 100, "bonus": 1}, {"threshold": 100, "bonus": 2}]}, "DUPLICATE_THRESHOLD", "topUpRules.1.threshold"),
        ({"name": ""}, "REQUIRED", "name"),
    ]
    for change, code, field in cases:
        result = (await demo.gql(create, {"i": {"name": "新卡", "serviceDiscountPercent": 90, "topUpRules": [], **change}}, as_="owner"))["createStoredValueCardProduct"]
        assert (result["product"], [(e["code"], e["field"]) for e in result["errors"]]) == (None, [(code, field)]), change
