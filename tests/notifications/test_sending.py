"""Reminders end to end on the real database: a template, a customer's consent through the WeChat
stand-in, a desk top-up, and `meiye worker`'s pass sending exactly one subscribe message; then
no quota, turned off, 43101, retries, quiet hours, a worker killed at each step, two workers at once."""

import asyncio
import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select, text
from starlette.applications import Starlette

from domain.db import read_transaction
from domain.members.customers import Channel
from domain.notifications.reminders import notifications
from integrations import subscribe_messages, worker
from integrations.demo import DemoStandins
from integrations.runtime import build_registry
from integrations.standins import StandIns, StandInServer, generate_demo_keys
from schema.app import create_app, make_services
from tests.support import GraphQLClient, assert_ledger_ok

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 14:00 in Shanghai tomorrow: after every event the test makes, outside quiet hours, whatever the wall clock.
NOON = dt.datetime.combine(dt.datetime.now(SHANGHAI).date() + dt.timedelta(days=1), dt.time(14, 0), tzinfo=SHANGHAI).astimezone(dt.UTC)

SET_TEMPLATE = """mutation($i: SetNotificationTemplateInput!) { setNotificationTemplate(input: $i) {
  template { kind templateId page fields { key value } } errors { code field message } } }"""
REPORT = """mutation($i: ReportSubscriptionsInput!) { reportSubscriptions(input: $i) { quotas { templateId remaining lastStatus } errors { code } } }"""
PREFERENCE = """mutation($i: SetNotificationPreferenceInput!) { setNotificationPreference(input: $i) { preferences { kind enabled } errors { code } } }"""
LIST = """query($m: ID, $s: NotificationStatus) { notifications(memberId: $m, status: $s, first: 50) {
  edges { node { id kind status attempts lastError sentAt templateId } } } }"""
BALANCE_FIELDS = [{"key": "thing1", "value": "{store}"}, {"key": "amount2", "value": "{amount}"}, {"key": "amount3", "value": "{balance}"},
                  {"key": "time4", "value": "{time}"}, {"key": "phrase5", "value": "{change}"}]


@pytest.fixture(scope="module")
def standins():
    platforms = StandIns(generate_demo_keys())
    server = StandInServer(Starlette(routes=platforms.routes())).start()
    yield platforms, server
    server.stop()


class Flow:
    def __init__(self, http, gql, platforms, services, demo):
        self.http, self.mp, self.platforms, self.services, self.demo = http, gql, platforms, services, demo
        self.wechat = platforms.wechat

    async def set_template(self, kind="BALANCE_CHANGED", template_id="tmpl_balance", fields=None, page="pages/card/index", as_="owner") -> dict:
        return (await self.demo.gql(SET_TEMPLATE, {"i": {"kind": kind, "templateId": template_id, "page": page, "fields": fields or BALANCE_FIELDS}},
                                    as_=as_))["setNotificationTemplate"]

    async def customer(self) -> tuple[str, str, str]:
        """A member registered at the desk, logged in and bound in the mini-program: (member id, openid, token)."""
        phone = f"139{uuid.uuid4().int % 10**8:08d}"
        member = await self.demo.register("林小姐", phone=phone)
        openid = f"o_{uuid.uuid4().hex[:10]}"
        token = (await self.mp(f'mutation {{ wechatLogin(input: {{code: "demo:{openid}"}}) {{ token }} }}'))["wechatLogin"]["token"]
        bound = (await self.mp(f'mutation {{ bindPhone(input: {{phoneCode: "demo-phone:{phone}", consent: true}}) {{ member {{ id }} errors {{ code }} }} }}',
                               token=token))["bindPhone"]
        assert bound["errors"] == [] and bound["member"]["id"] == member["id"], bound
        return member["id"], openid, token

    async def accept(self, token: str, template_id: str = "tmpl_balance", status: str = "ACCEPT") -> list:
        data = (await self.mp(REPORT, {"i": {"results": [{"templateId": template_id, "status": status}]}}, token=token))["reportSubscriptions"]
        assert data["errors"] == [], data
        return data["quotas"]

    def sent_to(self, openid: str) -> list[dict]:
        return [m for m in self.wechat.messages if m["touser"] == openid]

    async def run(self, now=NOON, hook=None) -> dict:
        return await subscribe_messages.run_once(self.services, now=now, hook=hook)

    async def rows(self, member_id: str, status: str | None = None) -> list[dict]:
        data = await self.demo.gql(LIST, {"m": member_id, "s": status}, as_="marketer")
        return [e["node"] for e in data["notifications"]["edges"]]


