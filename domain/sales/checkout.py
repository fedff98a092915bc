"""Checkout (收银/结账): price the order, take every tender, issue count cards bought, and record it
all as one ledger transfer. Exactly one outcome per idempotency key (the caller's claim)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import audit, outbox
from domain.actor import Actor
from domain.brands.stores import SplitRule, brands, stores
from domain.cards import count_cards, cross_store
from domain.cards import stored_value as cards
from domain.cards.count_card_products import (
    count_card_product_services,
    count_card_products,
)
from domain.cards.spending import CardDebit, debit_card, record_card_entry
from domain.coupons import pricing as coupon_pricing
from domain.coupons import redemption
from domain.coupons import rules as coupon_rules
from domain.db import Id, utcnow
from domain.prepared import Prepared
from domain.writes import execute_together, update_write
from domain.errors import DomainError
from domain.ledger.postings import (
    AccountKind,
    InsufficientFunds,
    Leg,
    accounts,
    post_transfer,
)
from domain.ledger.store_accounts import (
    SHARD_SIZE,
    ShardAccounts,
    shard_account_ids,
    shard_accounts,
    shard_for,
    shard_from_row,
    shard_specs,
)
from domain.members import tiers
from domain.members.members import Tier, members
from domain.sales.allocation import Tender, allocate_tenders, discounted, round_half_up  # noqa: F401 - re-exported
from domain.sales.orders import OrderStatus, order_lines, orders, take_order
from domain.sales.paid_order import order_line_tenders, order_payments, payments_by_order_ids, record_payments  # noqa: F401 - re-exported
from domain.sales.pricing import ItemKind
from domain.sales.tenders import DESK_TENDERS, Method, PaymentSpec, check_payment_shapes, receivable_account  # noqa: F401 - re-exported
from domain.sales import stock
from domain.sales.settlement import PendingItem, clearing_legs, record_items
from domain.timezones import business_day


@dataclass
class _Line:
    row: object
    covered_units: int = 0
    covered_value: int = 0
    money_net: int = 0
    discount: int = 0
    coupon: int = 0  # what coupons took off the line's list amount
    card_discount: bool = True  # False: a coupon on the line does not stack with a card's discount


@dataclass
class _Sale:
    """What one checkout has decided so far: the order, the store's rules, its lines and what each
    tender took, gathered step by step before anything is written."""

    order: object
    store: object
    now: object
    local_date: str
    iso_week: str
    lines: list[_Line]
    debits: list[Leg] = field(default_factory=list)
    credits: list[Leg] = field(default_factory=list)
    payments: list[dict] = field(default_factory=list)
    line_tenders: list[tuple[int, int, int]] = field(default_factory=list)
    settlements: list[PendingItem] = field(default_factory=list)
    card_debits: list[CardDebit] = field(default_factory=list)
    deposits: list[CardDebit] = field(default_factory=list)
    real_money: int = 0
    liability_total: int = 0
    _store_accounts: ShardAccounts | None = None

    async def store_accounts(self, db: AsyncConnection, actor: Actor) -> ShardAccounts:
        """The shard of the store's accounts this sale posts to, read once."""
        if self._store_accounts is None:
            self._store_accounts = await shard_accounts(db, actor.brand_id, self.order.store_id, shard_for(self.order.id))
        return self._store_accounts

    def settle(self, kind: str, issued_store_id: int, amount: int) -> None:
        """A card sold at another store and used here: that store owes this one (跨店结算)."""
        if issued_store_id != self.order.store_id:
            self.settlements.append(PendingItem(kind, issued_store_id, self.order.store_id, amount, self.store.settlement_rate_bp))


