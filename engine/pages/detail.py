"""Detail pages: a row's fields in sections, its related rows, workflow buttons and the edit link."""
from __future__ import annotations

from django.urls import reverse

from ..display import display, row_title
from ..fieldtypes import FieldType
from ..writes import allowed as transition_allowed
from ..writes import transitions_of
from .base import CabinetView, label, render


class DetailPage(CabinetView):
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
            groups.append((section_title, [(label(entity.field(n).label, self.built), display(obj, entity.field(n),
                                                                                             currency, shown))
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
            related.append({
                "title": label(rel.title, self.built), "columns": [label(f.label, self.built) for f in cols],
                "rows": [{"cells": [display(r, f, currency, shown) for f in cols],
                          "url": reverse("page-row", args=[target.name, r.pk]) if target else None} for r in rows],
            })
        actions = []
        for name, (wf, t) in transitions_of(self.built.spec, entity.name).items():
            if getattr(obj, wf.field) in t.sources and transition_allowed(access, entity.name, name) and \
                    access.queryset(entity.name, name).filter(pk=obj.pk).exists():
                actions.append(self.action_item(page, obj, name, t))
        can_edit = access.queryset(entity.name, "update").filter(pk=obj.pk).exists() if access.can(
            entity.name, "update") else False
        title = row_title(obj, entity, visible, currency, shown)
        context = self.context(page, entity=entity, obj=obj, title=title, groups=groups, related=related,
                               actions=actions, edit_url=reverse("page-edit", args=[page.name, obj.pk])
                               if can_edit else None)
        return render(self.request, self.built, "detail.html", context, status=status)