@pytest.fixture
async def flow(demo, settings, engine, standins):
    platforms, server = standins
    async with engine.connect() as db:
        brand_id = (await db.execute(text("SELECT brand_id FROM staff WHERE username = 'owner'"))).scalar_one()
    demo_config = DemoStandins(server.base_url, platforms)
    rows = [{"brand_id": brand_id, "channel": c, "app_id": demo_config.config(c)["app_id"], "merchant_id": None, "config": demo_config.config(c)} for c in Channel]
    registry = build_registry(rows, "http://meiye.test")
    app = create_app(settings, engine=engine, platforms=registry)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://meiye.test") as http:
            services = make_services(settings, engine)
            services.platforms = registry
            yield Flow(http, GraphQLClient(http, path="/mp/graphql"), platforms, services, demo)


async def test_one_accept_one_top_up_one_message_then_nothing_more(flow, engine):
    assert (await flow.set_template())["errors"] == []
    member_id, openid, token = await flow.customer()
    templates = (await flow.mp("{ notificationTemplates { kind templateId } }", token=token))["notificationTemplates"]
    assert templates == [{"kind": "BALANCE_CHANGED", "templateId": "tmpl_balance"}]
    assert await flow.accept(token) == [{"templateId": "tmpl_balance", "remaining": 1, "lastStatus": "ACCEPT"}]
    await flow.demo.top_up(member_id, 100_000)  # 金卡: ¥1,000 + ¥200 gift

    counts = await worker.run_once(flow.services, now=NOON)
    assert counts["notifications_sent"] == 1, counts
    [message] = flow.sent_to(openid)
    assert message["template_id"] == "tmpl_balance" and message["page"] == "pages/card/index"
    assert message["miniprogram_state"] == "formal" and message["lang"] == "zh_CN"
    local = (await flow.rows(member_id))[0]
    assert local["status"] == "SENT" and local["attempts"] == 1 and local["sentAt"] is not None
    data = {k: v["value"] for k, v in message["data"].items()}
    assert data["thing1"] == "静安店" and data["amount2"] == "¥1,200.00" and data["amount3"] == "¥1,200.00" and data["phrase5"] == "充值"
    assert data["time4"].startswith(dt.datetime.now(SHANGHAI).strftime("%Y年%m月%d日 "))
    quotas = (await flow.mp("{ subscriptionQuotas { templateId remaining } }", token=token))["subscriptionQuotas"]
    assert quotas == [{"templateId": "tmpl_balance", "remaining": 0}]

    await flow.demo.top_up(member_id, 5_000)  # no quota left
    counts = await flow.run()
    assert counts["sent"] == 0 and counts["skipped"] == 1, counts
    assert len(flow.sent_to(openid)) == 1
    skipped = await flow.rows(member_id, "SKIPPED")
    assert [(r["kind"], r["lastError"]) for r in skipped] == [("BALANCE_CHANGED", "NO_QUOTA")]
    again = await flow.run(NOON + dt.timedelta(hours=1))
    assert again["sent"] == again["queued"] == again["skipped"] == 0 and len(flow.sent_to(openid)) == 1
    await assert_ledger_ok(engine)


