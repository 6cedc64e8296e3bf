"""Workflow timers: when each row's timers are due, and the sweep that fires them.

The database is the truth: a due firing is an ``engine.models.Timer`` row, written in the transaction of
the change that made it due (the write path's "effects" stage), so a timer due while no process ran is
still there when one comes back. ``sweep`` fires due timers one by one, each in its own transaction that
locks the timer row (``SKIP LOCKED`` on PostgreSQL, so concurrent sweeps share the work), re-checks the
row is still in the timer's states, fires, and marks the timer done before it commits: a timer fires
once. A firing that fails rolls back alone and is retried later with backoff.
"""
from __future__ import annotations

import contextvars
import datetime as dt
import logging
import time
import weakref
import zoneinfo
from collections import Counter

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from ..models import Timer
from ..spec import ENTERED
from ..writes import hooks, system_access, transition
from ..writes.audit import record

log = logging.getLogger(__name__)
_firing = contextvars.ContextVar("cabinet_timer_firing", default=None)  # (entity, pk, details) being fired

MAX_ATTEMPTS = 8  # then the timer is marked failed and left for a person to look at
BACKOFF = 60  # seconds before the first retry; doubled for each further one, at most MAX_BACKOFF
MAX_BACKOFF = 3600


def timers_of(spec, entity):
    """[(workflow, timer)] of ``entity``."""
    return [(wf, t) for wf in spec.workflows if wf.entity == entity for t in wf.timers]


def timers_through(spec, entity):
    """[(workflow, timer, lookup, rest)] of the rows whose timer counts from a date of ``entity`` reached
    along refs: for booking timers ``from: excursion.starts_at``, an excursion gives (..., 'excursion',
    'starts_at'): the bookings with ``excursion=<its pk>`` move when its ``starts_at`` changes."""
    found = []
    for wf in spec.workflows:
        for t in wf.timers:
            steps = t.anchor.split(".")
            if t.anchor == ENTERED or len(steps) < 2:
                continue
            current = spec.entity(wf.entity)
            for i, name in enumerate(steps[:-1]):
                current = spec.entity(current.field(name).to)
                if current.name == entity:
                    found.append((wf, t, "__".join(steps[: i + 1]), ".".join(steps[i + 1:])))
    return found


def local_zone(spec):
    return zoneinfo.ZoneInfo(spec.timezone) if spec.timezone else timezone.get_default_timezone()


def due_moment(spec, timer, value):
    """When ``timer`` is due for a row whose anchor is ``value`` (a date counts from its midnight in the
    solution's time zone); None without a value or beyond the calendar."""
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time(), tzinfo=local_zone(spec))
    try:
        return value + dt.timedelta(seconds=timer.offset)
    except OverflowError:
        return None


def anchor_value(model, pk, anchor):
    """The value of the date ``anchor`` (a field or a path along refs) of row ``pk``."""
    return model._base_manager.filter(pk=pk).values_list(anchor.replace(".", "__"), flat=True).first()


def key_of(entity, pk, wf, timer, due):
    """The idempotency key of one firing: the row, the timer and the moment it is due."""
    moment = due.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S.%f")
    return f"{entity}:{pk}:{wf.name}:{timer.name}:{moment}"


def schedule(entity, pk, wf, timer, due):
    """Make the row's pending firing of ``timer`` due at ``due`` (None: no firing). A moment that already
    fired is not made pending again."""
    slot = {"entity": entity, "object_id": pk, "workflow": wf.name, "timer": timer.name}
    pending = Timer.objects.select_for_update().filter(status=Timer.PENDING, **slot).first()
    if due is None:
        if pending is not None:
            cancel(entity, pk, wf, timer)
        return None
    key = key_of(entity, pk, wf, timer, due)
    if pending is not None and pending.key == key:
        return pending
    same = Timer.objects.filter(key=key).first()
    if pending is not None:
        if same is None:
            pending.due_at, pending.key, pending.attempts, pending.next_attempt_at = due, key, 0, None
            pending.last_error = ""
            pending.save(update_fields=["due_at", "key", "attempts", "next_attempt_at", "last_error"])
            return pending
        cancel(entity, pk, wf, timer)
    if same is None:
        try:
            with transaction.atomic():
                return Timer.objects.create(due_at=due, key=key, **slot)
        except IntegrityError:  # a concurrent backfill or write scheduled it first
            return Timer.objects.filter(key=key).first()
    if same.status == Timer.CANCELLED:  # back to a moment given up before: due again
        Timer.objects.filter(pk=same.pk).update(status=Timer.PENDING, attempts=0, next_attempt_at=None,
                                                last_error="")
    return same


def cancel(entity, pk, wf=None, timer=None):
    """Cancel the row's pending firings (of one timer, or all)."""
    rows = Timer.objects.filter(status=Timer.PENDING, entity=entity, object_id=pk)
    if wf is not None:
        rows = rows.filter(workflow=wf.name, timer=timer.name)
    return rows.update(status=Timer.CANCELLED)


