"""Entity rules, computed fields, sequences and expression defaults, through the one write path.

Row-local rules are CHECK constraints too; rules over related rows are checked after the write with
the parent row locked; computed values come with every query; numbers and defaults are given on create.
"""
import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import IntegrityError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from engine import writes
from engine.rules.compile import constraint_name
from tests.conftest import compile_yaml

TOURS = """
entities:
  excursion:
    title: name
    fields:
      name: {type: string, required: true}
      starts_at: {type: datetime, required: true}
      capacity: {type: integer, required: true, default: 20}
      price: {type: money, required: true, default: 10}
      seats_left: {type: integer, computed: "capacity - sum(booking.seats, status != 'cancelled')"}
  booking:
    fields:
      excursion: {type: ref, to: excursion, required: true}
      seats: {type: integer, required: true, default: 1, min: 1}
      status: {type: choice, choices: [requested, confirmed, cancelled], default: requested}
      number: {type: string, sequence: "B-{year}-{seq:04}"}
      total: {type: money, computed: "seats * excursion.price"}
    rules:
      - name: seats_left
        when: "sum(excursion.booking.seats, status != 'cancelled') <= excursion.capacity"
        field: seats
        message: {en: Not enough places left., ru: Недостаточно мест.}
      - name: not_started
        when: "excursion.starts_at > now"
        field: excursion
        on: [create]
        message: {en: This excursion has already started., ru: Экскурсия уже началась.}
  stay:
    fields:
      check_in: {type: date, required: true}
      check_out: {type: date, required: true}
      nights: {type: integer, computed: "1"}
    rules:
      - name: dates
        when: "check_out > check_in"
        field: check_out
        message: {en: Check-out must be after check-in., ru: Выезд должен быть позже заезда.}
"""


@pytest.fixture
def tours(publish_yaml):
    built, _ = publish_yaml(TOURS)
    return built


def system(built):
    return writes.system_access(built)


def excursion(built, capacity=20, starts_in=dt.timedelta(days=2), price="10.00"):
    return writes.create(system(built), "excursion", {
        "name": "Boat trip", "starts_at": timezone.now() + starts_in, "capacity": capacity, "price": Decimal(price),
    }, source="system")


def book(built, trip, seats=1, source="api"):
    return writes.create(system(built), "booking", {"excursion": trip, "seats": seats}, source=source)


def check_constraints(table):
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, table)
    return {name for name, info in found.items() if info["check"] and not info["columns"] == ["id"]}


# --- rules ---------------------------------------------------------------------------------------

def test_a_row_local_rule_is_a_field_error_and_a_check_constraint(tours):
    stay = tours.spec.entity("stay")
    name = constraint_name("stay", stay.rules[0])
    if connection.vendor == "postgresql":  # SQLite's introspection does not name CHECK constraints
        assert name in check_constraints("cabinet_stay")
    with pytest.raises(writes.RuleViolation) as caught:
        writes.create(system(tours), "stay", {"check_in": dt.date(2026, 5, 3), "check_out": dt.date(2026, 5, 1)},
                      source="page")
    assert caught.value.fields == {"check_out": ["Check-out must be after check-in."]}
    model = tours.model("stay")
    assert model.objects.count() == 0
    with pytest.raises(IntegrityError), transaction.atomic():  # a direct insert meets the database's rule
        model._base_manager.create(check_in=dt.date(2026, 5, 3), check_out=dt.date(2026, 5, 1))
    ok = writes.create(system(tours), "stay", {"check_in": dt.date(2026, 5, 1), "check_out": dt.date(2026, 5, 3)},
                       source="import")
    with pytest.raises(writes.RuleViolation):
        writes.update(system(tours), "stay", ok, {"check_out": dt.date(2026, 4, 1)}, source="admin")


