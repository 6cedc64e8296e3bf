"""Message text to HTML: escaped, line breaks kept, web links made clickable (and nothing else).

Django's ``urlize`` escapes everything it does not turn into a link and links only ``http(s)://``,
``www.`` and e-mail addresses, so ``javascript:`` and other schemes stay plain text. Every link opens
in a new tab without giving the page a handle on the opener.
"""
from __future__ import annotations

from django.utils.html import urlize
from django.utils.safestring import mark_safe

MAX_LENGTH = 4000
_REL = ' rel="nofollow"'
_SAFE_REL = ' rel="nofollow noopener noreferrer" target="_blank"'


def html(text):
    """The safe HTML of a message's ``text``."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    linked = urlize(text, nofollow=True, autoescape=True)
    # The text is escaped, so a quote the sender typed is '&quot;': only urlize's own tags carry this attribute.
    linked = linked.replace(_REL, _SAFE_REL)
    return mark_safe(linked.replace("\n", "<br>\n"))  # noqa: S308  (escaped by urlize above)


def preview(text, length=120):
    """A one-line excerpt of ``text`` for lists and notices (plain text: escape it where shown)."""
    line = " ".join((text or "").split())
    return line if len(line) <= length else line[: length - 1].rstrip() + "…"