async def test_turned_off_gets_nothing_and_keeps_its_quota(flow):
    await flow.set_template()
    member_id, openid, token = await flow.customer()
    await flow.accept(token)
    off = (await flow.mp(PREFERENCE, {"i": {"kind": "BALANCE_CHANGED", "enabled": False}}, token=token))["setNotificationPreference"]
    assert {"kind": "BALANCE_CHANGED", "enabled": False} in off["preferences"]
    await flow.demo.top_up(member_id, 10_000)
    await flow.run()
    assert flow.sent_to(openid) == []
    assert [(r["status"], r["lastError"]) for r in await flow.rows(member_id)] == [("SKIPPED", "TURNED_OFF")]
    quotas = (await flow.mp("{ subscriptionQuotas { remaining } }", token=token))["subscriptionQuotas"]
    assert quotas == [{"remaining": 1}]


async def test_43101_zeroes_the_quota_and_is_not_retried(flow):
    await flow.set_template()
    member_id, openid, token = await flow.customer()
    for _ in range(3):
        await flow.accept(token)
    flow.wechat.answer_next(43101)
    await flow.demo.top_up(member_id, 10_000)
    counts = await flow.run()
    assert counts["failed"] == 1, counts
    [row] = await flow.rows(member_id)
    assert row["status"] == "FAILED" and row["lastError"].startswith("43101")
    assert (await flow.mp("{ subscriptionQuotas { remaining } }", token=token))["subscriptionQuotas"] == [{"remaining": 0}]
    await flow.run(NOON + dt.timedelta(hours=3))
    assert len(flow.sent_to(openid)) == 1  # the one refused; never again
    resend = (await flow.demo.gql('mutation($i: ResendNotificationInput!) { resendNotification(input: $i) { notification { status } errors { code } } }',
                                  {"i": {"notificationId": row["id"]}}, as_="marketer"))["resendNotification"]
    assert [e["code"] for e in resend["errors"]] == ["NOTIFICATION_NO_QUOTA"]


async def test_bad_data_fails_with_quota_back_and_45009_retries_with_backoff(flow):
    await flow.set_template()
    member_id, openid, token = await flow.customer()
    await flow.accept(token)
    flow.wechat.answer_next(47003)
    await flow.demo.top_up(member_id, 10_000)
    assert (await flow.run())["failed"] == 1
    [row] = await flow.rows(member_id)
    assert row["status"] == "FAILED" and row["lastError"].startswith("47003")
    assert (await flow.mp("{ subscriptionQuotas { remaining } }", token=token))["subscriptionQuotas"] == [{"remaining": 1}]
    # Staff resend it once the template is fixed; this time WeChat is over its limit, then fine.
    resend = (await flow.demo.gql('mutation($i: ResendNotificationInput!) { resendNotification(input: $i) { notification { status } errors { code } } }',
                                  {"i": {"notificationId": row["id"]}}, as_="marketer"))["resendNotification"]
    assert resend == {"notification": {"status": "PENDING"}, "errors": []}
    flow.wechat.answer_next(45009)
    assert (await flow.run(NOON + dt.timedelta(minutes=1)))["retry"] == 1
    [row] = await flow.rows(member_id)
    assert row["status"] == "PENDING" and row["attempts"] == 1 and row["lastError"].startswith("45009")
    assert (await flow.run(NOON + dt.timedelta(minutes=1, seconds=30)))["sent"] == 0  # backing off
    assert (await flow.run(NOON + dt.timedelta(minutes=3)))["sent"] == 1
    assert [m["errcode"] for m in flow.sent_to(openid)] == [47003, 45009, 0]


async def test_quiet_hours_postpone_to_morning(flow, engine):
    on = await flow.demo.gql("mutation { updateNotificationSettings(input: {quietHours: true}) { settings { quietHours quietStart quietEnd } errors { code } } }",
                             as_="owner")
    assert on["updateNotificationSettings"] == {"settings": {"quietHours": True, "quietStart": "22:00", "quietEnd": "08:00"}, "errors": []}
    await flow.set_template()
    member_id, openid, token = await flow.customer()
    await flow.accept(token)
    await flow.demo.top_up(member_id, 10_000)
    late = NOON + dt.timedelta(hours=9)  # 23:00 in Shanghai
    counts = await flow.run(late)
    assert counts["postponed"] == 1 and flow.sent_to(openid) == []
    async with read_transaction(engine) as db:
        due = await db.scalar(select(notifications.c.due_at).where(notifications.c.status == "PENDING"))
    assert due.astimezone(SHANGHAI).time() == dt.time(8, 0) and due > late
    assert (await flow.run(due))["sent"] == 1