def test_the_booking_that_would_overfill_an_excursion_is_refused_on_its_field(tours):
    trip = excursion(tours, capacity=3)
    book(tours, trip, seats=2)
    with pytest.raises(writes.RuleViolation) as caught:
        book(tours, trip, seats=2)
    assert caught.value.fields == {"seats": ["Not enough places left."]}
    assert tours.model("booking").objects.count() == 1  # rolled back with the refusal
    last = book(tours, trip, seats=1)
    assert tours.model("excursion").objects.get(pk=trip.pk).seats_left == 0
    writes.update(system(tours), "booking", last, {"status": "cancelled"}, source="page")
    book(tours, trip, seats=1)  # a cancelled booking frees its place
    with pytest.raises(writes.RuleViolation):
        writes.update(system(tours), "booking", last, {"status": "confirmed"}, source="api")


def parallel(count, fn, connections_at_once=50):
    """Run ``fn(i)`` in ``count`` threads started together, each on its own database connection (at most
    ``connections_at_once`` open at a time: the shared PostgreSQL server allows 100); return the outcomes."""
    outcomes, start, slots = [], threading.Barrier(count), threading.BoundedSemaphore(connections_at_once)

    def worker(i):
        start.wait()
        with slots:
            try:
                outcomes.append(fn(i))
            except writes.RuleViolation as exc:
                outcomes.append(exc.fields)
            except Exception as exc:  # noqa: BLE001 (any other outcome fails the test below)
                outcomes.append(repr(exc))
            finally:
                connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


@pytest.mark.postgres
def test_a_hundred_parallel_bookings_of_twenty_places_end_with_twenty(publish_yaml):
    """Each booking locks its excursion, inserts, then counts: the next one counts after the commit.
    (Without numbering: taking a number locks a counter row, which would serialise the bookings anyway.)"""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL); SQLite runs one write at a time, see test_rules_capacity")
    tours, _ = publish_yaml(TOURS.replace('      number: {type: string, sequence: "B-{year}-{seq:04}"}\n', ""))
    trip = excursion(tours, capacity=20)
    outcomes = parallel(100, lambda i: book(tours, trip).pk)
    booked = [o for o in outcomes if isinstance(o, int)]
    assert len(booked) == 20
    assert [o for o in outcomes if not isinstance(o, int)] == [{"seats": ["Not enough places left."]}] * 80
    assert tours.model("booking").objects.count() == 20
    assert tours.model("excursion").objects.get(pk=trip.pk).seats_left == 0


def test_a_create_only_rule_leaves_updates_alone(tours):
    trip = excursion(tours)
    booking = book(tours, trip)
    writes.update(system(tours), "excursion", trip, {"starts_at": timezone.now() - dt.timedelta(hours=1)},
                  source="admin")
    with pytest.raises(writes.RuleViolation) as caught:
        book(tours, trip)
    assert caught.value.fields == {"excursion": ["This excursion has already started."]}
    writes.update(system(tours), "booking", booking, {"seats": 2}, source="api")  # on: [create] only


def test_messages_follow_the_language(tours):
    from django.utils import translation

    with translation.override("ru"), pytest.raises(writes.RuleViolation) as caught:
        writes.create(system(tours), "stay", {"check_in": dt.date(2026, 5, 3), "check_out": dt.date(2026, 5, 1)},
                      source="page")
    assert caught.value.fields == {"check_out": ["Выезд должен быть позже заезда."]}


# --- computed fields --------------------------------------------------------------------------

def test_computed_values_come_with_every_query_at_a_constant_cost(tours):
    trips = [excursion(tours, capacity=200, price="12.50") for _ in range(2)]
    for i in range(100):
        book(tours, trips[i % 2], seats=1 + i % 3)
    booking, trip = tours.model("booking"), tours.model("excursion")
    with CaptureQueriesContext(connection) as few:
        rows = [(b.total, b.seats) for b in booking.objects.all()[:10]]
    with CaptureQueriesContext(connection) as many:
        rows = [(b.total, b.seats) for b in booking.objects.all()]
    assert len(few) == len(many) == 1
    assert all(total == Decimal("12.50") * seats for total, seats in rows) and len(rows) == 100
    with CaptureQueriesContext(connection) as queries:
        left = sorted(t.seats_left for t in trip.objects.all())
    assert len(queries) == 1
    taken = [sum(1 + i % 3 for i in range(k, 100, 2)) for k in (0, 1)]
    assert left == sorted(200 - t for t in taken)
    assert list(booking.objects.order_by("-total").values_list("total", flat=True)[:1]) == [Decimal("37.50")]
    assert booking.objects.filter(total__gte=Decimal("30")).count() == 33


