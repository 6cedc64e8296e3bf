"""Demo data (``data/*.yaml``) is checked like the definitions: by ``cabinet check`` and before ``demo`` writes."""
import io
import textwrap

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from engine.compiler import compile_folder, compile_sources
from engine.models import SolutionVersion

SHOP = textwrap.dedent("""
    solution: {name: shop, languages: [en]}
    roles:
      buyer:
        entities:
          item: {actions: [list, view], scope: all}
    entities:
      item:
        title: name
        fields:
          name: {type: string, required: true, unique: true, max_length: 10}
          price: {type: decimal, max_digits: 5, decimal_places: 2}
          kind: {type: choice, choices: [a, b]}
          owner: {type: ref, to: user}
          at: date
          tags: {type: refs, to: item}
      line:
        fields:
          item: {type: ref, to: item, required: true}
          qty: {type: integer, min: 1}
          at: datetime
""")

GOOD_DATA = textwrap.dedent("""
    users:
      - {username: zoe, password: zoe-pass, roles: [buyer], email: zoe@example.com}
      - {username: root, password: root-pass, superuser: true}
    records:
      item:
        - {name: pen, price: "1.50", kind: a, owner: zoe, at: $today-3}
        - {name: ink, price: 2, kind: b, tags: [{name: pen}]}
      line:
        - {item: {name: pen}, qty: 2, at: $now-2h}
        - {item: {name: ink, kind: b}, qty: 1}
""")


def compile_with(data, name="data/demo.yaml"):
    return compile_sources({"solution.yaml": SHOP}, {name: data})


def lines(data):
    return [str(p) for p in compile_with(data).problems]


def test_good_data_passes_and_keeps_users_and_records_in_load_order():
    result = compile_with(GOOD_DATA)
    assert result.problems == [] and result.spec is not None
    assert [(u.username, u.password, u.roles, u.superuser) for u in result.data.users] == [
        ("zoe", "zoe-pass", ("buyer",), False), ("root", "root-pass", (), True)]
    assert [(entity, len(rows)) for entity, rows in result.data.records] == [("item", 2), ("line", 2)]


def test_the_resort_data_passes():
    result = compile_folder("solutions/resort")
    assert result.problems == []
    assert [u.username for u in result.data.users] == ["anna", "boris", "reception", "manager", "admin"]