async def test_templates_are_checked_when_set(flow):
    bad = await flow.set_template(fields=[{"key": "thing1", "value": "{nonsense}"}])
    assert [(e["code"], e["field"]) for e in bad["errors"]] == [("TEMPLATE_PLACEHOLDER_UNKNOWN", "fields.0.value")]
    bad = await flow.set_template(fields=[{"key": "amount2", "value": "{store}"}])
    assert [e["code"] for e in bad["errors"]] == ["TEMPLATE_KEYWORD_MISMATCH"]
    bad = await flow.set_template(fields=[{"key": "amount2", "value": "余额{balance}"}])
    assert [e["code"] for e in bad["errors"]] == ["TEMPLATE_KEYWORD_MISMATCH"]
    bad = await flow.set_template(fields=[{"key": "colour1", "value": "{store}"}])
    assert [e["code"] for e in bad["errors"]] == ["TEMPLATE_KEYWORD_UNKNOWN"]
    bad = await flow.set_template(fields=[{"key": "phrase1", "value": "非常长的短语"}])
    assert [e["code"] for e in bad["errors"]] == ["TOO_LONG"]
    bad = await flow.set_template(kind="COUPON_EXPIRING", fields=[{"key": "thing1", "value": "{balance}"}])
    assert [e["code"] for e in bad["errors"]] == ["TEMPLATE_PLACEHOLDER_UNKNOWN"]
    refused = await flow.demo.gql.raw(SET_TEMPLATE, {"i": {"kind": "BALANCE_CHANGED", "templateId": "t", "fields": BALANCE_FIELDS}}, as_="reception")
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await flow.demo.gql("{ notificationTemplates { kind } }", as_="owner"))["notificationTemplates"] == []


class Died(Exception):
    pass


async def test_killed_between_claim_and_send_sends_later_exactly_once(flow):
    await flow.set_template()
    member_id, openid, token = await flow.customer()
    await flow.accept(token)
    await flow.demo.top_up(member_id, 10_000)

    async def die_after_claim(step, _claimed):
        if step == "claimed":
            raise Died

    with pytest.raises(Died):
        await flow.run(hook=die_after_claim)
    assert flow.sent_to(openid) == []
    assert (await flow.run(NOON + dt.timedelta(minutes=1)))["sent"] == 0  # its lease has not run out
    counts = await flow.run(NOON + dt.timedelta(minutes=10))
    assert counts["requeued"] == 1 and counts["sent"] == 1, counts
    assert len(flow.sent_to(openid)) == 1
    assert [(r["status"], r["attempts"]) for r in await flow.rows(member_id)] == [("SENT", 1)]


async def test_killed_between_send_and_record_is_never_sent_again(flow):
    await flow.set_template()
    member_id, openid, token = await flow.customer()
    for _ in range(2):
        await flow.accept(token)
    await flow.demo.top_up(member_id, 10_000)

    async def die_after_send(step, _claimed):
        if step == "sent":
            raise Died

    with pytest.raises(Died):
        await flow.run(hook=die_after_send)
    assert len(flow.sent_to(openid)) == 1
    counts = await flow.run(NOON + dt.timedelta(minutes=10))
    assert counts["unknown"] == 1 and counts["sent"] == 0
    [row] = await flow.rows(member_id)
    assert row["status"] == "UNKNOWN" and row["lastError"].startswith("SEND_INTERRUPTED")
    await flow.run(NOON + dt.timedelta(hours=1))
    assert len(flow.sent_to(openid)) == 1
    assert (await flow.mp("{ subscriptionQuotas { remaining } }", token=token))["subscriptionQuotas"] == [{"remaining": 1}]


