"""Chat errors, shaped like DRF's: ``status_code``, ``default_code``, ``detail`` and ``fields``.

``NotVisible`` is also an ``engine.access.NotFound`` (an ``Http404``) and ``NotAllowed`` an
``engine.access.AccessDenied``, so a page or a view that already answers those answers these alike.
"""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from ..access import AccessDenied, NotFound


class ChatError(Exception):
    """A chat action refused: ``detail`` for the whole action, ``fields`` {field: [{message, code}]}."""

    status_code = 400
    default_code = "invalid"
    default_detail = _("This was refused.")

    def __init__(self, detail=None, *, fields=None, code=None):
        self.code = code or self.default_code
        self.fields = {name: [_item(m, self.code) for m in (found if isinstance(found, (list, tuple)) else [found])]
                       for name, found in (fields or {}).items()}
        first = next((item["message"] for found in self.fields.values() for item in found), "")
        self.detail = str(detail or first or self.default_detail)
        super().__init__(self.detail)

    def as_dict(self):
        """The error as the API answers it: ``{"detail", "code", "fields"}``."""
        return {"detail": self.detail, "code": self.code, "fields": self.fields}


def _item(message, code):
    if isinstance(message, dict):
        return {"message": str(message.get("message", "")), "code": message.get("code") or code}
    return {"message": str(message), "code": getattr(message, "code", None) or code}


class NotVisible(ChatError, NotFound):
    """The conversation (or message, or file) is not visible to the user: answered as if it did not exist."""

    status_code = 404
    default_code = "not_found"
    default_detail = _("Not found.")


class NotAllowed(ChatError, AccessDenied):
    """The user sees the conversation but may not do this in it."""

    status_code = 403
    default_code = "permission_denied"
    default_detail = _("You may not do this.")


class Invalid(ChatError):
    """The input is wrong: empty or too long text, a refused file, an unknown member."""

    status_code = 400
    default_code = "invalid"
    default_detail = _("Invalid input.")


class Conflict(ChatError):
    """The conversation is not in a state that allows this (a row changed meanwhile, a transition refused)."""

    status_code = 409
    default_code = "conflict"
    default_detail = _("This conversation has changed in the meantime.")


class Closed(Conflict):
    """The conversation is closed: no one posts in it."""

    default_code = "closed"
    default_detail = _("This conversation is closed.")


def from_domain(exc):
    """The chat error of a write refusal (``engine.writes.DomainError``) or a Django ``ValidationError``."""
    if isinstance(exc, ValidationError):
        fields = {}
        if hasattr(exc, "error_dict"):
            for name, errors in exc.error_dict.items():
                fields[name] = [{"message": m, "code": e.code or "invalid"} for e in errors for m in e.messages]
            return Invalid(fields=fields)
        return Invalid(" ".join(exc.messages))
    fields = {name or "detail": [{"message": str(m), "code": getattr(m, "code", None) or exc.code} for m in found]
              for name, found in exc.fields.items()}
    cls = Invalid if exc.status_code == 400 else Conflict
    return cls(exc.general or exc.message, fields=fields, code=exc.code)
