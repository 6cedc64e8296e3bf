"""Schema and semantic checks: every problem located, with its code, path and hint, all in one run."""
import pytest

from engine.compiler import compile_folder
from tests.conftest import compile_yaml


def lines(text, **kw):
    return [str(p) for p in compile_yaml(text, **kw).problems]


def codes(text, **kw):
    return [p.code for p in compile_yaml(text, **kw).problems]


def test_resort_solution_is_valid_without_warnings():
    result = compile_folder("solutions/resort")
    assert result.problems == []
    assert [e.name for e in result.spec.entities] == [
        "guest", "room", "stay", "service", "service_order", "excursion", "booking", "points_entry", "claim"]


def test_unknown_type_suggests_the_closest():
    assert lines("""
entities:
  order_item:
    fields:
      price: {type: monye}
""") == [
        "solution.yaml:7:21: cabinet.E104 'entities.order_item.fields.price.type' is 'monye', not one of: string, "
        "text, markdown, integer, decimal, money, boolean, date, datetime, time, choice, email, phone, url, image, "
        "file, json, ref, refs; did you mean 'money'?"]


def test_shorthand_field_type_is_located_at_the_value():
    assert lines("entities:\n  a:\n    fields:\n      n: strng\n") == [
        "solution.yaml:7:10: cabinet.E104 'entities.a.fields.n.type' is 'strng', not one of: string, text, markdown, "
        "integer, decimal, money, boolean, date, datetime, time, choice, email, phone, url, image, file, json, ref, "
        "refs; did you mean 'string'?"]


def test_unknown_key_points_at_the_key_and_lists_allowed():
    (line,) = lines("entities:\n  a:\n    fields:\n      n: {type: string, maxlength: 3}\n")
    assert line.startswith("solution.yaml:7:25: cabinet.E101 'entities.a.fields.n.maxlength' is not a known key; "
                           "did you mean 'max_length'? (hint: allowed keys here: type, label,")


def test_missing_required_keys_and_wrong_types():
    assert lines("entities:\n  a: {label: 5}\nroles: []\n") == [
        "solution.yaml:5:6: cabinet.E102 'entities.a' needs 'fields' (hint: add 'fields:' under 'entities.a')",
        "solution.yaml:5:14: cabinet.E103 'entities.a.label' is a number that does not fit here "
        "(hint: expected a text, or a mapping of language code to text)",
        "solution.yaml:6:8: cabinet.E103 'roles' is a list, expected object",
    ]


def test_bad_names_point_at_the_key():
    assert lines("entities:\n  Guest:\n    fields: {a: string}\n") == [
        "solution.yaml:5:3: cabinet.E105 'entities.Guest': 'Guest' is not a valid name "
        "(hint: a lower-case name: letters, digits and '_', starting with a letter)"]


def test_all_problems_in_one_run_sorted_by_place():
    found = codes("""
entities:
  a:
    title: nope
    owner: n
    fields:
      n: {type: integer, max_length: 3, min: 5, max: 1, default: x}
      class: string
      r: {type: ref, to: b}
      c: {type: choice, choices: [x, x], default: y}
      d: {type: decimal, max_digits: 3, decimal_places: 4}
""")
    assert found == ["E202", "E213", "E212", "E211", "E210", "E120", "E201", "E211", "E210", "E211"]