@pytest.mark.parametrize(("data", "expected"), [
    # the file itself
    ("users: [\n", ["data/demo.yaml:2:1: cabinet.E001 while parsing a flow node; expected the node content, but "
                    "found '<stream end>' (hint: check indentation, colons and quotes around here)"]),
    ("users: {a: 0x_}\n", ["data/demo.yaml:1:12: cabinet.E010 'users.a' is '0x_', which cannot be read as an int "
                           "(ValueError: invalid literal for int() with base 16: '') (hint: fix the value, or quote "
                           "it to keep it text)"]),
    ("- a\n", ["data/demo.yaml:1:1: cabinet.E103 '<top>' is list, expected a mapping (hint: a data file holds "
               "'users:' and 'records:')"]),
    ("user: []\n", ["data/demo.yaml:1:1: cabinet.E101 'user' is not a known key of demo data; did you mean 'users'? "
                    "(hint: allowed keys here: users, records)"]),
    # users
    ("users:\n  - {username: a, roles: [buyr]}\n",
     ["data/demo.yaml:2:5: cabinet.E102 'users[0]' needs 'password' (hint: add 'password:')",
      "data/demo.yaml:2:27: cabinet.E203 'users[0].roles[0]' refers to unknown role 'buyr'; did you mean 'buyer'? "
      "(hint: known roles: buyer)"]),
    ("users:\n  - {username: a, password: p, superuser: 'yes', nick: x}\n",
     ["data/demo.yaml:2:43: cabinet.E103 'users[0].superuser' is text, expected true or false (hint: true or false)",
      "data/demo.yaml:2:50: cabinet.E101 'users[0].nick' is not a known key of a user (hint: allowed keys here: "
      "username, password, first_name, last_name, email, roles, superuser)"]),
    ("users:\n  - {username: 'a b', password: p, email: nobody, first_name: '%s'}\n" % ("x" * 151),
     ["data/demo.yaml:2:16: cabinet.E221 'users[0].username' is 'a b': Enter a valid username. This value may "
      "contain only letters, numbers, and @/./+/-/_ characters.",
      "data/demo.yaml:2:43: cabinet.E221 'users[0].email' is 'nobody': Enter a valid email address.",
      "data/demo.yaml:2:63: cabinet.E221 'users[0].first_name' is longer than 150 characters"]),
    ("users:\n  - {username: a, password: p}\n  - {username: a, password: q}\n",
     ["data/demo.yaml:3:16: cabinet.E110 user 'a' is defined twice in the demo data (hint: remove or rename one)"]),
    # records: entities, fields and values
    ("records:\n  itme: []\n", ["data/demo.yaml:2:3: cabinet.E201 'records.itme' refers to unknown entity 'itme'; "
                                "did you mean 'item'? (hint: known entities: item, line)"]),
    ("records:\n  item:\n    - {name: a, prize: 1}\n",
     ["data/demo.yaml:3:17: cabinet.E202 'records.item[0].prize' refers to unknown field 'prize' of 'item'; did you "
      "mean 'price'? (hint: fields of item: name, price, kind, owner, at, tags)"]),
    ("records:\n  item:\n    - {name: a, price: abc}\n",
     ["data/demo.yaml:3:24: cabinet.E221 'records.item[0].price' does not fit the decimal field 'price': 'abc' is "
      "not a number"]),
    ("records:\n  item:\n    - {name: a, price: 1000}\n",
     ["data/demo.yaml:3:24: cabinet.E221 'records.item[0].price' does not fit the decimal field 'price': '1000': "
      "Ensure that there are no more than 3 digits before the decimal point."]),
    ("records:\n  item:\n    - {name: abcdefghijk}\n",
     ["data/demo.yaml:3:14: cabinet.E221 'records.item[0].name' does not fit the string field 'name': 'abcdefghijk' "
      "is longer than 10 characters"]),
    ("records:\n  item:\n    - {name: a, kind: c}\n",
     ["data/demo.yaml:3:23: cabinet.E221 'records.item[0].kind' does not fit the choice field 'kind': 'c' is not one "
      "of the choices (a, b)"]),
    ("records:\n  item:\n    - {name: a, at: yesterday}\n",
     ["data/demo.yaml:3:21: cabinet.E221 'records.item[0].at' does not fit the date field 'at': 'yesterday' is not a "
      "date in ISO form (e.g. 2026-01-31)"]),
    ("records:\n  item:\n    - {name: a, at: $tomorrow}\n",
     ["data/demo.yaml:3:21: cabinet.E221 'records.item[0].at' is '$tomorrow', not a relative date (hint: write "
      "$today, $today+3, $today-2 or $now+2h, $now-30d)"]),
    ("records:\n  line:\n    - {item: {name: pen}, qty: 0}\n  item:\n    - {name: pen}\n",
     ["data/demo.yaml:3:14: cabinet.E222 'records.line[0].item' ({name: 'pen'}) matches no 'item' row among those "
      "listed before it (hint: give values that pick exactly one row, and list the rows it refers to first)",
      "data/demo.yaml:3:32: cabinet.E221 'records.line[0].qty' does not fit the integer field 'qty': 0 is below "
      "min 1"]),
    ("records:\n  item:\n    - {name: a, kind: a}\n    - {name: b, kind: a}\n  line:\n    - {item: {kind: a}}\n",
     ["data/demo.yaml:6:14: cabinet.E222 'records.line[0].item' ({kind: 'a'}) matches 2 'item' rows among those "
      "listed before it (hint: give values that pick exactly one row, and list the rows it refers to first)"]),
    ("records:\n  item:\n    - {name: a}\n  line:\n    - {item: a}\n",
     ["data/demo.yaml:5:14: cabinet.E103 'records.line[0].item' is text, expected a mapping (hint: a mapping of item "
      "field to value, e.g. {name: ...})"]),
    ("records:\n  item:\n    - {name: a, owner: zoe}\n",
     ["data/demo.yaml:3:24: cabinet.E223 'records.item[0].owner' names the user 'zoe', whom the demo data does not "
      "define (hint: add the user under 'users:' or fix the name)"]),
    ("records:\n  item:\n    - {name: ~}\n    - {name: ''}\n    - {name: '  '}\n",
     ["data/demo.yaml:3:14: cabinet.E221 'records.item[0].name' does not fit the string field 'name': None is empty, "
      "but the field is required",
      "data/demo.yaml:4:14: cabinet.E221 'records.item[1].name' does not fit the string field 'name': '' is empty, "
      "but the field is required",
      "data/demo.yaml:5:14: cabinet.E221 'records.item[2].name' does not fit the string field 'name': '  ' is "
      "empty, but the field is required"]),
    ("records:\n  item:\n    - {name: a, kind: ~}\n    - {name: b, price: ~, at: ~}\n  line:\n"
     "    - {item: {name: b}, qty: ~}\n",
     ["data/demo.yaml:3:23: cabinet.E221 'records.item[0].kind' does not fit the choice field 'kind': null, which "
      "this field does not store (write '' for no text)"]),
    ("records:\n  line:\n    - {qty: 1}\n",
     ["data/demo.yaml:3:7: cabinet.E224 'records.line[0]' has no 'item', a required field of 'line' (hint: add "
      "'item: ...')"]),
    ("records:\n  item:\n    - {name: a}\n    - {name: a}\n",
     ["data/demo.yaml:4:7: cabinet.E225 'records.item[1]' repeats name = 'a' of an earlier 'item' row, which must be "
      "unique (hint: make the values differ)"]),
    ("records:\n  item:\n    - {name: a}\n  line:\n    - {item: {name: a}, at: $now}\n"
     "  item2: []\n", ["data/demo.yaml:6:3: cabinet.E201 'records.item2' refers to unknown entity 'item2'; did you "
                       "mean 'item'? (hint: known entities: item, line)"]),
])
def test_bad_data_is_located_and_coded(data, expected):
    assert lines(data) == expected


