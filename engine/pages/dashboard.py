"""Dashboard pages: counters, recent rows, balances, text and shortcut cards."""
from __future__ import annotations

from django.urls import reverse

from ..display import display, row_title
from ..fieldtypes import FieldType
from .base import CabinetView, label, markdown_html, render


class DashboardPage(CabinetView):
    def kind_dashboard(self, page):
        access, cards = self.access, []
        for card in page.cards:
            item = {"kind": card.kind, "title": label(card.title, self.built), "url": None}
            target = self.site.page(card.page) if card.page else None
            if target and self.site.allowed(access, target):
                item["url"] = reverse("page", args=[target.name])
            if card.entity and not access.can(card.entity, "list"):
                continue
            if card.kind == "counter":
                filters = {name: access.value(value) for name, value in card.filter}
                item["value"] = access.queryset(card.entity).filter(**filters).count()
            elif card.kind == "recent":
                detail = self.site.detail_page(access, card.entity)
                entity = self.built.spec.entity(card.entity)
                visible = access.visible_fields(card.entity)
                refs = [n for n in visible if entity.field(n).type is FieldType.REF][:2]
                rows = access.queryset(card.entity).filter(**dict(card.filter)).select_related(*refs)[: card.limit]
                item["rows"] = [(row_title(r, entity, visible, self.built.spec.currency),
                                 reverse("page-row", args=[detail.name, r.pk]) if detail else None) for r in rows]
            elif card.kind == "balance":
                f = self.built.spec.entity(card.entity).field(card.field)
                row = access.queryset(card.entity).first()
                item["value"] = display(row, f, self.built.spec.currency) if row and f else "—"
            elif card.kind == "text":
                item["html"] = markdown_html(label(card.text, self.built))
            elif card.kind == "shortcut" and not item["url"]:
                continue
            cards.append(item)
        return render(self.request, self.built, "dashboard.html", self.context(page, cards=cards))
