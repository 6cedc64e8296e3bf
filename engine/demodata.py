"""Check a solution's demo data (``data/*.yaml``) against its spec, as the definitions are checked.

The data is read by the definitions' loader, so every problem is located in its file. The check
replays what ``manage.py demo`` will do (users first, then records in file order, each reference
looked up among the rows made before it), so a file that passes loads without an error and a file
that fails is refused before anything is written.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core import validators
from django.core.exceptions import ValidationError

from .chat import demo as chat_demo
from .checks import value_problem
from .content import field_of
from .errors import Problem
from .fieldtypes import FieldType, parse_value
from .loader import path_text
from .spec import USER
from .validate import suggest

RELATIVE = re.compile(r"^\$(today|now)([+-]\d+)?([dh])?$")
TRANSITIONS = "_transitions"  # a row key: the workflow transitions to walk, after its creation, to its state
TOP_KEYS = ("users", "records")
USER_KEYS = ("username", "password", "first_name", "last_name", "email", "roles", "superuser")
TEXT_USER_KEYS = ("username", "password", "first_name", "last_name", "email")


@dataclass
class DemoUser:
    username: str
    password: str
    roles: tuple[str, ...] = ()
    superuser: bool = False


@dataclass
class DemoData:
    """Users and records of all data files, merged in file order, as ``manage.py demo`` loads them."""

    users: list[DemoUser] = field(default_factory=list)
    user_rows: list[dict] = field(default_factory=list)
    records: list[tuple[str, list[dict]]] = field(default_factory=list)  # (entity, rows) in load order
    chats: list[tuple[str, list[dict]]] = field(default_factory=list)  # (chat, conversations): engine.chat.demo


# The columns of Django's user model these keys fill, and the longest value each takes.
USER_LIMITS = {"username": 150, "first_name": 150, "last_name": 150, "email": 254}


def _user_value_problem(key, value):
    """Return why a user's text ``value`` for ``key`` would not be stored or work as a login, or None."""
    if "\x00" in value:
        return "holds a NUL character, which databases do not store"
    if key in USER_LIMITS and len(value) > USER_LIMITS[key]:
        return f"is longer than {USER_LIMITS[key]} characters"
    checks = {"username": UnicodeUsernameValidator(), "email": validators.validate_email}
    if key in checks and (value or key == "username"):
        try:
            checks[key](value)
        except ValidationError as exc:
            return f"is {value!r}: {' '.join(exc.messages)}"
    return None


def _stores_null(f):
    """Whether the column of ``f`` takes NULL (as engine/build/models.py makes it): optional fields but
    booleans and texts that are not unique, which store false and ''."""
    if f.required or f.type in (FieldType.BOOLEAN, FieldType.REFS):
        return False
    return not (f.type.is_textual and not f.unique)


def _kind(value):
    return {dict: "mapping", list: "list", str: "text", bool: "boolean", int: "number", float: "number",
            type(None): "nothing"}.get(type(value), type(value).__name__)


