"""Which pages a user may open, the menus they see, and each role's home page.

A page is open to a user when it is public, or when one of the user's roles is listed in its
``roles`` (or it lists none) and, for entity pages, the access policy allows the page's action.
"""
from __future__ import annotations

from django.urls import path

ENTITY_ACTION = {"list": "list", "calendar": "list", "detail": "view", "form": "create"}


class PageSite:
    """The pages of one built version."""

    def __init__(self, built):
        self.built = built
        self.spec = built.spec
        self.pages = {p.name: p for p in self.spec.pages}

    def page(self, name):
        return self.pages.get(name)

    def allowed(self, access, page):
        """Whether ``access``'s user may open ``page`` (decided once per request and page)."""
        memo = access.__dict__.setdefault("_pages_allowed", {})
        if page.name not in memo:
            memo[page.name] = self._allowed(access, page)
        return memo[page.name]

    def _allowed(self, access, page):
        if page.public:
            return True
        if not access.user.is_authenticated:
            return False
        if not access.is_superuser and page.roles is not None and not set(page.roles) & access.roles:
            return False
        if page.entity:
            return access.can(page.entity, ENTITY_ACTION.get(page.kind, "view"))
        return access.is_superuser or bool(access.roles) or page.roles == ()

    def menu(self, access, place="main", parent=None):
        """The pages of a menu, in order: 'main' (left), 'section' (top, children of ``parent``), 'user'."""
        found = [p for p in self.spec.pages if p.menu == place and (place != "section" or p.parent == parent)
                 and self.allowed(access, p)]
        return sorted(found, key=lambda p: (p.order, p.name))

    def home(self, access):
        """The user's home page: the solution's or the role's home, else the first page of the main menu."""
        homes = dict(self.spec.home)
        for role in sorted(access.roles):
            for name in (homes.get(role), self.spec.role(role).home):
                page = self.pages.get(name) if name else None
                if page and self.allowed(access, page):
                    return page
        menu = self.menu(access)
        return menu[0] if menu else None

    @staticmethod
    def personal(access, entity):
        """Whether ``access``'s rows of ``entity`` are the user's own (every role's scope narrows them), so a
        personal card (a balance) may show them as "yours"; never for a superuser or an 'all' scope."""
        if access.is_superuser:
            return False
        rules = access.rules(entity, "view")
        return bool(rules) and all(rule.scope != "all" for rule in rules)

    def detail_page(self, access, entity):
        """The first detail page of ``entity`` the user may open (rows link to it)."""
        return next((p for p in self.spec.pages if p.kind == "detail" and p.entity == entity
                     and self.allowed(access, p)), None)

    def row_page(self, access, entity):
        """The page a row of ``entity`` is shown on: its detail page, else a list page of it (auto detail)."""
        return self.detail_page(access, entity) or next(
            (p for p in self.spec.pages if p.kind == "list" and p.entity == entity and self.allowed(access, p)), None)

    def form_page(self, access, entity):
        return next((p for p in self.spec.pages if p.kind == "form" and p.entity == entity
                     and self.allowed(access, p)), None)

    def urlpatterns(self):
        from . import files, views
        from .intro import IntroView

        kwargs = {"built": self.built}
        return [
            path("", views.HomeView.as_view(**kwargs), name="home"),
            path("welcome/", IntroView.as_view(**kwargs), name="intro"),
            path("p/<slug:page>/", views.PageView.as_view(**kwargs), name="page"),
            path("p/<slug:page>/new/", views.FormView.as_view(**kwargs), name="page-new"),
            path("p/<slug:page>/<int:pk>/", views.PageView.as_view(**kwargs), name="page-row"),
            path("p/<slug:page>/export/<slug:fmt>/", views.ExportView.as_view(**kwargs), name="page-export"),
            path("p/<slug:page>/<int:pk>/edit/", views.FormView.as_view(**kwargs), name="page-edit"),
            path("p/<slug:page>/bulk/", views.BulkView.as_view(**kwargs), name="page-bulk"),
            path("p/<slug:page>/<int:pk>/do/<slug:transition>/", views.TransitionView.as_view(**kwargs),
                 name="page-transition"),
            path("p/<slug:page>/c/<int:conv>/", views.ConversationView.as_view(**kwargs), name="chat-conversation"),
            path("p/<slug:page>/c/<int:conv>/<slug:action>/", views.ConversationActionView.as_view(**kwargs),
                 name="chat-action"),
            path("p/<slug:page>/c/<int:conv>/m/<int:message>/<slug:action>/",
                 views.MessageActionView.as_view(**kwargs), name="chat-message"),
            path("p/<slug:page>/start/", views.StartView.as_view(**kwargs), name="chat-start"),
            path("p/<slug:page>/row/<int:row>/", views.TicketRowView.as_view(**kwargs), name="chat-row"),
            path("accounts/profile/", views.ProfileView.as_view(**kwargs), name="profile"),
            path("files/<slug:entity>/<int:pk>/<slug:field>/", files.download, kwargs=kwargs, name="file"),
            path("files/<slug:entity>/<int:pk>/<slug:field>/thumb/<int:size>/", files.thumbnail, kwargs=kwargs,
                 name="file-thumb"),
            path("manifest.webmanifest", views.manifest, kwargs=kwargs, name="manifest"),
            path("sw.js", views.service_worker, kwargs=kwargs, name="service-worker"),
            path("offline/", views.offline, kwargs=kwargs, name="offline"),
            path("icon-<int:size>.png", views.icon, kwargs=kwargs, name="icon"),
        ]
