"""The payments area for staff: reconciling WeChat Pay and Alipay bills against our payments, and the refunds the platforms still owe."""

from __future__ import annotations

import datetime as dt
import enum

import strawberry
from strawberry.types import Info

from resolvers import payments as resolvers
from resolvers.ids import to_global_id
from schema.errors import UserError, user_errors
from schema.scalars import Fen


@strawberry.enum
class PaymentChannel(enum.Enum):
    WECHAT = "WECHAT"
    ALIPAY = "ALIPAY"


@strawberry.type
class ReconciliationItem:
    kind: str
    out_trade_no: str
    platform_trade_no: str | None
    our_amount: Fen | None
    their_amount: Fen | None
    our_status: str | None
    their_status: str | None
    fixable: bool
    note: str | None


@strawberry.type
class ReconciliationGroup:
    count: int
    ours: Fen
    theirs: Fen
    items: list[ReconciliationItem]


@strawberry.type(description="对账: the bill against our payments, in fen")
class ReconciliationReport:
    channel: str
    date: dt.date
    clean: bool
    bill_paid: Fen
    bill_refunded: Fen
    our_paid: Fen
    our_refunded: Fen
    matched: ReconciliationGroup
    missing_here: ReconciliationGroup = strawberry.field(description="On the bill, not here")
    missing_there: ReconciliationGroup = strawberry.field(description="Paid here, not on the bill")
    amount_differs: ReconciliationGroup
    status_differs: ReconciliationGroup
    fixed: int = strawberry.field(description="Paid there and pending here, applied now through the callback path")


@strawberry.input
class ReconcileBillInput:
    channel: PaymentChannel
    date: dt.date
    bill: str = strawberry.field(description="The bill file, base64: WeChat's trade bill CSV or Alipay's bill zip")
    fix: bool = False


@strawberry.type
class ReconcileBillPayload:
    report: ReconciliationReport | None
    errors: list[UserError]


def _group(items, total) -> ReconciliationGroup:
    return ReconciliationGroup(
        count=total.count, ours=total.ours, theirs=total.theirs,
        items=[
            ReconciliationItem(
                kind=str(i.kind), out_trade_no=i.out_trade_no, platform_trade_no=i.platform_trade_no, our_amount=i.our_amount,
                their_amount=i.their_amount, our_status=i.our_status, their_status=i.their_status, fixable=i.fixable, note=i.note,
            )
            for i in items
        ],
    )


@strawberry.type
class FinanceMutation:
    @strawberry.mutation(description="对账: import a day's bill, report the differences, optionally fix the safe ones")
    async def reconcile_bill(self, info: Info, input: ReconcileBillInput) -> ReconcileBillPayload:
        outcome = await resolvers.reconcile_bill(info.context, channel=input.channel.value, day=input.date, bill_base64=input.bill, fix=input.fix)
        if not outcome.ok:
            return ReconcileBillPayload(report=None, errors=user_errors(outcome.errors, info.context.lang))
        report, fixed = outcome.value
        t = report.totals
        return ReconcileBillPayload(
            report=ReconciliationReport(
                channel=report.channel.value, date=report.day, clean=report.clean, bill_paid=t.bill_paid, bill_refunded=t.bill_refunded,
                our_paid=t.our_paid, our_refunded=t.our_refunded, matched=_group(report.matched, t.matched),
                missing_here=_group(report.missing_here, t.missing_here), missing_there=_group(report.missing_there, t.missing_there),
                amount_differs=_group(report.amount_differs, t.amount_differs), status_differs=_group(report.status_differs, t.status_differs),
                fixed=fixed,
            ),
            errors=[],
        )



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
