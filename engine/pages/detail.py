"""Detail pages: a row's fields in sections, its related rows, workflow buttons, the edit link and
the row's history (a timeline of its audit records, as the reader may see them)."""
from __future__ import annotations

from functools import reduce

from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.translation import gettext as _

from .. import writes
from ..display import display, row_title
from ..fieldtypes import FieldType
from ..writes import transitions_of
from .actions import RowActions
from .base import CabinetView, label, render
from .paths import Columns, PathError, resolve
from .states import StateCells, badge_class

RELATED_COLUMNS, RELATED_ROWS = 5, 20  # a related list shows its first rows; its own page shows them all
TIMELINE_SIZE = 20  # the most recent records; the API serves the whole history
NO_VALUES = {FieldType.REF, FieldType.REFS, FieldType.JSON, FieldType.TEXT, FieldType.MARKDOWN, FieldType.IMAGE,
             FieldType.FILE}  # named in the timeline, their values not shown


class DetailPage(RowActions, StateCells, CabinetView):
    def detail(self, page, pk, status=200, edit_url=False):
        """The row ``pk`` of the page's entity; ``edit_url`` replaces the edit link (a record page's)."""
        entity, access = self.entity(page), self.access
        visible = access.visible_fields(entity.name)
        sections = page.sections if page.kind in ("detail", "record") and page.sections else None
        shown, currency = self.refs(), self.built.spec.currency
        text = lambda value: label(value, self.built)  # noqa: E731
        parts = [(text(s.title), Columns(access, self.built.spec, entity.name, s.fields, text, shown, many=True))
                 for s in sections] if sections else [("", Columns(access, self.built.spec, entity.name, visible,
                                                                   text, shown, many=True))]
        title_refs = [n for n in visible if entity.field(n).type is FieldType.REF]
        obj = access.get(entity.name, pk, "view", refine=lambda qs: reduce(
            lambda q, part: part[1].select(q), parts, qs.select_related(*title_refs)))
        shown.load([obj], [entity.field(n) for n in visible])
        groups, show = [], self.shows()  # workflow states as their badges
        for section_title, columns in parts:
            columns.load([obj])
            groups.append((section_title, list(zip((c.title for c in columns), columns.cells(obj, currency, show),
                                                   strict=True))))
        related = [found for rel in (page.related if page.kind in ("detail", "record") else ())
                   if (found := self.related(rel, obj, shown)) is not None]
        actions = self.row_actions(page, entity, [obj], page).get(obj.pk, [])
        can_edit = access.queryset(entity.name, "update").filter(pk=obj.pk).exists() if access.can(
            entity.name, "update") else False
        title = row_title(obj, entity, visible, currency, shown)
        context = self.context(page, entity=entity, obj=obj, title=title, groups=groups, related=related,
                               actions=actions, edit_url=(reverse("page-edit", args=[page.name, obj.pk])
                                                          if can_edit else None) if edit_url is False else edit_url,
                               timeline=self.timeline(entity, obj))
        return render(self.request, self.built, "detail.html", context, status=status)

    def related(self, rel, obj, shown):
        """The rows of ``rel.entity`` that point at ``obj`` along ``rel.via``, as the reader may see them."""
        access, spec = self.access, self.built.spec
        if not access.can(rel.entity, "list"):
            return None
        try:
            via = resolve(spec, rel.entity, rel.via)
        except PathError:
            return None
        text = lambda value: label(value, self.built)  # noqa: E731
        columns = Columns(access, spec, rel.entity, rel.columns or access.visible_fields(rel.entity), text, shown,
                          many=True, limit=RELATED_COLUMNS)
        rows = list(columns.select(access.queryset(rel.entity, "list").filter(**{via.lookup: obj}))[:RELATED_ROWS])
        columns.load(rows)
        target = self.site.detail_page(access, rel.entity)
        home = self.site.row_page(access, rel.entity)  # the related rows' buttons post there
        buttons = self.row_actions(home, spec.entity(rel.entity), rows, home) if home else {}
        show = self.shows()
        return {
            "title": label(rel.title, self.built), "columns": [c.title for c in columns],
            "rows": [{"cells": columns.cells(r, spec.currency, show),
                      "url": reverse("page-row", args=[target.name, r.pk]) if target else None,
                      "actions": buttons.get(r.pk, [])} for r in rows],
            "actions": any(buttons.values()),
        }

    def timeline(self, entity, obj):
        """The row's latest audit records, newest first: who, when, from -> to, which fields (one query)."""
        spec, access = self.built.spec, self.access
        model, currency = self.built.model(entity.name), spec.currency
        states = {s.name: label(s.label, self.built) for wf in writes.workflows_of(spec, entity.name)
                  for s in wf.states}
        colors = {s.name: badge_class(s) for wf in writes.workflows_of(spec, entity.name) for s in wf.states}
        found = transitions_of(spec, entity.name)
        entries = []
        for item in writes.history(access, entity.name, obj.pk).reverse()[:TIMELINE_SIZE]:
            seen = writes.redact(access, entity.name, item)
            if seen["transition"] in found:
                what = label(found[seen["transition"]][1].label, self.built)
            else:
                what = {"create": _("Created"), "update": _("Changed"), "delete": _("Deleted"),
                        "timer": _("Scheduled actions")}.get(
                    seen["action"], seen["transition"] or seen["action"])
            changes = []
            for name, (old, new) in seen["changes"].items():
                f = entity.field(name)
                if f is None or (seen["from_state"] and name in writes.state_fields(spec, entity.name)):
                    continue
                plain = f.type in NO_VALUES
                changes.append({"field": label(f.label, self.built),
                                "old": None if plain else audit_value(model, f, old, currency),
                                "new": None if plain else audit_value(model, f, new, currency),
                                "values": not plain and seen["action"] != "create"})
            entries.append({
                "what": what, "at": seen["at"],
                "who": _("system") if seen["actor"] in (None, "system") else seen["actor"],
                "from": states.get(seen["from_state"], seen["from_state"]),
                "to": states.get(seen["to_state"], seen["to_state"]), "changes": changes,
                "from_color": colors.get(seen["from_state"]), "to_color": colors.get(seen["to_state"]),
            })
        return entries


def audit_value(model, f, value, currency):
    """A stored value of an audit record as the detail page shows that field (a choice's label, a date in
    the reader's format), or None when empty."""
    if value is None or value == "":
        return None
    field = model._meta.get_field(f.name)
    row = model()
    try:
        setattr(row, field.attname, field.to_python(value))
        return display(row, f, currency) or None
    except (ValidationError, ValueError, TypeError):
        return str(value)
