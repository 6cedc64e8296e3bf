"""Builder views: the draft's cabinet viewed as a role, read-only, against current data.

The work is in ``engine.builder.preview``; these views pick the role and user, refuse writes and add the banner.
"""
from __future__ import annotations

from django.http import HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.translation import get_language

from .. import preview as previews
from .common import builder_view, open_draft_or_404, render_builder
from .shell import draft_state

HOLDERS_SHOWN = 12  # users offered per role on the chooser; any other holder can be typed in


def _refuse_writes(request, draft):
    response = render_builder(request, "builder/preview_error.html", {
        **draft_state(draft), "section": "preview", "status": 405,
        "message": "The preview is read-only: forms and buttons are shown but not submitted. "
                   "Publish the draft to use them."})
    response["Allow"] = "GET, HEAD"
    response.status_code = 405
    return response


def _error(request, draft, error, role=None, user=None, path=""):
    return render_builder(request, "builder/preview_error.html", {
        **draft_state(draft), "section": "preview", "status": error.status_code, "message": error.message,
        "problems": error.problems, "role": role, "as_user": user, "path": path,
    }, status=error.status_code)


def _label(role, spec):
    return role.label.get(get_language(), spec.default_language) or role.name


def _prefix(draft, role, user):
    """The URL the previewed cabinet's paths hang under: ``/builder/d/<id>/preview/<role>/<user>/``."""
    return reverse("builder:preview", kwargs={"draft_id": draft.pk, "role": role, "user": user.pk})


@builder_view
def choose(request, draft_id):
    """Pick a role and a user holding it; ``?role=&username=`` jumps to that user's preview."""
    draft = open_draft_or_404(draft_id)
    if request.method not in ("GET", "HEAD"):
        return _refuse_writes(request, draft)
    try:
        spec = previews.build_for(draft).spec
    except previews.PreviewError as error:
        return _error(request, draft, error)
    role, username = request.GET.get("role", ""), request.GET.get("username", "").strip()
    error = ""
    if role and username:
        user = previews.holders(spec, role).filter(username=username).first()
        if user is not None:
            return HttpResponseRedirect(reverse("builder:preview", kwargs={
                "draft_id": draft.pk, "role": role, "user": user.pk}))
        error = f"No active user '{username}' holds the role '{role}'."
    roles = []
    for spec_role in spec.roles:
        users = previews.holders(spec, spec_role.name)
        roles.append({"role": spec_role, "label": _label(spec_role, spec),
                      "users": list(users[:HOLDERS_SHOWN]), "count": users.count()})
    return render_builder(request, "builder/preview.html", {
        **draft_state(draft), "section": "preview", "roles": roles, "error": error, "chosen_role": role,
        "username": username}, status=400 if error else 200)


@builder_view
def preview(request, draft_id, role, user=None, path=""):
    """The draft's cabinet page ``path`` as ``role`` (as ``user``, or the first user holding the role)."""
    draft = open_draft_or_404(draft_id)
    if request.method not in ("GET", "HEAD"):
        return _refuse_writes(request, draft)
    try:
        build = previews.build_for(draft)
        chosen = previews.pick_user(build.spec, role, user)
    except previews.PreviewError as error:
        return _error(request, draft, error, role=role, path=path)
    if user is None:
        query = f"?{request.GET.urlencode()}" if request.GET else ""
        return HttpResponseRedirect(f"{_prefix(draft, role, chosen)}{path}{query}")
    prefix = _prefix(draft, role, chosen)
    try:
        outcome = previews.render(request, build, chosen, path, prefix)
    except previews.PreviewError as error:
        return _error(request, draft, error, role=role, user=chosen, path=path)
    context = {"draft": draft, "role": build.spec.role(role), "role_label": _label(build.spec.role(role), build.spec),
               "as_user": chosen, "path": path,
               "outcome": outcome, "prefix": prefix, "holders": previews.holders(build.spec, role)[:HOLDERS_SHOWN]}
    if outcome.response is None:  # the page view said 404 or 403: what this role gets
        return render_builder(request, "builder/preview_error.html", {
            **context, **draft_state(draft), "section": "preview", "status": outcome.status, "denied": True,
            "message": f"As {role} ({chosen.get_username()}) this page answers {outcome.status}: "
                       "the role cannot open it."}, status=outcome.status)
    banner = render_to_string("builder/preview_banner.html", context, request=request)
    return previews.with_banner(outcome.response, banner)


urlpatterns = [
    path("d/<int:draft_id>/preview/", choose, name="preview_choose"),
    path("d/<int:draft_id>/preview/<slug:role>/", preview, name="preview"),
    path("d/<int:draft_id>/preview/<slug:role>/<int:user>/", preview, name="preview"),
    path("d/<int:draft_id>/preview/<slug:role>/<int:user>/<path:path>", preview, name="preview"),
    path("d/<int:draft_id>/preview/<slug:role>/<path:path>", preview, name="preview_as_first"),
]
