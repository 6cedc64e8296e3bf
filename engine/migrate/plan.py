"""Compare the applied spec with a new one and plan the schema operations, flagging data loss.

The planner looks at the data where it decides safety: how many rows a drop loses, whether a
new required field has rows to fill, whether a unique constraint has duplicates to trip on.
"""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from decimal import Decimal

from ..build.models import build_models, db_default_of, new_apps, nullable
from ..content import stored_fields
from ..errors import Loc, Problem
from ..fieldtypes import FieldType
from . import operations as ops

# Storage kinds a value converts to without loss (old -> new).
WIDENING = {
    ("varchar", "text"), ("integer", "decimal"), ("integer", "varchar"), ("integer", "text"),
    ("decimal", "varchar"), ("decimal", "text"), ("date", "datetime"), ("date", "varchar"),
    ("date", "text"), ("boolean", "varchar"), ("boolean", "text"), ("boolean", "integer"),
    ("time", "varchar"), ("datetime", "text"), ("file", "varchar"), ("file", "text"),
}
RELATIONS = (FieldType.REF, FieldType.REFS)


@dataclass
class Plan:
    """The operations that take the database from ``old`` to ``new``."""

    old: object  # SolutionSpec or None
    new: object
    operations: list = field(default_factory=list)

    @property
    def refusals(self):
        return [op.refusal for op in self.operations if op.refusal]

    def blocking(self, allow_data_loss=False):
        """The refusals that stop this plan (``--allow-data-loss`` lifts the overridable ones)."""
        return [op.refusal for op in self.operations if op.refusal and not (allow_data_loss and op.overridable)]

    @property
    def loses_data(self):
        return any(op.loss for op in self.operations)

    def digest(self, old_number=0, new_number=1):
        """A short hash of the plan as shown: the confirmation ``cabinet migrate --plan`` checks."""
        text = self.describe(old_number, new_number)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def describe(self, old_number=0, new_number=1):
        head = f"Plan for solution '{self.new.name}': version {old_number or 'none'} -> {new_number}"
        if not self.operations:
            return f"{head}\n  (no schema change)"
        return "\n".join([f"{head}, {len(self.operations)} operation(s)", *(op.line() for op in self.operations)])


class Probe:
    """Read-only questions about the data, asked before a change is allowed."""

    def __init__(self, connection):
        self.connection = connection
        self.q = connection.ops.quote_name
        self.sqlite = connection.vendor == "sqlite"

    def scalar(self, sql, params=()):
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()[0]

    def rows(self, entity):
        return self.scalar(f"SELECT COUNT(*) FROM {self.q(entity.table)}")  # noqa: S608 (quoted identifier)

    def filled(self, entity, f):
        """Rows where ``f`` holds a value."""
        if f.type is FieldType.REFS:
            return self.scalar(f"SELECT COUNT(*) FROM {self.q(f'{entity.table}_{f.name}')}")  # noqa: S608
        col = self.q(f.column)
        blank = f" AND {col} <> ''" if f.type.is_textual or f.type.info.storage == "file" else ""
        return self.scalar(f"SELECT COUNT(*) FROM {self.q(entity.table)} WHERE {col} IS NOT NULL{blank}")  # noqa: S608

    def longer_than(self, entity, f, length):
        """Rows whose text in ``f`` is longer than ``length`` characters."""
        col = self.q(f.column)
        return self.scalar(f"SELECT COUNT(*) FROM {self.q(entity.table)} WHERE LENGTH({col}) > %s",  # noqa: S608
                           [length])

    def beyond(self, entity, f, bound):
        """Rows whose number in ``f`` is larger in magnitude than ``bound``."""
        col = self.q(f.column)
        return self.scalar(f"SELECT COUNT(*) FROM {self.q(entity.table)} WHERE {col} > %s OR {col} < %s",  # noqa: S608
                           [bound, -bound])

    def nulls(self, entity, f):
        return self.scalar(f"SELECT COUNT(*) FROM {self.q(entity.table)} WHERE {self.q(f.column)} IS NULL")  # noqa: S608

    def duplicates(self, entity, f):
        col, table = self.q(f.column), self.q(entity.table)
        return self.scalar(
            f"SELECT COUNT(*) FROM (SELECT {col} FROM {table} WHERE {col} IS NOT NULL "  # noqa: S608
            f"GROUP BY {col} HAVING COUNT(*) > 1) dup"
        )

    def using(self, entity, f, values):
        if not values:
            return 0
        marks = ", ".join(["%s"] * len(values))
        return self.scalar(
            f"SELECT COUNT(*) FROM {self.q(entity.table)} WHERE {self.q(f.column)} IN ({marks})",  # noqa: S608
            list(values),
        )


