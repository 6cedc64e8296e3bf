"""Workflow timers: located checks, schedules kept by the write path, and a sweep that fires each once.

The clock is frozen by passing ``now=`` to the sweep; rows are written through ``engine.writes`` as the
pages and the API write them, so the timers follow every real change.
"""
import datetime as dt
import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from engine import writes
from engine.models import AuditRecord, Timer
from engine.workflows import timers
from tests.engine.test_timer_checks import SOLUTION

H = dt.timedelta(hours=1)



@pytest.fixture
def built(publish_yaml):
    return publish_yaml(SOLUTION)[0]


def book(built, starts_at, placed_at, **extra):
    system = writes.system_access(built)
    excursion = writes.create(system, "excursion", {"title": "Lake", "starts_at": starts_at}, source="system")
    booking = writes.create(system, "booking", {"excursion": excursion, "placed_at": placed_at, **extra},
                            source="system")
    return excursion, booking


def pending(booking):
    return {t.timer: t.due_at for t in Timer.objects.filter(object_id=booking.pk, status=Timer.PENDING)}


def status(built, booking):
    return built.model("booking").objects.values_list("status", flat=True).get(pk=booking.pk)


def test_a_timer_is_due_from_its_date_and_fires_once_when_due(built):
    now = timezone.now()
    _, booking = book(built, starts_at=now + 72 * H, placed_at=now)
    assert pending(booking) == {"unconfirmed": now + 2 * H}
    assert timers.sweep(now=now + 2 * H - dt.timedelta(seconds=1)) == {}
    assert status(built, booking) == "requested"
    assert timers.sweep(now=now + 2 * H) == {"fired": 1}
    assert status(built, booking) == "cancelled"
    timer = Timer.objects.get(object_id=booking.pk, timer="unconfirmed")
    assert (timer.status, timer.fired_at, timer.attempts) == (Timer.DONE, now + 2 * H, 1)
    record = AuditRecord.objects.get(entity="booking", object_id=booking.pk, action="transition")
    assert (record.transition, record.from_state, record.to_state, record.actor, record.actor_label) == (
        "cancel", "requested", "cancelled", None, "system")
    assert record.details["timer"] == {"workflow": "booking_flow", "timer": "unconfirmed",
                                       "due_at": (now + 2 * H).isoformat()}
    assert timers.sweep(now=now + 100 * H) == {}
    assert pending(booking) == {}  # leaving the states cancelled the others; nothing is left to fire


def test_a_timer_due_while_nothing_ran_fires_once_on_the_next_sweep(built):
    now = timezone.now()
    _, booking = book(built, starts_at=now + 72 * H, placed_at=now - 50 * H)  # due two days ago
    assert timers.sweep(now=now) == {"fired": 1}
    assert timers.sweep(now=now) == {}
    assert timers.sweep(now=now + 1000 * H) == {}
    assert AuditRecord.objects.filter(object_id=booking.pk, entity="booking", action="transition").count() == 1
    # Saving the row again (same moment) does not make the fired moment pending again.
    writes.update(writes.system_access(built), "booking", booking, {"note": "x"}, source="system")
    assert Timer.objects.filter(object_id=booking.pk, timer="unconfirmed").count() == 1


def test_changing_the_date_moves_the_timer(built):
    now = timezone.now()
    _, booking = book(built, starts_at=now + 72 * H, placed_at=now)
    writes.update(writes.system_access(built), "booking", booking, {"placed_at": now + 5 * H}, source="system")
    assert pending(booking) == {"unconfirmed": now + 7 * H}
    assert timers.sweep(now=now + 2 * H) == {}  # the old moment is gone
    assert timers.sweep(now=now + 7 * H) == {"fired": 1}


def test_a_date_through_a_ref_moves_the_timers_of_the_rows_that_reach_it(built):
    now = timezone.now()
    excursion, booking = book(built, starts_at=now + 72 * H, placed_at=now)
    system = writes.system_access(built)
    writes.transition(system, "booking", booking.pk, "confirm", source="system")
    assert pending(booking) == {"too_late": now + 48 * H, "expire": pending(booking)["expire"]}
    writes.update(system, "excursion", excursion, {"starts_at": now + 100 * H}, source="system")
    assert pending(booking)["too_late"] == now + 76 * H
    assert timers.sweep(now=now + 48 * H) == {}
    assert timers.sweep(now=now + 76 * H) == {"fired": 1}
    assert status(built, booking) == "cancelled"


def test_leaving_the_states_cancels_and_entering_schedules(built):
    now = timezone.now()
    _, booking = book(built, starts_at=now + 72 * H, placed_at=now)
    before = timezone.now()
    writes.transition(writes.system_access(built), "booking", booking.pk, "confirm", source="system")
    after = timezone.now()
    due = pending(booking)
    assert set(due) == {"too_late", "expire"}
    assert before + 30 * 24 * H <= due["expire"] <= after + 30 * 24 * H  # from entering 'confirmed'
    assert Timer.objects.get(object_id=booking.pk, timer="unconfirmed").status == Timer.CANCELLED
    assert timers.sweep(now=now + 2 * H) == {}


