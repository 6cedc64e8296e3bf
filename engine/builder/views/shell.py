"""Builder views: the overview, drafts (start, edit in one, discard), the problems page and the YAML editor."""
from __future__ import annotations

import re
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from .. import drafts
from ..errors import BuilderError
from ..models import Draft
from .common import builder_view, open_draft_or_404, published, render_builder

# Where "Edit in a draft" may lead: a section path below /builder/d/<id>/ (no scheme, host or '..').
SECTION_PATH = re.compile(r"^(?:[a-z][a-z0-9_-]*/)*$")


def see_other(url):
    """Redirect after a successful POST with 303, so a reload never posts again."""
    response = redirect(url)
    response.status_code = 303
    return response


def draft_state(draft, compiled=None):
    """The context every page of a draft shows in its draft bar: its problems and whether it is stale."""
    compiled = compiled if compiled is not None else drafts.check(draft)
    current = published()
    number = current.number if current else 0
    return {
        "draft": draft,
        "compiled": compiled,
        "draft_problems": compiled.problems,
        "draft_errors": len(compiled.errors),
        "draft_warnings": len(compiled.warnings),
        "draft_stale": draft.base != number,
        "published_number": number,
    }


def problem_rows(problems):
    """Problems as rows for templates: the problem and, when it concerns a field or entity, where to fix it."""
    return [{"problem": p, "code": p.id, "is_error": p.is_error, "loc": p.loc} for p in problems]


@builder_view
def home(request):
    """Show the published version (who, when, comment), the open drafts and how to start one."""
    mine = Draft.objects.filter(status=Draft.OPEN, created_by=request.user).first()
    return render_builder(request, "builder/home.html", {"section": "home", "my_draft": mine})


@builder_view
@require_POST
def draft_start(request):
    """Start a draft from the published version and open it."""
    title = request.POST.get("title", "").strip()[:200]
    try:
        draft = drafts.start(request.user, title=title)
    except BuilderError as error:
        messages.error(request, error.message)
        return see_other(reverse("builder:home"))
    messages.success(request, f"Draft #{draft.pk} started from version {draft.base}.")
    return see_other(reverse("builder:draft", args=[draft.pk]))


@builder_view
@require_POST
def edit_in_draft(request):
    """Continue in the user's newest open draft (or a new one) at the section posted as ``to``."""
    to = request.POST.get("to", "")
    if not SECTION_PATH.match(to):
        return render_builder(request, "builder/home.html",
                              {"section": "home", "start_error": "That is not a builder section."}, status=400)
    draft = Draft.objects.filter(status=Draft.OPEN, created_by=request.user).first()
    if draft is None:
        try:
            draft = drafts.start(request.user)
        except BuilderError as error:
            messages.error(request, error.message)
            return see_other(reverse("builder:home"))
        messages.success(request, f"Draft #{draft.pk} started from version {draft.base}.")
    return see_other(reverse("builder:draft", args=[draft.pk]) + to)


@builder_view
def draft_view(request, draft_id):
    """Show a draft: where it came from, the edits made so far and its problems."""
    draft = open_draft_or_404(draft_id)
    state = draft_state(draft)
    return render_builder(request, "builder/draft.html", {
        **state, "section": "draft", "edits": [describe_edit(e) for e in draft.edits],
        "files": sorted(draft.sources),
    })


def describe_edit(edit):
    """One line saying what a recorded edit did ("add_field guest.allergies")."""
    op = edit.get("op", "?")
    if op == "set_file":
        return f"YAML of {edit.get('path', '?')} edited by hand"
    target = ".".join(str(edit[k]) for k in ("entity", "role", "page", "workflow") if edit.get(k))
    for key in ("field", "name", "state"):
        if edit.get(key):
            target = f"{target}.{edit[key]}" if target else str(edit[key])
            break
    if edit.get("new_name"):
        target += f" → {edit['new_name']}"
    return f"{op.replace('_', ' ')} {target}".strip()


