"""Hostile input to the payments and reports fields (issue 7 §2): each answers a coded error and
changes nothing, never an internal error."""

import base64
import gzip
import io
import zipfile

import pytest

from integrations.bills import MAX_BILL_BYTES
from tests.support import GraphQLClient

RECONCILE = """mutation($i: ReconcileBillInput!) { reconcileBill(input: $i) { report { clean } errors { code field } } }"""


async def _reconcile(demo, channel: str, bill: bytes) -> list:
    variables = {"i": {"channel": channel, "date": "2026-11-30", "bill": base64.b64encode(bill).decode()}}
    return (await demo.gql(RECONCILE, variables, as_="finance"))["reconcileBill"]["errors"]


async def test_a_bill_field_over_128_kib_is_a_coded_error(demo):
    header = "交易时间,公众账号ID,商户号,微信订单号,商户订单号,交易状态,订单金额,应结订单金额,商户退款单号,退款金额"
    bill = f"{header}\n`2026-11-30 10:00:00,`wx,`1900,`42,`{'A' * 140_000},`SUCCESS,`1.00,`1.00,`0,`0\n总交易单数\n`1\n".encode()
    assert await _reconcile(demo, "WECHAT", gzip.compress(bill)) == [{"code": "INVALID_VALUE", "field": "bill"}]
    alipay = io.BytesIO()
    with zipfile.ZipFile(alipay, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("2088_20261130_业务明细.csv", f"支付宝交易号,商户订单号\n{'B' * 140_000},x\n".encode("gbk"))
    assert await _reconcile(demo, "ALIPAY", alipay.getvalue()) == [{"code": "INVALID_VALUE", "field": "bill"}]


async def test_decompression_bombs_stop_at_the_cap(demo):
    zeros = bytes(MAX_BILL_BYTES + 1024)
    bomb = gzip.compress(zeros, compresslevel=9)
    assert len(bomb) < 100_000
    assert await _reconcile(demo, "WECHAT", bomb) == [{"code": "BILL_TOO_LARGE", "field": "bill"}]
    archive_bytes = io.BytesIO()
    with zipfile.ZipFile(archive_bytes, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("2088_20261130_业务明细.csv", zeros)
    assert await _reconcile(demo, "ALIPAY", archive_bytes.getvalue()) == [{"code": "BILL_TOO_LARGE", "field": "bill"}]
    # A truncated gzip is a bad bill, not a crash.
    assert await _reconcile(demo, "WECHAT", bomb[: len(bomb) // 2]) == [{"code": "INVALID_VALUE", "field": "bill"}]


@pytest.mark.parametrize("mutation,field", [("alipayLogin(input: {authCode: $c})", "authCode"), ("wechatLogin(input: {code: $c})", "code")])
async def test_an_over_long_login_code_is_refused_at_the_edge(client, demo, mutation, field):
    mp = GraphQLClient(client.http, path="/mp/graphql")
    data = await mp(f"mutation($c: String!) {{ {mutation} {{ token errors {{ code field }} }} }}", {"c": "demo:" + "x" * 300})
    assert next(iter(data.values())) == {"token": None, "errors": [{"code": "TOO_LONG", "field": field}]}


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "1999-12-31"])
async def test_report_dates_outside_a_sane_range_are_coded_errors(demo, day):
    for query, variables in (
        ("query($s: ID!, $d: Date!) { dailyClose(storeId: $s, date: $d) { date } }", {"s": demo.jingan, "d": day}),
        ("query($d: Date!) { crossStoreSettlement(from: $d, to: $d) { items } }", {"d": day}),
        ("query($d: Date!) { crossStoreSettlement(from: \"2026-11-30\", to: $d) { items } }", {"d": day}),
    ):
        body = await demo.gql.raw(query, variables, as_="finance")
        assert body["data"] is None or next(iter(body["data"].values())) is None, body
        assert [e["extensions"]["code"] for e in body["errors"]] == ["INVALID_VALUE"], body
    errors = (await demo.gql(RECONCILE, {"i": {"channel": "WECHAT", "date": day, "bill": ""}}, as_="finance"))["reconcileBill"]["errors"]
    assert errors == [{"code": "INVALID_VALUE", "field": "date"}]
