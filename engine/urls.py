"""URLs. The root URLconf serves until a version is published; each built version has its own.

``ActiveSolutionMiddleware`` points every request at the active version's URLconf, so publishing
a version changes the URLs of a running process without a restart.
"""
from importlib import import_module

from django.conf import settings
from django.contrib import admin
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.cache import never_cache

from .accounts.urls import account_urls


@never_cache
def not_ready(request):
    """Say plainly that nothing is published yet (instead of a 404 or a traceback)."""
    return HttpResponse(
        "No solution version is published yet. Run 'python manage.py cabinet migrate' "
        "(or 'python manage.py demo').",
        status=503,
        content_type="text/plain; charset=utf-8",
    )


def extra_urlpatterns():
    """Patterns of the ``CABINET_EXTRA_URLCONF`` module (an extension point: project views beside the
    generated ones), or none."""
    if not settings.CABINET_EXTRA_URLCONF:
        return []
    return list(import_module(settings.CABINET_EXTRA_URLCONF).urlpatterns)


def version_urlpatterns(built):
    """The URL patterns of one built version."""
    from .builder.urls import builder_urlpatterns
    from .chat.urls import urlpatterns as chat_urlpatterns

    return [
        path("admin/", built.admin_site.urls),
        *builder_urlpatterns(),
        *built.api.urlpatterns(),
        *account_urls(built.spec.theme),
        *chat_urlpatterns(built),
        *extra_urlpatterns(),
        *built.pages.urlpatterns(),
    ]


def _root_builder():
    from .builder.urls import builder_urlpatterns

    return builder_urlpatterns()


handler400 = "engine.pages.errors.bad_request"
handler403 = "engine.pages.errors.permission_denied"
handler404 = "engine.pages.errors.page_not_found"
handler500 = "engine.pages.errors.server_error"

urlpatterns = [
    path("admin/", admin.site.urls),
    *_root_builder(),  # before anything is published, the builder can import a solution's files
    *account_urls(),
    path("", not_ready, name="home"),
]
