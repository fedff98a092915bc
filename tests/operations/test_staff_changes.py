"""Staff management through the API: role, store and name changes and password resets, by the
owner for anyone but themselves and by a manager for their own store's desk staff only; a reset
ends older tokens at once, a role change counts at the next request; all audited."""

import pytest

from tests.test_access_control import LOGIN, hire
from tests.test_permissions import mutation

UPDATE = mutation("updateStaff", "UpdateStaffInput", "staff { id role name store { id } }")
RESET = mutation("resetStaffPassword", "ResetStaffPasswordInput", "staff { id }")
VIEWER = "{ viewer { username role store { id } } }"


async def test_a_reset_password_ends_older_tokens_at_once(demo):
    staff_id = await hire(demo, "reset-desk", store=demo.jingan)
    old = demo.gql.tokens["reset-desk"]
    done = await demo.gql(RESET, {"i": {"staffId": staff_id, "password": "brand-new-password"}}, as_="manager")
    assert done["resetStaffPassword"] == {"staff": {"id": staff_id}, "errors": []}
    body = await demo.gql.raw(VIEWER, token=old)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]
    assert [e["code"] for e in (await demo.gql(LOGIN, {"u": "reset-desk", "p": "hired-password"}))["staffLogin"]["errors"]] == ["INVALID_CREDENTIALS"]
    assert await demo.gql.login("reset-desk", "brand-new-password")
    short = await demo.gql(RESET, {"i": {"staffId": staff_id, "password": "short"}}, as_="owner")
    assert short["resetStaffPassword"]["errors"][0]["code"] == "PASSWORD_TOO_SHORT"
    log = await demo.gql("{ auditLog(first: 3) { edges { node { action entityId } } } }", as_="owner")
    assert log["auditLog"]["edges"][0]["node"]["action"] == "staff.password"


async def test_a_role_change_counts_at_the_next_request_and_is_audited(demo):
    staff_id = await hire(demo, "move-desk", store=demo.jingan)
    token = demo.gql.tokens["move-desk"]
    moved = await demo.gql(UPDATE, {"i": {"staffId": staff_id, "role": "TECHNICIAN", "name": "小李"}}, as_="manager")
    assert moved["updateStaff"] == {"staff": {"id": staff_id, "role": "TECHNICIAN", "name": "小李", "store": {"id": demo.jingan}}, "errors": []}
    assert (await demo.gql(VIEWER, token=token))["viewer"]["role"] == "TECHNICIAN"
    refused = await demo.gql.raw("mutation { cancelOrder(input: {orderId: \"x\"}) { errors { code } } }", token=token)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    to_xuhui = await demo.gql(UPDATE, {"i": {"staffId": staff_id, "storeId": demo.xuhui}}, as_="owner")
    assert to_xuhui["updateStaff"]["staff"]["store"] == {"id": demo.xuhui}
    finance = await demo.gql(UPDATE, {"i": {"staffId": staff_id, "role": "FINANCE"}}, as_="owner")
    assert finance["updateStaff"]["staff"]["store"] is None
    back = await demo.gql(UPDATE, {"i": {"staffId": staff_id, "role": "RECEPTIONIST"}}, as_="owner")
    assert back["updateStaff"]["errors"][0] == {"code": "REQUIRED", "field": "storeId", "message": "门店不能为空"}
    log = await demo.gql("{ auditLog(first: 2) { edges { node { action before after } } } }", as_="owner")
    assert log["auditLog"]["edges"][0]["node"] == {"action": "staff.update", "before": {"role": "TECHNICIAN", "store_id": log["auditLog"]["edges"][0]["node"]["before"]["store_id"]},
                                                   "after": {"role": "FINANCE", "store_id": None}}


@pytest.mark.parametrize("caller, target, change, code", [
    ("manager", "xuhui-desk", {"name": "x"}, "STORE_FORBIDDEN"),
    ("manager", "own-desk", {"role": "STORE_MANAGER"}, "ROLE_FORBIDDEN"),
    ("manager", "own-desk", {"storeId": "XUHUI"}, "STORE_FORBIDDEN"),
    ("manager", "manager", {"name": "x"}, "CANNOT_CHANGE_SELF"),
    ("owner", "owner", {"role": "FINANCE"}, "CANNOT_CHANGE_SELF"),
])
async def test_who_may_change_whom(caller, target, change, code, demo):
    targets = {"xuhui-desk": await hire(demo, "xuhui-desk", store=demo.xuhui), "own-desk": await hire(demo, "own-desk", store=demo.jingan),
               "manager": demo.staff["manager"], "owner": demo.staff["owner"]}
    change = {k: (demo.xuhui if v == "XUHUI" else v) for k, v in change.items()}
    data = await demo.gql(UPDATE, {"i": {"staffId": targets[target], **change}}, as_=caller)
    assert data["updateStaff"]["staff"] is None and data["updateStaff"]["errors"][0]["code"] == code
    if caller == "manager" and target == "xuhui-desk":
        reset = await demo.gql(RESET, {"i": {"staffId": targets[target], "password": "brand-new-password"}}, as_="manager")
        assert reset["resetStaffPassword"]["errors"][0]["code"] == "STORE_FORBIDDEN"