def test_a_row_moved_around_the_write_path_is_not_fired_on(built):
    now = timezone.now()
    _, booking = book(built, starts_at=now + 72 * H, placed_at=now)
    built.model("booking").objects.filter(pk=booking.pk).update(status="confirmed")  # raw SQL, no hooks
    assert timers.sweep(now=now + 3 * H) == {"scheduled": 2, "cancelled": 1}  # the first sweep backfills
    assert pending(booking) == {"too_late": now + 48 * H, "expire": now + 3 * H + 30 * 24 * H}
    built.model("booking").objects.filter(pk=booking.pk).update(status="requested", placed_at=now + 10 * H)
    Timer.objects.filter(object_id=booking.pk, timer="unconfirmed").update(status=Timer.PENDING)
    assert timers.sweep(now=now + 3 * H) == {"rescheduled": 1}
    assert pending(booking)["unconfirmed"] == now + 12 * H


def test_rows_written_around_the_write_path_get_their_timers_on_the_first_sweep(built):
    """Demo data and rows older than a timer: the first sweep of a version in a process schedules them."""
    now = timezone.now()
    excursion = built.model("excursion").objects.create(title="Lake", starts_at=now + 72 * H)
    booking = built.model("booking").objects
    late = booking.create(excursion=excursion, status="requested", placed_at=now - 3 * H)
    confirmed = booking.create(excursion=excursion, status="confirmed", placed_at=now)
    assert timers.sweep(now=now) == {"scheduled": 3, "fired": 1}
    assert status(built, late) == "cancelled"
    assert pending(confirmed) == {"too_late": now + 48 * H, "expire": now + 30 * 24 * H}
    assert timers.backfill(built, now + H) == 0  # nothing twice
    assert timers.sweep(now=now) == {}


def test_deleting_the_row_cancels_its_timers(built):
    now = timezone.now()
    _, booking = book(built, starts_at=now + 72 * H, placed_at=now)
    writes.delete(writes.system_access(built), "booking", booking, source="system")
    assert set(Timer.objects.values_list("status", flat=True)) == {Timer.CANCELLED}


def test_a_failing_firing_is_retried_with_backoff_and_does_not_block_others(built):
    now = timezone.now()
    _, first = book(built, starts_at=now + 72 * H, placed_at=now - 3 * H, note="refuse")
    _, second = book(built, starts_at=now + 72 * H, placed_at=now - 3 * H)

    def refuse(ctx):
        if ctx.action == "transition" and ctx.obj.note == "refuse":
            raise writes.RuleViolation("Not now.")

    writes.register("validate", refuse)
    try:
        assert timers.sweep(now=now) == {"retry": 1, "fired": 1}
        timer = Timer.objects.get(object_id=first.pk, timer="unconfirmed")
        assert (timer.status, timer.attempts, timer.next_attempt_at) == (Timer.PENDING, 1, now + dt.timedelta(
            seconds=timers.BACKOFF))
        assert "Not now." in timer.last_error
        assert status(built, first) == "requested"  # the failed firing left nothing behind
        assert timers.sweep(now=now + dt.timedelta(seconds=30)) == {}  # waiting for the retry
        for attempt in range(2, timers.MAX_ATTEMPTS + 1):
            timer.refresh_from_db()
            outcome = timers.sweep(now=timer.next_attempt_at)
            assert outcome == ({"failed": 1} if attempt == timers.MAX_ATTEMPTS else {"retry": 1})
        assert Timer.objects.get(pk=timer.pk).status == Timer.FAILED
    finally:
        writes.unregister("validate", refuse)
    assert status(built, second) == "cancelled"


def test_the_command_sweeps_once(built, capsys):
    now = timezone.now()
    _, booking = book(built, starts_at=now + 72 * H, placed_at=now - 3 * H)
    call_command("cabinet_timers")
    assert capsys.readouterr().out.strip() == "fired 1"
    call_command("cabinet_timers")
    assert capsys.readouterr().out.strip() == "no timer was due"
    assert status(built, booking) == "cancelled"
    with pytest.raises(CommandError, match="must be positive"):
        call_command("cabinet_timers", "--loop", "0")


def test_beat_runs_the_sweep_every_minute(built, settings):
    from engine.tasks import sweep_timers

    assert settings.CELERY_BEAT_SCHEDULE["sweep-timers"] == {"task": "engine.tasks.sweep_timers", "schedule": 60.0}
    now = timezone.now()
    book(built, starts_at=now + 72 * H, placed_at=now - 3 * H)
    assert sweep_timers.apply().get() == {"fired": 1}  # the task body, run here whatever the broker


def test_the_loop_stops_when_asked(built):
    now = timezone.now()
    _, booking = book(built, starts_at=now + 72 * H, placed_at=now - 3 * H)
    stop = threading.Event()
    stop.set()  # one round, then stop
    timers.run_forever(3600, stop=stop)
    assert status(built, booking) == "cancelled"


