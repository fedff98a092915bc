"""What a coupon takes off an order, as pure functions (no database), in fen.

The pricing order, fixed:
1. Count-card sessions cover their units first; the rest of each line is its list amount to pay.
2. Each coupon, in the order given, takes its discount off the list amount of the lines in its
   scope (threshold reached by that list amount): THRESHOLD_OFF its amount, PERCENT_OFF its
   percent of the scope (half up) capped at maxDiscount, FREE_SERVICE the dearest unit in scope,
   BUY_N_GET_ONE every (N+1)th unit in scope, cheapest units free. A threshold or percent discount
   is spread over the lines in scope in proportion to their amounts, by largest remainder, to the
   fen; a free unit's value is the share of its own line. Shares are kept per line, so a refund
   of one line gives back exactly its share. A discount never exceeds what the lines in scope
   have left.
3. Tenders pay what is left (domain.sales.allocation); a stored-value card's service discount
   applies to what it pays, except on the lines of a coupon that does not stack with it.
"""

from __future__ import annotations

from dataclasses import dataclass

SERVICE = "SERVICE"
PRODUCT = "PRODUCT"


@dataclass(frozen=True)
class Line:
    id: int
    kind: str  # SERVICE, PRODUCT, COUNT_CARD, TOP_UP
    item_id: int
    unit_price: int
    units: int  # units still to pay (not covered by count cards)

    @property
    def amount(self) -> int:
        return self.unit_price * self.units


@dataclass(frozen=True)
class Terms:
    kind: str
    threshold: int = 0
    amount_off: int | None = None
    percent_off: int | None = None
    max_discount: int | None = None
    buy_count: int | None = None
    service_ids: frozenset[int] = frozenset()

    @classmethod
    def of(cls, template) -> "Terms":
        return cls(template.kind, template.threshold or 0, template.amount_off, template.percent_off, template.max_discount,
                   template.buy_count, frozenset(template.service_ids))


def in_scope(terms: Terms, lines: list[Line]) -> list[Line]:
    """The lines a coupon applies to: its services, or with none named every service and product
    line (never count cards bought or top-ups, which are not sales of a service)."""
    if terms.service_ids:
        return [l for l in lines if l.kind == SERVICE and l.item_id in terms.service_ids and l.units > 0]
    return [l for l in lines if l.kind in (SERVICE, PRODUCT) and l.units > 0]


def threshold_met(terms: Terms, lines: list[Line]) -> bool:
    return sum(l.amount for l in in_scope(terms, lines)) >= terms.threshold


def shares(terms: Terms, lines: list[Line], taken: dict[int, int] | None = None) -> dict[int, int]:
    """Line id -> what the coupon takes off it. `taken`: what earlier coupons on the order already
    took per line (a coupon never takes more than a line has left). Empty when nothing applies."""
    taken = taken or {}
    scope = in_scope(terms, lines)
    if not scope or not threshold_met(terms, lines):
        return {}
    left = {l.id: l.amount - taken.get(l.id, 0) for l in scope}
    if terms.kind in ("FREE_SERVICE", "BUY_N_GET_ONE"):
        found = _free_units(terms, scope)
        found = {i: min(v, left[i]) for i, v in found.items()}
    else:
        total = sum(l.amount for l in scope)
        if terms.kind == "THRESHOLD_OFF":
            discount = terms.amount_off or 0
        else:
            discount = (total * (terms.percent_off or 0) * 2 + 100) // 200
        if terms.max_discount is not None:
            discount = min(discount, terms.max_discount)
        found = spread(min(discount, sum(left.values())), [(i, a) for i, a in left.items()])
    return {i: v for i, v in found.items() if v > 0}


def _free_units(terms: Terms, scope: list[Line]) -> dict[int, int]:
    units = sorted(((l.unit_price, l.id) for l in scope for _ in range(l.units)), key=lambda u: (u[0], u[1]))
    if terms.kind == "FREE_SERVICE":
        free = [units[-1]]  # one unit, the dearest in scope
    else:
        free = units[: len(units) // ((terms.buy_count or 1) + 1)]
    found: dict[int, int] = {}
    for price, line_id in free:
        if terms.max_discount is not None:
            price = min(price, terms.max_discount - sum(found.values()))
        found[line_id] = found.get(line_id, 0) + price
    return found


def spread(discount: int, amounts: list[tuple[int, int]]) -> dict[int, int]:
    """`discount` over (line id, amount) in proportion, by largest remainder, to the fen: the shares
    sum to the discount and none exceeds its line (when the discount does not exceed the total)."""
    total = sum(a for _, a in amounts)
    if discount <= 0 or total <= 0:
        return {i: 0 for i, _ in amounts}
    base = {i: discount * a // total for i, a in amounts}
    remainders = sorted(amounts, key=lambda ia: (-(discount * ia[1] % total), amounts.index(ia)))
    for i, _ in remainders[: discount - sum(base.values())]:
        base[i] += 1
    return base
