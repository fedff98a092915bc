"""Which tender pays which order line, decided once at checkout and kept, so that a refund of a line
goes back to the tenders that paid that line (never turning stored value or gift into cash).

Pure: no database. Order of payment:
1. stored-value payments with an amount, in the order given: services first, at the card's
   discount, then other lines at list price; a part-paid service line earns the discount only on
   the part the card pays;
2. other payments with an amount, in the order given: other lines first, then services, at list;
3. the one payment without an amount takes everything left (a stored-value card at its discount).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from domain.errors import DomainError

STORED_VALUE = "STORED_VALUE"


def round_half_up(numerator: int, denominator: int) -> int:
    return (numerator * 2 + denominator) // (2 * denominator)


def discounted(list_amount: int, percent: int) -> int:
    """What a member pays for `list_amount` at `percent` (85 is 85折), to the nearest fen, half up."""
    return round_half_up(list_amount * percent, 100)


@dataclass(frozen=True)
class Tender:
    method: str
    amount: int | None  # None: takes the rest
    percent: int | None = None  # stored value: the card's service discount


@dataclass
class Allocation:
    amounts: dict[int, int] = field(default_factory=dict)  # tender index -> amount
    paid: list[tuple[int, int, int]] = field(default_factory=list)  # (tender index, line id, amount)
    discount: dict[int, int] = field(default_factory=dict)  # line id -> stored-value discount

    @property
    def due(self) -> int:
        return sum(self.amounts.values())


def allocate_tenders(lines: list[tuple[int, bool, int]], tenders: list[Tender]) -> Allocation:
    """`lines`: (line id, is a service, list amount still to pay); `tenders`: the money payments."""
    remaining = {line_id: amount for line_id, _, amount in lines}
    services = [line_id for line_id, is_service, _ in lines if is_service]
    others = [line_id for line_id, is_service, _ in lines if not is_service]
    result = Allocation(discount={line_id: 0 for line_id, _, _ in lines})

    def pay(index: int, line_id: int, amount: int) -> None:
        result.paid.append((index, line_id, amount))
        result.amounts[index] = result.amounts.get(index, 0) + amount

    def spend_on_services(index: int, budget: int | None, percent: int) -> int | None:
        for line_id in services:
            left = remaining[line_id]
            if not left or budget == 0:
                continue
            full_price = discounted(left, percent)
            if budget is None or budget >= full_price:
                cost, covered = full_price, left
            else:
                cost, covered = budget, min(left, budget * 100 // percent)
            if cost:
                pay(index, line_id, cost)
            result.discount[line_id] += covered - cost
            remaining[line_id] -= covered
            if budget is not None:
                budget -= cost
        return budget

    def spend_at_list(index: int, budget: int | None, order: list[int]) -> int | None:
        for line_id in order:
            left = remaining[line_id]
            if not left or budget == 0:
                continue
            cost = left if budget is None else min(left, budget)
            pay(index, line_id, cost)
            remaining[line_id] -= cost
            if budget is not None:
                budget -= cost
        return budget

    indexed = list(enumerate(tenders))
    fixed_sv = [(i, t) for i, t in indexed if t.method == STORED_VALUE and t.amount is not None]
    fixed_other = [(i, t) for i, t in indexed if t.method != STORED_VALUE and t.amount is not None]
    open_ = [(i, t) for i, t in indexed if t.amount is None]
    for i, t in fixed_sv:
        left = spend_at_list(i, spend_on_services(i, t.amount, t.percent or 100), others)
        if left:
            raise _mismatch(tenders, result, remaining)
    for i, t in fixed_other:
        if spend_at_list(i, t.amount, others + services):
            raise _mismatch(tenders, result, remaining)
    for i, t in open_:
        if t.method == STORED_VALUE:
            spend_on_services(i, None, t.percent or 100)
        spend_at_list(i, None, others + services)
        if not result.amounts.get(i):
            raise _mismatch(tenders, result, remaining)
    if any(remaining.values()):
        raise _mismatch(tenders, result, remaining)
    return result


def _mismatch(tenders: list[Tender], result: Allocation, remaining: dict[int, int]) -> DomainError:
    paid = sum(t.amount or 0 for t in tenders)
    due = result.due + sum(remaining.values())
    return DomainError("PAYMENT_MISMATCH", "payments", paid=f"¥{paid / 100:,.2f}", due=f"¥{due / 100:,.2f}")
