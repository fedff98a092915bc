"""The platforms' daily bills, read into plain rows in integer fen (integrations.standins.bills writes them).

WeChat Pay trade bill (v2 /pay/downloadbill, or v3 /v3/bill/tradebill then its download_url):
UTF-8 CSV; a header line; detail rows with every field prefixed by a backtick; then a
`总交易单数,…` summary header and one summary row. Payments and refunds are separate rows
(交易状态 SUCCESS / REFUND / REVOKED). v3 may deliver it gzipped (tar_type=GZIP) and gives a
SHA1 `hash_value` of the downloaded bytes to check.

Alipay trade bill (alipay.data.dataservice.bill.downloadurl.query, bill_type=trade): a zip with
`<pid>_<yyyymmdd>_业务明细.csv` and `…_业务明细(汇总).csv`; GBK text; `#` comment lines before and
after the table; fields padded with spaces and tabs; entry names are GBK bytes without the zip
UTF-8 flag, so Python shows them as cp437 mojibake.

Amounts are compared on the order amount (WeChat 订单金额, Alipay 订单金额（元）), which is what an
intent's `amount` is (WeChat amount.total, Alipay total_amount), not the merchant's net
(应结订单金额 / 商家实收), which is after coupons and discounts. Yuan strings become fen through
`Decimal`, exactly: anything that is not a whole number of fen is refused with ValueError.

This module uses the standard library only; `domain.reconciliation` consumes its rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import io
import re
import zipfile
import zlib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from domain.members.customers import Channel
from domain.payments.types import EventKind, TradeState

CHINA_TZ = dt.timezone(dt.timedelta(hours=8))  # Asia/Shanghai: UTC+8 without DST since 1991
# A day's bill of a salon chain is a few MB; a decompression bomb must stop here, not in memory.
MAX_BILL_BYTES = 32 * 1024 * 1024
_CHUNK = 1024 * 1024


class BillTooLarge(ValueError):
    code = "BILL_TOO_LARGE"


def _gunzip(data: bytes, limit: int = MAX_BILL_BYTES) -> bytes:
    """gzip.decompress, streamed, stopping once the output passes `limit`."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out, pending, size = [], data, 0
    try:
        while not inflater.eof:
            chunk = inflater.decompress(pending, _CHUNK)
            pending = inflater.unconsumed_tail
            if not chunk and not pending:
                raise ValueError("bad gzip bill: truncated")
            size += len(chunk)
            if size > limit:
                raise BillTooLarge("the bill is larger than the limit once decompressed")
            out.append(chunk)
    except zlib.error:
        raise ValueError("bad gzip bill") from None
    return b"".join(out)


