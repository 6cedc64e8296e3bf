"""The client card beside a conversation: who the client is and their related rows (current stay, recent
orders), shown to staff through their own field policy.

Every row comes from ``Access.queryset`` and every field shown is one the reader may see
(``Access.visible_fields``), formatted as pages format it (``engine.display``). The query count is
constant: the profile row, then one query per related section, plus one per referenced entity.
"""
from __future__ import annotations

from django.utils.translation import get_language

from ..display import Refs, display, row_title
from ..fieldtypes import FieldType
from ..spec import USER


def _label(label, spec):
    return label.get(get_language(), spec.default_language)


def profile_link(entity):
    """The name of ``entity``'s unique ref to the user (what makes it a profile entity), or None."""
    return next((f.name for f in entity.fields if f.type is FieldType.REF and f.to == USER and f.unique), None)


def _ref_fields(entity, names):
    """The specs of ``names`` that are refs to other entities (joined, and their titles checked at once)."""
    return [f for f in (entity.field(n) for n in names) if f is not None and f.type is FieldType.REF and f.to != USER]


def client_card(access, conv):
    """The card of ``conv``'s client for a reader on the staff side, or None (no card, not staff, no client)."""
    from .service import user_name

    policy = access.policy.built.chat
    conv = policy.ensure_visible(access, conv)
    chat = policy.chat(conv.chat)
    if chat.card is None or chat.type == "group" or conv.client_id is None:
        return None
    if policy.side(access, conv) != "staff":
        return None
    spec = access.policy.built.spec
    card = chat.card
    entity = spec.entity(card.entity)
    link = profile_link(entity) if entity is not None else None
    client = conv.client
    result = {"entity": card.entity, "id": None, "title": user_name(client),
              "user": {"id": client.pk, "name": user_name(client)} if client is not None else None,
              "fields": [], "related": []}
    if link is None or not access.can(card.entity, "view"):
        return result
    visible = access.visible_fields(card.entity)
    shown = [entity.field(n) for n in card.fields if n in visible]
    refs = _ref_fields(entity, visible)
    row = (access.queryset(card.entity, "view").select_related(*(f.name for f in refs))
           .filter(**{link: conv.client_id}).first())
    if row is None:
        return result
    titles = Refs(access, spec, spec.currency).load([row], refs)
    result.update(
        id=row.pk, title=row_title(row, entity, visible, spec.currency, titles),
        fields=[{"name": f.name, "label": _label(f.label, spec), "value": display(row, f, spec.currency, titles)}
                for f in shown],
        related=[section for rel in card.related if (section := _related(access, spec, rel, row)) is not None])
    return result


def _related(access, spec, rel, profile_row):
    """One related section: the reader's rows of ``rel.entity`` that lead to the client's profile row."""
    if not access.can(rel.entity, "list"):
        return None
    entity = spec.entity(rel.entity)
    visible = access.visible_fields(rel.entity)
    columns = [entity.field(n) for n in rel.columns if n in visible]
    refs = _ref_fields(entity, visible)
    rows = access.queryset(rel.entity, "list").filter(**{rel.via.replace(".", "__"): profile_row.pk})
    if rel.filter:
        rows = rows.filter(access.condition_q(rel.entity, rel.filter))
    rows = list(rows.select_related(*(f.name for f in refs)).order_by(*rel.order, "-pk")[: rel.limit])
    titles = Refs(access, spec, spec.currency).load(rows, refs)
    return {
        "entity": rel.entity, "title": _label(rel.title, spec),
        "columns": [{"name": f.name, "label": _label(f.label, spec)} for f in columns],
        "rows": [_row(row, entity, visible, columns, spec.currency, titles) for row in rows],
    }


def _row(row, entity, visible, columns, currency, titles):
    values = [display(row, f, currency, titles) for f in columns]
    return {"id": row.pk, "title": row_title(row, entity, visible, currency, titles), "values": values,
            "cells": [{"name": f.name, "value": value} for f, value in zip(columns, values, strict=True)]}
