"""Preview a draft's cabinet as one of its roles: built to the side, rendered against current data, never kept.

The draft's solution is built like a version (its own models, URLs and policy) but never activated. A
page is answered by the cabinet's own page views with ``request.solution`` set to that build and
``request.user`` set to a user holding the chosen role, so what the role sees is decided by the same
policy as on the live site. Everything runs in a transaction that is always rolled back: where the draft
changes the schema its plan runs first (new columns exist while the page renders), and a view that
writes on GET (a conversation marked read) leaves nothing behind either.
"""
from __future__ import annotations

import re
import threading
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.messages.storage.cookie import CookieStorage
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, connection, transaction
from django.http import Http404
from django.urls import Resolver404, get_urlconf, set_urlconf
from django.urls.resolvers import RegexPattern, URLResolver

from ..errors import SolutionError
from ..migrate import applied, make_plan
from ..migrate.apply import MigrationError, run_operations
from ..models import digest_sources
from ..registry import BUILD_ERRORS, build_solution
from . import drafts

# The cabinet's pages a preview answers (GET only); the API, the admin and live streams are not previewed.
PREVIEWABLE = frozenset({"home", "page", "page-new", "page-row", "page-edit", "chat-conversation", "profile"})
LOCK_TIMEOUT = "2s"  # PostgreSQL: a busy table makes the preview fail fast instead of queueing behind writers
KEPT_BUILDS = 4  # builds kept per process (a draft being edited changes its sources, and so its build)
LINK = re.compile(r"""(\s(?:href|action|formaction|hx-(?:get|post|put|patch|delete))=)(["'])(/[^"'#?]*)([^"']*)\2""")
BODY = re.compile(r"<body\b[^>]*>", re.IGNORECASE)


class PreviewError(Exception):
    """The preview cannot be shown; ``message`` says why, ``problems`` are located ones when there are."""

    status_code = 400

    def __init__(self, message, status_code=None, problems=()):
        super().__init__(message)
        self.message = message
        self.problems = list(problems)
        if status_code:
            self.status_code = status_code


class _Discard(Exception):
    """Leave the preview's transaction (so it rolls back) carrying the page it rendered."""

    def __init__(self, result):
        super().__init__("preview rendered")
        self.result = result


@dataclass
class PreviewBuild:
    """A draft's solution built to the side, with a resolver of its URLs."""

    digest: str
    built: object
    resolver: URLResolver = field(repr=False)

    @property
    def spec(self):
        return self.built.spec


@dataclass
class Outcome:
    """What a preview answered: the page's response, the plan it ran first, and the status the role got."""

    response: object
    plan: object
    schema_changed: bool
    status: int


_builds: OrderedDict[str, PreviewBuild] = OrderedDict()
_builds_lock = threading.Lock()


def build_for(draft):
    """The draft's solution built to the side (kept per sources digest); raise ``PreviewError`` when the draft
    has errors or does not build."""
    digest = digest_sources(draft.sources)
    with _builds_lock:
        found = _builds.get(digest)
        if found is not None:
            _builds.move_to_end(digest)
            return found
    compiled = drafts.check(draft)  # compiled once per sources digest, shared with the draft's pages
    if compiled.errors or compiled.spec is None:
        raise PreviewError("The draft has errors; fix them before previewing it.", 409, compiled.errors)
    try:
        built = build_solution(compiled.spec, draft.base + 1, draft.sources)
        urlconf = built.urlconf
    except BUILD_ERRORS as exc:
        problems = exc.problems if isinstance(exc, SolutionError) else ()
        raise PreviewError(f"The draft does not build: {exc}", 409, problems) from exc
    made = PreviewBuild(digest, built, URLResolver(RegexPattern(r"^/"), urlconf))
    with _builds_lock:
        _builds[digest] = made
        while len(_builds) > KEPT_BUILDS:
            _builds.popitem(last=False)
            forget_resolvers()
    return made


def forget_resolvers():
    """Drop Django's cached URL resolvers: ``reverse`` keeps one per URLconf forever, and each preview build
    has its own. The live version's resolver is rebuilt on its next use (a few milliseconds)."""
    from django.urls.resolvers import _get_cached_resolver

    _get_cached_resolver.cache_clear()


def holders(spec, role):
    """The active users holding ``role`` (members of its group), by username."""
    found = spec.role(role)
    if found is None:
        return get_user_model().objects.none()
    return get_user_model().objects.filter(groups__name=found.group, is_active=True).order_by("username").distinct()


def pick_user(spec, role, user_id=None):
    """The user to preview ``role`` as: ``user_id`` when that user holds it, else the first holder.

    Raise ``PreviewError`` (404) for a role the draft does not have, and (400) when ``user_id`` does not hold
    it or nobody does.
    """
    if spec.role(role) is None:
        raise PreviewError(f"The draft has no role '{role}'.", 404)
    users = holders(spec, role)
    user = users.filter(pk=user_id).first() if user_id is not None else users.first()
    if user is None:
        if user_id is not None:
            raise PreviewError(f"User #{user_id} does not hold the role '{role}'; pick one who does.", 400)
        raise PreviewError(f"Nobody holds the role '{role}' yet, so there is no one to preview it as: give the "
                           "role to a user first (after publishing, or to a user who already has its group).", 400)
    return user


