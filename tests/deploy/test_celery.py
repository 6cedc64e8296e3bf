"""Celery's delivery guarantees: a task of a killed worker goes to another one; retries never outlive
the broker's visibility timeout (a task held unacknowledged longer would be handed out again)."""
import datetime as dt
import os
import subprocess
import sys

import pytest
from django.utils import timezone

from engine.celery import app
from engine.models import WebhookDelivery
from engine.tasks import deliver_webhook
from tests.deploy.stack import ROOT


def test_workers_ack_late_and_prefetch_one():
    conf = app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.broker_transport_options["visibility_timeout"] == 300.0
    assert conf.broker_transport_options["unacked_restore_throttle"] == 1
    assert conf.beat_schedule["sweep-webhooks"]["task"] == "engine.tasks.sweep_webhooks"


def test_visibility_timeout_comes_from_the_environment():
    code = ("import django; django.setup(); from engine.celery import app; "
            "o = app.conf.broker_transport_options; print(o['visibility_timeout'], o['unacked_restore_interval'])")
    env = {**os.environ, "CABINET_BROKER_VISIBILITY_TIMEOUT": "4", "DJANGO_SETTINGS_MODULE": "engine.settings"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["4.0", "2"]


@pytest.fixture
def failing_delivery(db, monkeypatch, settings):
    """A pending delivery whose every attempt fails with the configured backoff; scheduled retries recorded."""
    delivery = WebhookDelivery.objects.create(webhook="h", event="create", entity="e", object_id=1,
                                              url="https://example.invalid/hook", payload={},
                                              next_attempt_at=timezone.now())
    scheduled = []

    def attempt(row):
        row.attempts += 1
        row.next_attempt_at = timezone.now() + dt.timedelta(seconds=settings.CABINET_WEBHOOK_BACKOFF)
        row.save(update_fields=["attempts", "next_attempt_at"])
        return False

    monkeypatch.setattr("engine.tasks.attempt", attempt)
    monkeypatch.setattr(deliver_webhook, "apply_async", lambda args, countdown: scheduled.append((args, countdown)))
    monkeypatch.setitem(app.conf, "broker_transport_options", {"visibility_timeout": 100})
    return delivery, scheduled


@pytest.mark.parametrize(("backoff", "retried"), [(10, True), (50, True), (51, False), (3600, False)])
def test_retry_is_scheduled_only_within_half_the_visibility_timeout(failing_delivery, settings, backoff, retried):
    delivery, scheduled = failing_delivery
    settings.CABINET_WEBHOOK_BACKOFF = backoff
    deliver_webhook(delivery.pk)  # called, not applied: a worker's run, not an eager one
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    if retried:
        assert len(scheduled) == 1 and scheduled[0][0] == (delivery.pk,)
        assert backoff - 1 < scheduled[0][1] <= backoff
    else:
        assert scheduled == []  # the sweeper (beat) hands it out when due
