"""Stored-value cards against a model (DESIGN.md §4): random sequences of top-ups, spends, refunds
of earlier spends, freezes and split-rule changes run through the real domain services on the real
database, one committed transaction each, and after every step the database must agree with a
plain Python model of each card's principal and gift, the stores' accounts and the members' tiers;
the ledger invariants (`meiye ledger verify`) must hold; and an operation the model says must fail
fails with the model's error code and changes nothing.

Hypothesis drives plain synchronous examples: each one runs its own event loop and its own engine
(pytest-asyncio's session loop is not running while a synchronous test runs), empties the tables
and seeds a fresh brand through the domain functions.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from domain.actor import Actor, Role
from domain.audit import audit_log
from domain.brands.staff import create_staff
from domain.brands.stores import (
    SplitRule,
    create_brand,
    create_store,
    get_brand,
    update_brand_settings,
)
from domain.cards import reads as card_reads
from domain.cards import spending as card_spending
from domain.cards import stored_value as card_service
from domain.cards.stored_value import Tender, TopUpRule
from domain.db import create_engine, read_transaction, write_transaction
from domain.errors import DomainError
from domain.invariants import verify_all
from domain.ledger.postings import AccountKind, accounts, postings, transfers
from domain.members.members import Tier, members, register_member
from domain.members.pii import PiiCipher
from domain.models import metadata
from domain.validation import MAX_AMOUNT

MIN_STEPS, MAX_STEPS = 10, 25
NO_SUCH_ID = 987_654_321
CIPHER = PiiCipher(b"meiye-property-test-data-key-0123456789")

# Two card products: tiered bonuses (thresholds crossed on purpose) and one without any.
PRODUCTS = {
    "金卡": (85, [TopUpRule(50_000, 8_000), TopUpRule(100_000, 20_000), TopUpRule(300_000, 80_000)]),
    "次卡储值": (100, []),
}
PRODUCT_NAMES = list(PRODUCTS)
CARD_KINDS = (AccountKind.CARD_PRINCIPAL.value, AccountKind.CARD_GIFT.value)


# --- the model --------------------------------------------------------------------------------


class Expected(Exception):
    """The model's prediction that an operation fails with this code."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def model_bonus(rules: list[TopUpRule], amount: int) -> int:
    best = None
    for rule in rules:
        if rule.threshold <= amount and (best is None or rule.threshold > best.threshold):
            best = rule
    return best.bonus if best else 0


def model_split(amount: int, principal: int, gift: int, rule: SplitRule) -> tuple[int, int]:
    """DESIGN.md §4, written out independently of domain.cards.split_spend."""
    if rule == SplitRule.PRINCIPAL_FIRST:
        p = principal if amount > principal else amount
        return p, amount - p
    if rule == SplitRule.GIFT_FIRST:
        g = gift if amount > gift else amount
        return amount - g, g
    g = (amount * gift) // (principal + gift)  # gift's share rounded down: the remainder fen is principal's
    return amount - g, g


def check_model_amount(amount: int) -> None:
    if amount <= 0:
        raise Expected("AMOUNT_NOT_POSITIVE")
    if amount > MAX_AMOUNT:
        raise Expected("AMOUNT_TOO_LARGE")


@dataclass
class MCard:
    id: int
    member: int  # index into World.member_ids
    product: int  # index into PRODUCT_NAMES
    issued_store: int  # store id
    principal: int = 0
    gift: int = 0
    frozen: bool = False


@dataclass
class MSpend:
    transfer_id: int
    card_id: int
    store_id: int
    took_p: int
    took_g: int
    back_p: int = 0
    back_g: int = 0

    @property
    def left(self) -> tuple[int, int]:
        return self.took_p - self.back_p, self.took_g - self.back_g


@dataclass
class Model:
    rule: SplitRule
    cards: dict[int, MCard] = field(default_factory=dict)  # by card id
    by_key: dict[tuple[int, int], int] = field(default_factory=dict)  # (member, product) -> card id
    spends: list[MSpend] = field(default_factory=list)
    other_transfers: list[int] = field(default_factory=list)  # top-ups and refunds: never refundable
    store_accounts: dict[str, int] = field(default_factory=dict)  # by account code, natural direction
    top_up_total: dict[int, int] = field(default_factory=dict)  # by member id
    tier: dict[int, Tier] = field(default_factory=dict)

    def post(self, code: str, delta: int) -> None:
        self.store_accounts[code] = self.store_accounts.get(code, 0) + delta


