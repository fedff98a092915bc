"""Refunds paid back through WeChat Pay or Alipay: owed from the desk's refund until the platform
confirms it, and the refunds a platform reports that we never asked for.

The ledger while a refund is owed: a desk refund of an order paid in the mini-program credits
`store:<id>:platform_refund_payable:<channel>` instead of the store's tender account, so the
revenue, count cards and points go back at once but no money is recorded as returned to the
customer. The platform's confirmation (callback or query) posts one PLATFORM_REFUND transfer that
moves the amount from the payable account out of the tender account. A refused refund (WeChat
CLOSED/ABNORMAL, an error answer) stays in the payable account, FAILED, in front of finance;
`verify` checks that every payable account holds exactly its store's unconfirmed refunds.

The desk's transaction only writes PENDING rows (an outbox): integrations/refunds.py sends them
after the commit and `meiye worker` retries and queries them, by `out_refund_no`, which both
platforms deduplicate on.

A refund the platform reports on its own (a merchant-console refund) is recorded with its amount,
flagged UNSOLICITED for finance, and moves nothing in the ledger: finance decides what it was."""

from __future__ import annotations

import datetime as dt
import enum
import secrets
from dataclasses import dataclass

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.db import (
    Id,
    UtcDateTime,
    created_at_column,
    insert_ignoring_conflicts,
    metadata,
    utcnow,
)
from domain.errors import DomainError
from domain.ledger.postings import (
    AccountKind,
    Leg,
    accounts,
    ensure_accounts,
    post_transfer,
    store_account,
    transfers,
)
from domain.ledger.verify import Check
from domain.members.customers import Channel
from domain.payments.records import IntentStatus, payment_intents
from domain.payments.types import PaymentNotification, TradeState
from domain.sales.checkout import Method
from domain.sales.refunds import ONLINE_TENDERS

FIRST_QUERY_AFTER = dt.timedelta(minutes=1)
MAX_GAP = dt.timedelta(hours=1)
LIST_LIMIT = 100


class RefundState(enum.StrEnum):
    PENDING = "PENDING"  # owed: not yet sent, sent and processing, or a transient error to retry
    SUCCEEDED = "SUCCEEDED"  # the platform says the customer has it
    FAILED = "FAILED"  # the platform refused or closed it: finance must act


class Origin(enum.StrEnum):
    OURS = "OURS"
    PLATFORM = "PLATFORM"  # reported by the platform, never asked for by us


