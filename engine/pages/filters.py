"""Filters of list pages: choices, yes/no, refs (rows in the reader's scope), number and date ranges.

A filter names a field or a path (``filters: [status, stay.guest, total, ordered_at]``). What the reader
may not see is not offered; a value that does not parse is ignored (the page stays 200), so a filter
URL can never fail the page. Along a path, rows out of the reader's scope at a hop never match, so a
filter cannot probe values the reader may not see.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

from ..display import Refs, row_title
from ..fieldtypes import FieldType
from . import params
from .base import label
from .paths import PathError, resolve

NUMBERS = (FieldType.INTEGER, FieldType.DECIMAL, FieldType.MONEY)
DATES = (FieldType.DATE, FieldType.DATETIME)
SELECTS = (FieldType.CHOICE, FieldType.BOOLEAN, FieldType.REF)
FILTERABLE = (*SELECTS, *NUMBERS, *DATES)
REF_OPTIONS = 200  # a ref filter offers at most this many rows (the reader's scope, in the entity's order)
LARGEST = Decimal(10) ** 15  # numbers beyond this cannot be meant; ignored rather than sent to the database


@dataclass
class Filter:
    """One filter as drawn: its kind (select, range), inputs and the values chosen."""

    name: str
    label: str
    kind: str  # "select", "number" or "date"
    options: list = field(default_factory=list)
    value: str = ""
    low: str = ""
    high: str = ""
    input_type: str = "number"

    @property
    def active(self):
        return bool(self.value or self.low or self.high)

    @property
    def params(self):
        """The query parameter names this filter reads."""
        if self.kind == "select":
            return (self.name,)
        suffixes = ("min", "max") if self.kind == "number" else ("from", "to")
        return tuple(f"{self.name}_{s}" for s in suffixes)


def number(request, name):
    """A finite decimal of sensible size from parameter ``name``, else None."""
    text = params.text(request, name, 40)
    try:
        value = Decimal(text)
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() and abs(value) < LARGEST else None


def apply_filters(view, entity, names, queryset):
    """(queryset narrowed by the request's filter values, [Filter] to draw) for filters ``names``."""
    access, spec, request = view.access, view.built.spec, view.request
    drawn = []
    for name in names:
        try:
            path = resolve(spec, entity.name, name)
        except PathError:
            continue
        f = path.field
        if f.type not in FILTERABLE or not all(n in access.visible_fields(e) for e, n in path.entities):
            continue
        if any(not access.can(hop.to, "view") for _, hop in path.hops):
            continue
        title = label(f.label, view.built)
        lookup = path.lookup
        if f.type in SELECTS:
            options = select_options(view, path)
            if options is None:
                continue
            chosen = params.choice(request, name, {v for v, _ in options})
            if chosen:
                value = (chosen == "1") if f.type is FieldType.BOOLEAN else chosen
                queryset = queryset.filter(**{lookup: value})
            drawn.append(Filter(name, title, "select", options, chosen))
        elif f.type in NUMBERS:
            low, high = number(request, f"{name}_min"), number(request, f"{name}_max")
            if low is not None:
                queryset = queryset.filter(**{f"{lookup}__gte": low})
            if high is not None:
                queryset = queryset.filter(**{f"{lookup}__lte": high})
            drawn.append(Filter(name, title, "number", low=_text(low), high=_text(high),
                                input_type="number"))
        else:
            low, high = params.date(request, f"{name}_from", None), params.date(request, f"{name}_to", None)
            day = f"{lookup}__date" if f.type is FieldType.DATETIME else lookup
            if low is not None:
                queryset = queryset.filter(**{f"{day}__gte": low})
            if high is not None:
                queryset = queryset.filter(**{f"{day}__lte": high})
            drawn.append(Filter(name, title, "date", low=_text(low), high=_text(high), input_type="date"))
        if path.hops and any(d.name == name and d.active for d in drawn):
            queryset = within_scope(access, path, queryset)
    return queryset, drawn


def within_scope(access, path, queryset):
    """Keep the rows whose rows along ``path`` the reader may view (a subquery per scoped hop)."""
    lookup = []
    for _entity, hop in path.hops:
        lookup.append(hop.name)
        rows = access.queryset(hop.to, "view")
        if rows.query.where:
            queryset = queryset.filter(**{"__".join(lookup) + "__in": rows.values("pk")})
    return queryset


def select_options(view, path):
    """[(value, text)] of a choice, yes/no or ref filter; None when a ref filter has nothing to offer."""
    f = path.field
    if f.type is FieldType.CHOICE:
        return [(c.value, label(c.label, view.built)) for c in f.choices]
    if f.type is FieldType.BOOLEAN:
        return [("1", _("Yes")), ("0", _("No"))]
    access, spec = view.access, view.built.spec
    if f.to is None or spec.entity(f.to) is None:
        return None  # a ref to the user: accounts are not listed in filters
    target, visible = spec.entity(f.to), access.visible_fields(f.to)
    refs = Refs(access, spec, spec.currency, nested=True)
    rows = access.ref_choices(path.owner, f.name)[:REF_OPTIONS]
    return [(str(row.pk), row_title(row, target, visible, spec.currency, refs)) for row in rows]


def _text(value):
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, dt.date) else str(value)
