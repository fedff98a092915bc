"""Notifications (DESIGN.md §6, §7): templates, sending rules, the log and resending for staff; which
templates to request, consent and preferences for the mini-program."""

from __future__ import annotations

import datetime as dt
import json

import strawberry
from strawberry.types import Info

from domain.notifications.consent import Subscription
from domain.notifications.reminders import Status
from domain.notifications.templates import Kind, Platform
from domain.pagination import encode_cursor
from resolvers import notifications as resolvers
from resolvers.ids import to_global_id
from schema.errors import UserError, user_errors
from schema.types import Node, PageInfo

NotificationKind = strawberry.enum(Kind, name="NotificationKind", description="What a reminder is about; the placeholders of each are in the README")
NotificationPlatform = strawberry.enum(Platform, name="NotificationPlatform")
NotificationStatus = strawberry.enum(Status, name="NotificationStatus")
SubscriptionStatus = strawberry.enum(Subscription, name="SubscriptionStatus", description="What wx.requestSubscribeMessage answered for a template")


@strawberry.type
class TemplateField:
    key: str
    value: str


@strawberry.input
class TemplateFieldInput:
    key: str = strawberry.field(description="The template's keyword: thing1, amount2, time3, phrase4, number5, character_string6, …")
    value: str = strawberry.field(description="Text with the kind's placeholders, e.g. \"{balance}\"")


@strawberry.type
class NotificationTemplate:
    kind: NotificationKind
    platform: NotificationPlatform
    template_id: str
    page: str | None
    fields: list[TemplateField]

    @staticmethod
    def of(row) -> "NotificationTemplate":
        get = row.get if isinstance(row, dict) else lambda k: getattr(row, k)
        fields = get("fields")
        fields = json.loads(fields) if isinstance(fields, str) else fields
        return NotificationTemplate(kind=Kind(get("kind")), platform=Platform(get("platform")), template_id=get("template_id"), page=get("page"),
                                    fields=[TemplateField(key=k, value=v) for k, v in fields])


@strawberry.input
class SetNotificationTemplateInput:
    kind: NotificationKind
    template_id: str
    fields: list[TemplateFieldInput]
    page: str | None = None
    platform: NotificationPlatform = Platform.WECHAT


@strawberry.type
class SetNotificationTemplatePayload:
    template: NotificationTemplate | None
    errors: list[UserError]


@strawberry.type
class NotificationSettings:
    miniprogram_state: str
    lang: str
    quiet_hours: bool
    quiet_start: str
    quiet_end: str
    daily_cap: int
    max_attempts: int
    count_card_expiry_days: int
    on_account_due_days: int

    @staticmethod
    def of(rules) -> "NotificationSettings":
        return NotificationSettings(**{k: getattr(rules, k) for k in NotificationSettings.__annotations__})


@strawberry.input
class UpdateNotificationSettingsInput:
    miniprogram_state: str | None = strawberry.field(default=None, description="formal | trial | developer")
    lang: str | None = strawberry.field(default=None, description="zh_CN | en_US | zh_HK | zh_TW")
    quiet_hours: bool | None = strawberry.field(default=None, description="Hold messages during quiet hours (store time)")
    quiet_start: str | None = None
    quiet_end: str | None = None
    daily_cap: int | None = strawberry.field(default=None, description="Messages per member per day at most")
    max_attempts: int | None = None
    count_card_expiry_days: int | None = strawberry.field(default=None, description="Remind this many days before a count card (or coupon) expires")
    on_account_due_days: int | None = strawberry.field(default=None, description="An on-account sale falls due this many days after it")


@strawberry.type
class UpdateNotificationSettingsPayload:
    settings: NotificationSettings | None
    errors: list[UserError]


@strawberry.type
class Notification(Node):
    kind: NotificationKind
    status: NotificationStatus
    attempts: int
    last_error: str | None = strawberry.field(description="The reason it was skipped, or the platform's error")
    sent_at: dt.datetime | None
    due_at: dt.datetime
    created_at: dt.datetime
    platform: str | None
    template_id: str | None
    response: str | None = strawberry.field(description="The platform's answer, as received")
    member_id: strawberry.ID

    @staticmethod
    def of(row) -> "Notification":
        return Notification(id=to_global_id("Notification", row.id), kind=Kind(row.kind), status=Status(row.status), attempts=row.attempts,
                            last_error=row.last_error, sent_at=row.sent_at, due_at=row.due_at, created_at=row.created_at, platform=row.platform,
                            template_id=row.template_id, response=row.response, member_id=to_global_id("Member", row.member_id))


@strawberry.type
class NotificationEdge:
    cursor: str
    node: Notification


@strawberry.type
class NotificationConnection:
    edges: list[NotificationEdge]
    page_info: PageInfo


@strawberry.input
class ResendNotificationInput:
    notification_id: strawberry.ID


@strawberry.type
class ResendNotificationPayload:
    notification: Notification | None
    errors: list[UserError]


