"""Checks of workflows and entity triggers: states, transitions, roles, guards, fields to fill and actions.

A rule that cannot take effect is a located error, never silently accepted: an unreachable state, a
transition that can never fire, a role that is listed but lacks the grant, an action writing a field the
workflow owns, a value that cannot fit, a webhook that does not exist.
"""
from __future__ import annotations

from ..errors import Problem
from ..expr import ExprError, compile_expr
from ..expr.checks import problem_of
from ..fieldtypes import FieldType
from ..loader import path_text
from ..spec import ACTION_KINDS, USER
from ..validate import suggest

NOT_FILLABLE = {FieldType.IMAGE, FieldType.FILE}  # a transition's fields come as form or JSON values
ROW_PATHS = frozenset({"history", "transitions"})  # GET /api/<entity>/<id>/<path>/ beside the transitions


def an(word):
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"


def owned_fields(spec, entity):
    """{field: why} of the fields of ``entity`` that no action or form may write."""
    owned = {wf.field: f"the state field of workflow '{wf.name}'" for wf in spec.workflows if wf.entity == entity.name}
    for f in entity.fields:
        if getattr(f, "computed", None) or getattr(f, "sequence", None):
            owned.setdefault(f.name, "a computed field")
    return owned


def reachable(wf):
    """The states a row can be in: the initial one and every state a transition leads to from there."""
    seen, todo = {wf.initial}, [wf.initial]
    while todo:
        state = todo.pop()
        for t in wf.transitions:
            if state in t.sources and t.target not in seen:
                seen.add(t.target)
                todo.append(t.target)
    return seen