@pytest.mark.parametrize(("field", "message"), [
    ("{type: integer, default: '3'}", "'entities.a.fields.f.default': '3' is not a whole number"),
    ("{type: date, default: 31.01.2024}", "'entities.a.fields.f.default': '31.01.2024' is not a date in ISO form "
                                          "(e.g. 2026-01-31)"),
    ("{type: email, default: nobody}", "'entities.a.fields.f.default': 'nobody' is not a valid email address"),
    ("{type: boolean, default: yes}", "'entities.a.fields.f.default': 'yes' is not true or false"),
    ("{type: choice, choices: [a, b], default: c}", "'entities.a.fields.f.default': 'c' is not one of the choices "
                                                    "(a, b)"),
    ("{type: string, max_length: 2, default: abc}", "'entities.a.fields.f.default': 'abc' is longer than 2 characters"),
    ("{type: integer, min: 1, default: 0}", "'entities.a.fields.f.default': 0 is below min 1"),
    # every constraint of the field applies to its default (the model field would refuse it on save or read)
    ("{type: decimal, max_digits: 4, default: 1e10}", "'entities.a.fields.f.default': '1E+10': Ensure that there "
                                                       "are no more than 4 digits in total."),
    ("{type: decimal, max_digits: 4, decimal_places: 2, default: 0.125}", "'entities.a.fields.f.default': '0.125': "
                                                                          "Ensure that there are no more than 2 "
                                                                          "decimal places."),
    ("{type: money, default: 'NaN'}", "'entities.a.fields.f.default': 'NaN': Enter a number."),
    ("{type: integer, max: 5, default: 6}", "'entities.a.fields.f.default': 6 is above max 5"),
    ("{type: integer, default: 9223372036854775808}", "'entities.a.fields.f.default': 9223372036854775808 does not "
                                                      "fit a 64-bit integer"),
    ("{type: string, min_length: 3, default: ab}", "'entities.a.fields.f.default': 'ab' is shorter than min_length 3"),
    ("{type: phone, max_length: 5, default: '+1 555 0100'}", "'entities.a.fields.f.default': '+1 555 0100' is longer "
                                                             "than 5 characters"),
    ("{type: url, default: 'not a url'}", "'entities.a.fields.f.default': 'not a url': Enter a valid URL."),
    ("{type: string, default: \"a\\0b\"}", "'entities.a.fields.f.default': holds a NUL character, which "
                                            "databases do not store"),
    ("{type: string, required: true, default: ''}", "'entities.a.fields.f.default' is empty but the field is required"),
    ("{type: string, default: [a]}", "'entities.a.fields.f.default': ['a'] is not a text"),
    ("{type: time, default: today}", "'entities.a.fields.f.default': 'today' is not a time in ISO form (e.g. 18:30)"),
    ("{type: refs, to: user, default: 1}", "'entities.a.fields.f.default' is not an option of a refs field"),
    ("{type: integer, max_length: 3}", "'entities.a.fields.f.max_length' is not an option of an integer field"),
])
def test_bad_defaults(field, message):
    found = compile_yaml(f"entities:\n  a:\n    fields:\n      f: {field}\n").problems
    assert [p.message for p in found] == [message]


def test_reserved_names():
    assert codes("entities:\n  select:\n    fields: {a: string}\n  b:\n    fields:\n      pk: string\n"
                 "      order: string\n      x__y: string\n      user: {type: ref, to: user}\n") == [
        "E120", "E120", "E120", "E120"]
    assert codes("entities:\n  user:\n    fields: {a: string}\n") == ["E120"]


def test_required_reference_cycle():
    assert lines("""
entities:
  a:
    fields: {b: {type: ref, to: b, required: true}}
  b:
    fields: {a: {type: ref, to: a, required: true}}
  c:
    fields: {c: {type: ref, to: c, required: true}}
""") == [
        "solution.yaml:5:3: cabinet.E214 required references form a cycle: a -> b -> a; no first row can be created "
        "(hint: make one reference in the cycle optional)",
        "solution.yaml:9:3: cabinet.E214 required references form a cycle: c -> c; no first row can be created "
        "(hint: make one reference in the cycle optional)",
    ]


def test_optional_reference_cycle_is_fine():
    assert codes("entities:\n  a:\n    fields: {b: {type: ref, to: b}}\n  b:\n    fields: {a: {type: ref, to: a}}\n") == []


ROLE_BASE = """
entities:
  guest:
    owner: user
    fields:
      user: {type: ref, to: user}
      name: string
  stay:
    fields:
      guest: {type: ref, to: guest, required: true}
      status: {type: choice, choices: [a, b]}
workflows:
  flow:
    entity: stay
    field: status
    states: {a: , b: }
    transitions:
      go: {from: a, to: b, roles: [guest]}
"""


