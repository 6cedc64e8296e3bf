"""Semantic checks of a solution spec: references, reserved names, constraints and cycles.

Each check adds located problems to a list; all checks run, so one run reports everything.
"""
from __future__ import annotations

import keyword
import re
from decimal import Decimal

from django.core import validators
from django.core.exceptions import ValidationError
from django.db import models

from .chat.checks import check_chats
from .chat.page_checks import check_chat_pages
from .errors import Problem
from .expr.checks import policy_problems
from .fieldtypes import BadDefault, FieldType, parse_value
from .loader import path_text
from .pages.form_checks import check_form_pages
from .pages.page_checks import check_page_lists, page_names
from .pages.work_checks import check_work
from .rules.checks import check_rules
from .spec import ACTIONS, USER, FieldSpec, Label
from .validate import suggest
from .workflows.checks import workflow_problems
from .workflows.timer_checks import check_timers

SQL_RESERVED = frozenset("""
all analyse analyze and any array as asc asymmetric authorization binary both case cast check collate
collation column concurrently constraint create cross current_catalog current_date current_role
current_schema current_time current_timestamp current_user default deferrable desc distinct do else end
except false fetch for foreign freeze from full grant group having ilike in initially inner intersect into
is isnull join lateral leading left like limit localtime localtimestamp natural not notnull null offset on
only or order outer overlaps placing primary references returning right select session_user similar some
symmetric table tablesample then to trailing true union unique user using variadic verbose when where
window with
""".split())
MODEL_ATTRIBUTES = frozenset("""
id pk objects save delete clean check full_clean clean_fields validate_unique validate_constraints
refresh_from_db arefresh_from_db asave adelete serializable_value get_deferred_fields prepare_database_save
date_error_message unique_error_message get_constraints from_db meta spec
""".split()) | frozenset(name for name in dir(models.Model) if not name.startswith("_"))
# Paths of the API beside the entities' (engine/build/api.py): an entity named so would be unreachable.
API_PATHS = frozenset({"auth", "schema", "docs"})
BIGINT = (-(2**63), 2**63 - 1)
SQLITE_DIGITS = 15  # a double keeps 15 significant decimal digits
VARIABLE = re.compile(r"^\$[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")  # '$user.guest': the older variable form
MAX_IDENTIFIER = 63  # PostgreSQL keeps the first 63 bytes of a name; longer ones would collide


def generated_methods(f):
    """The attribute names Django adds to a model for field ``f`` besides the field itself."""
    names = []
    if f.type is FieldType.REF:
        names.append(f"{f.name}_id")
    if f.type is FieldType.CHOICE:
        names.append(f"get_{f.name}_display")
    if f.type in (FieldType.DATE, FieldType.DATETIME):
        names += [f"get_next_by_{f.name}", f"get_previous_by_{f.name}"]
    return names


def reverse_accessor(entity, f):
    """The name a ref or refs field of ``entity`` adds to its target (see engine/build/models.py)."""
    return f"cabinet_{entity.name}_{f.name}" if f.to == USER else f"{entity.name}_by_{f.name}"


def value_problem(f, raw, constraints=True, keywords=("now", "today")):
    """Return why ``raw`` does not fit field ``f`` (type, choices, what its column can hold and, with
    ``constraints``, every rule the model field enforces), or None. ``keywords`` are the words a temporal
    field takes. Card filters check without ``constraints``: comparing with a value out of min/max finds
    nothing, but a value the column cannot hold fails the query."""
    try:
        value = parse_value(f.type, raw, f.choice_values)
    except BadDefault as exc:
        return str(exc)
    if value is None:
        return None
    if value in ("now", "today") and f.type in (FieldType.DATE, FieldType.DATETIME, FieldType.TIME):
        return None if value in keywords else f"{value!r} is not a fixed {f.type.value} here"
    return _storage_problem(f, value) or (_constraint_problem(f, value) if constraints else None)


