"""Celery tasks of the engine."""
from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from .models import WebhookDelivery
from .webhooks import attempt
from .workflows import timers


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver_webhook(self, delivery_id):
    """Post one webhook delivery; on failure, schedule the next attempt with backoff.

    The row is locked while it is posted, so a retry and the sweeper never send it twice at once,
    and the outcome commits with the lock: a worker killed mid-post leaves the row pending, its
    unacknowledged task goes to another worker (or the sweeper finds the row), and the receiver gets
    the event again with the same ``X-Cabinet-Delivery`` id (at least once; receivers dedupe by it).
    Run eagerly (no broker), a failed delivery waits for ``sweep_webhooks`` instead of retrying
    inside the request that caused it. A retry due later than half the broker's visibility timeout
    is left to the sweeper too: a task held that long unacknowledged would be handed out again.
    """
    with transaction.atomic():
        delivery = (WebhookDelivery.objects.select_for_update(skip_locked=True)
                    .filter(pk=delivery_id, status=WebhookDelivery.PENDING).first())
        if delivery is None:
            return
        if delivery.next_attempt_at and delivery.next_attempt_at > timezone.now() + dt.timedelta(seconds=1):
            return  # not due yet: the scheduled retry or the sweeper will come back for it
        delivered = attempt(delivery)
    if not delivered and delivery.status == WebhookDelivery.PENDING and not self.request.is_eager:
        countdown = max((delivery.next_attempt_at - timezone.now()).total_seconds(), 0)
        visibility = self.app.conf.broker_transport_options.get("visibility_timeout", 3600)
        if countdown <= visibility / 2:
            deliver_webhook.apply_async((delivery_id,), countdown=countdown)


@shared_task(ignore_result=True)
def sweep_webhooks(limit=500):
    """Hand due pending deliveries to the workers again (after a broker outage or a lost retry)."""
    due = WebhookDelivery.objects.filter(status=WebhookDelivery.PENDING, next_attempt_at__lte=timezone.now())
    ids = list(due.order_by("next_attempt_at").values_list("pk", flat=True)[:limit])
    for pk in ids:
        deliver_webhook.delay(pk)
    return len(ids)


@shared_task(ignore_result=True)
def sweep_timers(limit=500):
    """Fire the workflow timers that are due (beat runs this every minute; see engine/workflows/timers.py)."""
    return dict(timers.sweep(limit=limit))
