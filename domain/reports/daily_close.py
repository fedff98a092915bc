"""Reports: the store's daily close (日结) and the cross-store settlement statement (跨店结算单).
Days are business days in the store's (or brand's) time zone."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.actor import Actor
from domain.brands.stores import get_store, store_timezone
from domain.cards import cash_out
from domain.cards.count_cards import count_card_uses
from domain.members import membership
from domain.cards.stored_value import card_entries
from domain.errors import DomainError  # noqa: F401
from domain.coupons.redemption import coupon_line_shares
from domain.ledger.postings import AccountKind, accounts, postings, transfers
from domain.sales.checkout import order_payments
from domain.sales.orders import order_lines, orders
from domain.sales.refunds import refund_payments, refunds
from domain.timezones import check_day, day_bounds


@dataclass
class DailyClose:
    store_id: int
    date: dt.date
    sales: list[dict] = field(default_factory=list)
    payments: dict[str, int] = field(default_factory=dict)
    top_ups: dict = field(default_factory=dict)
    stored_value_spent: dict = field(default_factory=dict)
    count_card_sessions: int = 0
    coupons_redeemed: int = 0
    coupon_discount: int = 0
    refunds: dict = field(default_factory=dict)
    on_account: dict = field(default_factory=dict)
    ledger_tenders: dict[str, int] = field(default_factory=dict)
    orders_paid: int = 0
    cash_outs: dict = field(default_factory=dict)
    membership_fees: dict = field(default_factory=dict)


async def daily_close(db: AsyncConnection, actor: Actor, *, store_id: int, day: dt.date) -> DailyClose:
    check_day(day, "date")
    await get_store(db, actor, store_id)
    start, end = day_bounds(day, await store_timezone(db, store_id, actor.brand_id))
    report = DailyClose(store_id, day)
    paid_today = and_(orders.c.store_id == store_id, orders.c.paid_at >= start, orders.c.paid_at < end)
    await _sales(db, report, paid_today)
    await _cards(db, report, store_id, start, end)
    await _coupons(db, report, paid_today)
    refunded_on_account = await _refunds(db, report, store_id, start, end)
    await _ledger_and_on_account(db, report, store_id, start, end, refunded_on_account)
    report.cash_outs = await cash_out.summary(db, store_id, start, end)
    report.membership_fees = await membership.fee_summary(db, store_id, start, end)
    return report


async def _sales(db: AsyncConnection, report: DailyClose, paid_today) -> None:
    """Sales by category, orders paid and what each tender took, for the orders paid today."""
    for category, qty, list_amount, discount, net in await db.execute(
        select(order_lines.c.category, func.sum(order_lines.c.quantity), func.sum(order_lines.c.list_amount), func.sum(order_lines.c.discount), func.sum(order_lines.c.net_amount))
        .join(orders, orders.c.id == order_lines.c.order_id)
        # A top-up sold in an order is a deposit, reported under topUps, not a sale.
        .where(paid_today, order_lines.c.kind != "TOP_UP").group_by(order_lines.c.category).order_by(order_lines.c.category)
    ):
        report.sales.append({"category": category, "quantity": qty, "list_amount": list_amount, "discount": discount, "net_amount": net})
    report.orders_paid = await db.scalar(select(func.count()).select_from(orders).where(paid_today))
    for method, amount in await db.execute(
        select(order_payments.c.method, func.sum(order_payments.c.amount)).join(orders, orders.c.id == order_payments.c.order_id).where(paid_today).group_by(order_payments.c.method)
    ):
        report.payments[method] = amount


async def _cards(db: AsyncConnection, report: DailyClose, store_id: int, start, end) -> None:
    """Top-ups (and by tender at the desk), stored value spent, count-card sessions used."""
    entries_today = and_(card_entries.c.store_id == store_id, card_entries.c.created_at >= start, card_entries.c.created_at < end)
    top_ups = defaultdict(int)
    for kind, tender, principal, gift, count in await db.execute(
        select(transfers.c.kind, transfers.c.memo, func.sum(card_entries.c.principal_delta), func.sum(card_entries.c.gift_delta), func.count())
        .join(transfers, transfers.c.id == card_entries.c.transfer_id).where(entries_today, card_entries.c.kind == "TOP_UP")
        .group_by(transfers.c.kind, transfers.c.memo)
    ):
        top_ups["principal"] += principal
        top_ups["gift"] += gift
        top_ups["count"] += count
        if kind == "TOP_UP":
            # Top-ups at the desk by tender; those sold in an order were paid by the order's payments.
            top_ups[f"by:{tender}"] += principal
    report.top_ups = {"principal": top_ups["principal"], "gift": top_ups["gift"], "count": top_ups["count"],
                      "by_method": {k[3:]: v for k, v in top_ups.items() if k.startswith("by:")}}
    spent = (
        await db.execute(
            select(func.coalesce(-func.sum(card_entries.c.principal_delta), 0), func.coalesce(-func.sum(card_entries.c.gift_delta), 0))
            .where(entries_today, card_entries.c.kind.in_(["CHECKOUT", "SPEND"]))
        )
    ).one()
    report.stored_value_spent = {"principal": spent[0], "gift": spent[1]}
    report.count_card_sessions = await db.scalar(
        select(func.count()).select_from(count_card_uses).where(count_card_uses.c.store_id == store_id, count_card_uses.c.created_at >= start, count_card_uses.c.created_at < end)
    )


async def _coupons(db: AsyncConnection, report: DailyClose, paid_today) -> None:
    # Redemptions on the orders paid today, and what they took off (a later refund shows under refunds). A
    # redemption is one coupon on one order, however many lines share it: a coupon given back by a whole
    # refund and used again is two redemptions, as its discount is summed twice.
    redemptions = (
        select(func.sum(coupon_line_shares.c.amount).label("amount")).join(orders, orders.c.id == coupon_line_shares.c.order_id)
        .where(paid_today).group_by(coupon_line_shares.c.coupon_id, coupon_line_shares.c.order_id).subquery()
    )
    report.coupons_redeemed, report.coupon_discount = (await db.execute(
        select(func.count(), func.coalesce(func.sum(redemptions.c.amount), 0)).select_from(redemptions)
    )).one()


async def _refunds(db: AsyncConnection, report: DailyClose, store_id: int, start, end) -> int:
    """Refunds made today, by tender; returns what went back onto members' accounts."""
    refunded_today = and_(refunds.c.store_id == store_id, refunds.c.created_at >= start, refunds.c.created_at < end)
    totals = (await db.execute(select(func.count(), func.coalesce(func.sum(refunds.c.amount), 0), func.coalesce(func.sum(refunds.c.sessions_returned), 0)).where(refunded_today))).one()
    by_method = dict(
        (await db.execute(
            select(refund_payments.c.method, func.sum(refund_payments.c.amount)).join(refunds, refunds.c.id == refund_payments.c.refund_id)
            .where(refunded_today).group_by(refund_payments.c.method)
        )).all()
    )
    report.refunds = {"count": totals[0], "amount": totals[1], "sessions_returned": totals[2], "by_method": by_method}
    return by_method.get("ON_ACCOUNT", 0)


