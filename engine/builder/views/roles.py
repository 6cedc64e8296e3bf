"""Builder views: roles — the role x entity x action matrix, a role's rights, and adding a role.

Browse pages without a draft show the published version; editing happens in a draft.
"""
from __future__ import annotations

from django.http import Http404
from django.urls import path

from ...spec import ACTIONS
from . import role_scope
from .common import builder_view, render_builder
from .editing import apply_edit, labels_from, see_other, shown, url
from .role_forms import rights_context, rights_edit

ACTION_WORDS = {"list": "List", "view": "View", "create": "Create", "update": "Update", "delete": "Delete"}


def language(request, spec):
    """The language labels are shown in: the builder user's when the solution has it, else the default."""
    lang = getattr(request, "LANGUAGE_CODE", None)
    return lang if lang in spec.languages else spec.default_language


def entity_actions(spec, entity, lang):
    """The actions of ``entity``: the five data actions, then each transition of its workflows."""
    actions = [(a, ACTION_WORDS[a], False) for a in ACTIONS]
    for wf in spec.workflows:
        if wf.entity == entity:
            actions += [(t.name, t.label.get(lang, spec.default_language), True) for t in wf.transitions]
    return actions


def field_words(spec, entity, names, lang, empty="None"):
    if names is None:
        return "All fields"
    if not names:
        return empty
    e = spec.entity(entity)
    return ", ".join(e.field(n).label.get(lang, spec.default_language) if e and e.field(n) else n for n in names)


def grant_row(spec, role, entity, actions, lang):
    """One role's rights on one entity, ready for the matrix and the role page."""
    grant = role.grant(entity)
    allowed = set() if grant is None else (
        {a for a, _, _ in actions} if "all" in grant.actions else set(grant.actions))
    when = dict(grant.when) if grant else {}
    return {
        "role": role, "label": role.label.get(lang, spec.default_language), "grant": grant,
        "cells": [{"action": a, "label": label, "allowed": a in allowed, "when": when.get(a)}
                  for a, label, _ in actions],
        "scope": role_scope.scope_words(spec, entity, grant.scope, lang) if grant else "No access",
        "view": field_words(spec, entity, grant.view_fields, lang) if grant else "",
        "edit": field_words(spec, entity, grant.edit_fields, lang) if grant else "",
    }


def matrix(spec, lang):
    """Per entity: its actions (columns) and every role's row."""
    tables = []
    for e in spec.entities:
        actions = entity_actions(spec, e.name, lang)
        tables.append({
            "entity": e, "label": e.plural.get(lang, spec.default_language), "actions": actions,
            "rows": [grant_row(spec, role, e.name, actions, lang) for role in spec.roles],
        })
    return tables


@builder_view
def roles(request, draft_id=None):
    """Show the matrix of role x entity x action (and, in a draft, the form to add a role)."""
    view = shown(draft_id)
    return render_builder(request, "builder/roles.html", roles_context(request, view))


def roles_context(request, view, add=None):
    """The matrix page's context, with the add-role form's values and errors."""
    context = {"section": "roles", "draft": view.draft, "view": view, "spec": view.spec}
    if view.spec is None:
        return context
    lang = language(request, view.spec)
    add = add or {"values": {}, "errors": {}}
    add["labels"] = [(lang_, add["values"].get(f"label_{lang_}", "")) for lang_ in view.spec.languages]
    context.update(tables=matrix(view.spec, lang), lang=lang, add=add,
                   role_list=[(r, r.label.get(lang, view.spec.default_language)) for r in view.spec.roles])
    return context


@builder_view
def role_add(request, draft_id):
    """Add a role (name, label in each language, staff or not) to the draft."""
    view = shown(draft_id)
    if request.method != "POST" or view.spec is None:
        return see_other(url("roles", view.draft))
    languages = view.spec.languages
    edit = {"op": "add_role", "name": request.POST.get("name", "").strip(),
            "label": labels_from(request.POST, "label", languages), "staff": request.POST.get("staff") == "on"}
    errors = apply_edit(request, view.draft, edit)
    if errors is None:
        return see_other(url("role", view.draft, edit["name"]), request, f"Role '{edit['name']}' added.")
    add = {"values": request.POST, "errors": errors}
    return render_builder(request, "builder/roles.html", roles_context(request, view, add), status=400)


@builder_view
def role(request, role, draft_id=None):
    """Show one role's rights on every entity, with a link to edit each in the draft."""
    view = shown(draft_id)
    spec_role = view.spec.role(role) if view.spec else None
    if spec_role is None:
        raise Http404("No such role.")
    lang = language(request, view.spec)
    rows = []
    for e in view.spec.entities:
        actions = entity_actions(view.spec, e.name, lang)
        row = grant_row(view.spec, spec_role, e.name, actions, lang)
        row.update(entity=e, entity_label=e.plural.get(lang, view.spec.default_language),
                   actions_words=", ".join(c["label"] for c in row["cells"] if c["allowed"]) or "Nothing",
                   problems=view.problems_at(("roles", role, "entities", e.name)))
        rows.append(row)
    context = {"section": "roles", "draft": view.draft, "view": view, "spec": view.spec, "role": spec_role,
               "role_label": spec_role.label.get(lang, view.spec.default_language), "rows": rows,
               "problems": view.problems_at(("roles", role))}
    return render_builder(request, "builder/role.html", context)


@builder_view
def role_rights(request, draft_id, role, entity):
    """Edit one role's rights on one entity: actions, scope (built step by step), visible and editable fields.

    The scope path builder works without JavaScript: 'Next step' and 'Back' post the form and show it
    again with the path one step longer or shorter; nothing is saved until 'Save' or 'Add condition'.
    """
    view = shown(draft_id)
    spec_role = view.spec.role(role) if view.spec else None
    spec_entity = view.spec.entity(entity) if view.spec else None
    if spec_role is None or spec_entity is None:
        raise Http404("No such role or entity.")
    lang = language(request, view.spec)
    actions = entity_actions(view.spec, entity, lang)
    if request.method == "POST":
        done, state = rights_edit(request, view, spec_role, spec_entity, actions)
        if done:
            return see_other(url("role", view.draft, role), request,
                             f"Rights of '{role}' on '{entity}' saved.")
    else:
        state = None
    context = rights_context(view, spec_role, spec_entity, actions, lang, state)
    context.update(section="roles", draft=view.draft, view=view, spec=view.spec,
                   role_label=spec_role.label.get(lang, view.spec.default_language),
                   entity_label=spec_entity.plural.get(lang, view.spec.default_language),
                   problems=view.problems_at(("roles", role, "entities", entity)))
    status = 400 if state is not None and state.get("errors") else 200
    return render_builder(request, "builder/role_rights.html", context, status=status)


urlpatterns = [
    path("roles/", roles, name="roles"),
    path("d/<int:draft_id>/roles/", roles, name="roles"),
    path("d/<int:draft_id>/add-role/", role_add, name="role_add"),
    path("roles/<slug:role>/", role, name="role"),
    path("d/<int:draft_id>/roles/<slug:role>/", role, name="role"),
    path("d/<int:draft_id>/roles/<slug:role>/<slug:entity>/", role_rights, name="role_rights"),
]
