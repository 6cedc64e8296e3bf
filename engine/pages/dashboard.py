"""Dashboard pages: counters, recent rows, balances, text and shortcut cards."""
from __future__ import annotations

from urllib.parse import urlencode

from django.urls import reverse

from ..display import display, row_title
from ..expr import ExprError
from ..fieldtypes import FieldType
from ..writes import state_fields
from .base import CabinetView, label, markdown_html, render
from .charts import chart


def card_rows(access, card):
    """The reader's rows of ``card.entity`` that match the card's filter.

    The filter is an expression (``status == 'new' and ordered_at > $today - 7``) or a mapping read like a
    role's scope (``{status: new, stay.guest.user: $user}``), checked by ``cabinet check`` and compiled
    with the reader's user and clock (``Access.condition_q``). Should a filter that ``cabinet check`` refuses
    reach a page anyway, the card shows nothing (None) rather than failing the page.
    """
    rows = access.queryset(card.entity)
    if not card.filter:
        return rows
    try:
        return rows.filter(access.condition_q(card.entity, card.filter))
    except ExprError:
        return None


def filter_query(spec, card, target):
    """``?status=new``: the card's filter as the query of the list it links to, for the keys that list filters
    on (its ``filters`` and, with ``states: true``, its state field); "" when the card counts other rows or
    its filter is an expression or names a variable, a path or a list of values."""
    if target.kind != "list" or target.entity != card.entity or isinstance(card.filter, str) or not card.filter:
        return ""
    accepted = set(target.filters)
    if target.states:
        accepted |= set(state_fields(spec, card.entity))
    pairs = []
    for name, value in card.filter:
        if name not in accepted or isinstance(value, (list, dict)) or value is None or \
                (isinstance(value, str) and value.startswith("$")):
            return ""
        pairs.append((name, ("1" if value else "0") if isinstance(value, bool) else str(value)))
    return "?" + urlencode(pairs)


class DashboardPage(CabinetView):
    def kind_dashboard(self, page):
        access, cards = self.access, []
        for card in page.cards:
            item = {"kind": card.kind, "title": label(card.title, self.built), "url": None, "icon": card.icon}
            target = self.site.page(card.page) if card.page else None
            if target and self.site.allowed(access, target):
                item["url"] = reverse("page", args=[target.name]) + filter_query(self.built.spec, card, target)
            if card.entity and not access.can(card.entity, "list"):
                continue
            rows = card_rows(access, card) if card.entity else None
            if card.kind == "counter":
                item["value"] = rows.count() if rows is not None else "—"
            elif card.kind == "recent":
                item["rows"] = self.recent_rows(card, rows) if rows is not None else []
            elif card.kind == "balance":
                if not self.site.personal(access, card.entity):
                    continue  # a balance is personal: never someone else's row shown as the reader's
                f = self.built.spec.entity(card.entity).field(card.field)
                own = rows[:2] if rows is not None else []  # exactly one own row, else no figure
                row = own[0] if len(own) == 1 else None
                item["value"] = display(row, f, self.built.spec.currency, self.refs()) if row and f else "—"
            elif card.kind == "chart":
                item["chart"] = chart(self, card, rows) if rows is not None else None
            elif card.kind == "text":
                item["html"] = markdown_html(label(card.text, self.built))
            elif card.kind == "shortcut" and not item["url"]:
                continue
            cards.append(item)
        return render(self.request, self.built, "dashboard.html", self.context(page, cards=cards))

    def recent_rows(self, card, rows):
        """(title, url) of the card's latest rows; titles show refs only when the reader may view them."""
        access, entity = self.access, self.built.spec.entity(card.entity)
        detail = self.site.row_page(access, card.entity)  # its detail page, else a list's row page
        visible = access.visible_fields(card.entity)
        refs = [n for n in visible if entity.field(n).type is FieldType.REF]
        rows = list(rows.select_related(*refs)[: card.limit])
        shown = self.refs().load(rows, [entity.field(n) for n in visible])
        return [(row_title(r, entity, visible, self.built.spec.currency, shown),
                 reverse("page-row", args=[detail.name, r.pk]) if detail else None) for r in rows]
