"""Detail pages: a row's fields in sections, its related rows, workflow buttons, the edit link and
the row's history (a timeline of its audit records, as the reader may see them)."""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.translation import gettext as _

from .. import writes
from ..display import display, row_title
from ..fieldtypes import FieldType
from ..writes import transitions_of
from .actions import RowActions
from .base import CabinetView, label, render
from .states import StateCells, badge_class

TIMELINE_SIZE = 20  # the most recent records; the API serves the whole history
NO_VALUES = {FieldType.REF, FieldType.REFS, FieldType.JSON, FieldType.TEXT, FieldType.MARKDOWN, FieldType.IMAGE,
             FieldType.FILE}  # named in the timeline, their values not shown


class DetailPage(RowActions, StateCells, CabinetView):
    def detail(self, page, pk, status=200):
        entity, access = self.entity(page), self.access
        visible = access.visible_fields(entity.name)
        refs = [n for n in visible if entity.field(n).type is FieldType.REF]
        obj = access.get(entity.name, pk, "view", refine=lambda qs: qs.select_related(*refs))
        currency, shown = self.built.spec.currency, self.refs().load([obj], [entity.field(n) for n in visible])
        sections = page.sections if page.kind == "detail" and page.sections else None
        groups = []
        for section_title, names in ([(label(s.title, self.built), s.fields) for s in sections] if sections
                                     else [("", visible)]):
            groups.append((section_title, [(label(entity.field(n).label, self.built),
                                            self.cell(entity, obj, entity.field(n), currency, shown))
                                           for n in names if n in visible]))
        related = []
        for rel in page.related if page.kind == "detail" else ():
            if not access.can(rel.entity, "list"):
                continue
            other = self.built.spec.entity(rel.entity)
            other_visible = access.visible_fields(rel.entity)
            cols = [other.field(n) for n in (rel.columns or other_visible) if n in other_visible][:5]
            refs = [f.name for f in cols if f.type is FieldType.REF]
            many = [f.name for f in cols if f.type is FieldType.REFS]
            rows = list(access.queryset(rel.entity, "list").filter(**{rel.via: obj}).select_related(*refs)
                        .prefetch_related(*many)[:20])
            shown.load(rows, cols)
            target = self.site.detail_page(access, rel.entity)
            home = self.site.row_page(access, rel.entity)  # the related rows' buttons post there
            buttons = self.row_actions(home, other, rows, home) if home else {}
            related.append({
                "title": label(rel.title, self.built), "columns": [label(f.label, self.built) for f in cols],
                "rows": [{"cells": [self.cell(other, r, f, currency, shown) for f in cols],
                          "url": reverse("page-row", args=[target.name, r.pk]) if target else None,
                          "actions": buttons.get(r.pk, [])} for r in rows],
                "actions": any(buttons.values()),
            })
        actions = self.row_actions(page, entity, [obj], page).get(obj.pk, [])
        can_edit = access.queryset(entity.name, "update").filter(pk=obj.pk).exists() if access.can(
            entity.name, "update") else False
        title = row_title(obj, entity, visible, currency, shown)
        context = self.context(page, entity=entity, obj=obj, title=title, groups=groups, related=related,
                               actions=actions, edit_url=reverse("page-edit", args=[page.name, obj.pk])
                               if can_edit else None, timeline=self.timeline(entity, obj))
        return render(self.request, self.built, "detail.html", context, status=status)

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