class WorkflowChecker:
    """Check every workflow and every entity's triggers of ``spec``; ``problems`` lists what is wrong."""

    def __init__(self, spec, doc):
        self.spec = spec
        self.doc = doc
        self.entities = {e.name: e for e in spec.entities}
        self.roles = {r.name: r for r in spec.roles}
        self.problems: list[Problem] = []

    def add(self, code, message, path, hint="", key=False):
        self.problems.append(Problem(code, message, self.doc.loc(path, key=key), hint))

    def run(self):
        for wf in self.spec.workflows:
            entity = self.entities.get(wf.entity)
            if entity is not None:
                self.check_workflow(wf, entity)
        for entity in self.spec.entities:
            for event, actions in entity.triggers:
                self.check_actions(entity, actions, event=event, old=event == "update")
        self.check_create_cycles()
        return self.problems

    # --- states and transitions --------------------------------------------------------------

    def check_workflow(self, wf, entity):
        path = ("workflows", wf.name)
        states = {s.name: s for s in wf.states}
        if wf.initial in states:
            seen = reachable(wf)
            for s in wf.states:
                if s.name not in seen:
                    self.add("E351", f"state '{s.name}' of workflow '{wf.name}' cannot be reached: no transition "
                             f"leads to it from the initial state '{wf.initial}'", (*path, "states", s.name),
                             "add a transition to it, or remove the state", key=True)
            for t in wf.transitions:
                known = [s for s in t.sources if s in states]
                if known and len(known) == len(t.sources) and not set(known) & seen:
                    self.add("E352", f"transition '{t.name}' can never fire: no row can be in "
                             f"{', '.join(repr(s) for s in known)}", (*path, "transitions", t.name, "from"),
                             f"start it from a state reachable from '{wf.initial}'")
        for t in wf.transitions:
            tpath = (*path, "transitions", t.name)
            if t.name in ROW_PATHS:
                self.add("E120", f"transition name '{t.name}' is the API's own path /api/{wf.entity}/<id>/{t.name}/",
                         tpath, f"choose another name, e.g. '{t.name}_{wf.entity}'", key=True)
            for i, source in enumerate(t.sources):
                if source in states and states[source].final:
                    self.add("E353", f"transition '{t.name}' leaves '{source}', a final state",
                             (*tpath, "from", i) if len(t.sources) > 1 else (*tpath, "from"),
                             f"remove 'final: true' from '{source}', or start the transition elsewhere")
            self.check_roles(wf, t, tpath)
            self.check_fields(wf, entity, t, tpath)
            if t.guard:
                self.compiled(entity, t.guard.path, t.guard.when, "bool")
            self.check_actions(entity, t.actions, old=True)
        for s in wf.states:
            # The initial state is entered by a create too, where there is no row before the change.
            self.check_actions(entity, s.on_enter, old=s.name != wf.initial)
            self.check_actions(entity, s.on_leave, old=True)
        for timer in getattr(wf, "timers", ()):
            self.check_actions(entity, timer.actions)  # run on the row as it is when the timer fires

    def check_roles(self, wf, t, tpath):
        for i, name in enumerate(t.roles):
            role = self.roles.get(name)
            if role is None:  # reported as an unknown role (E203)
                continue
            grant = role.grant(wf.entity)
            if grant is None or not ({"all", t.name} & set(grant.actions)):
                self.add("E354", f"role '{name}' is listed on transition '{t.name}', but its grant on "
                         f"'{wf.entity}' does not include '{t.name}', so it can never fire it",
                         (*tpath, "roles", i),
                         f"add '{t.name}' to 'roles.{name}.entities.{wf.entity}.actions', or remove the role here")

    def check_fields(self, wf, entity, t, tpath):
        owned = owned_fields(self.spec, entity)
        written = self.doc.data["workflows"][wf.name]["transitions"][t.name].get("fields", ())
        listed = [((*tpath, "fields", i), name) for i, name in enumerate(written)]
        listed += [((*tpath, "required", i), name) for i, name in enumerate(t.required) if name not in written]
        for fpath, name in listed:
            f = entity.field(name)
            if f is None:
                self.add("E202", f"'{path_text(fpath)}' refers to unknown field '{name}'"
                         f"{suggest(name, entity.field_names)}", fpath,
                         f"known fields: {', '.join(entity.field_names)}")
            elif name in owned:
                self.add("E355", f"'{path_text(fpath)}' is '{name}', {owned[name]}, which a transition's form "
                         "cannot fill", fpath, "fill another field; the workflow sets the state itself")
            elif f.type in NOT_FILLABLE:
                self.add("E216", f"'{path_text(fpath)}' is '{name}', a {f.type.value} field, which a "
                         "transition cannot take", fpath, "fill it on the row's edit form instead")

    # --- actions -----------------------------------------------------------------------------

    def compiled(self, entity, path, text, kind="value", old=False):
        """Compile ``text`` as an expression over ``entity``; report where it is wrong and return None."""
        options = {"spec": self.spec, "entity": entity.name, "kind": kind, "allow_old": old}
        try:
            return compile_expr(text, **options)
        except ExprError as exc:
            self.problems.append(problem_of(self.doc, path, exc))
            return None

    def check_actions(self, entity, actions, event=None, old=False):
        for action in actions:
            if action.when:
                self.compiled(entity, (*action.path, "when"), action.when, "bool", old)
            if len(action.kinds) != 1:
                what = "several actions" if action.kinds else "no action"
                self.add("E350", f"'{path_text(action.path)}' names {what}"
                         f"{' (' + ', '.join(action.kinds) + ')' if action.kinds else ''}; each item is one action",
                         action.path, f"write one of {', '.join(ACTION_KINDS)} per item (plus 'when' if needed)")
                continue
            getattr(self, f"check_{action.kind}")(entity, action, event, old)

    def check_set(self, entity, action, event, old):
        for target, text in action.values:
            vpath = (*action.path, "set", target)
            f = self.written(entity, target, vpath, event, key=True)
            expr = self.compiled(entity, vpath, text, old=old) if f is not None else None
            if expr is not None:
                self.check_fits(f, expr, vpath)

    def check_increment(self, entity, action, event, old):
        fpath = (*action.path, action.kind, "field")
        f = self.written(entity, action.field, fpath, event)
        if f is not None and not f.type.is_numeric:
            self.add("E357", f"'{path_text(fpath)}' is '{action.field}', a {f.type.value} field, which cannot be "
                     f"{action.kind}ed", fpath, "name an integer, decimal or money field")
            f = None
        bpath = (*action.path, action.kind, "by")
        expr = self.compiled(entity, bpath, action.by, old=old)
        if f is not None and expr is not None:
            self.check_fits(f, expr, bpath)

    def check_fits(self, f, expr, path):
        """Report a value of type ``expr.type`` that field ``f`` cannot take."""
        problem = misfit(f, expr.type)
        if problem:
            self.add("E357", f"'{path_text(path)}' gives {expr.type} ('{expr.text}') to '{f.name}', "
                     f"{an(f.type.value)} field: {problem}", path, "write a value of the field's type")

    check_decrement = check_increment

    def check_create(self, entity, action, event, old):
        apath = (*action.path, "create")
        target = self.entities.get(action.entity)
        if target is None:
            self.add("E201", f"'{path_text((*apath, 'entity'))}' refers to unknown entity '{action.entity}'"
                     f"{suggest(action.entity, self.entities)}", (*apath, "entity"),
                     f"known entities: {', '.join(sorted(self.entities))}")
            return
        owned = owned_fields(self.spec, target)
        given = {name for name, _ in action.values}
        for name in given:
            vpath = (*apath, "values", name)
            f = target.field(name)
            if f is None:
                self.add("E202", f"'{path_text(vpath)}' refers to unknown field '{name}' of '{target.name}'"
                         f"{suggest(name, target.field_names)}", vpath,
                         f"known fields: {', '.join(target.field_names)}", key=True)
            elif name in owned:
                self.add("E355", f"'{path_text(vpath)}' writes '{target.name}.{name}', {owned[name]}", vpath,
                         "leave it out: it is set by the engine", key=True)
            else:
                expr = self.compiled(entity, vpath, dict(action.values)[name], old=old)
                if expr is not None:
                    self.check_fits(f, expr, vpath)
        missing = [f.name for f in target.fields
                   if f.required and f.name not in given and not f.has_default and f.name not in owned
                   and not getattr(f, "default_expr", None)]
        if missing:
            self.add("E356", f"'{path_text(apath)}' creates {an(target.name)} without the required "
                     f"{', '.join(repr(m) for m in missing)}", apath,
                     f"add {', '.join(missing)} under 'values'")

    def check_webhook(self, entity, action, event, old):
        wpath = (*action.path, "webhook")
        hooks = {h.name: h for h in self.spec.webhooks}
        hook = hooks.get(action.webhook)
        if hook is None:
            self.add("E358", f"'{path_text(wpath)}' refers to unknown webhook '{action.webhook}'"
                     f"{suggest(action.webhook, hooks)}", wpath,
                     f"known webhooks: {', '.join(sorted(hooks)) or 'none'} (declared under 'webhooks:')")
        elif hook.entity != entity.name:
            self.add("E358", f"'{path_text(wpath)}' calls webhook '{hook.name}', which is for '{hook.entity}', "
                     f"not '{entity.name}'", wpath, f"call a webhook whose entity is '{entity.name}'")

    def check_notify(self, entity, action, event, old):
        tpath = (*action.path, "notify", "to")
        expr = self.compiled(entity, tpath, action.to, old=old)
        if expr is not None and not (expr.type.name == "ref" and expr.type.entity == USER):
            self.add("E359", f"'{path_text(tpath)}' is {expr.type} ('{action.to}'), not a user", tpath,
                     "name a path that ends at a ref to the user, such as stay.guest.user")
        for lang in sorted(action.message.languages - set(self.spec.languages)):
            self.add("E208", f"'{path_text((*action.path, 'notify', 'message'))}' has a text in '{lang}', which "
                     "is not among the solution's languages", (*action.path, "notify", "message", lang), key=True)

    def check_create_cycles(self):
        """Refuse create actions that create each other's rows without end (a creates b, whose create
        triggers create a again)."""
        edges = {}
        for e in self.spec.entities:
            actions = [*dict(e.triggers).get("create", ())]
            for wf in self.spec.workflows:
                if wf.entity == e.name:
                    actions += next((s.on_enter for s in wf.states if s.name == wf.initial), ())
            edges[e.name] = [a for a in actions if a.kind == "create" and a.entity in self.entities]
        reported = set()
        for start in edges:
            stack, visited = [(a.entity, a) for a in edges[start]], set()
            while stack:
                name, first = stack.pop()
                if name == start and first.path not in reported:
                    reported.add(first.path)
                    self.add("E361", f"'{path_text(first.path)}' creates {an(first.entity)}, and creating that "
                             f"leads back to creating {an(start)}: rows would be created without end",
                             first.path, "remove one of the create actions of the chain")
                elif name != start and name not in visited:
                    visited.add(name)
                    stack += [(a.entity, first) for a in edges[name]]

    def written(self, entity, dotted, ypath, event, key=False):
        """Check the field ``dotted`` (a field, or a path along refs) that an action writes; return its spec."""
        parts = dotted.split(".")
        current = entity
        for i, part in enumerate(parts):
            f = current.field(part)
            if f is None:
                self.add("E202", f"'{path_text(ypath)}' writes '{dotted}': entity '{current.name}' has no field "
                         f"'{part}'{suggest(part, current.field_names)}", ypath,
                         f"known fields: {', '.join(current.field_names)}", key=key)
                return None
            if i == len(parts) - 1:
                break
            if f.type is not FieldType.REF or f.to == USER or f.to not in self.entities:
                self.add("E207", f"'{path_text(ypath)}' writes '{dotted}': '{part}' is not a reference to one "
                         "row, so the path cannot go on", ypath, "each step but the last must be a ref field",
                         key=key)
                return None
            current = self.entities[f.to]
        owned = owned_fields(self.spec, current)
        if f.name in owned:
            self.add("E355", f"'{path_text(ypath)}' writes '{current.name}.{f.name}', {owned[f.name]}", ypath,
                     "change the state with a transition; computed fields follow their expression", key=key)
            return None
        if event == "delete" and len(parts) == 1:
            self.add("E360", f"'{path_text(ypath)}' writes '{f.name}' of the row being deleted", ypath,
                     "a delete trigger may write related rows (a path along a ref) or create rows", key=key)
            return None
        return f