def tier_for(total: int) -> Tier:
    # The brand's default thresholds (brands.silver_threshold / gold_threshold).
    return Tier.GOLD if total >= 1_000_000 else Tier.SILVER if total >= 300_000 else Tier.NORMAL


# --- the world: one seeded brand per example ---------------------------------------------------


@dataclass
class World:
    brand_id: int
    actor: Actor
    store_ids: list[int]
    member_ids: list[int]
    product_ids: list[int]


async def empty_database(engine) -> None:
    """As conftest's clean_database, but DELETE on PostgreSQL too: TRUNCATE of every table costs
    about half a second per example there, DELETE of a few dozen rows next to nothing. Ids need not
    restart: the model only ever uses ids the domain handed back."""
    async with write_transaction(engine) as db:
        for table in reversed(metadata.sorted_tables):
            await db.execute(table.delete())


async def seed(engine, rule: SplitRule) -> World:
    async with write_transaction(engine) as db:
        brand_id = await create_brand(db, name="性质测试品牌")
        store_ids = [await create_store(db, brand_id=brand_id, name=n) for n in ("静安店", "徐汇店")]
        staff_id = await create_staff(
            db, brand_id=brand_id, store_id=None, username="prop-owner", name="店主", role=Role.OWNER, password="meiye-prop-test"
        )
        actor = Actor(staff_id=staff_id, brand_id=brand_id, role=Role.OWNER, store_id=None, name="店主")
        member_ids = [
            await register_member(db, actor, CIPHER, name=n, phone=p, store_id=store_ids[0], consent=True)
            for n, p in (("周琳", "13912345678"), ("王芳", "13812345678"))
        ]
        product_ids = [
            await card_service.create_product(db, actor, name=name, service_discount_percent=pct, rules=rules)
            for name, (pct, rules) in PRODUCTS.items()
        ]
        await update_brand_settings(db, actor, split_rule=rule)
    return World(brand_id, actor, store_ids, member_ids, product_ids)


# --- observing the database ----------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    cards: dict  # card id -> (principal, gift, frozen, member id, product id, issued store id)
    store_accounts: dict  # code -> balance
    members: dict  # member id -> (total_top_up, tier)
    counts: dict  # table -> rows
    split_rule: str
    broken: dict  # check name -> broken items


async def observe(engine, world: World) -> Snapshot:
    async with read_transaction(engine) as db:
        by_member = await card_reads.cards_by_member_ids(db, world.member_ids)
        cards = {
            row.id: (row.principal, row.gift, row.status == card_service.CardStatus.FROZEN.value, row.member_id, row.product_id, row.issued_store_id)
            for rows in by_member.values()
            for row in rows
        }
        # A store's account is the sum of its shards (domain.ledger.store_accounts): `…#3` is shard 3.
        store_accounts: dict[str, int] = {}
        for code, balance in await db.execute(select(accounts.c.code, accounts.c.balance).where(accounts.c.kind.not_in(CARD_KINDS))):
            base = code.split("#")[0]
            store_accounts[base] = store_accounts.get(base, 0) + balance
        member_rows = {
            mid: (total, Tier(tier))
            for mid, total, tier in await db.execute(select(members.c.id, members.c.total_top_up, members.c.tier))
        }
        tables = (transfers, postings, card_service.card_entries, card_service.cards, accounts, audit_log)
        row = (await db.execute(select(*(select(func.count()).select_from(t).scalar_subquery() for t in tables)))).one()
        counts = {t.name: n for t, n in zip(tables, row)}
        split_rule = (await get_brand(db, world.brand_id)).split_rule
        checks = await verify_all(db)
    broken = {c.name: c.broken for c in checks if c.broken}
    return Snapshot(cards, store_accounts, member_rows, counts, split_rule, broken)


