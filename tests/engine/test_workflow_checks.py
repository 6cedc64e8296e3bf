"""Workflow checks: states, transitions, roles, fields to fill and actions, each problem located."""
from tests.conftest import compile_yaml

BASE = """
entities:
  guest:
    owner: user
    fields:
      user: {type: ref, to: user}
      name: string
      points: integer
  purchase:
    fields:
      guest: {type: ref, to: guest, required: true}
      status: {type: choice, choices: [new, paid, done, lost]}
      note: text
      scan: file
      total: money
  entry:
    fields:
      guest: {type: ref, to: guest, required: true}
      points: {type: integer, required: true}
      reason: string
webhooks:
  crm: {entity: purchase, on: [create], url: "https://crm.example.com/hook"}
  guests: {entity: guest, on: [create], url: "https://crm.example.com/guests"}
roles:
  clerk:
    entities:
      purchase: {actions: [list, view, pay, finish], scope: all}
  boss:
    entities:
      purchase: {actions: all, scope: all}
  guest:
    entities:
      purchase: {actions: [list, view], scope: all}
workflows:
  flow:
    entity: purchase
    field: status
    states: {new: , paid: , done: {final: true}, lost: }
    transitions:
      pay: {from: new, to: paid, roles: [clerk, boss]}
      finish: {from: paid, to: done, roles: [clerk]}
      drop: {from: new, to: lost}
"""


def lines(text):
    return [str(p) for p in compile_yaml(text).problems]


def codes(text):
    return [p.code for p in compile_yaml(text).problems]


def test_base_is_valid():
    assert lines(BASE) == []


def test_unreachable_state_and_a_transition_that_can_never_fire():
    text = BASE.replace("drop: {from: new, to: lost}", "drop: {from: lost, to: new}")
    assert lines(text) == [
        "solution.yaml:40:50: cabinet.E351 state 'lost' of workflow 'flow' cannot be reached: no transition leads "
        "to it from the initial state 'new' (hint: add a transition to it, or remove the state)",
        "solution.yaml:44:20: cabinet.E352 transition 'drop' can never fire: no row can be in 'lost' "
        "(hint: start it from a state reachable from 'new')",
    ]


def test_transition_leaving_a_final_state_and_unknown_states():
    text = BASE.replace("drop: {from: new, to: lost}", "drop: {from: [new, done, gone], to: nowhere}")
    assert codes(text) == ["E351", "E353", "E205", "E205"]
    (final,) = [line for line in lines(text) if "E353" in line]
    assert final == ("solution.yaml:44:26: cabinet.E353 transition 'drop' leaves 'done', a final state "
                     "(hint: remove 'final: true' from 'done', or start the transition elsewhere)")


def test_role_listed_on_a_transition_needs_it_in_its_grant():
    text = BASE.replace("roles: [clerk]}", "roles: [clerk, guest, nobody]}")
    assert lines(text) == [
        "solution.yaml:43:53: cabinet.E354 role 'guest' is listed on transition 'finish', but its grant on 'purchase' "
        "does not include 'finish', so it can never fire it (hint: add 'finish' to "
        "'roles.guest.entities.purchase.actions', or remove the role here)",
        "solution.yaml:43:60: cabinet.E203 'workflows.flow.transitions.finish.roles[2]' refers to unknown role "
        "'nobody' (hint: known roles: boss, clerk, guest)",
    ]


def test_transition_names_that_are_the_apis_row_paths():
    text = BASE.replace("drop: {from: new, to: lost}", "history: {from: new, to: lost}")
    assert lines(text) == [
        "solution.yaml:44:7: cabinet.E120 transition name 'history' is the API's own path "
        "/api/purchase/<id>/history/ (hint: choose another name, e.g. 'history_purchase')"]


