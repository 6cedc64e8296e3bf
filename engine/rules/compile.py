"""The rules' expressions compiled against the entity specs, and what the built models make of them.

Row-local rules (they read only the row's own columns) become database CHECK constraints; computed
fields become annotations of the model's default manager, ordered so a computed field may use another.
"""
from __future__ import annotations

import hashlib

from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, models
from django.db.models import BooleanField, ExpressionWrapper, Q, Value
from django.db.models.functions import Coalesce
from django.utils.translation import get_language

from ..expr import Env, ExprError, compile_expr
from ..expr.types import field_type
from ..spec import Label, SolutionSpec

BOTH = frozenset({"create", "update"})


def solution_of(entities):
    """A solution spec holding only ``entities``: enough to compile what reads entities and fields."""
    return SolutionSpec(name="build", label=Label(), languages=("en",), default_language="en",
                        entities=tuple(entities))


def rule_expr(spec, entity, rule):
    """The rule's condition as a boolean ``Expr``; raise ``ExprError``."""
    return compile_expr(rule.when, spec=spec, entity=entity.name, kind="bool", allow_old=True)


def computed_expr(spec, entity, f):
    """The computed field's value as an ``Expr``; raise ``ExprError``."""
    return compile_expr(f.computed, spec=spec, entity=entity.name, kind="value", expect=field_type(f))


def default_expr(spec, entity, f):
    """The field's default as an ``Expr`` (a new row has no values yet: ``row`` is not available)."""
    return compile_expr(f.default_expr, spec=spec, entity=entity.name, kind="value", allow_row=False,
                        expect=field_type(f))


def own_columns(entity, expr):
    """Whether ``expr`` reads nothing but stored fields of the row itself."""
    stored = {f.name for f in entity.fields if f.stored}
    return all("." not in path and path in stored for path in expr.paths)


def is_constraint(entity, rule, expr):
    """Whether ``rule`` holds for every row at all times and SQL can say so: a CHECK constraint."""
    return set(rule.on) >= BOTH and expr.row_local and not expr.uses_old and own_columns(entity, expr)


def constraint_rules(entity, entities):
    """The rules of ``entity`` that are CHECK constraints, as (rule, Expr) pairs."""
    if not entity.rules:
        return []
    spec = solution_of(entities)
    found = []
    for rule in entity.rules:
        try:
            expr = rule_expr(spec, entity, rule)
        except ExprError:
            continue  # reported by the checks; the build only needs the ones that compile
        if is_constraint(entity, rule, expr):
            found.append((rule, expr))
    return found


def constraint_name(entity_name, rule):
    """A stable name under 30 characters, new whenever the condition changes (so the plan replaces it)."""
    digest = hashlib.sha1(f"{entity_name}:{rule.name}:{rule.when}".encode()).hexdigest()[:8]  # noqa: S324
    return f"{entity_name[:10]}_{rule.name[:8]}_c{digest}"


def sql_condition(expr):
    """The CHECK condition of ``expr``: an unknown (NULL) result fails, as the rule does when evaluated."""
    return Q(Coalesce(ExpressionWrapper(expr.q(Env()), output_field=BooleanField()), Value(False)))


class RuleConstraint(models.CheckConstraint):
    """A rule as a CHECK constraint; a violation found by ``full_clean`` is shown on the rule's field."""

    def __init__(self, *, name, condition, field=None, message=None, default_language="en", **kwargs):
        super().__init__(name=name, condition=condition, violation_error_code="rule", **kwargs)
        self.field = field
        self.message = message or Label()
        self.default_language = default_language

    def get_violation_error_message(self):
        return self.message.get(get_language(), self.default_language) or super().get_violation_error_message()

    def validate(self, model, instance, exclude=None, using=DEFAULT_DB_ALIAS):
        try:
            super().validate(model, instance, exclude=exclude, using=using)
        except ValidationError as exc:
            if self.field:
                raise ValidationError({self.field: [exc]}) from None
            raise

    def deconstruct(self):
        path, args, kwargs = super().deconstruct()
        kwargs.pop("violation_error_code", None)
        kwargs.update(field=self.field, message=self.message, default_language=self.default_language)
        return path, args, kwargs

    def __eq__(self, other):
        return super().__eq__(other) and (self.field, self.message) == (other.field, other.message)

    __hash__ = models.CheckConstraint.__hash__


def rule_constraints(entity, entities, lang):
    """The ``RuleConstraint`` of each row-local rule of ``entity``."""
    return [RuleConstraint(name=constraint_name(entity.name, rule), condition=sql_condition(expr), field=rule.field,
                           message=rule.message, default_language=lang)
            for rule, expr in constraint_rules(entity, entities)]


def computed_exprs(entity, entities):
    """[(FieldSpec, Expr)] of the computed fields of ``entity``, each after the computed fields it reads."""
    computed = [f for f in entity.fields if not f.stored]
    if not computed:
        return []
    spec = solution_of(entities)
    exprs = {}
    for f in computed:
        try:
            exprs[f.name] = (f, computed_expr(spec, entity, f))
        except ExprError:
            continue  # reported by the checks
    ordered, seen = [], set()

    def visit(name, trail):
        if name in seen or name in trail or name not in exprs:
            return  # a cycle is reported by the checks
        for path in exprs[name][1].paths:
            visit(path.split(".")[0], (*trail, name))
        seen.add(name)
        ordered.append(exprs[name])

    for name in exprs:
        visit(name, ())
    return ordered
