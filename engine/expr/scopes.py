"""The older forms of scopes, card filters and forced values, read as expressions of the one language.

A mapping ``{stay.guest.user: $user, status: [new, accepted]}`` means every pair holds:
``stay.guest.user == user and status in ['new', 'accepted']``; a list means any of its values, null
means no value. A forced (``set:``) value is an expression when it starts with ``$`` (``$user.guest``,
``$today + 3``) or is ``today`` on a date field or ``now`` on a datetime field; anything else is the value itself.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from ..fieldtypes import FieldType


def literal(value):
    """``value`` written in the expression language (a ``$`` variable stays as it is)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return repr(value)
    if value.startswith("$"):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def mapping_text(pairs, spec=None, entity=None):
    """The condition a ``{path: value}`` mapping over ``entity`` stands for (numbers written as text, such as
    ``price: '9.50'``, are read as numbers when the field is a number)."""
    parts = []
    for path, value in pairs:
        f = field_at(spec, entity, path)
        if isinstance(value, (list, tuple)):
            parts.append(f"{path} in [{', '.join(_typed(f, v) for v in value)}]")
        elif value is None:
            parts.append(f"{path} == null")
        else:
            parts.append(f"{path} == {_typed(f, value)}")
    return " and ".join(parts) or "true"


def condition_text(value, spec=None, entity=None):
    """The expression text of a scope or filter: a string is one, a mapping is read with ``mapping_text``."""
    return value if isinstance(value, str) else mapping_text(value, spec, entity)


def field_at(spec, entity, dotted):
    """The field spec a relation path ends at, or None."""
    current = spec.entity(entity) if spec is not None and entity else None
    f = None
    for part in dotted.split("."):
        if current is None:
            return None
        f = current.field(part)
        if f is None:
            return None
        current = spec.entity(f.to) if f.to else None
    return f


def _typed(f, value):
    if f is not None and f.type.is_numeric and isinstance(value, str) and not value.startswith("$"):
        try:
            return format(Decimal(value), "f")
        except InvalidOperation:
            pass
    return literal(value)


def is_expression(f, value):
    """Whether a forced value for field spec ``f`` is an expression rather than the value itself."""
    if not isinstance(value, str):
        return False
    return value.startswith("$") or (f.type, value) in ((FieldType.DATE, "today"), (FieldType.DATETIME, "now"))