# --- scheduling from the write path ---------------------------------------------------------------

def on_write(ctx):
    """Stage "effects" of every write: (re)schedule or cancel the timers of the row written, and of the
    rows whose timers count from a date of it that changed."""
    spec, entity, obj = ctx.built.spec, ctx.entity.name, ctx.obj
    if ctx.action == "delete":
        return  # on_delete did it while the row still had its id
    firing = _firing.get()
    if firing and firing[:2] == (entity, obj.pk):
        ctx.audit["timer"] = firing[2]
    for wf, timer in timers_of(spec, entity):
        state = getattr(obj, wf.field)
        if state not in timer.states:
            cancel(entity, obj.pk, wf, timer)
        elif timer.anchor == ENTERED:
            before = (ctx.old or {}).get(wf.field) if ctx.action != "create" else None
            if ctx.action == "create" or before not in timer.states:
                schedule(entity, obj.pk, wf, timer, due_moment(spec, timer, ctx.now))
        elif ctx.action != "update" or ctx.changed & {timer.anchor.split(".")[0], wf.field}:
            value = (getattr(obj, timer.anchor) if "." not in timer.anchor
                     else anchor_value(ctx.model, obj.pk, timer.anchor))
            schedule(entity, obj.pk, wf, timer, due_moment(spec, timer, value))
    if ctx.action == "update":
        for wf, timer, lookup, rest in timers_through(spec, entity):
            if rest.split(".")[0] in ctx.changed:
                reschedule_through(ctx.built, wf, timer, lookup, obj.pk)


def on_delete(ctx):
    """Stage "prepare" of a delete: the row's pending timers go with it."""
    if ctx.action == "delete":
        cancel(ctx.entity.name, ctx.obj.pk)


def reschedule_through(built, wf, timer, lookup, pk):
    """Recompute ``timer`` for the rows of ``wf.entity`` that reach row ``pk`` along ``lookup`` (the
    excursion of bookings) and are in the timer's states."""
    model = built.model(wf.entity)
    rows = (model._base_manager.filter(**{lookup: pk, f"{wf.field}__in": timer.states})
            .values_list("pk", timer.anchor.replace(".", "__")))
    for row_pk, value in rows:
        schedule(wf.entity, row_pk, wf, timer, due_moment(built.spec, timer, value))


def backfill(built, now):
    """Give their timers to the rows in a timer's states that have none: rows written around the write
    path (demo data, raw SQL) and rows older than the timer (a version that adds one). A timer counting
    from ``entered`` counts from ``now`` for them. Return how many were scheduled."""
    count = 0
    for wf in built.spec.workflows:
        model = built.model(wf.entity)
        for timer in wf.timers:
            known = (Timer.objects.filter(entity=wf.entity, workflow=wf.name, timer=timer.name)
                     .exclude(status=Timer.CANCELLED).values("object_id"))
            rows = model._base_manager.filter(**{f"{wf.field}__in": timer.states}).exclude(pk__in=known)
            with transaction.atomic():
                if timer.anchor == ENTERED:
                    found = [(pk, now) for pk in rows.values_list("pk", flat=True)]
                else:
                    found = rows.values_list("pk", timer.anchor.replace(".", "__"))
                for pk, value in found:
                    count += schedule(wf.entity, pk, wf, timer, due_moment(built.spec, timer, value)) is not None
    return count


# --- the sweep ------------------------------------------------------------------------------------

_backfilled = weakref.WeakSet()  # the versions this process gave their rows' timers already


def due_timers(now):
    return (Timer.objects.filter(status=Timer.PENDING, due_at__lte=now)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)))


def sweep(now=None, limit=100, built=None):
    """Fire up to ``limit`` due timers; return a ``Counter`` of outcomes (fired, cancelled, rescheduled,
    retry, failed; and scheduled by the backfill of the first sweep of a version in this process). Safe to
    run in several processes at once."""
    from ..registry import registry

    now = now or timezone.now()
    built = built or registry.ensure_current()
    outcomes = Counter()
    if built is None:
        return outcomes
    if built not in _backfilled:
        outcomes["scheduled"] = backfill(built, now)
        _backfilled.add(built)
    if not due_timers(now).exists():  # the usual case takes no write lock
        return +outcomes
    for _ in range(limit):
        outcome = sweep_one(built, now)
        if outcome is None:
            break
        outcomes[outcome] += 1
    return +outcomes  # without zero counts


