"""Bills (对账单): parsing both platforms' formats, matching them against payment intents, and
fixing "paid there, pending here" exactly once through the callback's own service."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import hashlib
import io
import itertools
import zipfile

import pytest
from sqlalchemy import func, insert, select, update

from domain.brands import stores as tenancy
from domain.cards import stored_value as cards
from domain.db import read_transaction, write_transaction
from domain.invariants import verify_all
from domain.members import members
from domain.members.customers import Channel, system_actor
from domain.payments.intents import apply_notification, payment_events, payment_intents
from domain.payments.reconciliation import Report, Sum, fix_safe, reconcile
from domain.payments.types import EventKind, PaymentNotification, TradeState
from integrations.bills import (
    BillRow,
    parse_alipay_bill,
    parse_wechat_trade_bill,
    yuan_to_fen,
)
from integrations.standins.bills import build_alipay_bill, build_wechat_trade_bill

DAY = dt.date(2026, 11, 21)
CST = dt.timezone(dt.timedelta(hours=8))
WX_APP, WX_MCH = "wx8888888888888888", "1900000109"
ALI_APP, ALI_PID = "2021000000000001", "2088000000000001"
_phones = itertools.count(13800000001)


def beijing(hour: int, minute: int = 0, day: dt.date = DAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=CST)


# ------------------------------------------------------------------------------------ seeding


@dataclasses.dataclass
class World:
    brand_id: int
    store_id: int
    product_id: int


async def make_world(db, cipher, name: str = "对账品牌") -> World:
    brand_id = await tenancy.create_brand(db, name=name)
    store_id = await tenancy.create_store(db, brand_id=brand_id, name="静安店")
    product_id = await cards.create_product(
        db, system_actor(brand_id), name="金卡", service_discount_percent=85, rules=[cards.TopUpRule(threshold=100_000, bonus=20_000)]
    )
    return World(brand_id, store_id, product_id)


async def add_member(db, cipher, world: World) -> int:
    return await members.register_member(
        db, system_actor(world.brand_id), cipher, name="对账会员", phone=str(next(_phones)), store_id=world.store_id, consent=True
    )


async def add_intent(db, world: World, member_id: int, out_trade_no: str, amount: int, status: str, created: dt.datetime, *,
                     channel: Channel = Channel.WECHAT, platform_trade_no: str | None = None, refunded: int = 0, flag: str | None = None) -> int:
    created = created.astimezone(dt.UTC)
    wechat = channel == Channel.WECHAT
    return (
        await db.execute(
            insert(payment_intents).values(
                brand_id=world.brand_id, member_id=member_id, store_id=world.store_id, channel=channel.value, purpose="TOP_UP",
                item_id=world.product_id, amount=amount, out_trade_no=out_trade_no, app_id=WX_APP if wechat else ALI_APP,
                merchant_id=WX_MCH if wechat else ALI_PID, payer_id="o-payer", status=status, platform_trade_no=platform_trade_no,
                client_params=None, result_id=None, refunded=refunded, flag=flag, expires_at=created + dt.timedelta(minutes=30),
                paid_at=created + dt.timedelta(minutes=1) if status in ("PAID", "REFUNDED") else None, next_query_at=None,
                created_at=created,
            ).returning(payment_intents.c.id)
        )
    ).scalar_one()


async def card_of(db, member_id: int) -> tuple[int, int] | None:
    """(principal, gift) of the member's stored-value card, or None when there is none."""
    principal, gift = cards.accounts.alias("p"), cards.accounts.alias("g")
    row = (
        await db.execute(
            select(principal.c.balance, gift.c.balance)
            .select_from(cards.cards.join(principal, principal.c.id == cards.cards.c.principal_account_id).join(gift, gift.c.id == cards.cards.c.gift_account_id))
            .where(cards.cards.c.member_id == member_id)
        )
    ).first()
    return None if row is None else (row[0], row[1])


async def intent_status(db, out_trade_no: str) -> str:
    return await db.scalar(select(payment_intents.c.status).where(payment_intents.c.out_trade_no == out_trade_no))


async def assert_invariants(engine) -> None:
    async with read_transaction(engine) as db:
        checks = await verify_all(db)
    assert checks and not {c.name: c.broken for c in checks if c.broken}


def wx(out_trade_no: str, amount: int, platform_trade_no: str, *, status: TradeState = TradeState.PAID, at: dt.datetime | None = None) -> BillRow:
    return BillRow(channel=Channel.WECHAT, kind=EventKind.PAYMENT, out_trade_no=out_trade_no, platform_trade_no=platform_trade_no,
                   amount=amount, status=status, app_id=WX_APP, merchant_id=WX_MCH, traded_at=at or beijing(14), settled_amount=amount)