async def test_two_workers_at_once_send_each_row_once(flow, engine):
    await flow.set_template()
    customers = [await flow.customer() for _ in range(6)]
    for member_id, _openid, token in customers:
        await flow.accept(token)
        await flow.accept(token)
        await flow.demo.top_up(member_id, 10_000)
        await flow.demo.top_up(member_id, 20_000)
    results = await asyncio.gather(flow.run(), flow.run(), flow.run())
    assert sum(r["sent"] for r in results) == 12, results
    for member_id, openid, _ in customers:
        assert len(flow.sent_to(openid)) == 2
        assert sorted(r["status"] for r in await flow.rows(member_id)) == ["SENT", "SENT"]


async def _wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_a_real_worker_process_killed_at_each_step(flow, engine, database_url, standins):
    """`meiye worker --once` as its own process, SIGKILLed while WeChat is slow to hand out a token
    (claimed, nothing sent: sent later, once) and while it is slow to answer a send (delivered,
    unrecorded: UNKNOWN, never sent again)."""
    import signal
    import subprocess

    from tests.live_server import MEIYE, ROOT, cli_env

    platforms, server = standins
    await flow.set_template()
    async with engine.connect() as db:
        brand_id = (await db.execute(text("SELECT brand_id FROM staff WHERE username = 'owner'"))).scalar_one()
    env = cli_env(MEIYE_WECHAT_APPID=platforms.wechat.app_id, MEIYE_WECHAT_SECRET=platforms.keys.wechat_app_secret,
                  MEIYE_WECHAT_API_BASE=f"{server.base_url}/_standins/wechat", MEIYE_MP_BRAND_ID=str(brand_id))

    async def status_of(member_pk: int) -> str | None:
        async with engine.connect() as db:
            return await db.scalar(select(notifications.c.status).where(notifications.c.member_id == member_pk))

    async def kill_worker_when(ready) -> None:
        child = subprocess.Popen([str(MEIYE), "worker", "--once", "--database", database_url], env=env, cwd=ROOT,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        try:
            await _wait_for(ready)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)

    from resolvers.ids import parse_global_id

    # 1. Killed between claim and send.
    member_id, openid, token = await flow.customer()
    member_pk = parse_global_id(member_id)[1]
    await flow.accept(token)
    await flow.demo.top_up(member_id, 10_000)
    flow.wechat.token_delay = 60
    try:
        await kill_worker_when(lambda: _is(status_of(member_pk), "CLAIMED"))
    finally:
        flow.wechat.token_delay = 0
    assert flow.sent_to(openid) == []
    counts = await flow.run(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10))
    assert (counts["requeued"], counts["sent"]) == (1, 1), counts
    assert len(flow.sent_to(openid)) == 1

    # 2. Killed between send and record.
    member_id, openid, token = await flow.customer()
    member_pk = parse_global_id(member_id)[1]
    await flow.accept(token)
    await flow.demo.top_up(member_id, 10_000)
    flow.wechat.send_delay = 60

    async def delivered() -> bool:
        return len(flow.sent_to(openid)) == 1

    try:
        await kill_worker_when(delivered)
    finally:
        flow.wechat.send_delay = 0
    assert await status_of(member_pk) == "SENDING"
    counts = await flow.run(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10))
    assert (counts["unknown"], counts["sent"]) == (1, 0), counts
    assert await status_of(member_pk) == "UNKNOWN" and len(flow.sent_to(openid)) == 1


async def _is(awaitable, expected) -> bool:
    return await awaitable == expected


