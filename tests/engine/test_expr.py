"""The expression core: check-time errors at the right column, hostile input, SQL agreeing with Python."""
import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from engine.expr import Env, ExprError, compile_expr, located
from engine.expr.checks import expression_problems
from tests.conftest import compile_yaml

SHOP = """
entities:
  club:
    fields:
      name: {type: string, required: true}
      owner: {type: ref, to: user}
  trip:
    ordering: [-starts_at]
    fields:
      name: {type: string}
      club: {type: ref, to: club}
      capacity: {type: integer, required: true, default: 10}
      price: {type: money}
      starts_at: {type: datetime}
      day: {type: date}
      kind: {type: choice, choices: [boat, walk]}
      active: {type: boolean, default: true}
  seat:
    fields:
      trip: {type: ref, to: trip}
      n: {type: integer}
      status: {type: choice, choices: [held, paid, cancelled]}
      note: {type: string}
roles:
  member:
    entities:
      trip: {actions: [list, view], scope: all}
"""

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def spec():
    return compile_yaml(SHOP).raise_for_errors()


def err(spec, text, entity="trip", **kw):
    with pytest.raises(ExprError) as info:
        compile_expr(text, spec=spec, entity=entity, **kw)
    return info.value


@pytest.mark.parametrize(("text", "code", "token"), [
    ("capacityy > 1", "E301", "capacityy"),
    ("club.nme == 'x'", "E302", "nme"),
    ("user.trip == 1", "E302", "trip"),
    ("foo(capacity)", "E303", "foo"),
    ("has_role('admin')", "E303", "'admin'"),
    ("capacity == 'ten'", "E304", "capacity"),
    ("kind == 'bike'", "E307", "'bike'"),
    ("name < 3", "E304", "name"),
    ("starts_at > today", "E304", "starts_at"),
    ("capacity + 1", "E304", "capacity"),
    ("capacity ** 2 > 1", "E305", "**"),
    ("capacity > 1 > 0", "E305", "> 0"),
    ("seat.n > 1 and seat_by_trip.n == seat.n", "E305", "seat_by_trip"),
    ("old.capacity > 1", "E305", "old"),
    ("capacity > 1 and (", "E300", ""),
    ("sum(capacity) > 1", "E304", "capacity"),
    ("count(seat.n) > 1", "E304", "seat"),
])
def test_problems_point_at_the_offending_token(spec, text, code, token):
    error = err(spec, text)
    assert error.code == code, error.message
    if token:
        assert text[error.offset:].startswith(token), (error.offset, error.message)


@pytest.mark.parametrize(("text", "code"), [
    ("(" * 60 + "1" + ")" * 60 + " > 0", "E306"),  # deep nesting
    ("not " * 500 + "active", "E306"),
    ("capacity" + " + capacity" * 700 + " > 0", "E306"),  # too many parts (and too deep)
    ("capacity > " + "9" * 5000, "E306"),  # too long
    ("capacity > " + "9" * 30, "E307"),  # huge number
    ("capacity > 9223372036854775808", "E307"),  # beyond 64 bits
    ("capacity > 1e308", "E307"),  # exponent
    ("capacity > 2 ** 100000", "E305"),  # power
    ("starts_at > now + 100000000000d", "E307"),  # a duration beyond any date
    ("name == '" + "x" * 1500 + "'", "E306"),  # long text literal
    ("name.__class__ == 1", "E305"),  # attribute walking
    ("club._meta == 1", "E305"),
    ("(lambda: 1)() == 1", "E305"),  # recursion needs functions: none can be made
    ("[x for x in [1]] == 1", "E305"),
    ("name[0] == 'a'", "E305"),
    ("f'{name}' == 'a'", "E305"),
    ("__import__('os') == 1", "E303"),
    ("name == '\\x00'", "E307"),
])
def test_hostile_input_is_refused_at_check_time(spec, text, code):
    assert err(spec, text).code == code