def run_forever(interval, limit=100, stop=None):
    """Sweep now and then every ``interval`` seconds until ``stop`` (a ``threading.Event``) is set: the
    embedded default for sites without Celery beat (``manage.py cabinet_timers --loop``, the demo). A
    database that is away is waited for, not fatal."""
    from django.db import close_old_connections

    while True:
        try:
            outcomes = sweep(limit=limit)
        except DatabaseError:
            log.warning("timer sweep failed; trying again in %s s", interval, exc_info=True)
        else:
            if outcomes:
                log.info("timers: %s", ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
        finally:
            close_old_connections()
        if stop is None:
            time.sleep(interval)
        elif stop.wait(interval):
            return


def sweep_one(built, now):
    """Claim one due timer and settle it in one transaction; None when none is left to claim."""
    with transaction.atomic():
        due = due_timers(now).order_by("due_at", "pk")
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        timer = due.first()
        if timer is None:
            return None
        return settle(built, timer, now)


def settle(built, timer, now):
    """Fire ``timer`` (locked by the caller's transaction) if its row still wants it, and record how it went."""
    found = next(((wf, t) for wf, t in timers_of(built.spec, timer.entity)
                  if wf.name == timer.workflow and t.name == timer.timer), None)
    model = built.model(timer.entity) if found else None
    wf, spec_timer = found or (None, None)
    state = None
    if model is not None:
        state = (model._base_manager.select_for_update().filter(pk=timer.object_id)
                 .values_list(wf.field, flat=True).first())
    if state is None or state not in spec_timer.states:  # timer or row gone, or the row moved on
        Timer.objects.filter(pk=timer.pk).update(status=Timer.CANCELLED)
        return "cancelled"
    if spec_timer.anchor != ENTERED:  # the date may have changed by a way around the write path
        due = due_moment(built.spec, spec_timer, anchor_value(model, timer.object_id, spec_timer.anchor))
        if due != timer.due_at:
            if due is None or due > now:
                schedule(timer.entity, timer.object_id, wf, spec_timer, due)
                return "rescheduled" if due else "cancelled"
            key = key_of(timer.entity, timer.object_id, wf, spec_timer, due)
            if Timer.objects.filter(key=key, status=Timer.DONE).exists():  # that moment fired already
                Timer.objects.filter(pk=timer.pk).update(status=Timer.CANCELLED)
                return "cancelled"
            Timer.objects.filter(key=key).delete()  # a cancelled firing of that moment: this one replaces it
            Timer.objects.filter(pk=timer.pk).update(due_at=due, key=key)
            timer.due_at, timer.key = due, key
    try:
        with transaction.atomic():
            fire(built, wf, spec_timer, timer)
    except Exception as exc:  # noqa: BLE001 - a failing firing is recorded and retried, never blocks the others
        return failed(timer, exc, now)
    Timer.objects.filter(pk=timer.pk).update(status=Timer.DONE, fired_at=now, last_error="",
                                             attempts=timer.attempts + 1)
    return "fired"


def fire(built, wf, spec, timer):
    """Run the transition of ``spec`` on the row of ``timer`` (a Timer) as the system; guards still apply.
    Its audit record names the timer."""
    details = {"workflow": wf.name, "timer": spec.name, "due_at": timer.due_at.isoformat()}
    if not spec.do:
        run_timer_actions(built, wf, spec, timer, details)
        return
    token = _firing.set((timer.entity, timer.object_id, details))
    try:
        transition(system_access(built), wf.entity, timer.object_id, spec.do, source="system")
    finally:
        _firing.reset(token)


def run_timer_actions(built, wf, spec, timer, details):
    """Run the timer's actions on its row (locked by ``settle``) as the system, with an audit record of
    its own that names the timer and lists the actions that ran."""
    from .runtime import run_actions

    access = system_access(built)
    model = built.model(wf.entity)
    obj = model._base_manager.get(pk=timer.object_id)
    ctx = hooks.WriteContext(access=access, built=built, entity=built.spec.entity(wf.entity), model=model,
                             action="timer", obj=obj, old=None, data={}, workflow=wf, source="system",
                             now=timezone.now(), audit={"timer": details})
    run_actions(ctx, spec.actions)
    record(ctx, changes={})


def failed(timer, exc, now):
    """Record a failed firing: retry after a growing pause, or give up after ``MAX_ATTEMPTS``."""
    attempts = timer.attempts + 1
    error = f"{type(exc).__name__}: {exc}"[:2000]
    gave_up = attempts >= MAX_ATTEMPTS
    pause = min(BACKOFF * 2 ** (attempts - 1), MAX_BACKOFF)
    Timer.objects.filter(pk=timer.pk).update(
        attempts=attempts, last_error=error, next_attempt_at=now + dt.timedelta(seconds=pause),
        status=Timer.FAILED if gave_up else Timer.PENDING)
    log.warning("timer %s failed (attempt %s%s): %s", timer.key, attempts, ", giving up" if gave_up else "", error)
    return "failed" if gave_up else "retry"


hooks.register("prepare", on_delete)
hooks.register("effects", on_write)