def test_role_references_are_checked():
    assert lines(ROLE_BASE + """
roles:
  guest:
    home: nowhere
    entities:
      stay:
        actions: [list, go, fly]
        scope: {guest.user: $user, guest.nme: x, status.x: 1}
        fields: {view: [status, colour]}
        set: {guest: $user.guest}
      ghost: {scope: all}
      guest: {scope: own}
""") == [
        "solution.yaml:24:11: cabinet.E204 'roles.guest.home' refers to unknown page 'nowhere' (hint: known pages: none)",
        "solution.yaml:27:29: cabinet.E206 'roles.guest.entities.stay.actions[2]' refers to unknown action 'fly' "
        "(hint: known actions: create, delete, go, list, update, view)",
        "solution.yaml:28:36: cabinet.E207 'guest.nme' at 'roles.guest.entities.stay.scope': entity 'guest' has no "
        "field 'nme'; did you mean 'name'? (hint: each step but the last must be a ref field)",
        "solution.yaml:28:50: cabinet.E207 'status.x': 'status' is not a reference to an entity, so the path cannot "
        "go on (hint: each step but the last must be a ref field)",
        "solution.yaml:29:33: cabinet.E202 'roles.guest.entities.stay.fields.view[1]' refers to unknown field "
        "'colour' (hint: known fields: guest, status)",
        "solution.yaml:31:7: cabinet.E201 'roles.guest.entities.ghost' refers to unknown entity 'ghost'; did you "
        "mean 'guest'? (hint: known entities: guest, stay)",
    ]


def test_scope_own_needs_owner_and_user_variables_must_fit():
    assert codes(ROLE_BASE + """
roles:
  r:
    entities:
      stay: {scope: own}
      guest: {scope: {name: $user}, set: {user: $user.stay}}
""") == ["E203", "E207", "E207", "E207"]


def test_workflow_checks():
    text = ROLE_BASE.replace("states: {a: , b: }", "states: {a: , c: }").replace("roles: [guest]", "roles: [nobody]")
    assert codes(text) == ["E217", "E351", "E205", "E203"]  # c: no transition reaches it


def test_page_checks():
    assert codes("""
entities:
  a:
    fields: {n: string, d: date, j: json}
  b:
    fields: {a: {type: ref, to: a}}
pages:
  l: {kind: list, entity: a, columns: [n, x], roles: [nobody], parent: nope}
  c: {kind: calendar, entity: a, date_field: n}
  c2: {kind: calendar, entity: a}
  d:
    kind: detail
    entity: a
    related: [{entity: b, via: a}, {entity: b, via: zz}]
  e: {kind: form}
  h: {kind: dashboard, cards: [{kind: counter, entity: zz}, {kind: shortcut, page: nope}]}
""") == ["E202", "E203", "E204", "E216", "E102", "E202", "E102", "E201", "E204"]


def test_languages():
    assert lines("entities:\n  a:\n    label: {en: A, de: B}\n    fields: {n: string}\n",
                 header="solution:\n  name: t\n  languages: [en, ru]\n  default_language: fr\n") == [
        "solution.yaml:4:21: cabinet.E208 'solution.default_language' is 'fr', not one of 'solution.languages' (en, ru)",
        "solution.yaml:7:12: cabinet.W002 'entities.a.label' has no text in 'ru' "
        "(hint: the default language's text is shown instead)",
        "solution.yaml:7:20: cabinet.E208 'entities.a.label' has a text in 'de', which is not among the solution's "
        "languages (en, ru) (hint: add the language to 'solution.languages' or remove the text)",
    ]


def test_missing_solution_section_and_broken_file_do_not_double_report():
    from engine.compiler import compile_sources

    assert [str(p) for p in compile_sources({"e.yaml": "entities: {}\n"}).problems] == [
        "e.yaml:1:1: cabinet.E111 no file defines the 'solution' section "
        "(hint: add 'solution: {name: ...}' to one file, e.g. solution.yaml)"]
    # the solution section may be in the broken file: no extra 'missing solution' error
    assert [p.code for p in compile_sources({"e.yaml": "entities: {}\n", "s.yaml": "solution: [\n"}).problems] == [
        "E001"]


# --- names the build generates (whatever the checks accept must build and migrate) --------------

