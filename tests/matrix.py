"""A generic access matrix for any solution: rows for two owners, and an oracle in plain Python.

The oracle reads the role specs and walks relation paths with getattr, row by row; the policy
compiles the same specs to SQL. The matrix test asserts that both agree for every role, entity
and action, so it holds for any solution, not only the resort.
"""
from __future__ import annotations

import datetime as dt
import itertools
import re
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from engine.fieldtypes import FieldType
from engine.spec import ACTIONS, USER

counter = itertools.count(1)


def sample(f, variant):
    """A valid value of field spec ``f``; variant 0 and 1 differ where the type allows."""
    n = next(counter)
    t = f.type
    if not f.required and t in (FieldType.DATE, FieldType.DATETIME, FieldType.TIME):
        return None  # optional moments stay empty: a solution's rules may tie them to other rows' dates
    if t is FieldType.CHOICE:
        return f.choice_values[0 if variant == 0 else -1]
    if t is FieldType.BOOLEAN:
        return variant == 0
    if t is FieldType.INTEGER:
        low = int(f.min_value) if f.min_value is not None else 0
        high = int(f.max_value) if f.max_value is not None else low + 1000
        return (low + high) // 2 if variant == 0 else high  # the middle: room under a solution's capacity rules
    if t in (FieldType.DECIMAL, FieldType.MONEY):
        largest = Decimal(10) ** (f.max_digits - f.decimal_places) - Decimal(10) ** -f.decimal_places
        return min(Decimal(f.min_value or 0) + variant, largest).quantize(Decimal(10) ** -f.decimal_places)
    if t is FieldType.DATE:  # from today on: later fields get later dates (check-out after check-in)
        return timezone.localdate() + dt.timedelta(days=n)
    if t is FieldType.DATETIME:
        return timezone.now() + dt.timedelta(hours=n)
    if t is FieldType.TIME:
        return dt.time(variant + 8, 0)
    if t is FieldType.EMAIL:
        return f"u{n}@example.com"
    if t is FieldType.PHONE:
        return f"+7 900 {n:07d}"
    if t is FieldType.URL:
        return f"https://example.com/{n}"
    if t is FieldType.JSON:
        return {"n": n}
    if t in (FieldType.IMAGE, FieldType.FILE):
        return f"upload/{n}.bin"
    text = f"{f.name}-{n}-{variant}"
    width = f.max_length or f.storage_length or 255
    return text[-width:].rjust(f.min_length or 0, "x")


def creation_order(spec):
    """Entities in an order where every required ref points at an entity made before."""
    done, order = set(), []
    pending = list(spec.entities)
    while pending:
        for entity in pending:
            needs = {f.to for f in entity.fields if f.type is FieldType.REF and f.required and f.to != USER}
            if needs - {entity.name} <= done:
                order.append(entity)
                done.add(entity.name)
                pending.remove(entity)
                break
        else:
            raise AssertionError(f"cannot order {[e.name for e in pending]}")
    return order


def make_rows(built, owners):
    """Create, per entity, one row per owner and variant, chained to the same owner's rows."""
    User = get_user_model()
    made = {}  # (entity, owner index, variant) -> row
    for entity in creation_order(built.spec):
        model = built.model(entity.name)
        for (o, owner), variant in itertools.product(enumerate(owners), (0, 1)):
            values, many = {}, {}
            for f in entity.fields:
                if not f.stored:  # computed: no value to give
                    continue
                if f.type is FieldType.REF:
                    if f.to == USER:
                        values[f.name] = owner if not (f.unique and variant) else User.objects.create_user(
                            f"extra{next(counter)}")
                    else:
                        target = made.get((f.to, o, variant)) or made.get((f.to, o, 0))
                        if target is None and f.required:
                            break
                        if f.unique and variant:
                            target = None if not f.required else target
                        values[f.name] = target
                elif f.type is FieldType.REFS:
                    many[f.name] = [r for (e, oo, _), r in made.items() if e == f.to and oo == o] if f.to != USER \
                        else [owner]
                else:
                    values[f.name] = sample(f, variant)
            else:
                row = model(**values)
                row.full_clean(validate_unique=False, validate_constraints=False)
                row.save()
                for name, targets in many.items():
                    getattr(row, name).set(targets)
                made[(entity.name, o, variant)] = row
    return made


def make_users(n=2):
    User = get_user_model()
    return [User.objects.create_user(f"owner{next(counter)}", password="pw-owner-123") for _ in range(n)]


def give_role(users, role):
    """Put ``users`` in exactly the group of ``role``; return fresh user objects (no cached roles)."""
    group, _ = Group.objects.get_or_create(name=role.group)
    User = get_user_model()
    for user in users:
        user.groups.set([group])
    return [User.objects.get(pk=u.pk) for u in users]


# --- the oracle -------------------------------------------------------------------------------

