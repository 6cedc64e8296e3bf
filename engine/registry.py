"""The registry: holds the active, fully built version of the solution and swaps it whole.

A version is built to the side (its own ``Apps`` registry, admin site and URLs) and then
activated in one step; requests see the old version or the new one, never a half-built one.
Every process follows the published version in the database: ``ensure_current`` compares the
number this process serves with the published one (read through the cache, so with Redis a
publish is seen by the next request of every process) and rebuilds when they differ.
"""
from __future__ import annotations

import logging
import threading
import time
from functools import cached_property

from django.apps import apps as django_apps
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import FieldError, ImproperlyConfigured
from django.db import DatabaseError

from .build.models import APP_LABEL, BuildError, build_models, new_apps
from .errors import SolutionError

log = logging.getLogger("engine.registry")
VERSION_KEY = "cabinet:published-version"


class RegistryNotReady(Exception):
    """No solution version is published yet, so there are no models to serve."""

    default_detail = "No solution version is published yet: run 'python manage.py cabinet migrate'."

    def __init__(self, message=None):
        super().__init__(message or self.default_detail)


class UrlConf:
    """A URL configuration object for one built version (``request.urlconf`` accepts any object)."""

    handler400 = "engine.pages.errors.bad_request"  # the cabinet's styled error pages (engine/pages/errors.py)
    handler403 = "engine.pages.errors.permission_denied"
    handler404 = "engine.pages.errors.page_not_found"
    handler500 = "engine.pages.errors.server_error"

    def __init__(self, urlpatterns):
        self.urlpatterns = urlpatterns


class BuiltSolution:
    """Everything built from one version: spec, models and lazily built admin and URLs."""

    def __init__(self, number, spec, models, apps, sources=None):
        self.number = number
        self.spec = spec
        self.models = models
        self.apps = apps
        self.sources = sources or {}

    def model(self, entity):
        """Return the model class of ``entity``; raise ``LookupError`` if unknown."""
        try:
            return self.models[entity]
        except KeyError:
            raise LookupError(f"no entity '{entity}' in version {self.number}") from None

    @cached_property
    def admin_site(self):
        from .build.admin import build_admin_site

        return build_admin_site(self)

    @cached_property
    def policy(self):
        from .access import Policy

        return Policy(self)

    @cached_property
    def chat(self):
        from .chat.policy import ChatPolicy

        return ChatPolicy(self)

    @cached_property
    def pages(self):
        from .pages.site import PageSite

        return PageSite(self)

    @cached_property
    def api(self):
        from .build.api import BuiltApi

        return BuiltApi(self)

    @cached_property
    def urlconf(self):
        from .urls import version_urlpatterns

        return UrlConf(version_urlpatterns(self))

    def __repr__(self):
        return f"<BuiltSolution {self.spec.name} v{self.number}>"


def build_solution(spec, number, sources=None):
    """Build every class of ``spec`` to the side, without touching the active version."""
    apps = new_apps()
    models = build_models(spec.entities, spec.default_language, apps)
    return BuiltSolution(number, spec, models, apps, sources)


def install_models(built):
    """Make ``built``'s classes the ones Django's app registry knows under the ``cabinet`` label.

    Content types, the admin and deletion of users look models up there; the dict is replaced
    whole, not edited, so a concurrent reader sees either the old classes or the new ones.
    """
    new = dict(built.apps.all_models[APP_LABEL])
    django_apps.all_models[APP_LABEL] = new
    django_apps.get_app_config(APP_LABEL).models = new
    django_apps.clear_cache()


# What building a stored version can raise when the current engine no longer accepts it: its
# problems (SolutionError), a build failure, or Django refusing the classes it makes.
BUILD_ERRORS = (SolutionError, BuildError, FieldError, ImproperlyConfigured, LookupError, TypeError, ValueError)


