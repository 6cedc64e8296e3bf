"""Load a solution's demo data (``data/*.yaml``): users with roles and records per entity.

The data was checked with the solution (``engine.demodata``); what can still go wrong here depends on
the database (rows already there, a uniqueness the data cannot see), and it rolls everything back.
Records are written by the system actor through the write path (``engine.writes``, source "import"):
the same validation, rules and audit as any other write; a row's ``_transitions`` are then walked to
bring it to its state.
"""
from __future__ import annotations

import datetime as dt

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import MultipleObjectsReturned, ObjectDoesNotExist
from django.db import DatabaseError, transaction
from django.utils import timezone

from . import writes
from .content import field_of
from .demodata import RELATIVE, TRANSITIONS
from .fieldtypes import FieldType
from .spec import USER


class DemoDataError(Exception):
    """The demo data file does not fit the solution."""


def relative_value(value):
    """Turn '$today+3' into a date and '$now-2h' into a datetime; leave other values alone."""
    if not isinstance(value, str):
        return value
    match = RELATIVE.match(value)
    if not match:
        return value
    base, offset, unit = match.group(1), int(match.group(2) or 0), match.group(3) or ("d" if match.group(1) == "today"
                                                                                     else "h")
    delta = dt.timedelta(days=offset) if unit == "d" else dt.timedelta(hours=offset)
    return timezone.localdate() + delta if base == "today" else timezone.now() + delta


def load_demo(built, data):
    """Create the users and records of ``data`` (a checked ``DemoData``) in one transaction, once:
    tables that already hold rows are left alone. Raise ``DemoDataError`` (nothing written) if the
    database refuses a row."""
    counts = {}
    system = writes.system_access(built)
    try:
        with transaction.atomic():
            users = {u["username"]: _user(built, u) for u in data.user_rows}
            for entity_name, rows in data.records:
                model = built.model(entity_name)
                if entity_name not in counts and model._default_manager.exists():
                    continue
                for i, row in enumerate(rows):
                    try:
                        _record(built, system, model, row, users)
                    except writes.DomainError as exc:
                        raise DemoDataError(f"records.{entity_name}[{i}]: {_messages(exc)}") from exc
                    except (ObjectDoesNotExist, MultipleObjectsReturned) as exc:
                        raise DemoDataError(f"records.{entity_name}[{i}]: a reference does not pick exactly "
                                            f"one row ({exc})") from exc
                counts[entity_name] = counts.get(entity_name, 0) + len(rows)
            if data.chats:  # demo conversations, posted by their authors through the chat service
                from .chat.demo import load_chats

                counts.update({f"chat {k}": v for k, v in load_chats(built, data.chats, users).items()})
    except DatabaseError as exc:
        raise DemoDataError(f"the database refused the demo data: {exc}") from exc
    return counts


def _messages(exc):
    found = [f"{k}: {' '.join(v)}" for k, v in exc.fields.items()]
    return "; ".join(([exc.general] if exc.general else []) + found) or exc.message


def _user(built, data):
    User = get_user_model()
    user = User.objects.filter(username=data["username"]).first()
    if user is None:
        user = User(username=data["username"], email=data.get("email", ""),
                    first_name=data.get("first_name", ""), last_name=data.get("last_name", ""))
        user.set_password(data["password"])
    user.is_superuser = user.is_staff = bool(data.get("superuser"))
    roles = [built.spec.role(name) for name in data.get("roles", [])]
    user.is_staff = user.is_staff or any(role.staff for role in roles)
    user.save()
    for role in roles:
        user.groups.add(Group.objects.get_or_create(name=role.group)[0])
    return user


def _record(built, system, model, row, users):
    entity = model.spec
    values = {}
    for name, value in row.items():
        if name == TRANSITIONS:
            continue
        f = field_of(entity, name)  # a language column of a translated field too ('name_ru')
        if f is None:
            raise DemoDataError(f"{entity.name} has no field {name!r}")
        if f.type is FieldType.REF:
            values[name] = users[value] if f.to == USER else _lookup(built, f.to, value)
        elif f.type is FieldType.REFS:
            values[name] = [users[v] if f.to == USER else _lookup(built, f.to, v) for v in value]
        else:
            values[name] = relative_value(value)
    obj = writes.create(system, entity.name, values, source="import")
    for name in row.get(TRANSITIONS) or ():
        writes.transition(system, entity.name, obj, name, source="import")
    return obj


def _lookup(built, entity_name, criteria):
    model = built.model(entity_name)
    if not isinstance(criteria, dict):
        raise DemoDataError(f"a reference to {entity_name} must be a mapping of field to value, not {criteria!r}")
    filters = {}
    for key, value in criteria.items():
        f = model.spec.field(key)
        if f is not None and f.type is FieldType.REF and isinstance(value, dict):
            filters[key] = _lookup(built, f.to, value)
        else:
            filters[key] = relative_value(value)
    return model._default_manager.get(**filters)
