"""Create, update, delete and transition: the one path every writer (API, pages, admin, imports,
timers) takes, so a rule holds however a row is written.

Each call is one transaction: forced values, the row locked (update, delete, transition), Django's
``full_clean``, the hook stages (``engine.writes.hooks``), the audit record, webhooks. Refusals are
domain errors (``engine.writes.errors``) that each caller answers in its own way.
"""
from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction
from django.db.models.expressions import DatabaseDefault
from django.db.models.fields.files import FieldFile
from django.utils import timezone
from django.utils.translation import gettext

from .. import webhooks
from ..access import Access, AccessDenied
from . import hooks
from .audit import record
from .errors import ReadOnlyField, RuleViolation, StateConflict

SOURCES = ("api", "page", "admin", "import", "system")


class SystemAccess(Access):
    """The engine itself acting (timers, imports, demo data): every row, every action; audited as "system"."""

    is_superuser = True
    is_system = True


def system_access(built):
    """The actor for timers and imports."""
    return SystemAccess(built.policy, AnonymousUser())


def workflows_of(spec, entity):
    return [wf for wf in spec.workflows if wf.entity == entity]


def state_fields(spec, entity):
    """{state field: workflow} of ``entity``: fields only transitions write."""
    return {wf.field: wf for wf in workflows_of(spec, entity)}


def transitions_of(spec, entity):
    """{transition name: (workflow, transition)} of ``entity``."""
    return {t.name: (wf, t) for wf in workflows_of(spec, entity) for t in wf.transitions}


def allowed(access, entity, name):
    """Whether the user may fire transition ``name``: their role grants it and the transition lists the role."""
    found = transitions_of(access.policy.built.spec, entity).get(name)
    if found is None or not access.can(entity, name):
        return False
    _, t = found
    return access.is_superuser or not t.roles or bool(set(t.roles) & access.roles)


def state_error(field):
    """The refusal of a direct write of a workflow's state field."""
    return ReadOnlyField(fields={field: [gettext("This field changes only through the workflow's transitions.")]},
                         code="state_field")


def plain(obj):
    """The row's stored values as plain data: {field: value}, refs as ids, files as names."""
    values = {}
    for f in obj._meta.concrete_fields:
        if f.primary_key:
            continue
        value = f.value_from_object(obj)
        values[f.name] = (value.name or None) if isinstance(value, FieldFile) else value
    return values


def _many(obj, names):
    return {name: sorted(getattr(obj, name).values_list("pk", flat=True)) for name in names}


def _ids(values):
    return sorted(v.pk if hasattr(v, "pk") else v for v in values)


def _filled(values):
    return {name: value for name, value in values.items() if value not in (None, "")}


def _save(obj, many):
    obj.save()
    for name, value in many.items():
        getattr(obj, name).set(value)


def _split(model, data):
    """(concrete values, many-ref values) of ``data``; a key the model does not have is a field error."""
    concrete, many, unknown = {}, {}, {}
    names = {f.name for f in model._meta.concrete_fields if not f.primary_key}
    m2m = {f.name for f in model._meta.many_to_many}
    for key, value in data.items():
        if key in names:
            concrete[key] = value
        elif key in m2m:
            many[key] = value
        else:
            unknown[key] = ["Unknown field."]
    if unknown:
        raise RuleViolation(fields=unknown, code="unknown")
    return concrete, many


def _apply(obj, values):
    for name, value in values.items():
        obj._meta.get_field(name).save_form_data(obj, value)


def _refuse_state(built, entity, data):
    for name in state_fields(built.spec, entity):
        if name in data:
            raise state_error(name)


def _blank_required(ctx):
    """Required text fields of the row that are missing or blank (only whitespace).

    The forms and the API strip texts and refuse a blank required one; a write here must too, whoever
    calls it: a required text has the column default '' (engine.build.models.db_default_of), which
    Django's ``full_clean`` does not look at, so a missing value would be stored as ''.
    """
    blank = []
    for f in ctx.entity.fields:
        if not (f.required and f.stored and f.type.is_textual):
            continue
        value = getattr(ctx.obj, ctx.model._meta.get_field(f.name).attname, None)
        if value is None or isinstance(value, DatabaseDefault) or (isinstance(value, str) and not value.strip()):
            blank.append(f.name)
    return blank