def _refuse(code, message, f_or_entity, hint="", loc=None):
    return Problem(code, message, loc or getattr(f_or_entity, "loc", Loc()), hint)


def db_signature(f):
    """What of a field the database sees; labels, help, choices and validators are not in it."""
    decimal = f.type.info.storage == "decimal"
    return (f.type.info.storage, f.column, f.storage_length, f.max_digits if decimal else None,
            f.decimal_places if decimal else None, nullable(f), f.unique, f.indexed, f.to,
            f.on_delete if f.type is FieldType.REF else None, repr(db_default_of(f)))


def shorter(old, new):
    """Whether ``new`` stores texts of ``old`` in fewer characters."""
    so, sn = old.type.info.storage, new.type.info.storage
    return sn == "varchar" and so in ("varchar", "file") and (new.storage_length or 0) < (old.storage_length or 0)


SQLITE_EXACT = 2**53  # SQLite computes decimals as doubles: whole numbers beyond this are rounded


def default_problem(f):
    """Why the database could not store and read back ``f``'s default, or None."""
    if f.type.info.storage != "decimal" or not f.has_default or f.default is None:
        return None
    value = Decimal(str(f.default))
    if not value.is_finite():
        return f"the default {f.default} is not a finite number"
    whole = len(str(abs(int(value)))) if int(value) else 0
    if whole > f.max_digits - f.decimal_places or value != value.quantize(Decimal(1).scaleb(-f.decimal_places)):
        return (f"the default {f.default} does not fit {f.max_digits} digits with {f.decimal_places} decimal "
                f"place(s)")
    return None


def narrowing(old, new):
    """Why changing ``old`` into ``new`` can lose data, or None when it cannot."""
    so, sn = old.type.info.storage, new.type.info.storage
    if so != sn and (so, sn) not in WIDENING:
        return f"{old.type.value} -> {new.type.value} converts stored values and may lose them"
    if shorter(old, new):
        return f"max length goes down from {old.storage_length} to {new.storage_length}"
    if so == sn == "decimal":
        if (new.max_digits - new.decimal_places) < (old.max_digits - old.decimal_places):
            return "fewer digits before the decimal point"
        if new.decimal_places < old.decimal_places:
            return f"decimal places go down from {old.decimal_places} to {new.decimal_places}"
    if so == "integer" and sn == "decimal" and new.max_digits - new.decimal_places < 19:
        return f"a decimal with {new.max_digits - new.decimal_places} integer digits may not hold every whole number"
    if so in ("integer", "decimal") and sn == "varchar" and (new.storage_length or 0) < 40:
        return "the text may be too short for the numbers"
    return None


