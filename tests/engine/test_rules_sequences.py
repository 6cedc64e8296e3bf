"""Numbering patterns (``sequence: "R-{year}-{seq:05}"``): checked at compile time, numbers taken
under a row lock so concurrent creates never share one, a new counter each period."""
import datetime as dt
import threading

import pytest
from django.db import connection, connections, transaction

from engine.models import Sequence
from engine.rules import sequences
from tests.conftest import compile_yaml

ORDER = """
entities:
  service_order:
    fields:
      number: {{type: string, {options}}}
      note: string
"""


def problems(options):
    return [(p.code, p.loc.line, p.message) for p in compile_yaml(ORDER.format(options=options)).problems
            if p.is_error]


def test_a_good_pattern_compiles_and_makes_the_field_unique():
    compiled = compile_yaml(ORDER.format(options='sequence: "R-{year}-{seq:05}"'))
    assert compiled.errors == []
    f = compiled.spec.entity("service_order").field("number")
    assert f.sequence == "R-{year}-{seq:05}" and f.unique and f.stored


@pytest.mark.parametrize(("pattern", "says"), [
    ("R-{year}", "exactly one '{seq}'"),
    ("{seq}-{seq}", "exactly one '{seq}'"),
    ("R-{week}-{seq}", "unknown part '{week}'"),
    ("R-{seq!r}", "converts its value"),
    ("R-{seq:q}", "format a number does not take"),
    ("R-{seq:>9999999999}", "width of 100 characters or more"),
    ("R-{seq", "literal braces"),
])
def test_a_bad_pattern_is_a_located_error(pattern, says):
    found = problems(f'sequence: "{pattern}"')
    assert [(code, line) for code, line, _ in found] == [("E335", 7)]  # the line of the number field
    assert says in found[0][2]


def test_a_numbered_field_cannot_have_a_default_nor_be_too_short():
    found = problems('sequence: "R-{year}-{seq:05}", default: "x", max_length: 8')
    assert sorted(code for code, _, _ in found) == ["E336", "E336"]
    assert any("at least 12 characters" in message for _, _, message in found)


def test_sequence_is_only_an_option_of_text_fields():
    found = compile_yaml("""
entities:
  invoice:
    fields:
      number: {type: integer, sequence: "{seq}"}
""").errors
    assert [p.code for p in found] == ["E212"]


def test_render_fills_the_date_and_the_number():
    pieces = sequences.parse("R-{year}-{month:02}-{seq:05}")
    assert sequences.render(pieces, dt.date(2026, 3, 9), 42) == "R-2026-03-00042"
    assert sequences.render(pieces, dt.date(2026, 3, 9)) == "R-2026-03-{seq}"  # the counter's key
    assert sequences.min_length(pieces) == len("R-2000-01-00001")


@pytest.mark.django_db
def test_numbers_count_up_per_period_and_a_rollback_gives_its_number_back():
    pattern = "R-{year}-{seq:03}"
    take = lambda day: sequences.take("order", "number", pattern, day)  # noqa: E731
    with transaction.atomic():
        assert [take(dt.date(2026, 5, 1)) for _ in range(3)] == ["R-2026-001", "R-2026-002", "R-2026-003"]
    assert take(dt.date(2027, 1, 1)) == "R-2027-001"  # a new year starts again at 1
    with pytest.raises(RuntimeError), transaction.atomic():
        assert take(dt.date(2026, 6, 1)) == "R-2026-004"
        raise RuntimeError("the create failed after taking its number")
    assert take(dt.date(2026, 6, 1)) == "R-2026-004"
    assert Sequence.objects.get(entity="order", field="number", key="R-2026-{seq}").value == 4


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_never_share_a_number_on_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL): SQLite serialises whole transactions")
    taken, errors, start = [], [], threading.Barrier(40)

    def worker():
        try:
            start.wait()
            with transaction.atomic():
                taken.append(sequences.take("order", "number", "{seq}", dt.date(2026, 1, 1)))
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(map(int, taken)) == list(range(1, 41))
