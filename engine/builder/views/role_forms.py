"""The form of one role's rights on one entity: reading it from a grant or a POST, and saving it.

The form's state is a plain dict so the same template shows a grant, a half-built scope path (the
no-JavaScript steps) and a refused save with its errors.
"""
from __future__ import annotations

from . import role_scope
from .editing import apply_edit


def state_from_grant(grant, actions):
    """The form state of an existing grant (or of no access at all)."""
    if grant is None:
        return {"actions": set(), "scope_mode": "all", "conditions": [], "expression": "", "view_mode": "all",
                "view": [], "edit_mode": "visible", "edit": [], "path": "", "errors": {}, "value": "",
                "values": [], "all_actions": False}
    scope = grant.scope
    return {
        "actions": {a for a, _, _ in actions} if "all" in grant.actions else set(grant.actions),
        "all_actions": "all" in grant.actions,
        "scope_mode": scope if scope in ("all", "own") else ("expression" if isinstance(scope, str) else "where"),
        "conditions": [] if isinstance(scope, str) else list(scope),
        "expression": scope if isinstance(scope, str) and scope not in ("all", "own") else "",
        "view_mode": "all" if grant.view_fields is None else "some", "view": list(grant.view_fields or ()),
        "edit_mode": "visible" if grant.edit_fields is None or grant.edit_fields == grant.view_fields
        else ("none" if not grant.edit_fields else "some"),
        "edit": list(grant.edit_fields or ()),
        "path": "", "value": "", "values": [], "errors": {},
    }


def state_from_post(post, grant, actions):
    """The form state as posted (the kept conditions come back from hidden inputs)."""
    state = state_from_grant(grant, actions)
    names = {a for a, _, _ in actions}
    errors = {}
    try:
        conditions = role_scope.decode_conditions(post.getlist("cond_path"), post.getlist("cond_value"))
    except ValueError as exc:
        conditions, errors["scope"] = [], [str(exc)]
    keep = set(post.getlist("cond_keep"))
    state.update(
        actions={a for a in post.getlist("actions") if a in names},
        scope_mode=post.get("scope_mode", "all"),
        conditions=[c for i, c in enumerate(conditions) if str(i) in keep],
        view_mode=post.get("view_mode", "all"), view=post.getlist("view"),
        edit_mode=post.get("edit_mode", "visible"), edit=post.getlist("edit"),
        path=post.get("path", "").strip(), value=post.get("value", ""), values=post.getlist("values"),
        errors=errors,
    )
    return state


def _take_step(view, entity, state, step):
    """Extend the path under construction by ``step`` (refused when it is not a next step)."""
    choices = {c["name"] for c in role_scope.step_choices(view.spec, entity.name, state["path"])}
    if step not in choices:
        state["errors"]["step"] = [f"Pick one of the fields the path can go on to ({', '.join(sorted(choices))})."
                                   if choices else "The path is complete; add it as a condition or go back."]
        return False
    state["path"] = f"{state['path']}.{step}" if state["path"] else step
    return True


def _complete_condition(view, entity, state):
    """The (path, value) the builder holds, or None with the reason in ``state['errors']``."""
    try:
        fields, target = role_scope.walk(view.spec, entity.name, state["path"])
    except ValueError as exc:
        state["errors"]["step"] = [str(exc)]
        return None
    if not fields or target is not None:
        state["errors"]["step"] = ["Go on until the path ends at a user or at a field to compare."]
        return None
    if role_scope.ends_at_user(fields):
        return state["path"], role_scope.USER_VALUE
    try:
        return state["path"], role_scope.parse_value(fields[-1], state["value"], state["values"])
    except ValueError as exc:
        state["errors"]["value"] = [str(exc)]
        return None