@pytest.mark.postgres
def test_concurrent_sweeps_fire_each_timer_once(built, monkeypatch):
    """Two sweeps in two threads (two connections) at once: SKIP LOCKED shares the timers between them."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (row locks with SKIP LOCKED)")
    from django.db import connections

    now = timezone.now()
    bookings = [book(built, starts_at=now + 72 * H, placed_at=now - 3 * H)[1] for _ in range(40)]
    fired, real_fire, lock = [], timers.fire, threading.Lock()

    def counting_fire(built, wf, spec, timer):
        real_fire(built, wf, spec, timer)
        with lock:
            fired.append(timer.object_id)

    monkeypatch.setattr(timers, "fire", counting_fire)
    start, outcomes = threading.Barrier(2), []

    def run():
        try:
            start.wait()
            outcomes.append(timers.sweep(now=now, built=built))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(fired) == sorted(b.pk for b in bookings)
    assert sum(o["fired"] for o in outcomes) == 40
    assert Timer.objects.filter(timer="unconfirmed", status=Timer.DONE).count() == 40
    assert AuditRecord.objects.filter(entity="booking", action="transition").count() == 40


def test_the_resort_cancels_an_order_nobody_accepted_within_two_hours(solution):
    from engine.compiler import compile_folder
    from engine.demo import load_demo

    load_demo(solution, compile_folder("solutions/resort").data)
    now = timezone.now()
    timers.sweep(now=now)  # demo data gets its timers (whichever way it was written)
    orders = solution.model("service_order").objects
    waiting = orders.get(status="new")  # breakfast ordered an hour ago
    assert Timer.objects.get(entity="service_order", object_id=waiting.pk, status=Timer.PENDING).due_at == (
        waiting.ordered_at + 2 * H)
    requested = solution.model("booking").objects.get(status="requested")
    assert Timer.objects.get(entity="booking", object_id=requested.pk, status=Timer.PENDING).due_at == (
        requested.excursion.starts_at - H)
    assert timers.sweep(now=waiting.ordered_at + 2 * H) == {"fired": 1}
    assert orders.get(pk=waiting.pk).status == "cancelled"
    assert orders.filter(status="accepted").exists()  # accepted orders are not touched


def test_the_resort_reminds_a_guest_the_day_before_a_confirmed_excursion(solution):
    from engine.compiler import compile_folder
    from engine.demo import load_demo
    from engine.models import Outbox

    load_demo(solution, compile_folder("solutions/resort").data)
    now = timezone.now()
    timers.sweep(now=now)
    confirmed = solution.model("booking").objects.filter(status="confirmed", excursion__starts_at__gt=now + 24 * H)
    booking = confirmed.select_related("excursion", "guest").first()
    reminder = Timer.objects.get(entity="booking", object_id=booking.pk, timer="remind", status=Timer.PENDING)
    assert reminder.due_at == booking.excursion.starts_at - 24 * H
    timers.sweep(now=reminder.due_at)
    sent = Outbox.objects.get(kind="notify", entity="booking", object_id=booking.pk)
    assert sent.payload["to"] == booking.guest.user_id
    assert "starts tomorrow" in str(sent.payload["message"])
    timers.sweep(now=reminder.due_at + H)
    assert Outbox.objects.filter(kind="notify", entity="booking", object_id=booking.pk).count() == 1


def test_a_timer_runs_its_actions_once_as_the_system_with_an_audit_record(publish_yaml):
    text = SOLUTION.replace(
        "      expire: {after: 30d, from: entered, in: [confirmed], do: cancel}",
        "      expire: {after: 30d, from: entered, in: [confirmed], do: cancel}\n"
        "      remind:\n"
        "        before: 1d\n"
        "        from: excursion.starts_at\n"
        "        in: [requested, confirmed]\n"
        "        actions:\n"
        "          - set: {note: \"'reminded'\"}\n"
        "          - set: {note: \"'never'\"}\n"
        "            when: \"status == 'cancelled'\"\n")
    built = publish_yaml(text)[0]
    now = timezone.now()
    _, booking = book(built, starts_at=now + 72 * H, placed_at=now - H)
    assert pending(booking)["remind"] == now + 48 * H
    assert timers.sweep(now=now + 47 * H) == {"fired": 1}  # 'unconfirmed' (2 h after placing)
    writes.update(writes.system_access(built), "booking", booking, {"note": ""}, source="system")
    booking = built.model("booking").objects.get(pk=booking.pk)
    assert booking.status == "cancelled" and "remind" not in pending(booking)  # left its states: cancelled
    _, booking = book(built, starts_at=now + 72 * H, placed_at=now + 100 * H)
    assert timers.sweep(now=now + 48 * H) == {"fired": 1}
    assert timers.sweep(now=now + 49 * H) == {}
    assert built.model("booking").objects.get(pk=booking.pk).note == "reminded"
    record = AuditRecord.objects.get(entity="booking", object_id=booking.pk, action="timer")
    assert (record.actor, record.actor_label, record.source) == (None, "system", "system")
    assert record.details["timer"]["timer"] == "remind"
    assert [a["action"] for a in record.details["actions"]] == ["set"]