def wx_refund(out_trade_no: str, amount: int, platform_trade_no: str, out_refund_no: str) -> BillRow:
    return BillRow(channel=Channel.WECHAT, kind=EventKind.REFUND, out_trade_no=out_trade_no, platform_trade_no=platform_trade_no,
                   amount=amount, out_refund_no=out_refund_no, app_id=WX_APP, merchant_id=WX_MCH, traded_at=beijing(16),
                   platform_refund_no="50300000" + out_refund_no)


def keys(items) -> list[tuple[str, str]]:
    return [(i.kind, i.out_trade_no) for i in items]


# ------------------------------------------------------------------------------------ reconciliation


@pytest.fixture
async def wechat_day(engine, cipher):
    """One business day of WeChat intents, every category represented, and its bill parsed back."""
    async with write_transaction(engine) as db:
        w = await make_world(db, cipher)
        m = {k: await add_member(db, cipher, w) for k in ("B", "C", "D", "J", "Q", "X")}
        x = m["X"]
        await add_intent(db, w, x, "SOA", 5800, "PAID", beijing(10), platform_trade_no="4200A")
        await add_intent(db, w, m["B"], "SOB", 100_000, "PENDING", beijing(11))
        await add_intent(db, w, m["C"], "SOC", 20_000, "CLOSED", beijing(0, 30))  # first half hour of the day
        await add_intent(db, w, m["D"], "SOD", 30_000, "PENDING", beijing(12))
        await add_intent(db, w, x, "SOF", 4500, "PAID", beijing(23, 59), platform_trade_no="4200F")  # last minute of the day
        await add_intent(db, w, x, "SOG", 8800, "PAID", beijing(13), platform_trade_no="4200G")
        await add_intent(db, w, x, "SOH", 9900, "REFUNDED", beijing(9), platform_trade_no="4200H", refunded=9900)
        await add_intent(db, w, x, "SOI", 6000, "PAID", beijing(9, 30), platform_trade_no="4200I")
        await add_intent(db, w, m["J"], "SOJ", 15_000, "PENDING", beijing(20, day=DAY - dt.timedelta(days=1)))  # the day before
        await add_intent(db, w, x, "SOK", 7000, "PAID", beijing(0, day=DAY + dt.timedelta(days=1)), platform_trade_no="4200K")  # next day
        await add_intent(db, w, x, "SOL", 5000, "PENDING", beijing(15))
        await add_intent(db, w, x, "SOM", 3000, "PAID", beijing(15), channel=Channel.ALIPAY, platform_trade_no="2026M")
        await add_intent(db, w, m["Q"], "SOQ", 12_000, "PENDING", beijing(15), flag="amount 100 != 12000")
        await add_intent(db, w, x, "SOR", 2000, "PAID", beijing(16), platform_trade_no="4200R-EARLIER")
        other = await make_world(db, cipher, "别的品牌")
        await add_intent(db, other, await add_member(db, cipher, other), "SON", 2500, "PAID", beijing(10), platform_trade_no="4200N")
    rows = [
        wx("SOA", 5800, "4200A"), wx("SOB", 100_000, "4200B"), wx("SOC", 20_000, "4200C"), wx("SOD", 29_900, "4200D"),
        wx("SOE", 1234, "4200E"), wx("SOG", 8800, "4200G", status=TradeState.CLOSED), wx("SOH", 9900, "4200H"),
        wx_refund("SOH", 9900, "4200H", "RFH"), wx("SOI", 6000, "4200I"), wx_refund("SOI", 3000, "4200I", "RFI"),
        wx("SOJ", 15_000, "4200J", at=beijing(0, 5)), wx_refund("SOP", 1000, "4200P", "RFP"), wx("SOQ", 12_000, "4200Q"),
        wx("SOR", 2000, "4200R"),
    ]
    parsed = parse_wechat_trade_bill(build_wechat_trade_bill(rows, day=DAY))
    assert parsed == rows
    return w, m, parsed