# --- SQL and Python agree ---------------------------------------------------------------------

CROSS = [
    "capacity > 5", "not (capacity > 5)", "name == null", "name != null", "name == 'a'", "not (name == 'a')",
    "name != 'a'", "name in ['a', 'b']", "name not in ['a', 'b']", "not (name in ['a'])", "price >= 10.5",
    "price * 2 > capacity", "capacity - 3 < price", "starts_at > now + 1h", "starts_at - 1d < now",
    "day + 3 >= today", "day - 1w == today", "kind == 'boat' or active", "not active", "club.name == 'c1'",
    "club.owner == user", "club == null", "club.owner == null", "not (club.name != 'c1')",
    "count(seat) > 1", "count(seat, status == 'paid') >= 1", "sum(seat.n) > 3",
    "sum(seat.n, status != 'cancelled') <= capacity", "min(seat.n) == 1", "max(seat.n, status == 'held') > 2",
    "seat.status == 'paid'", "not (seat.status == 'paid')", "seat.note == null", "not (seat.note != null)",
    "seat.n > capacity", "seat.n + 1 > 3", "coalesce(price, 0) > 5", "len(name) > 1", "lower(name) == 'a'",
    "(capacity if active else 0) > 5", "capacity % 3 == 1", "abs(capacity - 10) <= 2", "round(price) > 5",
    "date(starts_at) == today", "has_role('member') and capacity > 0", "has_role('member') == false",
    "capacity / 4 > 1", "count(seat, n > row.capacity) > 0", "first(seat, status == 'paid') != null",
    "seat.trip.club.owner == user", "club.owner == user or seat.status in ['held']",
    "null == null", "capacity == null", "club == user.club", "club in user.club", "not (club == user.club)",
    "count(user.club.trip, capacity > row.capacity) > 0", "first(user.club.trip) == id",
    "club.owner == user.id", "coalesce(name, 'z') == 'z' and not (capacity in [1, 2, 3])",
]

NAMES = st.sampled_from(["", "a", "b", "A", "ab"])  # texts store '' for no value
TRIPS = st.lists(st.fixed_dictionaries({
    "name": NAMES, "capacity": st.integers(0, 12),
    "price": st.one_of(st.none(), st.integers(0, 40).map(lambda n: Decimal(n) / 2)),
    "starts_at": st.one_of(st.none(), st.integers(-72, 72).map(lambda h: NOW + dt.timedelta(hours=h))),
    "day": st.one_of(st.none(), st.integers(-10, 10).map(lambda d: NOW.date() + dt.timedelta(days=d))),
    "kind": st.sampled_from(["", "boat", "walk"]), "active": st.booleans(),
    "club": st.sampled_from([None, 0, 1]),
}), min_size=1, max_size=5)
SEATS = st.lists(st.fixed_dictionaries({
    "trip": st.one_of(st.none(), st.integers(0, 4)), "n": st.one_of(st.none(), st.integers(0, 5)),
    "status": st.sampled_from(["", "held", "paid", "cancelled"]), "note": st.sampled_from(["", "x"]),
}), max_size=8)


@pytest.fixture
def shop(publish_yaml):
    built, _ = publish_yaml(SHOP)
    return built


def _env(built, user, roles=("member",)):
    return Env(user=user, roles=frozenset(roles), now=NOW, built=built)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])  # the assertion shows the rows; no slow shrinking