def test_data_problems_stop_the_spec():
    result = compile_with("records:\n  item:\n    - {name: a, kind: c}\n")
    assert result.spec is None and result.data is None and [p.code for p in result.errors] == ["E221"]


def test_every_problem_of_the_data_is_one_line():
    result = compile_with('users:\n  - {username: "a\\nb\\x1b[31m", password: p, "k\\u2028": 1}\n'
                          'records:\n  item:\n    - {name: a, owner: "x\\ny"}\n')
    shown = [str(p) for p in result.problems]
    assert shown == [
        "data/demo.yaml:2:16: cabinet.E221 'users[0].username' is 'a\\nb\\x1b[31m': Enter a valid username. This "
        "value may contain only letters, numbers, and @/./+/-/_ characters.",
        "data/demo.yaml:2:45: cabinet.E101 'users[0].k\\u2028' is not a known key of a user (hint: allowed keys "
        "here: username, password, first_name, last_name, email, roles, superuser)",
        "data/demo.yaml:5:24: cabinet.E223 'records.item[0].owner' names the user 'x\\ny', whom the demo data does "
        "not define (hint: add the user under 'users:' or fix the name)"]
    assert all("\n" not in line and "\x1b" not in line for line in shown)


@pytest.fixture
def shop(tmp_path):
    def make(data):
        folder = tmp_path / "shop"
        (folder / "data").mkdir(parents=True, exist_ok=True)
        (folder / "solution.yaml").write_text(SHOP, encoding="utf-8")
        (folder / "data" / "demo.yaml").write_text(data, encoding="utf-8")
        return folder
    return make


def test_cabinet_check_reports_data_problems(shop):
    folder = shop("records:\n  item:\n    - {name: a, kind: c}\n")
    err = io.StringIO()
    with pytest.raises(CommandError) as info:
        call_command("cabinet", "check", str(folder), stdout=io.StringIO(), stderr=err)
    assert info.value.returncode == 1
    assert err.getvalue().splitlines() == [
        "data/demo.yaml:3:23: cabinet.E221 'records.item[0].kind' does not fit the choice field 'kind': 'c' is not one "
        "of the choices (a, b)"]


def test_demo_refuses_bad_data_before_writing_anything(schema, shop):
    folder = shop("users:\n  - {username: zoe, password: p}\nrecords:\n  item:\n    - {name: a, owner: zoe}\n"
                  "  line:\n    - {item: {name: b}}\n")
    err = io.StringIO()
    with override_settings(CABINET_SOLUTION=str(folder)), pytest.raises(CommandError) as info:
        call_command("demo", seed_only=True, stdout=io.StringIO(), stderr=err)
    assert info.value.returncode == 1
    assert "nothing was written" in str(info.value)
    assert err.getvalue().splitlines() == [
        "data/demo.yaml:7:14: cabinet.E222 'records.line[0].item' ({name: 'b'}) matches no 'item' row among those "
        "listed before it (hint: give values that pick exactly one row, and list the rows it refers to first)"]
    assert SolutionVersion.objects.count() == 0
    assert not get_user_model().objects.filter(username="zoe").exists()


def test_demo_loads_the_solution_data_and_prints_its_own_logins(schema, shop):
    folder = shop(GOOD_DATA)
    out = io.StringIO()
    with override_settings(CABINET_SOLUTION=str(folder)):
        call_command("demo", seed_only=True, stdout=out, stderr=io.StringIO())
    text = out.getvalue()
    assert "  zoe        zoe-pass        buyer" in text.splitlines()
    assert "  root       root-pass       superuser" in text.splitlines()
    assert "anna" not in text and "admin-demo" not in text
    from engine.registry import registry

    built = registry.active
    assert sorted(built.model("item").objects.values_list("name", flat=True)) == ["ink", "pen"]
    ink = built.model("item").objects.get(name="ink")
    assert [t.name for t in ink.tags.all()] == ["pen"]
    assert built.model("line").objects.get(qty=2).item.name == "pen"
    assert get_user_model().objects.get(username="zoe").check_password("zoe-pass")