class DataChecker:
    """Check the data files of one solution; collect problems and the merged ``DemoData``."""

    def __init__(self, spec, files):
        self.spec = spec
        self.files = files
        self.entities = {e.name: e for e in spec.entities}
        self.roles = {r.name for r in spec.roles}
        self.problems: list[Problem] = []
        self.data = DemoData()
        self.usernames = set()
        self.rows: dict[str, list[dict]] = {}  # entity -> rows made so far (field -> comparable value)
        self.doc = None
        # 'chats:' (demo conversations) only in a solution that declares chats
        self.top_keys = (*TOP_KEYS, "chats") if spec.chats else TOP_KEYS

    def add(self, code, message, path, hint="", key=False):
        self.problems.append(Problem(code, message, self.doc.loc(path, key=key), hint))

    def expect(self, value, kind, path, what):
        """Report ``value`` unless it is of Python type ``kind``; return whether it is."""
        if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
            return True
        wanted = {dict: "a mapping", list: "a list", str: "a text", bool: "true or false"}.get(kind, str(kind))
        self.add("E103", f"'{path_text(path) or '<top>'}' is {_kind(value)}, expected {wanted}", path, what)
        return False

    def run(self):
        for file in self.files:  # users first: records of any file may refer to them
            if file.data is not None:
                self.doc = file.doc
                self.check_top(file.data)
        for file in self.files:
            if isinstance(file.data, dict) and file.data.get("records") is not None:
                self.doc = file.doc
                self.check_records(file.data["records"])
        for file in self.files:  # conversations last: they name users and rows of any file
            if isinstance(file.data, dict) and file.data.get("chats") is not None and self.spec.chats:
                self.doc = file.doc
                chat_demo.check_chats(self, file.data["chats"])
        return self.problems

    # --- users -----------------------------------------------------------------------------

    def check_top(self, data):
        if not self.expect(data, dict, (), "a data file holds 'users:' and 'records:'"):
            return
        for key in data:
            if key not in self.top_keys:
                self.add("E101", f"'{key}' is not a known key of demo data{suggest(key, self.top_keys)}", (key,),
                         f"allowed keys here: {', '.join(self.top_keys)}", key=True)
        users = data.get("users")
        if users is not None and self.expect(users, list, ("users",), "a list of users"):
            for i, user in enumerate(users):
                self.check_user(user, ("users", i))

    def check_user(self, user, path):
        if not self.expect(user, dict, path, "{username: ..., password: ..., roles: [...]}"):
            return
        ok = True
        for key, value in user.items():
            kpath = (*path, key)
            if key not in USER_KEYS:
                self.add("E101", f"'{path_text(kpath)}' is not a known key of a user{suggest(key, USER_KEYS)}",
                         kpath, f"allowed keys here: {', '.join(USER_KEYS)}", key=True)
            elif key in TEXT_USER_KEYS:
                ok = self.expect(value, str, kpath, "write it as text") and ok
            elif key == "superuser":
                ok = self.expect(value, bool, kpath, "true or false") and ok
            elif key == "roles" and self.expect(value, list, kpath, "a list of role names"):
                for j, role in enumerate(value):
                    if role not in self.roles:
                        known = ", ".join(sorted(self.roles)) or "none"
                        self.add("E203", f"'{path_text((*kpath, j))}' refers to unknown role {role!r}"
                                 f"{suggest(role, self.roles)}", (*kpath, j), f"known roles: {known}")
                        ok = False
        for key in ("username", "password"):
            if key not in user:
                self.add("E102", f"'{path_text(path)}' needs '{key}'", path, f"add '{key}:'")
                ok = False
        for key, value in user.items():
            problem = _user_value_problem(key, value) if isinstance(value, str) else None
            if problem:
                self.add("E221", f"'{path_text((*path, key))}' {problem}", (*path, key))
                ok = False
        name = user.get("username")
        if isinstance(name, str):
            if name in self.usernames:
                self.add("E110", f"user '{name}' is defined twice in the demo data", (*path, "username"),
                         "remove or rename one")
                return
            self.usernames.add(name)
        if ok and isinstance(name, str):
            roles = tuple(user.get("roles") or ())
            self.data.users.append(DemoUser(name, user["password"], roles, user.get("superuser", False)))
            self.data.user_rows.append(user)

    # --- records ---------------------------------------------------------------------------

    def check_records(self, records):
        if not self.expect(records, dict, ("records",), "a mapping of entity name to a list of rows"):
            return
        for name, rows in records.items():
            path = ("records", name)
            entity = self.entities.get(name)
            if entity is None:
                self.add("E201", f"'{path_text(path)}' refers to unknown entity '{name}'{suggest(name, self.entities)}",
                         path, f"known entities: {', '.join(sorted(self.entities)) or 'none'}", key=True)
                continue
            if not self.expect(rows, list, path, "a list of rows, each a mapping of field to value"):
                continue
            for i, row in enumerate(rows):
                made = self.check_row(entity, row, (*path, i))
                if made is not None:
                    self.rows.setdefault(entity.name, []).append(made)
            self.data.records.append((entity.name, rows))

    def check_row(self, entity, row, path):
        """Check one row; return its comparable values (for later lookups), or None when it is wrong."""
        if not self.expect(row, dict, path, "a mapping of field to value"):
            return None
        made, ok = {}, True
        states = {wf.field: wf for wf in self.spec.workflows if wf.entity == entity.name}
        for name, value in row.items():
            fpath = (*path, name)
            if name == TRANSITIONS:
                continue
            f = field_of(entity, name)  # a language column of a translated field too ('name_ru')
            if f is None:
                self.add("E202", f"'{path_text(fpath)}' refers to unknown field '{name}' of '{entity.name}'"
                         f"{suggest(name, entity.field_names)}", fpath,
                         f"fields of {entity.name}: {', '.join(entity.field_names)}", key=True)
                ok = False
                continue
            if name in states:
                self.add("E320", f"'{path_text(fpath)}' sets the state of workflow '{states[name].name}'; a row "
                         "starts in the initial state and reaches others through transitions", fpath,
                         self.route_hint(states[name], value), key=True)
                ok = False
                continue
            if not f.stored or f.sequence is not None:
                self.add("E221", f"'{path_text(fpath)}' gives a value to '{name}', which the engine fills "
                         f"({'computed' if not f.stored else 'numbered'})", fpath, "remove it from the row", key=True)
                ok = False
                continue
            found, good = self.value(f, value, fpath)
            made[name] = found
            ok = ok and good
        reached = self.walk(entity, states, row.get(TRANSITIONS), (*path, TRANSITIONS)) if states or \
            TRANSITIONS in row else {}
        if reached is None:
            ok = False
        else:
            made.update(reached)
        for f in entity.fields:
            if f.name in states:
                continue
            if f.name not in row and f.required and not f.has_default and f.type not in (FieldType.BOOLEAN,
                                                                                          FieldType.REFS):
                self.add("E224", f"'{path_text(path)}' has no '{f.name}', a required field of '{entity.name}'",
                         path, f"add '{f.name}: ...'")
                ok = False
            elif f.name not in row:
                made[f.name] = self.comparable(f, f.default) if f.has_default else None
        return made if ok and self.unique(entity, made, path) else None

    def walk(self, entity, states, names, path):
        """Replay ``_transitions`` from each workflow's initial state; return {state field: state reached},
        or None (reported) when a step names no transition or does not start from the state reached."""
        reached = {field: wf.initial for field, wf in states.items()}
        if names is None:
            return reached
        if not self.expect(names, list, path, "a list of transition names, e.g. [accept, deliver]"):
            return None
        found = {t.name: (wf, t) for wf in states.values() for t in wf.transitions}
        for i, name in enumerate(names):
            if name not in found:
                known = ", ".join(found) or f"none ('{entity.name}' has no workflow)"
                self.add("E321", f"'{path_text((*path, i))}' names {name!r}, which is not a transition of "
                         f"'{entity.name}'{suggest(str(name), found)}", (*path, i), f"transitions: {known}")
                return None
            wf, t = found[name]
            if reached[wf.field] not in t.sources:
                self.add("E322", f"'{path_text((*path, i))}': '{name}' goes from {', '.join(t.sources)}, but the row "
                         f"is '{reached[wf.field]}' by then", (*path, i), "list the transitions in the order they "
                         f"happen, starting from '{wf.initial}'")
                return None
            reached[wf.field] = t.target
        return reached

    @staticmethod
    def route_hint(wf, state):
        """The hint of E320: the shortest ``_transitions`` list from the initial state to ``state``."""
        routes, queue = {wf.initial: []}, [wf.initial]
        while queue:
            current = queue.pop(0)
            for t in wf.transitions:
                if current in t.sources and t.target not in routes:
                    routes[t.target] = [*routes[current], t.name]
                    queue.append(t.target)
        if state == wf.initial:
            return f"leave it out: rows start as '{wf.initial}'"
        if state in routes:
            return f"write '{TRANSITIONS}: [{', '.join(routes[state])}]' instead"
        return f"no transitions lead from '{wf.initial}' to {state!r}"

    def unique(self, entity, made, path):
        """Report a row that repeats the value of a unique field, or of a unique index, of an earlier row."""
        groups = [(f.name,) for f in entity.fields if f.unique] + [ix.fields for ix in entity.indexes if ix.unique]
        for names in groups:
            key = tuple(made.get(n) for n in names)
            if None in key:
                continue
            if any(tuple(other.get(n) for n in names) == key for other in self.rows.get(entity.name, ())):
                self.add("E225", f"'{path_text(path)}' repeats {', '.join(names)} = "
                         f"{', '.join(repr(k) if not isinstance(k, dict) else '<row>' for k in key)} of an earlier "
                         f"'{entity.name}' row, which must be unique", path, "make the values differ")
                return False
        return True

    def comparable(self, f, value):
        if isinstance(value, str) and RELATIVE.match(value):
            return value
        if value_problem(f, value, constraints=False, keywords=()) is None:
            return parse_value(f.type, value, f.choice_values)
        return value

    def value(self, f, value, path):
        """Check one value of a row; return (comparable value, whether it fits)."""
        if f.type is FieldType.REF and f.to == USER:
            return self.user_ref(value, path)
        if f.type is FieldType.REF:
            row = self.lookup(f.to, value, path)
            return (id(row) if row is not None else None), row is not None
        if f.type is FieldType.REFS:
            if not self.expect(value, list, path, f"a list of references to {f.to}"):
                return None, False
            good = True
            for i, item in enumerate(value):
                if f.to == USER:
                    good = self.user_ref(item, (*path, i))[1] and good
                else:
                    good = self.lookup(f.to, item, (*path, i)) is not None and good
            return None, good
        if f.type is FieldType.JSON:
            return value, True
        if isinstance(value, str) and value.startswith("$") and f.type in (FieldType.DATE, FieldType.DATETIME):
            if RELATIVE.match(value):
                return value, True
            self.add("E221", f"'{path_text(path)}' is {value!r}, not a relative date", path,
                     "write $today, $today+3, $today-2 or $now+2h, $now-30d")
            return None, False
        problem = value_problem(f, value, keywords=())
        blank = isinstance(value, str) and f.type.is_textual and not value.strip()
        if not problem and f.required and (value in (None, "", [], {}) or blank):
            problem = f"{value!r} is empty, but the field is required"
        elif not problem and value is None and not _stores_null(f):
            problem = "null, which this field does not store" + (" (write '' for no text)" if f.type.is_textual
                                                                   else " (leave the field out)")
        if problem:
            self.add("E221", f"'{path_text(path)}' does not fit the {f.type.value} field '{f.name}': {problem}", path)
            return None, False
        return self.comparable(f, value), True

    def user_ref(self, value, path):
        if not self.expect(value, str, path, "a username from 'users:'"):
            return None, False
        if value not in self.usernames:
            self.add("E223", f"'{path_text(path)}' names the user {value!r}, whom the demo data does not define"
                     f"{suggest(value, self.usernames)}", path, "add the user under 'users:' or fix the name")
            return None, False
        return value, True

    def lookup(self, entity_name, criteria, path):
        """Find the one earlier row of ``entity_name`` that ``criteria`` picks; report and return None if not."""
        if not self.expect(criteria, dict, path, f"a mapping of {entity_name} field to value, e.g. {{name: ...}}"):
            return None
        target = self.entities[entity_name]
        wanted = {}
        for key, value in criteria.items():
            f = target.field(key)
            if f is None or f.type is FieldType.REFS:
                self.add("E202", f"'{path_text((*path, key))}' refers to unknown field '{key}' of '{entity_name}'"
                         f"{suggest(key, target.field_names)}", (*path, key),
                         "a reference picks a row by its (non-refs) fields", key=True)
                return None
            if isinstance(value, str) and value.startswith("$now"):
                self.add("E222", f"'{path_text((*path, key))}' picks a row by {value!r}, which is a different "
                         "instant each time it is read", (*path, key), "pick the row by another field")
                return None
            found, good = self.value(f, value, (*path, key))
            if not good:
                return None
            wanted[key] = found
        rows = [row for row in self.rows.get(entity_name, ()) if all(row.get(k) == v for k, v in wanted.items())]
        if len(rows) == 1:
            return rows[0]
        shown = ", ".join(f"{k}: {v!r}" for k, v in criteria.items())
        self.add("E222", f"'{path_text(path)}' ({{{shown}}}) matches {len(rows) or 'no'} '{entity_name}' "
                 f"row{'s' if len(rows) > 1 else ''} among those listed before it", path,
                 "give values that pick exactly one row, and list the rows it refers to first")
        return None


def check_data(spec, files):
    """Return the problems of the data ``files`` (``loader.DataFile``) against ``spec``, and the data."""
    checker = DataChecker(spec, files)
    problems = checker.run()
    return problems, checker.data