def _storage_problem(f, value):
    """Why the database column of ``f`` cannot hold (or be compared with) ``value``, or None."""
    if isinstance(value, str) and "\x00" in value:
        return "holds a NUL character, which databases do not store"
    if f.type is FieldType.INTEGER and not BIGINT[0] <= value <= BIGINT[1]:
        return f"{value} does not fit a 64-bit integer"
    if isinstance(value, Decimal):
        try:
            validators.DecimalValidator(f.max_digits, f.decimal_places)(value)
        except ValidationError as exc:
            return f"{str(value)!r}: {' '.join(exc.messages)}"
    return None


def _constraint_problem(f, value):
    checks = []
    if isinstance(value, str):
        limit = f.storage_length or f.max_length
        if limit is not None and len(value) > limit:
            return f"{value!r} is longer than {limit} characters"
        if f.min_length and len(value) < f.min_length:
            return f"{value!r} is shorter than min_length {f.min_length}"
        if f.type is FieldType.EMAIL:
            checks.append(validators.validate_email)
        if f.type is FieldType.URL:
            checks.append(validators.URLValidator())
    if f.type.is_numeric:
        if f.min_value is not None and value < f.min_value:
            return f"{value} is below min {f.min_value}"
        if f.max_value is not None and value > f.max_value:
            return f"{value} is above max {f.max_value}"
    for check in checks:
        try:
            check(value)
        except ValidationError as exc:
            return f"{str(value)!r}: {' '.join(exc.messages)}"
    return None


def article(word):
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


_EXAMPLE = {FieldType.DATE: "2026-01-31", FieldType.DATETIME: "2026-01-31T18:30:00", FieldType.TIME: "18:30",
            FieldType.INTEGER: "3", FieldType.DECIMAL: "9.50", FieldType.MONEY: "9.50", FieldType.BOOLEAN: "true",
            FieldType.CHOICE: "one of its choices"}
SCALAR_TITLE = {FieldType.REFS, FieldType.JSON, FieldType.IMAGE, FieldType.FILE}