def test_a_written_row_has_fresh_computed_values_and_they_cannot_be_written(tours):
    trip = excursion(tours, price="7.00")
    b = book(tours, trip, seats=3)
    assert b.total == Decimal("21.00")
    writes.update(system(tours), "booking", b, {"seats": 4}, source="api")
    assert b.total == Decimal("28.00")
    with pytest.raises(writes.RuleViolation) as caught:
        writes.update(system(tours), "booking", b, {"total": 1}, source="api")
    assert list(caught.value.fields) == ["total"]
    with pytest.raises(TypeError):
        tours.model("booking")(total=1)
    other = tours.model("booking")._base_manager.get(pk=b.pk)  # not through the manager: one query
    with CaptureQueriesContext(connection) as queries:
        assert other.total == Decimal("28.00")
    assert len(queries) == 1


# --- sequences ----------------------------------------------------------------------------------

def test_new_rows_are_numbered_and_the_number_is_read_only(tours):
    trip = excursion(tours)
    year = timezone.localdate().year
    numbers = [book(tours, trip).number for _ in range(3)]
    assert numbers == [f"B-{year}-{n:04}" for n in (1, 2, 3)]
    with pytest.raises(writes.RuleViolation) as caught:
        writes.update(system(tours), "booking", tours.model("booking").objects.first(), {"number": "X"},
                      source="import")
    assert list(caught.value.fields) == ["number"]
    with pytest.raises(writes.RuleViolation):
        book(tours, trip, seats=100)  # refused: its number is given back with the rollback
    assert book(tours, trip).number == f"B-{year}-0004"


# --- defaults from expressions ----------------------------------------------------------------

GUESTS = """
entities:
  guest:
    title: name
    owner: user
    fields:
      user: {type: ref, to: user}
      name: {type: string, required: true}
  stay:
    fields:
      guest: {type: ref, to: guest, required: true}
      status: {type: choice, choices: [booked, in_house, checked_out], default: booked}
      arrives: {type: date}
  service_order:
    fields:
      stay: {type: ref, to: stay, required: true, default_expr: "first(user.guest.stay, status == 'in_house')"}
      deliver_on: {type: date, default_expr: "today + 1"}
      note: string
roles:
  guest:
    entities:
      service_order: {actions: [list, view, create], scope: {stay.guest.user: $user}}
      stay: {actions: [list, view], scope: {guest.user: $user}}
"""


def test_a_default_expression_fills_what_the_input_leaves_empty(publish_yaml):
    built, _ = publish_yaml(GUESTS)
    ann = get_user_model().objects.create_user("ann", password="pw-ann-12345")
    ann.groups.add(Group.objects.get_or_create(name="guest")[0])
    guest = built.model("guest").objects.create(user=ann, name="Ann")
    stays = built.model("stay")
    stays.objects.create(guest=guest, status="checked_out")
    current = stays.objects.create(guest=guest, status="in_house")
    me = built.policy.for_user(ann)
    order = writes.create(me, "service_order", {"note": "towels"}, source="page")
    assert order.stay_id == current.pk
    assert order.deliver_on == timezone.localdate() + dt.timedelta(days=1)
    old = stays.objects.filter(status="checked_out").get()
    given = writes.create(me, "service_order", {"stay": old, "note": "late"}, source="api")
    assert given.stay_id == old.pk  # a given value wins
    from engine.rules.runtime import initial_values

    assert initial_values(me, "service_order") == {"stay": current.pk,
                                                    "deliver_on": timezone.localdate() + dt.timedelta(days=1)}


