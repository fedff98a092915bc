"""Refunds of paid orders, whole or by line, by a manager with a reason.

Money goes back to the tenders that paid in proportion, cumulatively: each refund returns
`floor(paid × refunded-so-far ÷ total) − returned-so-far` to each tender, so however an order is
refunded in parts, the last part returns exactly what is left. Stored value returns as the
principal and gift it took; count-card sessions return; count cards bought come back unused or not
at all."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import (
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import audit, outbox
from domain.actor import Actor
from domain.brands.stores import brands
from domain.cards import count_cards
from domain.cards.count_cards import CountCardStatus, count_card_uses
from domain.cards.spending import CardDebit, credit_back, record_card_entry
from domain.cards.stored_value import card_entries, cards, lock_card
from domain.coupons import redemption
from domain.db import Id, created_at_column, metadata, utcnow
from domain.errors import DomainError
from domain.ledger.postings import (
    AccountKind,
    InsufficientFunds,
    Leg,
    accounts,
    ensure_accounts,
    post_transfer,
    store_account,
    transfers,
)
from domain.members import points, tiers
from domain.members.members import members
from domain.members.points import PointsKind
from domain.sales.checkout import (
    Method,
    order_line_tenders,
    order_payments,
    receivable_account,
)
from domain.sales.orders import OrderStatus, order_lines, orders, take_order
from domain.sales.pricing import ItemKind
from domain.sales import stock
from domain.sales.settlement import PendingItem, clearing_legs, record_items
from domain.validation import check_text

refunds = Table(
    "refunds",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    Column("order_id", Id, ForeignKey("orders.id"), nullable=False, index=True),
    Column("store_id", Id, ForeignKey("stores.id"), nullable=False),
    Column("reason", String(200), nullable=False),
    Column("amount", Id, nullable=False),
    Column("sessions_returned", Integer, nullable=False),
    # None when nothing of value moved (a time card's session carries no value).
    Column("transfer_id", Id, ForeignKey("transfers.id"), nullable=True),
    Column("staff_id", Id, ForeignKey("staff.id"), nullable=False),
    created_at_column(),
)


refund_payments = Table(
    "refund_payments",
    metadata,
    Column("id", Id, primary_key=True),
    Column("refund_id", Id, ForeignKey("refunds.id"), nullable=False, index=True),
    Column("method", String(20), nullable=False),
    Column("amount", Id, nullable=False),
    Column("principal", Id, nullable=False),
    Column("gift", Id, nullable=False),
)


class OnlineTenders(Protocol):
    """A tender paid through a payment platform goes back through it: its refund is owed until the
    platform confirms it. The payments area registers the handler (sales may not import payments,
    DESIGN.md §3); the handler writes its own rows in this same transaction."""

    async def refund_leg(self, db: AsyncConnection, brand_id: int, order, payment, share: int) -> tuple[Leg, object] | None:
        """The leg crediting what is owed, and what to record once the refund exists; None: not ours."""

    async def record(self, db: AsyncConnection, refund_id: int, planned: object) -> None: ...


ONLINE_TENDERS: list[OnlineTenders] = []


async def _tender_leg(db: AsyncConnection, brand_id: int, order, pay, share: int, online: list) -> Leg:
    for handler in ONLINE_TENDERS:
        taken = await handler.refund_leg(db, brand_id, order, pay, share)
        if taken is not None:
            online.append((handler, taken[1]))
            return taken[0]
    spec = store_account(AccountKind.STORE_TENDER, order.store_id, pay.method)
    return Leg((await ensure_accounts(db, brand_id, [spec]))[spec.code], -share)


def allocate(total_paid: int, before: int, after: int, tenders: list[tuple[int, int]]) -> list[int]:
    """Shares of a refund taking the order's refunded money from `before` to `after`: tenders are
    (paid, refunded so far). Floors first, then the fen left over to the tenders with room, in order."""
    shares = [paid * after // total_paid - done for paid, done in tenders]
    short = (after - before) - sum(shares)
    for i, (paid, done) in enumerate(tenders):
        while short > 0 and done + shares[i] < paid:
            shares[i] += 1
            short -= 1
    return shares


@dataclass
class _Refund:
    """What one refund gives back, gathered line by line and tender by tender before it is written."""

    order: object
    rows: dict
    payments: list
    rate_bp: int
    debit_legs: list[Leg] = field(default_factory=list)
    credit_legs: list[Leg] = field(default_factory=list)
    settlements: list[PendingItem] = field(default_factory=list)
    deposits: dict[int, CardDebit] = field(default_factory=dict)
    card_credits: list[CardDebit] = field(default_factory=list)
    money_by_line: dict[int, int] = field(default_factory=dict)
    line_updates: dict[int, tuple[int, int]] = field(default_factory=dict)
    refund_lines_out: list[dict] = field(default_factory=list)
    # refunds owed through a payment platform, recorded by their handler once the refund row exists
    online: list[tuple[OnlineTenders, object]] = field(default_factory=list)
    money: int = 0
    sessions_returned: int = 0
    revenue_back: int = 0
    gift_back: int = 0
    coupon_back: int = 0  # the refunded lines' coupon shares, taken back off discounts given

    def settle(self, kind: str, issued_store_id: int, amount: int) -> None:
        """Taking back a cross-store use takes back its settlement item too."""
        if issued_store_id != self.order.store_id:
            self.settlements.append(PendingItem(kind, issued_store_id, self.order.store_id, -amount, self.rate_bp))


async def refund_order(
    db: AsyncConnection, actor: Actor, *, order_id: int, lines: list[tuple[int, int]] | None, reason: str, reference: str
) -> int:
    """Refund `lines` ((line id, quantity); None: all that is left) of a paid order; returns the refund."""
    reason = check_text(reason, "reason", "退款原因", 200)
    order = await take_order(
        db, actor, order_id, [OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED],
        refusal=lambda status: "ALREADY_REFUNDED" if status == OrderStatus.REFUNDED else "ORDER_NOT_PAID",
    )
    rows = {r.id: r for r in await db.execute(select(order_lines).where(order_lines.c.order_id == order_id).order_by(order_lines.c.id))}
    wanted = _units_wanted(rows, lines)
    refund = _Refund(
        order, rows,
        list(await db.execute(select(order_payments).where(order_payments.c.order_id == order_id).order_by(order_payments.c.id))),
        await db.scalar(select(brands.c.settlement_rate_bp).where(brands.c.id == actor.brand_id)),
    )
    await _give_coupons_back(db, actor, refund, wanted)
    for line_id, units in wanted.items():
        await _refund_line(db, actor, refund, line_id, units)
    await stock.put_back_for_refund(db, actor, order, rows, wanted)
    if refund.money:
        await _return_to_tenders(db, actor, refund)
    transfer_id = await _post(db, actor, refund, reason, reference)
    points_back = await _close_lines(db, actor, refund)
    refund_id = (
        await db.execute(
            insert(refunds).values(
                brand_id=actor.brand_id, order_id=order_id, store_id=order.store_id, reason=reason, amount=refund.money,
                sessions_returned=refund.sessions_returned, transfer_id=transfer_id, staff_id=actor.staff_id, created_at=utcnow(),
            ).returning(refunds.c.id)
        )
    ).scalar_one()
    if refund.refund_lines_out:
        await db.execute(insert(refund_payments), [{"refund_id": refund_id, **r} for r in refund.refund_lines_out])
    for handler, planned in refund.online:
        await handler.record(db, refund_id, planned)
    if order.member_id is not None:
        await tiers.record_spend(db, order.member_id, actor.brand_id, -(refund.money - sum(d.principal for d in refund.deposits.values())))
    await audit.record(db, actor, "order.refund", "order", order_id, after={"amount": refund.money, "sessions": refund.sessions_returned,
                                                                         "reason": reason, "points": -points_back}, store_id=order.store_id)
    if order.member_id is not None:
        # A full refund takes back what the order earned elsewhere (referral rewards); a card's
        # balance change is reminded. Both in `meiye worker`, once per refund.
        fully = await db.scalar(select(orders.c.status).where(orders.c.id == order_id)) == OrderStatus.REFUNDED.value
        await outbox.emit(db, brand_id=actor.brand_id, kind="order.refunded", dedupe_key=f"order:{order_id}:refund:{refund_id}", member_id=order.member_id,
                          store_id=order.store_id, payload={"order_id": order_id, "refund_id": refund_id, "member_id": order.member_id, "store_id": order.store_id,
                                                            "amount": refund.money, "fully_refunded": fully, "transfer_id": transfer_id})
    return refund_id


async def _refund_line(db: AsyncConnection, actor: Actor, refund: _Refund, line_id: int, units: int) -> None:
    """`units` of one line: count-card sessions that covered it first, then what money paid."""
    row = refund.rows[line_id]
    covered_left = row.covered_units - min(row.refunded_quantity, row.covered_units)
    from_cards = min(units, covered_left)
    line_amount = await _return_sessions(db, refund, line_id, from_cards) if from_cards else 0
    money_units = units - from_cards
    if money_units and row.kind == ItemKind.COUNT_CARD.value:
        amount = await _revoke_cards(db, line_id, money_units, refund.debit_legs)
    elif money_units and row.kind == ItemKind.TOP_UP.value:
        amount = row.net_amount
        await _take_back_deposit(db, actor, refund.order, row.item_id, amount, refund.debit_legs, refund.deposits)
    elif money_units:
        covered_value = sum(p.amount for p in refund.payments if p.method == Method.COUNT_CARD and p.order_line_id == line_id)
        money_net = row.net_amount - covered_value
        units_total = row.quantity - row.covered_units
        done = max(0, row.refunded_quantity - row.covered_units)
        amount = money_net * (done + money_units) // units_total - money_net * done // units_total
        refund.revenue_back += amount
        refund.coupon_back += await redemption.line_share_back(db, line_id=line_id, done_units=done, units=money_units, units_total=units_total)
    else:
        amount = 0
    refund.money += amount
    if amount:
        refund.money_by_line[line_id] = amount
    refund.line_updates[line_id] = (row.refunded_quantity + units, row.refunded_amount + line_amount + amount)


async def _give_coupons_back(db: AsyncConnection, actor: Actor, refund: _Refund, wanted: dict[int, int]) -> None:
    """A refund of the whole order gives its coupons back while they are still valid; a part
    refund keeps them used. First, before any card is locked: checkout takes coupons before cards."""
    if all(r.refunded_quantity + wanted.get(i, 0) == r.quantity for i, r in refund.rows.items()):
        await redemption.give_back(db, brand_id=actor.brand_id, order_id=refund.order.id, now=utcnow())


async def _return_sessions(db: AsyncConnection, refund: _Refund, line_id: int, count: int) -> int:
    """Give back the last `count` live count-card sessions that covered the line; their value."""
    uses = [p for p in refund.payments if p.method == Method.COUNT_CARD and p.order_line_id == line_id and p.refunded_amount == 0]
    live = set((await db.execute(select(count_card_uses.c.id).where(count_card_uses.c.id.in_([p.count_card_use_id for p in uses]), count_card_uses.c.returned == False))).scalars())  # noqa: E712
    value_back = 0
    for pay in [p for p in reversed(uses) if p.count_card_use_id in live][:count]:
        card_id, legs, value = await count_cards.return_use(db, use_id=pay.count_card_use_id)
        refund.credit_legs.extend(legs)
        refund.revenue_back += value
        refund.sessions_returned += 1
        value_back += value
        await db.execute(update(order_payments).where(order_payments.c.id == pay.id).values(refunded_amount=pay.amount))
        issued = await db.scalar(select(count_cards.count_cards.c.issued_store_id).where(count_cards.count_cards.c.id == card_id))
        refund.settle("COUNT_CARD", issued, value)
    return value_back


async def _return_to_tenders(db: AsyncConnection, actor: Actor, refund: _Refund) -> None:
    """Each tender gets back its share of the lines it paid; card value never comes out as cash."""
    by_payment = await _shares_by_payment(db, refund.money_by_line)
    for pay in refund.payments:
        share = by_payment.get(pay.id, 0) if pay.method != Method.COUNT_CARD else 0
        if not share:
            continue
        if pay.method == Method.STORED_VALUE:
            principal, gift = await _back_to_card(db, actor, refund, pay, share)
            out = {"method": pay.method, "amount": share, "principal": principal, "gift": gift}
        elif pay.method == Method.ON_ACCOUNT:
            principal, gift = await _back_on_account(db, actor, refund, share), 0
            out = {"method": pay.method, "amount": principal, "principal": 0, "gift": 0} if principal else None
        else:
            principal, gift = share, 0
            refund.credit_legs.append(await _tender_leg(db, actor.brand_id, refund.order, pay, share, refund.online))
            out = {"method": pay.method, "amount": share, "principal": 0, "gift": 0}
        await db.execute(
            update(order_payments).where(order_payments.c.id == pay.id).values(
                refunded_amount=pay.refunded_amount + share,
                refunded_principal=pay.refunded_principal + (principal if pay.method == Method.STORED_VALUE else 0),
                refunded_gift=pay.refunded_gift + gift,
            )
        )
        if out is not None:
            refund.refund_lines_out.append(out)


async def _back_to_card(db: AsyncConnection, actor: Actor, refund: _Refund, pay, share: int) -> tuple[int, int]:
    """The principal and gift this share took from the card, in the payment's own proportion."""
    gift = pay.gift * (pay.refunded_amount + share) // pay.amount - pay.refunded_gift
    principal = share - gift
    credit = await credit_back(db, actor, card_id=pay.card_id, principal=principal, gift=gift)
    refund.credit_legs.extend(credit.legs)
    refund.card_credits.append(credit)
    refund.gift_back += gift
    refund.settle("STORED_VALUE", credit.card.issued_store_id, share)
    return principal, gift


