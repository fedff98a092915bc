"""Reads of stored-value cards for lists (batched by the API's loaders), and the invariants that tie
card statements to the ledger."""

from __future__ import annotations

from sqlalchemy import bindparam, func, select, text, true
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.cards.stored_value import (
    TopUpRule,
    card_entries,
    card_products,
    cards,
    top_up_rules,
)
from domain.ledger.postings import accounts
from domain.ledger.verify import Check
from domain.db import Id
from domain.prepared import Prepared, expanding_in as _expanding_in, with_list

_principal = accounts.alias("principal")


_gift = accounts.alias("gift")


_card_with_balances = select(
    cards, _principal.c.balance.label("principal"), _gift.c.balance.label("gift")
).select_from(
    cards.join(_principal, _principal.c.id == cards.c.principal_account_id).join(_gift, _gift.c.id == cards.c.gift_account_id)
)


# The statements of the member read are built once with bind parameters (issue 12): building one
# per call cost more than sending it, and a pre-built statement hits SQLAlchemy's compiled cache
# without rebuilding the cache key's tree.
_cards_by_member_ids = with_list(lambda is_in: _card_with_balances.where(is_in(cards.c.member_id, "ids")).order_by(cards.c.id))
_cards_by_ids = with_list(lambda is_in: _card_with_balances.where(is_in(cards.c.id, "ids")))


async def cards_by_member_ids(db: AsyncConnection, member_ids: list[int]) -> dict[int, list]:
    found: dict[int, list] = {i: [] for i in member_ids}
    for row in await _cards_by_member_ids.execute(db, {"ids": member_ids}):
        found[row.member_id].append(row)
    return found


async def cards_by_ids(db: AsyncConnection, ids: list[int]) -> dict[int, object]:
    return {r.id: r for r in await _cards_by_ids.execute(db, {"ids": ids})}


async def products_by_ids(db: AsyncConnection, ids: list[int]) -> dict[int, object]:
    return {r.id: r for r in await db.execute(select(card_products).where(card_products.c.id.in_(ids)))}


async def rules_by_product_ids(db: AsyncConnection, ids: list[int]) -> dict[int, list[TopUpRule]]:
    found: dict[int, list[TopUpRule]] = {i: [] for i in ids}
    rows = await db.execute(
        select(top_up_rules.c.product_id, top_up_rules.c.threshold, top_up_rules.c.bonus, top_up_rules.c.coupon_template_id)
        .where(top_up_rules.c.product_id.in_(ids)).order_by(top_up_rules.c.threshold)
    )
    for product_id, threshold, bonus, template_id in rows:
        found[product_id].append(TopUpRule(threshold, bonus, template_id))
    return found


async def list_products(db: AsyncConnection, brand_id: int) -> list:
    return list(await db.execute(select(card_products).where(card_products.c.brand_id == brand_id).order_by(card_products.c.id)))


def _entries_pages_statement(after_cursor: bool, is_in):
    ranked = select(
        card_entries,
        func.row_number().over(partition_by=card_entries.c.member_id, order_by=card_entries.c.id.desc()).label("rank"),
    ).where(is_in(card_entries.c.member_id, "member_ids"))
    if after_cursor:
        ranked = ranked.where(card_entries.c.id < bindparam("before_id"))
    sub = ranked.subquery()
    return select(sub).where(sub.c.rank <= bindparam("limit")).order_by(sub.c.member_id, sub.c.id.desc())


def _newest_lines(member_id, after_cursor: bool):
    """A member's lines, newest first, through the (member_id, id) index: `limit` of them, however
    many lines the member has."""
    page = select(card_entries).where(card_entries.c.member_id == member_id)
    if after_cursor:
        page = page.where(card_entries.c.id < bindparam("before_id"))
    return page.order_by(card_entries.c.id.desc()).limit(bindparam("limit"))