def _read_capped(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int = MAX_BILL_BYTES) -> bytes:
    """One zip entry, read in chunks up to `limit` (its declared size is not trusted)."""
    if info.file_size > limit:
        raise BillTooLarge("the bill is larger than the limit once decompressed")
    out, size = [], 0
    with archive.open(info) as entry:
        while chunk := entry.read(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise BillTooLarge("the bill is larger than the limit once decompressed")
            out.append(chunk)
    return b"".join(out)


def _csv_rows(lines):
    """csv.reader whose errors (a field over csv's 128 KiB limit, a stray NUL) are ValueErrors."""
    reader = csv.reader(lines)
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error:
            raise ValueError("malformed CSV (a field longer than 128 KiB?)") from None
_YUAN = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?", re.ASCII)  # ASCII digits only: Decimal() takes any Unicode digit


def yuan_to_fen(text: str) -> int:
    """"0.01" → 1, "1234.50" → 123450, "-58.00" → -5800, "0.35000" → 35, exactly; surrounding
    spaces, tabs and a WeChat backtick are ignored. Empty text, exponents, NaN, thousands
    separators and fractions of a fen ("0.001") raise ValueError."""
    if not isinstance(text, str):
        raise ValueError(f"amount must be text, not {type(text).__name__}")
    cleaned = text.strip(" \t\r\n").removeprefix("`").strip(" \t")
    if not _YUAN.fullmatch(cleaned):
        raise ValueError(f"not an amount in yuan: {text!r}")
    try:
        fen = Decimal(cleaned).scaleb(2)
    except InvalidOperation:  # pragma: no cover - the pattern already excludes it
        raise ValueError(f"not an amount in yuan: {text!r}") from None
    if fen != fen.to_integral_value():
        raise ValueError(f"not a whole number of fen: {text!r}")
    return int(fen)


def fen_to_yuan(fen: int) -> str:
    """12345 → "123.45", -5 → "-0.05"."""
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise ValueError(f"fen must be an int, not {type(fen).__name__}")
    return f"{'-' if fen < 0 else ''}{abs(fen) // 100}.{abs(fen) % 100:02d}"


@dataclass(frozen=True, kw_only=True)
class BillRow:
    """One line of a bill. `amount` is fen: the order amount for a payment, the refund amount for
    a refund (always ≥ 0). `status` folds the platform's words: a successful payment is PAID,
    a refund is REFUNDED, a WeChat REVOKED payment is CLOSED (money returned, never received)."""

    channel: Channel
    kind: EventKind
    out_trade_no: str
    platform_trade_no: str
    amount: int
    out_refund_no: str | None = None
    status: TradeState | None = None  # None → PAID for a payment, REFUNDED for a refund
    app_id: str | None = None  # WeChat 公众账号ID; the Alipay bill does not carry it
    merchant_id: str | None = None  # WeChat 商户号; Alipay the account (PID) the bill is for
    traded_at: dt.datetime | None = None  # aware; the bill's time (Beijing time)
    platform_refund_no: str | None = None  # WeChat 微信退款单号
    settled_amount: int | None = None  # payments: WeChat 应结订单金额 / Alipay 商家实收 (net of discounts)
    fee: int | None = None  # Alipay 服务费 as fen charged (negative when returned on a refund); WeChat states fees in 1/1000 fen: None

    def __post_init__(self) -> None:
        object.__setattr__(self, "channel", Channel(self.channel))
        object.__setattr__(self, "kind", EventKind(self.kind))
        if self.status is None:
            object.__setattr__(self, "status", TradeState.PAID if self.kind == EventKind.PAYMENT else TradeState.REFUNDED)
        else:
            object.__setattr__(self, "status", TradeState(self.status))
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or self.amount < 0:
            raise ValueError(f"amount must be a non-negative int of fen: {self.amount!r}")
        if not self.out_trade_no:
            raise ValueError("out_trade_no is required")
        if self.kind == EventKind.REFUND and self.status != TradeState.REFUNDED:
            raise ValueError("a refund row's status is REFUNDED")
        if self.traded_at is not None and self.traded_at.tzinfo is None:
            raise ValueError("traded_at must be aware")


# ---------------------------------------------------------------------------------------- WeChat

WECHAT_COLUMNS = (
    "交易时间", "公众账号ID", "商户号", "特约商户号", "设备号", "微信订单号", "商户订单号", "用户标识", "交易类型", "交易状态", "付款银行",
    "货币种类", "应结订单金额", "代金券金额", "微信退款单号", "商户退款单号", "退款金额", "充值券退款金额", "退款类型", "退款状态",
    "商品名称", "商户数据包", "手续费", "费率", "订单金额", "申请退款金额", "费率备注",
)
WECHAT_SUMMARY_COLUMNS = ("总交易单数", "应结订单总金额", "退款总金额", "充值券退款总金额", "手续费总金额", "订单总金额", "申请退款总金额")
_WECHAT_REQUIRED = ("交易时间", "公众账号ID", "商户号", "微信订单号", "商户订单号", "交易状态", "应结订单金额", "商户退款单号", "退款金额", "订单金额")
_WECHAT_STATUS = {"SUCCESS": TradeState.PAID, "REFUND": TradeState.REFUNDED, "REVOKED": TradeState.CLOSED}
_NO_VALUE = ("", "0")  # WeChat writes "0" in the refund id columns of payment rows


def _wechat_field(value: str) -> str:
    return value.strip().removeprefix("`").strip()


def _beijing_time(text: str) -> dt.datetime | None:
    text = text.strip()
    if not text:
        return None
    try:
        return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA_TZ)
    except ValueError:
        raise ValueError(f"not a bill time: {text!r}") from None