@pytest.mark.parametrize(("yaml_text", "expected"), [
    ("entities:\n  t:\n    fields: {n: string}\n  x_by_y:\n    fields: {z: {type: ref, to: t}}\n  x:\n"
     "    fields: {y_by_z: {type: ref, to: t}}\n",
     ["solution.yaml:10:14: cabinet.E121 ref field 'x.y_by_z' adds 'x_by_y_by_z' to 't', which is already the "
      "reverse accessor of 'x_by_y.z' (hint: rename the field or the entity)"]),
    ("entities:\n  a_b:\n    fields: {c: {type: ref, to: user}}\n  a:\n    fields: {b_c: {type: refs, to: user}}\n",
     ["solution.yaml:8:14: cabinet.E121 ref field 'a.b_c' adds 'cabinet_a_b_c' to 'user', which is already the "
      "reverse accessor of 'a_b.c' (hint: rename the field or the entity)"]),
    ("entities:\n  a_b:\n    fields: {n: string}\n  a:\n    fields: {b: {type: refs, to: a_b}}\n",
     ["solution.yaml:8:14: cabinet.E121 refs field 'a.b' makes the table 'cabinet_a_b', which entity 'a_b' makes "
      "too (hint: rename one of them)"]),
    ("entities:\n  ab:\n    fields: {n: string}\n  a_b:\n    fields: {n: string}\n",
     ["solution.yaml:7:3: cabinet.E121 entity 'a_b' makes the model 'ab', which entity 'ab' makes too "
      "(hint: rename one of them)"]),
    ("entities:\n  a1:\n    fields: {n: string}\n  a_1:\n    fields: {n: string}\n",
     ["solution.yaml:7:3: cabinet.E121 entity 'a_1' makes the model 'a1', which entity 'a1' makes too "
      "(hint: rename one of them)"]),
    ("entities:\n  guest:\n    fields: {stay_by_guest: string}\n  stay:\n    fields: {guest: {type: ref, to: guest}}\n",
     ["solution.yaml:8:14: cabinet.E121 ref field 'stay.guest' adds 'stay_by_guest' to 'guest', which is already "
      "field 'guest.stay_by_guest' (hint: rename the field or the entity)"]),
    ("entities:\n  a:\n    fields: {n: string}\n    indexes: [{fields: [n], name: ix}]\n  b:\n    fields: {n: string}\n"
     "    indexes: [{fields: [n], name: ix}]\n",
     ["solution.yaml:10:14: cabinet.E121 index 'b.indexes[0]' makes the index 'ix', which index 'a.indexes[0]' "
      "makes too (hint: rename one of them)"]),
    ("entities:\n  " + "a" * 40 + ":\n    fields: {" + "b" * 30 + ": {type: refs, to: user}}\n",
     [f"solution.yaml:6:14: cabinet.E122 refs field '{'a' * 40}.{'b' * 30}' makes the table "
      f"'cabinet_{'a' * 40}_{'b' * 30}', longer than 63 characters (hint: shorten the names)"]),
    ("entities:\n  a:\n    ordering: [-b]\n    fields: {b: {type: ref, to: a}}\n",
     ["solution.yaml:6:16: cabinet.E216 cannot order 'a' by the ref field 'b' (hint: order by fields of the entity "
      "itself (text, numbers, dates))"]),
])
def test_generated_name_clashes(yaml_text, expected):
    assert [str(p) for p in compile_yaml(yaml_text).problems] == expected


def test_entity_names_that_differ_by_a_trailing_underscore():
    found = compile_yaml("entities:\n  a:\n    fields: {n: string}\n  a_:\n    fields: {n: string}\n").problems
    assert [(p.code, p.message) for p in found] == [
        ("E120", "entity name 'a_' at 'entities.a_' is not allowed ('__' or trailing '_')"),
        ("E121", "entity 'a_' makes the model 'a', which entity 'a' makes too")]


def test_titles_that_lead_back_through_refs():
    found = compile_yaml("entities:\n  a:\n    title: b\n    fields: {b: {type: ref, to: b}}\n"
                         "  b:\n    title: a\n    fields: {a: {type: ref, to: a}}\n"
                         "  c:\n    title: parent\n    fields: {parent: {type: ref, to: c}}\n"
                         "  d:\n    title: a\n    fields: {a: {type: ref, to: a}}\n").problems
    assert [(p.code, p.message) for p in found] == [
        ("E216", "the title of 'a' is a ref that leads back to it (a -> b -> a), so a row could show its own title "
                 "forever"),
        ("E216", "the title of 'b' is a ref that leads back to it (b -> a -> b), so a row could show its own title "
                 "forever"),
        ("E216", "the title of 'c' is a ref that leads back to it (c -> c), so a row could show its own title "
                 "forever")]


@pytest.mark.parametrize("name", ["auth", "schema", "docs"])
def test_entity_named_like_an_api_path(name):
    found = compile_yaml(f"entities:\n  {name}:\n    fields: {{n: string}}\n").problems
    assert [(p.code, p.message) for p in found] == [
        ("E120", f"entity name '{name}' at 'entities.{name}' is the API's own path /api/{name}/")]


