"""The audit trail: one record per write, in the write's transaction, and a row's history as a reader
may see it (changes to fields hidden from them are left out)."""
from __future__ import annotations

from ..models import AuditRecord, Outbox


def actor_of(access):
    """(user or None, label) of whoever writes through ``access``."""
    if getattr(access, "is_system", False):
        return None, "system"
    user = access.user
    if not user.is_authenticated:
        return None, "anonymous"
    return user, user.get_username()


def record(ctx, *, changes, from_state="", to_state=""):
    """Write the audit record of the write ``ctx``; hooks add their ``ctx.audit`` details."""
    user, label = actor_of(ctx.access)
    return AuditRecord.objects.create(
        entity=ctx.entity.name, object_id=ctx.obj.pk, action=ctx.action,
        transition=ctx.transition.name if ctx.transition else "", actor=user, actor_label=label,
        source=ctx.source, at=ctx.now, from_state=from_state or "", to_state=to_state or "",
        changes=changes, details=dict(ctx.audit))


def outbox(kind, entity, object_id, payload, key):
    """Store something to send (once per ``key``) in the current transaction; return the row."""
    row, _ = Outbox.objects.get_or_create(key=key, defaults={"kind": kind, "entity": entity,
                                                             "object_id": object_id, "payload": payload})
    return row


def history(access, entity, pk):
    """The audit records of row ``pk`` of ``entity`` that ``access`` may read of, oldest first.

    The caller checks that the reader may view the row. An update that changed only fields hidden
    from the reader is left out; ``redact`` removes the rest of what they may not see.
    """
    from django.db.models import Q

    visible = list(access.visible_fields(entity))
    records = AuditRecord.objects.filter(entity=entity, object_id=pk).select_related("actor").order_by("at", "id")
    return records.filter(~Q(action="update") | Q(changes__has_any_keys=visible)) if visible else \
        records.exclude(action="update")


def redact(access, entity, item):
    """One audit record as plain data for ``access``: hidden fields' changes left out; the states of a
    transition only when the state field is visible; ``details`` (a guard's inputs, filled fields)
    only for readers who see every field."""
    from .core import state_fields

    spec = access.policy.built.spec
    visible = set(access.visible_fields(entity))
    states = any(name in visible for name in state_fields(spec, entity))
    return {
        "id": item.pk, "at": item.at, "action": item.action, "transition": item.transition or None,
        "actor": item.actor_label or None, "source": item.source or None,
        "from_state": (item.from_state or None) if states else None,
        "to_state": (item.to_state or None) if states else None,
        "changes": {name: values for name, values in item.changes.items() if name in visible},
        "details": item.details if visible >= set(spec.entity(entity).field_names) else {},
    }
