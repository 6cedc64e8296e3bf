"""Builder views of the Entities section: browse entities and fields (published or in a draft), and edit
them in a draft: add an entity, add, change, rename, remove and reorder fields. An entity's own settings,
rename and removal are in ``entity_edit``.
"""
from __future__ import annotations

from django.http import Http404, HttpResponseNotAllowed, JsonResponse
from django.urls import path

from ...fieldtypes import FieldType
from .. import drafts
from ..errors import BuilderError
from . import entity_edit
from .common import builder_view, open_draft_or_404, render_builder
from .entity_edit import render_entity
from .entity_forms import BuilderForm, EntityForm, FieldForm, RenameForm, initial_data
from .entity_source import (  # noqa: F401  (Source and its helpers are this section's API)
    Source,
    as_options,
    edit_url,
    form_page,
    page_context,
    posted,
    summary,
)
from .shell import see_other


@builder_view
def entity_list(request, draft_id=None):
    """List the entities with their labels and plurals in every language, field counts and problems."""
    draft = open_draft_or_404(draft_id) if draft_id else None
    source, context = page_context(request, draft)
    rows = []
    for name, data in source.entities.items():
        data = data if isinstance(data, dict) else {}
        fields = data.get("fields") if isinstance(data.get("fields"), dict) else {}
        rows.append({"name": name, "labels": source.labelled(data.get("label")),
                     "plurals": source.labelled(data.get("plural")), "fields": len(fields),
                     "problems": drafts.problems_at(context["compiled"], f"entities.{name}") if draft else []})
    context.update(rows=rows, has_source=bool(source.sources))
    return render_builder(request, "builder/entities.html", context)


@builder_view
def entity_page(request, entity, draft_id=None):
    """Show an entity: its settings (labels, title, search, ordering) and its fields; edit forms in a draft."""
    return render_entity(request, open_draft_or_404(draft_id) if draft_id else None, entity)


@builder_view
def entity_add(request, draft_id):
    """Add an entity (its first field comes next, on the entity's page)."""
    source = Source(open_draft_or_404(draft_id))
    form = EntityForm(posted(request), **source.form_languages())
    return form_page(request, source, "builder/entities_add.html", form, lambda f: f.edit(),
                     lambda f: edit_url(source.draft, f.cleaned_data["name"].strip()))


@builder_view
def field_add(request, draft_id, entity):
    """Add a field to an entity: name, type, labels per language and the options its type takes."""
    source = Source(open_draft_or_404(draft_id))
    source.entity(entity)
    form = FieldForm(posted(request), **source.form_languages(), targets=source.targets())
    return form_page(request, source, "builder/field_form.html", form, lambda f: f.edit(entity),
                     lambda f: edit_url(source.draft, entity) + f"#field-{f.cleaned_data['name'].strip()}",
                     {"entity": entity, "adding": True, "types": type_notes()})


@builder_view
def field_edit(request, draft_id, entity, field):
    """Change a field's labels, help and options (its name changes by renaming, its type stays)."""
    source = Source(open_draft_or_404(draft_id))
    current = source.field(entity, field)
    form = FieldForm(posted(request), **source.form_languages(), targets=source.targets(), current=current,
                     initial=initial_data(current, source.languages, source.default_language))
    return form_page(request, source, "builder/field_form.html", form, lambda f: f.edit(entity),
                     lambda f: edit_url(source.draft, entity) + f"#field-{field}",
                     {"entity": entity, "field": current, "adding": False, "types": type_notes()})


@builder_view
def field_rename(request, draft_id, entity, field):
    """Rename a field; the YAML gets ``renamed_from`` so the stored values follow at publish."""
    source = Source(open_draft_or_404(draft_id))
    current = source.field(entity, field)
    form = RenameForm(posted(request), **source.form_languages())
    return form_page(request, source, "builder/field_rename.html", form,
                     lambda f: {"op": "rename_field", "entity": entity, "field": field,
                                "new_name": f.cleaned_data["new_name"].strip()},
                     lambda f: edit_url(source.draft, entity) + f"#field-{f.cleaned_data['new_name'].strip()}",
                     {"entity": entity, "field": current})


@builder_view
def field_remove(request, draft_id, entity, field):
    """Ask, then remove a field from the draft; its stored values are deleted only when the draft is
    published, after the plan has shown how many and the admin has confirmed it."""
    source = Source(open_draft_or_404(draft_id))
    current = source.field(entity, field)
    form = BuilderForm(posted(request), **source.form_languages())  # nothing to type: the button answers
    return form_page(request, source, "builder/field_remove.html", form,
                     lambda f: {"op": "remove_field", "entity": entity, "field": field},
                     lambda f: edit_url(source.draft, entity), {"entity": entity, "field": current})


@builder_view
def field_move(request, draft_id, entity, field):
    """Move a field up, down (buttons) or to a position (drag and drop posts ``to_index``)."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    source = Source(open_draft_or_404(draft_id))
    names = list(source.fields(entity))
    if field not in names:
        raise Http404(f"No field {field!r} in {entity!r}.")
    at = names.index(field)
    wants_json = "application/json" in request.headers.get("Accept", "")
    direction, to_index = request.POST.get("direction"), request.POST.get("to_index", "")
    if direction in ("up", "down"):
        target = at - 1 if direction == "up" else at + 1
    elif to_index.isdigit():
        target = int(to_index)
    else:
        return move_refused(request, source, entity, wants_json, "Say up, down or a position (to_index).")
    if not 0 <= target < len(names):
        return move_refused(request, source, entity, wants_json,
                            f"Position {target + 1} is outside the {len(names)} fields of {entity}.")
    if target != at:
        try:
            drafts.apply(source.draft, {"op": "move_field", "entity": entity, "field": field, "to_index": target},
                         request.user)
        except BuilderError as error:
            return move_refused(request, source, entity, wants_json, error.message)
    if wants_json:
        return JsonResponse({"field": field, "index": target})
    return see_other(edit_url(source.draft, entity) + f"#field-{field}")


def move_refused(request, source, entity, wants_json, message):
    if wants_json:
        return JsonResponse({"error": message}, status=400)
    return render_entity(request, source.draft, entity, move_error=message, status=400)


def type_notes():
    """The engine's field types with what each stores, for the type picker's explanation."""
    return [(t.value, t.info.storage) for t in FieldType]


urlpatterns = [
    path("entities/", entity_list, name="entities"),
    path("entities/<str:entity>/", entity_page, name="entity"),
    path("d/<int:draft_id>/entities/", entity_list, name="entities"),
    path("d/<int:draft_id>/new-entity/", entity_add, name="entity_add"),
    path("d/<int:draft_id>/entities/<str:entity>/", entity_page, name="entity"),
    *entity_edit.urlpatterns,
    path("d/<int:draft_id>/entities/<str:entity>/add-field/", field_add, name="field_add"),
    path("d/<int:draft_id>/entities/<str:entity>/fields/<str:field>/", field_edit, name="field_edit"),
    path("d/<int:draft_id>/entities/<str:entity>/fields/<str:field>/rename/", field_rename, name="field_rename"),
    path("d/<int:draft_id>/entities/<str:entity>/fields/<str:field>/remove/", field_remove, name="field_remove"),
    path("d/<int:draft_id>/entities/<str:entity>/fields/<str:field>/move/", field_move, name="field_move"),
]
