"""Schema operations between two solution specs, each run with Django's schema editor.

An operation knows how it changes the *state* (the entity specs the database holds) and how
to change the database: it gets the models built from the state before it and after it, as a
Django migration operation gets ``from_state`` and ``to_state``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from django.contrib.contenttypes.models import ContentType
from django.db import models

from ..build.models import APP_LABEL
from ..errors import Problem
from .apply import MigrationError


@dataclass
class Operation:
    """One step of a plan. ``loss`` marks steps that can lose data; ``refusal`` blocks the plan."""

    entity: str
    text: str
    loss: bool = False
    refusal: Problem | None = None
    overridable: bool = True  # whether --allow-data-loss lifts the refusal
    values: int | None = None  # stored values the step loses or must convert, as the planner counted them
    symbol = "~"

    def mutate(self, state):
        return state

    def run(self, editor, before, after):
        raise NotImplementedError

    def where(self, plan):
        """The YAML place this step came from: its field, index or entity in the new (or old) spec."""
        for name in ("new", "field", "index", "spec"):
            loc = getattr(getattr(self, name, None), "loc", None)
            if loc and loc.file:
                return loc
        for spec in (plan.new, plan.old):
            entity = spec.entity(self.entity) if spec else None
            if entity is not None:
                return entity.loc
        return None

    def line(self):
        mark = "!" if self.loss or self.refusal else self.symbol
        text = f"  {mark} {self.text}"
        if self.refusal:
            _, message, hint = self.refusal.shown
            text += f"\n      {self.refusal.id}: {message}"
            if hint:
                text += f" ({hint})"
        return text


def _replace_entity(state, name, entity):
    new = dict(state)
    new[name] = entity
    return new


def _with_fields(entity, fields):
    return dataclasses.replace(entity, fields=tuple(fields))


@dataclass
class CreateEntity(Operation):
    spec: object = None
    symbol = "+"

    def mutate(self, state):
        return _replace_entity(state, self.entity, self.spec)

    def run(self, editor, before, after):
        editor.create_model(after[self.entity])


@dataclass
class DropEntity(Operation):
    def mutate(self, state):
        new = dict(state)
        del new[self.entity]
        return new

    def run(self, editor, before, after):
        editor.delete_model(before[self.entity])


@dataclass
class RenameEntity(Operation):
    """Rename a table, its many-ref tables and the many-ref columns named after it."""

    old: str = ""

    def mutate(self, state):
        new = {}
        for name, entity in state.items():
            fields = [dataclasses.replace(f, to=self.entity) if f.to == self.old else f for f in entity.fields]
            entity = _with_fields(entity, fields)
            if name == self.old:  # its indexes and rule constraints are dropped, and made again after
                entity = dataclasses.replace(entity, name=self.entity, renamed_from=None, indexes=(), rules=())
                name = self.entity
            new[name] = entity
        return new

    def run(self, editor, before, after):
        old_model, new_model = before[self.old], after[self.entity]
        for index in old_model._meta.indexes:
            editor.remove_index(old_model, index)
        for constraint in old_model._meta.constraints:
            editor.remove_constraint(old_model, constraint)
        editor.alter_db_table(new_model, old_model._meta.db_table, new_model._meta.db_table)
        for name, model in after.items():
            old_name = self.old if name == self.entity else name
            for field in model._meta.local_many_to_many:
                old_field = before[old_name]._meta.get_field(field.name)
                _sync_through(editor, old_field.remote_field.through, field.remote_field.through)
        ContentType.objects.filter(app_label=APP_LABEL, model=old_model._meta.model_name).update(
            model=new_model._meta.model_name)
        ContentType.objects.clear_cache()


def _boolean_to_integer(editor, model, old_field, new_field):
    """Turn a boolean column into an integer one on PostgreSQL (1/0), which has no boolean-to-bigint cast;
    return a field standing for the column as it is now, for Django to make the remaining changes."""
    table, column = editor.quote_name(model._meta.db_table), editor.quote_name(old_field.column)
    editor.execute(f"ALTER TABLE {table} ALTER COLUMN {column} DROP DEFAULT")
    editor.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE bigint "
                   f"USING CASE WHEN {column} THEN 1 WHEN NOT {column} THEN 0 END")
    _, _, args, kwargs = new_field.deconstruct()
    kwargs.update(null=old_field.null, unique=old_field.unique, db_index=old_field.db_index)
    kwargs.pop("db_default", None)
    interim = type(new_field)(*args, **kwargs)
    interim.set_attributes_from_name(old_field.name)
    interim.model = model
    return interim


def _sync_through(editor, old_through, new_through):
    """Rename a many-ref table and its columns when the names they derive from changed."""
    old_table, new_table = old_through._meta.db_table, new_through._meta.db_table
    if old_table != new_table:
        editor.alter_db_table(new_through, old_table, new_table)
    old_fields = [f for f in old_through._meta.local_fields if f.remote_field]
    new_fields = [f for f in new_through._meta.local_fields if f.remote_field]
    for old_f, new_f in zip(old_fields, new_fields, strict=True):
        if old_f.column != new_f.column:
            editor.alter_field(new_through, old_f, new_f)


@dataclass
class AddIndex(Operation):
    index: object = None
    symbol = "+"

    def mutate(self, state):
        entity = state[self.entity]
        return _replace_entity(state, self.entity, dataclasses.replace(entity, indexes=(*entity.indexes, self.index)))

    def run(self, editor, before, after):
        model = after[self.entity]
        for item in [*model._meta.indexes, *model._meta.constraints]:
            if item.name == self.index_name(model):
                if item in model._meta.indexes:
                    editor.add_index(model, item)
                else:
                    editor.add_constraint(model, item)

    def index_name(self, model):
        return _find_name(self.entity, self.index)


@dataclass
class DropIndex(Operation):
    index: object = None

    def mutate(self, state):
        entity = state[self.entity]
        kept = tuple(ix for ix in entity.indexes if ix != self.index)
        return _replace_entity(state, self.entity, dataclasses.replace(entity, indexes=kept))

    def run(self, editor, before, after):
        model = before[self.entity]
        name = _find_name(self.entity, self.index)
        for index in model._meta.indexes:
            if index.name == name:
                editor.remove_index(model, index)
        for constraint in model._meta.constraints:
            if constraint.name == name:
                editor.remove_constraint(model, constraint)


def _find_name(entity_name, index):
    """The database name of ``index`` (the entity's name, not a model attribute a field could shadow)."""
    from ..build.models import index_name

    return index.name or index_name(entity_name, index.fields, index.unique)


@dataclass
class AddField(Operation):
    field: object = None
    symbol = "+"

    def mutate(self, state):
        entity = state[self.entity]
        return _replace_entity(state, self.entity, _with_fields(entity, [*entity.fields, self.field]))

    def run(self, editor, before, after):
        # As Django's AddField: the model before the change, the field after it. Given the model after
        # it, SQLite's table copy selects the new column from the old table, where a double-quoted
        # name that does not exist reads as a string literal: rows got the column's name as value.
        editor.add_field(before[self.entity], after[self.entity]._meta.get_field(self.field.name))


@dataclass
class DropField(Operation):
    field: object = None

    def mutate(self, state):
        entity = state[self.entity]
        return _replace_entity(state, self.entity,
                               _with_fields(entity, [f for f in entity.fields if f.name != self.field.name]))

    def run(self, editor, before, after):
        model = before[self.entity]
        editor.remove_field(model, model._meta.get_field(self.field.name))


@dataclass
class AlterField(Operation):
    """Change a field in place: rename (``old`` differs) and/or change its type or constraints."""

    old: object = None
    new: object = None
    db_change: bool = True

    def mutate(self, state):
        entity = state[self.entity]
        fields = [self.new if f.name == self.old.name else f for f in entity.fields]
        return _replace_entity(state, self.entity, _with_fields(entity, fields))

    def run(self, editor, before, after):
        if not self.db_change:
            return
        old_field = before[self.entity]._meta.get_field(self.old.name)
        new_field = after[self.entity]._meta.get_field(self.new.name)
        if editor.connection.vendor == "postgresql" and isinstance(old_field, models.BooleanField) \
                and isinstance(new_field, models.IntegerField):
            old_field = _boolean_to_integer(editor, before[self.entity], old_field, new_field)
        editor.alter_field(before[self.entity], old_field, new_field)



def rule_violations(model, expr):
    """How many rows of ``model``'s table break the rule ``expr`` as its CHECK constraint would."""
    from ..rules.compile import sql_condition

    return model._base_manager.filter(~sql_condition(expr)).count()


def rule_refusal(entity, rule, count):
    """The refusal of a rule whose constraint ``count`` stored rows break (``cabinet.M020``)."""
    return Problem("M020", f"rule '{entity}.{rule.name}' ({rule.when}) does not hold for {count} existing row(s), "
                   "so its CHECK constraint cannot be added", rule.loc,
                   "correct those rows first (they are the ones the condition is false for), or change the rule")


@dataclass
class AddRule(Operation):
    """Add a row-local rule's CHECK constraint, after checking the stored rows meet it."""

    rule: object = None
    name: str = ""
    expr: object = None
    symbol = "+"

    def mutate(self, state):
        entity = state[self.entity]
        return _replace_entity(state, self.entity, dataclasses.replace(entity, rules=(*entity.rules, self.rule)))

    def run(self, editor, before, after):
        # Counted again here: the plan cannot count the rows when the rule reads a column this same
        # plan adds or changes. The refusal rolls the whole migration back.
        count = rule_violations(before[self.entity], self.expr)
        if count:
            raise MigrationError([rule_refusal(self.entity, self.rule, count)])
        model = after[self.entity]
        editor.add_constraint(model, next(c for c in model._meta.constraints if c.name == self.name))

    def where(self, plan):
        return self.rule.loc if self.rule.loc.file else super().where(plan)


@dataclass
class DropRule(Operation):
    """Drop the CHECK constraint of a rule that was removed, changed or no longer row-local."""

    rule: object = None
    name: str = ""

    def mutate(self, state):
        entity = state[self.entity]
        kept = tuple(r for r in entity.rules if r != self.rule)
        return _replace_entity(state, self.entity, dataclasses.replace(entity, rules=kept))

    def run(self, editor, before, after):
        # The model after the step: SQLite drops a CHECK constraint by rebuilding the table from it.
        constraint = next(c for c in before[self.entity]._meta.constraints if c.name == self.name)
        editor.remove_constraint(after[self.entity], constraint)
