"""Schema operations between two solution specs, each run with Django's schema editor.

An operation knows how it changes the *state* (the entity specs the database holds) and how
to change the database: it gets the models built from the state before it and after it, as a
Django migration operation gets ``from_state`` and ``to_state``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from django.contrib.contenttypes.models import ContentType

from ..build.models import APP_LABEL
from ..errors import Problem


@dataclass
class Operation:
    """One step of a plan. ``loss`` marks steps that can lose data; ``refusal`` blocks the plan."""

    entity: str
    text: str
    loss: bool = False
    refusal: Problem | None = None
    overridable: bool = True  # whether --allow-data-loss lifts the refusal
    symbol = "~"

    def mutate(self, state):
        return state

    def run(self, editor, before, after):
        raise NotImplementedError

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
            if name == self.old:
                entity = dataclasses.replace(entity, name=self.entity, renamed_from=None, indexes=())
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
        return _find_name(model, self.index)


@dataclass
class DropIndex(Operation):
    index: object = None

    def mutate(self, state):
        entity = state[self.entity]
        kept = tuple(ix for ix in entity.indexes if ix != self.index)
        return _replace_entity(state, self.entity, dataclasses.replace(entity, indexes=kept))

    def run(self, editor, before, after):
        model = before[self.entity]
        name = _find_name(model, self.index)
        for index in model._meta.indexes:
            if index.name == name:
                editor.remove_index(model, index)
        for constraint in model._meta.constraints:
            if constraint.name == name:
                editor.remove_constraint(model, constraint)


def _find_name(model, index):
    from ..build.models import index_name

    return index.name or index_name(model.spec.name, index.fields, index.unique)


@dataclass
class AddField(Operation):
    field: object = None
    symbol = "+"

    def mutate(self, state):
        entity = state[self.entity]
        return _replace_entity(state, self.entity, _with_fields(entity, [*entity.fields, self.field]))

    def run(self, editor, before, after):
        model = after[self.entity]
        editor.add_field(model, model._meta.get_field(self.field.name))


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
        editor.alter_field(before[self.entity], old_field, new_field)

