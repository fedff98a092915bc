"""What only the database knows, for /metrics at scrape time: payments waiting on the platforms,
outbox events a consumer has not taken yet, messages that failed. One statement of scalar
subqueries, each a range on an index, so a scrape costs one round trip however large the tables."""

from __future__ import annotations

import datetime as dt

from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import and_, exists, func, select

from domain import outbox
from domain.db import utcnow
from domain.notifications import reminders
from domain.payments.records import IntentStatus, payment_intents
from integrations.worker import CONSUMERS

# Events due in this window and not taken: a backlog or a consumer that keeps failing. Bounded so
# that the count reads a range of ix_outbox_events_kind_due_at rather than every event ever queued.
OUTBOX_WINDOW = dt.timedelta(days=7)
ALL_CONSUMERS = (*CONSUMERS, reminders.consumer)


def _count(table, *where):
    return select(func.count()).select_from(table).where(*where).scalar_subquery()


def _outbox_due(consumer: outbox.Consumer, now: dt.datetime):
    events, deliveries = outbox.outbox_events, outbox.outbox_deliveries
    taken = exists().where(and_(deliveries.c.event_id == events.c.id, deliveries.c.consumer == consumer.name))
    return _count(events, events.c.kind.in_(consumer.kinds), events.c.due_at > now - OUTBOX_WINDOW, events.c.due_at <= now, ~taken)


def gauge_statement(now: dt.datetime):
    columns = [
        _count(payment_intents, payment_intents.c.status == IntentStatus.PENDING.value).label("payments_pending"),
        _count(reminders.notifications, reminders.notifications.c.status == reminders.Status.FAILED.value).label("notifications_failed"),
        *(_outbox_due(c, now).label(f"outbox_due_{i}") for i, c in enumerate(ALL_CONSUMERS)),
    ]
    return select(*columns)


async def read(engine) -> list[GaugeMetricFamily]:
    async with engine.connect() as db:
        row = (await db.execute(gauge_statement(utcnow()))).one()
    pending = GaugeMetricFamily("meiye_payments_pending", "Payment intents waiting for the platform (PENDING)")
    pending.add_metric([], row.payments_pending)
    failed = GaugeMetricFamily("meiye_notifications_failed", "Messages from the outbox that the platform refused (FAILED)")
    failed.add_metric([], row.notifications_failed)
    due = GaugeMetricFamily("meiye_outbox_due", f"Outbox events due in the last {OUTBOX_WINDOW.days} days that the consumer has not taken", labels=["consumer"])
    for i, consumer in enumerate(ALL_CONSUMERS):
        due.add_metric([consumer.name], getattr(row, f"outbox_due_{i}"))
    return [pending, failed, due]
