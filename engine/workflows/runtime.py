"""Workflow behaviour at run time, inside the write path (``engine.writes``): a transition's guard and
required fields before the write, then its actions, the states' on_leave/on_enter actions and the
entity's triggers in the same transaction. Whatever fails rolls the whole write back.

Expressions were checked by ``cabinet check``; they are compiled once per version, on first use.
"""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils.translation import get_language, gettext

from .. import webhooks
from ..expr import compile_expr, env_for
from ..expr.run import pk_of
from ..fieldtypes import FieldType
from ..writes import GuardRefused, RuleViolation, allowed, hooks, outbox, system_access, transitions_of
from ..writes import create as create_row


class Compiled:
    """The expressions of one version's workflows and triggers, each compiled on first use."""

    def __init__(self, spec):
        self.spec = spec
        self.cache = {}

    def expr(self, entity, text, kind="value", allow_old=False):
        key = (entity, text, kind, allow_old)
        if key not in self.cache:
            self.cache[key] = compile_expr(text, spec=self.spec, entity=entity, kind=kind, allow_old=allow_old)
        return self.cache[key]


def compiled(built):
    """The compiled expressions of version ``built`` (kept with it, dropped with it)."""
    return built.__dict__.setdefault("_workflow_exprs", Compiled(built.spec))


# --- guards: before the write, and for the buttons a user sees ---------------------------------

def guard_expr(built, entity, t):
    return compiled(built).expr(entity, t.guard.when, "bool") if t.guard else None


def refusal(built, t):
    """Why the guard of ``t`` said no, in the user's language."""
    if t.guard and t.guard.message.texts:
        return t.guard.message.get(get_language(), built.spec.default_language)
    name = t.label.get(get_language(), built.spec.default_language)
    return gettext("“%(action)s” is not possible for this row now.") % {"action": name}


def guarded(access, entity, t, queryset):
    """``queryset`` narrowed to the rows where the guard of ``t`` holds for ``access``'s user: one SQL filter,
    whatever the rows (the buttons of a list page)."""
    expr = guard_expr(access.policy.built, entity, t)
    return queryset if expr is None else queryset.filter(expr.q(env_for(access)))


def available(access, entity, obj):
    """{name: transition} the user may fire on ``obj`` now: granted, listed for their role, from its state,
    within the rights that depend on the row, and passing the guard (one query per candidate)."""
    found = {}
    for name, (wf, t) in transitions_of(access.policy.built.spec, entity).items():
        if getattr(obj, wf.field) in t.sources and allowed(access, entity, name) and \
                guarded(access, entity, t, access.queryset(entity, name).filter(pk=obj.pk)).exists():
            found[name] = t
    return found


def guard_holds(built, env, entity, t, model, pk):
    """(holds, inputs) of the guard of ``t`` on the stored row ``pk``: inputs are the values it read."""
    expr = guard_expr(built, entity, t)
    if expr is None:
        return True, {}
    inputs = expr.read(env, model, pk)
    return bool(expr.evaluate(env, inputs)), inputs


def check_transition(ctx):
    """Refuse a transition whose guard fails on the locked row, or that lacks a required field."""
    if ctx.action != "transition":
        return
    t = ctx.transition
    if t.guard:
        holds, inputs = guard_holds(ctx.built, ctx.env, ctx.entity.name, t, ctx.model, ctx.obj.pk)
        if not holds:
            raise GuardRefused(refusal(ctx.built, t))
        ctx.audit["guard"] = {"when": t.guard.when, "inputs": inputs}
    missing = {name: [gettext("This field is required.")] for name in t.required
               if ctx.data.get(name) in (None, "", [], ())}
    if missing:
        raise RuleViolation(fields=missing, code="required")
    if ctx.data:
        ctx.audit["fields"] = {name: _plain(value) for name, value in ctx.data.items()}


def _plain(value):
    """A filled value as audit data: rows as their ids."""
    if hasattr(value, "pk"):
        return value.pk
    if isinstance(value, list | tuple | set | QuerySet):
        return sorted(_plain(v) for v in value)
    return value


# --- actions ---------------------------------------------------------------------------------

def planned(ctx):
    """The actions a write runs after it is saved: state leave/enter, the transition's own, triggers."""
    spec, entity = ctx.built.spec, ctx.entity
    if ctx.action == "transition":
        states = {s.name: s for s in ctx.workflow.states}
        source = states[ctx.old[ctx.workflow.field]]
        return [*source.on_leave, *ctx.transition.actions, *states[ctx.transition.target].on_enter]
    found = []
    if ctx.action == "create":
        for wf in spec.workflows:
            if wf.entity == entity.name:
                found += next(s for s in wf.states if s.name == wf.initial).on_enter
    return [*found, *dict(entity.triggers).get(ctx.action, ())]


def after_write(ctx):
    if ctx.action != "delete":
        run_actions(ctx, planned(ctx))


def expressions(action):
    """(text, kind) of every expression of ``action``."""
    found = [(action.when, "bool")] if action.when else []
    found += [(text, "value") for _name, text in action.values]
    if action.kind in ("increment", "decrement"):
        found.append((action.by, "value"))
    if action.to:
        found.append((action.to, "value"))
    return found


def remember_old(ctx):
    """Before a change is saved, read what its actions' expressions read of ``old``: the row as it is still
    stored, along refs too (``old.stay.guest.name``), which the plain values of ``ctx.old`` cannot follow."""
    if ctx.action not in ("update", "transition"):
        return
    olds = vars(ctx).setdefault("old_rows", {})
    for action in planned(ctx):
        for text, kind in expressions(action):
            expr = compiled(ctx.built).expr(ctx.entity.name, text, kind, allow_old=True)
            if expr.uses_old and text not in olds:
                olds[text] = expr.read(ctx.env, ctx.model, ctx.obj.pk)


