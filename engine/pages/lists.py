"""List pages: search, filters, a fixed ``where``, sortable columns along paths, pagination, inline
workflow buttons (htmx partials) and export links.

The rows of a page are read with one query whatever its size: the columns along paths select their
related rows, and what the reader may view along them is read once per entity (``paths.Columns``).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from operator import or_
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.urls import reverse

from .. import content
from . import params
from .actions import RowActions
from .base import CabinetView, label, render
from .cards import card_items
from .filters import apply_filters
from .paths import Columns
from .queues import bulk_buttons, state_tabs, tab_field
from .states import StateCells

COLUMNS = 8  # a list shows at most this many columns


@dataclass
class Listing:
    """What a list page (or its export) shows: the reader's columns, rows (a queryset) and filters."""

    entity: object
    columns: Columns
    rows: object
    filters: list
    query: str
    sort: str
    searchable: bool
    tabs: list  # a list with ``states: true``: its state tabs with their counts (queues.state_tabs)

    @property
    def filtered(self):
        """Whether the reader narrowed the rows (a search or a filter value)."""
        return bool(self.query) or any(f.active for f in self.filters)


def unscoped(access, entity):
    """Whether the reader may view every row of ``entity`` (no scope to keep when sorting along a path)."""
    return not access.queryset(entity, "view").query.where


def listing(view, page, limit=COLUMNS):
    """The ``Listing`` of list page ``page`` for the request: scope, ``where``, filters, search and sort
    (at most ``limit`` columns; an export takes them all)."""
    entity, access, request = view.entity(page), view.access, view.request
    visible = access.visible_fields(entity.name)
    columns = Columns(access, view.built.spec, entity.name, page.columns or visible,
                      lambda text: label(text, view.built), view.refs(), limit=limit)
    rows = access.queryset(entity.name, "list")
    if page.where:
        rows = rows.filter(access.policy.expression(page.where, entity.name).q(access.env))
    tab = tab_field(view.built.spec, page)  # the state tabs filter the state field, not a select
    rows, filters = apply_filters(view, entity, [n for n in page.filters if n != tab], rows)
    searchable = content.search_names(entity, [n for n in entity.search if n in visible])  # every language
    query = params.text(request, "q")
    if page.search and searchable and query:
        rows = rows.filter(reduce(or_, (Q(**{f"{n}__icontains": query}) for n in searchable)))
    rows, tabs = state_tabs(view, page, rows)
    sortable = {c.name: c.path.lookup for c in columns if c.path.is_plain or (
        c.path.field.stored and all(unscoped(access, hop.to) for _, hop in c.path.hops))}
    sort = params.sort(request, sortable)
    if sort:
        lookup = ("-" if sort.startswith("-") else "") + sortable[sort.lstrip("-")]
        # A translated text of the row itself sorts in the reader's language.
        rows = rows.order_by(content.order_key(entity, lookup) if "__" not in lookup else lookup, "-id")
    return Listing(entity, columns, columns.select(rows), filters, query, sort,
                   bool(page.search and searchable), tabs)


def clean_query(request):
    """The request's query string without empty values (``?q=&status=`` -> ``?``), or None when clean."""
    pairs = [(k, v) for k, values in request.GET.lists() for v in values]
    kept = [(k, v) for k, v in pairs if v != ""]
    return None if len(kept) == len(pairs) else urlencode(kept)


class ListPage(RowActions, StateCells, CabinetView):
    def kind_list(self, page):
        cleaned = clean_query(self.request)
        if cleaned is not None and not getattr(self.request, "htmx", False):
            return HttpResponseRedirect(f"{self.request.path}?{cleaned}" if cleaned else self.request.path)
        found, access = listing(self, page), self.access
        entity, columns = found.entity, found.columns
        paged = Paginator(found.rows, page.page_size).get_page(params.page_number(self.request))
        objs = list(paged.object_list)
        columns.load(objs)
        detail = self.site.detail_page(access, entity.name) or page
        currency = self.built.spec.currency
        titles = [c.title for c in columns]
        actions = self.row_actions(page, entity, objs, detail)
        show = self.shows()  # workflow states as their badges
        rows = [{"obj": obj, "url": reverse("page-row", args=[detail.name, obj.pk]), "actions": actions.get(obj.pk, []),
                 "cells": list(zip(titles, columns.cells(obj, currency, show), strict=True))}
                for obj in objs]
        form_page, bulk = self.site.form_page(access, entity.name), bulk_buttons(self, page)
        cards = card_items(self, page, entity, rows, columns.refs) if page.display == "cards" and page.card else None
        keep = [(k, v) for k, values in self.request.GET.lists() for v in values
                if v != "" and k not in ("page", "sort")]
        context = self.context(
            page, entity=entity, columns=[(c.name, c.title) for c in columns], rows=rows,
            paged=paged, filters=found.filters, query=found.query, sort=found.sort, searchable=found.searchable,
            has_actions=any(row["actions"] for row in rows) or bool(bulk), filtered=found.filtered,
            tabs=found.tabs, bulk=bulk, cards=cards,
            keep=urlencode(keep) + "&" if keep else "", exports=self.export_links(page),
            create_url=reverse("page-new", args=[(form_page or page).name])
            if access.can(entity.name, "create") else None,
            empty=label(entity.plural, self.built),
        )
        name = "_list_results.html" if getattr(self.request, "htmx", False) else "list.html"
        response = render(self.request, self.built, name, context)
        if cleaned is not None:  # htmx sent the form's empty inputs: show the clean URL
            response["HX-Push-Url"] = f"{self.request.path}?{cleaned}" if cleaned else self.request.path
        return response

    def export_links(self, page):
        """[(format, url)] of the page's exports, with the request's filters."""
        query = clean_query(self.request)
        query = self.request.GET.urlencode() if query is None else query
        return [(fmt, reverse("page-export", args=[page.name, fmt]) + (f"?{query}" if query else ""))
                for fmt in page.export]