async def checkout(db: AsyncConnection, actor: Actor, *, order_id: int, payments: list[PaymentSpec], coupon_codes: list[str], reference: str,
                   also_write: list = ()):
    """Pay an open order with `payments`; returns the paid order's row (its `transfer_id` is None
    when nothing of value moved: an order paid wholly by time-card sessions). `also_write` joins the
    checkout's last writes (e.g. the idempotency key's response)."""
    sale = await _begin(db, actor, order_id, payments, coupon_codes)
    await stock.take_for_sale(db, actor, sale.order, [l.row for l in sale.lines])
    await _use_count_cards(db, actor, sale, payments)
    payments = await _apply_coupons(db, actor, sale, payments, coupon_codes)
    await _coupon_rewards(db, actor, sale)
    sv_cards, amounts = await _allocate(db, actor, sale, payments)
    await _take_money(db, actor, sale, payments, sv_cards, amounts)
    await _issue_count_cards(db, actor, sale)
    sale.deposits = await _deposits(db, actor, sale)
    legs = await _balanced_legs(db, actor, sale)
    # Writes that nothing later in the checkout reads wait in `later` and go with the order's own
    # closing update: one round trip on PostgreSQL (domain.db.execute_together).
    later: list = list(also_write)
    await record_payments(db, sale.order.id, sale.payments, sale.line_tenders, sale.lines, later)
    # A deposit earns nothing now: its principal earns when it is spent.
    earned = _points_earned(sale, sale.real_money - sum(d.principal for d in sale.deposits))
    total = sum(l.covered_value + l.money_net for l in sale.lines)
    if sale.order.member_id is not None:
        member_sale = dict(brand_id=actor.brand_id, member_id=sale.order.member_id, rules=tiers.rules_from_row(sale.store), spend=_spend(sale),
                           earned=earned, order_id=order_id, store_id=sale.order.store_id, staff_id=actor.staff_id)
        await tiers.record_sale(db, **member_sale, later=later)
    later.append(audit.entry(actor, "order.checkout", "order", order_id, after={"total": total, "payments": sale.payments}, store_id=sale.order.store_id))
    transfer_id = await _post(db, actor, sale, legs, reference, later)
    if sale.order.member_id is not None:
        # Other areas act on a member's paid order in `meiye worker`, once per order: referral
        # rewards, the balance-change and on-account reminders.
        later.append(outbox.event(
            brand_id=actor.brand_id, kind="order.paid", dedupe_key=f"order:{order_id}:paid", member_id=sale.order.member_id,
            store_id=sale.order.store_id, payload={"order_id": order_id, "member_id": sale.order.member_id, "store_id": sale.order.store_id,
                                                   "total": total, "transfer_id": transfer_id},
        ))
    list_total = sum(l.row.unit_price * l.row.quantity for l in sale.lines)
    close = update_write(orders, order_id, {
        "status": OrderStatus.PAID.value, "list_total": list_total, "discount": list_total - total, "total": total, "paid": total,
        "points_earned": earned, "paid_at": sale.now, "transfer_id": transfer_id,
    }, returning=(orders,))
    return (await execute_together(db, later, close)).one()


# The order's lines, each with what the sale needs of its store, brand and member.
_sale_context = Prepared(
    select(
        order_lines, stores.c.timezone.label("store_timezone"), brands.c.timezone.label("timezone"), brands.c.settlement_rate_bp,
        brands.c.split_rule, *tiers.RULE_COLUMNS, members.c.tier.label("member_tier"),
        coupon_rules.has_visit_rule(brands.c.id, order_lines.c.item_id).label("has_visit_rule"),
        *shard_account_ids(brands.c.id, [bindparam(f"shard_code_{i}") for i in range(SHARD_SIZE)]),
    )
    .select_from(
        order_lines.join(stores, stores.c.id == bindparam("store_id", type_=Id)).join(brands, brands.c.id == stores.c.brand_id)
        .outerjoin(members, members.c.id == bindparam("member_id", type_=Id))
    )
    .where(order_lines.c.order_id == bindparam("order_id", type_=Id))
    .order_by(order_lines.c.id)
)


