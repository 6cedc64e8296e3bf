"""Outgoing webhooks: a change is recorded in the outbox with the change, then posted, signed, by Celery.

The body is the row as the API shows it to a caller who sees every field. The signature is an
HMAC-SHA256 of ``<timestamp>.<body>`` with the shared secret, sent as
``X-Cabinet-Signature: t=<timestamp>,v1=<hex>`` so a receiver can check it and refuse replays.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import time

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError
from rest_framework.renderers import JSONRenderer

from .models import WebhookDelivery
from .netguard import RefusedTarget, check_url, session

log = logging.getLogger("engine.webhooks")
TIMEOUT = 5  # seconds per call; a receiver that is slower is retried later


def emit(built, entity, event, obj, hooks=None):
    """Record a delivery for every webhook of ``entity`` listening to ``event`` (or for ``hooks``, called by a
    workflow action); send them after commit."""
    if hooks is None:
        hooks = [h for h in built.spec.webhooks if h.entity == entity and event in h.events]
    if not hooks:
        return []
    data = built.api.entity(entity).full_serializer()(obj).data
    payload = {"event": event, "entity": entity, "id": obj.pk, "version": built.number,
               "occurred_at": timezone.now().isoformat(), "data": json.loads(JSONRenderer().render(data))}
    deliveries = WebhookDelivery.objects.bulk_create([
        WebhookDelivery(webhook=h.name, event=event, entity=entity, object_id=obj.pk, url=h.url,
                        secret_env=h.secret_env or "", payload=payload, next_attempt_at=timezone.now())
        for h in hooks
    ])
    ids = [d.pk for d in deliveries]
    transaction.on_commit(lambda: enqueue(ids))
    return deliveries


def enqueue(ids):
    """Hand deliveries to Celery; if the broker is down they stay pending for the sweeper."""
    from .tasks import deliver_webhook

    for pk in ids:
        try:
            deliver_webhook.delay(pk)
        except OperationalError:
            log.warning("broker unavailable; webhook delivery %s stays pending for the sweeper", pk)


def sign(secret, body, timestamp):
    """The signature header value for ``body`` (bytes) sent at ``timestamp`` (int seconds)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def backoff(attempt):
    """Seconds to wait after failed attempt number ``attempt`` (1, 2, ...): doubling, capped."""
    base = settings.CABINET_WEBHOOK_BACKOFF
    return min(base * 2 ** (attempt - 1), settings.CABINET_WEBHOOK_BACKOFF_MAX)


def attempt(delivery):
    """Post ``delivery`` once; record the outcome; return True when delivered."""
    secret = os.environ.get(delivery.secret_env, "") if delivery.secret_env else ""
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    stamp = int(time.time())
    headers = {"Content-Type": "application/json", "User-Agent": "cabinet-webhooks/1",
               "X-Cabinet-Event": delivery.event, "X-Cabinet-Delivery": str(delivery.pk)}
    delivery.attempts += 1
    error, refused = "", False
    if delivery.secret_env and not secret:
        error = f"environment variable {delivery.secret_env} is not set"
    else:
        if secret:
            headers["X-Cabinet-Signature"] = sign(secret, body, stamp)
        try:
            check_url(delivery.url)
            with session() as http:
                response = http.post(delivery.url, data=body, headers=headers, timeout=TIMEOUT)
            if response.status_code >= 300:
                error = f"HTTP {response.status_code}"
        except RefusedTarget as exc:
            # The target (or a redirect's) is not allowed: trying again cannot help.
            error, refused = str(exc)[:500], True
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
    now = timezone.now()
    if not error:
        delivery.status, delivery.delivered_at, delivery.last_error, delivery.next_attempt_at = (
            WebhookDelivery.DELIVERED, now, "", None)
    elif refused or delivery.attempts >= settings.CABINET_WEBHOOK_ATTEMPTS:
        delivery.status, delivery.last_error, delivery.next_attempt_at = WebhookDelivery.FAILED, error, None
    else:
        delivery.last_error = error
        delivery.next_attempt_at = now + dt.timedelta(seconds=backoff(delivery.attempts))
    delivery.save(update_fields=["status", "attempts", "last_error", "next_attempt_at", "delivered_at"])
    if error:
        log.warning("webhook %s delivery %s attempt %s failed: %s", delivery.webhook, delivery.pk,
                    delivery.attempts, error)
    return not error
