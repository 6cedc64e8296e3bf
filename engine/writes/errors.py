"""Domain errors of a write: what the API, pages and admin each turn into their own answer.

A ``RuleViolation`` is the user's input (a 400, form field errors); a ``StateConflict`` or a
``GuardRefused`` is about the row as it is now (a 409, a message with the row re-shown).
"""
from __future__ import annotations

from django.core.exceptions import NON_FIELD_ERRORS


class Message(str):
    """A field message that keeps the code of the error it came from (``unique``, ``state_field``...)."""

    code = None

    def __new__(cls, text, code=None):
        message = super().__new__(cls, text)
        message.code = code
        return message


class DomainError(Exception):
    """A write refused: ``message`` for the whole write, ``fields`` {field: [message]} ({} = non-field)."""

    status_code = 400
    default_code = "invalid"
    default_message = "This change was refused."

    def __init__(self, message="", *, fields=None, code=None, source=None):
        self.code = code or self.default_code
        self.fields = {name: [m if isinstance(m, Message) else Message(str(m), self.code) for m in found]
                       for name, found in (fields or {}).items()}
        self.general = str(message or "")  # the message about the write as a whole, if one was given
        self.message = str(message) if message else (
            next((str(m) for found in self.fields.values() for m in found), "") or self.default_message)
        self.source = source  # the Django ValidationError this came from, when it did
        super().__init__(self.message)

    @classmethod
    def from_validation(cls, exc, code=None):
        """The ``RuleViolation`` of a Django ``ValidationError`` (from ``full_clean``), codes kept."""
        found = {}
        if hasattr(exc, "error_dict"):
            for name, errors in exc.error_dict.items():
                key = "" if name == NON_FIELD_ERRORS else name
                for error in errors:
                    for text in error.messages:
                        found.setdefault(key, []).append(Message(text, error.code or "invalid"))
        else:
            found[""] = [Message(text, error.code or "invalid") for error in exc.error_list for text in error.messages]
        plain = found.pop("", [])
        first = found and next(iter(found.values()))[0]
        return cls(" ".join(plain), fields=found, code=code or (plain or [first])[0].code, source=exc)


class RuleViolation(DomainError):
    """The input breaks a field rule, a constraint or an entity rule (HTTP 400, field errors)."""


class ReadOnlyField(RuleViolation):
    """A direct write of a field only the engine writes: the workflow's state, a computed value."""

    default_code = "read_only"


class StateConflict(DomainError):
    """The row is no longer as the caller saw it: not in a ``from`` state, changed concurrently (HTTP 409)."""

    status_code = 409
    default_code = "invalid_state"
    default_message = "This row has changed in the meantime."


class GuardRefused(DomainError):
    """The transition's guard said no (HTTP 409, with the guard's message)."""

    status_code = 409
    default_code = "guard"
    default_message = "This transition is not allowed now."