def assert_agrees(snap: Snapshot, model: Model, world: World) -> None:
    assert not snap.broken, f"ledger verify broke: {snap.broken}"
    expected_cards = {
        c.id: (c.principal, c.gift, c.frozen, world.member_ids[c.member], world.product_ids[c.product], c.issued_store)
        for c in model.cards.values()
    }
    assert snap.cards == expected_cards, f"cards (principal, gift, frozen, member, product, store): db {snap.cards} model {expected_cards}"
    for c in model.cards.values():
        assert c.principal >= 0 and c.gift >= 0
    db_accounts = {code: bal for code, bal in snap.store_accounts.items() if bal != 0}
    model_accounts = {code: bal for code, bal in model.store_accounts.items() if bal != 0}
    assert db_accounts == model_accounts, f"store accounts: db {db_accounts} model {model_accounts}"
    for mid in world.member_ids:
        assert snap.members[mid] == (model.top_up_total.get(mid, 0), model.tier.get(mid, Tier.NORMAL)), (mid, snap.members[mid])
    assert snap.split_rule == model.rule.value


# --- the operations: each predicts through the model, runs for real, and updates the model ------


class Runner:
    def __init__(self, engine, world: World, model: Model, data) -> None:
        self.engine = engine
        self.world = world
        self.model = model
        self.data = data
        self.refs = itertools.count(1)
        self.last: Snapshot | None = None  # the database as the previous step left it

    def draw(self, strategy, label: str):
        return self.data.draw(strategy, label=label)

    def pick(self, label: str, choices: dict):
        """One of `choices` (name -> (weight, strategy)); the weights keep the failing cases a
        minority so that sequences get somewhere."""
        names = [name for name, (weight, _) in choices.items() for _ in range(weight)]
        name = self.draw(st.sampled_from(names), f"{label} kind")
        return self.draw(choices[name][1], label)

    def ref(self, prefix: str) -> str:
        return f"{prefix}-{next(self.refs)}"

    async def run(self, name: str, predict, act, apply) -> None:
        """`predict()` returns what the model expects (or raises Expected); `act(db)` runs the domain
        operation in its own transaction; `apply(expected, result)` checks the result and updates the model."""
        before = self.last
        try:
            expected = predict()
        except Expected as e:
            try:
                async with write_transaction(self.engine) as db:
                    result = await act(db)
            except DomainError as err:
                assert err.code == e.code, f"{name}: the model expected {e.code}, got {err.code} {err.params}"
            else:
                pytest.fail(f"{name}: the model expected {e.code}, but it succeeded: {result}")
            after = await observe(self.engine, self.world)
            assert after == before, f"{name} failed with {e.code} but changed the database"
            event(f"{name}: {e.code}")
            note(f"  -> {e.code} (as predicted)")
        else:
            try:
                async with write_transaction(self.engine) as db:
                    result = await act(db)
            except DomainError as err:
                pytest.fail(f"{name}: the model expected success ({expected}), got {err.code} {err.params}")
            apply(expected, result)
            after = await observe(self.engine, self.world)
            event(f"{name}: ok" + (f" ({self.model.rule.value})" if name == "spend" else ""))
            if name == "refund" and any(c.frozen for c in self.model.cards.values()):
                event("refund: ok while a card is frozen")
            note(f"  -> ok {result}")
            if name in ("top_up", "spend", "refund"):
                for table in ("transfers", "card_entries", "audit_log"):
                    assert after.counts[table] == before.counts[table] + 1, f"{name}: {table} {before.counts[table]} -> {after.counts[table]}"
        assert_agrees(after, self.model, self.world)
        self.last = after

    # top-up ----------------------------------------------------------------------------------

    async def top_up(self) -> None:
        w, m = self.world, self.model
        member = self.draw(st.integers(0, len(w.member_ids) - 1), "member")
        product = self.draw(st.integers(0, len(PRODUCT_NAMES) - 1), "product")
        store_id = self.draw(st.sampled_from(w.store_ids), "store")
        tender = self.draw(st.sampled_from(list(Tender)), "tender")
        rules = PRODUCTS[PRODUCT_NAMES[product]][1]
        edges = sorted({x for r in rules for x in (r.threshold - 1, r.threshold, r.threshold + 1)} | {1, 299_999, 300_000})
        amount = self.pick(
            "amount",
            {
                "around a bonus threshold or tier": (3, st.sampled_from(edges)),
                "any": (3, st.integers(1, 400_000)),
                "small": (2, st.integers(1, 5_000)),
                "out of range": (1, st.sampled_from([0, -100, MAX_AMOUNT + 1])),
                "largest allowed": (1, st.just(MAX_AMOUNT)),
            },
        )
        # How the card is named: by product (issues it on the first top-up), by its id, by another
        # member's card id, or by its id with the wrong product.
        existing = m.by_key.get((member, product))
        others = sorted(cid for cid, c in m.cards.items() if c.member != member)
        how = self.draw(st.sampled_from(["product"] * 4 + ["card"] * 3 + ["other_member", "wrong_product", "no_such_card"]), "how")
        card_id = product_id = None
        if how == "card" and existing is not None:
            card_id = existing
        elif how == "other_member" and others:
            card_id = self.draw(st.sampled_from(others), "card")
        elif how == "wrong_product" and existing is not None:
            card_id, product_id = existing, w.product_ids[1 - product]
        elif how == "no_such_card":
            card_id = NO_SUCH_ID
        else:
            product_id = w.product_ids[product]
        member_id = w.member_ids[member]
        reference = self.ref("topup")
        note(f"top_up member={member} product={PRODUCT_NAMES[product]} how={how} card={card_id} amount={amount} {tender} store={store_id}")

        def predict():
            check_model_amount(amount)
            target = None
            if card_id is not None:
                if card_id not in m.cards:
                    raise Expected("NOT_FOUND")
                target = m.cards[card_id]
                if target.member != member:
                    raise Expected("CARD_MEMBER_MISMATCH")
                if product_id is not None and product_id != w.product_ids[target.product]:
                    raise Expected("INVALID_VALUE")
            else:
                target = m.cards.get(m.by_key.get((member, product)))
            if target is not None and target.frozen:
                raise Expected("CARD_FROZEN")
            card_rules = PRODUCTS[PRODUCT_NAMES[target.product if target else product]][1]
            return target, model_bonus(card_rules, amount)

        async def act(db):
            return await card_service.top_up(
                db, w.actor, member_id=member_id, store_id=store_id, amount=amount, tender=tender,
                reference=reference, card_id=card_id, product_id=product_id,
            )

        def apply(expected, result):
            target, bonus = expected
            if target is None:
                target = MCard(result.card_id, member, product, store_id)
                m.cards[target.id] = target
                m.by_key[(member, product)] = target.id
            assert result.card_id == target.id
            target.principal += amount
            target.gift += bonus
            assert (result.amount, result.bonus, result.principal, result.gift) == (amount, bonus, target.principal, target.gift), result
            m.post(f"store:{store_id}:store_tender:{tender.value}", amount)
            m.post(f"store:{store_id}:store_gift_issued", bonus)
            m.other_transfers.append(result.transfer_id)
            total = m.top_up_total[member_id] = m.top_up_total.get(member_id, 0) + amount
            m.tier[member_id] = tier_for(total)

        await self.run("top_up", predict, act, apply)

    # spend -----------------------------------------------------------------------------------

    async def spend(self) -> None:
        w, m = self.world, self.model
        funded = sorted(i for i, c in m.cards.items() if c.principal + c.gift and not c.frozen)
        card_id = self.pick(
            "card",
            {
                "an active card with money on it": (7 if funded else 0, st.sampled_from(funded or [NO_SUCH_ID])),
                "any card": (2, st.sampled_from(sorted(m.cards) or [NO_SUCH_ID])),
                "no such card": (1, st.just(NO_SUCH_ID)),
            },
        )
        store_id = self.draw(st.sampled_from(w.store_ids), "store")
        card = m.cards.get(card_id)
        p, g = (card.principal, card.gift) if card else (0, 0)
        amount = self.pick(
            "amount",
            {
                "within the balance": (5, st.integers(1, max(p + g, 1))),
                "edges: all, one fen over, exactly principal or gift": (2, st.sampled_from(sorted({max(p + g, 1), p + g + 1, max(p, 1), max(g, 1), p + 1, g + 1}))),
                "up to twice the balance": (2, st.integers(1, 2 * (p + g) + 10)),
                "a few fen": (1, st.integers(1, 50)),
                "out of range": (1, st.sampled_from([0, -1, MAX_AMOUNT + 1])),
            },
        )
        rule = m.rule
        reference = self.ref("spend")
        note(f"spend card={card_id} amount={amount} store={store_id} rule={rule.value} (model {card.principal if card else '-'}/{card.gift if card else '-'})")

        def predict():
            check_model_amount(amount)
            if card is None:
                raise Expected("NOT_FOUND")
            if card.frozen:
                raise Expected("CARD_FROZEN")
            if amount > card.principal + card.gift:
                raise Expected("INSUFFICIENT_BALANCE")
            return model_split(amount, card.principal, card.gift, rule)

        async def act(db):
            return await card_spending.spend(db, w.actor, card_id=card_id, amount=amount, store_id=store_id, reference=reference)

        def apply(expected, result):
            p, g = expected
            card.principal -= p
            card.gift -= g
            assert (result.principal, result.gift, result.principal_after, result.gift_after) == (p, g, card.principal, card.gift), (
                f"spend {amount} by {rule.value}: got {result}, model {p}/{g} leaving {card.principal}/{card.gift}"
            )
            m.post(f"store:{store_id}:store_revenue", p)
            m.post(f"store:{store_id}:store_gift_consumed", g)
            m.spends.append(MSpend(result.transfer_id, card.id, store_id, p, g))

        await self.run("spend", predict, act, apply)

    # refund of an earlier spend ----------------------------------------------------------------

    async def refund(self) -> None:
        m = self.model
        open_spends = [x for x in m.spends if sum(x.left)]
        kinds = (
            ["spend with something left"] * (7 if open_spends else 0)
            + ["any spend"] * (2 if m.spends else 0)
            + (["not_a_spend"] if m.other_transfers else [])
            + ["no_such_transfer"]
        )
        kind = self.draw(st.sampled_from(kinds), "target")
        spent = None
        if kind in ("spend with something left", "any spend"):
            spent = self.draw(st.sampled_from(open_spends if kind == "spend with something left" else m.spends), "spend")
            kind = "spend"
            transfer_id = spent.transfer_id
            left = sum(spent.left)
            took = spent.took_p + spent.took_g
            amount = self.pick(
                "amount",
                {
                    "all that is left": (3, st.none()),
                    "part of what is left": (4, st.integers(1, max(left, 1))),
                    "edges: exactly what is left, one fen over, one fen": (2, st.sampled_from(sorted({max(left, 1), left + 1, 1}))),
                    "up to what the spend took": (1, st.integers(1, took)),
                    "zero": (1, st.just(0)),
                },
            )
        elif kind == "not_a_spend":
            transfer_id = self.draw(st.sampled_from(m.other_transfers), "transfer")
            amount = self.draw(st.one_of(st.none(), st.integers(1, 1000)), "amount")
        else:
            transfer_id = NO_SUCH_ID
            amount = self.draw(st.one_of(st.none(), st.integers(1, 1000)), "amount")
        reference = self.ref("refund")
        note(f"refund {kind} transfer={transfer_id} amount={amount}" + (f" (took {spent.took_p}/{spent.took_g}, left {spent.left})" if spent else ""))

        def predict():
            if kind == "no_such_transfer":
                raise Expected("NOT_FOUND")
            if kind == "not_a_spend":
                raise Expected("NOT_REFUNDABLE")
            left_p, left_g = spent.left
            if amount is None:
                if left_p + left_g == 0:
                    raise Expected("NOT_REFUNDABLE")
                return left_p, left_g
            check_model_amount(amount)
            if amount > left_p + left_g:
                raise Expected("REFUND_EXCEEDS_SPEND")
            # Part of a spend goes back in the spend's own principal:gift proportion, gift's share
            # rounded down (the remainder fen to principal), never more of either than is left.
            g = min(left_g, amount * spent.took_g // (spent.took_p + spent.took_g))
            p = amount - g
            if p > left_p:
                p, g = left_p, amount - left_p
            return p, g

        async def act(db):
            return await card_spending.refund_spend(db, self.world.actor, transfer_id=transfer_id, reference=reference, amount=amount)

        def apply(expected, result):
            p, g = expected
            assert 0 <= p <= spent.left[0] and 0 <= g <= spent.left[1]
            card = m.cards[spent.card_id]
            card.principal += p
            card.gift += g
            spent.back_p += p
            spent.back_g += g
            assert (result.principal, result.gift, result.principal_after, result.gift_after) == (p, g, card.principal, card.gift), (
                f"refund {amount} of {spent}: got {result}, model {p}/{g} leaving {card.principal}/{card.gift}"
            )
            m.post(f"store:{spent.store_id}:store_revenue", -p)
            m.post(f"store:{spent.store_id}:store_gift_consumed", -g)
            m.other_transfers.append(result.transfer_id)

        await self.run("refund", predict, act, apply)

    # freeze / unfreeze -------------------------------------------------------------------------

    async def freeze(self) -> None:
        m = self.model
        frozen_ids = sorted(i for i, c in m.cards.items() if c.frozen)
        # Frozen cards are mostly thawed again soon, so that spends and top-ups get somewhere.
        card_id = self.pick(
            "card",
            {
                "a frozen card": (6 if frozen_ids else 0, st.sampled_from(frozen_ids or [NO_SUCH_ID])),
                "a card": (3, st.sampled_from(sorted(m.cards) or [NO_SUCH_ID])),
                "no such card": (1, st.just(NO_SUCH_ID)),
            },
        )
        card = m.cards.get(card_id)
        # Mostly a change of state; sometimes a repeat, which must be refused.
        frozen = self.pick("frozen", {"toggle": (3, st.just(not card.frozen if card else True)), "either": (1, st.booleans())})
        note(f"set_frozen card={card_id} frozen={frozen} (model {card.frozen if card else '-'})")

        def predict():
            if card is None:
                raise Expected("NOT_FOUND")
            if card.frozen == frozen:
                raise Expected("CARD_FROZEN" if frozen else "CARD_NOT_FROZEN")

        async def act(db):
            await card_service.set_frozen(db, self.world.actor, card_id=card_id, frozen=frozen, reason="挂失" if frozen else None)

        def apply(_expected, _result):
            card.frozen = frozen

        await self.run("set_frozen", predict, act, apply)

    # the brand's split rule ---------------------------------------------------------------------

    async def change_rule(self) -> None:
        rule = self.draw(st.sampled_from(list(SplitRule)), "rule")
        note(f"split rule -> {rule.value}")

        async def act(db):
            await update_brand_settings(db, self.world.actor, split_rule=rule)

        def apply(_expected, _result):
            self.model.rule = rule

        await self.run("split_rule", lambda: None, act, apply)


# --- the test ----------------------------------------------------------------------------------


async def run_example(url: str, data, rule: SplitRule) -> None:
    engine = create_engine(url)  # pooled within this example's loop, disposed of at its end
    try:
        await empty_database(engine)
        world = await seed(engine, rule)
        runner = Runner(engine, world, Model(rule=rule), data)
        runner.last = await observe(engine, world)
        assert_agrees(runner.last, runner.model, world)
        steps = data.draw(st.integers(MIN_STEPS, MAX_STEPS), label="steps")
        for _ in range(steps):
            m = runner.model
            # Hypothesis leans towards the first choice: top up until a card has money, then spend.
            if not any(c.principal + c.gift and not c.frozen for c in m.cards.values()):
                weights = {"top_up": 6, "spend": 1, "refund": 2 if m.spends else 1, "freeze": 2 if m.cards else 1, "change_rule": 1}
            else:
                weights = {"spend": 5, "refund": 3 if m.spends else 1, "top_up": 3, "freeze": 2, "change_rule": 1}
            op = data.draw(st.sampled_from([op for op, w in weights.items() for _ in range(w)]), label="op")
            await getattr(runner, op)()
    finally:
        await engine.dispose()


@pytest.mark.parametrize("rule", list(SplitRule), ids=[r.value for r in SplitRule])
@settings(
    max_examples=8,  # per split rule: 24 sequences of 10-25 steps in all
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_cards_agree_with_the_model_after_every_step(engine, database_url, rule, data):
    """Each sequence starts the brand on `rule` and may switch rules between spends;
    `pytest --hypothesis-show-statistics` lists how often each outcome was reached."""
    # A loop of our own, never installed as the thread's current loop, so pytest-asyncio's is untouched.
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(run_example(database_url, data, rule))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
