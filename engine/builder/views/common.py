"""What every builder view shares: the permission, the draft lookup and the page context."""
from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.views.decorators.cache import never_cache

from ..models import Draft

PERMISSION = "engine.use_builder"


def can_build(user):
    """Whether ``user`` may use the builder (superusers hold every permission)."""
    return user.is_authenticated and user.is_active and user.has_perm(PERMISSION)


def builder_view(view):
    """Guard a builder view: anonymous users go to the login page, users without the permission get 403.

    CSRF and sessions are Django's, as on every other page; responses are never cached.
    """

    @wraps(view)
    def guarded(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not can_build(request.user):
            raise PermissionDenied("You may not use the builder.")
        return view(request, *args, **kwargs)

    return never_cache(guarded)


def open_draft_or_404(draft_id):
    """The open draft ``draft_id`` (404 when it does not exist or is no longer open)."""
    return get_object_or_404(Draft, pk=draft_id, status=Draft.OPEN)


def published():
    """The published version row, or None."""
    from ...models import SolutionVersion

    return SolutionVersion.objects.order_by("-number").first()


def render_builder(request, template, context=None, status=200):
    """Render a builder template with the shared context: the published version and the open drafts."""
    base = {
        "published": published(),
        "open_drafts": Draft.objects.filter(status=Draft.OPEN).select_related("created_by")[:20],
        "section": "",
    }
    base.update(context or {})
    return TemplateResponse(request, template, base, status=status)
