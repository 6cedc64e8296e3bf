"""List pages: search, filters, sortable columns, pagination, inline workflow buttons (htmx partials)."""
from __future__ import annotations

from functools import reduce
from operator import or_

from django.core.paginator import Paginator
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext as _

from .. import content
from ..display import display
from ..fieldtypes import FieldType
from ..workflows.runtime import guarded
from ..writes import allowed as transition_allowed
from ..writes import transitions_of
from . import params
from .base import CabinetView, label, render

FILTERABLE = (FieldType.CHOICE, FieldType.BOOLEAN)


class ListPage(CabinetView):
    def kind_list(self, page):
        entity, access = self.entity(page), self.access
        visible = access.visible_fields(entity.name)
        shown = [n for n in (page.columns or visible) if n in visible and entity.field(n).type is not FieldType.REFS]
        columns = [entity.field(n) for n in shown[:8]]
        qs = access.queryset(entity.name, "list")
        filters = []
        for name in page.filters:
            f = entity.field(name)
            if name not in visible or f.type not in FILTERABLE:
                continue
            options = ([(c.value, label(c.label, self.built)) for c in f.choices] if f.type is FieldType.CHOICE
                       else [("1", _("Yes")), ("0", _("No"))])
            chosen = params.choice(self.request, name, dict(options))
            if chosen:
                qs = qs.filter(**{name: (chosen == "1") if f.type is FieldType.BOOLEAN else chosen})
            filters.append({"name": name, "label": label(f.label, self.built), "options": options, "value": chosen})
        searchable = content.search_names(entity, [n for n in entity.search if n in visible])  # every language
        query = params.text(self.request, "q")
        if page.search and searchable and query:
            qs = qs.filter(reduce(or_, (Q(**{f"{n}__icontains": query}) for n in searchable)))
        sort = params.sort(self.request, shown)
        if sort:
            qs = qs.order_by(content.order_key(entity, sort), "-id")  # translated texts in the reader's language
        refs = [f.name for f in columns if f.type is FieldType.REF]
        qs = qs.select_related(*refs) if refs else qs
        paged = Paginator(qs, page.page_size).get_page(self.request.GET.get("page"))
        detail = self.site.detail_page(access, entity.name) or page
        currency = self.built.spec.currency
        titles = [label(f.label, self.built) for f in columns]
        actions = self.row_actions(entity, detail, paged.object_list)
        refs = self.refs().load(paged.object_list, columns)
        rows = [{"obj": obj, "url": reverse("page-row", args=[detail.name, obj.pk]), "actions": actions.get(obj.pk, []),
                 "cells": list(zip(titles, [display(obj, f, currency, refs) for f in columns], strict=True))}
                for obj in paged.object_list]
        form_page = self.site.form_page(access, entity.name)
        context = self.context(
            page, entity=entity, columns=[(f.name, label(f.label, self.built)) for f in columns], rows=rows,
            paged=paged, filters=filters, query=query, sort=sort, searchable=bool(page.search and searchable),
            has_actions=any(row["actions"] for row in rows),
            create_url=reverse("page-new", args=[(form_page or page).name])
            if access.can(entity.name, "create") else None,
            empty=label(entity.plural, self.built),
        )
        name = "_list_results.html" if getattr(self.request, "htmx", False) else "list.html"
        return render(self.request, self.built, name, context)

    def row_actions(self, entity, page, rows):
        """Workflow buttons per row of a list page: one query per transition, whatever the rows."""
        ids = [row.pk for row in rows]
        found = {}
        for name, (wf, t) in transitions_of(self.built.spec, entity.name).items():
            if not ids or not transition_allowed(self.access, entity.name, name):
                continue
            rows_in = self.access.queryset(entity.name, name).filter(pk__in=ids)
            allowed = set(guarded(self.access, entity.name, t, rows_in).values_list("pk", flat=True))
            for row in rows:
                if row.pk in allowed and getattr(row, wf.field) in t.sources:
                    found.setdefault(row.pk, []).append(self.action_item(page, row, name, t))
        return found