@builder_view
def draft_discard(request, draft_id):
    """Ask (GET) and then discard (POST) a draft; the published version is untouched."""
    draft = open_draft_or_404(draft_id)
    if request.method == "POST":
        try:
            drafts.discard(draft, request.user)
        except BuilderError as error:
            messages.error(request, error.message)
            return see_other(reverse("builder:draft", args=[draft.pk]))
        messages.success(request, f"Draft #{draft.pk} discarded; nothing was published.")
        return see_other(reverse("builder:home"))
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET", "POST"])
    return render_builder(request, "builder/draft_discard.html", {**draft_state(draft), "section": "draft"})


@builder_view
def problems(request, draft_id):
    """List every problem of the draft, as ``cabinet check`` reports them, grouped by file."""
    draft = open_draft_or_404(draft_id)
    state = draft_state(draft)
    groups = {}
    for p in state["draft_problems"]:
        groups.setdefault(p.loc.file or "", []).append(p)
    return render_builder(request, "builder/problems.html", {
        **state, "section": "problems", "groups": sorted(groups.items()),
    })


def yaml_url(draft, name):
    """The YAML editor's URL opened at file ``name``."""
    return f"{reverse('builder:yaml', args=[draft.pk])}?{urlencode({'file': name})}"


def lf(text):
    return text.replace("\r\n", "\n")


def pick_file(draft, asked):
    """The file the YAML editor opens: the one asked for, else solution.yaml, else the first."""
    if asked:
        return asked
    names = sorted(draft.sources)
    return "solution.yaml" if "solution.yaml" in names or not names else names[0]


def marked_lines(text, file_problems):
    """The file's lines, numbered, each with the problems located on it (to mark them beside the editor)."""
    by_line = {}
    for p in file_problems:
        by_line.setdefault(p.loc.line, []).append(p)
    return [{"no": no, "text": line, "problems": by_line.get(no, [])}
            for no, line in enumerate(text.split("\n"), start=1)]


@builder_view
def yaml_editor(request, draft_id):
    """Edit one of the draft's YAML files as text (the expert's way); saving records a set_file edit."""
    draft = open_draft_or_404(draft_id)
    errors, status = {}, 200
    if request.method == "POST":
        name = request.POST.get("path", "").strip()
        text = request.POST.get("text", "")
        # Browsers send a textarea's line breaks as CRLF (set_file turns them back into the file's own).
        if name in draft.sources and lf(text) == lf(draft.sources[name]):
            messages.info(request, f"{name} is unchanged.")
            return see_other(yaml_url(draft, name))
        try:
            draft = drafts.set_file(draft, name, text, request.user)
        except BuilderError as error:
            errors = error_fields(error, ("path", "text"))
            status = error.status_code
        else:
            messages.success(request, f"{name} saved in draft #{draft.pk}.")
            return see_other(yaml_url(draft, name))
    elif request.method != "GET":
        return HttpResponseNotAllowed(["GET", "POST"])
    else:
        name = pick_file(draft, request.GET.get("file", "").strip())
        text = draft.sources.get(name, "")
    state = draft_state(draft)
    here = [p for p in state["draft_problems"] if p.loc.file == name]
    return render_builder(request, "builder/yaml.html", {
        **state, "section": "yaml", "file": name, "text": text, "files": sorted(draft.sources),
        "is_new": name not in draft.sources, "file_problems": here,
        "lines": marked_lines(draft.sources.get(name, ""), here),
        "other_problems": len(state["draft_problems"]) - len(here), "errors": errors,
    }, status=status)


def error_fields(error, known):
    """An edit error's messages by form field; messages for fields the form does not show go under ''."""
    found = {}
    for name, items in (getattr(error, "fields", None) or {}).items():
        key = name if name in known else ""
        found.setdefault(key, []).extend(str(m) for m in items)
    if not found:
        found[""] = [error.message]
    return found


urlpatterns = [
    path("", home, name="home"),
    path("drafts/new/", draft_start, name="draft_start"),
    path("edit/", edit_in_draft, name="edit_in_draft"),
    path("d/<int:draft_id>/", draft_view, name="draft"),
    path("d/<int:draft_id>/discard/", draft_discard, name="draft_discard"),
    path("d/<int:draft_id>/problems/", problems, name="problems"),
    path("d/<int:draft_id>/yaml/", yaml_editor, name="yaml"),
]
