"""The notifications area: templates and sending rules (staff), the notification log and resending,
and the customer's consent and preferences (mini-program)."""

from __future__ import annotations

from domain.errors import DomainError
from domain.notifications import consent, reminders, sending, settings, templates
from domain.notifications.consent import Subscription
from domain.notifications.templates import Kind, Platform
from domain.pagination import decode_cursor, page_size
from resolvers.context import Context
from resolvers.customer_context import CustomerContext
from resolvers.errors import Outcome
from resolvers.ids import decode_id


async def set_template(ctx: Context, *, kind: Kind, platform: Platform, template_id: str, page: str | None, fields: list[tuple[str, str]]) -> Outcome:
    return await ctx.mutate("setNotificationTemplate", lambda db, actor: templates.set_template(
        db, actor, kind=kind, platform=platform, template_id=template_id, page=page, fields=fields))


async def staff_templates(ctx: Context) -> list:
    return await ctx.query("notificationTemplates", lambda db, actor: templates.templates_of(db, actor.brand_id))


async def update_settings(ctx: Context, **changes) -> Outcome:
    return await ctx.mutate("updateNotificationSettings", lambda db, actor: settings.update_rules(db, actor, actor.brand_id, **changes))


async def notification_settings(ctx: Context):
    return await ctx.query("notificationSettings", lambda db, actor: settings.rules(db, actor.brand_id))


async def notification_page(ctx: Context, *, member_id: str | None, status: str | None, first: int | None, after: str | None) -> tuple[list, bool]:
    async def work(db, actor):
        size = page_size(first)
        before = decode_cursor(after)
        member_pk = decode_id(member_id, "Member", "memberId") if member_id else None
        rows = await reminders.page(db, actor.brand_id, member_id=member_pk, status=status, size=size + 1, before_id=before)
        return rows[:size], len(rows) > size

    return await ctx.query("notifications", work)


async def resend(ctx: Context, *, notification_id: str) -> Outcome:
    async def work(db, actor):
        return await sending.resend(db, brand_id=actor.brand_id, notification_id=decode_id(notification_id, "Notification", "notificationId"))

    return await ctx.mutate("resendNotification", work)


# The customer's side -------------------------------------------------------------------------------

async def my_templates(ctx: CustomerContext) -> list:
    customer = await ctx.customer()
    async with ctx.reads.reading() as db:
        return await templates.templates_of(db, customer.brand_id, Platform(customer.channel.value))


async def _bound(ctx: CustomerContext, work, field: str) -> Outcome:
    customer = await ctx.customer()
    try:
        if customer.member_id is None:
            raise DomainError("NOT_BOUND", field)
        async with ctx.reads.write_transaction() as db:
            return Outcome(value=await work(db, customer))
    except DomainError as error:
        return Outcome(errors=[error])


async def report_subscriptions(ctx: CustomerContext, results: list[tuple[str, Subscription]]) -> Outcome:
    return await _bound(ctx, lambda db, c: consent.report(db, brand_id=c.brand_id, member_id=c.member_id, results=results), "results")


async def set_preference(ctx: CustomerContext, kind: Kind, enabled: bool) -> Outcome:
    async def work(db, c):
        await consent.set_preference(db, member_id=c.member_id, kind=kind, enabled=enabled)
        return await consent.preferences(db, c.member_id)

    return await _bound(ctx, work, "kind")


async def my_preferences(ctx: CustomerContext) -> dict[str, bool] | None:
    customer = await ctx.customer()
    if customer.member_id is None:
        return None
    async with ctx.reads.reading() as db:
        return await consent.preferences(db, customer.member_id)


async def my_quotas(ctx: CustomerContext) -> list:
    customer = await ctx.customer()
    if customer.member_id is None:
        return []
    async with ctx.reads.reading() as db:
        return await consent.quotas(db, customer.member_id)
