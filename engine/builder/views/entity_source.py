"""What the Entities section's views share: the entities as written in a draft (or the published version),
the page context, and the form page that applies one edit and answers 303 or 400.

The tables are read from the YAML as written (``engine.loader``), not from the compiled spec, so a draft
that has errors can still be browsed and mended here.
"""
from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponseNotAllowed
from django.urls import reverse

from ...loader import load_sources
from ...spec import USER
from .. import drafts
from ..errors import BuilderError
from ..importer import version_sources
from .common import published, render_builder
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
        """A label per language, in the solution's language order (one text written alone counts as the
        default language's, as the engine reads it)."""
        if isinstance(value, dict):
            return [str(value.get(lang) or "") for lang in self.languages]
        return [str(value or "") if lang == self.default_language else "" for lang in self.languages]

    def labelled(self, value):
        """A label as ``[(lang, text)]`` for every language of the solution."""
        return list(zip(self.languages, self.texts(value), strict=True))

    def stored(self, entity):
        """Whether ``entity`` (or what it was renamed from) exists in the version the draft is based on, so
        it has a table and perhaps rows; always true outside a draft."""
        if self.draft is None:
            return True
        base = load_sources(version_sources(self.draft.base)).data.get("entities") if self.draft.base else None
        if not isinstance(base, dict):
            return False
        return entity in base or self.entity(entity).get("renamed_from") in base


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


def posted(request):
    return request.POST if request.method == "POST" else None


def apply_form(request, source, form, make_edit):
    """Apply the edit ``form`` makes; return the HTTP status of a refusal (the refusals beside the form's
    fields), or None when applied. ``make_edit`` may answer None: nothing changed, nothing recorded."""
    if not form.is_valid():
        return 400
    edit = make_edit(form)
    if edit is None:
        messages.info(request, "Nothing was changed.")
        return None
    try:
        drafts.apply(source.draft, edit, request.user)
    except BuilderError as error:
        form.refuse(error)
        return getattr(error, "status_code", 400)
    return None


def form_page(request, source, template, form, make_edit, done_url, extra=None):
    """Show ``form`` (GET) or apply the edit it makes (POST): 303 to ``done_url`` on success, else the form
    again with the refusals beside its fields (400, nothing changed)."""
    draft, status = source.draft, 200
    if request.method == "POST":
        status = apply_form(request, source, form, make_edit)
        if status is None:
            return see_other(done_url(form))
    elif request.method != "GET":
        return HttpResponseNotAllowed(["GET", "POST"])
    context = {"section": "entities", "source": source, "languages": source.languages, "form": form,
               **draft_state(draft), **(extra or {})}
    return render_builder(request, template, context, status=status)