# --- schema evolution -----------------------------------------------------------------------------

STAYS = """
entities:
  stay:
    fields:
      check_in: {type: date, required: true}
      check_out: {type: date, required: true}
"""
RULE = """    rules:
      - {name: dates, when: "check_out > check_in", field: check_out, message: {en: Check-out after check-in.}}
"""


def snapshot():
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, check_in, check_out FROM cabinet_stay ORDER BY id")
        rows = cursor.fetchall()
    return rows, sorted(c.name for c in connection.introspection.get_table_description(connection.cursor(),
                                                                                          "cabinet_stay"))


def test_a_new_rule_that_stored_rows_break_is_refused_before_anything_changes(publish_yaml):
    from engine.migrate import MigrationError
    from engine.models import SolutionVersion

    built, _ = publish_yaml(STAYS)
    stay = built.model("stay")
    stay.objects.create(check_in=dt.date(2026, 1, 1), check_out=dt.date(2026, 1, 5))
    bad = stay.objects.create(check_in=dt.date(2026, 2, 5), check_out=dt.date(2026, 2, 1))
    before, versions = snapshot(), SolutionVersion.objects.count()
    with pytest.raises(MigrationError) as caught:
        publish_yaml(STAYS + RULE)
    (problem,) = caught.value.problems
    assert problem.code == "M020" and "1 existing row" in problem.message
    assert problem.loc.line == 10  # the rule's line in the YAML
    assert snapshot() == before and SolutionVersion.objects.count() == versions
    bad.check_out = dt.date(2026, 2, 9)
    bad.save()
    built, plan = publish_yaml(STAYS + RULE)
    assert [op.text.split(" (")[0] for op in plan.operations] == [
        f"add check constraint {constraint_name('stay', built.spec.entity('stay').rules[0])} on cabinet_stay"]
    with pytest.raises(IntegrityError), transaction.atomic():
        built.model("stay")._base_manager.create(check_in=dt.date(2026, 3, 2), check_out=dt.date(2026, 3, 1))
    # Removing the rule drops the constraint; the row it refused can then be stored.
    built, plan = publish_yaml(STAYS)
    assert [op.text.split(" (")[0] for op in plan.operations] == [
        f"drop check constraint {constraint_name('stay', compile_yaml(STAYS + RULE).spec.entity('stay').rules[0])} "
        "on cabinet_stay"]
    built.model("stay")._base_manager.create(check_in=dt.date(2026, 3, 2), check_out=dt.date(2026, 3, 1))


def test_a_rule_on_a_column_the_same_plan_adds_is_counted_when_it_runs(publish_yaml):
    from engine.migrate import MigrationError

    built, _ = publish_yaml(STAYS)
    built.model("stay").objects.create(check_in=dt.date(2026, 1, 1), check_out=dt.date(2026, 1, 5))
    before = snapshot()
    v2 = STAYS + "      nights: {type: integer, required: true, default: 0}\n" + RULE.replace(
        "check_out > check_in", "nights > 0")
    with pytest.raises(MigrationError) as caught:
        publish_yaml(v2)
    assert [p.code for p in caught.value.problems] == ["M020"]
    assert snapshot() == before  # the new column went with the rollback


def test_changing_a_rule_replaces_its_constraint_and_computed_fields_need_no_schema_change(publish_yaml):
    publish_yaml(STAYS + RULE)
    _, plan = publish_yaml(STAYS + RULE.replace("check_out > check_in", "check_out >= check_in"))
    assert [op.text.split(" ")[0:3] for op in plan.operations] == [["drop", "check", "constraint"],
                                                                   ["add", "check", "constraint"]]
    _, plan = publish_yaml(STAYS + "      length: {type: integer, computed: \"1\"}\n"
                           + RULE.replace("check_out > check_in", "check_out >= check_in"))
    assert plan.operations == []


# --- compile-time checks ------------------------------------------------------------------------