def parse_wechat_trade_bill(data: bytes, *, sha1: str | None = None) -> list[BillRow]:
    """Rows of a WeChat Pay trade bill (bill_type ALL, SUCCESS or REFUND), plain or gzipped.

    `sha1` is v3's `hash_value` of the downloaded bytes (before gunzip); a mismatch, a missing or
    inconsistent summary (a truncated download), an unknown 交易状态 or a bad amount raise ValueError."""
    if sha1 is not None and not hmac.compare_digest(hashlib.sha1(data).hexdigest(), sha1.strip().lower()):
        raise ValueError("bill SHA1 does not match hash_value")
    if data[:2] == b"\x1f\x8b":
        data = _gunzip(data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("a WeChat bill is UTF-8") from None
    if text.lstrip().startswith("<xml"):
        raise ValueError(f"no bill, the platform answered: {text.strip()[:200]}")
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise ValueError("empty bill")
    header = [_wechat_field(h) for h in next(_csv_rows([lines[0]]))]
    missing = [c for c in _WECHAT_REQUIRED if c not in header]
    if missing:
        raise ValueError(f"not a WeChat trade bill: no column {', '.join(missing)}")
    summary_at = next((i for i, line in enumerate(lines) if line.startswith("总交易单数")), None)
    if summary_at is None or summary_at + 1 >= len(lines):
        raise ValueError("no summary row: truncated download?")
    if summary_at + 2 != len(lines):
        raise ValueError("lines after the summary row")

    rows: list[BillRow] = []
    for number, values in enumerate(_csv_rows(lines[1:summary_at]), start=2):
        if len(values) != len(header):
            raise ValueError(f"line {number}: {len(values)} fields, the header has {len(header)}")
        rec = {name: _wechat_field(value) for name, value in zip(header, values)}
        try:
            rows.append(_wechat_row(rec))
        except ValueError as exc:
            raise ValueError(f"line {number}: {exc}") from None

    summary_header = [h.strip() for h in lines[summary_at].split(",")]
    summary_values = [_wechat_field(v) for v in next(_csv_rows([lines[summary_at + 1]]))]
    summary = dict(zip(summary_header, summary_values))
    _check_wechat_summary(summary, rows)
    return rows


def _wechat_row(rec: dict[str, str]) -> BillRow:
    state = _WECHAT_STATUS.get(rec["交易状态"])
    if state is None:
        raise ValueError(f"unknown 交易状态 {rec['交易状态']!r}")
    common = dict(
        channel=Channel.WECHAT, out_trade_no=rec["商户订单号"], platform_trade_no=rec["微信订单号"], status=state,
        app_id=rec["公众账号ID"] or None, merchant_id=rec["商户号"] or None, traded_at=_beijing_time(rec["交易时间"]),
    )
    if state == TradeState.REFUNDED:
        refund_no = rec["商户退款单号"]
        if refund_no in _NO_VALUE:
            raise ValueError("refund row without 商户退款单号")
        return BillRow(
            kind=EventKind.REFUND, amount=_non_negative(rec["退款金额"], "退款金额"), out_refund_no=refund_no,
            platform_refund_no=None if rec.get("微信退款单号", "") in _NO_VALUE else rec["微信退款单号"], **common,
        )
    return BillRow(
        kind=EventKind.PAYMENT, amount=_non_negative(rec["订单金额"], "订单金额"),
        settled_amount=_non_negative(rec["应结订单金额"], "应结订单金额"), **common,
    )


def _non_negative(text: str, what: str) -> int:
    try:
        fen = yuan_to_fen(text)
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None
    if fen < 0:
        raise ValueError(f"{what}: negative amount {text!r}")
    return fen


def _check_wechat_summary(summary: dict[str, str], rows: list[BillRow]) -> None:
    """The summary row states the count and totals of the detail rows: a cut-off download shows."""
    try:
        count = int(summary["总交易单数"])
    except (KeyError, ValueError):
        raise ValueError("summary row without 总交易单数") from None
    if count != len(rows):
        raise ValueError(f"summary says {count} rows, the bill has {len(rows)}")
    paid = [r for r in rows if r.status == TradeState.PAID]
    checks = (
        ("应结订单总金额", sum(r.settled_amount or 0 for r in paid)),
        ("订单总金额", sum(r.amount for r in paid)),
        ("退款总金额", sum(r.amount for r in rows if r.kind == EventKind.REFUND)),
    )
    for name, total in checks:
        if name in summary and yuan_to_fen(summary[name]) != total:
            raise ValueError(f"summary {name} {summary[name]} does not match the rows ({fen_to_yuan(total)})")


# ---------------------------------------------------------------------------------------- Alipay

ALIPAY_COLUMNS = (
    "支付宝交易号", "商户订单号", "业务类型", "商品名称", "创建时间", "完成时间", "门店编号", "门店名称", "操作员", "终端号", "对方账户",
    "订单金额（元）", "商家实收（元）", "支付宝红包（元）", "集分宝（元）", "支付宝优惠（元）", "商家优惠（元）", "券核销金额（元）", "券名称",
    "商家红包消费金额（元）", "卡消费金额（元）", "退款批次号/请求号", "服务费（元）", "分润（元）", "备注",
)
_ALIPAY_REQUIRED = ("支付宝交易号", "商户订单号", "业务类型", "完成时间", "订单金额（元）", "商家实收（元）", "退款批次号/请求号", "服务费（元）")
_ALIPAY_KINDS = {"交易": EventKind.PAYMENT, "退款": EventKind.REFUND}
_ALIPAY_PAD = " \t\r\n"
_ACCOUNT = re.compile(r"#\s*账号[：:]\s*\[\s*([0-9]+)\s*\]")
_TOTALS = re.compile(r"#\s*(交易|退款)合计[：:]\s*([0-9]+)\s*笔[，,]\s*商家实收(?:退款)?共[：:]\s*(-?[0-9.]+)\s*元")


def _zip_entry_name(info: zipfile.ZipInfo) -> str:
    """Alipay writes GBK names without the UTF-8 flag, which zipfile decodes as cp437."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("gbk")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def _detail_entry(data: bytes) -> tuple[str, str]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ValueError("an Alipay bill is a zip file") from None
    with archive:
        for info in archive.infolist():
            name = _zip_entry_name(info)
            base = name.rsplit("/", 1)[-1]
            if base.endswith("_业务明细.csv"):
                try:
                    raw = _read_capped(archive, info)
                except (zipfile.BadZipFile, NotImplementedError, RuntimeError, EOFError, zlib.error):
                    raise ValueError("a damaged Alipay bill zip") from None
                break
        else:
            raise ValueError("no …_业务明细.csv in the Alipay bill")
    try:
        return name, raw.decode("gb18030")  # GBK's superset: every GBK file decodes the same
    except UnicodeDecodeError:
        raise ValueError("the Alipay bill is not GBK text") from None


def parse_alipay_bill(data: bytes) -> list[BillRow]:
    """Rows of an Alipay trade bill zip (its 业务明细 file). 业务类型 交易 is a payment, 退款 a
    refund; other business types are not trades and are skipped. A bad amount, a missing column or
    counts disagreeing with the `#…合计` footer raise ValueError."""
    name, text = _detail_entry(data)
    comments = [line.strip() for line in text.splitlines() if line.strip().startswith("#")]
    table = [line for line in text.splitlines() if line.strip(_ALIPAY_PAD) and not line.strip().startswith("#")]
    if not table:
        raise ValueError("no table in the Alipay bill")
    reader = _csv_rows(table)
    header = [h.strip(_ALIPAY_PAD).replace("(", "（").replace(")", "）") for h in next(reader)]
    missing = [c for c in _ALIPAY_REQUIRED if c not in header]
    if missing:
        raise ValueError(f"not an Alipay trade bill: no column {', '.join(missing)}")
    account = next((m.group(1) for m in map(_ACCOUNT.search, comments) if m), None)
    if account is None:
        prefix = name.rsplit("/", 1)[-1].split("_", 1)[0]
        account = prefix if prefix.isdigit() else None

    rows: list[BillRow] = []
    for number, values in enumerate(reader, start=2):
        values = [v.strip(_ALIPAY_PAD) for v in values]
        if not any(values):
            continue
        if len(values) < len(header):
            raise ValueError(f"table line {number}: {len(values)} fields, the header has {len(header)}")
        rec = dict(zip(header, values))
        kind = _ALIPAY_KINDS.get(rec["业务类型"])
        if kind is None:
            continue
        try:
            rows.append(_alipay_row(rec, kind, account))
        except ValueError as exc:
            raise ValueError(f"table line {number}: {exc}") from None
    _check_alipay_footer(comments, rows)
    return rows


def _alipay_row(rec: dict[str, str], kind: EventKind, account: str | None) -> BillRow:
    order = yuan_to_fen(rec["订单金额（元）"])
    received = yuan_to_fen(rec["商家实收（元）"])
    fee = -yuan_to_fen(rec["服务费（元）"]) if rec["服务费（元）"] else None
    common = dict(
        channel=Channel.ALIPAY, out_trade_no=rec["商户订单号"], platform_trade_no=rec["支付宝交易号"], merchant_id=account,
        traded_at=_beijing_time(rec["完成时间"] or rec.get("创建时间", "")), fee=fee,
    )
    if kind == EventKind.REFUND:
        refund_no = rec["退款批次号/请求号"]
        if not refund_no:
            raise ValueError("refund row without 退款批次号/请求号")
        # The refund row's 订单金额 is the amount refunded; 商家实收 is its (negative) net.
        return BillRow(kind=kind, amount=abs(order), out_refund_no=refund_no, **common)
    if order < 0:
        raise ValueError(f"negative 订单金额 {rec['订单金额（元）']!r}")
    return BillRow(kind=kind, amount=order, settled_amount=received, **common)


def _check_alipay_footer(comments: list[str], rows: list[BillRow]) -> None:
    for line in comments:
        m = _TOTALS.search(line)
        if not m:
            continue
        kind = EventKind.PAYMENT if m.group(1) == "交易" else EventKind.REFUND
        these = [r for r in rows if r.kind == kind]
        if int(m.group(2)) != len(these):
            raise ValueError(f"footer says {m.group(2)} {m.group(1)} rows, the bill has {len(these)}")
        if kind == EventKind.PAYMENT and yuan_to_fen(m.group(3)) != sum(r.settled_amount or 0 for r in these):
            raise ValueError(f"footer 商家实收 {m.group(3)} does not match the rows")
