"""Membership (入会): the brand's fee taken with the registration (or nothing registered), refunded
once by a manager, in the ledger and the daily close; member cards bound, replaced and found by
the desk's scanner; the mini-program's e-card, signed by the server, altered payloads refused."""

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from sqlalchemy import text

from domain.db import read_transaction
from domain.members import membership
from domain.members.customers import Channel
from resolvers.member_operations import card_qr_payload
from tests.payments.test_callbacks import mp, standins  # noqa: F401 - the mini-program fixtures
from tests.support import assert_ledger_ok

ERRORS = "errors { code field message }"
REGISTER = f"""mutation($i: RegisterMemberInput!) {{ registerMember(input: $i) {{
  member {{ id name cardNumber membershipFee {{ amount tender refunded }} }} {ERRORS} }} }}"""
SETTINGS = f"mutation($i: UpdateOperationSettingsInput!) {{ updateOperationSettings(input: $i) {{ settings {{ membershipFee }} {ERRORS} }} }}"
REFUND = f"""mutation($i: RefundMembershipFeeInput!) {{ refundMembershipFee(input: $i) {{
  member {{ id membershipFee {{ amount refunded }} }} {ERRORS} }} }}"""
BIND = f"mutation($i: BindMemberCardInput!) {{ bindMemberCard(input: $i) {{ member {{ id cardNumber }} {ERRORS} }} }}"
BY_CARD = "query($c: String!) { memberByCard(cardNumber: $c) { id name } }"
BY_QR = "query($p: String!) { memberByCardQr(payload: $p) { id name } }"
CLOSE = "query($s: ID!, $d: Date!) { dailyClose(storeId: $s, date: $d) { membershipFees { count amount refundedCount refunded } } }"
FEE = 9_900  # ¥99


def today() -> str:
    return dt.datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()


def new_member(demo, **extra) -> dict:
    return {"name": "周琳", "phone": f"139{uuid.uuid4().int % 10**8:08d}", "storeId": demo.jingan, "consent": True, **extra}


async def members_count(engine) -> int:
    async with read_transaction(engine) as db:
        return await db.scalar(text("SELECT count(*) FROM members"))


