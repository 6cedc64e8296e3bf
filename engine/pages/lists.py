"""List pages: search, filters, sortable columns, pagination, inline workflow buttons (htmx partials)."""
from __future__ import annotations

from functools import reduce
from operator import or_

from django.core.paginator import Paginator
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext as _

from ..fieldtypes import FieldType
from . import params
from .actions import RowActions
from .base import CabinetView, label, render
from .cards import card_items
from .queues import bulk_buttons, state_tabs, tab_field
from .states import StateCells

FILTERABLE = (FieldType.CHOICE, FieldType.BOOLEAN)


class ListPage(RowActions, StateCells, CabinetView):
    def kind_list(self, page):
        entity, access = self.entity(page), self.access
        visible = access.visible_fields(entity.name)
        shown = [n for n in (page.columns or visible) if n in visible and entity.field(n).type is not FieldType.REFS]
        columns = [entity.field(n) for n in shown[:8]]
        qs = access.queryset(entity.name, "list")
        filters = []
        for name in page.filters:
            f = entity.field(name)
            if name not in visible or f.type not in FILTERABLE or name == tab_field(self.built.spec, page):
                continue
            options = ([(c.value, label(c.label, self.built)) for c in f.choices] if f.type is FieldType.CHOICE
                       else [("1", _("Yes")), ("0", _("No"))])
            chosen = params.choice(self.request, name, dict(options))
            if chosen:
                qs = qs.filter(**{name: (chosen == "1") if f.type is FieldType.BOOLEAN else chosen})
            filters.append({"name": name, "label": label(f.label, self.built), "options": options, "value": chosen})
        searchable = [n for n in entity.search if n in visible]
        query = params.text(self.request, "q")
        if page.search and searchable and query:
            qs = qs.filter(reduce(or_, (Q(**{f"{n}__icontains": query}) for n in searchable)))
        qs, tabs = state_tabs(self, page, qs)
        sort = params.sort(self.request, shown)
        if sort:
            qs = qs.order_by(sort, "-id")
        refs = [f.name for f in columns if f.type is FieldType.REF]
        qs = qs.select_related(*refs) if refs else qs
        paged = Paginator(qs, page.page_size).get_page(self.request.GET.get("page"))
        detail = self.site.detail_page(access, entity.name) or page
        currency = self.built.spec.currency
        titles = [label(f.label, self.built) for f in columns]
        actions = self.row_actions(page, entity, paged.object_list, detail)
        refs = self.refs().load(paged.object_list, columns)
        rows = [{"obj": obj, "url": reverse("page-row", args=[detail.name, obj.pk]), "actions": actions.get(obj.pk, []),
                 "cells": list(zip(titles, [self.cell(entity, obj, f, currency, refs) for f in columns], strict=True))}
                for obj in paged.object_list]
        form_page, bulk = self.site.form_page(access, entity.name), bulk_buttons(self, page)
        cards = card_items(self, page, entity, rows, refs) if page.display == "cards" and page.card else None
        context = self.context(
            page, entity=entity, columns=[(f.name, label(f.label, self.built)) for f in columns], rows=rows,
            paged=paged, filters=filters, query=query, sort=sort, searchable=bool(page.search and searchable),
            has_actions=any(row["actions"] for row in rows) or bool(bulk), tabs=tabs, bulk=bulk, cards=cards,
            create_url=reverse("page-new", args=[(form_page or page).name])
            if access.can(entity.name, "create") else None,
            empty=label(entity.plural, self.built),
        )
        name = "_list_results.html" if getattr(self.request, "htmx", False) else "list.html"
        return render(self.request, self.built, name, context)
