"""Bills as WeChat Pay and Alipay serve them, built from rows: what the stand-ins hand out, and what
tests and demos reconcile (integrations.bills reads them back)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import zipfile
from decimal import Decimal
from typing import Iterable

from domain.members.customers import Channel
from domain.payments.types import EventKind, TradeState
from integrations.bills import (
    ALIPAY_COLUMNS,
    CHINA_TZ,
    WECHAT_COLUMNS,
    WECHAT_SUMMARY_COLUMNS,
    BillRow,
    fen_to_yuan,
)


def build_wechat_trade_bill(rows: Iterable[BillRow], *, day: dt.date | None = None) -> bytes:
    """A trade bill (bill_type ALL) as WeChat Pay serves it, UTF-8, CRLF line ends. Rows without
    `traded_at` are placed at noon of `day` (today by default), a second apart."""
    rows = list(rows)
    day = day or dt.datetime.now(CHINA_TZ).date()
    noon = dt.datetime.combine(day, dt.time(12), tzinfo=CHINA_TZ)
    lines = [",".join(WECHAT_COLUMNS)]
    settled_total = order_total = refund_total = 0
    fee_total = Decimal(0)
    for i, row in enumerate(rows):
        if row.channel != Channel.WECHAT:
            raise ValueError("a WeChat bill holds WeChat rows")
        at = (row.traded_at or noon + dt.timedelta(seconds=i)).astimezone(CHINA_TZ)
        fee = (Decimal(row.amount) * Decimal("0.00006")).quantize(Decimal("0.00001"))  # 0.60% of the yuan amount
        user = "o" + hashlib.sha1(row.out_trade_no.encode()).hexdigest()[:27]
        head = [
            f"{at:%Y-%m-%d %H:%M:%S}", row.app_id or "wx0000000000000000", row.merchant_id or "1900000000", "0", "",
            row.platform_trade_no, row.out_trade_no, user, "JSAPI",
        ]
        if row.kind == EventKind.REFUND:
            refund_total += row.amount
            fee_total -= fee
            refund_no = row.platform_refund_no or "5030" + hashlib.sha1((row.out_refund_no or "").encode()).hexdigest()[:24].upper()
            fields = head + [
                "REFUND", "OTHERS", "CNY", "0.00", "0.00", refund_no, row.out_refund_no or "", fen_to_yuan(row.amount), "0.00",
                "ORIGINAL", "SUCCESS", "会员充值", "", f"-{fee}", "0.60%", "0.00", fen_to_yuan(row.amount), "",
            ]
        else:
            settled = row.amount if row.settled_amount is None else row.settled_amount
            state = {TradeState.PAID: "SUCCESS", TradeState.CLOSED: "REVOKED"}.get(row.status)
            if state is None:
                raise ValueError(f"a WeChat payment row is SUCCESS or REVOKED, not {row.status}")
            if state == "SUCCESS":
                settled_total += settled
                order_total += row.amount
                fee_total += fee
            fields = head + [
                state, "OTHERS", "CNY", fen_to_yuan(settled), fen_to_yuan(row.amount - settled), "0", "0", "0.00", "0.00",
                "", "", "会员充值", "", f"{fee}", "0.60%", fen_to_yuan(row.amount), "0.00", "",
            ]
        lines.append(",".join("`" + f for f in fields))
    lines.append(",".join(WECHAT_SUMMARY_COLUMNS))
    summary = [str(len(rows)), fen_to_yuan(settled_total), fen_to_yuan(refund_total), "0.00", f"{fee_total:.5f}",
               fen_to_yuan(order_total), fen_to_yuan(refund_total)]
    lines.append(",".join("`" + f for f in summary))
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


class _GbkNameZipInfo(zipfile.ZipInfo):
    """An entry whose name is stored as GBK bytes without the UTF-8 flag, as Alipay writes it."""

    def _encodeFilenameFlags(self):  # noqa: N802 - zipfile's hook
        return self.filename.encode("gbk"), self.flag_bits & ~0x800


def build_alipay_bill(rows: Iterable[BillRow], day: dt.date) -> bytes:
    """An Alipay trade bill zip for `day`: the 业务明细 file and its (汇总) file, GBK, `#` comments,
    padded ids, GBK entry names without the UTF-8 flag. The account is the rows' merchant_id.
    Rows without `traded_at` are placed at noon of `day`, a second apart."""
    rows = list(rows)
    account = next((r.merchant_id for r in rows if r.merchant_id), "2088000000000000")
    noon = dt.datetime.combine(day, dt.time(12), tzinfo=CHINA_TZ)
    body: list[str] = []
    pay_count = refund_count = 0
    pay_received = refund_received = order_total = 0
    for i, row in enumerate(rows):
        if row.channel != Channel.ALIPAY:
            raise ValueError("an Alipay bill holds Alipay rows")
        if row.status == TradeState.CLOSED:
            raise ValueError("an Alipay bill lists only completed payments and refunds")
        at = (row.traded_at or noon + dt.timedelta(seconds=i)).astimezone(CHINA_TZ)
        created = at - dt.timedelta(seconds=8)
        # Fen charged: 0.6% half up on a payment, given back (negative) on a refund.
        fee = row.fee if row.fee is not None else (row.amount * 6 + 500) // 1000 * (-1 if row.kind == EventKind.REFUND else 1)
        if row.kind == EventKind.REFUND:
            refund_count += 1
            refund_received -= row.amount
            values = [row.platform_trade_no, row.out_trade_no, "退款", "会员充值", f"{created:%Y-%m-%d %H:%M:%S}", f"{at:%Y-%m-%d %H:%M:%S}",
                      "", "", "", "", "张*(a***@163.com)", fen_to_yuan(row.amount), fen_to_yuan(-row.amount), "0.00", "0.00", "0.00",
                      "0.00", "0.00", "", "0.00", "0.00", row.out_refund_no or "", fen_to_yuan(-fee), "0.00", ""]
        else:
            received = row.amount if row.settled_amount is None else row.settled_amount
            pay_count += 1
            pay_received += received
            order_total += row.amount
            values = [row.platform_trade_no, row.out_trade_no, "交易", "会员充值", f"{created:%Y-%m-%d %H:%M:%S}", f"{at:%Y-%m-%d %H:%M:%S}",
                      "", "", "", "", "李*(138****0000)", fen_to_yuan(row.amount), fen_to_yuan(received), "0.00", "0.00", "0.00",
                      fen_to_yuan(row.amount - received), "0.00", "", "0.00", "0.00", "", fen_to_yuan(-fee), "0.00", ""]
        # Ids carry a trailing tab (so spreadsheets keep them as text) and amounts some padding, as in real files.
        body.append(",".join(v + "\t" if j in (0, 1) else (f" {v} " if j in (11, 12) else v) for j, v in enumerate(values)))
    start = dt.datetime.combine(day, dt.time(0))
    detail = "\r\n".join([
        "#支付宝业务明细查询",
        f"#账号：[{account}]",
        f"#起始日期：[{start:%Y年%m月%d日 %H:%M:%S}]   终止日期：[{start + dt.timedelta(days=1):%Y年%m月%d日 %H:%M:%S}]",
        "#-----------------------------------------业务明细列表----------------------------------------",
        ",".join(ALIPAY_COLUMNS),
        *body,
        "#-----------------------------------------业务明细列表结束------------------------------------",
        f"#交易合计：{pay_count}笔，商家实收共：{fen_to_yuan(pay_received)}元，商家优惠共：{fen_to_yuan(order_total - pay_received)}元",
        f"#退款合计：{refund_count}笔，商家实收退款共：{fen_to_yuan(refund_received)}元，商家优惠退款共：0.00元",
        f"#导出时间：[{start + dt.timedelta(days=1, hours=10, minutes=5):%Y年%m月%d日 %H:%M:%S}]",
    ]) + "\r\n"
    summary = "\r\n".join([
        "#支付宝业务汇总查询",
        f"#账号：[{account}]",
        "门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）",
        f"合计,,{pay_count},{refund_count},{fen_to_yuan(order_total)},{fen_to_yuan(pay_received + refund_received)}",
        "#-----------------------------------------业务汇总列表结束------------------------------------",
    ]) + "\r\n"
    stem = f"{account}_{day:%Y%m%d}"
    buffer = io.BytesIO()
    stamp = (day.year, day.month, day.day, 10, 5, 31)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in ((f"{stem}_业务明细.csv", detail), (f"{stem}_业务明细(汇总).csv", summary)):
            info = _GbkNameZipInfo(name, date_time=(*stamp,))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content.encode("gbk"))
    return buffer.getvalue()
