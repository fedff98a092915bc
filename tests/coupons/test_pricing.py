"""The pricing order as pure functions, in exact fen: each kind, the spread by largest remainder,
and the card's discount on what is left (the worked example of DESIGN.md §7)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.coupons.pricing import Line, Terms, shares, spread, threshold_met
from domain.sales.allocation import Tender, allocate_tenders

OFF_300_50 = Terms("THRESHOLD_OFF", threshold=30000, amount_off=5000)


def test_the_worked_example_a_388_service_300_off_50_and_an_85_card_pays_28730():
    lines = [Line(1, "SERVICE", 7, 38800, 1)]
    taken = shares(OFF_300_50, lines)
    assert taken == {1: 5000}
    split = allocate_tenders([(1, True, 38800 - taken[1])], [Tender("STORED_VALUE", None, 85)])
    assert split.amounts == {0: 28730} and split.discount == {1: 33800 - 28730}


def test_a_threshold_discount_is_spread_by_largest_remainder_over_the_lines_in_scope():
    lines = [Line(1, "SERVICE", 7, 10000, 1), Line(2, "SERVICE", 8, 10000, 1), Line(3, "PRODUCT", 9, 10001, 1), Line(4, "COUNT_CARD", 5, 50000, 1)]
    # 1666 each and 2 fen left: the largest remainder (line 3), then the earlier of two equal ones.
    assert shares(OFF_300_50, lines) == {1: 1667, 2: 1666, 3: 1667}


def test_the_threshold_is_reached_by_the_list_amount_of_the_lines_in_scope_only():
    terms = Terms("THRESHOLD_OFF", threshold=30000, amount_off=5000, service_ids=frozenset({7}))
    lines = [Line(1, "SERVICE", 7, 29900, 1), Line(2, "SERVICE", 8, 50000, 1)]
    assert not threshold_met(terms, lines) and shares(terms, lines) == {}
    assert shares(terms, [Line(1, "SERVICE", 7, 15000, 2), Line(2, "SERVICE", 8, 50000, 1)]) == {1: 5000}


def test_a_percent_coupon_takes_its_percent_half_up_and_stops_at_its_cap():
    eighty = Terms("PERCENT_OFF", percent_off=20, max_discount=10000)
    assert shares(eighty, [Line(1, "SERVICE", 7, 38800, 1)]) == {1: 7760}
    assert shares(eighty, [Line(1, "SERVICE", 7, 58800, 1)]) == {1: 10000}
    assert shares(Terms("PERCENT_OFF", percent_off=15), [Line(1, "PRODUCT", 3, 333, 1)]) == {1: 50}  # 49.95 -> 50


def test_a_free_service_frees_the_dearest_unit_of_its_services():
    voucher = Terms("FREE_SERVICE", service_ids=frozenset({7, 8}))
    lines = [Line(1, "SERVICE", 7, 19800, 2), Line(2, "SERVICE", 8, 38800, 1), Line(3, "SERVICE", 9, 99900, 1)]
    assert shares(voucher, lines) == {2: 38800}
    assert shares(voucher, [Line(3, "SERVICE", 9, 99900, 1)]) == {}


def test_buy_three_get_one_frees_every_fourth_unit_cheapest_first():
    deal = Terms("BUY_N_GET_ONE", buy_count=3, service_ids=frozenset({7, 8}))
    assert shares(deal, [Line(1, "SERVICE", 7, 10000, 3)]) == {}
    assert shares(deal, [Line(1, "SERVICE", 7, 10000, 4)]) == {1: 10000}
    lines = [Line(1, "SERVICE", 7, 10000, 5), Line(2, "SERVICE", 8, 8000, 3)]  # 8 units: two free, both at 80
    assert shares(deal, lines) == {2: 16000}


def test_a_second_coupon_takes_no_more_than_the_lines_have_left():
    lines = [Line(1, "SERVICE", 7, 6000, 1)]
    first = shares(Terms("THRESHOLD_OFF", amount_off=5000), lines)
    assert first == {1: 5000} and shares(Terms("THRESHOLD_OFF", amount_off=5000), lines, first) == {1: 1000}


@settings(max_examples=300, deadline=None)
@given(
    amounts=st.lists(st.tuples(st.integers(1, 100_000), st.integers(1, 5)), min_size=1, max_size=8),
    kind=st.sampled_from(["THRESHOLD_OFF", "PERCENT_OFF", "FREE_SERVICE", "BUY_N_GET_ONE"]),
    off=st.integers(1, 2_000_000), percent=st.integers(1, 99), cap=st.one_of(st.none(), st.integers(1, 500_000)),
    buy=st.integers(1, 5), threshold=st.integers(0, 300_000),
)
def test_a_discount_never_exceeds_the_lines_in_scope_and_its_shares_sum_to_it(amounts, kind, off, percent, cap, buy, threshold):
    lines = [Line(i, "SERVICE", i % 3, price, units) for i, (price, units) in enumerate(amounts)]
    terms = Terms(kind, threshold=threshold, amount_off=off, percent_off=percent, max_discount=cap, buy_count=buy, service_ids=frozenset({0, 1}))
    taken = shares(terms, lines)
    scope = {l.id: l.amount for l in lines if l.item_id in (0, 1)}
    assert set(taken) <= set(scope)
    assert all(0 < v <= scope[i] for i, v in taken.items())
    if cap is not None:
        assert sum(taken.values()) <= cap
    if kind == "THRESHOLD_OFF" and taken:
        assert sum(taken.values()) == min(off, cap or off, sum(scope.values()))


@settings(max_examples=300, deadline=None)
@given(discount=st.integers(0, 10**7), amounts=st.lists(st.integers(0, 10**6), min_size=1, max_size=10))
def test_spread_sums_to_the_discount_and_no_share_passes_its_line(discount, amounts):
    total = sum(amounts)
    discount = min(discount, total)
    found = spread(discount, list(enumerate(amounts)))
    assert sum(found.values()) == (discount if total else 0)
    assert all(0 <= found[i] <= a for i, a in enumerate(amounts))
