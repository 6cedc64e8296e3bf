"""A YAML fuzzer: seeded mutations of the resort (odd scalars, tags, unicode and control keys, reserved and
colliding names, defaults, card filters, demo data, structure).

For every mutation ``cabinet check`` (the compiler) never raises, and every problem is one line with a place
and a code. Every mutated solution that passes the check must also build, migrate on a fresh database, load
its demo data and serve the API list and pages of every entity to a superuser without a server error:
whatever the check accepts must work.

``CABINET_FUZZ_EXAMPLES`` (default 60) and ``CABINET_FUZZ_SEED`` run it longer or elsewhere, e.g.
``CABINET_FUZZ_EXAMPLES=3000 pytest tests/engine/test_dsl_fuzz.py``.
"""
from __future__ import annotations

import os
import random
import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from engine.compiler import compile_sources
from engine.errors import CATALOG
from engine.loader import data_sources, solution_files
from tests.conftest import reset_cabinet_schema

RESORT = Path(__file__).resolve().parents[2] / "solutions" / "resort"
EXAMPLES = int(os.environ.get("CABINET_FUZZ_EXAMPLES", "60"))
SEED = int(os.environ.get("CABINET_FUZZ_SEED", "9"))
LINE = re.compile(r"^\S.*?: cabinet\.[EWM]\d{3} \S")

ODD_SCALARS = [
    "0x_", "0b_", "0o_", "0x", "!!int abc", "!!int ''", "!!float .", "!!float ''", "!!bool abc", "!!timestamp nope",
    "!!timestamp 2026-01-01", "!!binary AAAA", "!!set {a}", "!!omap [{a: 1}]", "!foo x", "!!str 1", "!!null x",
    ".inf", "-.inf", ".nan", "1e999", "~", "''", "null", "yes", "no", "on", "2026-13-45", "2026-01-31", "[]", "{}",
    "[a, b]", "{a: 1}", "1e10", "-1", "0", "3.5", "99999999999999999999999", "1" * 5000, '"\\x1b[31mred"',
    '"a\\nb"', '"\\u2028"', '"\\u202e"', '"\\0"', "'$user'", "$user.guest", "$today+3", "$now-2h", "&a x", "*nope",
    "x" * 300, "é", "Cancel this order?", "a: b", "'a\tb'", "true", "false",
]
ODD_KEYS = [
    "é", "ключ", '"k\\u2028"', '"k\\x1b[0m"', '"a\\nb"', '"k\\u0085"', "spec", "save_base", "pk", "objects", "id",
    "select", "stay_by_guest", "guest_by_user", "get_status_display", "get_next_by_ordered_at", "full_clean",
    "refresh_from_db", "a_", "x__y", "UPPER", "1a", "'1'", "<<", "user_id", "date_error_message", "check", "asave",
    "serializable_value", "booking_by_guest", "service_order_by_stay", "DoesNotExist", "_meta", "defaults",
]
VALUES = ["abc", "12", "-3", "1.5", "'1.50'", "2026-01-01", "2026-01-31T10:00:00", "18:30", "true", "new", "standard",
          "x" * 121, "a@b.co", "https://example.com", "+7 900 111-22-33", "1e10", "'$today'", "yesterday", "today",
          "now", "[new, accepted]", "[1, 2]", "$user", "$user.guest", "$user.guest.id", "$user.nobody"]
