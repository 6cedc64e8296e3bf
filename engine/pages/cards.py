"""Card lists: a list page with ``display: cards`` shows each row as a card (image, title, price, a badge,
a short description and the primary action) instead of a table row.

A card shows only the fields the reader may see; the image is the scoped thumbnail of the row's image
(``file-thumb``, served only to readers of the row and field) when that view exists; the action is the
entry of the page's ``actions`` that ``card.action`` names, as the reader may do it on that row.
"""
from __future__ import annotations

from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, strip_tags
from django.utils.text import Truncator

from ..fieldtypes import FieldType
from ..writes import state_fields
from .base import markdown_html
from .work_checks import card_action

DESCRIPTION_WORDS = 24
THUMB_SIZE = 240


def card_items(view, page, entity, rows, refs):
    """One card per row: {url, title, image, price, badge, description, action, actions}."""
    layout, visible = page.card, set(view.access.visible_fields(entity.name))
    currency = view.built.spec.currency
    primary = card_action(page)
    key = (primary.transition or primary.page) if primary else None

    def shown(name, obj):
        if not name or name not in visible:
            return None
        return view.cell(entity, obj, entity.field(name), currency, refs)

    items = []
    for row in rows:
        obj, own = row["obj"], row["actions"]
        main = next((a for a in own if a["name"] == key), None) if key else None
        items.append({
            "url": row["url"], "title": shown(layout.title, obj) or (row["cells"][0][1] if row["cells"] else obj.pk),
            "image": image_url(entity, obj, layout.image) if layout.image in visible else None,
            "price": shown(layout.price, obj), "badge": badge(view, entity, layout.badge, shown(layout.badge, obj)),
            "description": description(entity, obj, layout.description) if layout.description in visible else "",
            "primary": [{**main, "primary": True}] if main else [], "actions": [a for a in own if a is not main],
            "row": row,
        })
    return items


def badge(view, entity, name, value):
    """A state is already its coloured badge; another value becomes a neutral one."""
    if not value or name in state_fields(view.built.spec, entity.name):
        return value
    return format_html('<span class="badge badge--neutral">{}</span>', value)


def image_url(entity, obj, name):
    """The scoped thumbnail URL of the row's image, or None (no image, or no file view in this version)."""
    if not name or not getattr(obj, name, None):
        return None
    try:
        return reverse("file-thumb", args=[entity.name, obj.pk, name, THUMB_SIZE])
    except NoReverseMatch:
        return None


def description(entity, obj, name):
    """The first words of a text or markdown field, as plain text."""
    if not name:
        return ""
    value = getattr(obj, name, None) or ""
    if entity.field(name).type is FieldType.MARKDOWN:
        value = strip_tags(markdown_html(value))
    return Truncator(" ".join(str(value).split())).words(DESCRIPTION_WORDS)