async def test_every_category_is_classified_exactly(engine, wechat_day):
    w, _, rows = wechat_day
    async with read_transaction(engine) as db:
        report = await reconcile(db, brand_id=w.brand_id, channel=Channel.WECHAT, day=DAY, rows=rows)

    assert keys(report.matched) == [("PAYMENT", "SOA"), ("PAYMENT", "SOH"), ("REFUND", "SOH"), ("PAYMENT", "SOI")]
    assert keys(report.missing_here) == [("PAYMENT", "SOE"), ("REFUND", "SOP")]
    assert keys(report.missing_there) == [("PAYMENT", "SOF")]
    assert keys(report.amount_differs) == [("PAYMENT", "SOD"), ("REFUND", "SOI")]
    assert keys(report.status_differs) == [("PAYMENT", n) for n in ("SOB", "SOC", "SOG", "SOJ", "SOQ", "SOR")]
    assert [i.out_trade_no for i in report.fixable] == ["SOB", "SOC", "SOJ"]
    assert not report.clean

    by = {(i.kind, i.out_trade_no): i for i in [*report.matched, *report.missing_here, *report.missing_there, *report.amount_differs, *report.status_differs]}
    summary = {k: (i.platform_trade_no, i.our_amount, i.their_amount, i.our_status, i.their_status) for k, i in by.items()}
    assert summary == {
        ("PAYMENT", "SOA"): ("4200A", 5800, 5800, "PAID", "PAID"),
        ("PAYMENT", "SOB"): ("4200B", 100_000, 100_000, "PENDING", "PAID"),
        ("PAYMENT", "SOC"): ("4200C", 20_000, 20_000, "CLOSED", "PAID"),
        ("PAYMENT", "SOD"): ("4200D", 30_000, 29_900, "PENDING", "PAID"),
        ("PAYMENT", "SOE"): ("4200E", None, 1234, None, "PAID"),
        ("PAYMENT", "SOF"): ("4200F", 4500, None, "PAID", None),
        ("PAYMENT", "SOG"): ("4200G", 8800, 8800, "PAID", "CLOSED"),
        ("PAYMENT", "SOH"): ("4200H", 9900, 9900, "REFUNDED", "PAID"),
        ("REFUND", "SOH"): ("4200H", 9900, 9900, "REFUNDED", "REFUNDED"),
        ("PAYMENT", "SOI"): ("4200I", 6000, 6000, "PAID", "PAID"),
        ("REFUND", "SOI"): ("4200I", 0, 3000, "PAID", "REFUNDED"),
        ("PAYMENT", "SOJ"): ("4200J", 15_000, 15_000, "PENDING", "PAID"),
        ("REFUND", "SOP"): ("4200P", None, 1000, None, "REFUNDED"),
        ("PAYMENT", "SOQ"): ("4200Q", 12_000, 12_000, "PENDING", "PAID"),
        ("PAYMENT", "SOR"): ("4200R", 2000, 2000, "PAID", "PAID"),
    }
    assert by[("REFUND", "SOH")].out_refund_no == "RFH" and by[("REFUND", "SOP")].out_refund_no == "RFP"
    assert by[("PAYMENT", "SOQ")].note == "amount 100 != 12000" and not by[("PAYMENT", "SOQ")].fixable
    assert by[("PAYMENT", "SOR")].note == "platform trade no here is 4200R-EARLIER"
    assert by[("PAYMENT", "SOJ")].paid_at == beijing(0, 5)

    t = report.totals
    assert (t.bill_paid, t.bill_refunded, t.our_paid, t.our_refunded) == (201_834, 13_900, 37_000, 9_900)
    assert t.matched == Sum(4, 11_800, 11_800)
    assert t.missing_here == Sum(2, 0, 234)  # ¥12.34 paid, ¥10.00 refunded
    assert t.missing_there == Sum(1, 4500, 0)
    assert t.amount_differs == Sum(2, 0, 26_900)  # SOD is pending here: nothing counted on our side
    assert t.status_differs == Sum(6, 10_800, 149_000)
    sums = [t.matched, t.missing_here, t.missing_there, t.amount_differs, t.status_differs]
    assert sum(s.theirs for s in sums) == t.bill_paid - t.bill_refunded
    assert sum(s.ours for s in sums) == t.our_paid - t.our_refunded


async def test_scope_is_the_brand_or_every_brand_and_the_channel(engine, wechat_day):
    w, _, rows = wechat_day
    async with read_transaction(engine) as db:
        everyone = await reconcile(db, brand_id=None, channel=Channel.WECHAT, day=DAY, rows=rows)
        alipay = await reconcile(db, brand_id=w.brand_id, channel=Channel.ALIPAY, day=DAY, rows=[])
        next_day = await reconcile(db, brand_id=w.brand_id, channel=Channel.WECHAT, day=DAY + dt.timedelta(days=1), rows=[])
        with pytest.raises(ValueError):
            await reconcile(db, brand_id=w.brand_id, channel=Channel.ALIPAY, day=DAY, rows=rows)
    assert keys(everyone.missing_there) == [("PAYMENT", "SOF"), ("PAYMENT", "SON")]
    assert keys(alipay.missing_there) == [("PAYMENT", "SOM")] and alipay.totals.our_paid == 3000
    assert keys(next_day.missing_there) == [("PAYMENT", "SOK")]