async def test_alipay_identities_get_alipay_template_messages(flow):
    await flow.set_template()  # WeChat's; an Alipay customer gets Alipay's
    assert (await flow.demo.gql(SET_TEMPLATE, {"i": {"kind": "BALANCE_CHANGED", "platform": "ALIPAY", "templateId": "alipay_tmpl_balance", "page": "pages/card/index",
                                                    "fields": [{"key": "amount1", "value": "{balance}"}, {"key": "thing2", "value": "{store}{change}"}]}},
                                as_="owner"))["setNotificationTemplate"]["errors"] == []
    phone = f"137{uuid.uuid4().int % 10**8:08d}"
    member = await flow.demo.register("支付宝会员", phone=phone)
    open_id = f"0{uuid.uuid4().int % 10**15:015d}"
    token = (await flow.mp(f'mutation {{ alipayLogin(input: {{authCode: "demo:{open_id}"}}) {{ token }} }}'))["alipayLogin"]["token"]
    code = flow.platforms.alipay.phone_response_for(phone)
    bound = (await flow.mp("mutation($c: String!) { bindPhone(input: {phoneCode: $c, consent: true}) { member { id } } }", {"c": code}, token=token))["bindPhone"]
    assert bound["member"]["id"] == member["id"]
    templates = (await flow.mp("{ notificationTemplates { kind templateId } }", token=token))["notificationTemplates"]
    assert templates == [{"kind": "BALANCE_CHANGED", "templateId": "alipay_tmpl_balance"}]
    await flow.accept(token, "alipay_tmpl_balance")
    await flow.demo.top_up(member["id"], 100_000)
    assert (await flow.run())["sent"] == 1
    [message] = [m for m in flow.platforms.alipay.template_messages if m.get("to_open_id") == open_id]
    assert message["user_template_id"] == "alipay_tmpl_balance" and message["page"] == "pages/card/index"
    assert message["data"] == {"amount1": {"value": "¥1,200.00"}, "thing2": {"value": "静安店充值"}}


async def test_daily_cap_holds_the_rest_for_tomorrow(flow, engine):
    capped = await flow.demo.gql("mutation { updateNotificationSettings(input: {dailyCap: 1}) { settings { dailyCap } errors { code } } }", as_="owner")
    assert capped["updateNotificationSettings"] == {"settings": {"dailyCap": 1}, "errors": []}
    refused = await flow.demo.gql("mutation { updateNotificationSettings(input: {dailyCap: 0, lang: \"fr\"}) { settings { dailyCap } errors { code field } } }",
                                  as_="owner")
    assert refused["updateNotificationSettings"]["errors"] == [{"code": "INVALID_VALUE", "field": "lang"}]
    await flow.set_template()
    member_id, openid, token = await flow.customer()
    await flow.accept(token)
    await flow.accept(token)
    await flow.demo.top_up(member_id, 10_000)
    await flow.demo.top_up(member_id, 20_000)
    counts = await flow.run()
    assert (counts["sent"], counts["postponed"]) == (1, 1), counts
    async with read_transaction(engine) as db:
        due = await db.scalar(select(notifications.c.due_at).where(notifications.c.status == "PENDING"))
    assert due.astimezone(SHANGHAI) == dt.datetime.combine(NOON.astimezone(SHANGHAI).date() + dt.timedelta(days=1), dt.time(0), tzinfo=SHANGHAI)
    assert (await flow.run(due))["sent"] == 1
    assert len(flow.sent_to(openid)) == 2


async def test_a_brace_that_is_no_placeholder_is_refused(flow):
    for value in ("{", "}", "{amount", "amount}", "{{amount}}", "{__class__}", "{0}", "{}", "{amount!r:>99999999}", "{amount:%}", "{amount.real}"):
        bad = await flow.set_template(fields=[{"key": "thing1", "value": value}])
        assert [(e["code"], e["field"]) for e in bad["errors"]] == [("TEMPLATE_SYNTAX", "fields.0.value")], value
        assert bad["template"] is None
    good = await flow.set_template(fields=[{"key": "thing1", "value": "{store}余额{balance}"}])
    assert good["errors"] == [] and good["template"]["fields"] == [{"key": "thing1", "value": "{store}余额{balance}"}]