def resolve(preview, path):
    """Match a cabinet path (``p/home/``) against the draft's page URLs; raise ``PreviewError`` (404) for a
    path that is not one of the cabinet's pages."""
    try:
        match = preview.resolver.resolve("/" + path.lstrip("/"))
    except Resolver404:
        match = None
    if match is None or match.namespace or match.url_name not in PREVIEWABLE:
        raise PreviewError(f"'/{path}' is not a cabinet page of the draft, so it cannot be previewed.", 404)
    return match


def render(request, preview, user, path, prefix):
    """Answer the cabinet page ``path`` of the draft as ``user``; return an ``Outcome``.

    The draft's plan runs first in the same transaction when it changes the schema; the transaction is
    always rolled back. Links in the page that lead to the draft's pages are rewritten under ``prefix``.
    """
    match = resolve(preview, path)
    try:
        plan = make_plan(published_spec(), preview.spec, connection)
    except MigrationError as exc:
        raise PreviewError("No change can be planned from the published version.", 409, exc.problems) from exc
    try:
        with sandbox(plan):
            raise _Discard(call_view(request, preview, user, match))
    except _Discard as done:
        response, status = done.result
    except MigrationError as exc:
        raise PreviewError("The draft's plan cannot run on the current data, so its pages cannot be shown.", 409,
                           exc.problems) from exc
    except DatabaseError as exc:
        raise PreviewError(f"The database refused the preview: {str(exc).strip().splitlines()[0]}", 409) from exc
    if response is not None:
        rewrite_response(response, preview, prefix)
    return Outcome(response, plan, bool(plan.operations), status)


def published_spec():
    """The published version's spec (``applied`` reuses the one this process serves when it is that version;
    ``MigrationError`` when the stored files no longer compile), or None when nothing is published."""
    return applied()[1]


@contextmanager
def sandbox(plan):
    """A transaction that the caller always leaves by an exception (so it rolls back); with the plan's
    operations run first when it has any."""
    if not plan.operations:
        with transaction.atomic():
            yield
        return
    if connection.vendor == "sqlite" and connection.in_atomic_block:
        raise PreviewError("The draft changes the schema, which SQLite cannot preview inside another transaction.",
                           409)
    with connection.schema_editor(atomic=True) as editor:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        run_operations(editor, plan)
        yield


def call_view(request, preview, user, match):
    """Run the matched page view as ``user`` on the draft's build; return (response or None, status)."""
    saved = {name: getattr(request, name, None) for name in ("user", "solution", "_messages", "_cabinet_access")}
    urlconf = get_urlconf()
    request.user, request.solution = user, preview.built
    request._messages = CookieStorage(request)  # the admin's own messages stay queued for the builder
    request._cabinet_access = None
    set_urlconf(preview.built.urlconf)  # `reverse` and `{% url %}` answer the draft's pages
    try:
        response = match.func(request, *match.args, **match.kwargs)
        if hasattr(response, "render") and not getattr(response, "is_rendered", True):
            response.render()
        if getattr(response, "streaming", False):
            raise PreviewError("This page streams live updates, which a preview cannot show.", 400)
        return response, response.status_code
    except Http404:
        return None, 404
    except PermissionDenied:
        return None, 403
    finally:
        set_urlconf(urlconf)
        for name, value in saved.items():
            setattr(request, name, value)


def rewrite_response(response, preview, prefix):
    """Keep the admin inside the preview: links and redirects to the draft's pages go under ``prefix``."""
    if response.has_header("Location"):
        response["Location"] = inside(response["Location"], preview, prefix)
    if "text/html" in response.get("Content-Type", ""):
        html = response.content.decode(response.charset or "utf-8")
        response.content = rewrite_links(html, preview, prefix).encode(response.charset or "utf-8")


def rewrite_links(html, preview, prefix):
    """``html`` with every link, form action and htmx URL of the draft's site moved under ``prefix``."""

    def moved(found):
        attr, quote, path, rest = found.groups()
        return f"{attr}{quote}{inside(path, preview, prefix)}{rest}{quote}"

    return LINK.sub(moved, html)


def inside(url, preview, prefix):
    """``url`` under ``prefix`` when the draft's site answers it (the builder's own pages excepted)."""
    path, sep, rest = url.partition("?")
    if not path.startswith("/") or path.startswith("//"):
        return url
    try:
        match = preview.resolver.resolve(path)
    except Resolver404:
        return url
    if match.namespace == "builder":
        return url
    # Every other URL of the draft's site goes under the preview, previewable or not: a workflow button
    # or a logout form then posts to the preview (refused) instead of acting on the live site.
    return f"{prefix}{path.lstrip('/')}{sep}{rest}"


def with_banner(response, banner_html):
    """Put ``banner_html`` at the top of the page's body (partials without a body are left as they are)."""
    if "text/html" not in response.get("Content-Type", ""):
        return response
    html = response.content.decode(response.charset or "utf-8")
    found = BODY.search(html)
    if found:
        html = f"{html[:found.end()]}{banner_html}{html[found.end():]}"
        response.content = html.encode(response.charset or "utf-8")
    return response