async def test_fix_safe_credits_paid_there_pending_here_exactly_once(engine, wechat_day):
    w, m, rows = wechat_day
    async with read_transaction(engine) as db:
        report = await reconcile(db, brand_id=w.brand_id, channel=Channel.WECHAT, day=DAY, rows=rows)
    async with write_transaction(engine) as db:
        assert await fix_safe(db, report) == 3

    async with read_transaction(engine) as db:
        assert await card_of(db, m["B"]) == (100_000, 20_000)  # principal = amount; the ¥1000 rule's bonus as gift
        assert await card_of(db, m["C"]) == (20_000, 0)  # a closed intent paid late is still money received
        assert await card_of(db, m["J"]) == (15_000, 0)
        assert await card_of(db, m["D"]) is None  # an amount difference is never "fixed"
        assert await card_of(db, m["Q"]) is None  # nor an intent flagged for finance
        assert [await intent_status(db, n) for n in ("SOB", "SOC", "SOJ", "SOD", "SOQ")] == ["PAID", "PAID", "PAID", "PENDING", "PENDING"]
        b = (await db.execute(select(payment_intents).where(payment_intents.c.out_trade_no == "SOB"))).one()
        assert (b.platform_trade_no, b.paid_at, b.result_id is not None) == ("4200B", beijing(14), True)
        events = list(await db.execute(select(payment_events.c.event_id, payment_events.c.outcome).order_by(payment_events.c.event_id)))
        assert [tuple(e) for e in events] == [("bill:WECHAT:4200B", "APPLIED"), ("bill:WECHAT:4200C", "APPLIED"), ("bill:WECHAT:4200J", "APPLIED")]
        entries = await db.scalar(select(func.count()).select_from(cards.card_entries))
    await assert_invariants(engine)

    # Twice, with the old report or a fresh one: nothing moves again.
    async with write_transaction(engine) as db:
        assert await fix_safe(db, report) == 0
    async with read_transaction(engine) as db:
        again = await reconcile(db, brand_id=w.brand_id, channel=Channel.WECHAT, day=DAY, rows=rows)
    assert keys(again.matched) == [("PAYMENT", n) for n in ("SOA", "SOB", "SOC")] + [("PAYMENT", "SOH"), ("REFUND", "SOH"), ("PAYMENT", "SOI"), ("PAYMENT", "SOJ")]
    assert keys(again.amount_differs) == [("PAYMENT", "SOD"), ("REFUND", "SOI")]
    assert again.fixable == []
    async with write_transaction(engine) as db:
        assert await fix_safe(db, again) == 0
    async with read_transaction(engine) as db:
        assert await card_of(db, m["B"]) == (100_000, 20_000)
        assert await db.scalar(select(func.count()).select_from(cards.card_entries)) == entries
        assert await db.scalar(select(func.count()).select_from(payment_events)) == 3
    await assert_invariants(engine)


async def test_a_callback_before_the_fix_wins_and_the_fix_changes_nothing(engine, cipher):
    async with write_transaction(engine) as db:
        w = await make_world(db, cipher)
        member = await add_member(db, cipher, w)
        await add_intent(db, w, member, "SOCB", 50_000, "PENDING", beijing(10))
    rows = parse_wechat_trade_bill(build_wechat_trade_bill([wx("SOCB", 50_000, "4200CB")], day=DAY))
    async with read_transaction(engine) as db:
        report = await reconcile(db, brand_id=w.brand_id, channel=Channel.WECHAT, day=DAY, rows=rows)
    assert [i.out_trade_no for i in report.fixable] == ["SOCB"]

    callback = PaymentNotification(
        channel=Channel.WECHAT, kind=EventKind.PAYMENT, event_id="wx-notify-1", out_trade_no="SOCB", platform_trade_no="4200CB",
        state=TradeState.PAID, amount=50_000, app_id=WX_APP, merchant_id=WX_MCH,
    )
    async with write_transaction(engine) as db:
        assert await apply_notification(db, callback) == "APPLIED"
    async with write_transaction(engine) as db:
        assert await fix_safe(db, report) == 0
    async with read_transaction(engine) as db:
        assert await card_of(db, member) == (50_000, 0)
        assert await db.scalar(select(func.count()).select_from(cards.card_entries)) == 1
    await assert_invariants(engine)


