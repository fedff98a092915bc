"""Reconciliation (对账): a platform's daily bill against our payment intents (DESIGN.md §5).

`reconcile` sorts every bill row, and every intent of the business day paid here, into one of:

- matched: the bill and this database agree (a refund: the bill's refunds of a trade equal its
  `refunded` here);
- missing_here: on the bill, no intent here (a trade or refund we know nothing of);
- missing_there: an intent paid here (PAID, or REFUNDED after being paid), created that day, that
  the bill does not list;
- amount_differs: the bill's order amount is not the intent's amount (or, for refunds, the bill's
  refunds of a trade are not its `refunded`). Never fixed here: finance decides;
- status_differs: the bill says paid and the intent is PENDING / CLOSED / MISMATCH here, or the bill
  says the payment was revoked and it is paid here.

The rows are the plain `BillRow`s of `integrations.bills` (read by attribute, so this module
depends on nothing outside the domain). Amounts are integer fen.

The day is the business day in Asia/Shanghai (UTC+8, no DST since 1991): the intents created in
it, plus any intent a row names whatever its day. An intent created just before midnight and paid
just after is on the next day's bill: it shows as missing_there for its own day and matched on
the next. Refunds recorded here but absent from the bill are not reported (an intent does not
record the day of its refunds); a trade refunded across several days shows as a refund
amount_differs on each day but the last.

`fix_safe` applies what is safe to apply, "paid there, not paid here" with the amount agreeing,
through `payments.apply_notification`, exactly as a callback would be applied.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field, replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.errors import DomainError
from domain.members.customers import Channel
from domain.payments.intents import IntentStatus, apply_notification, payment_intents
from domain.payments.types import EventKind, PaymentNotification, TradeState

log = logging.getLogger(__name__)


BUSINESS_TZ = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")


_PAID_HERE = (IntentStatus.PAID.value, IntentStatus.REFUNDED.value)


_UNPAID_HERE = (IntentStatus.PENDING.value, IntentStatus.CLOSED.value)


_IN_CHUNK = 500  # out_trade_nos per IN (…): well under both databases' bound-parameter limits


@dataclass(frozen=True)
class Item:
    """One finding. Amounts are fen and positive (a refund item's amounts are refund amounts:
    the bill's refunds of the trade, and the intent's `refunded`); None where that side has none."""

    kind: str  # "PAYMENT" / "REFUND"
    out_trade_no: str
    platform_trade_no: str | None
    our_amount: int | None
    their_amount: int | None
    our_status: str | None  # the intent's status here
    their_status: str | None  # the bill's: PAID, CLOSED (WeChat REVOKED) or REFUNDED
    intent_id: int | None = None
    out_refund_no: str | None = None  # refund items: the bill's refund numbers, comma-separated
    paid_at: dt.datetime | None = None  # the bill's time for the row
    note: str | None = None
    # Paid there, PENDING/CLOSED here, same amount, nothing flagged: fix_safe applies it.
    fixable: bool = False


@dataclass(frozen=True)
class Sum:
    count: int
    ours: int  # fen
    theirs: int  # fen


@dataclass(frozen=True)
class Totals:
    """Fen. Money in counts positive, refunds negative, so that over the five categories
    Σ theirs = bill_paid − bill_refunded and Σ ours = our_paid − our_refunded. A side counts a
    payment only where it calls it paid (a revoked row adds nothing to theirs; a pending intent
    nothing to ours)."""

    bill_paid: int  # the bill's paid payment rows
    bill_refunded: int  # the bill's refund rows
    our_paid: int  # intents paid here: the day's, and any a payment row names
    our_refunded: int  # `refunded` of the intents the bill's refund rows name
    matched: Sum
    missing_here: Sum
    missing_there: Sum
    amount_differs: Sum
    status_differs: Sum


@dataclass
class Report:
    channel: Channel
    day: dt.date
    brand_id: int | None
    matched: list[Item] = field(default_factory=list)
    missing_here: list[Item] = field(default_factory=list)
    missing_there: list[Item] = field(default_factory=list)
    amount_differs: list[Item] = field(default_factory=list)
    status_differs: list[Item] = field(default_factory=list)
    totals: Totals | None = None

    @property
    def fixable(self) -> list[Item]:
        return [item for item in self.status_differs if item.fixable]

    @property
    def clean(self) -> bool:
        return not (self.missing_here or self.missing_there or self.amount_differs or self.status_differs)


def business_day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of the business day in UTC."""
    start = dt.datetime.combine(day, dt.time(0), tzinfo=BUSINESS_TZ).astimezone(dt.UTC)
    return start, start + dt.timedelta(days=1)