async def _ledger_and_on_account(db: AsyncConnection, report: DailyClose, store_id: int, start, end, refunded_on_account: int) -> None:
    # What the ledger itself says moved through the store's tender and receivable accounts today.
    for method, kind, amount in await db.execute(
        select(accounts.c.code, accounts.c.kind, func.sum(postings.c.amount))
        .join(postings, postings.c.account_id == accounts.c.id).join(transfers, transfers.c.id == postings.c.transfer_id)
        .where(transfers.c.store_id == store_id, transfers.c.created_at >= start, transfers.c.created_at < end,
               accounts.c.kind.in_([AccountKind.STORE_TENDER.value, AccountKind.MEMBER_RECEIVABLE.value]))
        .group_by(accounts.c.code, accounts.c.kind)
    ):
        key = method.rsplit(":", 1)[1].split("#")[0].upper() if kind == AccountKind.STORE_TENDER.value else "ON_ACCOUNT"
        report.ledger_tenders[key] = report.ledger_tenders.get(key, 0) + amount
    charged = report.payments.get("ON_ACCOUNT", 0)
    repaid = await db.scalar(
        select(func.coalesce(func.sum(postings.c.amount), 0)).join(transfers, transfers.c.id == postings.c.transfer_id)
        .join(accounts, accounts.c.id == postings.c.account_id)
        .where(transfers.c.kind == "ON_ACCOUNT_REPAYMENT", transfers.c.store_id == store_id, transfers.c.created_at >= start,
               transfers.c.created_at < end, accounts.c.kind == AccountKind.MEMBER_RECEIVABLE.value)
    )
    report.on_account = {"charged": charged, "repaid": -repaid, "refunded": refunded_on_account,
                         "net_change": charged + repaid - refunded_on_account}