EXTRA_ENTITIES = [
    "entities:\n  guest_:\n    fields: {n: string}\n",
    "entities:\n  serviceorder:\n    fields: {n: string}\n",
    "entities:\n  room1:\n    fields: {n: string}\n  room_1:\n    fields: {n: string}\n",
    "entities:\n  guest_tags:\n    fields: {n: string}\n  tagger:\n    fields: {guest: {type: refs, to: guest}}\n",
    "entities:\n  x_by_y:\n    fields: {z: {type: ref, to: room}}\n  x:\n    fields: {y_by_z: {type: ref, to: room}}\n",
    "entities:\n  a_b:\n    fields: {c: {type: ref, to: user}}\n  a:\n    fields: {b_c: {type: ref, to: user}}\n",
    "entities:\n  note:\n    ordering: [stay]\n    fields: {stay: {type: ref, to: stay}, body: text}\n",
    "entities:\n  note:\n    ordering: [-body]\n    fields: {stay: {type: ref, to: stay}, body: text}\n",
    "entities:\n  note:\n    fields: {amount: {type: decimal, max_digits: 4, default: %s}}\n",
    "entities:\n  note:\n    fields: {n: {type: string, max_length: 3, default: %s}}\n",
    "entities:\n  note:\n    fields: {n: {type: integer, min: 0, max: 9, default: %s}}\n",
    "entities:\n  note:\n    fields: {n: {type: choice, choices: [a, b], default: %s}}\n",
    "entities:\n  note:\n    fields: {n: {type: date, default: %s}, m: {type: datetime, default: %s}}\n",
    "entities:\n  note:\n    fields: {n: {type: boolean, default: %s}, m: {type: email, default: %s}}\n",
    "entities:\n  note:\n    fields: {n: {type: json, default: %s}, m: {type: url, default: %s}}\n",
    "entities:\n  note:\n    indexes: [{fields: [n], name: ix}]\n    fields: {n: string}\n"
    "  memo:\n    indexes: [{fields: [n], name: ix}]\n    fields: {n: string}\n",
    "entities:\n  " + "l" * 40 + ":\n    fields: {" + "m" * 30 + ": {type: refs, to: user}}\n",
    "entities:\n  note:\n    fields: {guest: {type: ref, to: guest}, n: string}\n"
    "pages:\n  notes:\n    kind: dashboard\n    cards:\n"
    "      - {kind: counter, entity: note, filter: {%s: %s}}\n      - {kind: recent, entity: note, filter: {n: %s}}\n",
]

SCALAR_AT = re.compile(r"(?<=: )([^\s{}\[\],#&*!|>][^{}\[\],#\n]*?)(?=\s*(?:[,}\]]|\n|$))")
KEY_AT = re.compile(r"(?<=[\s{,])([a-z_][a-z0-9_]*)(?=:\s)")


def resort_files():
    definitions = {p.relative_to(RESORT).as_posix(): p.read_text(encoding="utf-8") for p in solution_files(RESORT)}
    data = {name: raw.decode("utf-8") for name, raw in data_sources(RESORT).items()}
    return definitions, data


def _replace_one(rng, pattern, text, replacement):
    spots = list(pattern.finditer(text))
    if not spots:
        return text
    spot = rng.choice(spots)
    return text[: spot.start()] + replacement + text[spot.end():]


def _lines(rng, text):
    lines = text.split("\n")
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    kind = rng.choice(("delete", "duplicate", "swap", "indent", "dedent"))
    if kind == "delete":
        del lines[i]
    elif kind == "duplicate":
        lines.insert(i, lines[i])
    elif kind == "swap":
        lines[i], lines[j] = lines[j], lines[i]
    elif kind == "indent":
        lines[i] = "  " + lines[i]
    else:
        lines[i] = lines[i][2:] if lines[i].startswith("  ") else lines[i]
    return "\n".join(lines)


def _add_field(rng, text):
    """Insert a field with an odd name or an odd default into one entity of entities.yaml."""
    spots = [m.end() for m in re.finditer(r"\n    fields:\n", text)]
    if not spots:
        return text
    at = rng.choice(spots)
    name = rng.choice(ODD_KEYS + ["note", "extra"])
    kind = rng.choice(["string", "integer", "decimal", "date", "datetime", "choice", "boolean", "email", "url",
                       "json", "money", "{type: ref, to: room}", "{type: refs, to: guest}", "{type: ref, to: user}"])
    value = kind if kind.startswith("{") else f"{{type: {kind}, default: {rng.choice(ODD_SCALARS + VALUES)}}}"
    if kind == "choice" and rng.random() < 0.5:
        value = f"{{type: choice, choices: [a, b], default: {rng.choice(VALUES + ['a'])}}}"
    return text[:at] + f"      {name}: {value}\n" + text[at:]