async def _begin(db: AsyncConnection, actor: Actor, order_id: int, payments: list[PaymentSpec], coupon_codes: list[str]) -> _Sale:
    """Take the open order under its lock, check the payments' shapes, read the store's rules."""
    now = utcnow()
    order = await take_order(
        db, actor, order_id, [OrderStatus.OPEN],
        refusal=lambda status: "ORDER_HELD" if status == OrderStatus.HELD else "ORDER_NOT_OPEN",
    )
    shard = shard_for(order_id)
    codes = {f"shard_code_{i}": spec.code for i, spec in enumerate(shard_specs(order.store_id, shard))}
    rows = list(await _sale_context.execute(db, {"order_id": order_id, "store_id": order.store_id, "member_id": order.member_id, **codes}))
    if not rows:
        raise DomainError("ORDER_EMPTY", "orderId")
    lines = [_Line(r) for r in rows]
    check_payment_shapes(payments, order.member_id, may_be_empty=bool(coupon_codes))
    if any(l.row.kind == ItemKind.TOP_UP.value for l in lines):
        for i, pay in enumerate(payments):
            if pay.method in (Method.STORED_VALUE, Method.ON_ACCOUNT):
                raise DomainError("PAYMENT_INVALID", f"payments.{i}.method", why="充值只能用现金、银行卡、微信或支付宝支付")
    # Every line row carries the store's and brand's rules and the member's tier (one read, not three).
    store = rows[0]
    local_date, iso_week = business_day(now, store.store_timezone or store.timezone)
    return _Sale(order, store, now, local_date, iso_week, lines, _store_accounts=shard_from_row(store, order.store_id, shard))


async def _use_count_cards(db: AsyncConnection, actor: Actor, sale: _Sale, payments: list[PaymentSpec]) -> None:
    """Count cards cover one session of one service line each, in the order given."""
    order = sale.order
    for i, pay in enumerate(payments):
        if pay.method != Method.COUNT_CARD:
            continue
        field_name = f"payments.{i}.countCardId"
        line = await _line_for_count_card(db, actor.brand_id, sale.lines, pay.count_card_id, field_name)
        if order.booking_id is None:
            await count_cards.refuse_unbooked(db, pay.count_card_id, field_name)
        used = await count_cards.use(
            db, actor, card_id=pay.count_card_id, member_id=order.member_id, service_id=line.row.item_id, store_id=order.store_id,
            technician_id=line.row.technician_id, order_id=order.id, order_line_id=line.row.id, now=sale.now,
            local_date=sale.local_date, iso_week=sale.iso_week, field=field_name,
        )
        line.covered_units += 1
        line.covered_value += used.value
        sale.debits.extend(used.legs)
        sale.payments.append({"method": Method.COUNT_CARD.value, "amount": used.value, "count_card_id": pay.count_card_id,
                              "count_card_use_id": used.use_id, "order_line_id": line.row.id})
        sale.settle("COUNT_CARD", used.issued_store_id, used.value)


async def _apply_coupons(db: AsyncConnection, actor: Actor, sale: _Sale, payments: list[PaymentSpec], codes: list[str]) -> list[PaymentSpec]:
    """Coupons take their discount off the list amount of their lines before any tender pays
    (the pricing order of domain.coupons.pricing). Returns the payments still needed: when coupons
    and count cards leave nothing due, a tender without an amount has nothing to take."""
    if not codes:
        return payments
    order = sale.order
    priced = [coupon_pricing.Line(l.row.id, l.row.kind, l.row.item_id, l.row.unit_price, l.row.quantity - l.covered_units) for l in sale.lines]
    context = redemption.OrderContext(actor.brand_id, order.id, order.store_id, order.member_id, shard_for(order.id))
    redeemed = await redemption.redeem(db, context, priced, codes, sale.now)
    for line in sale.lines:
        line.coupon = redeemed.shares.get(line.row.id, 0)
        line.card_discount = line.row.id not in redeemed.no_card_discount
    sale.debits.extend(redeemed.legs)
    if sum(p.amount for p in priced) == redeemed.discount:
        payments = [p for p in payments if p.method == Method.COUNT_CARD or p.amount is not None]
    return payments


