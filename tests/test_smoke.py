from tests.support import assert_ledger_ok


async def test_demo_owner_tops_up_a_member_card_and_the_ledger_holds(demo, engine):
    member = await demo.register("周琳", "13912345678")
    result = await demo.top_up(member["id"], 100_000, product="金卡")
    assert result["errors"] == []
    assert (result["amount"], result["bonus"]) == (100_000, 20_000)
    assert (result["card"]["principal"], result["card"]["gift"], result["card"]["balance"]) == (100_000, 20_000, 120_000)
    await assert_ledger_ok(engine)
