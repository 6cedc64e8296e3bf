"""Builder views: every published version, a side-by-side diff between any two (in YAML and in words), rollback.

A rollback is not a shortcut: it makes a draft holding the old version's files, and that draft goes
through the same plan screen and confirmations as any other change.
"""
from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect
from django.urls import path, reverse
from django.views.decorators.http import require_GET, require_POST

from ...compiler import compile_sources
from ...models import SolutionVersion
from .. import diff, drafts
from ..errors import BuilderError
from .common import builder_view, open_draft_or_404, published, render_builder
from .shell import draft_state, see_other

VERSIONS_PAGE_SIZE = 50


def version_or_404(number):
    version = SolutionVersion.objects.filter(number=number).select_related("created_by").first()
    if version is None:
        raise Http404(f"There is no version {number}.")
    return version


@builder_view
@require_GET
def history(request):
    """Every published version with who, when, comment and origin; pick two to compare."""
    versions = SolutionVersion.objects.order_by("-number").select_related("created_by").only(
        "number", "created_at", "note", "origin", "created_by__username", "digest")
    page = Paginator(versions, VERSIONS_PAGE_SIZE).get_page(request.GET.get("page"))
    a, b = request.GET.get("a", ""), request.GET.get("b", "")
    if a.isdigit() and b.isdigit():
        return redirect("builder:diff", int(a), int(b))
    current = published()
    return render_builder(request, "builder/history.html", {
        "page": page, "section": "history", "current": current.number if current else 0,
        "compare_error": "Pick two versions to compare." if (a or b) else ""})


def spec_of(sources):
    """The spec of ``sources``, or None when they no longer compile (an old version under a newer engine)."""
    return compile_sources(sources).spec


def diff_context(left_label, left_sources, right_label, right_sources):
    old, new = spec_of(left_sources), spec_of(right_sources)
    files = diff.files(left_sources, right_sources)
    return {
        "left_label": left_label, "right_label": right_label, "files": files,
        "changed_files": [f for f in files if f.changed],
        "words": diff.words(old, new) if old is not None and new is not None else None,
        "section": "history",
    }


@builder_view
@require_GET
def version_diff(request, a, b):
    """Versions ``a`` and ``b`` side by side (each file's lines, changed ones marked) and in words."""
    left, right = version_or_404(a), version_or_404(b)
    context = diff_context(f"v{left.number}", left.sources, f"v{right.number}", right.sources)
    context.update(left=left, right=right)
    return render_builder(request, "builder/diff.html", context)


@builder_view
@require_GET
def draft_diff(request, draft_id):
    """The draft against the published version: what publishing it changes in the files and in words."""
    draft = open_draft_or_404(draft_id)
    current = published()
    context = diff_context(f"v{current.number}" if current else "nothing published",
                           current.sources if current else {}, f"draft #{draft.pk}", draft.sources)
    context.update(draft_state(draft), section="plan")
    return render_builder(request, "builder/diff.html", context)


@builder_view
@require_POST
def rollback(request, number):
    """Make a draft holding version ``number``'s files and show its plan (publishing it is the rollback)."""
    version_or_404(number)
    try:
        draft = drafts.rollback_draft(number, request.user)
    except BuilderError as error:
        messages.error(request, error.message)
        return see_other(reverse("builder:history"))
    messages.info(request, f"Draft #{draft.pk} holds version {number}'s files. Check the plan and publish it to "
                           "roll back; nothing has changed yet.")
    return see_other(reverse("builder:plan", args=[draft.pk]))


urlpatterns = [
    path("history/", history, name="history"),
    path("history/<int:a>/<int:b>/", version_diff, name="diff"),
    path("history/<int:number>/rollback/", rollback, name="rollback"),
    path("d/<int:draft_id>/changes/", draft_diff, name="draft_diff"),
]
