"""Computed fields in the REST API: typed read-only serializer fields (so the OpenAPI schema says what
they hold) and filters over the annotated values (numbers and dates by range, others by equality)."""
from __future__ import annotations

import django_filters
from rest_framework import serializers

from ..fieldtypes import FieldType

RANGE = ("exact", "gt", "gte", "lt", "lte")
BIGINT = {"min_value": -(2**63), "max_value": 2**63 - 1}  # a bigger number is a 400, not a database error


def serializer_field(f):
    """The read-only serializer field of computed field ``f``."""
    kwargs = {"read_only": True}
    if f.type in (FieldType.DECIMAL, FieldType.MONEY):
        return serializers.DecimalField(max_digits=f.max_digits, decimal_places=f.decimal_places, **kwargs)
    simple = {FieldType.INTEGER: serializers.IntegerField, FieldType.BOOLEAN: serializers.BooleanField,
              FieldType.DATE: serializers.DateField, FieldType.DATETIME: serializers.DateTimeField,
              FieldType.TIME: serializers.TimeField, FieldType.EMAIL: serializers.EmailField,
              FieldType.URL: serializers.URLField}
    return simple.get(f.type, serializers.CharField)(**kwargs)


def serializer_fields(entity, names, describe):
    """{name: read-only field} of the computed fields of ``entity`` among ``names``."""
    found = {}
    for name in names:
        f = entity.field(name)
        if f is not None and not f.stored:
            found[name] = serializer_field(f)
            found[name].help_text = describe(name)
    return found


def filters(entity, names):
    """{parameter: filter} over the computed fields of ``entity`` among ``names`` (``total__gte=10``)."""
    found = {}
    for name in names:
        f = entity.field(name)
        if f is None or f.stored:
            continue
        extra = BIGINT if f.type is FieldType.INTEGER else {}
        if f.type.is_numeric:
            cls, lookups = django_filters.NumberFilter, RANGE
        elif f.type in (FieldType.DATE, FieldType.DATETIME, FieldType.TIME):
            cls = {FieldType.DATE: django_filters.DateFilter, FieldType.DATETIME: django_filters.IsoDateTimeFilter,
                   FieldType.TIME: django_filters.TimeFilter}[f.type]
            lookups = RANGE
        elif f.type is FieldType.BOOLEAN:
            cls, lookups = django_filters.BooleanFilter, ("exact",)
        else:
            cls, lookups = django_filters.CharFilter, ("exact",)
        for lookup in lookups:
            found[name if lookup == "exact" else f"{name}__{lookup}"] = cls(field_name=name, lookup_expr=lookup,
                                                                             **extra)
    return found
