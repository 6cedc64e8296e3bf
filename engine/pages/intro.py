"""The welcome: a first-visit intro per role (shown once per user, skippable) and the login page's brand.

A user's intro is the one of their first role (by name) that has ``intro:``, else the solution's
``intro:`` for users holding any role. At the first login that finds an intro the user has not seen, it is
recorded as seen (``engine.models.IntroSeen``, one row per user and intro) and the session shows it as a
card on the user's home page until they press Skip or Start; later logins never show it again. Pages
pay nothing for it (the session says whether to show it); ``/welcome/`` shows it again on demand.
"""
from __future__ import annotations

from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language

from ..models import IntroSeen
from .base import CabinetView, LoginRequired, label, markdown_html, render


def intro_for(access, spec):
    """``(key, steps)`` of the intro meant for ``access``'s user, or ``(None, ())``."""
    for name in sorted(access.roles):
        role = spec.role(name)
        if role is not None and role.intro:
            return f"role:{name}", role.intro
    if spec.intro and access.roles:
        return "solution", spec.intro
    return None, ()


SESSION_KEY = "cabinet_intro"


def on_login(sender, request, user, **kwargs):
    """At login, note in the session an intro this user has never been shown (and record it as shown)."""
    from ..registry import RegistryNotReady, registry

    if request is None or not hasattr(request, "session"):
        return
    try:
        built = getattr(request, "solution", None) or registry.active
    except RegistryNotReady:  # nothing published yet (an admin signing in to publish the first version)
        return
    if built is None:
        return
    key, _steps = intro_for(built.policy.for_user(user), built.spec)
    if key is not None and IntroSeen.objects.get_or_create(user=user, intro=key)[1]:
        request.session[SESSION_KEY] = key


def intro_card(view, page):
    """The intro steps to show on ``page`` (the user's home page, while the session holds the intro)."""
    key = view.request.session.get(SESSION_KEY) if hasattr(view.request, "session") else None
    if key is None or page is None or page.kind != "dashboard":
        return None
    found, steps = intro_for(view.access, view.built.spec)
    if found != key or view.site.home(view.access) != page:
        return None
    return steps_of(steps, view.built)


def steps_of(steps, built):
    return [{"title": label(s.title, built), "html": markdown_html(label(s.text, built))} for s in steps]


def welcome_context(request):
    """The login page's brand: name, logo, welcome text, public info pages and the solution's languages."""
    from django.conf import settings

    built = getattr(request, "solution", None)
    if built is None:
        return {}
    spec, language = built.spec, get_language()
    names = dict(settings.LANGUAGES)
    return {
        "solution_label": spec.label.get(language, spec.default_language), "branding": dict(spec.branding),
        "welcome": spec.welcome.get(language, spec.default_language) or spec.description.get(
            language, spec.default_language),
        "info_links": [(p.title.get(language, spec.default_language), reverse("page", args=[p.name]))
                       for p in sorted(spec.pages, key=lambda p: (p.order, p.name)) if p.public and p.kind == "info"],
        "languages": [(code, names.get(code, code)) for code in spec.languages if code in names],
    }


class IntroView(CabinetView):
    """``/welcome/``: the user's intro; its form (Start or Skip) marks it seen and goes on to ``next``."""

    def next_url(self):
        url = self.request.POST.get("next") or self.request.GET.get("next") or "/"
        safe = url_has_allowed_host_and_scheme(url, allowed_hosts={self.request.get_host()},
                                               require_https=self.request.is_secure())
        return url if safe and url.startswith("/") and not url.startswith("/welcome/") else "/"

    def get(self, request):
        if not request.user.is_authenticated:
            raise LoginRequired
        key, steps = intro_for(self.access, self.built.spec)
        if key is None:
            return redirect(self.next_url())
        return render(request, self.built, "intro.html", self.context(
            None, page_title=label(self.built.spec.label, self.built), steps=steps_of(steps, self.built),
            next=self.next_url()))

    def post(self, request):
        if not request.user.is_authenticated:
            raise LoginRequired
        key, _steps = intro_for(self.access, self.built.spec)
        if key is not None:
            IntroSeen.objects.get_or_create(user=request.user, intro=key)
        request.session.pop(SESSION_KEY, None)
        return redirect(self.next_url())