def codes(text):
    return sorted((p.code, p.loc.line) for p in compile_yaml(text).problems if p.is_error)


def test_rule_and_computed_mistakes_are_located():
    text = """
entities:
  purchase:
    ordering: [total]
    fields:
      quantity: {type: integer, required: true}
      price: {type: money}
      total: {type: money, computed: "quantity * price", required: true}
      a: {type: integer, computed: "b + 1"}
      b: {type: integer, computed: "a + 1"}
      mine: {type: boolean, computed: "user.id == 1"}
      code: {type: string, default: x, default_expr: "'y'"}
    rules:
      - {name: r, when: "quantity > 0", message: {en: Positive.}}
      - {name: r, when: "quantity < 100", message: {en: Not too many.}}
      - {when: "quantity > nothing", message: {en: Unknown.}}
"""
    assert codes(text) == [
        ("E301", 18),  # an unknown name in a rule (the expression's own problem, at its place)
        ("E330", 17),  # a rule name used twice
        ("E331", 10),  # computed and required
        ("E332", 11),  # a and b read each other
        ("E333", 6),  # ordering by a computed field
        ("E334", 13),  # a computed value that depends on the reader
        ("E337", 14),  # default and default_expr
    ]


def test_computed_fields_of_several_entities_reading_each_other_are_refused():
    text = """
entities:
  excursion:
    fields:
      capacity: {type: integer}
      booked: {type: integer, computed: "sum(booking.shown)"}
  booking:
    fields:
      excursion: {type: ref, to: excursion, required: true}
      seats: {type: integer}
      shown: {type: integer, computed: "seats + excursion.booked"}
"""
    problems = [p for p in compile_yaml(text).problems if p.is_error]
    assert [(p.code, p.loc.line) for p in problems] == [("E332", 13)]
    assert "booking.shown -> excursion.booked -> booking.shown" in problems[0].message
    fine = text.replace('computed: "seats + excursion.booked"', 'computed: "seats + excursion.capacity"')
    assert compile_yaml(fine).problems == []


def test_demo_data_cannot_give_computed_or_numbered_values():
    from engine.compiler import compile_sources
    from tests.conftest import HEADER

    compiled = compile_sources({"solution.yaml": HEADER + TOURS}, data={"data/demo.yaml": """
records:
  excursion:
    - {name: Walk, starts_at: "2030-01-01T10:00:00Z", seats_left: 3}
    - {name: Boat, starts_at: "2030-01-01T10:00:00Z"}
  booking:
    - {excursion: {name: Boat}, number: B-1}
"""})
    assert sorted((p.code, p.loc.line) for p in compiled.errors) == [("E221", 4), ("E221", 7)]


SLOTS = """
entities:
  slot:
    title: starts
    fields:
      starts: {type: datetime, required: true}
  appointment:
    fields:
      slot: {type: ref, to: slot, required: true}
      status: {type: choice, choices: [booked, cancelled], default: booked}
    rules:
      - name: one_per_slot
        when: "count(slot.appointment, status != 'cancelled') <= 1"
        field: slot
        message: {en: This slot is taken.}
"""


def test_one_appointment_per_slot_unless_cancelled(publish_yaml):
    built, _ = publish_yaml(SLOTS)
    me = system(built)
    slot = writes.create(me, "slot", {"starts": timezone.now()}, source="system")
    first = writes.create(me, "appointment", {"slot": slot}, source="api")
    with pytest.raises(writes.RuleViolation) as caught:
        writes.create(me, "appointment", {"slot": slot}, source="page")
    assert caught.value.fields == {"slot": ["This slot is taken."]}
    writes.update(me, "appointment", first, {"status": "cancelled"}, source="api")
    second = writes.create(me, "appointment", {"slot": slot}, source="api")
    with pytest.raises(writes.RuleViolation):  # re-booking the cancelled one would make two
        writes.update(me, "appointment", first, {"status": "booked"}, source="admin")
    assert second.pk != first.pk