def misfit(f, vtype):
    """Why field ``f`` cannot take a value of expression type ``vtype``, or ''."""
    name = vtype.name
    if name == "null":
        return "it is required, so it cannot be emptied" if f.required else ""
    if f.type in (FieldType.REFS, FieldType.FILE, FieldType.IMAGE):
        return "an action cannot set it"
    if f.type is FieldType.JSON:
        return ""
    if f.type is FieldType.INTEGER:
        return "" if name == "int" else ("it holds whole numbers; round() the value" if vtype.numeric else
                                         "it holds numbers")
    if f.type.is_numeric:
        return "" if vtype.numeric else "it holds numbers"
    if f.type is FieldType.REF:
        return "" if (name == "ref" and vtype.entity == f.to) or name == "int" else f"it refers to a '{f.to}'"
    wanted = {FieldType.BOOLEAN: "bool", FieldType.DATE: "date", FieldType.DATETIME: "datetime",
              FieldType.TIME: "time"}.get(f.type, "string")
    if name != wanted:
        return f"it holds {'texts' if wanted == 'string' else wanted + ' values'}"
    if f.type is FieldType.CHOICE and vtype.choices and not set(vtype.choices) <= set(f.choice_values):
        return f"its choices are {', '.join(f.choice_values)}"
    return ""


def workflow_problems(spec, doc):
    """Return the located problems of the workflows and triggers of ``spec``."""
    return WorkflowChecker(spec, doc).run()