def _clean(ctx):
    """Django's ``full_clean`` and the required-text rule, every error of both at once as one
    ``RuleViolation`` (a blank required text gets the forms' message, not Django's "cannot be blank")."""
    blank = _blank_required(ctx)
    errors = {name: [ValidationError(gettext("This field is required."), code="required")] for name in blank}
    try:
        ctx.obj.full_clean(exclude=blank)
    except ValidationError as exc:
        found = exc.error_dict if hasattr(exc, "error_dict") else {NON_FIELD_ERRORS: exc.error_list}
        for name, items in found.items():
            errors.setdefault(name, []).extend(items)
    if errors:
        raise RuleViolation.from_validation(ValidationError(errors)) from None


def _lock(model, obj, access, entity, action):
    """Lock the row and load its stored values onto ``obj``; a row gone or out of reach is a conflict."""
    locked = model._base_manager.select_for_update().filter(pk=obj.pk).first()
    if locked is None:
        raise StateConflict(gettext("This row no longer exists."), code="gone")
    allowed = None if access.is_superuser else access.queryset(entity, action)
    # Scope 'all' without a state condition needs no second look; anything else is checked on the locked row.
    if allowed is not None and allowed.query.where and not allowed.filter(pk=obj.pk).exists():
        # The rights depend on the row (its state, its scope) and the row changed since it was read.
        raise StateConflict(gettext("This row has changed in the meantime; you may no longer do this to it."))
    for f in model._meta.concrete_fields:
        if getattr(obj, f.attname) != getattr(locked, f.attname):
            setattr(obj, f.attname, getattr(locked, f.attname))
    return obj


def _context(access, entity, action, obj, data, source, **extra):
    if source not in SOURCES:
        raise ValueError(f"unknown write source {source!r}")
    built = access.policy.built
    now = timezone.now()
    return hooks.WriteContext(access=access, built=built, entity=built.spec.entity(entity),
                              model=built.model(entity), action=action, obj=obj, old=None,
                              data=dict(data or {}), source=source, now=now, **extra)


def _stages(ctx, save):
    hooks.run("validate", ctx)
    hooks.run("lock", ctx)
    save()
    hooks.run("write", ctx)
    hooks.run("check", ctx)
    hooks.run("effects", ctx)


def _changes(old, new, many_old=None, many_new=None):
    changes = {name: [old.get(name) if old else None, value] for name, value in new.items()
               if (old.get(name) if old else None) != value}
    for name, value in (many_new or {}).items():
        before = (many_old or {}).get(name, [])
        if before != value:
            changes[name] = [before, value]
    return changes


def _unique_again(obj):
    """After the database refused a write: the duplicate another request saved meanwhile, as a field error."""
    try:
        obj.validate_unique()
        obj.validate_constraints()
    except ValidationError as exc:
        return RuleViolation.from_validation(exc)
    return StateConflict("The data changed while this was being saved; reload and try again.", code="conflict")


def create(access, entity, data, *, source):
    """Create a row of ``entity`` from ``data`` ({field: model value}); return it."""
    built = access.policy.built
    _refuse_state(built, entity, data)
    model = built.model(entity)
    concrete, many = _split(model, data)
    obj = model()
    ctx = _context(access, entity, "create", obj, data, source)
    try:
        with transaction.atomic():
            _apply(obj, concrete)
            for name, value in access.resolved_forced(entity).items():
                setattr(obj, name, value)
            for name, wf in state_fields(built.spec, entity).items():
                setattr(obj, name, wf.initial)
            hooks.run("prepare", ctx)
            _clean(ctx)
            ctx.changed = set(_filled(plain(obj))) | set(many)
            _stages(ctx, lambda: _save(obj, many))
            changes = _changes({}, _filled(plain(obj)), None, _many(obj, many))
            ctx.changed |= set(changes)
            record(ctx, changes=changes)
            webhooks.emit(built, entity, "create", obj)
    except IntegrityError:
        raise _unique_again(obj) from None
    return obj