def _walk(row, path):
    values = [row]
    for part in path.split("."):
        nxt = []
        for value in values:
            if value is None:
                nxt.append(None)
            elif part == "id":
                nxt.append(value.pk)
            else:
                attr = getattr(value, part)
                if hasattr(attr, "all") and hasattr(attr, "through"):
                    nxt.extend(attr.all() or [None])
                else:
                    nxt.append(attr)
        values = nxt
    return [v.pk if hasattr(v, "pk") else v for v in values]


def _resolve(built, value, user):
    """The set of values ``value`` stands for, for ``user``."""
    if isinstance(value, (list, tuple)):
        return set(value)
    if not (isinstance(value, str) and value.startswith("$")):
        return {value}
    parts = value[1:].split(".")
    if len(parts) == 1:
        return {user.pk}
    linked = built.spec.entity(parts[1])
    user_field = linked.owner or next(f.name for f in linked.fields if f.type is FieldType.REF and f.to == USER)
    rows = [r for r in built.model(linked.name).objects.all() if getattr(r, f"{user_field}_id") == user.pk]
    if len(parts) == 2:
        return {r.pk for r in rows}
    return {_walk(r, parts[2])[0] for r in rows}


def expected(built, role, entity, action, user, rows):
    """The pks of ``rows`` that ``role``'s grant lets ``user`` ``action``, by the oracle."""
    grant = role.grant(entity.name)
    if grant is None:
        return set()
    transitions = {t.name for wf in built.spec.workflows if wf.entity == entity.name for t in wf.transitions}
    actions = set(ACTIONS) | transitions if "all" in grant.actions else set(grant.actions)
    if action not in actions:
        return set()
    found = set()
    for row in rows:
        if grant.scope == "all":
            ok = True
        elif grant.scope == "own":
            ok = getattr(row, f"{entity.owner}_id") == user.pk
        else:
            ok = all(set(_walk(row, path)) & _resolve(built, value, user) for path, value in grant.scope)
        if ok:
            found.add(row.pk)
    return found


# --- write bodies for the API matrix ----------------------------------------------------------------

UPLOADS = (FieldType.IMAGE, FieldType.FILE)


def state_fields(built, entity):
    """The fields of ``entity`` that a workflow owns: create sets them, transitions change them."""
    return {wf.field for wf in built.spec.workflows if wf.entity == entity.name}


def change(built, entity, row, names):
    """(field, new value) for the first plain field of ``names`` whose sample differs from ``row``'s value
    (never a workflow's state field, which only transitions write)."""
    ruled = {word for rule in entity.rules for word in re.findall(r"[a-z_][a-z0-9_]*", rule.when)}
    for name in names:
        f = entity.field(name)
        if f.type in UPLOADS or f.type in (FieldType.REF, FieldType.REFS) or f.unique or \
                name in state_fields(built, entity) or name in ruled:  # access is tested here, not the rules
            continue
        for variant in (1, 0):
            value = sample(f, variant)
            if value != getattr(row, name):
                return name, value
    return None, None


def create_body(built, entity, user, editable):
    """A valid create body over ``editable``: samples, and refs to rows the oracle says the user may view."""
    body = {}
    for name in editable:
        f = entity.field(name)
        if f.type in UPLOADS or name in state_fields(built, entity):
            continue
        if f.type in (FieldType.REF, FieldType.REFS):
            if f.to == USER:
                target = user.pk
                if f.unique:  # a profile link: a fresh account of the roles owning such rows (access.ref_choices)
                    fresh = get_user_model().objects.create_user(f"fresh{next(counter)}")
                    owners = [r.group for r in built.spec.roles if not r.staff and r.grant(entity.name)]
                    fresh.groups.set(Group.objects.filter(name__in=owners) if owners else user.groups.all())
                    target = fresh.pk
            else:
                rows = list(built.model(f.to).objects.order_by("pk"))
                seen = set()
                for role in built.spec.roles:
                    if role.group in {g.name for g in user.groups.all()}:
                        seen |= expected(built, role, built.spec.entity(f.to), "view", user, rows)
                free = sorted(seen - _used(built, entity, f)) if f.unique else sorted(seen)
                if not free:
                    continue
                target = free[0]
            body[name] = [target] if f.type is FieldType.REFS else target
        else:
            body[name] = sample(f, 0)
    return body


def _used(built, entity, f):
    return set(built.model(entity.name).objects.values_list(f.name, flat=True))


def stored(obj, name, entity):
    """The value of field ``name`` of ``obj`` as a create body gives it (ids for refs)."""
    f = entity.field(name)
    if f.type is FieldType.REF:
        return getattr(obj, f"{name}_id")
    if f.type is FieldType.REFS:
        return sorted(getattr(obj, name).values_list("pk", flat=True))
    return getattr(obj, name)