def _entries_pages_lateral(after_cursor: bool):
    """PostgreSQL's form for several members: each one's newest lines (the window function numbers
    every line of the member)."""
    member = func.unnest(bindparam("member_ids", type_=ARRAY(Id))).table_valued("id").render_derived(name="wanted")
    page = _newest_lines(member.c.id, after_cursor).lateral("page")
    return select(page).select_from(member.join(page, true())).order_by(page.c.member_id, page.c.id.desc())


def _entries_page_of_one(after_cursor: bool):
    """One member's page, the usual batch (see domain.prepared.ListPrepared: PostgreSQL plans a
    statement over an array anew each time)."""
    return _newest_lines(bindparam("member_id", type_=Id), after_cursor)


# Built once (it was rebuilt per call: 29 % of a member read's samples): the first page, and a page
# after a cursor; of one member, and of several.
_entries_first_page = Prepared(_entries_pages_statement(False, _expanding_in), postgresql=_entries_pages_lateral(False))
_entries_page_after = Prepared(_entries_pages_statement(True, _expanding_in), postgresql=_entries_pages_lateral(True))
_one_members_first_page = Prepared(_entries_page_of_one(False))
_one_members_page_after = Prepared(_entries_page_of_one(True))


async def entries_pages(db: AsyncConnection, member_ids: list[int], *, first: int, before_id: int | None) -> dict[int, list]:
    """Newest-first statement pages of several members in one statement: up to first + 1 lines
    each, so the caller can tell whether more follow."""
    if len(member_ids) == 1:
        params = {"member_id": member_ids[0], "limit": first + 1}
        if before_id is None:
            rows = await _one_members_first_page.execute(db, params)
        else:
            rows = await _one_members_page_after.execute(db, {**params, "before_id": before_id})
    elif before_id is None:
        rows = await _entries_first_page.execute(db, {"member_ids": member_ids, "limit": first + 1})
    else:
        rows = await _entries_page_after.execute(db, {"member_ids": member_ids, "limit": first + 1, "before_id": before_id})
    found: dict[int, list] = {i: [] for i in member_ids}
    for row in rows:
        found[row.member_id].append(row)
    return found


async def verify(db: AsyncConnection):
    """Card statements agree with the ledger: each line's deltas are the postings of its transfer on
    the card's accounts, and the last line's balances are the accounts' balances."""
    n = await db.scalar(select(func.count()).select_from(card_entries))
    rows = await db.execute(
        text(
            "SELECT e.id, e.principal_delta, e.gift_delta,"
            " COALESCE((SELECT -SUM(p.amount) FROM postings p WHERE p.transfer_id = e.transfer_id AND p.account_id = c.principal_account_id), 0),"
            " COALESCE((SELECT -SUM(p.amount) FROM postings p WHERE p.transfer_id = e.transfer_id AND p.account_id = c.gift_account_id), 0)"
            " FROM card_entries e JOIN stored_value_cards c ON c.id = e.card_id"
        )
    )
    broken = [f"entry {eid}: says {pd}/{gd}, ledger {lp}/{lg}" for eid, pd, gd, lp, lg in rows if (pd, gd) != (lp, lg)]
    checks = [Check("every card statement line matches its ledger postings", n, broken)]
    rows = await db.execute(
        text(
            "SELECT c.id, e.principal_after, e.gift_after, pa.balance, ga.balance FROM stored_value_cards c"
            " JOIN accounts pa ON pa.id = c.principal_account_id JOIN accounts ga ON ga.id = c.gift_account_id"
            " LEFT JOIN card_entries e ON e.id = (SELECT MAX(id) FROM card_entries WHERE card_id = c.id)"
        )
    )
    n = 0
    broken = []
    for cid, p_after, g_after, p_bal, g_bal in rows:
        n += 1
        if (p_after or 0, g_after or 0) != (p_bal, g_bal):
            broken.append(f"card {cid}: statement {p_after}/{g_after}, ledger {p_bal}/{g_bal}")
    checks.append(Check("every card's latest statement balance equals its ledger balance", n, broken))
    return checks