def _extra_entities(rng):
    template = rng.choice(EXTRA_ENTITIES)
    fields = ["status", "ordered_at", "quantity", "note", "stay", "service", "guest", "n"]
    values = [rng.choice(VALUES + ODD_SCALARS) for _ in range(template.count("%s"))]
    if "filter: {%s" in template:
        values[0] = rng.choice(fields)
    return template % tuple(values)


NAMES = ["n", "title_x", "count", "value", "data", "order_no", "created", "a_by_b", "level", "code", "amount", "flag",
         "starts", "ends", "info", "kind_x", "owner_x", "photo", "doc", "tags_x", "parent", "price_x", "note_x"]


def _valid_field(rng, name, entities):
    """A random field with options and a default that fit (None: no default)."""
    kind = rng.choice(["string", "text", "markdown", "integer", "decimal", "money", "boolean", "date", "datetime",
                       "time", "choice", "email", "phone", "url", "json", "ref", "refs", "image", "file"])
    spec, default = {"type": kind}, None
    if kind == "string":
        spec["max_length"] = rng.randint(1, 300)
        default = "'" + "ж" * rng.randint(0, spec["max_length"]) + "'"
    elif kind == "integer":
        low = rng.randint(-10**12, 10**12)
        spec.update(min=low, max=low + rng.randint(0, 10**6))
        default = rng.randint(spec["min"], spec["max"])
    elif kind in ("decimal", "money"):
        digits = rng.randint(1, 15)  # wider ones are a warning (W003): SQLite cannot read them back
        places = rng.randint(0, digits)
        spec.update(max_digits=digits, decimal_places=places)
        whole = "9" * (digits - places) or "0"
        default = f"'{whole}.{'5' * places}'" if places else f"'{whole}'"
    elif kind == "boolean":
        default = rng.choice(["true", "false"])
    elif kind == "date":
        default = rng.choice(["today", "2026-01-31", "0001-01-01", "9999-12-31"])
    elif kind == "datetime":
        default = rng.choice(["now", "2026-01-31T10:00:00", "2026-01-31T10:00:00+05:00"])
    elif kind == "time":
        default = rng.choice(["'18:30'", "'00:00'", "'23:59:59'"])
    elif kind == "choice":
        spec["choices"] = "[" + ", ".join(rng.sample(["a", "b", "new", "old", "x_y", "z1"], 3)) + "]"
        default = spec["choices"][1:].split(",")[0]
    elif kind == "email":
        default = "a@example.com"
    elif kind == "phone":
        default = "'+7 900 111-22-33'"
    elif kind == "url":
        default = "https://example.com/a"
    elif kind == "json":
        default = rng.choice(["{a: [1, 2]}", "[1, x]", "3", "'text'"])
    elif kind in ("ref", "refs"):
        spec["to"] = rng.choice([*entities, "user"])
    if kind in ("string", "integer", "date", "email") and rng.random() < 0.2:
        spec["unique"] = "true"
        default = None
    elif rng.random() < 0.3 and kind not in ("text", "markdown", "json", "refs", "image", "file"):
        spec["index"] = "true"
    if default is not None and rng.random() < 0.7:
        spec["default"] = default
    if rng.random() < 0.3 and kind not in ("refs", "image", "file", "json"):
        spec["required"] = "true"
        spec.setdefault("default", default) if default is not None else None
    return name, "{" + ", ".join(f"{k}: {v}" for k, v in spec.items()) + "}"


