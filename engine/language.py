"""The reader's language, among the solution's languages.

In this order: for the API a ``?lang=`` parameter, the language a signed-in user saved (read once at
login into the session), the language chosen on this browser (the language cookie), the browser's
``Accept-Language``, and last the solution's ``default_language``: a solution with
``default_language: ru`` is Russian for everyone who said nothing else.
"""
from __future__ import annotations

from django.conf import settings
from django.utils import translation
from django.utils.translation.trans_real import parse_accept_lang_header
from django.views.decorators.http import require_POST
from django.views.i18n import set_language as django_set_language

SESSION_KEY = "cabinet_language"


def _match(code, languages):
    """``code`` or its base language ('ru-RU' -> 'ru') among ``languages``, else None."""
    code = (code or "").lower()
    if code in languages:
        return code
    base = code.split("-")[0]
    return base if base in languages else None


def choose(request, spec):
    """The language of ``request`` among ``spec``'s languages (see the module's docstring)."""
    languages = spec.languages
    if request.path.startswith("/api/"):
        asked = _match(request.GET.get("lang"), languages)
        if asked:
            return asked
    session = getattr(request, "session", None)
    user = getattr(request, "user", None)
    if session is not None and user is not None and user.is_authenticated:
        saved = _match(session.get(SESSION_KEY), languages)
        if saved:
            return saved
    chosen = _match(request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME), languages)
    if chosen:
        return chosen
    for code, _quality in parse_accept_lang_header(request.headers.get("accept-language", "")):
        found = _match(code, languages)
        if found:
            return found
    return spec.default_language


def activate_for(request, built):
    """Activate the request's language for the solution ``built`` serves."""
    language = choose(request, built.spec)
    translation.activate(language)
    request.LANGUAGE_CODE = language


def sync_cookie(request, response):
    """After login, carry the saved language to the browser's cookie too (it outlives the session)."""
    session = getattr(request, "session", None)
    saved = session.get(SESSION_KEY) if session is not None else None
    if saved and request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME) != saved:
        response.set_cookie(settings.LANGUAGE_COOKIE_NAME, saved, max_age=settings.LANGUAGE_COOKIE_AGE,
                            path=settings.LANGUAGE_COOKIE_PATH, domain=settings.LANGUAGE_COOKIE_DOMAIN,
                            secure=settings.LANGUAGE_COOKIE_SECURE, httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
                            samesite=settings.LANGUAGE_COOKIE_SAMESITE)
    return response


def remember_at_login(sender, request, user, **kwargs):
    """Signal receiver (``user_logged_in``): put the user's saved language into the session."""
    from .models import UserPreference

    if request is None or getattr(request, "session", None) is None:
        return
    saved = UserPreference.objects.filter(user=user).values_list("language", flat=True).first()
    if saved:
        request.session[SESSION_KEY] = saved
    else:
        request.session.pop(SESSION_KEY, None)


@require_POST
def set_language(request):
    """Django's ``set_language`` (cookie, redirect back), limited to the solution's languages, and saved as
    the signed-in user's preference so it follows them to their next login on any device."""
    built = getattr(request, "solution", None)
    code = request.POST.get("language", "")
    if built is not None and code not in built.spec.languages:  # not a language of this solution: only go back
        return django_set_language(_without_language(request))
    response = django_set_language(request)
    if request.user.is_authenticated and code:
        from .models import UserPreference

        UserPreference.objects.update_or_create(user=request.user, defaults={"language": code})
        request.session[SESSION_KEY] = code
    return response


def _without_language(request):
    """The request with its ``language`` left out: Django's view then only redirects back."""
    post = request.POST.copy()
    post.pop("language", None)
    request.POST = post
    return request
