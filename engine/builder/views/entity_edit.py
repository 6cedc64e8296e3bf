"""Builder views of one entity as a whole: its page (settings and fields), and in a draft the settings
form (labels, plural, title, search, ordering), renaming it and removing it."""
from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponseNotAllowed
from django.urls import path

from .. import drafts
from ..errors import BuilderError
from ..refs import Refs
from ..yamledit import Workspace
from .common import builder_view, open_draft_or_404, render_builder
from .entity_forms import BuilderForm, EntityRenameForm, EntitySettingsForm
from .entity_source import Source, apply_form, edit_url, form_page, page_context, posted, summary
from .shell import see_other


def settings_form(source, entity, data=None):
    """The settings form of ``entity`` as written in ``source`` (bound to ``data`` when posted)."""
    fields = [(name, f"{name} — {source.text(options.get('label'))}" if options.get("label") else name)
              for name, options in source.fields(entity).items()]
    return EntitySettingsForm(data, **source.form_languages(), fields=fields, current=source.entity(entity))


def settings_rows(source, data):
    """The entity's settings as they read: labels and plurals per language, title, search, ordering."""
    ordering = data.get("ordering") if isinstance(data.get("ordering"), list) else []
    search = data.get("search") if isinstance(data.get("search"), list) else []
    return {
        "labels": source.labelled(data.get("label")), "plurals": source.labelled(data.get("plural")),
        "title": data.get("title"), "search": [str(s) for s in search],
        "ordering": [(str(o).lstrip("-"), str(o).startswith("-")) for o in ordering],
    }


def field_rows(source, entity, compiled):
    rows = []
    for index, (name, options) in enumerate(source.fields(entity).items()):
        rows.append({
            "name": name, "index": index, "type": options.get("type", "?"),
            "required": bool(options.get("required")), "unique": bool(options.get("unique")),
            "labels": source.labelled(options.get("label")), "options": summary(options),
            "problems": drafts.problems_at(compiled, f"entities.{entity}.fields.{name}") if compiled else [],
        })
    return rows


def render_entity(request, draft, entity, move_error="", status=200, form=None):
    """Render an entity's page; in a draft with its settings form (``form`` when posted with refusals)."""
    source, context = page_context(request, draft)
    data = source.entity(entity)
    compiled = context.get("compiled")
    rows = field_rows(source, entity, compiled)
    own = []
    if draft:
        prefix = f"entities.{entity}"
        own = [p for p in drafts.problems_at(compiled, prefix) if not p.loc.path.startswith(f"{prefix}.fields.")]
    context.update(entity=entity, label=source.text(data.get("label")) or entity, rows=rows,
                   entity_problems=own, settings=settings_rows(source, data), last=len(rows) - 1,
                   move_error=move_error, form=form or (settings_form(source, entity) if draft else None))
    return render_builder(request, "builder/entities_detail.html", context, status=status)


@builder_view
def entity_settings(request, draft_id, entity):
    """Change an entity's labels, plural, title field, search fields and ordering (POST from its page)."""
    source = Source(open_draft_or_404(draft_id))
    source.entity(entity)
    if request.method == "GET":  # e.g. a reload after a refusal: the form lives on the entity's page
        return see_other(edit_url(source.draft, entity) + "#settings")
    if request.method != "POST":
        return HttpResponseNotAllowed(["GET", "POST"])
    form = settings_form(source, entity, request.POST)
    status = apply_form(request, source, form, lambda f: f.edit(entity))
    if status is None:
        if form.edit(entity) is not None:  # else apply_form said nothing was changed
            messages.success(request, f"The settings of {entity} were saved in draft #{source.draft.pk}.")
        return see_other(edit_url(source.draft, entity) + "#settings")
    return render_entity(request, source.draft, entity, status=status, form=form)


@builder_view
def entity_rename(request, draft_id, entity):
    """Rename an entity; the YAML gets ``renamed_from`` so its table and rows follow at publish, and every
    reference to it (ref fields, rights, pages, workflows, chats) takes the new name."""
    source = Source(open_draft_or_404(draft_id))
    source.entity(entity)
    form = EntityRenameForm(posted(request), **source.form_languages())

    def done(f):
        messages.success(request, f"{entity} is now called {f.cleaned_data['new_name'].strip()} in the draft.")
        return edit_url(source.draft, f.cleaned_data["new_name"].strip())

    def edit(f):
        return {"op": "rename_entity", "entity": entity, "new_name": f.cleaned_data["new_name"].strip()}

    return form_page(request, source, "builder/entity_rename.html", form, edit, done,
                     {"entity": entity, "stored": source.stored(entity)})


@builder_view
def entity_remove(request, draft_id, entity):
    """Ask, then remove an entity from the draft; its table and rows are deleted only when the draft is
    published, after the plan has shown how many rows and the admin has confirmed it."""
    source = Source(open_draft_or_404(draft_id))
    data = source.entity(entity)
    form = BuilderForm(posted(request), **source.form_languages())  # nothing to type: the button answers

    def done(f):
        messages.success(request, f"{entity} was removed from the draft; nothing is deleted before publishing.")
        return edit_url(source.draft)

    return form_page(request, source, "builder/entity_remove.html", form,
                     lambda f: {"op": "remove_entity", "entity": entity}, done,
                     {"entity": entity, "label": source.text(data.get("label")) or entity,
                      "stored": source.stored(entity), "uses": uses_of(source, entity)})


def uses_of(source, entity):
    """Where other definitions name ``entity`` (the removal is refused while any do)."""
    try:
        return Refs(Workspace(source.sources)).entity_uses(entity)
    except BuilderError:  # a file that is not YAML: the removal's own refusal says so
        return []


urlpatterns = [
    path("d/<int:draft_id>/entities/<str:entity>/settings/", entity_settings, name="entity_settings"),
    path("d/<int:draft_id>/entities/<str:entity>/rename/", entity_rename, name="entity_rename"),
    path("d/<int:draft_id>/entities/<str:entity>/remove/", entity_remove, name="entity_remove"),
]