def test_every_attribute_of_django_models_is_refused_as_a_field_name():
    from django.db import models

    names = sorted(n for n in dir(models.Model) if not n.startswith("_")) + ["spec", "objects", "id"]
    fields = "".join(f"      {name}: string\n" for name in names)
    found = compile_yaml(f"entities:\n  a:\n    fields:\n{fields}").problems
    assert sorted({p.message.split("'")[1] for p in found if p.code == "E120"}) == sorted(set(names))


def test_field_named_like_a_generated_method():
    found = compile_yaml("entities:\n  a:\n    fields:\n      s: {type: choice, choices: [x]}\n"
                         "      get_s_display: string\n      at: date\n      get_next_by_at: string\n").problems
    assert [(p.code, p.loc.line, p.message) for p in found] == [
        ("E120", 8, "field name 'get_s_display' at 'entities.a.fields.get_s_display' is the method Django makes for "
                    "the field 's'"),
        ("E120", 10, "field name 'get_next_by_at' at 'entities.a.fields.get_next_by_at' is the method Django makes "
                    "for the field 'at'")]


# --- dashboard card filters are checked against their field's type --------------------------

CARDS = """
entities:
  a:
    fields: {created_at: datetime, d: date, n: integer, ok: boolean, s: {type: choice, choices: [x, y]},
             u: {type: ref, to: user}, t: string, m: decimal, j: json}
pages:
  p:
    kind: dashboard
    cards:
      - {kind: counter, entity: a, filter: {%s}}
"""


@pytest.mark.parametrize(("flt", "message"), [
    ("created_at: yesterday", "'pages.p.cards[0].filter.created_at' compares the datetime field 'created_at' with "
                              "'yesterday': 'yesterday' is not a datetime in ISO form (e.g. 2026-01-31T18:30:00)"),
    ("d: [2026-01-01, nope]", "'pages.p.cards[0].filter.d[1]' compares the date field 'd' with 'nope': 'nope' is not "
                              "a date in ISO form (e.g. 2026-01-31)"),
    ("d: today", "'pages.p.cards[0].filter.d' compares the date field 'd' with 'today': 'today' is not a fixed date "
                 "here"),
    ("n: abc", "'pages.p.cards[0].filter.n' compares the integer field 'n' with 'abc': 'abc' is not a whole number"),
    ("ok: 'yes'", "'pages.p.cards[0].filter.ok' compares the boolean field 'ok' with 'yes': 'yes' is not true or "
                  "false"),
    ("s: [x, z]", "'pages.p.cards[0].filter.s[1]' compares the choice field 's' with 'z': 'z' is not one of the "
                  "choices (x, y)"),
    ("m: x", "'pages.p.cards[0].filter.m' compares the decimal field 'm' with 'x': 'x' is not a number"),
    ("u: anna", "'pages.p.cards[0].filter.u' compares the ref field 'u' with 'anna': 'anna' is not the id of a row "
                "(a whole number) or a $user variable"),
    ("m: '1e12'", "'pages.p.cards[0].filter.m' compares the decimal field 'm' with '1e12': '1E+12': Ensure that there "
                  "are no more than 12 digits in total."),
    ("n: [1, 9223372036854775808]", "'pages.p.cards[0].filter.n[1]' compares the integer field 'n' with "
                                    "9223372036854775808: 9223372036854775808 does not fit a 64-bit integer"),
    ("n: $user", "'$user' is a user, but 'n' is not a reference to the user"),
    ("u: $nobody", "'$nobody' is not a known variable"),
])
def test_card_filter_values_fit_their_field(flt, message):
    found = compile_yaml(CARDS % flt).problems
    assert [p.message for p in found] == [message]
    assert found[0].code in ("E220", "E207") and found[0].loc.line == 12


def test_card_filters_of_every_type_that_fit_pass():
    ok = ("created_at: 2026-01-31T10:00:00, d: [2026-01-01, 2026-02-01], n: [1, 2], ok: false, s: [x, y], "
          "u: $user, t: abc, m: '9.50', j: 3")
    assert compile_yaml(CARDS % ok).problems == []


def test_decimals_wider_than_sqlite_keeps_are_a_warning():
    result = compile_yaml("entities:\n  a:\n    fields: {m: {type: decimal, max_digits: 16, decimal_places: 2}, "
                          "n: {type: money, max_digits: 15}}\n")
    assert [(p.code, p.message) for p in result.problems] == [
        ("W003", "'entities.a.fields.m' has max_digits 16: SQLite stores decimals as floating point, which keeps 15 "
                 "digits, so wider values may not read back there")]
    assert result.spec is not None
