"""Ref choices as a reader sees them: the rows the policy offers (``Access.ref_choices``: scope, the field's
``limit_choices``, the current value), each named so a person can tell them apart, in one query.

A choice is named by its entity's title; a title that is not a text (a stay titled by its check-in date)
gets the next two visible fields beside it, and a row with a money field shows its price, so a service
reads "Champagne · 25.00 EUR" and a stay "01.06.2026 · Anna Petrova · 101". Accounts (refs to the user)
read "Full Name (username)". Lists' ref filters call ``ref_choice_list`` too.
"""
from __future__ import annotations

from django.utils.translation import gettext as _

from ..display import Refs, display
from ..fieldtypes import FieldType
from ..spec import USER

SKIPPED = (FieldType.TEXT, FieldType.MARKDOWN, FieldType.JSON, FieldType.REFS, FieldType.IMAGE, FieldType.FILE)
TEXTUAL = (FieldType.STRING, FieldType.EMAIL, FieldType.PHONE, FieldType.URL, FieldType.CHOICE)


def label_fields(entity, visible):
    """The field specs a choice of ``entity`` is named by, for a reader who sees ``visible``."""
    shown = [entity.field(n) for n in visible if entity.field(n).type not in SKIPPED]
    title = entity.field(entity.title) if entity.title in visible else None
    if title is not None and title.type in TEXTUAL:
        money = next((f for f in shown if f.type is FieldType.MONEY), None)
        return [title] + ([money] if money else [])
    rest = [f for f in shown if f is not title]
    return ([title] if title else []) + rest[: 3 - (1 if title else 0)]


def account_label(user):
    """An account as a choice: its full name and username, or the username alone."""
    name = user.get_full_name() if hasattr(user, "get_full_name") else ""
    username = user.get_username()
    return f"{name} ({username})" if name and name != username else username


def ref_choice_list(access, built, entity, field, current=None):
    """[(pk, label)] of the rows the reader may pick for ref ``field`` of ``entity``: one query for the rows,
    one per entity the labels' refs point at (their visibility)."""
    rows = access.ref_choices(entity, field, current)
    target = built.spec.entity(entity).field(field).to
    if target == USER:
        return [(user.pk, account_label(user)) for user in rows.order_by(rows.model.USERNAME_FIELD)]
    spec = built.spec.entity(target)
    fields = label_fields(spec, access.visible_fields(target))
    refs = [f for f in fields if f.type is FieldType.REF and f.to != USER]
    rows = list(rows.select_related(*(f.name for f in refs)) if refs else rows)
    names = Refs(access, built.spec, built.spec.currency).load(rows, refs)
    return [(row.pk, row_label(row, fields, built.spec.currency, names)) for row in rows]


def row_label(row, fields, currency, refs):
    parts = [text for text in (display(row, f, currency, refs) for f in fields) if text]
    return " · ".join(parts) or f"#{row.pk}"


def empty_label():
    return _("Choose…")
