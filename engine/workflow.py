"""Workflow transitions: who may move a row from one state to another, and doing it.

Guards and actions (set fields, notify, webhooks on transitions) build on this.
"""
from __future__ import annotations

from django.db import transaction
from rest_framework import status
from rest_framework.exceptions import APIException

from . import webhooks
from .access import AccessDenied


class InvalidState(APIException):
    """The row is not in a state the transition starts from (HTTP 409)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "This transition does not start from the row's current state."
    default_code = "invalid_state"


def transitions_of(spec, entity):
    """{transition name: (workflow, transition)} of ``entity``."""
    return {t.name: (wf, t) for wf in spec.workflows if wf.entity == entity for t in wf.transitions}


def allowed(access, entity, name):
    """Whether the user may fire transition ``name``: their role grants it and the transition lists the role."""
    found = transitions_of(access.policy.built.spec, entity).get(name)
    if found is None or not access.can(entity, name):
        return False
    _, t = found
    return access.is_superuser or not t.roles or bool(set(t.roles) & access.roles)


def fire(access, entity, obj, name):
    """Move ``obj`` along transition ``name``; raise ``AccessDenied`` or ``InvalidState``."""
    wf, t = transitions_of(access.policy.built.spec, entity)[name]
    if not allowed(access, entity, name):
        raise AccessDenied(f"You may not {name} this {entity}.")
    with transaction.atomic():
        model = type(obj)
        current = model._default_manager.select_for_update().filter(pk=obj.pk).values_list(wf.field, flat=True).get()
        if current not in t.sources:
            raise InvalidState(f"'{name}' goes from {', '.join(t.sources)}, but this {entity} is '{current}'.")
        setattr(obj, wf.field, t.target)
        obj.save(update_fields=[wf.field])
        webhooks.emit(access.policy.built, entity, name, obj)
    return obj