async def _coupon_rewards(db: AsyncConnection, actor: Actor, sale: _Sale) -> None:
    """Coupons the sale earns, issued here, before any card or account is locked (the order every
    checkout takes its locks in): visit rewards (消费满N次送1次) and a first top-up's gift (首充礼)."""
    member_id = sale.order.member_id
    if member_id is None:
        return
    counted = any(l.row.kind == ItemKind.SERVICE.value and l.row.has_visit_rule for l in sale.lines)
    rules = await coupon_rules.visit_rules(db, actor.brand_id) if counted else {}
    added: dict[int, int] = {}
    for line in sale.lines:
        if line.row.kind == ItemKind.SERVICE.value and line.row.item_id in rules:
            added[line.row.item_id] = added.get(line.row.item_id, 0) + line.row.quantity
    if added:
        await coupon_rules.on_visits(db, actor, member_id=member_id, rules=rules, before=await _paid_units(db, member_id, list(added)), added=added)
    top_ups: dict[int, int] = {}
    for line in sale.lines:
        if line.row.kind == ItemKind.TOP_UP.value:
            top_ups[line.row.item_id] = top_ups.get(line.row.item_id, 0) + line.row.unit_price * line.row.quantity
    for product_id, amount in sorted(top_ups.items())[:1]:
        await coupon_rules.first_top_up_gift(db, actor, member_id=member_id, product_id=product_id, amount=amount)


async def _paid_units(db: AsyncConnection, member_id: int, service_ids: list[int]) -> dict[int, int]:
    """Units of each service the member has had on paid orders, refunded units not counted."""
    rows = await db.execute(
        select(order_lines.c.item_id, func.sum(order_lines.c.quantity - order_lines.c.refunded_quantity))
        .join(orders, orders.c.id == order_lines.c.order_id)
        .where(orders.c.member_id == member_id, orders.c.status.in_([OrderStatus.PAID.value, OrderStatus.PARTIALLY_REFUNDED.value]),
               order_lines.c.kind == ItemKind.SERVICE.value, order_lines.c.item_id.in_(service_ids))
        .group_by(order_lines.c.item_id)
    )
    return {service_id: int(units or 0) for service_id, units in rows}


async def _allocate(db: AsyncConnection, actor: Actor, sale: _Sale, payments: list[PaymentSpec]) -> tuple[dict[int, object], dict[int, int]]:
    """Decide which tender pays which line: a stored-value card pays services first and earns its
    discount on what it pays (domain.sales.allocation). Returns the cards and each tender's amount,
    by payment index."""
    sv_cards = await _stored_value_cards(db, actor, payments)
    money_tenders = {i: Tender(p.method.value, p.amount, sv_cards[i].percent if i in sv_cards else None)
                     for i, p in enumerate(payments) if p.method != Method.COUNT_CARD}
    order_of_tenders = list(money_tenders)
    split = allocate_tenders(
        [(l.row.id, l.row.kind == ItemKind.SERVICE.value and l.card_discount, l.row.unit_price * (l.row.quantity - l.covered_units) - l.coupon)
         for l in sale.lines],
        [money_tenders[i] for i in order_of_tenders],
    )
    sale.line_tenders = [(order_of_tenders[k], line_id, amount) for k, line_id, amount in split.paid]
    for line in sale.lines:
        row = line.row
        line.money_net = row.unit_price * (row.quantity - line.covered_units) - line.coupon - split.discount[row.id]
        line.discount = row.unit_price * line.covered_units - line.covered_value + line.coupon + split.discount[row.id]
    return sv_cards, {order_of_tenders[k]: amount for k, amount in split.amounts.items()}


async def _take_money(
    db: AsyncConnection, actor: Actor, sale: _Sale, payments: list[PaymentSpec], sv_cards: dict[int, object], amounts: dict[int, int]
) -> None:
    """Debit every money tender its share: the card under its lock, the member's receivable, or the
    store's drawer account of that tender."""
    order = sale.order
    for i, pay in enumerate(payments):
        if pay.method == Method.COUNT_CARD:
            continue
        amount = amounts.get(i, 0)
        if amount <= 0:
            raise DomainError("PAYMENT_MISMATCH", "payments", paid=_yuan(sum(amounts.values())), due=_yuan(sum(amounts.values())))
        taken = {"method": pay.method.value, "amount": amount, "index": i}
        if pay.method == Method.STORED_VALUE:
            debit = await debit_card(db, actor, card_id=pay.card_id, amount=amount, field=f"payments.{i}.cardId",
                                     card=sv_cards[i], rule=SplitRule(sale.store.split_rule), locked=True)
            if debit.member_id != order.member_id:
                raise DomainError("CARD_MEMBER_MISMATCH", f"payments.{i}.cardId")
            await cross_store.check_spend(db, debit.card, store_id=order.store_id, amount=amount, local_date=sale.local_date,
                                          timezone=sale.store.store_timezone or sale.store.timezone, field=f"payments.{i}.cardId")
            sale.debits.extend(debit.legs)
            sale.card_debits.append(debit)
            sale.real_money += debit.principal
            taken.update(principal=debit.principal, gift=debit.gift, card_id=pay.card_id)
            sale.settle("STORED_VALUE", debit.card.issued_store_id, amount)
        elif pay.method == Method.ON_ACCOUNT:
            sale.debits.append(Leg(await receivable_account(db, actor.brand_id, order.member_id), amount))
        else:
            sale.debits.append(Leg((await sale.store_accounts(db, actor)).id(AccountKind.STORE_TENDER, pay.method.value), amount))
            sale.real_money += amount
        sale.payments.append(taken)


