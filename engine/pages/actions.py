"""Row actions of list and detail pages: transitions as buttons, and links that open another page for the row.

A page's ``actions`` (``{page: order_service, prefill: {service: id}}``, ``{transition: accept}``,
``{page: stay_detail}``) and a list's ``transitions`` decide what each row offers; a page that declares
neither offers every transition the reader may do (the behaviour before actions existed). Only what the
reader can do is drawn: transitions they are granted, whose guard holds and whose ``from`` states hold the
row; pages they may open; related rows within their scope. The queries do not grow with the rows: one per
transition and one per action that follows a path, whatever the page size.
"""
from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from django.urls import reverse

from ..fieldtypes import FieldType
from ..workflows.runtime import guarded
from ..writes import allowed as transition_allowed
from ..writes import transitions_of
from .base import label

DANGER_WORDS = ("cancel", "reject", "declin", "refus", "delet", "void", "fail", "block")


def destructive(wf, t):
    """Whether ``t`` deserves the danger style: its target is coloured 'danger', or a final state named like
    a cancellation (cancelled, rejected, declined...)."""
    state = next((s for s in wf.states if s.name == t.target), None)
    if state is None:
        return False
    return state.color == "danger" or (state.final and any(w in state.name for w in DANGER_WORDS))


def shown_transitions(page, found):
    """The transition names a page shows on its rows, in order: its ``transitions`` and its transition actions,
    or every transition of the entity when it declares none."""
    declared = [*(page.transitions or ()), *(a.transition for a in page.actions if a.transition)]
    if page.transitions is None and not declared:
        return list(found)
    return [name for name in dict.fromkeys(declared) if name in found]


class RowActions:
    """Mixin of the page views: ``row_actions`` for the rows of a list, a detail page or a card list."""

    def row_actions(self, page, entity, rows, row_page):
        """{pk: [action]} of ``rows`` (model instances of ``entity``) on ``page``; transitions post to
        ``row_page`` (the page a row is shown on)."""
        ids = [row.pk for row in rows]
        found = {}
        if not ids:
            return found
        transitions = transitions_of(self.built.spec, entity.name)
        buttons = {}
        for name in shown_transitions(page, transitions):
            wf, t = transitions[name]
            if not transition_allowed(self.access, entity.name, name):
                continue
            rows_in = self.access.queryset(entity.name, name).filter(pk__in=ids)
            allowed = set(guarded(self.access, entity.name, t, rows_in).values_list("pk", flat=True))
            buttons[name] = {row.pk: self.transition_item(page, row_page, row, name, t, wf) for row in rows
                             if row.pk in allowed and getattr(row, wf.field) in t.sources}
        links = {i: self.link_items(a, entity, rows) for i, a in enumerate(page.actions) if a.page}
        # The list's transitions first, then the actions in their order, then (none declared) every transition.
        keys = [("t", name) for name in page.transitions or ()]
        keys += [key for key in (("t", a.transition) if a.transition else ("l", i) for i, a in enumerate(page.actions))
                 if key not in keys]
        keys += [("t", name) for name in buttons if ("t", name) not in keys]
        order = [buttons.get(key, {}) if kind == "t" else links[key] for kind, key in keys]
        for row in rows:
            found[row.pk] = [items[row.pk] for items in order if row.pk in items]
        return found

    def transition_item(self, page, row_page, obj, name, t, wf):
        """A transition's button; the page's action entry for it may give its label and icon."""
        item = self.action_item(row_page, obj, name, t)
        action = next((a for a in page.actions if a.transition == name), None)
        return {**item, "kind": "transition", "name": name, "danger": destructive(wf, t),
                "icon": action.icon if action else None,
                "label": label(action.label, self.built) if action and action.label.texts else item["label"]}

    def link_items(self, action, entity, rows):
        """{pk: link} of the rows for an action that opens ``action.page``; empty when the reader may not open it
        or may not read a value the link carries."""
        target = self.site.page(action.page)
        if target is None or not self.site.allowed(self.access, target):
            return {}
        text = label(action.label, self.built) if action.label.texts else label(target.title, self.built)
        base = {"kind": "link", "label": text, "icon": action.icon, "name": target.name}
        if target.kind == "detail":
            ids = self.related_ids(entity, action, target, rows)
            return {pk: {**base, "url": reverse("page-row", args=[target.name, other])} for pk, other in ids.items()}
        values = {}
        for field, path in action.prefill:
            found = self.path_values(entity, path, rows)
            if found is None:
                return {}
            values[field] = found
        url = reverse("page-new" if target.kind == "form" else "page", args=[target.name])
        links = {}
        for row in rows:
            query = urlencode([(field, plain(found[row.pk])) for field, found in values.items()
                               if found.get(row.pk) is not None])
            links[row.pk] = {**base, "url": f"{url}?{query}" if query else url}
        return links

    def related_ids(self, entity, action, target, rows):
        """{pk: id of the target page's row} for a detail link, only rows the reader may view there."""
        path = action.row or (None if target.entity == entity.name else next(
            f.name for f in entity.fields if f.type is FieldType.REF and f.to == target.entity))
        found = {row.pk: row.pk for row in rows} if path is None else self.path_values(entity, path, rows)
        if not found:
            return {}
        seen = set(self.access.queryset(target.entity, "view").filter(pk__in=set(found.values()) - {None})
                   .values_list("pk", flat=True))
        return {pk: other for pk, other in found.items() if other in seen}

    def path_values(self, entity, path, rows):
        """{pk: value} of ``path`` ('id', a field, or refs then a field) for ``rows``; a ref gives its id.
        None when a step is a field the reader may not see (the field policy applies at every hop)."""
        if path == "id":
            return {row.pk: row.pk for row in rows}
        spec, current, parts = self.built.spec, entity, path.split(".")
        for part in parts:
            f = current.field(part) if current else None
            if f is None or part not in self.access.visible_fields(current.name):
                return None
            current = spec.entity(f.to) if f.type is FieldType.REF and f.to in {e.name for e in spec.entities} \
                else None
        if len(parts) == 1:
            f = entity.field(path)
            attname = f"{path}_id" if f.type is FieldType.REF else path
            return {row.pk: getattr(row, attname) for row in rows}
        model = self.built.model(entity.name)
        lookup = "__".join(parts)
        return dict(model._base_manager.filter(pk__in=[row.pk for row in rows]).values_list("pk", lookup))


def plain(value):
    """A value as a query parameter (dates in ISO format, booleans as 1/0)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%dT%H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)