async def test_registration_takes_the_fee_or_registers_nobody(demo, engine):
    set_fee = await demo.gql(SETTINGS, {"i": {"membershipFee": FEE}}, as_="owner")
    assert set_fee["updateOperationSettings"] == {"settings": {"membershipFee": FEE}, "errors": []}
    before = await members_count(engine)
    for fee, key, code, field in (
        (None, None, "MEMBERSHIP_FEE_REQUIRED", "membershipFee"),
        ({"amount": FEE - 1, "tender": "CASH"}, "k1", "MEMBERSHIP_FEE_MISMATCH", "membershipFee.amount"),
        ({"amount": FEE, "tender": "ON_ACCOUNT"}, "k2", "PAYMENT_INVALID", "membershipFee.tender"),
        ({"amount": FEE, "tender": "CASH"}, None, "IDEMPOTENCY_KEY_REQUIRED", "idempotencyKey"),
    ):
        extra = {"membershipFee": fee} if fee else {}
        if key:
            extra["idempotencyKey"] = key
        refused = (await demo.gql(REGISTER, {"i": new_member(demo, **extra)}, as_="reception"))["registerMember"]
        assert refused["member"] is None and (refused["errors"][0]["code"], refused["errors"][0]["field"]) == (code, field), refused
    assert await members_count(engine) == before

    key = uuid.uuid4().hex
    request = new_member(demo, membershipFee={"amount": FEE, "tender": "WECHAT"}, cardNumber="nfc-0001", idempotencyKey=key)
    done = (await demo.gql(REGISTER, {"i": request}, as_="reception"))["registerMember"]
    assert done["errors"] == [] and done["member"]["cardNumber"] == "NFC-0001"
    assert done["member"]["membershipFee"] == {"amount": FEE, "tender": "WECHAT", "refunded": False}
    assert (await demo.gql(REGISTER, {"i": request}, as_="reception"))["registerMember"] == done
    taken = new_member(demo, membershipFee={"amount": FEE, "tender": "CASH"}, cardNumber="NFC-0001", idempotencyKey=uuid.uuid4().hex)
    dup = (await demo.gql(REGISTER, {"i": taken}, as_="reception"))["registerMember"]
    assert dup["errors"][0]["code"] == "CARD_NUMBER_TAKEN" and await members_count(engine) == before + 1

    async with read_transaction(engine) as db:
        legs = sorted(tuple(r) for r in await db.execute(text(
            "SELECT a.code, p.amount FROM postings p JOIN accounts a ON a.id = p.account_id JOIN transfers t ON t.id = p.transfer_id"
            " WHERE t.kind = 'MEMBERSHIP_FEE'")))
    store_pk = legs[0][0].split(":")[1]
    assert legs == [(f"store:{store_pk}:store_revenue", -FEE), (f"store:{store_pk}:store_tender:WECHAT", FEE)]
    close = (await demo.gql(CLOSE, {"s": demo.jingan, "d": today()}, as_="manager"))["dailyClose"]
    assert close["membershipFees"] == {"count": 1, "amount": FEE, "refundedCount": 0, "refunded": 0}
    await assert_ledger_ok(engine)

    member = done["member"]["id"]
    by_desk = await demo.gql.raw(REFUND, {"i": {"memberId": member, "reason": "误收", "idempotencyKey": uuid.uuid4().hex}}, as_="reception")
    assert by_desk["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    refund_key = uuid.uuid4().hex
    refunded = (await demo.gql(REFUND, {"i": {"memberId": member, "reason": "误收", "idempotencyKey": refund_key}}, as_="manager"))["refundMembershipFee"]
    assert refunded == {"member": {"id": member, "membershipFee": {"amount": FEE, "refunded": True}}, "errors": []}
    again = await demo.gql(REFUND, {"i": {"memberId": member, "reason": "误收", "idempotencyKey": refund_key}}, as_="manager")
    assert again["refundMembershipFee"] == refunded
    twice = await demo.gql(REFUND, {"i": {"memberId": member, "reason": "误收", "idempotencyKey": uuid.uuid4().hex}}, as_="manager")
    assert twice["refundMembershipFee"]["errors"][0]["code"] == "MEMBERSHIP_FEE_REFUNDED"
    close = (await demo.gql(CLOSE, {"s": demo.jingan, "d": today()}, as_="manager"))["dailyClose"]
    assert close["membershipFees"] == {"count": 1, "amount": FEE, "refundedCount": 1, "refunded": FEE}
    async with read_transaction(engine) as db:
        assert await db.scalar(text("SELECT balance FROM accounts WHERE code = :c"), {"c": f"store:{store_pk}:store_tender:WECHAT"}) == 0
    await assert_ledger_ok(engine)


async def test_a_fee_the_brand_does_not_ask_is_refused_and_free_brands_register_as_before(demo, engine):
    refused = (await demo.gql(REGISTER, {"i": new_member(demo, membershipFee={"amount": FEE, "tender": "CASH"}, idempotencyKey="k")},
                              as_="reception"))["registerMember"]
    assert refused["errors"][0]["code"] == "MEMBERSHIP_FEE_NOT_SET"
    free = (await demo.gql(REGISTER, {"i": new_member(demo)}, as_="reception"))["registerMember"]
    assert free["errors"] == [] and free["member"]["membershipFee"] is None and free["member"]["cardNumber"] is None
    never_paid = await demo.gql(REFUND, {"i": {"memberId": free["member"]["id"], "reason": "x", "idempotencyKey": "r"}}, as_="manager")
    assert never_paid["refundMembershipFee"]["errors"][0]["code"] == "MEMBERSHIP_FEE_NOT_PAID"


async def test_a_replaced_card_finds_nobody_and_cannot_be_bound_again(demo):
    first = await demo.register(name="卡主")
    other = await demo.register(name="别人")
    bound = (await demo.gql(BIND, {"i": {"memberId": first["id"], "cardNumber": "A-1001"}}, as_="reception"))["bindMemberCard"]
    assert bound == {"member": {"id": first["id"], "cardNumber": "A-1001"}, "errors": []}
    assert (await demo.gql(BY_CARD, {"c": "a-1001"}, as_="technician"))["memberByCard"] == {"id": first["id"], "name": "卡主"}
    replaced = (await demo.gql(BIND, {"i": {"memberId": first["id"], "cardNumber": "A-1002"}}, as_="reception"))["bindMemberCard"]
    assert replaced["member"]["cardNumber"] == "A-1002"
    assert (await demo.gql(BY_CARD, {"c": "A-1001"}, as_="reception"))["memberByCard"] is None
    assert (await demo.gql(BY_CARD, {"c": "A-1002"}, as_="reception"))["memberByCard"]["id"] == first["id"]
    stolen = (await demo.gql(BIND, {"i": {"memberId": other["id"], "cardNumber": "A-1001"}}, as_="reception"))["bindMemberCard"]
    assert stolen["errors"][0] == {"code": "CARD_NUMBER_TAKEN", "field": "cardNumber", "message": "该会员卡号已被使用"}
    bad = (await demo.gql(BIND, {"i": {"memberId": other["id"], "cardNumber": "卡 1"}}, as_="reception"))["bindMemberCard"]
    assert bad["errors"][0]["code"] == "INVALID_VALUE"
    long = await demo.gql.raw(BY_CARD, {"c": "X" * 33}, as_="reception")
    assert long["errors"][0]["extensions"]["code"] == "TOO_LONG"


async def test_the_e_card_is_signed_and_an_altered_or_expired_one_is_refused(mp, demo, settings):  # noqa: F811
    token = await mp.customer(Channel.WECHAT, phone="13800138000")
    me = (await mp.gql("{ me { id memberNo cardNumber cardQrPayload } }", token=token))["me"]
    assert me["cardNumber"] == me["memberNo"]
    found = (await demo.gql(BY_QR, {"p": me["cardQrPayload"]}, as_="reception"))["memberByCardQr"]
    assert found["name"] == "张小美"
    prefix, member_id, expires, signature = me["cardQrPayload"].split(".")
    for altered in (f"{prefix}.{int(member_id) + 1}.{expires}.{signature}", f"{prefix}.{member_id}.{int(expires) + 600}.{signature}",
                    me["cardQrPayload"][:-1] + ("A" if me["cardQrPayload"][-1] != "A" else "B"), "garbage"):
        body = await demo.gql.raw(BY_QR, {"p": altered}, as_="reception")
        assert body["errors"][0]["extensions"]["code"] == "CARD_QR_INVALID" and body["data"]["memberByCardQr"] is None, body
    body = await demo.gql.raw(BY_QR, {"p": card_qr_payload(settings.secret_key, brand_id=999, member_id=int(member_id))}, as_="reception")
    assert body["errors"][0]["extensions"]["code"] == "CARD_QR_INVALID"


def test_an_expired_e_card_is_told_apart_from_a_forged_one():
    key = membership.qr_key("a-secret-for-this-test-only-0123456789")
    now = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
    payload = membership.card_qr_payload(key, brand_id=7, member_id=42, now=now)
    assert membership.member_from_qr(key, brand_id=7, payload=payload, now=now + dt.timedelta(minutes=9)) == 42
    for later, brand, code in ((dt.timedelta(minutes=11), 7, "CARD_QR_EXPIRED"), (dt.timedelta(0), 8, "CARD_QR_INVALID")):
        try:
            membership.member_from_qr(key, brand_id=brand, payload=payload, now=now + later)
        except Exception as error:  # noqa: BLE001
            assert getattr(error, "code", None) == code
        else:
            raise AssertionError(f"{code} expected")
    try:
        membership.member_from_qr(membership.qr_key("another-secret-entirely-0123456789"), brand_id=7, payload=payload, now=now)
    except Exception as error:  # noqa: BLE001
        assert error.code == "CARD_QR_INVALID"