def before_delete(ctx):
    """Delete triggers run while the row still exists, so they read its values and paths."""
    if ctx.action == "delete":
        run_actions(ctx, dict(ctx.entity.triggers).get("delete", ()))


def run_actions(ctx, actions):
    """Run ``actions`` (ActionSpecs of ``ctx.entity``) for the row ``ctx.obj`` in the current transaction.

    ``ctx`` is an ``engine.writes.WriteContext`` (``access``, ``built``, ``entity``, ``model``, ``obj``,
    ``old``, ``env``, ``now``, ``audit``); what ran is listed in ``ctx.audit["actions"]``. A failing action
    raises (a ``RuleViolation``), which rolls back the write it belongs to.
    """
    for i, action in enumerate(actions):
        if action.when and not value(ctx, action.when, "bool"):
            continue
        done = RUN[action.kind](ctx, action, i)
        ctx.audit.setdefault("actions", []).append({"action": action.kind, **done})


def value(ctx, text, kind="value"):
    """Evaluate ``text`` on the row of ``ctx`` as it is stored now (and on its values before the write)."""
    expr = compiled(ctx.built).expr(ctx.entity.name, text, kind, allow_old=ctx.old is not None)
    old = vars(ctx).get("old_rows", {}).get(text, ctx.old)
    # The row is locked and ``ctx.obj`` holds it as stored: its own columns need no query.
    row = expr.values_of(ctx.obj) if expr.row_local else expr.read(ctx.env, ctx.model, ctx.obj.pk)
    return expr.evaluate(ctx.env, row, old)


def target(ctx, dotted):
    """(locked row, field spec, entity spec) that path ``dotted`` ends at, or (None, ...) past an empty ref."""
    *hops, name = dotted.split(".")
    entity, row = ctx.entity, ctx.obj
    if hops:
        if len(hops) == 1:  # the ref's id is on the locked row
            pk = getattr(ctx.obj, ctx.model._meta.get_field(hops[0]).attname)
        else:
            pk = ctx.model._base_manager.filter(pk=ctx.obj.pk).values_list("__".join(hops), flat=True).first()
        for hop in hops:
            entity = ctx.built.spec.entity(entity.field(hop).to)
        row = None if pk is None else ctx.built.model(entity.name)._base_manager.select_for_update().get(pk=pk)
    return row, entity.field(name), entity


def save(row, names):
    """Save the fields ``names`` of ``row`` after Django's validation (field rules, constraints)."""
    try:
        row.full_clean()
    except ValidationError as exc:
        raise RuleViolation.from_validation(exc) from None
    row.save(update_fields=names)


def assign(row, f, data):
    if f.type is FieldType.REF:
        setattr(row, f"{f.name}_id", pk_of(data))
    else:
        setattr(row, f.name, data)


def do_set(ctx, action, _i):
    values = [(dotted, value(ctx, text)) for dotted, text in action.values]
    rows = {}
    for dotted, data in values:
        row, f, _entity = target(ctx, dotted)
        if row is not None:
            assign(row, f, data)
            rows.setdefault(id(row), (row, []))[1].append(f.name)
    for row, names in rows.values():
        save(row, names)
    return {"set": dict(values)}


def do_step(ctx, action, _i):
    by = value(ctx, action.by)
    row, f, _entity = target(ctx, action.field)
    if row is None or by is None:
        return {"field": action.field, "skipped": True}
    sign = 1 if action.kind == "increment" else -1
    setattr(row, f.name, (getattr(row, f.name) or 0) + sign * by)
    save(row, [f.name])
    return {"field": action.field, "id": row.pk, "by": sign * by}


def do_create(ctx, action, _i):
    model = ctx.built.model(action.entity)
    data = {}
    for name, text in action.values:
        found = value(ctx, text)
        field = model._meta.get_field(name)
        if field.is_relation and found is not None:
            found = field.related_model._base_manager.get(pk=pk_of(found))
        data[name] = found
    row = create_row(system_access(ctx.built), action.entity, data, source="system")
    return {"entity": action.entity, "id": row.pk}


def do_webhook(ctx, action, _i):
    hook = next(h for h in ctx.built.spec.webhooks if h.name == action.webhook)
    event = ctx.transition.name if ctx.transition else ctx.action
    webhooks.emit(ctx.built, ctx.entity.name, event, ctx.obj, hooks=[hook])
    return {"webhook": hook.name}


def do_notify(ctx, action, i):
    to = pk_of(value(ctx, action.to))
    if to is None:
        return {"to": None, "skipped": True}
    event = ctx.transition.name if ctx.transition else ctx.action
    key = f"notify:{ctx.entity.name}:{ctx.obj.pk}:{event}:{i}:{to}:{ctx.now.isoformat()}"
    message = {language or ctx.built.spec.default_language: text for language, text in action.message.texts}
    row = outbox("notify", ctx.entity.name, ctx.obj.pk, {"to": to, "event": event, "message": message}, key)
    return {"to": to, "outbox": row.pk}


RUN = {"set": do_set, "increment": do_step, "decrement": do_step, "create": do_create, "webhook": do_webhook,
       "notify": do_notify}


hooks.register("validate", check_transition)
hooks.register("validate", remember_old)
hooks.register("validate", before_delete)
hooks.register("effects", after_write)