def test_fields_to_fill():
    text = BASE.replace("pay: {from: new, to: paid, roles: [clerk, boss]}",
                        "pay: {from: new, to: paid, fields: [note, status, scan, nte], required: [total, note]}")
    assert lines(text) == [
        "solution.yaml:42:49: cabinet.E355 'workflows.flow.transitions.pay.fields[1]' is 'status', the state field "
        "of workflow 'flow', which a transition's form cannot fill "
        "(hint: fill another field; the workflow sets the state itself)",
        "solution.yaml:42:57: cabinet.E216 'workflows.flow.transitions.pay.fields[2]' is 'scan', a file field, which "
        "a transition cannot take (hint: fill it on the row's edit form instead)",
        "solution.yaml:42:63: cabinet.E202 'workflows.flow.transitions.pay.fields[3]' refers to unknown field 'nte'; "
        "did you mean 'note'? (hint: known fields: guest, status, note, scan, total)",
    ]
    spec = compile_yaml(BASE.replace("pay: {from: new, to: paid, roles: [clerk, boss]}",
                                     "pay: {from: new, to: paid, fields: [note], required: [total]}")).spec
    pay = spec.workflows[0].transitions[0]
    assert (pay.fields, pay.required) == (("note", "total"), ("total",))


ACTIONS = BASE.replace("drop: {from: new, to: lost}", """drop:
        from: new
        to: lost
        actions:
          - {set: {status: "'done'"}}
          - {set: {guest.nme: "'x'", note.x: "'y'", guest.user.email: "'z'"}}
          - increment: {field: guest.name}
          - decrement: {field: guest.points, by: 2}
          - create: {entity: entry, values: {reason: "'lost'", points: 1, status: 1}}
          - create: {entity: entri}
          - webhook: guests
          - webhook: crn
          - {when: "true"}
          - {set: {note: "'x'"}, webhook: crm}
""")


def test_actions_are_checked():
    assert lines(ACTIONS) == [
        "solution.yaml:48:20: cabinet.E355 'workflows.flow.transitions.drop.actions[0].set.status' writes "
        "'purchase.status', the state field of workflow 'flow' (hint: change the state with a transition; computed "
        "fields follow their expression)",
        "solution.yaml:49:20: cabinet.E202 'workflows.flow.transitions.drop.actions[1].set.guest.nme' writes "
        "'guest.nme': entity 'guest' has no field 'nme'; did you mean 'name'? (hint: known fields: user, name, points)",
        "solution.yaml:49:38: cabinet.E207 'workflows.flow.transitions.drop.actions[1].set.note.x' writes 'note.x': "
        "'note' is not a reference to one row, so the path cannot go on "
        "(hint: each step but the last must be a ref field)",
        "solution.yaml:49:53: cabinet.E207 'workflows.flow.transitions.drop.actions[1].set.guest.user.email' writes "
        "'guest.user.email': 'user' is not a reference to one row, so the path cannot go on "
        "(hint: each step but the last must be a ref field)",
        "solution.yaml:50:32: cabinet.E357 'workflows.flow.transitions.drop.actions[2].increment.field' is "
        "'guest.name', a string field, which cannot be incremented (hint: name an integer, decimal or money field)",
        "solution.yaml:52:21: cabinet.E356 'workflows.flow.transitions.drop.actions[4].create' creates an entry "
        "without the required 'guest' (hint: add guest under 'values')",
        "solution.yaml:52:75: cabinet.E202 'workflows.flow.transitions.drop.actions[4].create.values.status' refers "
        "to unknown field 'status' of 'entry' (hint: known fields: guest, points, reason)",
        "solution.yaml:53:30: cabinet.E201 'workflows.flow.transitions.drop.actions[5].create.entity' refers to "
        "unknown entity 'entri'; did you mean 'entry'? (hint: known entities: entry, guest, purchase)",
        "solution.yaml:54:22: cabinet.E358 'workflows.flow.transitions.drop.actions[6].webhook' calls webhook "
        "'guests', which is for 'guest', not 'purchase' (hint: call a webhook whose entity is 'purchase')",
        "solution.yaml:55:22: cabinet.E358 'workflows.flow.transitions.drop.actions[7].webhook' refers to unknown "
        "webhook 'crn'; did you mean 'crm'? (hint: known webhooks: crm, guests (declared under 'webhooks:'))",
        "solution.yaml:56:13: cabinet.E350 'workflows.flow.transitions.drop.actions[8]' names no action; each item "
        "is one action (hint: write one of set, increment, decrement, create, webhook, notify per item (plus 'when' "
        "if needed))",
        "solution.yaml:57:13: cabinet.E350 'workflows.flow.transitions.drop.actions[9]' names several actions (set, "
        "webhook); each item is one action (hint: write one of set, increment, decrement, create, webhook, notify "
        "per item (plus 'when' if needed))",
    ]


