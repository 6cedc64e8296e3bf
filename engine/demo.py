"""Load a solution's demo data (``data/demo.yaml``): users with roles and records per entity."""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import yaml
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from .fieldtypes import FieldType
from .spec import USER

RELATIVE = re.compile(r"^\$(today|now)([+-]\d+)?([dh])?$")


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


def load_demo(built, path, stdout=None):
    """Create the demo users and records of ``path``, once: tables that hold rows are left alone."""
    path = Path(path)
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    counts = {}
    with transaction.atomic():
        users = {u["username"]: _user(built, u) for u in data.get("users", [])}
        for entity_name, rows in (data.get("records") or {}).items():
            model = built.model(entity_name)
            if model._default_manager.exists():
                continue
            for row in rows:
                _record(built, model, row, users)
            counts[entity_name] = len(rows)
    return counts


def _user(built, data):
    User = get_user_model()
    user = User.objects.filter(username=data["username"]).first()
    if user is None:
        user = User(username=data["username"], email=data.get("email", ""),
                    first_name=data.get("first_name", ""), last_name=data.get("last_name", ""))
        user.set_password(data["password"])
    user.is_superuser = user.is_staff = bool(data.get("superuser"))
    roles = [built.spec.role(name) for name in data.get("roles", [])]
    if None in roles:
        raise DemoDataError(f"user {data['username']} names an unknown role: {data.get('roles')}")
    user.is_staff = user.is_staff or any(role.staff for role in roles)
    user.save()
    for role in roles:
        user.groups.add(Group.objects.get_or_create(name=role.group)[0])
    return user


def _record(built, model, row, users):
    entity = model.spec
    values, many = {}, {}
    for name, value in row.items():
        f = entity.field(name)
        if f is None:
            raise DemoDataError(f"{entity.name} has no field {name!r}")
        if f.type is FieldType.REF:
            values[name] = users[value] if f.to == USER else _lookup(built, f.to, value)
        elif f.type is FieldType.REFS:
            many[name] = [users[v] if f.to == USER else _lookup(built, f.to, v) for v in value]
        else:
            values[name] = relative_value(value)
    obj = model(**values)
    obj.full_clean()
    obj.save()
    for name, targets in many.items():
        getattr(obj, name).set(targets)
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
