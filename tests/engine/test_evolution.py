"""Evolution faults found under load: each type change keeps values exactly, or is refused with a count."""
import dataclasses
from decimal import Decimal

import pytest
from django.db import connection

from engine.migrate import MigrationError, publish
from engine.models import SolutionVersion
from engine.registry import registry
from tests.conftest import compile_yaml

BASE = """
entities:
  item:
    title: name
    fields:
      name: {type: string, required: true}
"""


def values(field):
    return list(registry.active.model("item").objects.order_by("id").values_list(field, flat=True))


def with_field(text, **changes):
    """Compile ``text`` and change one field of 'item' past the checks (the migration layer must hold alone)."""
    compiled = compile_yaml(text)
    spec = compiled.raise_for_errors()
    item = spec.entity("item")
    name = changes.pop("field")
    fields = [dataclasses.replace(f, **changes) if f.name == name else f for f in item.fields]
    entities = [dataclasses.replace(item, fields=tuple(fields)) if e is item else e for e in spec.entities]
    return dataclasses.replace(spec, entities=tuple(entities)), compiled.sources


def test_integer_to_decimal_beyond_2_53_is_refused_on_sqlite_and_exact_on_postgresql(publish_yaml):
    built, _ = publish_yaml(BASE + "      n: integer\n")
    big = 2**53 + 1
    for n in (big, -big, 5, None):
        built.model("item").objects.create(name="x", n=n)
    wider = BASE + "      n: {type: decimal, max_digits: 30, decimal_places: 2}\n"
    if connection.vendor == "sqlite":
        with pytest.raises(MigrationError) as info:
            publish_yaml(wider)
        assert [(p.code, p.message) for p in info.value.problems] == [
            ("M009", "'item.n': 2 row(s) hold whole numbers beyond 2^53, which SQLite stores as rounded floats "
                     "in a decimal column")]
        assert values("n") == [big, -big, 5, None] and SolutionVersion.objects.count() == 1
    else:
        _, plan = publish_yaml(wider)
        assert not plan.refusals
        assert values("n") == [Decimal(big), Decimal(-big), Decimal(5), None]


def test_boolean_to_integer_converts_on_both_backends(publish_yaml):
    built, _ = publish_yaml(BASE + "      b: boolean\n")
    for b in (True, False):
        built.model("item").objects.create(name="x", b=b)
    _, plan = publish_yaml(BASE + "      b: integer\n")
    assert not plan.refusals and not plan.loses_data
    assert values("b") == [1, 0]


def test_removing_unused_choices_that_shortens_the_column_is_free(publish_yaml):
    long = "x" * 40
    text = BASE + f"      tier: {{type: choice, choices: [basic, {long}]}}\n"
    built, _ = publish_yaml(text)
    built.model("item").objects.create(name="a", tier="basic")
    _, plan = publish_yaml(text.replace(f", {long}]", "]"))
    assert not plan.refusals
    assert values("tier") == ["basic"]


def test_removing_a_used_long_choice_is_refused(publish_yaml):
    long = "x" * 40
    text = BASE + f"      tier: {{type: choice, choices: [basic, {long}]}}\n"
    built, _ = publish_yaml(text)
    built.model("item").objects.create(name="a", tier=long)
    with pytest.raises(MigrationError) as info:
        publish_yaml(text.replace(f", {long}]", "]"))
    assert [(p.code, p.message) for p in info.value.problems] == [
        ("M003", "'item.tier': max length goes down from 40 to 32 (1 row(s) hold a longer text)")]


def test_shorter_string_is_free_when_no_value_is_longer(publish_yaml):
    built, _ = publish_yaml(BASE + "      code: {type: string, max_length: 50}\n")
    built.model("item").objects.create(name="a", code="short")
    _, plan = publish_yaml(BASE + "      code: {type: string, max_length: 10}\n")
    assert not plan.refusals and values("code") == ["short"]


def test_optional_decimal_holding_nulls_to_string_is_free(publish_yaml):
    built, _ = publish_yaml(BASE + "      price: decimal\n")
    built.model("item").objects.create(name="a", price=None)
    built.model("item").objects.create(name="b", price=Decimal("2.50"))
    _, plan = publish_yaml(BASE + "      price: {type: string, max_length: 60}\n")
    assert not plan.refusals
    # The same number: SQLite keeps decimals as numbers without trailing zeros.
    assert values("price") == ["", "2.50" if connection.vendor == "postgresql" else "2.5"]