class Registry:
    """The active built version of this process, with explicit ``populate()`` and swaps.

    ``status()`` says which version is published, which one this process serves and why they differ:
    when the published version does not build under this engine, the last one that builds is served
    (logged at ERROR) and building the published one is tried again after ``CABINET_VERSION_RETRY``
    seconds.
    """

    def __init__(self):
        self._active: BuiltSolution | None = None
        self._lock = threading.Lock()  # one rebuild at a time
        self._swap_lock = threading.RLock()  # one swap of Django's app registry at a time
        self._error = None  # (version number, text) of the last version that failed to build
        self._retry_at = 0.0

    @property
    def ready(self):
        return self._active is not None

    @property
    def serving(self) -> BuiltSolution | None:
        """The version this process serves now, or None (``active`` raises instead)."""
        return self._active

    @property
    def active(self) -> BuiltSolution:
        active = self._active
        if active is None:
            raise RegistryNotReady()
        return active

    def activate(self, built):
        """Swap ``built`` in as the active version (under the swap lock: one swap at a time)."""
        with self._swap_lock:
            install_models(built)
            self._active = built
        if self._error and self._error[0] <= built.number:
            self._error = None
        log.info("serving %s version %s", built.spec.name, built.number)
        return built

    def deactivate(self):
        """Forget the active version (its models leave Django's app registry)."""
        with self._swap_lock:
            self._active = None
            self._error = None
            self._retry_at = 0.0
            django_apps.all_models[APP_LABEL] = {}
            django_apps.get_app_config(APP_LABEL).models = django_apps.all_models[APP_LABEL]
            django_apps.clear_cache()

    def status(self):
        """What the health endpoint reports: published and served numbers, and the build error if any."""
        try:
            published = self.published_number()
        except DatabaseError as exc:
            published = None
            error = f"cannot read the published version: {exc}"
        else:
            error = None
        active = self._active
        failed = self._error
        return {
            "published": published,
            "active": active.number if active else None,
            "error": error or (f"version {failed[0]} does not build: {failed[1]}" if failed else None),
        }

    @staticmethod
    def published_number(use_cache=True):
        """The number of the published version (0 when none), read through the cache."""
        if use_cache:
            number = cache.get(VERSION_KEY)
            if number is not None:
                return number
        from .models import SolutionVersion

        number = SolutionVersion.objects.order_by("-number").values_list("number", flat=True).first() or 0
        # add, not set: a publisher may have announced a newer number since the read above.
        cache.add(VERSION_KEY, number, timeout=_ttl())
        return number

    @staticmethod
    def announce(number):
        """Tell every process that ``number`` is now published (called once the publish committed)."""
        cache.set(VERSION_KEY, number, timeout=_ttl())

    def populate(self):
        """Build and activate the published version from the database; return the version served (or None).

        When the published version does not build, keep serving the active one, or else the newest
        stored version that builds, and say so at ERROR.
        """
        from .models import SolutionVersion

        versions = SolutionVersion.objects.order_by("-number")
        version = versions.first()
        if version is None:
            return None
        if cache.get(VERSION_KEY) not in (None, version.number):
            # The cache names a version the database does not have (it was reset): forget it.
            cache.delete(VERSION_KEY)
        if self._active is not None and self._active.number == version.number:
            return self._active
        if self._error and self._error[0] == version.number and time.monotonic() < self._retry_at:
            return self._active
        for candidate in versions.iterator():
            if self._active is not None and candidate.number <= self._active.number:
                return self._active  # the one served is the newest that builds
            try:
                built = build_stored(candidate)
            except BUILD_ERRORS as exc:
                self._failed(candidate.number, exc)
                continue
            return self.activate(built)
        return self._active

    def _failed(self, number, exc):
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if self._error is None or self._error[0] < number:
            self._error = (number, text)
        self._retry_at = time.monotonic() + float(getattr(settings, "CABINET_VERSION_RETRY", 30))
        log.error("version %s does not build under this engine (%s); serving the last version that builds",
                  number, text, exc_info=exc)

    def ensure_current(self):
        """Serve the published version: rebuild if another process (or this one) published a newer one.

        Only one thread rebuilds; the others keep serving the version they have meanwhile.
        """
        try:
            number = self.published_number()
        except DatabaseError:
            log.warning("cannot read the published version; serving the one built", exc_info=True)
            return self._active
        active = self._active
        if active is not None and active.number == number:
            return active
        if number == 0:
            return active
        if self._error and self._error[0] == number and time.monotonic() < self._retry_at:
            return active
        if not self._lock.acquire(blocking=active is None):
            return active
        try:
            return self.populate()
        finally:
            self._lock.release()

    def follow(self, served):
        """Catch up with the version in the database now (not the cached number), waiting for a rebuild
        in progress; return whether a version newer than ``served`` is active now. Used after a database
        error that a publish may have caused."""
        try:
            number = self.published_number(use_cache=False)
        except DatabaseError:
            return False
        if number <= served:
            return False
        with self._lock:
            built = self.populate()
        if built is not None and built.number > served:
            self.announce(built.number)
            return True
        return False


def build_stored(version):
    """Build a stored version row; raise one of ``BUILD_ERRORS`` when this engine cannot."""
    from .speccache import spec_of

    spec = spec_of(version.sources, version.digest or None)
    return build_solution(spec, version.number, version.sources)


def _ttl():
    """How long the cached version number is trusted: briefly when the cache is this process's own
    (other processes cannot announce to it), long with a shared cache such as Redis."""
    backend = settings.CACHES["default"]["BACKEND"]
    return settings.CABINET_VERSION_TTL if ("locmem" in backend or "dummy" in backend) else 300


registry = Registry()

