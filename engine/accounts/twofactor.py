"""Two-factor login (TOTP, django-otp) for users holding a role marked ``two_factor: true``.

A password login of such a user opens a session that can reach nothing but the two-factor page
(enrol a device, or type a code) and logout until a code is verified; the API answers 403 to such a
session, and ``/api/auth/token/`` wants the code in ``otp``. The rule follows the user's roles in
the published version, so marking a role (or granting one) takes effect on the next request.
"""
from __future__ import annotations

import segno
from django.http import JsonResponse
from django.shortcuts import redirect
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django_otp import match_token
from django_otp.plugins.otp_totp.models import TOTPDevice

TWO_FACTOR_PATH = "/accounts/two-factor/"
# Paths an unverified session may still use: the page that verifies it, leaving, and assets.
EXEMPT_PREFIXES = (TWO_FACTOR_PATH, "/accounts/logout/", "/accounts/login/", "/static/", "/i18n/",
                   "/manifest.webmanifest", "/sw.js")


def two_factor_roles(built, user):
    """The names of ``user``'s roles in ``built`` that require two-factor login."""
    if built is None or user is None or not user.is_authenticated:
        return ()
    marked = {role.name for role in built.spec.roles if getattr(role, "two_factor", False)}
    if not marked:
        return ()
    return tuple(sorted(marked & set(built.policy.roles_of(user))))


def requires_two_factor(built, user):
    """True when ``user`` holds a role of ``built`` that requires two-factor login."""
    return bool(two_factor_roles(built, user))


def confirmed_device(user):
    """The user's confirmed TOTP device, or None."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


def enrolment_device(user):
    """The user's unconfirmed TOTP device (made on first use) to enrol with."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)
    return device


def qr_svg(uri):
    """The otpauth URI as an inline SVG QR code (no script, no external image)."""
    return segno.make(uri, error="m").svg_inline(scale=4, dark="#000", light="#fff")


def check_code(user, code):
    """Return the confirmed device that accepts ``code`` (throttled by django-otp), or None."""
    code = (code or "").strip().replace(" ", "")
    if not code.isdigit():
        return None
    return match_token(user, code)


class TwoFactorMiddleware:
    """Keep a session that still owes a two-factor code away from everything but the two-factor page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (user is not None and user.is_authenticated and not user.is_verified()
                and not request.path.startswith(EXEMPT_PREFIXES)
                and requires_two_factor(getattr(request, "solution", None), user)):
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": _("Two-factor verification is required: open %(path)s.")
                                     % {"path": TWO_FACTOR_PATH}, "code": "two_factor_required"}, status=403)
            return redirect(f"{TWO_FACTOR_PATH}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)