async def test_a_fix_whose_effect_fails_is_rolled_back_alone(engine, cipher):
    async with write_transaction(engine) as db:
        w = await make_world(db, cipher)
        ok, gone = await add_member(db, cipher, w), await add_member(db, cipher, w)
        await add_intent(db, w, ok, "SOOK", 1000, "PENDING", beijing(10))
        await add_intent(db, w, gone, "SOBAD", 2000, "PENDING", beijing(10))
        # The intent names a card product that no longer exists for this brand: the top-up refuses.
        await db.execute(update(payment_intents).where(payment_intents.c.out_trade_no == "SOBAD").values(item_id=w.product_id + 1000))
    rows = [wx("SOOK", 1000, "4200OK"), wx("SOBAD", 2000, "4200BAD")]
    async with read_transaction(engine) as db:
        report = await reconcile(db, brand_id=w.brand_id, channel=Channel.WECHAT, day=DAY, rows=rows)
    failures: list = []
    async with write_transaction(engine) as db:
        assert await fix_safe(db, report, failures=failures) == 1
    assert failures == [("SOBAD", "PAID_NOT_DELIVERED")]
    async with read_transaction(engine) as db:
        assert await card_of(db, ok) == (1000, 0)
        assert await card_of(db, gone) is None
        # Paid there, so paid here: kept and flagged for finance, the effect that failed not half-done.
        assert await intent_status(db, "SOBAD") == "PAID"
        flag = await db.scalar(select(payment_intents.c.flag).where(payment_intents.c.out_trade_no == "SOBAD"))
        assert flag == "PAID_NOT_DELIVERED: NOT_FOUND"
        assert await db.scalar(select(func.count()).select_from(payment_events)) == 2
    await assert_invariants(engine)


async def test_alipay_bill_reconciles_and_fixes_like_wechat(engine, cipher):
    async with write_transaction(engine) as db:
        w = await make_world(db, cipher)
        paid, pending = await add_member(db, cipher, w), await add_member(db, cipher, w)
        await add_intent(db, w, paid, "SOAL1", 29_900, "PAID", beijing(9), channel=Channel.ALIPAY, platform_trade_no="2026112122001400001", refunded=5000)
        await add_intent(db, w, pending, "SOAL2", 123_450, "PENDING", beijing(11), channel=Channel.ALIPAY)
    bill = build_alipay_bill([
        BillRow(channel=Channel.ALIPAY, kind=EventKind.PAYMENT, out_trade_no="SOAL1", platform_trade_no="2026112122001400001", amount=29_900,
                settled_amount=29_000, merchant_id=ALI_PID),
        BillRow(channel=Channel.ALIPAY, kind=EventKind.REFUND, out_trade_no="SOAL1", platform_trade_no="2026112122001400001", amount=5000,
                out_refund_no="RF-AL1", merchant_id=ALI_PID),
        BillRow(channel=Channel.ALIPAY, kind=EventKind.PAYMENT, out_trade_no="SOAL2", platform_trade_no="2026112122001400002", amount=123_450,
                merchant_id=ALI_PID),
    ], DAY)
    rows = parse_alipay_bill(bill)
    assert [(r.kind, r.amount, r.merchant_id, r.app_id) for r in rows] == [("PAYMENT", 29_900, ALI_PID, None), ("REFUND", 5000, ALI_PID, None), ("PAYMENT", 123_450, ALI_PID, None)]
    async with read_transaction(engine) as db:
        report = await reconcile(db, brand_id=w.brand_id, channel=Channel.ALIPAY, day=DAY, rows=rows)
    assert keys(report.matched) == [("PAYMENT", "SOAL1"), ("REFUND", "SOAL1")]
    assert keys(report.status_differs) == [("PAYMENT", "SOAL2")] and report.status_differs[0].fixable
    assert (report.totals.bill_paid, report.totals.bill_refunded, report.totals.our_paid, report.totals.our_refunded) == (153_350, 5000, 29_900, 5000)
    async with write_transaction(engine) as db:
        assert await fix_safe(db, report) == 1
        assert await fix_safe(db, report) == 0
    async with read_transaction(engine) as db:
        assert await card_of(db, pending) == (123_450, 20_000)
        assert await db.scalar(select(payment_events.c.event_id)) == "bill:ALIPAY:2026112122001400002"
        again = await reconcile(db, brand_id=w.brand_id, channel=Channel.ALIPAY, day=DAY, rows=rows)
    assert again.clean
    await assert_invariants(engine)


async def test_refund_differences_are_reported_never_fixed(engine, cipher):
    async with write_transaction(engine) as db:
        w = await make_world(db, cipher)
        member = await add_member(db, cipher, w)
        await add_intent(db, w, member, "SORF", 10_000, "PAID", beijing(9), platform_trade_no="4200RF", refunded=6000)
    rows = [wx_refund("SORF", 2000, "4200RF", "RF-2"), wx_refund("SORF", 1000, "4200RF", "RF-1")]
    async with read_transaction(engine) as db:
        report: Report = await reconcile(db, brand_id=w.brand_id, channel=Channel.WECHAT, day=DAY, rows=rows)
    (item,) = report.amount_differs
    assert (item.kind, item.our_amount, item.their_amount, item.out_refund_no) == ("REFUND", 6000, 3000, "RF-1,RF-2")
    assert item.note == "more refunded here: maybe refunds on other days" and not item.fixable
    assert report.totals.amount_differs == Sum(1, -6000, -3000)
    async with write_transaction(engine) as db:
        assert await fix_safe(db, report) == 0


