"""How field values are shown on pages: localized numbers, dates and money, choice labels, refs."""
from __future__ import annotations

from django.utils import formats, timezone
from django.utils.translation import gettext as _

from .fieldtypes import FieldType


def row_title(obj, entity, visible, currency=""):
    """How a row is named on pages: its title field, else its first two filled visible fields."""
    if entity.title and entity.title in visible:
        text = display(obj, entity.field(entity.title), currency)
        if text:
            return text
    parts = []
    for name in visible:
        f = entity.field(name)
        if f.type in (FieldType.TEXT, FieldType.MARKDOWN, FieldType.JSON, FieldType.REFS):
            continue
        text = display(obj, f, currency)
        if text:
            parts.append(text)
        if len(parts) == 2:
            break
    return " · ".join(parts) or f"#{obj.pk}"


def display(obj, f, currency=""):
    """The text to show for field spec ``f`` of ``obj``."""
    value = getattr(obj, f.name)
    if value is None or value == "":
        return ""
    t = f.type
    if t is FieldType.CHOICE:
        return getattr(obj, f"get_{f.name}_display")()
    if t is FieldType.BOOLEAN:
        return _("Yes") if value else _("No")
    if t is FieldType.MONEY:
        amount = formats.number_format(value, decimal_pos=f.decimal_places, use_l10n=True, force_grouping=True)
        return f"{amount} {f.currency or currency}".strip()
    if t in (FieldType.DECIMAL, FieldType.INTEGER):
        return formats.number_format(value, use_l10n=True, force_grouping=t is FieldType.INTEGER)
    if t is FieldType.DATETIME:
        return formats.date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")
    if t is FieldType.DATE:
        return formats.date_format(value, "SHORT_DATE_FORMAT")
    if t is FieldType.TIME:
        return formats.time_format(value, "TIME_FORMAT")
    if t in (FieldType.IMAGE, FieldType.FILE):
        return value.name.rsplit("/", 1)[-1]
    if t is FieldType.REFS:
        return ", ".join(str(item) for item in value.all())
    return str(value)