def test_state_actions_and_triggers_are_checked():
    text = BASE.replace("done: {final: true}", "done: {final: true, on_enter: [{set: {status: new}}]}").replace(
        "      points: integer\n", """      points: integer
    triggers:
      delete: [{set: {points: 0}}, {increment: {field: user.x}}]
      update: [{webhook: crm}]
""")
    assert codes(text) == ["E360", "E207", "E358", "E355"]


def test_shape_of_guards_and_actions_is_refused_when_unknown():
    text = BASE.replace("drop: {from: new, to: lost}", """drop:
        from: new
        to: lost
        guard: {when: "true", mesage: x}
        actions: [{add_points: 3}, {increment: {by: 2}}]
""")
    assert codes(text) == ["E101", "E101", "E102"]


def test_guards_and_conditions_are_parsed_and_typed_at_their_own_place():
    text = BASE.replace("drop: {from: new, to: lost}", """drop:
        from: new
        to: lost
        guard: "total > 0 and guest.nme == 'x'"
        actions:
          - {when: "total +", notify: {to: guest.user, message: hi}}
          - {when: total, set: {note: "'x'"}}
      undo:
        from: lost
        to: new
        guard: {when: "old.total > 0", message: {en: No., ru: Нет.}}
""")
    found = lines(text)
    assert [line.split(" ")[:2] for line in found] == [
        ["solution.yaml:47:37:", "cabinet.E302"], ["solution.yaml:49:28:", "cabinet.E300"],
        ["solution.yaml:50:20:", "cabinet.E304"], ["solution.yaml:54:24:", "cabinet.E305"]]
    assert "'workflows.flow.transitions.drop.guard': " in found[0] and "'nme'" in found[0]


def test_values_must_fit_the_fields_they_write():
    text = BASE.replace("drop: {from: new, to: lost}", """drop:
        from: new
        to: lost
        actions:
          - set: {total: "'free'", note: "total", guest: "guest.user", status: null}
          - increment: {field: guest.points, by: "total / 2"}
          - create: {entity: entry, values: {guest: guest, points: "round(total / 2)", reason: 5}}
          - notify: {to: guest, message: {en: hi, de: hallo}}
          - notify: {to: guest.user, message: hi}
""")
    assert lines(text) == [
        "solution.yaml:48:26: cabinet.E357 'workflows.flow.transitions.drop.actions[0].set.total' gives text "
        "(''free'') to 'total', a money field: it holds numbers (hint: write a value of the field's type)",
        "solution.yaml:48:42: cabinet.E357 'workflows.flow.transitions.drop.actions[0].set.note' gives money "
        "('total') to 'note', a text field: it holds texts (hint: write a value of the field's type)",
        "solution.yaml:48:58: cabinet.E357 'workflows.flow.transitions.drop.actions[0].set.guest' gives ref to user "
        "('guest.user') to 'guest', a ref field: it refers to a 'guest' (hint: write a value of the field's type)",
        "solution.yaml:48:72: cabinet.E355 'workflows.flow.transitions.drop.actions[0].set.status' writes "
        "'purchase.status', the state field of workflow 'flow' (hint: change the state with a transition; "
        "computed fields follow their expression)",
        "solution.yaml:49:50: cabinet.E357 'workflows.flow.transitions.drop.actions[1].increment.by' gives money "
        "('total / 2') to 'points', an integer field: it holds whole numbers; round() the value "
        "(hint: write a value of the field's type)",
        "solution.yaml:50:96: cabinet.E357 'workflows.flow.transitions.drop.actions[2].create.values.reason' gives "
        "integer ('5') to 'reason', a string field: it holds texts (hint: write a value of the field's type)",
        "solution.yaml:51:26: cabinet.E359 'workflows.flow.transitions.drop.actions[3].notify.to' is ref to guest "
        "('guest'), not a user (hint: name a path that ends at a ref to the user, such as stay.guest.user)",
        "solution.yaml:51:51: cabinet.E208 'workflows.flow.transitions.drop.actions[3].notify.message' has a text in "
        "'de', which is not among the solution's languages",
    ]


def test_create_actions_that_would_create_rows_without_end():
    text = BASE.replace("      points: integer\n", """      points: integer
    triggers:
      create: [{create: {entity: entry, values: {guest: id, points: 1}}}]
""", 1).replace("      reason: string\n", """      reason: string
    triggers:
      create: [{create: {entity: guest, values: {name: "'again'"}}}]
""")
    assert codes(text) == ["E361", "E361"]