def _valid_entities(rng):
    """One or two new entities of random valid fields, and a dashboard whose cards filter on them."""
    existing = ["room", "guest", "stay", "service"]
    text, cards = "entities:\n", []
    made = []
    for e in rng.sample(["memo", "ticket", "visit", "parcel", "lot_x"], rng.randint(1, 2)):
        fields = dict(_valid_field(rng, n, [*existing, *made, e]) for n in rng.sample(NAMES, rng.randint(1, 6)))
        fields["title_x"] = rng.choice(["{type: string, max_length: 40}", "{type: integer}", "{type: date}"])
        refs = [n for n, v in fields.items() if "type: ref," in v]
        title = rng.choice(refs) if refs and rng.random() < 0.3 else "title_x"
        text += f"  {e}:\n    title: {title}\n    ordering: [-title_x]\n    fields:\n"
        text += "".join(f"      {n}: {v}\n" for n, v in fields.items())
        made.append(e)
        for n, v in fields.items():
            value = _filter_value(rng, v)
            if value is not None:
                cards.append(f"      - {{kind: {rng.choice(['counter', 'recent'])}, entity: {e}, filter: {{{n}: {value}}}}}")
    if cards:
        text += "pages:\n  fuzz_board:\n    kind: dashboard\n    cards:\n" + "\n".join(cards[:4]) + "\n"
    return text


def _filter_value(rng, field):
    kind = re.search(r"type: (\w+)", field).group(1)
    return {"string": "abc", "text": "abc", "integer": "3", "decimal": "'1.5'", "money": "'2'", "boolean": "true",
            "date": "2026-01-31", "datetime": "2026-01-31T10:00:00", "time": "'10:00'", "email": "a@b.co",
            "ref": "3", "url": "https://x.org"}.get(kind)


def mutate(rng, definitions, data):
    """Return mutated copies of ``definitions`` and ``data`` and a short description of what changed."""
    definitions, data = dict(definitions), dict(data)
    done = []
    for _ in range(rng.choice((1, 1, 2, 3))):
        op = rng.choice(("scalar", "scalar", "key", "lines", "tag", "field", "entities", "entities", "data",
                         "data", "filter", "valid", "valid", "valid", "valid"))
        names = sorted(definitions)
        target = rng.choice(names)
        if op == "scalar":
            definitions[target] = _replace_one(rng, SCALAR_AT, definitions[target], rng.choice(ODD_SCALARS + VALUES))
        elif op == "key":
            definitions[target] = _replace_one(rng, KEY_AT, definitions[target], rng.choice(ODD_KEYS))
        elif op == "lines":
            definitions[target] = _lines(rng, definitions[target])
        elif op == "tag":
            tag = rng.choice(("!!str", "!!int", "!!float", "!!bool", "!!map", "!!seq", "!!set", "!x", "!!binary"))
            definitions[target] = re.sub(SCALAR_AT, lambda m, tag=tag: f"{tag} {m.group()}", definitions[target],
                                         count=1)
        elif op == "field" and "entities.yaml" in definitions:
            definitions["entities.yaml"] = _add_field(rng, definitions["entities.yaml"])
        elif op == "valid" and "zz_valid.yaml" not in definitions:
            definitions["zz_valid.yaml"] = _valid_entities(rng)
        elif op == "entities":
            definitions["zz_extra.yaml"] = definitions.get("zz_extra.yaml", "") + _extra_entities(rng)
            if definitions["zz_extra.yaml"].count("entities:") > 1:  # one 'entities' key per file
                definitions["zz_extra.yaml"] = _extra_entities(rng)
        elif op == "data" and data:
            name = rng.choice(sorted(data))
            how = rng.choice(("scalar", "key", "lines"))
            if how == "scalar":
                data[name] = _replace_one(rng, SCALAR_AT, data[name], rng.choice(ODD_SCALARS + VALUES))
            elif how == "key":
                data[name] = _replace_one(rng, KEY_AT, data[name], rng.choice(ODD_KEYS + ["status", "guest"]))
            else:
                data[name] = _lines(rng, data[name])
        elif op == "filter" and "pages.yaml" in definitions:
            field = rng.choice(["status", "ordered_at", "quantity", "stay", "seats", "created_at", "guest"])
            value = rng.choice(VALUES + ODD_SCALARS)
            definitions["pages.yaml"] = re.sub(r"filter: \{[^}]*\}", lambda m, f=field, v=value: f"filter: {{{f}: {v}}}",
                                               definitions["pages.yaml"], count=1)
        done.append(op)
    return definitions, data, done