class Planner:
    """Diff two specs into operations, asking ``probe`` about the data where safety depends on it."""

    def __init__(self, old, new, probe):
        self.old = old
        self.new = new
        self.probe = probe
        self.plan = Plan(old, new)
        self.renames = {}  # old entity name -> new name
        self.old_models = None  # models of the old spec, built when a rule's rows are counted
        self.counted = None  # the values the last lossy change refused counted (for the plan's grading)

    def add(self, op):
        self.plan.operations.append(op)

    def run(self):
        old_entities = {e.name: e for e in self.old.entities} if self.old else {}
        new_names = {e.name for e in self.new.entities}
        matched = {}
        for entity in self.new.entities:
            if entity.name in old_entities:
                matched[entity.name] = entity.name
        # Rule constraints go first and come back last, so no table is rebuilt with a constraint on
        # columns that are being changed.
        kept_checks = {}
        for name in matched:
            old_checks = self.checks(old_entities[name], self.old)
            new_checks = self.checks(self.new.entity(name), self.new)
            kept_checks[name] = old_checks
            for key, (rule, _) in old_checks.items():
                if key not in new_checks:
                    self.add(ops.DropRule(name, f"drop check constraint {key} on {old_entities[name].table} "
                                          f"(rule '{rule.name}')", rule=rule, name=key))
        for entity in self.new.entities:
            if entity.name in matched:
                continue
            if entity.renamed_from in old_entities and entity.renamed_from not in new_names:
                matched[entity.name] = entity.renamed_from
                self.renames[entity.renamed_from] = entity.name
                self.add(ops.RenameEntity(entity.name, f"rename table {old_entities[entity.renamed_from].table} -> "
                                          f"{entity.table} (renamed_from)", old=entity.renamed_from))
        for entity in self.new.entities:
            if entity.name not in matched:
                columns = len([f for f in entity.fields if f.type is not FieldType.REFS]) + 1
                bad = next((f for f in entity.fields if default_problem(f)), None)
                refusal = bad and _refuse("M008", f"'{entity.name}.{bad.name}': {default_problem(bad)}", bad,
                                          "fix the default or widen the field")
                refusal = refusal or next(filter(None, (self.index_refusal(entity, ix) for ix in entity.indexes)),
                                          None)
                self.add(ops.CreateEntity(entity.name, f"create table {entity.table} (entity '{entity.name}', "
                                          f"{columns} columns)", spec=entity, refusal=refusal or None,
                                          overridable=False))
        for entity in self.new.entities:
            if entity.name in matched:
                self.diff_entity(old_entities[matched[entity.name]], entity)
        for entity in self.new.entities:
            if entity.name in matched:
                old = old_entities[matched[entity.name]]
                for key, (rule, expr) in self.checks(entity, self.new).items():
                    if key not in kept_checks.get(entity.name, {}):
                        self.add_rule(old, entity, rule, expr, key)
        dropped = [e for name, e in old_entities.items() if name not in matched.values()]
        for entity in dropped:
            self.drop_entity(entity)
        return self.plan

    @staticmethod
    def checks(entity, spec):
        """{constraint name: (rule, Expr)} of the rules of ``entity`` that are CHECK constraints."""
        if not entity.rules:
            return {}
        from ..rules.compile import constraint_name, constraint_rules

        found = constraint_rules(entity, spec.entities)
        return {constraint_name(entity.name, rule): (rule, expr) for rule, expr in found}

    def add_rule(self, old, entity, rule, expr, name):
        """Add a rule's constraint; refused up front when stored rows break it (counted when the rule
        reads only columns the plan leaves as they are, else counted when the step runs)."""
        refusal = None
        if all(old.field(path) and old.field(path).stored and db_signature(old.field(path)) ==
               db_signature(entity.field(path)) for path in expr.paths):
            if self.old_models is None:
                self.old_models = build_models(self.old.entities, apps=new_apps())
            count = ops.rule_violations(self.old_models[old.name], expr)
            refusal = ops.rule_refusal(entity.name, rule, count) if count else None
        self.add(ops.AddRule(entity.name, f"add check constraint {name} on {entity.table} (rule '{rule.name}': "
                             f"{rule.when})", refusal=refusal, overridable=False, rule=rule, name=name, expr=expr))

    def drop_entity(self, entity):
        rows = self.probe.rows(entity)
        refusal = None
        if rows:
            refusal = _refuse("M002", f"dropping entity '{entity.name}' deletes its {rows} row(s)", entity,
                              "keep the entity, declare 'renamed_from' if it was renamed, or pass --allow-data-loss")
        self.add(ops.DropEntity(entity.name, f"drop table {entity.table} ({rows} rows)", loss=bool(rows),
                                refusal=refusal))

    def diff_entity(self, old, new):
        old_fields = {f.name: f for f in old.fields}
        new_names = set(new.field_names)
        matched = {}
        for f in new.fields:
            if f.name in old_fields:
                matched[f.name] = old_fields[f.name]
            elif f.renamed_from in old_fields and f.renamed_from not in new_names:
                matched[f.name] = old_fields[f.renamed_from]
        kept_old = {f.name for f in matched.values()}
        old_indexes = set(old.indexes)
        renamed_entity = old.name != new.name
        if not renamed_entity:
            for ix in old.indexes:
                if ix not in set(new.indexes) or any(n not in new_names or matched.get(n) is None
                                                     or matched[n].name != n for n in ix.fields):
                    self.add(ops.DropIndex(new.name, f"drop index on {old.table}({', '.join(ix.fields)})", index=ix))
                    old_indexes.discard(ix)
        else:
            old_indexes = set()
        for f in old.fields:
            if f.name not in kept_old:
                self.drop_field(new, f)
        for f in new.fields:
            if f.name not in matched:
                self.add_field(new, f)
        for f in new.fields:
            if f.name in matched:
                self.alter_field(new, matched[f.name], f)
        for ix in new.indexes:
            if ix not in old_indexes:
                self.add_index(new, ix)

    def index_refusal(self, entity, ix):
        """Refuse a unique index whose empty values must be equal where the database cannot do that."""
        if not ix.unique or ix.nulls_distinct or self.probe.sqlite:
            return None
        if self.probe.connection.features.supports_nulls_distinct_unique_constraints:
            return None
        return _refuse("M010", f"'{entity.name}' index on ({', '.join(ix.fields)}): this database cannot make "
                       "empty values equal in a unique index (PostgreSQL 15 or later can)", ix,
                       "upgrade PostgreSQL, or make the fields required and drop nulls_distinct")

    def add_index(self, entity, ix):
        kind = "unique index" if ix.unique else "index"
        if ix.unique and not ix.nulls_distinct:
            kind += " (empty values equal)"
        refusal = self.index_refusal(entity, ix)
        self.add(ops.AddIndex(entity.name, f"add {kind} on {entity.table}({', '.join(ix.fields)})", index=ix,
                              refusal=refusal, overridable=False))

    def drop_field(self, entity, f):
        filled = self.probe.filled(self._table_of(entity), f)
        refusal = None
        if filled and f.translation_of:
            language = f.name[len(f.translation_of) + 1:]
            refusal = _refuse("M001", f"removing the '{language}' translation of '{entity.name}.{f.translation_of}' "
                              f"deletes the values of {filled} row(s)", f,
                              "keep 'translate: true' and the language, or pass --allow-data-loss", loc=entity.loc)
        elif filled:
            refusal = _refuse("M001", f"dropping '{entity.name}.{f.name}' deletes the values of {filled} row(s)", f,
                              "keep the field, declare 'renamed_from' on its new name, or pass --allow-data-loss",
                              loc=entity.loc)
        self.add(ops.DropField(entity.name, f"drop column {entity.table}.{f.column} ({filled} rows hold a value)",
                               loss=bool(filled), refusal=refusal, field=f, values=filled))

    def _table_of(self, entity):
        """The entity as it is in the database now (before a rename of this plan)."""
        if self.old and entity.renamed_from and not self.old.entity(entity.name):
            return self.old.entity(entity.renamed_from)
        return entity

    def add_field(self, entity, f):
        text = f"add column {entity.table}.{f.column} ({f.type.value}"
        text += f", default {f.default!r})" if f.has_default else ")"
        if f.type is FieldType.REFS:
            text = f"create table {entity.table}_{f.name} (many refs '{entity.name}.{f.name}' -> '{f.to}')"
        refusal = None
        needs_value = (f.required and not f.has_default and f.type is not FieldType.REFS
                       and not (f.type.is_textual and not nullable(f) and not f.required))
        if needs_value:
            rows = self.probe.rows(self._table_of(entity))
            if rows:
                refusal = _refuse("M004", f"new required field '{entity.name}.{f.name}' has no value for the "
                                  f"{rows} existing row(s)", f, "give it a 'default:', or add it optional first, "
                                  "fill it, then make it required")
        if default_problem(f):
            refusal = _refuse("M008", f"'{entity.name}.{f.name}': {default_problem(f)}", f,
                              "fix the default or widen the field")
        self.add(ops.AddField(entity.name, text, refusal=refusal, overridable=False, field=f))

    def alter_field(self, entity, old, new):
        if old.to in self.renames:  # the target's table is renamed by this plan: the column stays
            old = dataclasses.replace(old, to=self.renames[old.to])
        rename = old.name != new.name
        if old == new and not rename:
            return
        table_entity = self._table_of(entity)
        refusal, overridable, loss = self.alter_refusal(table_entity, entity, old, new)
        values = self.counted if loss else None
        if db_signature(old) == db_signature(new) and not rename:
            # Labels, validators, choices: no DDL, but the state follows the spec.
            self.add(ops.AlterField(entity.name, f"update '{entity.name}.{new.name}' (no schema change)", loss=loss,
                                    refusal=refusal, overridable=overridable, old=old, new=new, db_change=False,
                                    values=values))
            return
        where = f"{entity.table}.{old.column}"
        parts = [f"rename column {where} -> {new.column}"] if rename and old.column != new.column else []
        changed = db_signature(dataclasses.replace(old, name=new.name)) != db_signature(new)
        if changed:
            parts.append(f"alter column {entity.table}.{new.column}: {self.describe_change(old, new)}")
        if rename and old.type is FieldType.REFS:
            parts = [f"rename table {entity.table}_{old.name} -> {entity.table}_{new.name}"]
        self.add(ops.AlterField(entity.name, "; ".join(parts) or f"update '{entity.name}.{new.name}'",
                                loss=loss, refusal=refusal, overridable=overridable, old=old, new=new,
                                values=values))

    def describe_change(self, old, new):
        changes = []
        if old.type is not new.type:
            changes.append(f"type {old.type.value} -> {new.type.value}")
        if old.storage_length != new.storage_length and new.storage_length:
            changes.append(f"length {old.storage_length} -> {new.storage_length}")
        if (old.max_digits, old.decimal_places) != (new.max_digits, new.decimal_places) and new.max_digits:
            changes.append(f"digits {old.max_digits},{old.decimal_places} -> {new.max_digits},{new.decimal_places}")
        if nullable(old) != nullable(new):
            changes.append("NOT NULL" if not nullable(new) else "NULL allowed")
        if old.unique != new.unique:
            changes.append("unique" if new.unique else "not unique")
        if old.indexed != new.indexed:
            changes.append("indexed" if new.indexed else "index dropped")
        if repr(db_default_of(old)) != repr(db_default_of(new)):
            changes.append("database default")
        if old.on_delete != new.on_delete:
            changes.append(f"on delete {old.on_delete} -> {new.on_delete}")
        return ", ".join(changes) or "constraints"

    def alter_refusal(self, table_entity, entity, old, new):
        """Return (refusal, overridable, loss) for changing ``old`` into ``new``."""
        name = f"'{entity.name}.{new.name}'"
        if (old.type in RELATIONS or new.type in RELATIONS) and (old.type is not new.type or old.to != new.to):
            return _refuse("M005", f"{name} cannot change from {old.type.value} to '{old.to}' into "
                           f"{new.type.value} to '{new.to}' in place", new,
                           "add a new field beside it, move the data, then drop the old one"), False, False
        problem = default_problem(new)
        if problem:
            return _refuse("M008", f"{name}: {problem}", new, "fix the default or widen the field"), False, False
        if old.language and new.language and old.language != new.language:
            # The column keeps its texts but would read them as another language (default_language changed).
            filled = self.probe.filled(table_entity, old)
            if filled:
                return _refuse("M005", f"{name} holds '{old.language}' texts in {filled} row(s); with "
                               f"'{new.language}' as the default language they would read as '{new.language}'",
                               new, "keep the default language, or move the texts first"), False, False
        reason = narrowing(old, new)
        if reason and shorter(old, new) and old.type.info.storage == new.type.info.storage:
            # Only the rows that are too long would lose characters (unused choices, short values).
            too_long = self.probe.longer_than(table_entity, old, new.storage_length)
            self.counted = too_long
            if too_long:
                return _refuse("M003", f"{name}: {reason} ({too_long} row(s) hold a longer text)", new,
                               "shorten those values first, or pass --allow-data-loss"), True, True
            reason = None
        if reason:
            filled = self.counted = self.probe.filled(table_entity, old)
            return _refuse("M003", f"{name}: {reason} ({filled} row(s) hold a value)", new,
                           "keep the wider type, or pass --allow-data-loss"), True, True
        if (old.type.info.storage, new.type.info.storage) == ("integer", "decimal") and self.probe.sqlite:
            rounded = self.counted = self.probe.beyond(table_entity, old, SQLITE_EXACT)
            if rounded:
                return _refuse("M009", f"{name}: {rounded} row(s) hold whole numbers beyond 2^53, which SQLite "
                               "stores as rounded floats in a decimal column", new,
                               "keep the integer type, or pass --allow-data-loss"), True, True
        removed = set(old.choice_values) - set(new.choice_values) if old.choices else set()
        if new.type is FieldType.CHOICE and old.type is not FieldType.CHOICE:
            removed = None
        if removed or removed is None:
            using = (self.probe.filled(table_entity, old) if removed is None
                     else self.probe.using(table_entity, old, sorted(removed)))
            self.counted = using
            if using:
                what = "values outside the new choices" if removed is None else f"removed choices {sorted(removed)}"
                return _refuse("M003", f"{name}: {using} row(s) hold {what}", new,
                               "map those rows to a kept value first, or pass --allow-data-loss"), True, True
        # An optional text stores '' for "no value": NULLs become '' and nothing is required.
        if nullable(old) and not nullable(new) and new.required and not (new.has_default and new.default is not None):
            nulls = self.probe.nulls(table_entity, old)
            if nulls:
                return _refuse("M004", f"{name} becomes required, but {nulls} row(s) have no value", new,
                               "give it a 'default:' to fill them, or fill them first"), False, False
        if new.unique and not old.unique:
            dups = self.probe.duplicates(table_entity, old)
            if dups:
                return _refuse("M005", f"{name} becomes unique, but {dups} value(s) occur more than once", new,
                               "make the values unique first"), False, False
        return None, True, False


def stored_view(spec):
    """``spec`` as the schema sees it: computed fields left out (they have no column), translated fields
    as one plain field per language (engine/content.py), so languages are columns like any other."""
    if spec is None or all(f.stored and not f.translations for e in spec.entities for f in e.fields):
        return spec
    entities = tuple(stored_fields(dataclasses.replace(e, fields=tuple(f for f in e.fields if f.stored)))
                     for e in spec.entities)
    return dataclasses.replace(spec, entities=entities)


def make_plan(old, new, connection):
    """Plan the operations from spec ``old`` (None: empty database) to spec ``new``."""
    return Planner(stored_view(old), stored_view(new), Probe(connection)).run()
