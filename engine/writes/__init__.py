"""One write path: create, update, delete and transition rows, with hooks, audit and domain errors."""
from .audit import history, outbox, redact
from .core import (
    SystemAccess,
    allowed,
    create,
    delete,
    plain,
    state_error,
    state_fields,
    system_access,
    transition,
    transitions_of,
    update,
    workflows_of,
)
from .errors import DomainError, GuardRefused, Message, ReadOnlyField, RuleViolation, StateConflict
from .hooks import STAGES, WriteContext, register, unregister

__all__ = [
    "STAGES", "DomainError", "GuardRefused", "Message", "ReadOnlyField", "RuleViolation", "StateConflict",
    "SystemAccess", "WriteContext", "allowed", "create", "delete", "history", "outbox", "plain", "redact",
    "register", "state_error", "state_fields", "system_access", "transition", "transitions_of", "unregister",
    "update", "workflows_of",
]