async def _back_on_account(db: AsyncConnection, actor: Actor, refund: _Refund, share: int) -> int:
    """What is still owed is written off; what the member has repaid since goes back in cash.
    Returns the part written off the account."""
    order = refund.order
    receivable = await receivable_account(db, actor.brand_id, order.member_id)
    debt = await db.scalar(select(accounts.c.balance).where(accounts.c.id == receivable))
    off_account = min(share, max(0, debt))
    if off_account:
        refund.credit_legs.append(Leg(receivable, -off_account))
    if share - off_account:
        spec = store_account(AccountKind.STORE_TENDER, order.store_id, Method.CASH.value)
        refund.credit_legs.append(Leg((await ensure_accounts(db, actor.brand_id, [spec]))[spec.code], -(share - off_account)))
        refund.refund_lines_out.append({"method": Method.CASH.value, "amount": share - off_account, "principal": 0, "gift": 0})
    return off_account


async def _post(db: AsyncConnection, actor: Actor, refund: _Refund, reason: str, reference: str) -> int | None:
    """The refund's one transfer, reversing part of the checkout's: revenue and gift consumed come
    back off the store, then the card statements and settlement items that name it."""
    order = refund.order
    ids = await ensure_accounts(db, actor.brand_id, [store_account(AccountKind.STORE_REVENUE, order.store_id), store_account(AccountKind.STORE_GIFT_CONSUMED, order.store_id)])
    revenue_debit = refund.revenue_back - refund.gift_back + refund.coupon_back
    if refund.coupon_back:
        refund.credit_legs.append(Leg(await redemption.discount_account(db, actor.brand_id, order.store_id), -refund.coupon_back))
    if revenue_debit:
        refund.debit_legs.append(Leg(ids[f"store:{order.store_id}:store_revenue"], revenue_debit))
    if refund.gift_back:
        refund.debit_legs.append(Leg(ids[f"store:{order.store_id}:store_gift_consumed"], refund.gift_back))
    legs = refund.debit_legs + refund.credit_legs + await clearing_legs(db, actor.brand_id, refund.settlements)
    if not any(leg.amount for leg in legs):
        return None
    try:
        transfer_id, after = await post_transfer(
            db, brand_id=actor.brand_id, kind="REFUND", reference=reference, legs=legs, store_id=order.store_id,
            staff_id=actor.staff_id, member_id=order.member_id, reverses_id=order.transfer_id, memo=reason[:200],
        )
    except InsufficientFunds:
        # Only a top-up's card can be short: the member has already spent what it put there.
        raise DomainError("NOT_REFUNDABLE", "lines") from None
    for credit in refund.card_credits:
        await record_card_entry(db, actor, credit, transfer_id=transfer_id, kind="REFUND", after=after, store_id=order.store_id, sign=1)
    for deposit in refund.deposits.values():
        await record_card_entry(db, actor, deposit, transfer_id=transfer_id, kind="TOP_UP_REFUND", after=after, store_id=order.store_id)
    await record_items(db, actor.brand_id, transfer_id, order.id, refund.settlements)
    return transfer_id