@pytest.mark.parametrize("how", ["create", "add", "alter"])
def test_a_decimal_default_that_does_not_fit_is_never_written(schema, how):
    text = BASE + "      size: {type: decimal, max_digits: 4, decimal_places: 0}\n"
    if how != "create":
        spec, sources = with_field(text, field="size")
        publish(spec, sources)
        registry.active.model("item").objects.create(name="a", size=3)
    if how == "add":
        text = BASE + "      other: {type: decimal, max_digits: 4, decimal_places: 0}\n" \
            "      size: {type: decimal, max_digits: 4, decimal_places: 0}\n"
    spec, sources = with_field(text, field="other" if how == "add" else "size", default=10**10, has_default=True)
    with pytest.raises(MigrationError) as info:
        publish(spec, sources)
    name = "other" if how == "add" else "size"
    assert [(p.code, p.message) for p in info.value.problems] == [
        ("M008", f"'item.{name}': the default 10000000000 does not fit 4 digits with 0 decimal place(s)")]
    if how != "create":
        assert values("size") == [3]


def test_a_field_named_like_a_model_attribute_publishes_and_evolves(schema, monkeypatch):
    """'spec' was the model's own attribute: the engine's code paths no longer read it from models.

    The checks refuse such names; the specs are made past them, and the applied spec is the one published
    (its stored YAML says 'specx').
    """
    import engine.migrate

    published = {}
    real_applied = engine.migrate.applied

    def applied():
        version, spec = real_applied()
        return version, (published.get(version.number, spec) if version else None)

    monkeypatch.setattr(engine.migrate, "applied", applied)
    text = BASE + "      specx: string\n"
    spec, sources = with_field(text, field="specx", name="spec")
    built, _ = publish(spec, sources)
    published[1] = spec
    row = built.model("item").objects.create(name="kept", spec="value")
    assert str(row) == "kept"
    spec2, sources2 = with_field(text + "    indexes:\n      - {fields: [name, specx]}\n", field="specx", name="spec")
    spec2 = dataclasses.replace(spec2, entities=tuple(
        dataclasses.replace(e, indexes=tuple(dataclasses.replace(ix, fields=("name", "spec")) for ix in e.indexes))
        for e in spec2.entities))
    built, plan = publish(spec2, {**sources2, "v": "2"})
    assert [op.text for op in plan.operations] == ["add index on cabinet_item(name, spec)"]
    assert values("spec") == ["value"]


def test_a_database_failure_names_the_yaml_place_of_its_operation(publish_yaml):
    built, _ = publish_yaml(BASE + "      code: string\n")
    for _ in range(2):
        built.model("item").objects.create(name="same", code="c")
    text = BASE + "      code: string\n    indexes:\n      - {fields: [name, code], unique: true}\n"
    with pytest.raises(MigrationError) as info:
        publish_yaml(text)
    [problem] = info.value.problems
    assert problem.code == "M006"
    assert str(problem.loc) == "solution.yaml:11:9"
    assert problem.message.startswith("the database refused the migration while running "
                                      "'add unique index on cabinet_item(name, code)': ")


NULLABLE = BASE + "      code: string\n      size: integer\n      day: date\n      owner: {type: ref, to: user}\n"


@pytest.mark.parametrize("fields", [["code"], ["size"], ["day"], ["name", "size"], ["owner", "size"]])
def test_unique_index_with_nulls_not_distinct_refuses_a_second_empty_row(publish_yaml, fields):
    """By default a unique index lets rows with empty (NULL) values repeat; nulls_distinct: false does not."""
    # 'code' is an optional string: stored as '' (not NULL) unless unique, so it is unique here on its own.
    text = NULLABLE + f"    indexes:\n      - {{fields: [{', '.join(fields)}], unique: true, nulls_distinct: false}}\n"
    built, plan = publish_yaml(NULLABLE)
    model = built.model("item")
    model.objects.create(name="a")
    built, plan = publish_yaml(text)
    assert plan.operations[-1].text == f"add unique index (empty values equal) on cabinet_item({', '.join(fields)})"
    model = built.model("item")
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        model.objects.create(name="a")
    model.objects.create(name="a", size=0, code="x", day="2026-01-01")  # a value is not the same as empty
    assert model.objects.count() == 2


def test_unique_index_lets_empty_values_repeat_by_default(publish_yaml):
    built, _ = publish_yaml(NULLABLE + "    indexes:\n      - {fields: [size], unique: true}\n")
    built.model("item").objects.create(name="a")
    built.model("item").objects.create(name="b")
    assert built.model("item").objects.count() == 2


def test_nulls_distinct_needs_a_unique_index():
    from tests.conftest import compile_yaml as compiled

    result = compiled(NULLABLE + "    indexes:\n      - {fields: [size], nulls_distinct: false}\n")
    assert [str(p) for p in result.errors] == [
        "solution.yaml:14:42: cabinet.E260 'entities.item.indexes.0.nulls_distinct' applies only to unique indexes "
        "(hint: add 'unique: true' or remove nulls_distinct)"]