@strawberry.type
class NotificationQuery:
    @strawberry.field(description="The brand's message templates")
    async def notification_templates(self, info: Info) -> list[NotificationTemplate]:
        return [NotificationTemplate.of(r) for r in await resolvers.staff_templates(info.context)]

    @strawberry.field
    async def notification_settings(self, info: Info) -> NotificationSettings:
        return NotificationSettings.of(await resolvers.notification_settings(info.context))

    @strawberry.field(description="Every notification with its status, newest first")
    async def notifications(self, info: Info, member_id: strawberry.ID | None = None, status: NotificationStatus | None = None,
                            first: int | None = 20, after: str | None = None) -> NotificationConnection:
        rows, more = await resolvers.notification_page(info.context, member_id=member_id, status=status.value if status else None, first=first, after=after)
        return NotificationConnection(edges=[NotificationEdge(cursor=encode_cursor(r.id), node=Notification.of(r)) for r in rows],
                                      page_info=PageInfo(has_next_page=more, end_cursor=encode_cursor(rows[-1].id) if rows else None))


@strawberry.type
class NotificationMutation:
    @strawberry.mutation
    async def set_notification_template(self, info: Info, input: SetNotificationTemplateInput) -> SetNotificationTemplatePayload:
        outcome = await resolvers.set_template(info.context, kind=Kind(input.kind.value), platform=Platform(input.platform.value), template_id=input.template_id,
                                               page=input.page, fields=[(f.key, f.value) for f in input.fields])
        return SetNotificationTemplatePayload(template=NotificationTemplate.of(outcome.value) if outcome.ok else None,
                                              errors=user_errors(outcome.errors, info.context.lang))

    @strawberry.mutation
    async def update_notification_settings(self, info: Info, input: UpdateNotificationSettingsInput) -> UpdateNotificationSettingsPayload:
        changes = {k: getattr(input, k) for k in UpdateNotificationSettingsInput.__annotations__}
        outcome = await resolvers.update_settings(info.context, **changes)
        return UpdateNotificationSettingsPayload(settings=NotificationSettings.of(outcome.value) if outcome.ok else None,
                                                 errors=user_errors(outcome.errors, info.context.lang))

    @strawberry.mutation(description="Send a failed notification again, when the customer has quota")
    async def resend_notification(self, info: Info, input: ResendNotificationInput) -> ResendNotificationPayload:
        outcome = await resolvers.resend(info.context, notification_id=input.notification_id)
        return ResendNotificationPayload(notification=Notification.of(outcome.value) if outcome.ok else None, errors=user_errors(outcome.errors, info.context.lang))


# The mini-program --------------------------------------------------------------------------------

@strawberry.type
class TemplateToRequest:
    kind: NotificationKind
    template_id: str


@strawberry.type
class SubscriptionQuota:
    template_id: str
    remaining: int
    last_status: SubscriptionStatus


@strawberry.input
class SubscriptionResultInput:
    template_id: str
    status: SubscriptionStatus


@strawberry.input
class ReportSubscriptionsInput:
    results: list[SubscriptionResultInput]


@strawberry.type
class ReportSubscriptionsPayload:
    quotas: list[SubscriptionQuota] | None
    errors: list[UserError]


@strawberry.type
class NotificationPreference:
    kind: NotificationKind
    enabled: bool


@strawberry.input
class SetNotificationPreferenceInput:
    kind: NotificationKind
    enabled: bool


@strawberry.type
class SetNotificationPreferencePayload:
    preferences: list[NotificationPreference] | None
    errors: list[UserError]


def _quotas(rows) -> list[SubscriptionQuota]:
    return [SubscriptionQuota(template_id=r.template_id, remaining=r.remaining, last_status=Subscription(r.last_status)) for r in rows]


def _preferences(prefs: dict[str, bool]) -> list[NotificationPreference]:
    return [NotificationPreference(kind=Kind(k), enabled=v) for k, v in prefs.items()]


@strawberry.type
class MpNotificationQuery:
    @strawberry.field(description="The templates to pass to wx.requestSubscribeMessage (or my.requestSubscribeMessage), per kind")
    async def notification_templates(self, info: Info) -> list[TemplateToRequest]:
        return [TemplateToRequest(kind=Kind(r.kind), template_id=r.template_id) for r in await resolvers.my_templates(info.context)]

    @strawberry.field
    async def notification_preferences(self, info: Info) -> list[NotificationPreference]:
        prefs = await resolvers.my_preferences(info.context)
        return _preferences(prefs) if prefs is not None else []

    @strawberry.field
    async def subscription_quotas(self, info: Info) -> list[SubscriptionQuota]:
        return _quotas(await resolvers.my_quotas(info.context))


@strawberry.type
class MpNotificationMutation:
    @strawberry.mutation(description="What the customer accepted: each ACCEPT adds one message of that template")
    async def report_subscriptions(self, info: Info, input: ReportSubscriptionsInput) -> ReportSubscriptionsPayload:
        outcome = await resolvers.report_subscriptions(info.context, [(r.template_id, Subscription(r.status.value)) for r in input.results])
        return ReportSubscriptionsPayload(quotas=_quotas(outcome.value) if outcome.ok else None, errors=user_errors(outcome.errors, info.context.lang))

    @strawberry.mutation
    async def set_notification_preference(self, info: Info, input: SetNotificationPreferenceInput) -> SetNotificationPreferencePayload:
        outcome = await resolvers.set_preference(info.context, Kind(input.kind.value), input.enabled)
        return SetNotificationPreferencePayload(preferences=_preferences(outcome.value) if outcome.ok else None,
                                                errors=user_errors(outcome.errors, info.context.lang))
