"""Builder views: workflows — each one as a state diagram drawn on the server, with its transitions as a
table beside it; in a draft, forms to add and remove states and to add, edit and remove transitions."""
from __future__ import annotations

from django.http import Http404
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from ...spec import Label
from ..diagram import workflow_svg
from .common import builder_view, render_builder
from .editing import apply_edit, label_values, labels_from, see_other, shown, url
from .roles import language


def transition_rows(spec, wf, lang):
    labels = {s.name: s.label.get(lang, spec.default_language) for s in wf.states}
    roles = {r.name: r.label.get(lang, spec.default_language) for r in spec.roles}
    return [{"t": t, "label": t.label.get(lang, spec.default_language),
             "from": [labels.get(s, s) for s in t.sources], "to": labels.get(t.target, t.target),
             "roles": [roles.get(r, r) for r in t.roles],
             "confirm": confirm_text(t.confirm, lang, spec.default_language),
             "guarded": t.guard is not None} for t in wf.transitions]


def confirm_text(confirm, lang, default_language):
    """A transition's confirmation question (``confirm: true`` asks the cabinet's standard one)."""
    if isinstance(confirm, bool) or confirm is None:
        return "Yes (the standard question)" if confirm else ""
    return _label(confirm).get(lang, default_language)


def workflow_or_404(view, name):
    wf = next((w for w in view.spec.workflows if w.name == name), None) if view.spec else None
    if wf is None:
        raise Http404("No such workflow.")
    return wf


def empty_transition(languages):
    return {"name": "", "from": [], "to": "", "roles": [], "label": dict.fromkeys(languages, ""),
            "confirm": dict.fromkeys(languages, ""), "ask": False}


def transition_values(t, languages):
    confirm = t.confirm
    return {"name": t.name, "from": list(t.sources), "to": t.target, "roles": list(t.roles),
            "label": label_values(t.label, languages),
            "confirm": dict.fromkeys(languages, "") if isinstance(confirm, bool) or confirm is None
            else label_values(_label(confirm), languages),
            "ask": bool(confirm)}


def _label(value):
    return value if isinstance(value, Label) else Label.of(value)


def transition_from_post(post, languages):
    return {"name": post.get("name", "").strip(), "from": post.getlist("from"), "to": post.get("to", ""),
            "roles": post.getlist("roles"), "label": {k: post.get(f"label_{k}", "") for k in languages},
            "confirm": {k: post.get(f"confirm_{k}", "") for k in languages}, "ask": post.get("ask") == "on"}


def transition_args(values, languages):
    """The transition edit's arguments: ``confirm`` is the question in each language, true, or false."""
    source = values["from"]
    question = labels_from({f"confirm_{k}": v for k, v in values["confirm"].items()}, "confirm", languages)
    return {"from": source[0] if len(source) == 1 else source, "to": values["to"], "roles": values["roles"],
            "label": labels_from({f"label_{k}": v for k, v in values["label"].items()}, "label", languages) or None,
            "confirm": question or (True if values["ask"] else None)}


def workflow_context(request, view, wf, state_form=None, transition_form=None):
    spec = view.spec
    lang = language(request, spec)
    languages = spec.languages
    tform = transition_form or {"values": empty_transition(languages), "errors": {}}
    sform = state_form or {"values": {"state": "", "label": dict.fromkeys(languages, "")}, "errors": {}}
    entity = spec.entity(wf.entity)
    return {
        "section": "workflows", "draft": view.draft, "view": view, "spec": spec, "wf": wf,
        "entity_label": entity.label.get(lang, spec.default_language) if entity else wf.entity,
        "svg": mark_safe(workflow_svg(wf, lang, spec.default_language)),  # noqa: S308 - every text in it is escaped
        "states": [{"s": s, "label": s.label.get(lang, spec.default_language),
                    "initial": s.name == wf.initial} for s in wf.states],
        "rows": transition_rows(spec, wf, lang), "problems": view.problems_at(("workflows", wf.name)),
        "tform": tform, "sform": sform,
        "state_labels": [(k, sform["values"]["label"].get(k, "")) for k in languages],
        **transition_choices(spec, wf, tform["values"], lang),
    }


def transition_choices(spec, wf, values, lang):
    """The choices of a transition form (states and roles, ticked as in ``values``) and its label inputs."""
    return {
        "from_choices": [(s.name, s.label.get(lang, spec.default_language), s.name in values["from"])
                         for s in wf.states],
        "to_choices": [(s.name, s.label.get(lang, spec.default_language), s.name == values["to"]) for s in wf.states],
        "role_choices": [(r.name, r.label.get(lang, spec.default_language), r.name in values["roles"])
                         for r in spec.roles],
        "label_inputs": [(k, values["label"].get(k, ""), values["confirm"].get(k, "")) for k in spec.languages],
    }