@given(trips=TRIPS, seats=SEATS, roles=st.sampled_from([(), ("member",)]))
def test_sql_filter_equals_python_evaluation(shop, spec, trips, seats, roles):
    Club, Trip, Seat = shop.model("club"), shop.model("trip"), shop.model("seat")
    Seat.objects.all().delete()
    Trip.objects.all().delete()
    Club.objects.all().delete()
    user, _ = get_user_model().objects.get_or_create(username="ann")
    clubs = [Club.objects.create(name="c1", owner=user), Club.objects.create(name="c2")]
    made = [Trip.objects.create(**{**t, "club": clubs[t["club"]] if t["club"] is not None else None})
            for t in trips]
    for s in seats:
        trip = made[s["trip"]] if s["trip"] is not None and s["trip"] < len(made) else None
        Seat.objects.create(**{**s, "trip": trip})
    env = _env(shop, user, roles)
    for text in CROSS:
        expr = compile_expr(text, spec=spec, entity="trip")
        in_sql = set(Trip.objects.filter(expr.q(env)).values_list("pk", flat=True))
        in_python = {t.pk for t in made if expr.evaluate(env, expr.read(env, Trip, t.pk))}
        assert in_sql == in_python, (text, trips, seats)
        assert all(expr.holds(env, Trip, pk) for pk in in_sql), text


def test_values_agree_and_lists_stay_one_query(shop, spec):
    Trip, Seat = shop.model("trip"), shop.model("seat")
    trips = [Trip.objects.create(capacity=c) for c in (3, 5, 8)]
    for trip, ns in zip(trips, ([1, 2], [4], []), strict=True):
        for n in ns:
            Seat.objects.create(trip=trip, n=n, status="held")
    Seat.objects.create(trip=trips[0], n=9, status="cancelled")
    env = _env(shop, None)
    left = compile_expr("capacity - sum(seat.n, status != 'cancelled')", spec=spec, entity="trip", kind="value")
    booked = compile_expr("count(seat)", spec=spec, entity="trip", kind="value")
    with CaptureQueriesContext(connection) as queries:
        rows = list(Trip.objects.annotate(left=left.orm(env), booked=booked.orm(env)).order_by("pk"))
    assert len(queries) == 1
    assert [(r.left, r.booked) for r in rows] == [(0, 3), (1, 1), (8, 0)]
    for row in rows:
        assert left.evaluate(env, left.read(env, Trip, row.pk)) == row.left
        assert left.evaluate(env, left.values_of(row)) == row.left
    assert left.evaluate(env, left.values_of(Trip(capacity=9))) == 9  # unsaved: no related rows yet
    seat = Seat(trip=trips[1], n=2)
    over = compile_expr("n + sum(trip.seat.n) > trip.capacity", spec=spec, entity="seat")
    assert over.values_of(seat) == {"id": None, "n": 2, "trip": {"id": trips[1].pk, "capacity": 5, "seat_by_trip": [
        {"id": s.pk, "n": 4} for s in Seat.objects.filter(trip=trips[1])]}}
    assert over.evaluate(env, over.values_of(seat)) is True
    assert left.read(env, Trip, trips[0].pk) == {
        "id": trips[0].pk, "capacity": 3,
        "seat_by_trip": [{"id": s.pk, "n": s.n, "status": s.status} for s in Seat.objects.filter(trip=trips[0])
                         .order_by("pk")]}


# --- located problems -------------------------------------------------------------------------

LOCATED = """\
rules:
  plain: capacity > 1 and nme == 'x'
  single: 'name == ''it''''s'' and nme == 1'
  double: "name == \\"a\\" and nme == 1"
  literal: |
    capacity > 1
      and nme == 1
  folded: >-
    capacity > 1
    and nme == 1
  multi: capacity > 1
    and nme == 1
  flow: {when: capacity > 1 and nme == 1}
"""


@pytest.mark.parametrize(("key", "line"), [
    ("plain", 2), ("single", 3), ("double", 4), ("literal", 7), ("folded", 10), ("multi", 12), ("flow", 13),
])
def test_problems_are_located_inside_the_yaml_scalar(spec, key, line):
    from engine.loader import load_sources

    doc = load_sources({"rules.yaml": LOCATED})
    path = ("rules", key, "when") if key == "flow" else ("rules", key)
    text = doc.data["rules"][key]["when"] if key == "flow" else doc.data["rules"][key]
    [problem] = expression_problems(doc, path, text, spec=spec, entity="trip")
    assert problem.code == "E301"
    assert (problem.loc.file, problem.loc.line) == ("rules.yaml", line)
    source_line = LOCATED.splitlines()[line - 1]
    assert source_line[problem.loc.column - 1:].startswith("nme"), (source_line, problem.loc)
    assert problem.message.startswith(f"'rules.{key}")