def test_demo_without_data_says_there_are_no_logins(schema, tmp_path):
    folder = tmp_path / "bare"
    folder.mkdir()
    (folder / "solution.yaml").write_text(SHOP, encoding="utf-8")
    out = io.StringIO()
    with override_settings(CABINET_SOLUTION=str(folder)):
        call_command("demo", seed_only=True, stdout=out, stderr=io.StringIO())
    assert "The solution's data defines no logins" in out.getvalue()
    assert "anna" not in out.getvalue()


def test_demo_rolls_back_when_the_database_refuses_a_row(schema, shop):
    """A refusal only the database can see (here: the row a reference picks was deleted since) is a
    ``DemoDataError`` naming the record, and the transaction leaves nothing half-written."""
    from engine.demo import DemoDataError, load_demo

    folder = shop(GOOD_DATA)
    with override_settings(CABINET_SOLUTION=str(folder)):
        call_command("demo", seed_only=True, stdout=io.StringIO(), stderr=io.StringIO())
    from engine.registry import registry

    built = registry.active
    built.model("line").objects.all().delete()
    built.model("item").objects.filter(name="pen").delete()  # 'line' now refers to an item that is gone
    result = compile_folder(folder)
    with pytest.raises(DemoDataError, match=r"records\.line\[0\]: a reference does not pick exactly one row"):
        load_demo(built, result.data)
    assert built.model("line").objects.count() == 0


# --- states are reached through transitions (the write path) -----------------------------------------------

FLOW_SHOP = SHOP.replace("      at: datetime\n", "      at: datetime\n"
                         "      state: {type: choice, choices: [open, packed, sent], default: open}\n") + """
workflows:
  line_flow:
    entity: line
    field: state
    states: {open: {}, packed: {}, sent: {final: true}}
    transitions:
      pack: {from: open, to: packed}
      send: {from: packed, to: sent}
"""
FLOW_ROWS = "records:\n  item:\n    - {name: pen}\n  line:\n"


def flow_lines(rows):
    return [str(p) for p in compile_sources({"solution.yaml": FLOW_SHOP}, {"data/demo.yaml": FLOW_ROWS + rows}).problems]


def test_demo_rows_reach_states_through_transitions_not_the_state_field():
    assert flow_lines("    - {item: {name: pen}, _transitions: [pack, send]}\n    - {item: {name: pen}}\n") == []
    assert flow_lines("    - {item: {name: pen}, state: sent}\n") == [
        "data/demo.yaml:5:27: cabinet.E320 'records.line[0].state' sets the state of workflow 'line_flow'; a row "
        "starts in the initial state and reaches others through transitions (hint: write '_transitions: [pack, "
        "send]' instead)"]
    assert flow_lines("    - {item: {name: pen}, _transitions: [pakc]}\n") == [
        "data/demo.yaml:5:42: cabinet.E321 'records.line[0]._transitions[0]' names 'pakc', which is not a "
        "transition of 'line'; did you mean 'pack'? (hint: transitions: pack, send)"]
    assert flow_lines("    - {item: {name: pen}, _transitions: [send]}\n") == [
        "data/demo.yaml:5:42: cabinet.E322 'records.line[0]._transitions[0]': 'send' goes from packed, but the row "
        "is 'open' by then (hint: list the transitions in the order they happen, starting from 'open')"]
    assert [p.code for p in compile_with("records:\n  item:\n    - {name: a, _transitions: [x]}\n").problems] == [
        "E321"]  # an entity without a workflow has no transitions


def test_demo_walks_the_transitions_as_the_system(schema, tmp_path):
    from engine.models import AuditRecord
    from engine.registry import registry

    folder = tmp_path / "flow"
    (folder / "data").mkdir(parents=True)
    (folder / "solution.yaml").write_text(FLOW_SHOP, encoding="utf-8")
    (folder / "data" / "demo.yaml").write_text(FLOW_ROWS + "    - {item: {name: pen}, qty: 3, _transitions: [pack, "
                                               "send]}\n", encoding="utf-8")
    with override_settings(CABINET_SOLUTION=str(folder)):
        call_command("demo", seed_only=True, stdout=io.StringIO(), stderr=io.StringIO())
    line = registry.active.model("line").objects.get()
    assert (line.qty, line.state) == (3, "sent")
    trail = AuditRecord.objects.filter(entity="line", object_id=line.pk)
    assert [(r.action, r.transition, r.from_state, r.to_state, r.actor_label, r.source) for r in trail] == [
        ("create", "", "", "", "system", "import"), ("transition", "pack", "open", "packed", "system", "import"),
        ("transition", "send", "packed", "sent", "system", "import")]
