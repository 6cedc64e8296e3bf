"""Computed fields on the built models: annotated by the default manager, so every read has them.

A list of any length then costs the same number of queries as without them (aggregates over related
rows are correlated subqueries). A row that did not come through the manager (a ref followed from
another row, a row just saved) computes its values with one query when first asked.
"""
from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models.functions import Cast

from ..expr import Env
from ..fieldtypes import FieldType


class ComputedQuerySet(models.QuerySet):
    """Rows with their computed fields; the values are computed at the moment the query runs."""

    def select_for_update(self, nowait=False, skip_locked=False, of=(), no_key=False):
        """Lock the rows of this table only: a computed value may join other tables through an outer
        join, whose nullable side PostgreSQL refuses to lock."""
        return super().select_for_update(nowait=nowait, skip_locked=skip_locked, of=of or ("self",), no_key=no_key)


class ComputedManager(models.Manager.from_queryset(ComputedQuerySet)):
    """The default manager of a model with computed fields (``model._computed``: [(FieldSpec, Expr)])."""

    def get_queryset(self):
        queryset = super().get_queryset()
        env = Env(built=self.model._computed_built)
        return queryset.annotate(**{f.name: typed(f, expr.orm(env)) for f, expr in self.model._computed})


class Decimals(models.DecimalField):
    """A decimal read with the field's decimal places: SQLite hands computed numbers back as they come
    (``21`` for 21.00), PostgreSQL rounds them in the cast."""

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        return Decimal(str(value)).quantize(Decimal(1).scaleb(-self.decimal_places))


def typed(f, expression):
    """``expression`` as the field's type: numbers with the field's decimal places (money reads ``21.00``
    on every database), whole numbers as integers."""
    if f.type in (FieldType.DECIMAL, FieldType.MONEY):
        return Cast(expression, Decimals(max_digits=f.max_digits, decimal_places=f.decimal_places))
    if f.type is FieldType.INTEGER:
        return Cast(expression, models.BigIntegerField())
    return expression


class ComputedValue:
    """The attribute of a computed field: the annotated value, else computed with one query.

    It has no ``__set__``: the value a query annotates lands in the instance's ``__dict__`` and wins,
    and a model cannot be made with a value for it (``Model(total=1)`` is a TypeError).
    """

    def __init__(self, name):
        self.name = name

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        if obj.pk is None:
            return None
        value = owner._default_manager.filter(pk=obj.pk).values_list(self.name, flat=True).first()
        obj.__dict__[self.name] = value
        return value


def refresh(obj):
    """Compute ``obj``'s computed fields again (after a write changed what they read)."""
    model = type(obj)
    names = [f.name for f, _ in getattr(model, "_computed", ())]
    if names and obj.pk is not None:
        values = model._default_manager.filter(pk=obj.pk).values(*names).first() or {}
        obj.__dict__.update(values)