# ------------------------------------------------------------------------------------ parsing: amounts


@pytest.mark.parametrize(
    ("text", "fen"),
    [("0.01", 1), ("1234.50", 123450), ("1234.5", 123450), ("58", 5800), ("-58.00", -5800), ("0.35000", 35), ("`299.00", 29900),
     (" \t88.88\t ", 8888), ("0.00", 0), ("99999999.99", 9_999_999_999)],
)
def test_yuan_to_fen_is_exact(text, fen):
    assert yuan_to_fen(text) == fen and type(yuan_to_fen(text)) is int


@pytest.mark.parametrize("text", ["", " ", "0.001", "0.005", "1.999", "abc", "1e3", "NaN", "Infinity", "1,234.50", "¥58.00", "58.00元",
                                  "٥٨.٠٠", "5 8.00", ".5", "5.", "--1"])
def test_bad_amounts_are_refused(text):
    with pytest.raises(ValueError):
        yuan_to_fen(text)


# ------------------------------------------------------------------------------------ parsing: WeChat

WX_HEADER = ("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,"
             "代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,"
             "申请退款金额,费率备注")


def _wx_line(*fields: str) -> str:
    return ",".join("`" + f for f in fields)


WX_TEXT = "\r\n".join([
    WX_HEADER,
    _wx_line("2026-11-21 10:02:11", WX_APP, WX_MCH, "0", "", "4200002026112100000001", "SO1", "o_user_1", "JSAPI", "SUCCESS", "OTHERS", "CNY",
             "50.00", "8.00", "0", "0", "0.00", "0.00", "", "", "美发-洗剪吹", "store=12", "0.30000", "0.60%", "58.00", "0.00", ""),
    _wx_line("2026-11-21 11:30:00", WX_APP, WX_MCH, "0", "", "4200002026112100000002", "SO2", "o_user_2", "JSAPI", "SUCCESS", "CMB_CREDIT",
             "CNY", "0.01", "0.00", "0", "0", "0.00", "0.00", "", "", "测试", "", "0.00006", "0.60%", "0.01", "0.00", ""),
    _wx_line("2026-11-21 15:00:00", WX_APP, WX_MCH, "0", "", "4200002026112100000001", "SO1", "o_user_1", "JSAPI", "REFUND", "OTHERS", "CNY",
             "0.00", "0.00", "50300000012026112100000001", "RF1", "20.00", "0.00", "ORIGINAL", "SUCCESS", "美发-洗剪吹", "store=12",
             "-0.12000", "0.60%", "0.00", "20.00", ""),
    _wx_line("2026-11-21 16:00:00", WX_APP, WX_MCH, "0", "", "4200002026112100000003", "SO3", "o_user_3", "MICROPAY", "REVOKED", "OTHERS",
             "CNY", "1234.50", "0.00", "0", "0", "0.00", "0.00", "", "", "染发", "", "0.00000", "0.60%", "1234.50", "0.00", ""),
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额",
    _wx_line("4", "50.01", "20.00", "0.00", "0.18006", "58.01", "20.00"),
]) + "\r\n"


def test_wechat_bill_as_the_platform_writes_it():
    rows = parse_wechat_trade_bill(("\ufeff" + WX_TEXT).encode("utf-8"))
    common = dict(channel=Channel.WECHAT, app_id=WX_APP, merchant_id=WX_MCH)
    assert rows == [
        BillRow(kind=EventKind.PAYMENT, out_trade_no="SO1", platform_trade_no="4200002026112100000001", amount=5800, settled_amount=5000,
                traded_at=beijing(10, 2) + dt.timedelta(seconds=11), **common),
        BillRow(kind=EventKind.PAYMENT, out_trade_no="SO2", platform_trade_no="4200002026112100000002", amount=1, settled_amount=1,
                traded_at=beijing(11, 30), **common),
        BillRow(kind=EventKind.REFUND, out_trade_no="SO1", platform_trade_no="4200002026112100000001", amount=2000, out_refund_no="RF1",
                platform_refund_no="50300000012026112100000001", traded_at=beijing(15), **common),
        BillRow(kind=EventKind.PAYMENT, out_trade_no="SO3", platform_trade_no="4200002026112100000003", amount=123450, settled_amount=123450,
                status=TradeState.CLOSED, traded_at=beijing(16), **common),
    ]
    # 订单金额, not 应结订单金额 (net of the ¥8 coupon), is what an intent's amount is compared with.
    assert rows[0].amount == 5800 and rows[0].settled_amount == 5000