def edit_of(state, role, entity, actions):
    """The ``set_rights`` edit the form state stands for; None with errors in the state when it cannot be."""
    fields = entity.field_names
    edit = {"op": "set_rights", "role": role.name, "entity": entity.name,
            "actions": [a for a, _, _ in actions if a in state["actions"]]}
    if state["all_actions"] and len(edit["actions"]) == len(actions):
        edit["actions"] = "all"  # keep 'all' (it grants the transitions added later too)
    mode = state["scope_mode"]
    if mode in ("all", "own"):
        edit["scope"] = mode
    elif mode == "expression" and state["expression"]:
        edit["scope"] = state["expression"]
    elif mode == "where" and state["conditions"]:
        edit["scope"] = dict(state["conditions"])
    else:
        state["errors"].setdefault("scope", []).append("Add at least one condition, or choose all or own rows.")
        return None
    edit["view"] = None if state["view_mode"] == "all" else [f for f in fields if f in state["view"]]
    edit["edit"] = {"visible": None, "none": []}.get(state["edit_mode"], [f for f in fields if f in state["edit"]])
    return edit


def rights_edit(request, view, role, entity, actions):
    """Handle a POST of the rights form: a path step, or a save; return (saved, state)."""
    post = request.POST
    state = state_from_post(post, role.grant(entity.name), actions)
    do = post.get("do", "save")
    step = post.get("step", "").strip()
    if do == "back":
        state["path"] = state["path"].rpartition(".")[0]
        return False, state
    if do == "step":
        _take_step(view, entity, state, step)
        return False, state
    if do == "remove":
        edit = {"op": "set_rights", "role": role.name, "entity": entity.name, "actions": [], "scope": None,
                "view": None, "edit": None}
    else:
        # 'add', and a save while a condition is being built, take the condition in (or say what it lacks)
        if do == "add" or step or state["path"]:
            if step and not _take_step(view, entity, state, step):
                return False, state
            condition = _complete_condition(view, entity, state)
            if condition is None:
                return False, state
            state["conditions"] = [c for c in state["conditions"] if c[0] != condition[0]] + [condition]
            state.update(scope_mode="where", path="", value="", values=[])
        if state["errors"]:
            return False, state
        edit = edit_of(state, role, entity, actions)
        if edit is None:
            return False, state
    errors = apply_edit(request, view.draft, edit)
    if errors:
        state["errors"] = errors
        return False, state
    return True, state


def builder_context(view, entity, state, lang):
    """What the scope path builder shows: the path so far, the next steps or the value to compare with."""
    spec = view.spec
    try:
        fields, target = role_scope.walk(spec, entity.name, state["path"])
    except ValueError:
        fields, target, state["path"] = [], entity, ""
    last = fields[-1] if fields else None
    return {
        "path": state["path"],
        "crumbs": [entity.label.get(lang, spec.default_language)]
        + [f.label.get(lang, spec.default_language) for f in fields],
        "choices": role_scope.step_choices(spec, entity.name, state["path"], lang) if target is not None else [],
        "ends_user": role_scope.ends_at_user(fields),
        "value_field": last if last is not None and target is None and not role_scope.ends_at_user(fields) else None,
        "choice_options": [(c.value, c.label.get(lang, spec.default_language), c.value in state["values"])
                           for c in (last.choices if last is not None else ())],
    }


def rights_context(view, role, entity, actions, lang, state=None):
    """The template context of the rights form for ``state`` (or the role's current grant)."""
    spec = view.spec
    grant = role.grant(entity.name)
    state = state or state_from_grant(grant, actions)
    owner = entity.field(entity.owner) if entity.owner else None
    return {
        "role": role, "entity": entity, "grant": grant, "state": state, "errors": state["errors"],
        "actions": [{"name": a, "label": label, "transition": is_t, "checked": a in state["actions"]}
                    for a, label, is_t in actions],
        "owner_label": owner.label.get(lang, spec.default_language) if owner else "",
        "conditions": [{"index": i, "path": p, "json": role_scope.encode_value(v),
                        "words": role_scope.condition_words(spec, entity.name, p, v, lang)}
                       for i, (p, v) in enumerate(state["conditions"])],
        "builder": builder_context(view, entity, state, lang),
        "fields": [{"name": f.name, "label": f.label.get(lang, spec.default_language),
                    "view": f.name in state["view"], "edit": f.name in state["edit"]} for f in entity.fields],
        "graph": role_scope.ref_graph(spec, lang),
        "current_words": role_scope.scope_words(spec, entity.name, grant.scope, lang) if grant else "No access",
    }
