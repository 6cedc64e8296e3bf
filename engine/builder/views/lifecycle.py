"""Builder views: a draft's plan, its confirmations and publish, rebase, import from files, export, the audit log.

Publishing goes through ``drafts.publish`` only, which goes through ``engine.migrate.publish``: the plan
the admin saw (its digest) is the plan that runs, or nothing runs. Every refusal is answered with the
plan page again, the reason next to the thing it concerns, and a 4xx status.
"""
from __future__ import annotations

import io
import zipfile

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.urls import path, reverse
from django.views.decorators.http import require_GET, require_POST

from .. import drafts
from ..errors import BuilderError, ConfirmationNeeded, DraftHasErrors, StaleDraft
from ..models import BuilderLog
from .common import builder_view, open_draft_or_404, published, render_builder
from .shell import draft_state, see_other

AUDIT_PAGE_SIZE = 50


def stale_info(draft):
    """What was published since the draft was started (None when the draft is on the published version)."""
    current = published()
    number = current.number if current else 0
    if number == draft.base:
        return None
    return {"version": current, "base": draft.base,
            "by": current.created_by.get_username() if current and current.created_by else (current.origin if current
                                                                                            else "")}


def plan_context(draft):
    """The plan page's context: the graded plan (or the draft's errors), what changes in words, staleness."""
    context = {**draft_state(draft), "section": "plan", "stale": stale_info(draft), "plan": None, "errors": [],
               "words": []}
    try:
        context["plan"] = drafts.plan(draft)
    except DraftHasErrors as exc:
        context["errors"] = exc.problems
        return context
    except BuilderError as exc:  # no plan can be made at all (the published version no longer compiles)
        context["refusal"] = exc
        return context
    context["words"] = change_words(draft)
    context["blocked"] = context["plan"].blocking
    return context


def change_words(draft):
    """The draft's change from the published version, in words (empty when either does not compile)."""
    from ...compiler import compile_sources
    from .. import diff

    current = published()
    old = compile_sources(current.sources).spec if current else None
    new = drafts.check(draft).spec
    if old is None or new is None:
        return []
    return diff.words(old, new)


@builder_view
@require_GET
def plan(request, draft_id):
    """The draft's plan: graded steps with counts, refusals, a confirmation per destructive step, Publish."""
    draft = open_draft_or_404(draft_id)
    return render_builder(request, "builder/plan.html", plan_context(draft))


@builder_view
@require_POST
def publish(request, draft_id):
    """Publish the draft with the plan the admin saw (its digest) and the destructive steps they ticked."""
    draft = open_draft_or_404(draft_id)
    comment = request.POST.get("comment", "").strip()
    confirmed = set(request.POST.getlist("confirm"))
    try:
        version = drafts.publish(draft, request.user, comment, request.POST.get("digest", ""), confirmed)
    except BuilderError as error:
        context = plan_context(draft)
        context.update(refusal=error, comment=comment, confirmed=confirmed,
                       unconfirmed={s.key for s in error.steps} if isinstance(error, ConfirmationNeeded) else set(),
                       stale_refusal=isinstance(error, StaleDraft))
        return render_builder(request, "builder/plan.html", context, status=error.status_code)
    messages.success(request, f"Version {version.number} is published and live in every process.")
    return see_other(reverse("builder:published", args=[version.number]))


@builder_view
@require_GET
def published_version(request, number):
    """What a publish did: the version, its comment and plan, and links to the cabinet and the diff."""
    from ...models import SolutionVersion

    version = SolutionVersion.objects.filter(number=number).select_related("created_by").first()
    if version is None:
        raise Http404
    entry = BuilderLog.objects.filter(version=number, action__in=[BuilderLog.PUBLISH, BuilderLog.ROLLBACK]).first()
    return render_builder(request, "builder/publish_done.html", {"version": version, "entry": entry,
                                                                  "section": "history"})


@builder_view
@require_POST
def rebase(request, draft_id):
    """Replay the draft's edits on the newest published version; conflicts are named and left out."""
    draft = open_draft_or_404(draft_id)
    try:
        result = drafts.rebase(draft, request.user)
    except BuilderError as error:
        context = plan_context(draft)
        context["refusal"] = error
        return render_builder(request, "builder/plan.html", context, status=error.status_code)
    if result.conflicts:
        messages.warning(request, "Rebased onto version {}; these edits were left out because the same files "
                                  "changed upstream: {}".format(result.draft.base, "; ".join(result.conflicts)))
    else:
        messages.success(request, f"Rebased onto version {result.draft.base}; every edit applied again.")
    return see_other(reverse("builder:plan", args=[result.draft.pk]))


@builder_view
def import_files(request):
    """Read the solution folder on disk (``CABINET_SOLUTION``) as a draft and show its plan."""
    folder = str(settings.CABINET_SOLUTION)
    if request.method == "POST":
        try:
            draft = drafts.import_folder(folder, request.user)
        except BuilderError as error:
            return render_builder(request, "builder/import.html", {"folder": folder, "refusal": error,
                                                                   "section": "import"}, status=error.status_code)
        messages.success(request, f"The files in {folder} are now draft #{draft.pk}; here is what publishing it does.")
        return see_other(reverse("builder:plan", args=[draft.pk]))
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD, POST"})
    return render_builder(request, "builder/import.html", {"folder": folder, "section": "import"})


@builder_view
@require_GET
def export(request, number):
    """A version's files as a zip, byte for byte what was published."""
    try:
        files = drafts.export_files(number)
    except BuilderError as error:
        raise Http404(error.message) from error
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), files[name].encode("utf-8"))
    response = HttpResponse(buffer.getvalue(), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="solution-v{number}.zip"'
    return response


@builder_view
@require_GET
def audit(request):
    """The audit log: every publish, rollback, import, rebase, discard and refused publish, newest first."""
    entries = BuilderLog.objects.select_related("draft")
    action = request.GET.get("action", "")
    if action in dict(BuilderLog.ACTIONS):
        entries = entries.filter(action=action)
    else:
        action = ""
    page = Paginator(entries, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    return render_builder(request, "builder/audit.html", {"page": page, "action": action,
                                                          "actions": [a for a, _ in BuilderLog.ACTIONS],
                                                          "section": "audit"})


urlpatterns = [
    path("d/<int:draft_id>/plan/", plan, name="plan"),
    path("d/<int:draft_id>/publish/", publish, name="publish"),
    path("d/<int:draft_id>/rebase/", rebase, name="rebase"),
    path("published/<int:number>/", published_version, name="published"),
    path("import/", import_files, name="import"),
    path("export/<int:number>.zip", export, name="export"),
    path("audit/", audit, name="audit"),
]
