"""Builder views of the Entities section: browse entities and fields (published or in a draft), and edit
them in a draft: add an entity, add, change, rename, remove and reorder fields.

The tables are read from the YAML as written (``engine.loader``), not from the compiled spec, so a draft
that has errors can still be browsed and mended here.
"""
from __future__ import annotations

from django.http import Http404, HttpResponseNotAllowed, JsonResponse
from django.urls import path, reverse

from ...fieldtypes import FieldType
from ...loader import load_sources
from ...spec import USER
from .. import drafts
from ..errors import BuilderError
from .common import builder_view, open_draft_or_404, published, render_builder
from .entity_forms import BuilderForm, EntityForm, FieldForm, RenameForm, initial_data
from .shell import draft_state, see_other

OPTION_KEYS = ("max_length", "min_length", "min", "max", "default", "to", "on_delete", "index", "sequence",
               "computed", "default_expr", "renamed_from", "currency", "max_digits", "decimal_places")


class Source:
    """What a page of the section shows: a draft's files or the published version's, read as YAML."""

    def __init__(self, draft=None):
        self.draft = draft
        version = None if draft else published()
        self.version = version
        self.sources = draft.sources if draft else (version.sources if version else {})
        self.doc = load_sources(self.sources)
        solution = self.doc.data.get("solution") or {}
        languages = solution.get("languages") if isinstance(solution, dict) else None
        self.languages = tuple(str(x) for x in languages) if isinstance(languages, list) and languages else ("en",)
        default = solution.get("default_language") if isinstance(solution, dict) else None
        self.default_language = str(default) if default in self.languages else self.languages[0]
        entities = self.doc.data.get("entities")
        self.entities = entities if isinstance(entities, dict) else {}

    def entity(self, name):
        data = self.entities.get(name)
        if not isinstance(data, dict):
            raise Http404(f"No entity {name!r} here.")
        return data

    def fields(self, name):
        fields = self.entity(name).get("fields")
        return {k: as_options(v) for k, v in fields.items()} if isinstance(fields, dict) else {}

    def field(self, entity, name):
        found = self.fields(entity).get(name)
        if found is None:
            raise Http404(f"No field {name!r} in {entity!r}.")
        return {"name": name, **found}

    def form_languages(self):
        return {"languages": self.languages, "default_language": self.default_language}

    def targets(self):
        return [USER, *sorted(self.entities)]

    def text(self, value):
        """A label as one text in the solution's first language (any language when it has no such text)."""
        if isinstance(value, dict):
            return str(value.get(self.languages[0]) or next(iter(value.values()), ""))
        return "" if value is None else str(value)

    def texts(self, value):
        """A label per language, in the solution's language order."""
        if isinstance(value, dict):
            return [str(value.get(lang, "")) for lang in self.languages]
        return [str(value or "")] + [""] * (len(self.languages) - 1)


def as_options(raw):
    """A field as written: ``name: string`` is shorthand for ``name: {type: string}``."""
    if isinstance(raw, str):
        return {"type": raw}
    return dict(raw) if isinstance(raw, dict) else {"type": "?"}


def summary(options):
    """The options other than type, label, required and unique, as short ``key: value`` texts."""
    shown = [f"{k}: {options[k]}" for k in OPTION_KEYS if k in options]
    choices = options.get("choices")
    if isinstance(choices, list):
        values = [str(c.get("value")) if isinstance(c, dict) else str(c) for c in choices]
        shown.append("choices: " + ", ".join(values))
    return shown


def page_context(request, draft, section="entities"):
    """The context shared by the section's pages, with the draft bar's state when in a draft."""
    source = Source(draft)
    context = {"section": section, "source": source, "languages": source.languages}
    if draft is not None:
        context.update(draft_state(draft))
    return source, context


def edit_url(draft, *parts):
    """The draft's URL of an entity (``parts`` = entity) or of the entities list."""
    if parts:
        return reverse("builder:entity", kwargs={"draft_id": draft.pk, "entity": parts[0]})
    return reverse("builder:entities", kwargs={"draft_id": draft.pk})


@builder_view
def entity_list(request, draft_id=None):
    """List the entities with their labels, field counts and problems."""
    draft = open_draft_or_404(draft_id) if draft_id else None
    source, context = page_context(request, draft)
    rows = []
    for name, data in source.entities.items():
        data = data if isinstance(data, dict) else {}
        fields = data.get("fields") if isinstance(data.get("fields"), dict) else {}
        rows.append({"name": name, "label": source.text(data.get("label")) or name,
                     "plural": source.text(data.get("plural")), "fields": len(fields),
                     "problems": drafts.problems_at(context["compiled"], f"entities.{name}") if draft else []})
    context.update(rows=rows, has_source=bool(source.sources))
    return render_builder(request, "builder/entities.html", context)


@builder_view
def entity_page(request, entity, draft_id=None):
    """Show an entity's fields: type, required, unique, labels per language, options; edit links in a draft."""
    return render_entity(request, open_draft_or_404(draft_id) if draft_id else None, entity)


def render_entity(request, draft, entity, move_error="", status=200):
    source, context = page_context(request, draft)
    data = source.entity(entity)
    compiled = context.get("compiled")
    rows = []
    for index, (name, options) in enumerate(source.fields(entity).items()):
        rows.append({
            "name": name, "index": index, "type": options.get("type", "?"),
            "required": bool(options.get("required")), "unique": bool(options.get("unique")),
            "labels": list(zip(source.languages, source.texts(options.get("label")), strict=True)),
            "options": summary(options),
            "problems": drafts.problems_at(compiled, f"entities.{entity}.fields.{name}") if draft else [],
        })
    own = []
    if draft:
        prefix = f"entities.{entity}"
        own = [p for p in drafts.problems_at(compiled, prefix) if not p.loc.path.startswith(f"{prefix}.fields.")]
    context.update(entity=entity, label=source.text(data.get("label")) or entity,
                   plural=source.text(data.get("plural")), rows=rows, entity_problems=own,
                   title_field=data.get("title"), last=len(rows) - 1, move_error=move_error)
    return render_builder(request, "builder/entities_detail.html", context, status=status)


def form_page(request, source, template, form, make_edit, done_url, extra=None):
    """Show ``form`` (GET) or apply the edit it makes (POST): 303 to ``done_url`` on success, else the form
    again with the refusals beside its fields (400, nothing changed)."""
    draft, status = source.draft, 200
    if request.method == "POST":
        if form.is_valid():
            try:
                drafts.apply(draft, make_edit(form), request.user)
            except BuilderError as error:
                form.refuse(error)
                status = getattr(error, "status_code", 400)
            else:
                return see_other(done_url(form))
        else:
            status = 400
    elif request.method != "GET":
        return HttpResponseNotAllowed(["GET", "POST"])
    context = {"section": "entities", "source": source, "languages": source.languages, "form": form,
               **draft_state(draft), **(extra or {})}
    return render_builder(request, template, context, status=status)


def posted(request):
    return request.POST if request.method == "POST" else None


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
    path("d/<int:draft_id>/entities/<str:entity>/add-field/", field_add, name="field_add"),
    path("d/<int:draft_id>/entities/<str:entity>/fields/<str:field>/", field_edit, name="field_edit"),
    path("d/<int:draft_id>/entities/<str:entity>/fields/<str:field>/rename/", field_rename, name="field_rename"),
    path("d/<int:draft_id>/entities/<str:entity>/fields/<str:field>/remove/", field_remove, name="field_remove"),
    path("d/<int:draft_id>/entities/<str:entity>/fields/<str:field>/move/", field_move, name="field_move"),
]