class Checker:
    """Run every semantic check on ``spec``, locating problems through ``doc``."""

    def __init__(self, spec, doc):
        self.spec = spec
        self.doc = doc
        self.problems: list[Problem] = []
        self.entities = {e.name: e for e in spec.entities}
        self.roles = {r.name for r in spec.roles}
        self.pages = {p.name for p in spec.pages}
        self.transitions = {}
        for wf in spec.workflows:
            self.transitions.setdefault(wf.entity, set()).update(t.name for t in wf.transitions)

    def add(self, code, message, path, hint="", key=False):
        self.problems.append(Problem(code, message, self.doc.loc(path, key=key), hint))

    def run(self):
        self.check_solution()
        for entity in self.spec.entities:
            self.check_entity(entity)
        check_rules(self)
        self.check_required_cycles()
        self.check_generated_names()
        for role in self.spec.roles:
            self.check_role(role)
        for page in self.spec.pages:
            self.check_page(page)
        check_chat_pages(self)
        check_form_pages(self)
        check_work(self)
        self.check_workflows()
        check_timers(self)
        self.check_webhooks()
        check_chats(self)
        self.problems += workflow_problems(self.spec, self.doc)
        self.problems += policy_problems(self.spec, self.doc, self.problems)
        return self.problems

    # --- helpers ---------------------------------------------------------------------------

    def known(self, code, kind, name, known, path, key=False):
        """Report ``name`` unless it is in ``known``; return whether it is known."""
        if name in known:
            return True
        shown = ", ".join(sorted(map(str, known))) or "none"
        plural = "entities" if kind == "entity" else f"{kind}s"
        self.add(code, f"'{path_text(path)}' refers to unknown {kind} '{name}'{suggest(name, known)}",
                 path, f"known {plural}: {shown}", key=key)
        return False

    def field_of(self, entity, name, path):
        fields = entity.field_names
        if self.known("E202", "field", name, fields, path):
            return entity.field(name)
        return None

    def reserved(self, name, path, what, column=None):
        if keyword.iskeyword(name) or keyword.issoftkeyword(name):
            reason = "a Python keyword"
        elif (column or name) in SQL_RESERVED:
            reason = "an SQL reserved word"
        elif what == "field" and (name in MODEL_ATTRIBUTES or "__" in name or name.endswith("_")):
            reason = ("an attribute of Django models" if name in MODEL_ATTRIBUTES
                      else "not allowed ('__' or trailing '_')")
        elif what == "entity" and ("__" in name or name.endswith("_")):
            reason = "not allowed ('__' or trailing '_')"
        elif what == "entity" and name in API_PATHS:
            reason = f"the API's own path /api/{name}/"
        else:
            return
        self.add("E120", f"{what} name '{name}' at '{path_text(path)}' is {reason}", path,
                 f"choose another name, e.g. '{name.rstrip('_')}_{what}'", key=True)

    def check_labels(self, label, path):
        langs = set(self.spec.languages)
        for lang in sorted(label.languages - langs):
            self.add("E208", f"'{path_text(path)}' has a text in '{lang}', which is not among the solution's "
                     f"languages ({', '.join(self.spec.languages)})", (*path, lang), "add the language to "
                     "'solution.languages' or remove the text", key=True)
        if label.languages and len(langs) > 1:
            for lang in sorted(langs - label.languages):
                self.add("W002", f"'{path_text(path)}' has no text in '{lang}'", path,
                         "the default language's text is shown instead")

    # --- solution --------------------------------------------------------------------------

    def check_solution(self):
        spec = self.spec
        if spec.default_language not in spec.languages:
            self.add("E208", f"'solution.default_language' is '{spec.default_language}', not one of "
                     f"'solution.languages' ({', '.join(spec.languages)})", ("solution", "default_language"))
        self.check_labels(spec.label, ("solution", "label"))
        for role, page in spec.home:
            self.known("E203", "role", role, self.roles, ("solution", "home", role), key=True)
            self.known("E204", "page", page, self.pages, ("solution", "home", role))

    # --- entities --------------------------------------------------------------------------

    def check_entity(self, entity):
        path = ("entities", entity.name)
        if entity.name == USER:
            self.add("E120", "entity name 'user' is reserved for references to the user account", path,
                     "use 'to: user' in a ref field to point at accounts; name the entity e.g. 'profile'", key=True)
        else:
            self.reserved(entity.name, path, "entity")
        self.check_labels(entity.label, (*path, "label"))
        for f in entity.fields:
            self.check_field(entity, f)
        if entity.title:
            title = self.field_of(entity, entity.title, (*path, "title"))
            if title and title.type in SCALAR_TITLE:
                self.add("E216", f"'{path_text(path)}.title' is '{title.name}', a {title.type.value} field",
                         (*path, "title"), "pick a text, number or date field as the title")
            elif title:
                self.check_title_chain(entity)
        for i, name in enumerate(entity.search):
            f = self.field_of(entity, name, (*path, "search", i))
            if f and not (f.type.is_textual or f.type is FieldType.CHOICE):
                self.add("E216", f"'{path_text(path)}.search[{i}]' is '{name}', a {f.type.value} field",
                         (*path, "search", i), "search works on text fields")
        for i, name in enumerate(entity.ordering):
            if name.lstrip("-") == "id":  # the implicit primary key: creation order
                continue
            f = self.field_of(entity, name.lstrip("-"), (*path, "ordering", i))
            if f and f.type in (FieldType.REF, FieldType.REFS):
                # Ordering by a ref sorts by the target's own ordering, which may lead back here (Django
                # then fails every query with "infinite loop caused by ordering").
                self.add("E216", f"cannot order '{entity.name}' by the {f.type.value} field '{f.name}'",
                         (*path, "ordering", i), "order by fields of the entity itself (text, numbers, dates)")
        if entity.owner:
            owner = self.field_of(entity, entity.owner, (*path, "owner"))
            if owner and not (owner.type is FieldType.REF and owner.to == USER):
                self.add("E213", f"'{path_text(path)}.owner' is '{owner.name}', which is not a reference to the user",
                         (*path, "owner"), f"declare '{owner.name}: {{type: ref, to: user}}'")
        for i, ix in enumerate(entity.indexes):
            if not ix.nulls_distinct and not ix.unique:
                self.add("E260", f"'{path_text(path)}.indexes.{i}.nulls_distinct' applies only to unique indexes",
                         (*path, "indexes", i, "nulls_distinct"), "add 'unique: true' or remove nulls_distinct")
            for j, name in enumerate(ix.fields):
                f = self.field_of(entity, name, (*path, "indexes", i, "fields", j))
                if f and not f.type.info.can_index:
                    self.add("E216", f"a {f.type.value} field ('{name}') cannot be indexed",
                             (*path, "indexes", i, "fields", j))
        names = set(entity.field_names)
        for f in entity.fields:
            if f.renamed_from and f.renamed_from in names:
                self.add("E215", f"'{path_text(path)}.fields.{f.name}.renamed_from' names '{f.renamed_from}', "
                         "which is still a field", (*path, "fields", f.name, "renamed_from"),
                         "remove renamed_from once the rename is applied, or rename the other field")
            if f.type is FieldType.REF and f"{f.name}_id" in names:
                self.add("E120", f"field '{f.name}_id' clashes with the column of the ref field '{f.name}'",
                         (*path, "fields", f"{f.name}_id"), "rename one of them", key=True)
        self.check_translations(entity)
        if entity.renamed_from and entity.renamed_from in self.entities:
            self.add("E215", f"'{path_text(path)}.renamed_from' names '{entity.renamed_from}', which is still an "
                     "entity", (*path, "renamed_from"))

    def check_translations(self, entity):
        """Refuse translated fields whose language columns (or API key) another field already is, and
        translated fields whose value the engine makes (computed, sequence)."""
        from .content import column_name

        names = set(entity.field_names)
        for f in entity.fields:
            if not f.translate:
                continue
            path = ("entities", entity.name, "fields", f.name, "translate")
            if f.computed or f.sequence:
                what = "computed" if f.computed else "numbered by a sequence"
                self.add("E941", f"'{entity.name}.{f.name}' is {what}, so it cannot be translated", path,
                         "remove 'translate: true'", key=True)
                continue
            taken = [(column_name(f.name, lang), f"its '{lang}' values") for lang in f.translations]
            taken.append((f"{f.name}_translations", "the API's key of its translations"))
            for name, what in taken:
                if name in names:
                    self.add("E940", f"'{entity.name}.{f.name}' is translated and needs the name '{name}' for {what}, "
                             f"but '{entity.name}.{name}' is a field", path,
                             f"rename the field '{name}', or remove 'translate: true'", key=True)

    def check_title_chain(self, entity):
        """Refuse a title that is a ref leading back to the entity: a row (or two rows referring to each
        other) would show its title forever."""
        chain, current = [entity.name], entity
        while current is not None and current.title:
            f = current.field(current.title)
            if f is None or f.type is not FieldType.REF or f.to not in self.entities:
                return
            chain.append(f.to)
            if f.to in chain[:-1]:
                if f.to == entity.name:
                    self.add("E216", f"the title of '{entity.name}' is a ref that leads back to it "
                             f"({' -> '.join(chain)}), so a row could show its own title forever",
                             ("entities", entity.name, "title"), "pick a text, number or date field as the title")
                return
            current = self.entities[f.to]

    def check_field(self, entity, f):
        path = ("entities", entity.name, "fields", f.name)
        self.reserved(f.name, path, "field", column=f.column)
        self.check_labels(f.label, (*path, "label"))
        info = f.type.info
        for option in sorted(f.raw_options - info.options):
            self.add("E212", f"'{path_text(path)}.{option}' is not an option of {article(f.type.value)} field",
                     (*path, option), f"options of {f.type.value}: {', '.join(sorted(info.options - {'type'}))}",
                     key=True)
        if f.unique and not info.can_be_unique:
            self.add("E212", f"a {f.type.value} field cannot be unique", (*path, "unique"))
        if f.index and not info.can_index:
            self.add("E212", f"a {f.type.value} field cannot be indexed", (*path, "index"))
        self.check_bounds(f, path)
        if info.is_relation:
            self.check_relation(f, path)
        if f.has_default and "default" in info.options:
            self.check_default(f, path)

    def check_bounds(self, f, path):
        where = path_text(path)
        if f.min_value is not None and f.max_value is not None and f.min_value > f.max_value:
            self.add("E211", f"'{where}' has min {f.min_value} above max {f.max_value}", (*path, "min"))
        if f.min_length is not None and f.max_length is not None and f.min_length > f.max_length:
            self.add("E211", f"'{where}' has min_length {f.min_length} above max_length {f.max_length}",
                     (*path, "min_length"))
        if f.max_digits is not None and f.max_digits > SQLITE_DIGITS:
            self.add("W003", f"'{where}' has max_digits {f.max_digits}: SQLite stores decimals as floating point, "
                     f"which keeps {SQLITE_DIGITS} digits, so wider values may not read back there",
                     (*path, "max_digits"), f"use at most {SQLITE_DIGITS} digits, or PostgreSQL")
        if f.max_digits is not None and f.decimal_places is not None and f.decimal_places > f.max_digits:
            self.add("E211", f"'{where}' has decimal_places {f.decimal_places} above max_digits {f.max_digits}",
                     (*path, "decimal_places"))
        if f.type is FieldType.CHOICE:
            if not f.choices:
                self.add("E102", f"'{where}' is a choice field and needs 'choices'", path,
                         "add 'choices: [a, b, c]'")
            seen = set()
            for i, value in enumerate(f.choice_values):
                if value in seen:
                    self.add("E211", f"'{where}.choices[{i}]' repeats the value '{value}'", (*path, "choices", i))
                seen.add(value)
                if len(value) > 100:
                    self.add("E211", f"'{where}.choices[{i}]' is longer than 100 characters", (*path, "choices", i))

    def check_relation(self, f, path):
        where = path_text(path)
        if not f.to:
            self.add("E102", f"'{where}' is a {f.type.value} field and needs 'to'", path,
                     "add 'to: <entity>' or 'to: user'")
            return
        self.known("E201", "entity", f.to, set(self.entities) | {USER}, (*path, "to"))
        if f.on_delete == "set_null" and f.required:
            self.add("E211", f"'{where}' is required, so it cannot use on_delete: set_null", (*path, "on_delete"),
                     "use cascade, protect or restrict, or make the field optional")

    def check_default(self, f, path):
        where = f"{path_text(path)}.default"
        if f.type is FieldType.JSON:
            return
        problem = value_problem(f, f.default)
        if problem:
            self.add("E210", f"'{where}': {problem}", (*path, "default"))
        elif f.default in (None, "") and f.required:
            self.add("E210", f"'{where}' is empty but the field is required", (*path, "default"))

    def check_generated_names(self):
        """Report names the build generates twice: model classes, tables, reverse accessors, indexes."""
        owners = {}  # generated name -> what made it first

        def claim(kind, name, what, path):
            if (kind, name) in owners:
                self.add("E121", f"{what} makes the {kind} '{name}', which {owners[kind, name]} makes too", path,
                         "rename one of them", key=True)
                return
            owners[kind, name] = what
            if kind == "table" and len(name) > MAX_IDENTIFIER:
                self.add("E122", f"{what} makes the table '{name}', longer than {MAX_IDENTIFIER} characters", path,
                         "shorten the names", key=True)

        for e in self.spec.entities:
            what = f"entity '{e.name}'"
            claim("model", e.class_name.lower(), what, ("entities", e.name))
            claim("table", e.table, what, ("entities", e.name))
        for e in self.spec.entities:
            for f in e.fields:
                if f.type is FieldType.REFS:
                    what, fpath = f"refs field '{e.name}.{f.name}'", ("entities", e.name, "fields", f.name)
                    claim("model", f"{e.class_name}_{f.name}".lower(), what, fpath)
                    claim("table", f"{e.table}_{f.name}", what, fpath)
            for i, ix in enumerate(e.indexes):
                if ix.name:
                    claim("index", ix.name, f"index '{e.name}.indexes[{i}]'", ("entities", e.name, "indexes", i))
        self.check_attributes()

    def check_attributes(self):
        """Report fields and reverse accessors that land on the same attribute of a model."""
        attributes = {USER: {}}
        for e in self.spec.entities:
            names = attributes[e.name] = {f.name: f"field '{e.name}.{f.name}'" for f in e.fields}
            for f in e.fields:
                for method in generated_methods(f):
                    if method in names and method != f"{f.name}_id":  # '<ref>_id' is reported above
                        self.add("E120", f"field name '{method}' at 'entities.{e.name}.fields.{method}' is the "
                                 f"method Django makes for the field '{f.name}'",
                                 ("entities", e.name, "fields", method),
                                 "choose another name", key=True)
                    names.setdefault(method, f"the method Django makes for '{e.name}.{f.name}'")
        for e in self.spec.entities:
            for f in e.fields:
                if not f.type.info.is_relation or f.to not in attributes:
                    continue
                accessor, taken = reverse_accessor(e, f), attributes[f.to]
                if accessor in taken:
                    self.add("E121", f"ref field '{e.name}.{f.name}' adds '{accessor}' to '{f.to}', which is already "
                             f"{taken[accessor]}", ("entities", e.name, "fields", f.name),
                             "rename the field or the entity", key=True)
                taken.setdefault(accessor, f"the reverse accessor of '{e.name}.{f.name}'")

    def check_required_cycles(self):
        """Report entities that can never get their first row: a cycle of required references."""
        edges = {
            e.name: [f.to for f in e.fields if f.type is FieldType.REF and f.required and f.to in self.entities]
            for e in self.spec.entities
        }
        state = {}
        reported = set()

        def visit(name, stack):
            state[name] = "active"
            for target in edges.get(name, ()):
                if state.get(target) == "active":
                    cycle = stack[stack.index(target):] + [target]
                    key = frozenset(cycle)
                    if key not in reported:
                        reported.add(key)
                        self.add("E214", f"required references form a cycle: {' -> '.join(cycle)}; no first row can "
                                 "be created", ("entities", cycle[0]), "make one reference in the cycle optional",
                                 key=True)
                elif state.get(target) is None:
                    visit(target, [*stack, target])
            state[name] = "done"

        for name in edges:
            if state.get(name) is None:
                visit(name, [name])

    # --- roles -----------------------------------------------------------------------------

    def check_role(self, role):
        path = ("roles", role.name)
        self.check_two_factor_group(role, path)
        if role.home:
            self.known("E204", "page", role.home, self.pages, (*path, "home"))
        for grant in role.grants:
            gpath = (*path, "entities", grant.entity)
            if not self.known("E201", "entity", grant.entity, self.entities, gpath, key=True):
                continue
            entity = self.entities[grant.entity]
            allowed = set(ACTIONS) | self.transitions.get(entity.name, set())
            for i, action in enumerate(grant.actions):
                if action != "all":
                    self.known("E206", "action", action, allowed, (*gpath, "actions", i))
            self.check_scope(entity, grant, gpath)
            for i, name in enumerate(grant.view_fields or ()):
                self.field_of(entity, name, (*gpath, "fields", "view", i))
            for i, name in enumerate(grant.edit_fields or ()):
                if name not in (grant.view_fields or ()):  # edit defaults to view: report each name once
                    self.field_of(entity, name, (*gpath, "fields", "edit", i))
            for name, value in grant.forced:
                f = self.field_of(entity, name, (*gpath, "set", name))
                if f and isinstance(value, str) and VARIABLE.match(value):  # other expressions: engine.expr
                    self.check_user_value(entity, f, value, (*gpath, "set", name))

    def check_two_factor_group(self, role, path):
        """Holding a group gives every role of that group, so a two-factor role makes its group-mates two-factor."""
        if role.two_factor:
            return
        marked = sorted(r.name for r in self.spec.roles if r.two_factor and r.group == role.group)
        if marked:
            self.add("W016", f"role '{role.name}' has group '{role.group}' like two-factor role '{marked[0]}', "
                     "so its holders must use two-factor login too", path,
                     hint="set 'two_factor: true' on it too, or give it another group", key=True)

    def check_scope(self, entity, grant, gpath):
        if grant.scope == "own":
            if not entity.owner:
                self.add("E207", f"'{path_text(gpath)}' uses scope 'own', but entity '{entity.name}' has no owner",
                         (*gpath, "scope"), "set 'owner: <ref to user field>' on the entity, or give a path scope")
            return
        if grant.scope == "all" or isinstance(grant.scope, str):  # an expression: checked by engine.expr
            return
        for dotted, value in grant.scope:
            target = self.walk(entity, dotted, (*gpath, "scope", dotted))
            if target is not None:
                self.check_user_value(entity, target, value, (*gpath, "scope", dotted))

    def walk(self, entity, dotted, ypath):
        """Follow 'stay.guest.user' from ``entity``; return the last field spec or None (reported)."""
        current = entity
        parts = dotted.split(".")
        for i, part in enumerate(parts):
            if part == "id" and i == len(parts) - 1 and current:  # the row itself, by primary key
                return FieldSpec("id", FieldType.REF, Label(), to=current.name)
            f = current.field(part) if current else None
            if f is None:
                where = current.name if current else "?"
                self.add("E207", f"'{dotted}' at '{path_text(ypath[:-1])}': entity '{where}' has no field "
                         f"'{part}'{suggest(part, current.field_names if current else ())}", ypath,
                         "each step but the last must be a ref field", key=True)
                return None
            if i < len(parts) - 1:
                if f.type not in (FieldType.REF, FieldType.REFS) or f.to == USER:
                    self.add("E207", f"'{dotted}': '{part}' is not a reference to an entity, so the path cannot go on",
                             ypath, "each step but the last must be a ref field", key=True)
                    return None
                current = self.entities.get(f.to)
        return f

    def check_user_value(self, entity, f, value, ypath):
        if not (isinstance(value, str) and value.startswith("$")):
            return
        parts = value[1:].split(".")
        if parts[0] != "user":
            self.add("E207", f"'{value}' is not a known variable", ypath, "use $user or $user.<entity>")
            return
        if len(parts) == 1:
            if not (f.type in (FieldType.REF, FieldType.REFS) and f.to == USER):
                self.add("E207", f"'{value}' is a user, but '{f.name}' is not a reference to the user", ypath)
            return
        linked = self.entities.get(parts[1])
        if linked is None or not any(x.type is FieldType.REF and x.to == USER for x in linked.fields):
            self.add("E207", f"'{value}': '{parts[1]}' is not an entity with a reference to the user", ypath,
                     "use $user.<entity> where the entity has a 'to: user' field")
            return
        if len(parts) == 2 and not (f.type in (FieldType.REF, FieldType.REFS) and f.to == linked.name):
            self.add("E207", f"'{value}' is a {linked.name}, but '{f.name}' does not refer to '{linked.name}'", ypath)
        elif len(parts) == 3:
            source = linked.field(parts[2])
            if source is None:
                self.add("E207", f"'{value}': entity '{linked.name}' has no field '{parts[2]}'"
                         f"{suggest(parts[2], linked.field_names)}", ypath)
            elif (source.type, source.to) != (f.type, f.to) and not (source.type.is_textual and f.type.is_textual):
                self.add("E207", f"'{value}' is a {source.type.value} value, which '{f.name}' "
                         f"({f.type.value}) cannot be compared with", ypath)
        elif len(parts) > 3:
            self.add("E207", f"'{value}' goes too deep", ypath, "use $user, $user.<entity> or $user.<entity>.<field>")

    # --- pages -----------------------------------------------------------------------------

    def check_page(self, page):
        path = ("pages", page.name)
        entity = None
        if page.kind in ("list", "detail", "form", "calendar"):
            if not page.entity:
                self.add("E102", f"'{path_text(path)}' is a {page.kind} page and needs 'entity'", path)
        if page.kind == "calendar" and not page.date_field:
            self.add("E102", f"'{path_text(path)}' is a calendar page and needs 'date_field'", path,
                     "name the date or datetime field the calendar places rows by")
        if page.entity and self.known("E201", "entity", page.entity, self.entities, (*path, "entity")):
            entity = self.entities[page.entity]
        for i, role in enumerate(page.roles or ()):
            self.known("E203", "role", role, self.roles, (*path, "roles", i))
        if page.parent:
            self.known("E204", "page", page.parent, self.pages, (*path, "parent"))
        if entity:
            for name, where in page_names(page):
                if "." not in name:  # paths: check_page_lists
                    self.field_of(entity, name, (*path, *where))
        check_page_lists(self, page, entity, path)
        for i, card in enumerate(page.cards):
            cpath = (*path, "cards", i)
            if card.page:
                self.known("E204", "page", card.page, self.pages, (*cpath, "page"))
            if card.entity and self.known("E201", "entity", card.entity, self.entities, (*cpath, "entity")):
                for name, value in () if isinstance(card.filter, str) else card.filter:
                    f = self.field_of(self.entities[card.entity], name, (*cpath, "filter", name))
                    if f:
                        self.check_filter_value(self.entities[card.entity], f, value, (*cpath, "filter", name))
                if card.field:
                    self.field_of(self.entities[card.entity], card.field, (*cpath, "field"))

    def check_filter_value(self, entity, f, value, path):
        """Check a card filter value (or each value of a list) against the field it compares with."""
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            ipath = (*path, i) if isinstance(value, list) else path
            if isinstance(item, str) and item.startswith("$"):
                self.check_user_value(entity, f, item, ipath)
                continue
            if f.type.info.is_relation:
                problem = (None if item is None or isinstance(item, int) and not isinstance(item, bool)
                           else f"{item!r} is not the id of a row (a whole number) or a $user variable")
            elif f.type is FieldType.JSON or item is None:
                problem = None
            else:
                problem = value_problem(f, item, constraints=False, keywords=())
            if problem:
                self.add("E220", f"'{path_text(ipath)}' compares the {f.type.value} field '{f.name}' with "
                         f"{item!r}: {problem}", ipath, f"write {article(f.type.value)} value, e.g. "
                         f"{_EXAMPLE.get(f.type, 'one the field holds')}")

    # --- workflows -------------------------------------------------------------------------

    def check_workflows(self):
        seen = {}
        for wf in self.spec.workflows:
            path = ("workflows", wf.name)
            if not self.known("E201", "entity", wf.entity, self.entities, (*path, "entity")):
                continue
            f = self.field_of(self.entities[wf.entity], wf.field, (*path, "field"))
            states = [s.name for s in wf.states]
            if f:
                if (wf.entity, wf.field) in seen:
                    first = seen[wf.entity, wf.field]
                    self.add("E110", f"'{wf.entity}.{wf.field}' is driven by two workflows: '{first}'"
                             f" and '{wf.name}'", (*path, "field"))
                seen[wf.entity, wf.field] = wf.name
                if f.type is not FieldType.CHOICE:
                    self.add("E217", f"workflow field '{wf.entity}.{wf.field}' is a {f.type.value} field, not a choice",
                             (*path, "field"), f"declare it 'type: choice' with choices {states}")
                elif set(f.choice_values) != set(states):
                    self.add("E217", f"the choices of '{wf.entity}.{wf.field}' ({', '.join(f.choice_values)}) are not "
                             f"the workflow's states ({', '.join(states)})", (*path, "states"),
                             "list the same values in both places")
            self.known("E205", "state", wf.initial, states, (*path, "initial"))
            for t in wf.transitions:
                tpath = (*path, "transitions", t.name)
                if t.name in ACTIONS:
                    self.add("E120", f"transition name '{t.name}' is a built-in action", tpath, key=True)
                for i, source in enumerate(t.sources):
                    self.known("E205", "state", source, states, (*tpath, "from", i) if len(t.sources) > 1
                               else (*tpath, "from"))
                self.known("E205", "state", t.target, states, (*tpath, "to"))
                for i, role in enumerate(t.roles):
                    self.known("E203", "role", role, self.roles, (*tpath, "roles", i))


    def check_webhooks(self):
        for hook in self.spec.webhooks:
            path = ("webhooks", hook.name)
            if not self.known("E201", "entity", hook.entity, self.entities, (*path, "entity")):
                continue
            events = {"create", "update", "delete"} | self.transitions.get(hook.entity, set())
            for i, event in enumerate(hook.events):
                self.known("E206", "event", event, events, (*path, "on", i))


def check_spec(spec, doc):
    """Return the semantic problems of ``spec``."""
    return Checker(spec, doc).run()
