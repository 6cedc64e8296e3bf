"""Login lockout on every login path (cabinet, admin, API token), by django-axes.

Every path calls ``django.contrib.auth.authenticate`` with the request, so axes counts failures and
refuses a locked-out client before the password is even checked. The answer to a locked-out client
is a 429 with a message: JSON on the API, the themed page elsewhere.
"""
from __future__ import annotations

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off
from django.http import JsonResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

STATUS = 429


class LockoutBackend(AxesStandaloneBackend):
    """Axes' lockout check, skipped when there is no HTTP request (a script or the test client's
    ``login()``): only requests come from clients that could guess passwords."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def message(request):
    """A sentence that says the client is locked out and for how long."""
    cool_off = get_cool_off(request)
    if cool_off:
        minutes = max(1, round(cool_off.total_seconds() / 60))
        return _("Too many failed login attempts. Try again in %(minutes)s minutes.") % {"minutes": minutes}
    return _("Too many failed login attempts. Ask an administrator to unlock your account.")


def lockout_response(request, original_response=None, credentials=None):
    """The answer to a locked-out login attempt (``AXES_LOCKOUT_CALLABLE``)."""
    text = message(request)
    cool_off = get_cool_off(request)
    headers = {"Retry-After": str(int(cool_off.total_seconds()))} if cool_off else {}
    if request.path.startswith("/api/") or "json" in request.headers.get("Accept", ""):
        return JsonResponse({"detail": text, "code": "locked_out"}, status=STATUS, headers=headers)
    response = TemplateResponse(request, "default/registration/locked_out.html", {"message": text},
                                status=STATUS, headers=headers)
    return response.render()


# The longest text django-axes' attempt and log tables hold (their columns are varchar(255)).
AXES_TEXT_MAX = 255


def attempted_username(request, credentials):
    """The username a login attempt named, cut to what axes' tables hold (PostgreSQL refuses longer text).

    Every login path reaches axes with whatever the client typed; the form fields and the API serializer
    bound it too, but the lockout must never turn an over-long name into a database error.
    """
    name = (credentials or {}).get("username")
    if name is None and request is not None:
        name = getattr(request, "data", request.POST).get("username")
    return None if name is None else str(name)[:AXES_TEXT_MAX]
