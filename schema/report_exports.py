"""CSV exports of the reports: `GET /reports/<name>.csv?…` with a staff bearer token, checked by the
same permission rows as the GraphQL fields they mirror. UTF-8 with a BOM so Excel reads Chinese;
amounts in yuan with two decimals."""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from domain.errors import DomainError
from domain.members.members import members
from domain.members.pii import mask_phone
from domain.reports import member_value
from resolvers import reports
from resolvers.context import Context
from resolvers.errors import AuthError, QueryError

log = logging.getLogger("meiye.exports")
MAX_MEMBERS = 50_000


def yuan(fen: int | None) -> str:
    fen = int(fen or 0)
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def _csv(rows: list[list]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _date(request: Request, name: str, required: bool = True) -> dt.date | None:
    value = request.query_params.get(name)
    if not value:
        if required:
            raise DomainError("REQUIRED", name, what=name)
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise DomainError("INVALID_VALUE", name, what="日期（YYYY-MM-DD）") from None


async def _daily_close(ctx: Context, request: Request) -> list[list]:
    r = await reports.daily_close(ctx, store_id=request.query_params.get("storeId") or "", day=_date(request, "date"))
    rows = [["section", "item", "quantity", "amount_yuan"]]
    rows += [["sales", c["category"], c["quantity"], yuan(c["net_amount"])] for c in r.sales]
    rows += [["payments", m, "", yuan(a)] for m, a in sorted(r.payments.items())]
    rows += [["top_ups", "principal", r.top_ups["count"], yuan(r.top_ups["principal"])], ["top_ups", "gift", "", yuan(r.top_ups["gift"])]]
    rows += [["stored_value_spent", k, "", yuan(v)] for k, v in r.stored_value_spent.items()]
    rows += [["count_card_sessions", "", r.count_card_sessions, ""], ["refunds", "", r.refunds["count"], yuan(r.refunds["amount"])]]
    return rows


async def _settlement(ctx: Context, request: Request) -> list[list]:
    lines = await reports.settlement(ctx, start=_date(request, "from"), end=_date(request, "to"))
    return [["payer_store_id", "payee_store_id", "items", "consumed_yuan", "settlement_yuan"]] + [
        [l.payer_store_id, l.payee_store_id, l.items, yuan(l.consumed), yuan(l.amount)] for l in lines]


async def _performance(ctx: Context, request: Request) -> list[list]:
    found = await reports.technician_performance(ctx, store_id=request.query_params.get("storeId"), start=_date(request, "from"), end=_date(request, "to"))
    return [["staff", "services", "service_revenue_yuan", "count_card_sessions", "card_sales_yuan", "products_sold", "commission_yuan", "rating"]] + [
        [p.name, p.services_count, yuan(p.service_revenue), p.count_card_sessions, yuan(p.card_sales), p.products_sold, yuan(p.commission),
         "" if p.rating is None else p.rating] for p in found]


async def _liability(ctx: Context, request: Request) -> list[list]:
    r = await reports.prepaid_liability(ctx, day=_date(request, "date", required=False))
    rows = [["store_id", "principal_yuan", "gift_yuan", "count_card_deferred_yuan"]]
    rows += [[s or "", yuan(h.principal), yuan(h.gift), yuan(h.count_card_deferred)] for s, h in r.by_store.items()]
    rows += [["total", yuan(r.principal), yuan(r.gift), yuan(r.count_card_deferred)], ["escrow_required", yuan(r.escrow_required), "", ""]]
    return rows


async def _members(ctx: Context, request: Request) -> list[list]:
    async def work(db, actor):
        found = list(await db.execute(members.select().where(members.c.brand_id == actor.brand_id).order_by(members.c.id).limit(MAX_MEMBERS)))
        values = await member_value.member_values(db, actor.brand_id, [m.id for m in found]) if found else {}
        return found, values

    found, values = await ctx.query("memberValue", work)
    full = ctx.sees_full_pii()
    rows = [["member_no", "name", "phone", "tier", "points", "lifetime_spend_yuan", "visits", "average_ticket_yuan", "last_visit"]]
    for m in found:
        phone = ctx.cipher.decrypt(m.phone_cipher)
        v = values[m.id]
        rows.append([m.member_no, m.name, phone if full else mask_phone(phone), m.tier, m.points, yuan(v.lifetime_spend), v.visits, yuan(v.average_ticket),
                     v.last_visit.isoformat() if v.last_visit else ""])
    return rows


EXPORTS = {"daily-close": _daily_close, "settlement": _settlement, "technician-performance": _performance,
           "prepaid-liability": _liability, "members": _members}


def export_routes(services_ref: dict) -> list[Route]:
    async def export(request: Request) -> Response:
        name = request.path_params["name"]
        build = EXPORTS.get(name)
        if build is None:
            return PlainTextResponse("unknown report", status_code=404)
        ctx = Context(services_ref["services"], authorization=request.headers.get("authorization"),
                      accept_language=request.headers.get("accept-language"), request=request)
        try:
            rows = await build(ctx, request)
        except AuthError as e:
            return PlainTextResponse(str(e), status_code=401 if e.extensions["code"] == "UNAUTHENTICATED" else 403)
        except QueryError as e:
            return PlainTextResponse(f"{e.extensions['code']}: {e}", status_code=400)
        except DomainError as e:
            return PlainTextResponse(f"{e.code}: {e.message(ctx.lang)}", status_code=400)
        finally:
            await ctx.close()  # the request's read connection (resolvers.request_db)
        return Response(_csv(rows), media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": f'attachment; filename="{name}.csv"'})

    return [Route("/reports/{name}.csv", export, methods=["GET"])]
