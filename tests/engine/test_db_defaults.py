"""A process still on the previous version can insert while (and after) a publish lands.

The previous version's models do not know the new columns, so the database must fill them: every
field kind, added optional and added required with a default, is tried with an insert from the old
models, then read back through the new ones.
"""
import datetime as dt
import itertools
from decimal import Decimal

import pytest
from django.db import connection

from engine.compiler import compile_sources
from engine.registry import build_solution
from tests.conftest import HEADER, dedent

V1 = """
entities:
  tag:
    fields:
      name: string
  item:
    fields:
      name: {type: string, required: true}
"""
# kind -> (YAML of the added optional field, value the old insert leaves in it)
OPTIONAL = {
    "string": ("string", ""), "text": ("text", ""), "markdown": ("markdown", ""), "integer": ("integer", None),
    "decimal": ("decimal", None), "money": ("money", None), "boolean": ("boolean", False), "date": ("date", None),
    "datetime": ("datetime", None), "time": ("time", None), "choice": ("{type: choice, choices: [a, b]}", ""),
    "email": ("email", ""), "phone": ("phone", ""), "url": ("url", ""), "image": ("image", None),
    "file": ("file", None), "json": ("json", None), "ref": ("{type: ref, to: tag}", None),
    "user": ("{type: ref, to: user}", None), "refs": ("{type: refs, to: tag}", []),
    "unique_string": ("{type: string, unique: true}", None),
}
# kind -> (YAML of the added required field with a default, value the old insert leaves in it)
REQUIRED = {
    "string": ("{type: string, required: true, default: s}", "s"),
    "text": ("{type: text, required: true, default: t}", "t"),
    "markdown": ("{type: markdown, required: true, default: '*m*'}", "*m*"),
    "integer": ("{type: integer, required: true, default: 7}", 7),
    "decimal": ("{type: decimal, required: true, default: 1.5}", Decimal("1.50")),
    "money": ("{type: money, required: true, default: 20}", Decimal("20.00")),
    "boolean": ("{type: boolean, required: true, default: true}", True),
    "date": ("{type: date, required: true, default: '2026-01-31'}", dt.date(2026, 1, 31)),
    "time": ("{type: time, required: true, default: '18:30'}", dt.time(18, 30)),
    "datetime_now": ("{type: datetime, required: true, default: now}", "recent"),
    "date_today": ("{type: date, required: true, default: today}", "today"),
    "time_now": ("{type: time, required: true, default: now}", "a time"),
    "choice": ("{type: choice, choices: [a, b], required: true, default: b}", "b"),
    "email": ("{type: email, required: true, default: a@example.com}", "a@example.com"),
    "phone": ("{type: phone, required: true, default: '+1 555 0100'}", "+1 555 0100"),
    "url": ("{type: url, required: true, default: 'https://example.com'}", "https://example.com"),
    "json": ("{type: json, required: true, default: {a: [1, 2]}}", {"a": [1, 2]}),
}


def spec_of(text):
    return compile_sources({"solution.yaml": HEADER + dedent(text)}).raise_for_errors()


def added(kinds):
    return "".join(f"      f_{kind}: {yaml}\n" for kind, (yaml, _) in kinds.items())


@pytest.mark.parametrize("kinds", [OPTIONAL, REQUIRED], ids=["optional", "required_with_default"])
def test_the_previous_version_inserts_after_fields_of_every_kind_are_added(publish_yaml, kinds):
    v1, _ = publish_yaml(V1)
    old_model = build_solution(spec_of(V1), 1).model("item")  # another process, still on version 1
    old_model.objects.create(name="before")
    v2, _ = publish_yaml(V1 + added(kinds))
    failures = {}
    old_model.objects.create(name="during")  # would raise IntegrityError on a NOT NULL column
    for new, (kind, (_, expected)) in itertools.product(v2.model("item").objects.order_by("id"), kinds.items()):
        value = getattr(new, f"f_{kind}")
        if kind == "refs":
            value = list(value.all())
        elif kind in ("image", "file"):
            value = value.name
        elif kind in ("ref", "user"):
            value = getattr(new, f"f_{kind}_id")
        if expected == "today":
            ok = value in (dt.date.today(), dt.datetime.now(dt.UTC).date())
        elif expected == "a time":
            ok = isinstance(value, dt.time)
        elif expected == "recent":
            ok = value is not None and abs((value - dt.datetime.now(dt.UTC)).total_seconds()) < 120
        else:
            ok = value == expected
        if not ok:
            failures[new.name, kind] = value
    assert failures == {}
    assert v2.model("item").objects.count() == 2


def test_columns_carry_database_defaults(publish_yaml):
    publish_yaml(V1 + added(REQUIRED))
    with connection.cursor() as cursor:
        cols = {c.name: c for c in connection.introspection.get_table_description(cursor, "cabinet_item")}
    assert cols["f_boolean"].default is not None and cols["f_string"].default is not None