def test_wechat_builder_writes_the_platform_format_and_reads_back():
    rows = [wx("SOX1", 1, "4200X1"), wx("SOX2", 123450, "4200X2"), wx_refund("SOX2", 50, "4200X2", "RFX2"),
            dataclasses.replace(wx("SOX3", 8800, "4200X3"), settled_amount=8000), wx("SOX4", 700, "4200X4", status=TradeState.CLOSED)]
    data = build_wechat_trade_bill(rows, day=DAY)
    lines = data.decode("utf-8").split("\r\n")
    assert lines[0] == WX_HEADER and lines[-1] == ""
    assert lines[6].startswith("总交易单数,") and len(lines) == 9
    for line in lines[1:6] + [lines[7]]:
        assert all(f.startswith("`") for f in line.split(","))
    assert "`REVOKED" in lines[5] and "`REFUND" in lines[3]
    assert lines[7].split(",")[:3] == ["`5", "`1314.51", "`0.50"]  # 应结 0.01 + 1234.50 + 80.00; REVOKED not counted
    assert parse_wechat_trade_bill(data) == rows


def test_wechat_gzip_and_sha1():
    plain = WX_TEXT.encode("utf-8")
    gz = gzip.compress(plain)
    digest = hashlib.sha1(gz).hexdigest()
    assert parse_wechat_trade_bill(gz, sha1=digest) == parse_wechat_trade_bill(plain)
    assert parse_wechat_trade_bill(gz, sha1=digest.upper()) == parse_wechat_trade_bill(plain)
    assert parse_wechat_trade_bill(gz) == parse_wechat_trade_bill(plain)
    with pytest.raises(ValueError, match="SHA1"):
        parse_wechat_trade_bill(gz, sha1=hashlib.sha1(plain).hexdigest())
    with pytest.raises(ValueError):
        parse_wechat_trade_bill(gz[:-20])


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (lambda t: t[: t.index("总交易单数")], "summary"),  # cut off before the summary
        (lambda t: t.replace("`4,`50.01", "`5,`50.01"), "rows"),  # count disagrees
        (lambda t: t.replace("`58.01,`20.00", "`58.02,`20.00"), "订单总金额"),  # total disagrees
        (lambda t: t.replace("`58.00,`0.00", "`58.005,`0.00"), "fen"),  # a fraction of a fen
        (lambda t: t.replace("`58.00,`0.00", "`abc,`0.00"), "amount"),
        (lambda t: t.replace("`SUCCESS,`CMB", "`PAYING,`CMB"), "交易状态"),
        (lambda t: t.replace("订单金额,申请退款金额", "订单额,申请退款金额"), "订单金额"),
        (lambda t: "<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[No Bill Exist]]></return_msg></xml>", "No Bill"),
        (lambda t: "", "empty"),
    ],
)
def test_wechat_bad_bills_are_refused(broken, message):
    with pytest.raises(ValueError, match=message):
        parse_wechat_trade_bill(broken(WX_TEXT).encode("utf-8"))


# ------------------------------------------------------------------------------------ parsing: Alipay

ALI_TEXT = "\r\n".join([
    "#支付宝业务明细查询",
    f"#账号：[{ALI_PID}]",
    "#起始日期：[2026年11月21日 00:00:00]   终止日期：[2026年11月22日 00:00:00]",
    "#-----------------------------------------业务明细列表----------------------------------------",
    "支付宝交易号 ,商户订单号\t,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,"
    "支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,"
    "退款批次号/请求号,服务费（元）,分润（元）,备注",
    "2026112122001400001\t,SO101\t,交易,美发-洗剪吹,2026-11-21 10:00:01,2026-11-21 10:00:09,,,,,张*(a***@163.com),   58.00,58.00,0.00,0.00,"
    "0.00,0.00,0.00,,0.00,0.00,,-0.35,0.00,",
    "2026112122001400002\t,SO102\t,交易,染发,2026-11-21 12:00:00,2026-11-21 12:00:20,,,,,李*(138****0000),1234.50\t,1225.50,0.00,0.00,"
    "0.00,9.00,0.00,,0.00,0.00,,-7.41,0.00,",
    "2026112122001400001\t,SO101\t,退款,美发-洗剪吹,2026-11-21 10:00:01,2026-11-21 16:00:00,,,,,张*(a***@163.com),0.01,-0.01,0.00,0.00,"
    "0.00,0.00,0.00,,0.00,0.00,  RF101\t,0.00,0.00,",
    "2026112122001400009\t,SO109\t,冻结,押金,2026-11-21 17:00:00,2026-11-21 17:00:00,,,,,王*,100.00,0.00,0.00,0.00,"
    "0.00,0.00,0.00,,0.00,0.00,,0.00,0.00,",
    "#-----------------------------------------业务明细列表结束------------------------------------",
    "#交易合计：2笔，商家实收共：1283.50元，商家优惠共：9.00元",
    "#退款合计：1笔，商家实收退款共：-0.01元，商家优惠退款共：0.00元",
    "#导出时间：[2026年11月22日 10:05:31]",
]) + "\r\n"