@builder_view
def workflows(request, draft_id=None):
    """Show every workflow as a state diagram."""
    view = shown(draft_id)
    items = []
    if view.spec is not None:
        lang = language(request, view.spec)
        items = [{"wf": wf, "svg": mark_safe(workflow_svg(wf, lang, view.spec.default_language)),  # noqa: S308
                  "rows": transition_rows(view.spec, wf, lang)} for wf in view.spec.workflows]
    return render_builder(request, "builder/workflows.html", {
        "section": "workflows", "draft": view.draft, "view": view, "spec": view.spec, "items": items})


@builder_view
def workflow(request, workflow, draft_id=None):
    """Show one workflow: its diagram, its transitions and (in a draft) the forms to change them."""
    view = shown(draft_id)
    wf = workflow_or_404(view, workflow)
    return render_builder(request, "builder/workflow.html", workflow_context(request, view, wf))


@builder_view
@require_POST
def state_add(request, draft_id, workflow):
    view = shown(draft_id)
    wf = workflow_or_404(view, workflow)
    languages = view.spec.languages
    values = {"state": request.POST.get("state", "").strip(),
              "label": {k: request.POST.get(f"state_label_{k}", "") for k in languages}}
    errors = apply_edit(request, view.draft, {"op": "add_state", "workflow": wf.name, "state": values["state"],
                                              "label": labels_from(request.POST, "state_label", languages)})
    if errors is None:
        return see_other(url("workflow", view.draft, wf.name), request, f"State '{values['state']}' added.")
    context = workflow_context(request, view, wf, state_form={"values": values, "errors": errors})
    return render_builder(request, "builder/workflow.html", context, status=400)


@builder_view
@require_POST
def state_remove(request, draft_id, workflow, state):
    view = shown(draft_id)
    wf = workflow_or_404(view, workflow)
    errors = apply_edit(request, view.draft, {"op": "remove_state", "workflow": wf.name, "state": state})
    if errors is None:
        return see_other(url("workflow", view.draft, wf.name), request, f"State '{state}' removed.")
    values = {"state": state, "label": dict.fromkeys(view.spec.languages, "")}
    context = workflow_context(request, view, wf, state_form={"values": values, "errors": errors})
    return render_builder(request, "builder/workflow.html", context, status=400)


@builder_view
@require_POST
def transition_add(request, draft_id, workflow):
    view = shown(draft_id)
    wf = workflow_or_404(view, workflow)
    languages = view.spec.languages
    values = transition_from_post(request.POST, languages)
    args = transition_args(values, languages)
    if args["label"] is None:
        args.pop("label")
    errors = apply_edit(request, view.draft, {"op": "add_transition", "workflow": wf.name, "name": values["name"],
                                              **args})
    if errors is None:
        return see_other(url("workflow", view.draft, wf.name), request, f"Transition '{values['name']}' added.")
    context = workflow_context(request, view, wf, transition_form={"values": values, "errors": errors})
    return render_builder(request, "builder/workflow.html", context, status=400)


@builder_view
def transition_edit(request, draft_id, workflow, name):
    """Edit one transition: from, to, roles, label and confirmation."""
    view = shown(draft_id)
    wf = workflow_or_404(view, workflow)
    t = next((t for t in wf.transitions if t.name == name), None)
    if t is None:
        raise Http404("No such transition.")
    languages = view.spec.languages
    errors = {}
    if request.method == "POST":
        values = transition_from_post(request.POST, languages)
        values["name"] = name
        errors = apply_edit(request, view.draft, {"op": "update_transition", "workflow": wf.name, "name": name,
                                                  **transition_args(values, languages)})
        if errors is None:
            return see_other(url("workflow", view.draft, wf.name), request, f"Transition '{name}' saved.")
    else:
        values = transition_values(t, languages)
    lang = language(request, view.spec)
    context = {"section": "workflows", "draft": view.draft, "view": view, "spec": view.spec, "wf": wf, "t": t,
               "values": values, "errors": errors or {},
               "problems": view.problems_at(("workflows", wf.name, "transitions", name)),
               **transition_choices(view.spec, wf, values, lang)}
    return render_builder(request, "builder/workflow_transition.html", context, status=400 if errors else 200)


@builder_view
@require_POST
def transition_remove(request, draft_id, workflow, name):
    view = shown(draft_id)
    wf = workflow_or_404(view, workflow)
    errors = apply_edit(request, view.draft, {"op": "remove_transition", "workflow": wf.name, "name": name})
    if errors is None:
        return see_other(url("workflow", view.draft, wf.name), request, f"Transition '{name}' removed.")
    context = workflow_context(request, view, wf, transition_form={
        "values": empty_transition(view.spec.languages), "errors": {"remove": errors.get("name", [])
                                                                     + errors.get("form", [])}})
    return render_builder(request, "builder/workflow.html", context, status=400)