async def _issue_count_cards(db: AsyncConnection, actor: Actor, sale: _Sale) -> None:
    """Count cards bought here are issued now; what was paid for them is owed as sessions."""
    for line in sale.lines:
        if line.row.kind != ItemKind.COUNT_CARD.value:
            continue
        product = (await db.execute(select(count_card_products).where(count_card_products.c.id == line.row.item_id))).one()
        per_unit, remainder = divmod(line.money_net, line.row.quantity)
        for unit in range(line.row.quantity):
            _card_id, liability = await count_cards.issue(
                db, brand_id=actor.brand_id, member_id=sale.order.member_id, product=product, store_id=sale.order.store_id,
                order_line_id=line.row.id, now=sale.now,
            )
            paid_for_card = per_unit + (remainder if unit == 0 else 0)
            if paid_for_card:
                sale.credits.append(Leg(liability, -paid_for_card))
                sale.liability_total += paid_for_card


async def _balanced_legs(db: AsyncConnection, actor: Actor, sale: _Sale) -> list[Leg]:
    """Every leg of the checkout's one transfer: what the tenders took, what is owed for cards and
    deposits, the store's revenue and the gift it consumed, and the clearing between stores."""
    gift_total = sum(d.gift for d in sale.card_debits)
    deposit_total = sum(d.principal for d in sale.deposits)
    store = await sale.store_accounts(db, actor)
    revenue = sum(l.amount for l in sale.debits) - sale.liability_total - gift_total - deposit_total
    if revenue:
        sale.credits.append(Leg(store.id(AccountKind.STORE_REVENUE), -revenue))
    if gift_total:
        sale.credits.append(Leg(store.id(AccountKind.STORE_GIFT_CONSUMED), -gift_total))
    return sale.debits + sale.credits + await clearing_legs(db, actor.brand_id, sale.settlements, shard=store.shard)


async def _post(db: AsyncConnection, actor: Actor, sale: _Sale, legs: list[Leg], reference: str, later: list) -> int | None:
    """The one ledger transfer, then the card statements and settlement items that name it."""
    if not any(leg.amount for leg in legs):
        return None
    order = sale.order
    try:
        transfer_id, after = await post_transfer(
            db, brand_id=actor.brand_id, kind="CHECKOUT", reference=reference, legs=legs, store_id=order.store_id,
            staff_id=actor.staff_id, member_id=order.member_id, memo=f"order {order.id}",
        )
    except InsufficientFunds as error:
        # Card balances were checked under their locks, so only a credit limit can refuse here.
        row = (await db.execute(select(accounts.c.balance, accounts.c.ceiling).where(accounts.c.id == error.account_id))).one()
        raise DomainError("CREDIT_LIMIT_EXCEEDED", "payments", available=_yuan(max(0, (row.ceiling or 0) - row.balance))) from None
    for debit in sale.card_debits:
        card = debit.card
        if card.principal_account_id in after and card.gift_account_id in after:
            later.append(cards.entry_write(
                brand_id=actor.brand_id, member_id=debit.member_id, card=card, transfer_id=transfer_id, kind="CHECKOUT",
                principal_delta=-debit.principal, gift_delta=-debit.gift, after=after, store_id=order.store_id, staff_id=actor.staff_id,
            ))
        else:
            await record_card_entry(db, actor, debit, transfer_id=transfer_id, kind="CHECKOUT", after=after, store_id=order.store_id)
    for deposit in sale.deposits:
        await record_card_entry(db, actor, deposit, transfer_id=transfer_id, kind="TOP_UP", after=after, store_id=order.store_id, sign=1)
        await cards.raise_tier(db, order.member_id, actor.brand_id, deposit.principal)
    await record_items(db, actor.brand_id, transfer_id, order.id, sale.settlements)
    return transfer_id