async def _close_lines(db: AsyncConnection, actor: Actor, refund: _Refund) -> int:
    """Lines and the order take the refund; the points the refunded money earned come back out
    (never below zero). Returns those points."""
    order = refund.order
    for line_id, (quantity, amount) in refund.line_updates.items():
        await db.execute(update(order_lines).where(order_lines.c.id == line_id).values(refunded_quantity=quantity, refunded_amount=amount))
    fully = all(refund.line_updates.get(r.id, (r.refunded_quantity, 0))[0] == r.quantity for r in refund.rows.values())
    paid_total = sum(p.amount for p in refund.payments if p.method != Method.COUNT_CARD)
    points_back = 0
    if order.member_id and order.points_earned and paid_total:
        points_back = order.points_earned * (order.refunded + refund.money) // paid_total - order.points_earned * order.refunded // paid_total
        if points_back:
            taken = await points.change(
                db, brand_id=actor.brand_id, member_id=order.member_id, delta=-points_back, kind=PointsKind.REFUND_REVERSAL,
                order_id=order.id, store_id=order.store_id, staff_id=actor.staff_id, at_most_what_is_left=True,
            )
            points_back = -taken.delta
    await db.execute(
        update(orders).where(orders.c.id == order.id).values(
            refunded=order.refunded + refund.money, status=(OrderStatus.REFUNDED if fully else OrderStatus.PARTIALLY_REFUNDED).value
        )
    )
    return points_back


