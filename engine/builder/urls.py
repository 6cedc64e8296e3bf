"""The builder's URLs, mounted at ``/builder/`` in every version's URLconf and in the root one.

Each views module owns its section's patterns; this module only puts them together.
"""
from django.urls import include, path

from .views import entities, history, lifecycle, preview, roles, shell, structure

app_name = "builder"

urlpatterns = [
    *shell.urlpatterns,  # overview, draft start/discard, YAML editor, problems
    *entities.urlpatterns,  # entities and fields: browse and edit
    *roles.urlpatterns,  # the role x entity matrix and role rights
    *structure.urlpatterns,  # pages and menus, workflows (state diagram), branding and languages
    *lifecycle.urlpatterns,  # plan, confirmations, publish, rebase, import, export, audit log
    *history.urlpatterns,  # versions, diffs, rollback
    *preview.urlpatterns,  # the draft's cabinet viewed as a role
]


def builder_urlpatterns():
    """The pattern that mounts the builder (used by ``engine.urls``)."""
    return [path("builder/", include((urlpatterns, app_name), namespace=app_name))]