async def _deposits(db: AsyncConnection, actor: Actor, sale: _Sale) -> list[CardDebit]:
    """Each card topped up by the order, with its principal and the bonus of the highest rule its
    amount reaches (lines of one card are added up first, as one top-up of the total)."""
    order, credits = sale.order, sale.credits
    by_product: dict[int, int] = {}
    for line in sale.lines:
        if line.row.kind == ItemKind.TOP_UP.value:
            by_product[line.row.item_id] = by_product.get(line.row.item_id, 0) + line.money_net
    deposits = []
    if not by_product:
        return deposits
    gift_issued = (await sale.store_accounts(db, actor)).id(AccountKind.STORE_GIFT_ISSUED)
    for product_id, amount in sorted(by_product.items()):
        card_id = await cards.issue_card(db, brand_id=actor.brand_id, member_id=order.member_id, product_id=product_id, store_id=order.store_id)
        card = (await db.execute(select(cards.cards).where(cards.cards.c.id == card_id))).one()
        await cards.lock_card(db, card_id)
        bonus = cards.bonus_for(await cards.rules_of(db, product_id), amount)
        credits.append(Leg(card.principal_account_id, -amount))
        if bonus:
            credits.extend([Leg(gift_issued, bonus), Leg(card.gift_account_id, -bonus)])
        deposits.append(CardDebit(card.id, card.member_id, amount, bonus, (), card))
    return deposits


def _yuan(fen: int) -> str:
    return f"¥{fen / 100:,.2f}"


async def _line_for_count_card(db: AsyncConnection, brand_id: int, lines: list[_Line], count_card_id: int, field: str) -> _Line:
    # Another brand's count card is NOT_FOUND here too, not COUNT_CARD_NOT_FOR_SERVICE, which would tell that it exists.
    product_id = await db.scalar(
        select(count_cards.count_cards.c.product_id).where(count_cards.count_cards.c.id == count_card_id, count_cards.count_cards.c.brand_id == brand_id)
    )
    if product_id is None:
        raise DomainError("NOT_FOUND", field, what="次卡")
    services = set((await db.execute(select(count_card_product_services.c.service_id).where(count_card_product_services.c.product_id == product_id))).scalars())
    for line in lines:
        if line.row.kind == ItemKind.SERVICE.value and line.row.item_id in services and line.covered_units < line.row.quantity:
            return line
    raise DomainError("COUNT_CARD_NOT_FOR_SERVICE", field)


async def _stored_value_cards(db: AsyncConnection, actor: Actor, payments: list[PaymentSpec]) -> dict[int, object]:
    """Each stored-value payment's card, locked, with its product's discount (`percent`), by payment
    index. Cards are locked here, after the coupons the sale earns were issued and before any
    ledger account: the order every checkout takes its locks in."""
    found = {}
    for i, pay in enumerate(payments):
        if pay.method == Method.STORED_VALUE:
            found[i] = await cards.take_card(db, actor.brand_id, pay.card_id, f"payments.{i}.cardId")
    return found


def _spend(sale: _Sale) -> int:
    """What the member spent on this order (domain.members.tiers): every tender but count-card
    sessions, less what went onto cards as deposits."""
    return sum(p["amount"] for p in sale.payments if p["method"] != Method.COUNT_CARD.value) - sum(d.principal for d in sale.deposits)


def _points_earned(sale: _Sale, real_money: int) -> int:
    """积分: per whole yuan actually paid (not gift, not count-card sessions, not credit), times the
    tier's multiplier of the brand's rules."""
    if sale.order.member_id is None or real_money <= 0:
        return 0
    return real_money // 100 * tiers.rules_from_row(sale.store).multiplier_pct[Tier(sale.store.member_tier)] // 100