async def _shares_by_payment(db: AsyncConnection, money_by_line: dict[int, int]) -> dict[int, int]:
    """Each line's refund goes back to the tenders that paid that line, in proportion, cumulatively
    (so a line refunded in parts returns exactly what each tender paid for it)."""
    rows = list(await db.execute(select(order_line_tenders).where(order_line_tenders.c.order_line_id.in_(list(money_by_line))).order_by(order_line_tenders.c.id)))
    by_payment: dict[int, int] = {}
    for line_id, amount in money_by_line.items():
        allocs = [r for r in rows if r.order_line_id == line_id]
        paid, done = sum(a.amount for a in allocs), sum(a.refunded for a in allocs)
        for alloc, share in zip(allocs, allocate(paid, done, done + amount, [(a.amount, a.refunded) for a in allocs])):
            if share:
                await db.execute(update(order_line_tenders).where(order_line_tenders.c.id == alloc.id).values(refunded=alloc.refunded + share))
                by_payment[alloc.order_payment_id] = by_payment.get(alloc.order_payment_id, 0) + share
    return by_payment


async def _take_back_deposit(db: AsyncConnection, actor: Actor, order, product_id: int, amount: int, debit_legs: list[Leg], deposits: dict) -> None:
    """A top-up sold in the order comes back off the card with its share of the bonus; the ledger's
    floor refuses it if the member has spent it meanwhile."""
    card = (await db.execute(select(cards.c.id, cards.c.member_id, cards.c.principal_account_id, cards.c.gift_account_id, cards.c.status)
                             .where(cards.c.member_id == order.member_id, cards.c.product_id == product_id))).one()
    await lock_card(db, card.id, allow_frozen=True)
    entry = (await db.execute(select(card_entries.c.principal_delta, card_entries.c.gift_delta).where(
        card_entries.c.transfer_id == order.transfer_id, card_entries.c.card_id == card.id, card_entries.c.kind == "TOP_UP"))).one()
    done_p, done_g = (await db.execute(
        select(func.coalesce(-func.sum(card_entries.c.principal_delta), 0), func.coalesce(-func.sum(card_entries.c.gift_delta), 0))
        .select_from(card_entries.join(transfers, transfers.c.id == card_entries.c.transfer_id))
        .where(transfers.c.reverses_id == order.transfer_id, card_entries.c.card_id == card.id, card_entries.c.kind == "TOP_UP_REFUND")
    )).one()
    taken_before = deposits[card.id].principal if card.id in deposits else 0
    back_g = entry.gift_delta * (done_p + taken_before + amount) // entry.principal_delta - done_g - (deposits[card.id].gift if card.id in deposits else 0)
    spec = store_account(AccountKind.STORE_GIFT_ISSUED, order.store_id)
    gift_issued = (await ensure_accounts(db, actor.brand_id, [spec]))[spec.code]
    debit_legs.append(Leg(card.principal_account_id, amount))
    if back_g:
        debit_legs.extend([Leg(card.gift_account_id, back_g), Leg(gift_issued, -back_g)])
    # The tier follows top-ups that stand: a refunded deposit no longer counts towards it.
    await db.execute(update(members).where(members.c.id == order.member_id).values(total_top_up=members.c.total_top_up - amount))
    before = deposits.get(card.id)
    deposits[card.id] = CardDebit(card.id, card.member_id, amount + (before.principal if before else 0), back_g + (before.gift if before else 0), (), card)


