"""Workflow timers in `cabinet check`: every key takes effect or is a located error."""
import pytest

from engine.spec import TransitionSpec
from tests.conftest import compile_yaml

SOLUTION = """
entities:
  excursion:
    fields:
      title: string
      starts_at: {type: datetime, required: true}
  booking:
    fields:
      excursion: {type: ref, to: excursion, required: true}
      status: {type: choice, choices: [requested, confirmed, cancelled]}
      placed_at: {type: datetime, required: true}
      note: string
workflows:
  booking_flow:
    entity: booking
    field: status
    states: {requested: , confirmed: , cancelled: }
    transitions:
      confirm: {from: requested, to: confirmed}
      cancel: {from: [requested, confirmed], to: cancelled}
    timers:
      unconfirmed: {after: 2h, from: placed_at, in: [requested], do: cancel}
      too_late: {before: 1d, from: excursion.starts_at, in: [confirmed], do: cancel}
      expire: {after: 30d, from: entered, in: [confirmed], do: cancel}
"""


def problems(timers_yaml):
    text = SOLUTION[: SOLUTION.index("    timers:")] + "    timers:\n" + timers_yaml
    return [str(p) for p in compile_yaml(text).problems]


def test_the_example_solution_is_valid():
    assert compile_yaml(SOLUTION).problems == []


def test_durations_and_transitions_are_checked_and_located():
    assert problems("      a: {after: 2h, before: 1h, from: placed_t, do: cancl}\n") == [
        "solution.yaml:24:7: cabinet.E370 timer 'a' needs exactly one of 'after' and 'before' "
        "(hint: write 'after: 2h' (from the date on) or 'before: 1d' (counting back from it))",
        "solution.yaml:24:40: cabinet.E371 'workflows.booking_flow.timers.a.from': 'booking' has no field "
        "'placed_t'; did you mean 'placed_at'? (hint: name a date or datetime field of the row, a path to one "
        "along refs (excursion.starts_at), or 'entered')",
        "solution.yaml:24:54: cabinet.E373 timer 'a' does 'cancl', which is not a transition of workflow "
        "'booking_flow'; did you mean 'cancel'? (hint: transitions: confirm, cancel)",
    ]


def test_from_must_lead_to_a_date():
    assert [p.split(" (hint")[0] for p in problems(
        "      a: {after: 1h, from: excursion.title, do: cancel}\n"
        "      b: {after: 1h, from: note.x, do: cancel}\n"
        "      c: {after: 1h, from: excursion.starts_at.x, do: cancel}\n"
    )] == [
        "solution.yaml:24:28: cabinet.E371 'workflows.booking_flow.timers.a.from': 'excursion.title' is a "
        "string field, not a date or datetime",
        "solution.yaml:25:28: cabinet.E371 'workflows.booking_flow.timers.b.from': 'booking.note' is not a "
        "reference to another entity, so the path cannot go on to 'x'",
        "solution.yaml:26:28: cabinet.E371 'workflows.booking_flow.timers.c.from': 'excursion.starts_at' is "
        "not a reference to another entity, so the path cannot go on to 'x'",
    ]


def test_states_must_exist_and_be_where_the_transition_starts():
    assert [p.split(" (hint")[0] for p in problems(
        "      a: {after: 1h, from: entered, in: [requested, cancelld], do: cancel}\n"
        "      b: {after: 1h, from: entered, in: cancelled, do: confirm}\n"
        "      c: {before: 1h, from: entered, do: cancel}\n"
        "      d: {after: 1h, from: placed_at}\n"
    )] == [
        "solution.yaml:24:53: cabinet.E205 'workflows.booking_flow.timers.a.in[1]' refers to unknown state "
        "'cancelld'; did you mean 'cancelled'?",
        "solution.yaml:25:41: cabinet.E374 timer 'b' runs in cancelled, but 'confirm' starts only from requested",
        "solution.yaml:26:19: cabinet.E372 timer 'c' counts back from entering a state, which has not happened yet",
        "solution.yaml:27:7: cabinet.E370 timer 'd' needs exactly one of 'do' (a transition) and 'actions'",
    ]


def test_bad_duration_is_a_shape_error():
    (line,) = problems("      a: {after: 2 hours, from: placed_at, do: cancel}\n")
    assert line.startswith("solution.yaml:24:18: cabinet.E105 'workflows.booking_flow.timers.a.after' is "
                           "'2 hours', which is not of the expected form (hint: a duration")


def test_in_defaults_to_the_states_the_transition_starts_from():
    spec = compile_yaml(SOLUTION.replace("in: [requested], do: cancel", "do: cancel")).spec
    assert spec.workflows[0].timers[0].states == ("requested", "confirmed")
    assert [(t.name, t.offset) for t in spec.workflows[0].timers] == [
        ("unconfirmed", 7200), ("too_late", -86400), ("expire", 30 * 86400)]


def test_actions_in_timers_are_checked_like_a_transition_s():
    found = problems("      a: {after: 1h, from: placed_at, actions: [{set: {nope: \"'x'\"}}]}\n"
                     "      b: {after: 1h, from: placed_at, in: [requested], actions: [{set: {note: \"'reminded'\"}}]}\n")
    assert [p.split(" (hint")[0] for p in found] == [
        "solution.yaml:24:7: cabinet.E375 timer 'a' with actions needs 'in': the states in which it runs",
        "solution.yaml:24:56: cabinet.E202 'workflows.booking_flow.timers.a.actions[0].set.nope' writes 'nope': "
        "entity 'booking' has no field 'nope'; did you mean 'note'?",
    ]


@pytest.mark.skipif(not hasattr(TransitionSpec, "required"), reason="transitions' required fields come with workflows")
def test_a_transition_that_needs_fields_filled_cannot_be_fired_by_a_timer():
    text = SOLUTION.replace("cancel: {from: [requested, confirmed], to: cancelled}",
                            "cancel: {from: [requested, confirmed], to: cancelled, required: [note]}")
    assert [str(p).split(" (hint")[0] for p in compile_yaml(text).problems] == [
        "solution.yaml:24:70: cabinet.E377 timer 'unconfirmed' does 'cancel', which needs note filled in, and a "
        "timer has no one to ask",
        "solution.yaml:25:78: cabinet.E377 timer 'too_late' does 'cancel', which needs note filled in, and a timer "
        "has no one to ask",
        "solution.yaml:26:64: cabinet.E377 timer 'expire' does 'cancel', which needs note filled in, and a timer "
        "has no one to ask",
    ]