def update(access, entity, obj, data, *, source):
    """Change ``obj`` (a row of ``entity``) by ``data``; the row is locked and re-read first."""
    built = access.policy.built
    _refuse_state(built, entity, data)
    model = built.model(entity)
    concrete, many = _split(model, data)
    ctx = _context(access, entity, "update", obj, data, source)
    try:
        with transaction.atomic():
            _lock(model, obj, access, entity, "update")
            ctx.old = plain(obj)
            many_old = _many(obj, many)
            _apply(obj, concrete)
            hooks.run("prepare", ctx)
            _clean(ctx)
            ctx.changed = set(_changes(ctx.old, plain(obj), many_old, {k: _ids(v) for k, v in many.items()}))
            _stages(ctx, lambda: _save(obj, many))
            changes = _changes(ctx.old, plain(obj), many_old, _many(obj, many))
            ctx.changed |= set(changes)
            record(ctx, changes=changes)
            webhooks.emit(built, entity, "update", obj)
    except IntegrityError:
        raise _unique_again(obj) from None
    return obj


def delete(access, entity, obj, *, source):
    """Delete ``obj``; the row is locked first, and its last values go into the audit record."""
    built = access.policy.built
    model = built.model(entity)
    ctx = _context(access, entity, "delete", obj, {}, source)
    with transaction.atomic():
        _lock(model, obj, access, entity, "delete")
        ctx.old = plain(obj)
        pk = obj.pk
        hooks.run("prepare", ctx)
        webhooks.emit(built, entity, "delete", obj)  # the row as it was, while it still exists
        _stages(ctx, obj.delete)
        obj.pk = pk  # Django clears it; the audit record and the caller still name the row
        record(ctx, changes={name: [value, None] for name, value in ctx.old.items() if value not in (None, "")})


def transition(access, entity, obj_or_pk, name, data=None, *, source):
    """Move a row along transition ``name``, filling ``data`` (the transition's fields) on the way.

    The row is locked and its state checked against the locked row: of two concurrent transitions
    from one state, one wins and the other is a ``StateConflict``.
    """
    built = access.policy.built
    found = transitions_of(built.spec, entity).get(name)
    if found is None:
        raise StateConflict(f"{entity} has no transition '{name}'.", code="unknown_transition")
    wf, t = found
    if not allowed(access, entity, name):
        raise AccessDenied(f"You may not {name} this {entity}.")
    data = dict(data or {})
    fillable = set(getattr(t, "fields", ()) or ())
    extra = {key: ["This transition does not fill this field."] for key in data if key not in fillable}
    if wf.field in data:
        raise state_error(wf.field)
    if extra:
        raise RuleViolation(fields=extra, code="unknown")
    model = built.model(entity)
    obj = obj_or_pk if isinstance(obj_or_pk, model) else model._base_manager.filter(pk=obj_or_pk).first()
    if obj is None:
        raise StateConflict(gettext("This row no longer exists."), code="gone")
    concrete, many = _split(model, data)
    ctx = _context(access, entity, "transition", obj, data, source, transition=t, workflow=wf)
    try:
        with transaction.atomic():
            _lock(model, obj, access, entity, name)
            current = getattr(obj, wf.field)
            if current not in t.sources:
                raise StateConflict(f"'{name}' goes from {', '.join(t.sources)}, but this {entity} is '{current}'.")
            ctx.old = plain(obj)
            many_old = _many(obj, many)
            _apply(obj, concrete)
            setattr(obj, wf.field, t.target)
            hooks.run("prepare", ctx)
            _clean(ctx)
            ctx.changed = set(_changes(ctx.old, plain(obj), many_old, {k: _ids(v) for k, v in many.items()}))
            _stages(ctx, lambda: _save(obj, many))
            changes = _changes(ctx.old, plain(obj), many_old, _many(obj, many))
            ctx.changed |= set(changes)
            if data:
                ctx.audit.setdefault("filled", sorted(data))
            record(ctx, changes=changes, from_state=current, to_state=t.target)
            webhooks.emit(built, entity, name, obj)
    except IntegrityError:
        raise _unique_again(obj) from None
    return obj
