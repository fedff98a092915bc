"""What a paid order keeps of its payments: each tender's row, which tender paid how much of which
line (refunds of a line go back to exactly these), and each line's final amounts."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, String, Table, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.db import Id, metadata
from domain.sales.orders import order_lines
from domain.writes import Write, insert_write, update_write

order_payments = Table(
    "order_payments",
    metadata,
    Column("id", Id, primary_key=True),
    Column("order_id", Id, ForeignKey("orders.id"), nullable=False, index=True),
    Column("method", String(20), nullable=False),
    Column("amount", Id, nullable=False),
    Column("principal", Id, nullable=False, default=0),
    Column("gift", Id, nullable=False, default=0),
    Column("card_id", Id, ForeignKey("stored_value_cards.id"), nullable=True),
    Column("count_card_id", Id, ForeignKey("count_cards.id"), nullable=True),
    Column("count_card_use_id", Id, nullable=True),
    Column("order_line_id", Id, nullable=True),
    Column("refunded_amount", Id, nullable=False, default=0),
    Column("refunded_principal", Id, nullable=False, default=0),
    Column("refunded_gift", Id, nullable=False, default=0),
)


# Which tender paid how much of which line: refunds of a line go back to exactly these.
order_line_tenders = Table(
    "order_line_tenders",
    metadata,
    Column("id", Id, primary_key=True),
    Column("order_line_id", Id, ForeignKey("order_lines.id"), nullable=False, index=True),
    Column("order_payment_id", Id, ForeignKey("order_payments.id"), nullable=False),
    Column("amount", Id, nullable=False),
    Column("refunded", Id, nullable=False, default=0),
)


_insert_payment = insert(order_payments).returning(order_payments.c.id)
_insert_line_tenders = insert(order_line_tenders)


async def record_payments(db: AsyncConnection, order_id: int, payments: list[dict], line_tenders: list[tuple[int, int, int]], lines: list, later: list) -> None:
    """The order's payments, which tender paid which line, and each line's final amounts. On
    PostgreSQL all of it goes `later`, each payment a CTE whose id its line tenders take; SQLite
    has no INSERT in a CTE, so it learns each payment's id first."""
    tenders_of: dict[int, list[tuple[int, int]]] = {}
    for i, line_id, amount in line_tenders:
        tenders_of.setdefault(i, []).append((line_id, amount))
    for n, p in enumerate(payments):
        row = {"order_id": order_id, "principal": 0, "gift": 0, "card_id": None, "count_card_id": None, "count_card_use_id": None,
               "order_line_id": None, "refunded_amount": 0, "refunded_principal": 0, "refunded_gift": 0,
               **{k: v for k, v in p.items() if k != "index"}}
        paid_lines = tenders_of.get(p["index"], []) if "index" in p else []
        if db.dialect.name == "postgresql":
            later.append(_payment_write(row, n))
            later.extend(_line_tender_write(f"payment_{n}", line_id, amount) for line_id, amount in paid_lines)
            continue
        payment_id = (await db.execute(_insert_payment, row)).scalar_one()
        if paid_lines:
            await db.execute(_insert_line_tenders, [
                {"order_line_id": line_id, "order_payment_id": payment_id, "amount": amount, "refunded": 0} for line_id, amount in paid_lines
            ])
    later.extend(
        update_write(order_lines, line.row.id, {
            "list_amount": line.row.unit_price * line.row.quantity, "discount": line.discount, "covered_units": line.covered_units,
            "net_amount": line.covered_value + line.money_net,
        })
        for line in lines
    )


def _payment_write(row: dict, n: int) -> Write:
    """The order's n-th payment. Each after the first selects from the one before: the CTEs of one
    statement run in no set order, and a breakdown lists payments in the order of their ids."""
    name = f"payment_{n}"
    if n == 0:
        return insert_write(order_payments, row, returning=(order_payments.c.id,), name=name)
    keys, previous = tuple(row), f"payment_{n - 1}"

    def build(param, ctes, _dialect):
        values = select(*(param(k, order_payments.c[k].type) for k in keys)).select_from(ctes[previous])
        return insert(order_payments).from_select(list(keys), values).returning(order_payments.c.id)

    return Write(("payment_after", keys), build, row, name=name, reads=(previous,))


def _line_tender_write(payment: str, line_id: int, amount: int) -> Write:
    """Which line a payment paid how much of, the payment's id read from its CTE in the same statement."""
    def build(param, ctes, _dialect):
        return insert(order_line_tenders).from_select(
            ["order_line_id", "order_payment_id", "amount", "refunded"],
            select(param("order_line_id", Id), ctes[payment].c.id, param("amount", Id), literal(0, Id)),
        )

    return Write(("line_tender",), build, {"order_line_id": line_id, "amount": amount}, reads=(payment,))


async def payments_by_order_ids(db: AsyncConnection, ids: list[int]) -> dict[int, list]:
    found: dict[int, list] = {i: [] for i in ids}
    for row in await db.execute(select(order_payments).where(order_payments.c.order_id.in_(ids)).order_by(order_payments.c.id)):
        found[row.order_id].append(row)
    return found
