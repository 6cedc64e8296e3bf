"""Chart cards of dashboards: counts or sums of the reader's rows grouped by a field, drawn as SVG on the server.

``{kind: chart, entity: service_order, group_by: status}`` (a choice, state, boolean or ref field) or
``group_by: ordered_at, period: day|week|month`` (a date), ``sum: <number field>`` instead of counting,
``chart: bar|line``. One aggregate query within the reader's scope and the card's filter (plus one for the
titles of refs, within the reader's scope too). The SVG has a title and the figures are also given as a
table for screen readers, so the chart is not the only way to read them.
"""
from __future__ import annotations

from decimal import Decimal

from django.db.models import Count, Sum
from django.db.models.functions import TruncDay, TruncMonth, TruncWeek
from django.utils import formats
from django.utils.translation import gettext as _

from ..display import row_title
from ..fieldtypes import FieldType
from ..writes import workflows_of
from .base import label
from .states import badge_class

WIDTH, HEIGHT, TOP, BOTTOM = 320, 160, 16, 20  # the SVG's box; room above bars (values) and below (names)
MAX_GROUPS = 12  # the largest groups (or the latest periods) are drawn
TRUNC = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}
PERIOD_FORMAT = {"day": "SHORT_DATE_FORMAT", "week": "SHORT_DATE_FORMAT", "month": "YEAR_MONTH_FORMAT"}


def chart(view, card, rows):
    """The drawing of a chart card: {kind, groups: [{label, value, shown, x, y, w, h, cls}], points, ...}."""
    built, entity = view.built, view.built.spec.entity(card.entity)
    f = entity.field(card.group_by)
    if f is None or card.group_by not in view.access.visible_fields(entity.name) or (
            card.sum and card.sum not in view.access.visible_fields(entity.name)):
        return None
    measure = Sum(card.sum) if card.sum else Count("pk")
    rows = rows.order_by()
    if f.type in (FieldType.DATE, FieldType.DATETIME):
        found = list(rows.annotate(group=TRUNC[card.period](card.group_by)).values_list("group")
                     .annotate(n=measure).order_by("-group")[:MAX_GROUPS])[::-1]
        groups = [(formats.date_format(g, PERIOD_FORMAT[card.period]) if g else "—", n, "") for g, n in found]
    else:
        found = list(rows.values_list(card.group_by).annotate(n=measure).order_by("-n")[:MAX_GROUPS])
        groups = named_groups(view, entity, f, found)
    summed = entity.field(card.sum) if card.sum else None
    currency = (summed.currency or built.spec.currency) if summed and summed.type is FieldType.MONEY else ""
    return draw(groups, card.chart, currency, label(card.title, built))


def named_groups(view, entity, f, found):
    """(label, value, css class) of grouped values: choice and state labels (states in their colours), Yes/No,
    titles of ref rows the reader may view (others are hidden)."""
    built = view.built
    if f.type is FieldType.CHOICE:
        states = {s.name: s for wf in workflows_of(built.spec, entity.name) if wf.field == f.name for s in wf.states}
        names = {c.value: label(c.label, built) for c in f.choices}
        order = [c.value for c in f.choices]
        found = sorted(found, key=lambda item: order.index(item[0]) if item[0] in order else len(order))
        return [(label(states[v].label, built) if v in states else names.get(v, v or "—"), n,
                 badge_class(states[v]) if v in states else "") for v, n in found]
    if f.type is FieldType.BOOLEAN:
        return [(_("Yes") if v else _("No"), n, "") for v, n in found]
    target = built.spec.entity(f.to) if f.type is FieldType.REF else None
    titles = {}
    if target is not None and view.access.can(target.name, "view"):
        visible = view.access.visible_fields(target.name)
        for row in view.access.queryset(target.name, "view").filter(pk__in=[v for v, _n in found if v]):
            titles[row.pk] = row_title(row, target, visible, built.spec.currency)
    return [(titles.get(v, "—"), n, "") for v, n in found]


def draw(groups, kind, currency, title):
    """Bars (or a line's points) in the SVG's box, scaled to the largest value."""
    values = [float(n or 0) for _label, n, _cls in groups]
    top = max(values, default=0) or 1
    step = WIDTH / max(len(groups), 1)
    plot = HEIGHT - TOP - BOTTOM
    items = []
    for i, ((name, n, cls), value) in enumerate(zip(groups, values, strict=True)):
        h = round(plot * value / top, 1)
        items.append({"label": name, "shown": amount(n, currency), "cls": cls, "x": round(i * step + step * .15, 1),
                      "w": round(step * .7, 1), "h": h, "y": round(TOP + plot - h, 1),
                      "cx": round(i * step + step / 2, 1), "short": short(name), "vy": round(TOP + plot - h - 4, 1)})
    return {"kind": kind, "title": title, "groups": items, "width": WIDTH, "height": HEIGHT,
            "base": HEIGHT - BOTTOM, "labels": len(items) <= 8, "ny": HEIGHT - 6,
            "points": " ".join(f"{g['cx']},{g['y']}" for g in items)}


def amount(value, currency):
    if value is None:
        value = 0
    if currency:
        return f"{Decimal(value):.2f} {currency}"
    return formats.number_format(value, decimal_pos=2 if isinstance(value, Decimal) else None)


def short(text, size=10):
    text = str(text)
    return text if len(text) <= size else text[: size - 1] + "…"