def _units_wanted(rows: dict, lines: list[tuple[int, int]] | None) -> dict[int, int]:
    if lines is None:
        wanted = {i: r.quantity - r.refunded_quantity for i, r in rows.items() if r.quantity > r.refunded_quantity}
        if not wanted:
            raise DomainError("ALREADY_REFUNDED", "orderId")
        return wanted
    if not lines:
        raise DomainError("REQUIRED", "lines", what="退款项目")
    wanted: dict[int, int] = {}
    for i, (line_id, quantity) in enumerate(lines):
        row = rows.get(line_id)
        if row is None:
            raise DomainError("NOT_FOUND", f"lines.{i}.lineId", what="订单行")
        left = row.quantity - row.refunded_quantity - wanted.get(line_id, 0)
        if quantity < 1 or quantity > left:
            raise DomainError("REFUND_QUANTITY_EXCEEDED", f"lines.{i}.quantity", available=left)
        wanted[line_id] = wanted.get(line_id, 0) + quantity
    return wanted


async def _revoke_cards(db: AsyncConnection, line_id: int, units: int, debit_legs: list[Leg]) -> int:
    """Count cards bought on this line come back only unused, the unused ones first (a line of two
    cards with one in use can still return the other); what is left of their liability is the
    money to return."""
    cc = count_cards.count_cards
    live = list(
        await db.execute(
            select(cc.c.id, cc.c.sessions_total, cc.c.sessions_left, cc.c.liability_account_id)
            .where(cc.c.order_line_id == line_id, cc.c.status == CountCardStatus.ACTIVE.value).order_by(cc.c.id.desc())
        )
    )
    if len(live) < units:
        raise DomainError("REFUND_QUANTITY_EXCEEDED", "lines", available=len(live))
    in_use = set(
        (await db.execute(select(count_card_uses.c.count_card_id).where(count_card_uses.c.count_card_id.in_([c.id for c in live]), count_card_uses.c.returned == False))).scalars()  # noqa: E712
    )
    amount = 0
    for card in sorted(live, key=lambda c: c.id in in_use)[:units]:
        # Revoke first, which takes the card's row, then look for uses: a use that got in first is seen.
        revoked = await db.execute(update(cc).where(cc.c.id == card.id, cc.c.status == CountCardStatus.ACTIVE.value).values(status=CountCardStatus.REVOKED.value, version=cc.c.version + 1))
        assert revoked.rowcount == 1
        used = await db.scalar(select(count_card_uses.c.id).where(count_card_uses.c.count_card_id == card.id, count_card_uses.c.returned == False).limit(1))  # noqa: E712
        if used is not None:
            raise DomainError("COUNT_CARD_USED", "lines")
        balance = await db.scalar(select(accounts.c.balance).where(accounts.c.id == card.liability_account_id))
        if balance:
            debit_legs.append(Leg(card.liability_account_id, balance))
        amount += balance
    return amount


async def get_refund(db: AsyncConnection, refund_id: int):
    return (await db.execute(select(refunds).where(refunds.c.id == refund_id))).one()