def assert_problem_lines(result, files):
    """Every problem is exactly one line: a place in a file that exists, an id from the catalog, a message."""
    for problem in result.problems:
        line = str(problem)
        assert problem.code in CATALOG, line
        assert len(line.splitlines()) == 1 and "\x1b" not in line and "\x85" not in line, repr(line)
        assert LINE.match(line), repr(line)
        assert problem.loc.file in files and problem.loc.line >= 1, line
    assert (result.spec is None) == bool(result.errors)


def fresh_database():
    """Forget the published version and drop every generated table, as a new database would be."""
    from engine.models import SolutionVersion

    reset_cabinet_schema()
    SolutionVersion.objects.all().delete()


def publish_and_serve(result, superuser):
    """Migrate ``result`` on a fresh schema, load its demo data and rows, and serve every entity and page."""
    from engine.demo import load_demo
    from engine.migrate import publish
    from tests import matrix

    fresh_database()
    built, _ = publish(result.spec, result.sources)
    if result.data is not None:
        load_demo(built, result.data)
    matrix.make_rows(built, matrix.make_users(1))
    client = Client()
    client.force_login(superuser)
    for entity in result.spec.entities:
        response = client.get(f"/api/{entity.name}/")
        assert response.status_code == 200, (entity.name, response.status_code, response.content[:300])
        rows = response.json()["results"]
        assert rows, f"/api/{entity.name}/ lists no row"
        detail = client.get(f"/api/{entity.name}/{rows[0]['id']}/")
        assert detail.status_code == 200, (entity.name, detail.status_code)
    for page in result.spec.pages:
        response = client.get(f"/p/{page.name}/")
        assert response.status_code < 500, (page.name, response.status_code)
    return built


@pytest.fixture
def superuser(schema):
    return get_user_model().objects.create_superuser("fuzz-root", "root@example.com", "pw-root-123")


def test_fuzz_the_resort(superuser):
    definitions, data = resort_files()
    rng = random.Random(SEED)
    passed = failed_check = 0
    for example in range(EXAMPLES):
        mutated, mutated_data, ops = mutate(rng, definitions, data)
        files = set(mutated) | set(mutated_data)
        try:
            result = compile_sources(mutated, mutated_data)
        except Exception as exc:  # noqa: BLE001 - the fuzzer reports any escape with the input that caused it
            pytest.fail(f"example {example} ({ops}) made the compiler raise {exc!r}")
        assert_problem_lines(result, files)
        if result.spec is None:
            failed_check += 1
            continue
        passed += 1
        try:
            publish_and_serve(result, superuser)
        except AssertionError:
            raise
        except Exception as exc:  # noqa: BLE001 - name the mutation that passed the check but did not work
            changed = {k: v for k, v in {**mutated, **mutated_data}.items()
                       if v != {**definitions, **data}.get(k)}
            pytest.fail(f"example {example} ({ops}) passed the check but failed to publish or serve: {exc!r}\n"
                        f"changed files: {changed!r}")
    # the mutations reach both sides: some solutions are refused, some pass and are served
    assert passed >= EXAMPLES // 10 and failed_check >= EXAMPLES // 4, (passed, failed_check)
    print(f"dsl fuzz: {EXAMPLES} mutations (seed {SEED}): {failed_check} refused by the check, "  # noqa: T201
          f"{passed} passed and were migrated and served")
