"""Platform refunds: money owed back through WeChat Pay / Alipay, for finance and on each refund."""

from __future__ import annotations

import datetime as dt
import enum

import strawberry
from strawberry.types import Info

from resolvers import payments as resolvers
from resolvers.ids import to_global_id
from schema.scalars import Fen


@strawberry.enum(description="Where a refund through WeChat Pay or Alipay stands")
class PlatformRefundStatus(enum.Enum):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


@strawberry.enum(description="COMPLETED once every platform refund in it succeeded (or it had none)")
class RefundStatus(enum.Enum):
    COMPLETED = "COMPLETED"
    PLATFORM_PENDING = "PLATFORM_PENDING"
    PLATFORM_FAILED = "PLATFORM_FAILED"


@strawberry.type(description="退款 through WeChat Pay or Alipay: owed until the platform confirms it")
class PlatformRefund:
    id: strawberry.ID
    channel: str
    out_trade_no: str
    out_refund_no: str
    amount: Fen
    status: PlatformRefundStatus
    unsolicited: bool = strawberry.field(description="Reported by the platform, never asked for here: finance must look")
    platform_status: str | None = strawberry.field(description="The platform's word, e.g. PROCESSING, ABNORMAL, CLOSED, NOT_ENOUGH")
    detail: str | None
    attempts: int
    refund_id: strawberry.ID | None = strawberry.field(description="The desk refund it belongs to")
    created_at: dt.datetime
    settled_at: dt.datetime | None


def platform_refund(row) -> PlatformRefund:
    return PlatformRefund(
        id=strawberry.ID(to_global_id("PlatformRefund", row.id)), channel=row.channel, out_trade_no=row.out_trade_no,
        out_refund_no=row.out_refund_no, amount=row.amount, status=PlatformRefundStatus(row.status), unsolicited=row.origin == "PLATFORM",
        platform_status=row.platform_status, detail=row.detail, attempts=row.attempts,
        refund_id=strawberry.ID(to_global_id("Refund", row.refund_id)) if row.refund_id else None, created_at=row.created_at, settled_at=row.settled_at,
    )


async def of_refund(info: Info, refund_id: int) -> list[PlatformRefund]:
    return [platform_refund(r) for r in await resolvers.of_refund(info.context, refund_id)]


def status_of(rows: list[PlatformRefund]) -> RefundStatus:
    from domain.payments.refunds import refund_status

    return RefundStatus(refund_status([r.status.value for r in rows]))


@strawberry.type
class PlatformRefundQuery:
    @strawberry.field(description="Refunds through WeChat Pay / Alipay, newest first: FAILED ones need finance, PENDING ones are awaited")
    async def platform_refunds(self, info: Info, status: PlatformRefundStatus | None = None, first: int = 50) -> list[PlatformRefund]:
        rows = await resolvers.list_for_finance(info.context, status=status.value if status else None, first=first)
        return [platform_refund(r) for r in rows]
