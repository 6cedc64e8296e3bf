"""The version bus: every kind of process follows the published solution version.

Publishing announces the new number once committed (``engine.migrate.publish``, through
``transaction.on_commit``); web processes follow it per request (``ActiveSolutionMiddleware``).
This module makes Celery follow it too: a worker builds the published version when its process
starts and checks the number before every task, and beat does so when it starts and before it
sends timers, so tasks and timers always run against the published models.
"""
from __future__ import annotations

import logging

from celery import signals
from django.db import DatabaseError

from .registry import registry

log = logging.getLogger("engine.registry")


def follow_published(**kwargs):
    """Serve the published version in this process (a Celery signal handler)."""
    try:
        registry.ensure_current()
    except DatabaseError:
        log.warning("cannot read the published version; tasks run on the version built", exc_info=True)


def connect():
    """Connect the Celery signals of workers and beat (once; Django's ``ready()`` calls it)."""
    for signal in (signals.worker_process_init, signals.worker_init, signals.beat_init,
                   signals.task_prerun, signals.before_task_publish):
        signal.connect(follow_published, weak=False, dispatch_uid=f"cabinet-version-{signal.name}")
