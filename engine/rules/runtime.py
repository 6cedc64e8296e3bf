"""The rules inside the one write path: hooks of ``engine.writes`` for every create and update.

- "prepare": a new row gets its expression defaults (fields not given) and its sequence numbers;
- "validate": rules that read only the row's own fields are evaluated on its values (before the write);
- "lock": the parent rows that rules over related rows count are locked (``select_for_update``), in
  a stable order, so concurrent writers of one excursion's bookings take turns on PostgreSQL;
- "check": after the write, in the transaction, the other rules are evaluated in SQL against the
  stored rows (aggregates see every committed row and this one); a failing rule rolls back the write.

Whatever a row comes from (page, API, admin, import, a timer), it passes here, so a rule cannot be
bypassed by choosing another door.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field

from django.utils.translation import get_language, gettext

from ..expr import env_for
from ..expr.run import pk_of
from ..fieldtypes import FieldType
from ..writes import ReadOnlyField, RuleViolation
from ..writes.hooks import register
from . import sequences
from .compile import default_expr, own_columns, rule_expr
from .computed import refresh

WRITES = ("create", "update")


@dataclass
class EntityRules:
    """What the rules of one entity need at run time, compiled once per built version."""

    local: list = field(default_factory=list)  # [(rule, Expr)] evaluated on the row's own values
    stored: list = field(default_factory=list)  # [(rule, Expr)] evaluated in SQL after the write
    locks: tuple = ()  # ref fields whose target rows are locked before the write
    defaults: list = field(default_factory=list)  # [(FieldSpec, Expr)]
    sequences: list = field(default_factory=list)  # [FieldSpec]
    engine_filled: frozenset = frozenset()  # computed and numbered fields: never taken from input

    @property
    def empty(self):
        return not (self.local or self.stored or self.defaults or self.sequences or self.engine_filled)


_compiled = weakref.WeakKeyDictionary()  # built version -> {entity name: EntityRules}


def rules_of(built, entity):
    """The compiled ``EntityRules`` of ``entity`` (an ``EntitySpec``) in ``built``."""
    per_version = _compiled.setdefault(built, {})
    if entity.name not in per_version:
        per_version[entity.name] = compile_entity(built.spec, entity)
    return per_version[entity.name]


def compile_entity(spec, entity):
    found = EntityRules()
    for rule in entity.rules:
        expr = rule_expr(spec, entity, rule)
        if own_columns(entity, expr):
            found.local.append((rule, expr))
        else:
            found.stored.append((rule, expr))
    found.locks = tuple(sorted({step for _, expr in found.stored for step in parent_steps(spec, entity, expr)}))
    for f in entity.fields:
        if f.default_expr is not None:
            found.defaults.append((f, default_expr(spec, entity, f)))
        if f.sequence is not None:
            found.sequences.append(f)
    found.engine_filled = frozenset(f.name for f in entity.fields if not f.stored or f.sequence is not None)
    return found


def parent_steps(spec, entity, expr):
    """The ref fields of ``entity`` through which ``expr`` counts related rows (``excursion`` in
    ``sum(excursion.booking.seats) <= excursion.capacity``): the rows to lock before a write."""
    steps = set()
    for path in expr.paths:
        parts = path.split(".")
        f = entity.field(parts[0])
        if f is None or f.type is not FieldType.REF or len(parts) < 3:
            continue
        target = spec.entity(f.to)
        if target is not None and target.field(parts[1]) is None:  # a to-many step from the parent
            steps.add(f.name)
    return steps


def message(built, rule):
    return rule.message.get(get_language(), built.spec.default_language)


def raise_for(built, failed):
    """Raise one ``RuleViolation`` with the message of every failed rule on its field (or the whole row)."""
    if not failed:
        return
    fields, general = {}, []
    for rule in failed:
        (fields.setdefault(rule.field, []) if rule.field else general).append(message(built, rule))
    raise RuleViolation(" ".join(general), fields=fields, code="rule")


def own_values(ctx):
    """The row's own stored values, as plain values (a ref as the id it holds)."""
    return {f.name: getattr(ctx.obj, attname(f), None) for f in ctx.entity.fields
            if f.stored and f.type is not FieldType.REFS}