def _zip(entries: dict[str, bytes]) -> bytes:
    """A zip written by a well-behaved tool: names flagged UTF-8."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_alipay_bill_as_the_platform_writes_it():
    data = _zip({f"{ALI_PID}_20261121_业务明细.csv": ALI_TEXT.encode("gbk"), f"{ALI_PID}_20261121_业务明细(汇总).csv": "#汇总\r\n".encode("gbk")})
    rows = parse_alipay_bill(data)
    common = dict(channel=Channel.ALIPAY, merchant_id=ALI_PID)
    assert rows == [
        BillRow(kind=EventKind.PAYMENT, out_trade_no="SO101", platform_trade_no="2026112122001400001", amount=5800, settled_amount=5800, fee=35,
                traded_at=beijing(10) + dt.timedelta(seconds=9), **common),
        BillRow(kind=EventKind.PAYMENT, out_trade_no="SO102", platform_trade_no="2026112122001400002", amount=123450, settled_amount=122550,
                fee=741, traded_at=beijing(12) + dt.timedelta(seconds=20), **common),
        BillRow(kind=EventKind.REFUND, out_trade_no="SO101", platform_trade_no="2026112122001400001", amount=1, out_refund_no="RF101", fee=0,
                traded_at=beijing(16), **common),
    ]  # the 冻结 row is not a trade


def test_alipay_builder_writes_gbk_names_without_the_utf8_flag():
    rows = [
        BillRow(channel=Channel.ALIPAY, kind=EventKind.PAYMENT, out_trade_no="SOZ1", platform_trade_no="2026112122001400011", amount=1,
                merchant_id=ALI_PID, traded_at=beijing(9), settled_amount=1, fee=0),
        BillRow(channel=Channel.ALIPAY, kind=EventKind.PAYMENT, out_trade_no="SOZ2", platform_trade_no="2026112122001400012", amount=123450,
                merchant_id=ALI_PID, traded_at=beijing(10), settled_amount=120000, fee=741),
        BillRow(channel=Channel.ALIPAY, kind=EventKind.REFUND, out_trade_no="SOZ2", platform_trade_no="2026112122001400012", amount=3450,
                out_refund_no="RFZ2", merchant_id=ALI_PID, traded_at=beijing(11), fee=-21),
    ]
    data = build_alipay_bill(rows, DAY)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        assert [i.flag_bits & 0x800 for i in infos] == [0, 0]
        wanted = [f"{ALI_PID}_20261121_业务明细.csv", f"{ALI_PID}_20261121_业务明细(汇总).csv"]
        assert [i.filename for i in infos] != wanted  # Python shows cp437 mojibake …
        assert [i.filename.encode("cp437").decode("gbk") for i in infos] == wanted  # … of GBK bytes
        raw = archive.read(infos[0])
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    text = raw.decode("gbk")
    lines = text.split("\r\n")
    assert lines[0].startswith("#") and lines[4].startswith("支付宝交易号,") and lines[-2].startswith("#导出时间")
    assert "2026112122001400011\t,SOZ1\t,交易" in text and "RFZ2" in text
    assert parse_alipay_bill(data) == rows


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (lambda t: t.replace("#交易合计：2笔", "#交易合计：3笔"), "footer"),  # a row lost
        (lambda t: t.replace("1234.50\t", "1234.505"), "fen"),
        (lambda t: t.replace("1234.50\t", "1,234.50"), "footer 商家实收"),  # an unquoted comma shifts the columns
        (lambda t: t.replace("订单金额（元）", "金额"), "订单金额"),
        (lambda t: t.replace("  RF101\t", ""), "退款批次号"),
    ],
)
def test_alipay_bad_bills_are_refused(broken, message):
    with pytest.raises(ValueError, match=message):
        parse_alipay_bill(_zip({f"{ALI_PID}_20261121_业务明细.csv": broken(ALI_TEXT).encode("gbk")}))


def test_alipay_zip_without_the_detail_file_or_not_a_zip():
    with pytest.raises(ValueError, match="业务明细"):
        parse_alipay_bill(_zip({f"{ALI_PID}_20261121_业务明细(汇总).csv": b"#"}))
    with pytest.raises(ValueError, match="zip"):
        parse_alipay_bill(WX_TEXT.encode("utf-8"))
