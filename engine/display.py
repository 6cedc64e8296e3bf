"""How field values are shown on pages: localized numbers, dates and money, choice labels, refs."""
from __future__ import annotations

import datetime as dt

from django.utils import formats, timezone
from django.utils.timesince import timesince, timeuntil
from django.utils.translation import gettext as _

from .content import text
from .fieldtypes import FieldType
from .spec import USER


def row_title(obj, entity, visible, currency="", refs=None):
    """How a row is named on pages: its title field, else its first two filled visible fields.

    ``refs`` (a ``Refs``) shows referenced rows as the reader may see them; without it a ref shows
    its row's ``str()`` (for code that has no reader, e.g. the model's own ``__str__``).
    """
    if entity.title and entity.title in visible:
        text = display(obj, entity.field(entity.title), currency, refs)
        if text:
            return text
    parts = []
    for name in visible:
        f = entity.field(name)
        if f.type in (FieldType.TEXT, FieldType.MARKDOWN, FieldType.JSON, FieldType.REFS):
            continue
        text = display(obj, f, currency, refs)
        if text:
            parts.append(text)
        if len(parts) == 2:
            break
    return " · ".join(parts) or f"#{obj.pk}"


def display(obj, f, currency="", refs=None):
    """The text to show for field spec ``f`` of ``obj`` (refs through ``refs`` when given, see ``row_title``)."""
    if refs is not None and f.type is FieldType.REF and f.to != USER:
        return refs.title(obj, f)
    if refs is not None and f.type is FieldType.REFS and f.to != USER:
        return refs.many(obj, f)
    value = text(obj, f) if f.translations else getattr(obj, f.name)  # the reader's language (fallback: default)
    if value is None or value == "":
        return ""
    t = f.type
    if t is FieldType.CHOICE:
        return getattr(obj, f"get_{f.name}_display")()
    if t is FieldType.BOOLEAN:
        return _("Yes") if value else _("No")
    if t is FieldType.MONEY:
        amount = formats.number_format(value, decimal_pos=f.decimal_places, use_l10n=True, force_grouping=True)
        return f"{amount} {f.currency or currency}".strip()
    if t in (FieldType.DECIMAL, FieldType.INTEGER):
        return formats.number_format(value, use_l10n=True, force_grouping=t is FieldType.INTEGER)
    if t is FieldType.DATETIME:
        return formats.date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")
    if t is FieldType.DATE:
        return formats.date_format(value, "SHORT_DATE_FORMAT")
    if t is FieldType.TIME:
        return formats.time_format(value, "TIME_FORMAT")
    if t in (FieldType.IMAGE, FieldType.FILE):
        return value.name.rsplit("/", 1)[-1]
    if t is FieldType.REFS:
        return ", ".join(str(item) for item in value.all())
    return str(value)


RECENT = dt.timedelta(hours=12)  # datetimes this close to now show as "5 minutes ago", "in 3 hours"


class Moment(str):
    """A datetime shown relative to now; ``iso`` and ``absolute`` go into ``<time datetime title>``."""

    iso = ""
    absolute = ""


def cell(obj, f, currency="", refs=None, now=None):
    """What a list cell or a detail field shows: ``display``, with recent datetimes relative to now
    (a ``Moment`` carrying the absolute time)."""
    text = display(obj, f, currency, refs)
    if f.type is not FieldType.DATETIME or not text:
        return text
    value, now = getattr(obj, f.name), now or timezone.now()
    if abs(value - now) >= RECENT:
        return text
    if abs(value - now) < dt.timedelta(minutes=1):
        shown = _("just now")
    elif value < now:
        shown = _("%(time)s ago") % {"time": timesince(value, now, depth=1)}
    else:
        shown = _("in %(time)s") % {"time": timeuntil(value, now, depth=1)}
    moment = Moment(shown)
    moment.iso, moment.absolute = timezone.localtime(value).isoformat(), text
    return moment


class Refs:
    """How refs show to one reader: the referenced row's title when the reader may view that row, else nothing.

    Which referenced rows are viewable is read with one query per referenced entity for all the rows
    of a page (``load``), so query counts stay constant in the number of rows; rows read without
    ``load`` are checked on first use. A referenced row's title is made from the fields the reader
    may see of it, without following its own refs (that would be one more query per row).
    """

    def __init__(self, access, spec, currency="", nested=False):
        self.access, self.spec, self.currency = access, spec, currency
        self.nested = nested
        self.checked = {}  # entity -> ids whose visibility is known
        self.viewable = {}  # entity -> ids the reader may view

    def load(self, rows, fields):
        """Read at once which rows the ``fields`` (specs) of ``rows`` point at are viewable; return self."""
        wanted = {}
        for f in fields:
            if f.type is FieldType.REF and f.to != USER:
                wanted.setdefault(f.to, set()).update(getattr(row, f"{f.name}_id") for row in rows)
        for entity, ids in wanted.items():
            self._viewable(entity, ids - {None})
        return self

    def _viewable(self, entity, ids):
        checked = self.checked.setdefault(entity, set())
        viewable = self.viewable.setdefault(entity, set())
        unknown = set(ids) - checked
        if unknown:
            rows = self.access.queryset(entity, "view")
            if rows.query.where:
                viewable.update(rows.filter(pk__in=unknown).values_list("pk", flat=True))
            else:  # the reader may view every row (a scope 'all', a superuser): nothing to read
                viewable.update(unknown)
            checked.update(unknown)
        return viewable

    def title(self, obj, f):
        """The title of the row ``f`` (a ref spec) of ``obj`` points at, or "" when unset or out of scope."""
        pk = getattr(obj, f"{f.name}_id")
        if pk is None or self.nested or pk not in self._viewable(f.to, {pk}):
            return ""
        target = self.spec.entity(f.to)
        return row_title(getattr(obj, f.name), target, self.access.visible_fields(f.to), self.currency,
                         Refs(self.access, self.spec, self.currency, nested=True))

    def many(self, obj, f):
        """The titles of the viewable rows of a many-ref (prefetch it for many rows)."""
        if self.nested:
            return ""
        items = list(getattr(obj, f.name).all())
        viewable = self._viewable(f.to, {item.pk for item in items})
        target, visible = self.spec.entity(f.to), self.access.visible_fields(f.to)
        nested = Refs(self.access, self.spec, self.currency, nested=True)
        return ", ".join(row_title(item, target, visible, self.currency, nested) for item in items
                         if item.pk in viewable)
