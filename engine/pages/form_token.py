"""One-time form tokens: a form sent twice (a double tap, a resent POST) writes once.

The form carries a random token; the first POST with it claims it in the shared cache (an atomic
``add``) and, once saved, records the row it wrote. A second POST with the same token writes nothing
and is sent to that row. A refused POST frees the token so the corrected form can be sent again.
Without a token (an old page, a script) a POST is handled as before.
"""
from __future__ import annotations

import re
import secrets

from django.core.cache import cache

FIELD = "_form_token"
TTL = 6 * 3600  # seconds a token is remembered; a form left open longer just loses the double-submit guard
PENDING = "pending"
_SHAPE = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


def new_token():
    return secrets.token_urlsafe(24)


def _key(request, token):
    return f"cabinet:form-token:{request.user.pk}:{token}"


class Claim:
    """The claim of one POST on its token: ``fresh`` when this POST may write, else ``row`` already written
    (a pk, or None while the first POST is still being handled)."""

    def __init__(self, request):
        token = request.POST.get(FIELD, "")
        self.key = _key(request, token) if _SHAPE.match(token) else None
        self.fresh, self.row = True, None
        if self.key and not cache.add(self.key, PENDING, TTL):
            self.fresh = False
            found = cache.get(self.key)
            self.row = found if isinstance(found, int) else None

    def done(self, pk):
        if self.key:
            cache.set(self.key, pk, TTL)

    def release(self):
        if self.key and self.fresh:
            cache.delete(self.key)
