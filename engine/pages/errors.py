"""Error pages of the cabinet: styled, translated 400, 403, 404, 405 and 500 pages with a way back.

The API answers errors as JSON in its own shape; the admin and the builder keep Django's pages (they
have their own look). Everything else gets the theme's ``cabinet/error.html``. The 500 page is rendered
without the request's context processors, so a broken database cannot break the error page too.
"""
from __future__ import annotations

import logging

from django.http import HttpResponse, JsonResponse
from django.template import TemplateDoesNotExist
from django.template.loader import select_template
from django.urls import NoReverseMatch, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language, gettext
from django.utils.translation import gettext_lazy as _
from django.views import defaults

log = logging.getLogger("engine.pages")

OWN_FORMAT = ("/admin/", "/builder/")  # areas that keep Django's error pages
API = "/api/"

TEXTS = {
    400: (_("Bad request"), _("The address or the form sent something this page cannot use."), "bad_request"),
    403: (_("Access denied"), _("You do not have access to this page."), "permission_denied"),
    404: (_("Page not found"), _("There is no such page, or it is not available to you."), "not_found"),
    405: (_("Not allowed"), _("This page cannot be opened this way."), "method_not_allowed"),
    "csrf": (_("The form has expired"), _("The page was open too long or the session changed. Go back, reload "
                                          "the page and send the form again."), "csrf_failed"),
    500: (_("Something went wrong"), _("We could not show this page. Please try again in a minute."), "server_error"),
}


def _area(request):
    path = request.path
    if path.startswith(API):
        return "api"
    if path.startswith(OWN_FORMAT):
        return "own"
    return "cabinet"


def _json(status):
    title, message, code = TEXTS[status]
    return JsonResponse({"detail": [{"message": str(message), "code": code}]}, status=status)


def _back_url(request):
    """The page the user came from, when it is on this site (never the failing page itself)."""
    referer = request.META.get("HTTP_REFERER", "")
    if referer and url_has_allowed_host_and_scheme(referer, allowed_hosts={request.get_host()},
                                                   require_https=request.is_secure()):
        if not referer.endswith(request.get_full_path()):
            return referer
    return None


def _solution_context(request):
    built = getattr(request, "solution", None)
    if built is None:
        return {"solution_label": "", "branding": {}, "theme": "default"}
    spec = built.spec
    try:
        icon = reverse("icon", args=[192], urlconf=built.urlconf)
    except NoReverseMatch:
        icon = None
    return {"solution_label": spec.label.get(get_language(), spec.default_language), "branding": dict(spec.branding),
            "theme": spec.theme, "icon_url": icon}


def render_error(request, status, *, plain=False, text=None):
    """The styled error page for ``status``; ``plain`` renders without the request's context processors."""
    title, message, _code = TEXTS[text or status]
    context = {**_solution_context(request), "status": status, "title": title, "message": message,
               "back_url": _back_url(request), "LANGUAGE_CODE": get_language() or "en",
               "csp_nonce": getattr(request, "csp_nonce", "")}
    if status in (403, 404) and not plain:
        user = getattr(request, "user", None)
        context["login_url"] = None if user is None or user.is_authenticated else "/accounts/login/?next=" + \
            request.get_full_path()
    template = select_template([f"{context['theme']}/cabinet/error.html", "default/cabinet/error.html"])
    html = template.render(context, None if plain else request)
    return HttpResponse(html, status=status)


def bad_request(request, exception, template_name="400.html"):
    area = _area(request)
    if area == "api":
        return _json(400)
    if area == "own":
        return defaults.bad_request(request, exception)
    return render_error(request, 400, plain=True)  # the request itself may be what is broken


def permission_denied(request, exception, template_name="403.html"):
    area = _area(request)
    if area == "api":
        return _json(403)
    if area == "own":
        return defaults.permission_denied(request, exception)
    return render_error(request, 403)


def page_not_found(request, exception, template_name="404.html"):
    area = _area(request)
    if area == "api":
        return _json(404)
    if area == "own":
        return defaults.page_not_found(request, exception)
    return render_error(request, 404)


def server_error(request, template_name="500.html"):
    area = _area(request)
    if area == "api":
        return _json(500)
    if area == "own":
        return defaults.server_error(request)
    try:
        return render_error(request, 500, plain=True)
    except (TemplateDoesNotExist, LookupError, AttributeError, ValueError):  # never fail on the failure page
        log.exception("the 500 page could not be rendered")
        return HttpResponse(gettext("Something went wrong"), status=500, content_type="text/plain; charset=utf-8")


def csrf_failure(request, reason=""):
    """A refused form (CSRF): the styled 403 that says what to do; the API and admin/builder keep theirs."""
    from django.views.csrf import csrf_failure as django_csrf_failure

    area = _area(request)
    if area == "api":
        title, message, code = TEXTS["csrf"]
        return JsonResponse({"detail": [{"message": str(message), "code": code}]}, status=403)
    if area == "own":
        return django_csrf_failure(request, reason)
    return render_error(request, 403, plain=True, text="csrf")


class MethodNotAllowedMiddleware:
    """Give a bare 405 (Django's ``View.http_method_not_allowed``) of a cabinet page the styled page.

    The ``Allow`` header stays; API and builder/admin answers are left as they are.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code != 405 or response.get("Content-Type", "").startswith("application/json"):
            return response
        if _area(request) != "cabinet" or getattr(response, "streaming", False) or response.content:
            return response
        styled = render_error(request, 405)
        if response.has_header("Allow"):
            styled["Allow"] = response["Allow"]
        return styled