def attname(f):
    return f"{f.name}_id" if f.type is FieldType.REF else f.name


def prepare(ctx):
    if ctx.action not in WRITES:
        return
    rules = rules_of(ctx.built, ctx.entity)
    given = sorted(rules.engine_filled & set(ctx.data))
    if given:
        raise ReadOnlyField(fields={name: [gettext("This value is filled in by the system.")] for name in given},
                            code="computed")
    if ctx.action != "create":
        return
    for f, expr in rules.defaults:  # a value from the input or the role's `set:` wins
        if getattr(ctx.obj, attname(f)) in (None, ""):
            value = pk_of(expr.evaluate(ctx.env, {}, None))
            if value is not None:
                setattr(ctx.obj, attname(f), value)
    for f in rules.sequences:
        setattr(ctx.obj, f.name, sequences.take(ctx.entity.name, f.name, f.sequence, ctx.env.today))


def applies(rule, expr, ctx):
    """Whether the write is one the rule is about: a create, or a change (an update or a transition)
    of a field the rule reads. A change elsewhere cannot make the rule false, and a row stored before
    the rule existed can still be cancelled or corrected."""
    if ctx.action == "create":
        return "create" in rule.on
    if "update" not in rule.on:
        return False
    return bool(reads(expr) & ctx.changed)


def reads(expr):
    """Every name along the paths ``expr`` reads (a field of this row, or of related rows of this entity)."""
    return {part for path in expr.paths for part in path.split(".")}


def validate(ctx):
    if ctx.action == "delete":
        return
    rules = rules_of(ctx.built, ctx.entity)
    if rules.local:
        row = own_values(ctx)
        raise_for(ctx.built, [rule for rule, expr in rules.local
                              if applies(rule, expr, ctx) and not expr.evaluate(ctx.env, row, ctx.old)])


def lock(ctx):
    if ctx.action == "delete":
        return
    rules = rules_of(ctx.built, ctx.entity)
    targets = []
    for name in rules.locks:
        pk = getattr(ctx.obj, f"{name}_id", None)
        if pk is not None:
            model = ctx.model._meta.get_field(name).related_model
            targets.append((model._meta.db_table, pk, model))
    for _, pk, model in sorted(targets, key=lambda t: (t[0], t[1])):
        # FOR NO KEY UPDATE: writers of one parent's children take turns, while rows that merely
        # reference the parent (a plain insert's foreign key check) are not held up.
        list(model._base_manager.select_for_update(no_key=True).filter(pk=pk).values_list("pk", flat=True))


def check(ctx):
    if ctx.action == "delete":
        return
    rules = rules_of(ctx.built, ctx.entity)
    failed = []
    for rule, expr in rules.stored:
        if not applies(rule, expr, ctx):
            continue
        if expr.sql_able:
            ok = expr.holds(ctx.env, ctx.model, ctx.obj.pk)
        else:
            ok = expr.evaluate(ctx.env, expr.read(ctx.env, ctx.model, ctx.obj.pk), ctx.old)
        if not ok:
            failed.append(rule)
    raise_for(ctx.built, failed)
    refresh(ctx.obj)


def initial_values(access, entity):
    """The values a create form starts with: each ``default_expr`` evaluated for ``access``'s user."""
    built = access.policy.built
    rules = rules_of(built, built.spec.entity(entity))
    if not rules.defaults:
        return {}
    env = env_for(access)
    values = {}
    for f, expr in rules.defaults:
        value = pk_of(expr.evaluate(env, {}, None))
        if value is not None:
            values[f.name] = value
    return values


register("prepare", prepare)
register("validate", validate)
register("lock", lock)
register("check", check)
