"""Calendar pages: a week (or a day) of rows by their date field."""
from __future__ import annotations

import datetime as dt

from django.urls import reverse
from django.utils import timezone

from ..display import display, row_title
from ..fieldtypes import FieldType
from . import params
from .base import CabinetView, render
from .filters import within_scope
from .paths import resolve


def iso(day):
    return day.isoformat() if day else ""


class CalendarPage(CabinetView):
    def kind_calendar(self, page):
        entity, access = self.entity(page), self.access
        by_day_view = self.request.GET.get("view") == "day"
        start = params.date(self.request, "day" if by_day_view else "week", timezone.localdate())
        if not by_day_view:
            start -= dt.timedelta(days=start.weekday())  # 0001-01-01 is a Monday: never before the first day
        span = 1 if by_day_view else 7
        days = [d for d in (params.shift(start, i) for i in range(span)) if d is not None]
        when = resolve(self.built.spec, entity.name, page.date_field)
        f = when.field
        lookup = f"{when.lookup}__date__range" if f.type is FieldType.DATETIME else f"{when.lookup}__range"
        visible = access.visible_fields(entity.name)
        refs = [n for n in visible if entity.field(n).type is FieldType.REF][:2]
        rows = access.queryset(entity.name).filter(**{lookup: (days[0], days[-1])}).order_by(when.lookup, "pk")
        rows = within_scope(access, when, rows)
        rows = list(rows.select_related(*refs, *([when.related] if when.related else [])))
        detail = self.site.detail_page(access, entity.name) or page
        by_day = {day: [] for day in days}
        shown = self.refs().load(rows, [entity.field(n) for n in visible])
        sees = all(name in access.visible_fields(e) for e, name in when.entities)
        for row in rows:
            target = row  # every row along the path is in the reader's scope (within_scope)
            for _entity, hop in when.hops:
                target = getattr(target, hop.name)
            value = getattr(target, f.name)
            day = timezone.localtime(value).date() if f.type is FieldType.DATETIME else value
            by_day.setdefault(day, []).append({"title": row_title(row, entity, visible, refs=shown),
                                               "when": display(target, f, refs=shown) if sees else "",
                                               "url": reverse("page-row", args=[detail.name, row.pk])})
        context = self.context(page, days=[(d, by_day[d]) for d in days], today=timezone.localdate(),
                               day_view=by_day_view, start=start.isoformat(),
                               previous=iso(params.shift(start, -span)), next=iso(params.shift(start, span)))
        return render(self.request, self.built, "calendar.html", context)
