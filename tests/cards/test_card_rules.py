"""The pure rules of stored-value cards (DESIGN.md §4): which balance pays a spend, and the tiered
top-up bonus. No database."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.brands.stores import SplitRule
from domain.cards.spending import split_spend
from domain.cards.stored_value import TopUpRule, bonus_for

P, PF, GF = SplitRule.PROPORTIONAL, SplitRule.PRINCIPAL_FIRST, SplitRule.GIFT_FIRST


# --- split_spend ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "principal", "gift", "expected"),
    [
        # 100000:20000 is 5:1; 10001 * 1/6 = 1666.83 -> gift 1666, the remainder fen to principal.
        (10001, 100_000, 20_000, (8335, 1666)),
        (12000, 100_000, 20_000, (10000, 2000)),  # divides exactly
        (1, 100_000, 20_000, (1, 0)),  # a single fen: gift's share rounds down to nothing
        (5, 5, 5, (3, 2)),  # 2.5 each: the half fen goes to principal
        (1, 1, 1, (1, 0)),
        (2, 1, 1, (1, 1)),
        (3, 1, 2, (1, 2)),
        (120_000, 100_000, 20_000, (100_000, 20_000)),  # the whole balance takes both wholly
        (500, 1000, 0, (500, 0)),  # no gift
        (500, 0, 1000, (0, 500)),  # gift only
        (1000, 0, 1000, (0, 1000)),
        (7, 3, 7, (3, 4)),  # 7 * 7/10 = 4.9 -> 4; principal 3 is exactly its balance
    ],
)
def test_proportional_split_is_exact_and_the_remainder_fen_goes_to_principal(amount, principal, gift, expected):
    assert split_spend(amount, principal, gift, P) == expected


@pytest.mark.parametrize(
    ("amount", "principal", "gift", "expected"),
    [
        (10001, 100_000, 20_000, (10001, 0)),
        (100_000, 100_000, 20_000, (100_000, 0)),  # exactly the principal
        (100_001, 100_000, 20_000, (100_000, 1)),  # one fen over spills onto gift
        (120_000, 100_000, 20_000, (100_000, 20_000)),
        (300, 0, 500, (0, 300)),  # no principal: gift pays
        (1, 1, 0, (1, 0)),
    ],
)
def test_principal_first_takes_principal_then_gift(amount, principal, gift, expected):
    assert split_spend(amount, principal, gift, PF) == expected


@pytest.mark.parametrize(
    ("amount", "principal", "gift", "expected"),
    [
        (10001, 100_000, 20_000, (0, 10001)),
        (20_000, 100_000, 20_000, (0, 20_000)),  # exactly the gift
        (20_001, 100_000, 20_000, (1, 20_000)),  # one fen over spills onto principal
        (120_000, 100_000, 20_000, (100_000, 20_000)),
        (300, 500, 0, (300, 0)),  # no gift: principal pays
        (1, 0, 1, (0, 1)),
    ],
)
def test_gift_first_takes_gift_then_principal(amount, principal, gift, expected):
    assert split_spend(amount, principal, gift, GF) == expected


@pytest.mark.parametrize("rule", list(SplitRule))
def test_split_rule_accepts_the_stored_string(rule):
    """brands.split_rule is stored as text; the value read back must select the same rule."""
    assert split_spend(10001, 100_000, 20_000, SplitRule(rule.value)) == split_spend(10001, 100_000, 20_000, rule)


balances = st.integers(min_value=0, max_value=200_000_000)


@st.composite
def spend_cases(draw):
    principal = draw(balances)
    gift = draw(balances)
    if principal + gift == 0:
        principal = draw(st.integers(min_value=1, max_value=200_000_000))
    amount = draw(
        st.one_of(
            st.integers(min_value=1, max_value=principal + gift),
            # the edges: one fen, the whole balance, exactly one of the two balances
            st.sampled_from(sorted({1, principal + gift, max(1, principal), max(1, gift)})),
        )
    )
    return amount, principal, gift


@settings(max_examples=500, deadline=None)
@given(case=spend_cases(), rule=st.sampled_from(list(SplitRule)))
def test_every_split_sums_to_the_amount_within_both_balances(case, rule):
    amount, principal, gift = case
    from_principal, from_gift = split_spend(amount, principal, gift, rule)
    assert isinstance(from_principal, int) and isinstance(from_gift, int)
    assert from_principal + from_gift == amount
    assert 0 <= from_principal <= principal, (from_principal, principal)
    assert 0 <= from_gift <= gift, (from_gift, gift)
    if rule == P:
        assert from_gift == amount * gift // (principal + gift)
    elif rule == PF:
        assert from_principal == min(amount, principal)
    else:
        assert from_gift == min(amount, gift)


@settings(max_examples=300, deadline=None)
@given(case=spend_cases())
def test_proportional_split_never_favours_gift_over_the_ratio(case):
    """Principal pays at least its exact share and less than one fen more."""
    amount, principal, gift = case
    from_principal, _ = split_spend(amount, principal, gift, P)
    exact_times_total = amount * principal  # the exact share times (principal + gift)
    assert from_principal * (principal + gift) >= exact_times_total
    assert (from_principal - 1) * (principal + gift) < exact_times_total


# --- bonus_for --------------------------------------------------------------------------------

TIERS = [TopUpRule(100_000, 20_000), TopUpRule(50_000, 8_000), TopUpRule(300_000, 80_000)]  # deliberately unsorted


@pytest.mark.parametrize(
    ("amount", "bonus"),
    [
        (1, 0),
        (49_999, 0),  # below the lowest threshold
        (50_000, 8_000),  # exactly at a threshold counts
        (50_001, 8_000),
        (99_999, 8_000),
        (100_000, 20_000),
        (299_999, 20_000),
        (300_000, 80_000),
        (10_000_000, 80_000),  # far above the highest: the highest tier, not a multiple
    ],
)
def test_the_highest_threshold_reached_applies(amount, bonus):
    assert bonus_for(TIERS, amount) == bonus


def test_no_rules_no_bonus():
    assert bonus_for([], 1) == 0
    assert bonus_for([], 100_000_000) == 0


def test_a_zero_bonus_tier_still_overrides_lower_tiers():
    """The highest tier reached applies even when its bonus is smaller (a product may say so)."""
    rules = [TopUpRule(1_000, 100), TopUpRule(5_000, 0)]
    assert bonus_for(rules, 4_999) == 100
    assert bonus_for(rules, 5_000) == 0


rule_sets = st.lists(
    st.builds(TopUpRule, threshold=st.integers(min_value=1, max_value=1_000_000), bonus=st.integers(min_value=0, max_value=1_000_000)),
    max_size=8,
    unique_by=lambda r: r.threshold,
)


@settings(max_examples=300, deadline=None)
@given(rules=rule_sets, amount=st.integers(min_value=1, max_value=2_000_000))
def test_bonus_is_that_of_the_highest_threshold_reached(rules, amount):
    reached = sorted((r for r in rules if r.threshold <= amount), key=lambda r: r.threshold)
    assert bonus_for(rules, amount) == (reached[-1].bonus if reached else 0)
    assert bonus_for(list(reversed(rules)), amount) == bonus_for(rules, amount)  # order of rules is irrelevant
    for rule in rules:
        assert bonus_for(rules, rule.threshold) == rule.bonus  # exactly at a threshold counts
