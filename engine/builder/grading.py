"""Grade a draft's plan for people: each step safe, caution or destructive, with the rows and values it
touches, and for a destructive step the sentence the admin ticks to confirm what is lost."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.db import connection

from ..migrate import operations as ops
from ..migrate.plan import Probe, db_signature

SAFE, CAUTION, DESTRUCTIVE = "safe", "caution", "destructive"


@dataclass
class Step:
    """One operation of the plan as the plan screen shows it."""

    key: str
    text: str
    grade: str
    rows: int | None = None
    values: int | None = None
    refusal: object = None  # Problem or None
    blocking: bool = False
    confirm: str | None = None

    @property
    def destructive(self):
        return self.grade == DESTRUCTIVE


@dataclass
class PlanView:
    """A draft's plan: from the version it is based on to the next number, graded."""

    base: int
    published: int
    number: int
    digest: str
    text: str
    steps: list = field(default_factory=list)
    plan: object = None  # the engine.migrate Plan

    @property
    def destructive(self):
        return [s for s in self.steps if s.destructive]

    @property
    def blocking(self):
        return [s for s in self.steps if s.blocking]

    @property
    def is_noop(self):
        return not self.steps

    @property
    def stale(self):
        return self.base != self.published


def _snake(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def step_key(op):
    """A key naming the step by what it changes (stable while the plan is the same)."""
    subject = op.entity
    for attr in ("field", "old"):
        value = getattr(op, attr, None)
        if getattr(value, "name", None):
            subject = f"{op.entity}.{value.name}"
            break
    index = getattr(op, "index", None)
    if getattr(index, "fields", None):
        subject = f"{op.entity}({','.join(index.fields)})"
    if getattr(op, "name", ""):
        subject = f"{op.entity}:{op.name}"
    return f"{_snake(type(op).__name__)}:{subject}"


def grade(op):
    """Return (grade, blocking) of an operation."""
    if op.refusal is not None and not op.overridable:
        return DESTRUCTIVE if op.loss else CAUTION, True
    if op.loss or op.refusal is not None:
        return DESTRUCTIVE, False
    if isinstance(op, (ops.CreateEntity, ops.AddField)):
        return SAFE, False
    if isinstance(op, ops.AddIndex):
        return (CAUTION if op.index.unique else SAFE), False
    if isinstance(op, ops.AlterField):
        if not op.db_change or (op.old.name == op.new.name and db_signature(op.old) == db_signature(op.new)):
            return SAFE, False
        return CAUTION, False
    return CAUTION, False  # renames, dropped empty columns or tables, indexes and constraints


class Counter:
    """Row and value counts of the tables a plan touches (one COUNT per table, asked once)."""

    def __init__(self, plan):
        self.plan = plan
        self.probe = Probe(connection)
        self.cache = {}

    def old_entity(self, op):
        old = self.plan.old
        if old is None:
            return None
        name = getattr(op, "old", None) if isinstance(op, ops.RenameEntity) else op.entity
        entity = old.entity(name) if isinstance(name, str) else None
        if entity is None and self.plan.new.entity(op.entity) is not None:
            renamed = self.plan.new.entity(op.entity).renamed_from
            entity = old.entity(renamed) if renamed else None
        return entity

    def rows(self, op):
        if isinstance(op, ops.CreateEntity):
            return None
        entity = self.old_entity(op)
        if entity is None:
            return None
        if entity.name not in self.cache:
            self.cache[entity.name] = self.probe.rows(entity)
        return self.cache[entity.name]

    def values(self, op, rows):
        if getattr(op, "values", None) is not None:
            return op.values
        if isinstance(op, ops.DropEntity) and rows:
            entity = self.old_entity(op)
            return sum(self.probe.filled(entity, f) for f in entity.fields if f.stored)
        return None


def confirm_text(op, rows, values):
    """The sentence naming what a destructive step loses."""
    where = f"{op.entity}.{op.field.name}" if getattr(op, "field", None) else op.entity
    if isinstance(op, ops.DropField):
        return f"Delete the {values or 0} stored value(s) of {where}"
    if isinstance(op, ops.DropEntity):
        return f"Delete {op.entity} with its {rows or 0} row(s) ({values or 0} stored value(s))"
    if isinstance(op, ops.AlterField):
        reason = op.refusal.message if op.refusal else "the change can lose values"
        return f"Change {op.entity}.{op.new.name} although values can be lost: {reason}"
    return f"Run '{op.text}' although it can lose data"


def grade_plan(plan, base, published):
    """The ``PlanView`` of ``plan`` (from version ``published`` to the next) for a draft based on ``base``."""
    number = published + 1
    counter = Counter(plan)
    steps, seen = [], {}
    for op in plan.operations:
        key = step_key(op)
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            key = f"{key}#{seen[key]}"
        level, blocking = grade(op)
        rows = counter.rows(op)
        values = counter.values(op, rows) if level == DESTRUCTIVE else getattr(op, "values", None)
        confirm = confirm_text(op, rows, values) if level == DESTRUCTIVE and not blocking else None
        steps.append(Step(key, op.text, level, rows, values, op.refusal, blocking, confirm))
    return PlanView(base=base, published=published, number=number, digest=plan.digest(published, number),
                    text=plan.describe(published, number), steps=steps, plan=plan)
