"""Every chat URL of a built version (the API's are mounted with the rest of ``/api/``)."""
from django.urls import path

from . import download


def urlpatterns(built):
    """The chat's URL patterns for ``built`` (``engine.urls.version_urlpatterns`` includes them)."""
    kwargs = {"built": built}
    return [
        path("chat/files/<int:pk>/", download.view, kwargs=kwargs, name="chat-file"),
    ]
