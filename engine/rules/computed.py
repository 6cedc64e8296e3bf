"""Computed fields on the built models: annotated by the default manager, so every read has them.

A list of any length then costs the same number of queries as without them (aggregates over related
rows are correlated subqueries). A row that did not come through the manager (a ref followed from
another row, a row just saved) computes its values with one query when first asked.
"""
from __future__ import annotations

from django.db import models

from ..expr import Env


class ComputedQuerySet(models.QuerySet):
    """Rows with their computed fields; the values are computed at the moment the query runs."""

    def select_for_update(self, nowait=False, skip_locked=False, of=(), no_key=False):
        """Lock the rows of this table only: a computed value may join other tables through an outer
        join, whose nullable side PostgreSQL refuses to lock."""
        return super().select_for_update(nowait=nowait, skip_locked=skip_locked, of=of or ("self",), no_key=no_key)


class ComputedManager(models.Manager.from_queryset(ComputedQuerySet)):
    """The default manager of a model with computed fields (``model._computed``: [(name, Expr)])."""

    def get_queryset(self):
        queryset = super().get_queryset()
        env = Env(built=self.model._computed_built)
        return queryset.annotate(**{name: expr.orm(env) for name, expr in self.model._computed})


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
    names = [name for name, _ in getattr(model, "_computed", ())]
    if names and obj.pk is not None:
        values = model._default_manager.filter(pk=obj.pk).values(*names).first() or {}
        obj.__dict__.update(values)
