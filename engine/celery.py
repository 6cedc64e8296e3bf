"""The Celery app: eager with no broker, real workers when REDIS_URL is set.

Delivery guarantees (what a worker killed mid-task must not lose):

- ``task_acks_late``: a task is acknowledged after it ran, not when it was received, and
  ``task_reject_on_worker_lost`` hands it back to the broker when its pool process dies;
- ``worker_prefetch_multiplier = 1``: a worker holds one unacknowledged task per process, so a crash
  strands at most those;
- the Redis transport's ``visibility_timeout``: a task a dead worker held unacknowledged is handed to
  another worker after that many seconds (``CABINET_BROKER_VISIBILITY_TIMEOUT``, 300 by default), and
  every worker looks for such tasks when it starts and every ``unacked_restore_interval`` seconds;
- tasks are idempotent (a webhook delivery is a locked outbox row; a second copy of the task finds it
  locked or delivered and does nothing), so a task handed out twice is harmless.

Django settings named ``CELERY_*`` override these defaults.
"""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "engine.settings")

#: Seconds before a task that a worker received but never acknowledged goes to another worker.
VISIBILITY_TIMEOUT = float(os.environ.get("CABINET_BROKER_VISIBILITY_TIMEOUT", "300"))

app = Celery("cabinet")
app.add_defaults({
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    "worker_prefetch_multiplier": 1,
    "broker_connection_retry_on_startup": True,
    "broker_transport_options": {
        "visibility_timeout": VISIBILITY_TIMEOUT,
        # Look for stranded tasks every few seconds (a cheap sorted-set range in Redis).
        "unacked_restore_interval": max(1, min(10, int(VISIBILITY_TIMEOUT // 2))),
        "unacked_restore_throttle": 1,
    },
    "worker_cancel_long_running_tasks_on_connection_loss": True,
})
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