platform_refunds = Table(
    "platform_refunds",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    Column("store_id", Id, ForeignKey("stores.id"), nullable=False),
    Column("channel", String(10), nullable=False),
    Column("intent_id", Id, ForeignKey("payment_intents.id"), nullable=False, index=True),
    Column("refund_id", Id, ForeignKey("refunds.id"), nullable=True, index=True),
    Column("out_trade_no", String(64), nullable=False),
    Column("out_refund_no", String(64), nullable=False),
    Column("amount", Id, nullable=False),
    Column("status", String(10), nullable=False),
    Column("origin", String(10), nullable=False),
    Column("platform_status", String(40), nullable=True),
    Column("platform_refund_id", String(64), nullable=True),
    Column("detail", String(200), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("sent", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime(), nullable=True),
    Column("settled_at", UtcDateTime(), nullable=True),
    Column("transfer_id", Id, ForeignKey("transfers.id"), nullable=True),
    created_at_column(),
    UniqueConstraint("channel", "out_refund_no"),
    Index("ix_platform_refunds_status_next_attempt_at", "status", "next_attempt_at"),
)


@dataclass(frozen=True)
class RefundAnswer:
    """What a platform said about one refund, as plain values (integrations/refunds.py makes them)."""

    state: RefundState
    platform_status: str
    platform_refund_id: str | None = None
    detail: str | None = None


def new_out_refund_no(now: dt.datetime) -> str:
    """Unique per refund, at most 64 characters of [0-9A-Za-z] as both platforms allow."""
    return f"RF{now:%y%m%d%H%M%S}{secrets.token_hex(8).upper()}"


def payable_account(store_id: int, channel: str):
    return store_account(AccountKind.PLATFORM_REFUND_PAYABLE, store_id, channel)


def tender_account(store_id: int, channel: str):
    return store_account(AccountKind.STORE_TENDER, store_id, channel)


# ---------------------------------------------------------------- the desk's refund (same transaction)


class _PlatformTenders:
    """Registered with domain.refunds: a WECHAT/ALIPAY payment of an order the mini-program paid."""

    async def refund_leg(self, db: AsyncConnection, brand_id: int, order, payment, share: int):
        if payment.method not in (Method.WECHAT, Method.ALIPAY) or order.transfer_id is None:
            return None
        reference = await db.scalar(select(transfers.c.reference).where(transfers.c.id == order.transfer_id))
        if not reference or not reference.startswith("intent:"):
            return None
        intent = (await db.execute(select(payment_intents).where(
            payment_intents.c.out_trade_no == reference.removeprefix("intent:"), payment_intents.c.channel == payment.method,
            payment_intents.c.brand_id == brand_id,
        ))).first()
        if intent is None:
            return None
        spec = payable_account(order.store_id, payment.method)
        account = (await ensure_accounts(db, brand_id, [spec]))[spec.code]
        return Leg(account, -share), (intent, order.store_id, share)

    async def record(self, db: AsyncConnection, refund_id: int, planned) -> None:
        intent, store_id, amount = planned
        now = utcnow()
        await db.execute(insert(platform_refunds).values(
            brand_id=intent.brand_id, store_id=store_id, channel=intent.channel, intent_id=intent.id, refund_id=refund_id,
            out_trade_no=intent.out_trade_no, out_refund_no=new_out_refund_no(now), amount=amount, status=RefundState.PENDING.value,
            origin=Origin.OURS.value, attempts=0, sent=0, next_attempt_at=now, created_at=now,
        ))


ONLINE_TENDERS.append(_PlatformTenders())


# ---------------------------------------------------------------- what the platform says


async def settle(db: AsyncConnection, row_id: int, answer: RefundAnswer, now: dt.datetime | None = None) -> str:
    """Apply one answer (a send, a query or a callback) exactly once. Returns SUCCEEDED, FAILED,
    PENDING, or DUPLICATE when the refund had already reached that end."""
    now = now or utcnow()
    row = (await db.execute(select(platform_refunds).where(platform_refunds.c.id == row_id))).one()
    seen = {"platform_status": answer.platform_status[:40], "platform_refund_id": answer.platform_refund_id or row.platform_refund_id}
    if answer.state == RefundState.PENDING:
        await db.execute(update(platform_refunds).where(platform_refunds.c.id == row_id, platform_refunds.c.status == RefundState.PENDING.value)
                         .values(sent=1, detail=answer.detail, **seen))
        return "PENDING"
    if answer.state == RefundState.FAILED:
        moved = await db.execute(update(platform_refunds).where(platform_refunds.c.id == row_id, platform_refunds.c.status == RefundState.PENDING.value)
                                 .values(status=RefundState.FAILED.value, sent=1, settled_at=now, detail=(answer.detail or answer.platform_status)[:200], **seen))
        return "FAILED" if moved.rowcount == 1 else "DUPLICATE"
    # An abnormal refund that finance resolves on the platform ends in SUCCESS too: FAILED may still succeed.
    moved = await db.execute(update(platform_refunds).where(
        platform_refunds.c.id == row_id, platform_refunds.c.status.in_([RefundState.PENDING.value, RefundState.FAILED.value])
    ).values(status=RefundState.SUCCEEDED.value, sent=1, settled_at=now, detail=None, **seen))
    if moved.rowcount != 1:
        return "DUPLICATE"
    if row.origin == Origin.OURS:
        ids = await ensure_accounts(db, row.brand_id, [payable_account(row.store_id, row.channel), tender_account(row.store_id, row.channel)])
        transfer_id, _ = await post_transfer(
            db, brand_id=row.brand_id, kind="PLATFORM_REFUND", reference=f"platform_refund:{row.channel}:{row.out_refund_no}",
            legs=[Leg(ids[payable_account(row.store_id, row.channel).code], row.amount), Leg(ids[tender_account(row.store_id, row.channel).code], -row.amount)],
            store_id=row.store_id, memo=f"{row.channel} {row.out_refund_no}",
        )
        await db.execute(update(platform_refunds).where(platform_refunds.c.id == row_id).values(transfer_id=transfer_id))
        await _count_on_intent(db, row.intent_id, row.amount)
    return "SUCCEEDED"


async def _count_on_intent(db: AsyncConnection, intent_id: int, amount: int) -> None:
    intent = (await db.execute(select(payment_intents.c.amount, payment_intents.c.refunded, payment_intents.c.status)
                               .where(payment_intents.c.id == intent_id))).one()
    refunded = min(intent.amount, intent.refunded + amount)
    await db.execute(update(payment_intents).where(payment_intents.c.id == intent_id).values(
        refunded=refunded, status=IntentStatus.REFUNDED.value if refunded >= intent.amount else intent.status))


_REPORTED = {TradeState.REFUNDED: RefundState.SUCCEEDED, TradeState.CLOSED: RefundState.FAILED, TradeState.PENDING: RefundState.FAILED}


def _reported_status(note: PaymentNotification) -> str:
    if note.channel == Channel.WECHAT:
        return {TradeState.REFUNDED: "SUCCESS", TradeState.CLOSED: "CLOSED", TradeState.PENDING: "ABNORMAL"}[note.state]
    return "REFUND_SUCCESS"


async def apply_report(db: AsyncConnection, intent, note: PaymentNotification) -> tuple[str, str | None]:
    """A verified refund callback (domain.payments routes REFUND events here). Ours settles its row;
    one we never started is recorded and flagged for finance with its amount."""
    row = None
    if note.out_refund_no:
        row = (await db.execute(select(platform_refunds).where(
            platform_refunds.c.channel == note.channel.value, platform_refunds.c.out_refund_no == note.out_refund_no[:64]))).first()
    status = _reported_status(note)
    if row is not None and row.origin == Origin.OURS:
        if note.channel == Channel.WECHAT and note.refund_amount != row.amount:
            reason = f"refund amount {note.refund_amount} != {row.amount}"
            await db.execute(update(platform_refunds).where(platform_refunds.c.id == row.id).values(detail=reason))
            return "MISMATCH", reason
        outcome = await settle(db, row.id, RefundAnswer(_REPORTED[note.state], status, _refund_id(note), status))
        return f"REFUND_{outcome}", note.out_refund_no
    amount = await _unsolicited_amount(db, intent, note)
    if row is None and amount <= 0:
        return "REFUND_RECORDED", note.out_refund_no
    state = _REPORTED[note.state]
    now = utcnow()
    out_refund_no = (note.out_refund_no or f"N{note.event_id}")[:64]
    if row is None:
        inserted = (await db.execute(insert_ignoring_conflicts(db, platform_refunds).values(
            brand_id=intent.brand_id, store_id=intent.store_id, channel=intent.channel, intent_id=intent.id, out_trade_no=intent.out_trade_no,
            out_refund_no=out_refund_no, amount=amount, status=state.value, origin=Origin.PLATFORM.value, platform_status=status,
            platform_refund_id=_refund_id(note), detail="UNSOLICITED: 平台上发起的退款，未经本系统", attempts=0, sent=1,
            settled_at=now, created_at=now,
        ).returning(platform_refunds.c.id))).scalar_one_or_none()
        if inserted is not None and state == RefundState.SUCCEEDED:
            await _count_on_intent(db, intent.id, amount)
    elif state == RefundState.SUCCEEDED:
        moved = await db.execute(update(platform_refunds).where(platform_refunds.c.id == row.id, platform_refunds.c.status != RefundState.SUCCEEDED.value)
                                 .values(status=state.value, platform_status=status, settled_at=now))
        if moved.rowcount == 1:
            await _count_on_intent(db, intent.id, row.amount)
    return "REFUND_UNSOLICITED", f"{out_refund_no} {amount}"


async def _unsolicited_amount(db: AsyncConnection, intent, note: PaymentNotification) -> int:
    if note.channel == Channel.WECHAT:
        return note.refund_amount or 0
    # Alipay's refund_fee is the total refunded on the trade so far: what we know of (confirmed, or
    # ours still awaited) is not new.
    known = await db.scalar(select(func.coalesce(func.sum(platform_refunds.c.amount), 0)).where(
        platform_refunds.c.intent_id == intent.id,
        (platform_refunds.c.status == RefundState.SUCCEEDED.value)
        | ((platform_refunds.c.origin == Origin.OURS.value) & (platform_refunds.c.status == RefundState.PENDING.value))))
    return (note.refund_amount or 0) - known


def _refund_id(note: PaymentNotification) -> str | None:
    resource = (note.raw or {}).get("resource") if note.channel == Channel.WECHAT else None
    value = resource.get("refund_id") if isinstance(resource, dict) else None
    return str(value)[:64] if value else None


# ---------------------------------------------------------------- the sender's queue


async def due(db: AsyncConnection, now: dt.datetime, *, refund_id: int | None = None, limit: int = 50) -> list:
    query = (select(platform_refunds, payment_intents.c.app_id, payment_intents.c.amount.label("trade_total"))
             .join(payment_intents, payment_intents.c.id == platform_refunds.c.intent_id)
             .where(platform_refunds.c.status == RefundState.PENDING.value, platform_refunds.c.origin == Origin.OURS.value))
    query = query.where(platform_refunds.c.refund_id == refund_id) if refund_id is not None else query.where(platform_refunds.c.next_attempt_at <= now)
    return list(await db.execute(query.order_by(platform_refunds.c.next_attempt_at).limit(limit)))


def next_gap(attempts: int) -> dt.timedelta:
    return min(MAX_GAP, FIRST_QUERY_AFTER * 2 ** min(attempts, 10))


async def claim(db: AsyncConnection, row, now: dt.datetime) -> bool:
    """Several senders may run (the desk's after-commit step, workers): one wins each attempt."""
    taken = await db.execute(update(platform_refunds).where(
        platform_refunds.c.id == row.id, platform_refunds.c.status == RefundState.PENDING.value,
        platform_refunds.c.attempts == row.attempts,
    ).values(attempts=row.attempts + 1, next_attempt_at=now + next_gap(row.attempts)))
    return taken.rowcount == 1


async def note_error(db: AsyncConnection, row_id: int, detail: str) -> None:
    """A transient failure (network, the platform busy): the refund stays PENDING and is retried."""
    await db.execute(update(platform_refunds).where(platform_refunds.c.id == row_id, platform_refunds.c.status == RefundState.PENDING.value)
                     .values(detail=detail[:200]))


async def mark_unsent(db: AsyncConnection, row_id: int) -> None:
    """The platform has no such refund (the request never reached it): send it again."""
    await db.execute(update(platform_refunds).where(platform_refunds.c.id == row_id).values(sent=0))


# ---------------------------------------------------------------- what finance sees


async def list_for_finance(db: AsyncConnection, brand_id: int, status: RefundState | None, limit: int) -> list:
    if not 1 <= limit <= LIST_LIMIT:
        raise DomainError("INVALID_VALUE", "first", what="first")
    query = select(platform_refunds).where(platform_refunds.c.brand_id == brand_id)
    if status is not None:
        query = query.where(platform_refunds.c.status == status.value)
    return list(await db.execute(query.order_by(platform_refunds.c.id.desc()).limit(limit)))


async def for_refund(db: AsyncConnection, refund_id: int) -> list:
    return list(await db.execute(select(platform_refunds).where(platform_refunds.c.refund_id == refund_id).order_by(platform_refunds.c.id)))


def refund_status(statuses: list[str]) -> str:
    """A desk refund is COMPLETED once every platform refund in it succeeded."""
    states = set(statuses)
    if RefundState.FAILED in states:
        return "PLATFORM_FAILED"
    if RefundState.PENDING in states:
        return "PLATFORM_PENDING"
    return "COMPLETED"


async def verify(db: AsyncConnection) -> list[Check]:
    """Each payable account holds exactly its store's refunds not yet confirmed by the platform."""
    held = {(r.brand_id, r.code): r.balance for r in await db.execute(
        select(accounts.c.brand_id, accounts.c.code, accounts.c.balance).where(accounts.c.kind == AccountKind.PLATFORM_REFUND_PAYABLE.value))}
    owed_rows = await db.execute(
        select(platform_refunds.c.brand_id, platform_refunds.c.store_id, platform_refunds.c.channel, func.sum(platform_refunds.c.amount))
        .where(platform_refunds.c.origin == Origin.OURS.value, platform_refunds.c.status != RefundState.SUCCEEDED.value)
        .group_by(platform_refunds.c.brand_id, platform_refunds.c.store_id, platform_refunds.c.channel))
    owed = {(b, payable_account(s, c).code): int(total) for b, s, c, total in owed_rows}
    broken = [f"{code} (brand {brand}): holds {held.get((brand, code), 0)}, owed {owed.get((brand, code), 0)}"
              for brand, code in sorted(set(held) | set(owed)) if held.get((brand, code), 0) != owed.get((brand, code), 0)]
    return [Check("every platform-refund payable account holds exactly the unconfirmed refunds", len(set(held) | set(owed)), broken)]