_COLUMNS = (
    payment_intents.c.id, payment_intents.c.brand_id, payment_intents.c.out_trade_no, payment_intents.c.platform_trade_no,
    payment_intents.c.amount, payment_intents.c.refunded, payment_intents.c.status, payment_intents.c.flag, payment_intents.c.created_at,
)


def _scoped(query, brand_id: int | None, channel: Channel):
    query = query.where(payment_intents.c.channel == channel.value)
    return query.where(payment_intents.c.brand_id == brand_id) if brand_id is not None else query


async def _load_intents(db: AsyncConnection, brand_id: int | None, channel: Channel, day: dt.date, named: set[str]) -> tuple[dict, set[str]]:
    """The intents in scope by out_trade_no, and which of them were created that day."""
    start, end = business_day_bounds(day)
    intents = {
        row.out_trade_no: row
        for row in await db.execute(
            _scoped(select(*_COLUMNS), brand_id, channel).where(payment_intents.c.created_at >= start, payment_intents.c.created_at < end)
        )
    }
    of_day = set(intents)
    wanted = sorted(named - of_day)
    for i in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[i : i + _IN_CHUNK]
        for row in await db.execute(_scoped(select(*_COLUMNS), brand_id, channel).where(payment_intents.c.out_trade_no.in_(chunk))):
            intents[row.out_trade_no] = row
    return intents, of_day


async def reconcile(db: AsyncConnection, *, brand_id: int | None, channel: Channel, day: dt.date, rows: list) -> Report:
    """Match one channel's bill for `day` against the intents (of `brand_id`, or of every brand)."""
    channel = Channel(channel)
    for row in rows:
        if Channel(row.channel) != channel:
            raise ValueError(f"a {row.channel} row in a {channel} bill")
    payments = [r for r in rows if r.kind == EventKind.PAYMENT]
    refunds = [r for r in rows if r.kind == EventKind.REFUND]
    intents, of_day = await _load_intents(db, brand_id, channel, day, {r.out_trade_no for r in rows})
    report = Report(channel=channel, day=day, brand_id=brand_id)

    # Paid rows first, so that a revoked row for a trade also paid on the bill reads as a repeat.
    seen: set[str] = set()
    for row in sorted(payments, key=lambda r: (r.status != TradeState.PAID, r.out_trade_no)):
        intent = intents.get(row.out_trade_no)
        repeated = row.out_trade_no in seen
        seen.add(row.out_trade_no)
        _classify_payment(report, row, None if repeated else intent, "repeated on the bill" if repeated and intent else None)

    for out_trade_no in of_day:
        intent = intents[out_trade_no]
        if intent.status in _PAID_HERE and intent.out_trade_no not in seen:
            report.missing_there.append(_item("PAYMENT", intent, None, None))

    by_trade: dict[str, list] = {}
    for row in refunds:
        by_trade.setdefault(row.out_trade_no, []).append(row)
    for out_trade_no, trade_refunds in by_trade.items():
        _classify_refunds(report, intents.get(out_trade_no), trade_refunds)

    for name in ("matched", "missing_here", "missing_there", "amount_differs", "status_differs"):
        getattr(report, name).sort(key=lambda item: (item.out_trade_no, item.kind))
    report.totals = _totals(report, payments, refunds, intents, by_trade)
    return report


def _item(kind: str, intent, row, their_amount: int | None, **extra) -> Item:
    paid_at = getattr(row, "traded_at", None) if row is not None else None
    return Item(
        kind=kind,
        out_trade_no=row.out_trade_no if row is not None else intent.out_trade_no,
        platform_trade_no=(row.platform_trade_no if row is not None else None) or (intent.platform_trade_no if intent is not None else None),
        our_amount=None if intent is None else (intent.refunded if kind == "REFUND" else intent.amount),
        their_amount=their_amount,
        our_status=None if intent is None else intent.status,
        their_status=None if row is None else str(row.status),
        intent_id=None if intent is None else intent.id,
        paid_at=paid_at,
        **extra,
    )


def _classify_payment(report: Report, row, intent, note: str | None) -> None:
    item = lambda **extra: _item("PAYMENT", intent, row, row.amount, **extra)  # noqa: E731
    paid_there = row.status == TradeState.PAID
    if intent is None:
        report.missing_here.append(item(note=note))
        return
    paid_here = intent.status in _PAID_HERE
    if not paid_there:
        # A revoked payment: money never stayed with us.
        (report.status_differs if paid_here else report.matched).append(item())
        return
    if row.amount != intent.amount:
        report.amount_differs.append(item(note=intent.flag))
        return
    if not paid_here:
        fixable = intent.status in _UNPAID_HERE and not intent.flag
        report.status_differs.append(item(fixable=fixable, note=intent.flag))
        return
    if intent.platform_trade_no and row.platform_trade_no and intent.platform_trade_no != row.platform_trade_no:
        report.status_differs.append(item(note=f"platform trade no here is {intent.platform_trade_no}"))
        return
    report.matched.append(item())