def test_located_without_a_source_is_the_scalar_itself():
    from engine.errors import Loc

    loc = Loc("x.yaml", 3, 5, "a.b")
    assert located(loc, "", 10) == loc


# --- what an expression reads -----------------------------------------------------------------

@pytest.mark.parametrize(("text", "paths", "flags"), [
    ("capacity > 1 and name != ''", {"capacity", "name"}, {"row_local", "sql_able"}),
    ("club.owner == user", {"club.owner"}, {"uses_user", "sql_able"}),
    ("starts_at > now + 2h", {"starts_at"}, {"uses_now", "sql_able"}),
    ("day >= today", {"day"}, {"uses_now", "sql_able"}),
    ("old.capacity < capacity", {"capacity"}, {"uses_old"}),
    ("sum(seat.n, status != 'cancelled') <= capacity",
     {"capacity", "seat_by_trip", "seat_by_trip.n", "seat_by_trip.status"}, {"sql_able"}),
    ("seat.status == 'paid'", {"seat_by_trip.status"}, {"sql_able"}),
    ("has_role('member')", set(), {"uses_user", "sql_able"}),
])
def test_paths_and_flags(spec, text, paths, flags):
    expr = compile_expr(text, spec=spec, entity="trip", allow_old=True)
    assert expr.paths == paths
    found = {name for name in ("row_local", "sql_able", "uses_old", "uses_user", "uses_now") if getattr(expr, name)}
    assert found == flags
    assert expr.type.name == "bool"


def test_kinds_types_and_expected_values(spec):
    assert str(compile_expr("capacity * price", spec=spec, entity="trip", kind="value").type) == "money"
    assert str(compile_expr("first(seat)", spec=spec, entity="trip", kind="value").type) == "ref to seat"
    assert str(compile_expr("day + 3", spec=spec, entity="trip", kind="value").type) == "date"
    assert str(compile_expr("starts_at - 90m", spec=spec, entity="trip", kind="value").type) == "datetime"
    assert err(spec, "capacity").code == "E304"  # a value where a condition is needed
    assert err(spec, "seat.n", kind="value").code == "E305"  # a to-many path is not one value
    from engine.expr import Type

    assert err(spec, "user", kind="value", expect=Type("ref", entity="club")).code == "E304"
    assert compile_expr("user.club", spec=spec, entity="seat", kind="value", allow_row=False,
                        expect=Type("ref", entity="club"))
    assert err(spec, "capacity + 1", kind="value", allow_row=False).code == "E301"
    assert err(spec, "count(seat) > 1", aggregates=False).code == "E305"


def test_evaluation_is_bounded_at_run_time(spec):
    assert err(spec, "name" + " + name" * 450 + " == ''").code == "E306"  # no text can grow without bound
    longest = compile_expr("name" + " + name" * 38, spec=spec, entity="trip", kind="value")
    assert len(longest.evaluate(Env(now=NOW), {"name": "x" * 255})) == 39 * 255
    big = compile_expr("capacity" + " * capacity" * 30 + " > 0", spec=spec, entity="trip")
    assert big.evaluate(Env(now=NOW), {"capacity": 2**62}) is True  # exact, and quick
    assert compile_expr("price / capacity > 1", spec=spec, entity="trip").evaluate(
        Env(now=NOW), {"price": Decimal(5), "capacity": 0}) is False  # division by zero is null
    with pytest.raises(LookupError):
        compile_expr("club.name == 'x'", spec=spec, entity="trip").evaluate(Env(now=NOW), {"club": 3})
