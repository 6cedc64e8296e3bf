"""Query parameters of the pages, parsed in one place: whatever a client sends, a page answers 200 or 400.

Each parser either returns a value the page can use as is or raises ``BadParameter`` (HTTP 400);
lenient ones fall back to the page's default instead (an unknown sort column, a malformed date).
"""
from __future__ import annotations

import datetime as dt

from django.utils.translation import gettext as _

NUL = "\x00"


class BadParameter(Exception):
    """A query parameter no page can use (HTTP 400), e.g. a NUL byte, which PostgreSQL refuses in strings."""

    status_code = 400
    default_code = "invalid"

    def __init__(self, name, message):
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


def text(request, name, max_length=100):
    """A free-text parameter (search), stripped and cut to ``max_length``; NUL bytes are refused."""
    value = request.GET.get(name, "")
    if NUL in value:
        raise BadParameter(name, _("This value may not contain NUL characters."))
    return value.strip()[:max_length]


def choice(request, name, options):
    """One of ``options`` (strings), else ""."""
    value = request.GET.get(name, "")
    return value if value in options else ""


def sort(request, columns):
    """``column`` or ``-column`` for one of ``columns``, else "" (the entity's ordering)."""
    value = request.GET.get("sort", "")
    column = value[1:] if value.startswith("-") else value
    return value if column in columns else ""


def page_number(request, name="page"):
    """A page number the paginator can take (``get_page`` falls back to the first or last page), else 1."""
    value = request.GET.get(name, "")
    return int(value) if value.isdigit() and len(value) < 10 else 1


def date(request, name, default):
    """An ISO date (``YYYY-MM-DD``), else ``default``."""
    try:
        return dt.date.fromisoformat(request.GET.get(name, ""))
    except ValueError:
        return default


def shift(day, days):
    """``day`` moved by ``days``, or None past the ends of the calendar (0001-01-01, 9999-12-31)."""
    try:
        return day + dt.timedelta(days=days)
    except OverflowError:
        return None