def _classify_refunds(report: Report, intent, rows: list) -> None:
    theirs = sum(r.amount for r in rows)
    numbers = ",".join(sorted({r.out_refund_no for r in rows if r.out_refund_no}))
    first = min(rows, key=lambda r: (r.traded_at is None, r.traded_at or dt.datetime.min.replace(tzinfo=dt.UTC)))
    item = _item("REFUND", intent, first, theirs, out_refund_no=numbers or None)
    if intent is None:
        report.missing_here.append(item)
    elif intent.refunded == theirs:
        report.matched.append(item)
    elif intent.refunded > theirs:
        report.amount_differs.append(replace(item, note="more refunded here: maybe refunds on other days"))
    else:
        report.amount_differs.append(item)


def _counted(item: Item, side: str) -> int:
    """Signed fen a side counts for an item: payments in where that side calls them paid, refunds out."""
    if item.kind == "REFUND":
        return -((item.our_amount if side == "ours" else item.their_amount) or 0)
    if side == "ours":
        return item.our_amount or 0 if item.our_status in _PAID_HERE else 0
    return item.their_amount or 0 if item.their_status == TradeState.PAID else 0


def _sum(items: list[Item]) -> Sum:
    return Sum(len(items), sum(_counted(i, "ours") for i in items), sum(_counted(i, "theirs") for i in items))


def _totals(report: Report, payments: list, refunds: list, intents: dict, by_trade: dict) -> Totals:
    items = [*report.matched, *report.missing_here, *report.missing_there, *report.amount_differs, *report.status_differs]
    payment_intent_ids = {i.intent_id for i in items if i.kind == "PAYMENT" and i.intent_id is not None}
    return Totals(
        bill_paid=sum(r.amount for r in payments if r.status == TradeState.PAID),
        bill_refunded=sum(r.amount for r in refunds),
        our_paid=sum(i.amount for i in intents.values() if i.id in payment_intent_ids and i.status in _PAID_HERE),
        our_refunded=sum(intents[no].refunded for no in by_trade if no in intents),
        matched=_sum(report.matched),
        missing_here=_sum(report.missing_here),
        missing_there=_sum(report.missing_there),
        amount_differs=_sum(report.amount_differs),
        status_differs=_sum(report.status_differs),
    )


async def fix_safe(db: AsyncConnection, report: Report, *, failures: list | None = None) -> int:
    """Apply every fixable item (paid there, PENDING/CLOSED here, same amount) as the payment
    callback would have, through `payments.apply_notification`: the top-up or card happens once,
    however many times this runs and whatever callbacks arrive meanwhile. Amount differences are
    never touched. Returns how many intents this call moved to PAID. An item whose business
    effect fails (say, the member's card is frozen) is rolled back alone, appended to `failures`
    as (out_trade_no, error code) and left for finance."""
    fixed = 0
    for item in report.fixable:
        intent = (
            await db.execute(
                select(payment_intents.c.app_id, payment_intents.c.merchant_id, payment_intents.c.amount).where(
                    payment_intents.c.id == item.intent_id
                )
            )
        ).first()
        if intent is None or intent.amount != item.their_amount:
            continue
        note = PaymentNotification(
            channel=report.channel,
            kind=EventKind.PAYMENT,
            event_id=f"bill:{report.channel}:{item.platform_trade_no}",
            out_trade_no=item.out_trade_no,
            platform_trade_no=item.platform_trade_no,
            state=TradeState.PAID,
            amount=item.their_amount,
            # Bills may omit them; the bill comes from our own merchant account.
            app_id=intent.app_id,
            merchant_id=intent.merchant_id,
            paid_at=item.paid_at,
            raw={"source": "bill", "day": report.day.isoformat()},
        )
        try:
            async with db.begin_nested():
                outcome = await apply_notification(db, note)
        except DomainError as exc:
            log.warning("bill fix of %s failed: %s", item.out_trade_no, exc.code)
            if failures is not None:
                failures.append((item.out_trade_no, exc.code))
            continue
        if outcome == "APPLIED":
            fixed += 1
        elif outcome == "NOT_DELIVERED" and failures is not None:
            # Paid there, so PAID here too, flagged for finance: the effect itself could not happen.
            failures.append((item.out_trade_no, "PAID_NOT_DELIVERED"))
    return fixed
