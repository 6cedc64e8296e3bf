"""Point each request at the active solution version, and survive a publish that lands mid-request.

A process still on the previous version can hit the new schema (a renamed or dropped column) in the
moment between another process's commit and this process noticing it. Such a request is answered
again, once, on the new version, when that is safe: a request that wrote nothing that was committed.
"""
from __future__ import annotations

import logging

from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, connection, transaction
from django.http import HttpResponse
from django.http.request import RawPostDataException

from . import language
from .registry import registry

log = logging.getLogger("engine.registry")
SKIPPED = ("SELECT", "SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "SET", "SHOW")


class WriteWatch:
    """Notice whether a request committed a write: then answering it again would repeat that write."""

    def __init__(self):
        self.committed = False

    def mark(self):
        self.committed = True

    def __call__(self, execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if not sql.lstrip()[:10].upper().startswith(SKIPPED):
            if context["connection"].in_atomic_block:
                transaction.on_commit(self.mark)  # counts only if the block commits
            else:
                self.committed = True
        return result


class _VersionMoved(HttpResponse):
    """Stands for the failed answer while the request is answered again on the new version."""

    status_code = 503


class ActiveSolutionMiddleware:
    """Make sure this process serves the published version, then route the request through it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        built = self._route(request, registry.ensure_current())
        if built is None:
            return self.get_response(request)
        return language.sync_cookie(request, self._answer(request))

    def _answer(self, request):
        if not self._replayable(request):
            return self.get_response(request)
        watch = WriteWatch()
        request.cabinet_writes = watch
        # DRF replaces request.user with the user its authenticators found (a plain User, without the
        # session's two-factor state); the second pass starts from the user the middlewares set.
        user = getattr(request, "user", None)
        with connection.execute_wrapper(watch):
            response = self.get_response(request)
        if not isinstance(response, _VersionMoved):
            return response
        log.warning("%s %s failed on version %s while a newer one was published; answering it again on "
                    "version %s", request.method, request.path, response.old_number, registry.active.number)
        request.cabinet_retried = True
        if user is not None:
            request.user = user
        self._route(request, registry.active)
        return self.get_response(request)

    def process_exception(self, request, exception):
        """On a database error caused by a publish, rebuild and ask ``__call__`` to answer again."""
        built = getattr(request, "solution", None)
        watch = getattr(request, "cabinet_writes", None)
        if (not isinstance(exception, DatabaseError) or built is None or watch is None
                or getattr(request, "cabinet_retried", False)):
            return None
        if watch.committed or connection.in_atomic_block or not registry.follow(built.number):
            return None
        moved = _VersionMoved()
        moved.old_number = built.number
        return moved

    @staticmethod
    def _route(request, built):
        if built is not None:
            request.urlconf = built.urlconf
            request.solution = built
            language.activate_for(request, built)
        return built

    @staticmethod
    def _replayable(request):
        """Keep the body readable for a second pass (small bodies only; large uploads are not replayed)."""
        try:
            request.body  # noqa: B018 (cached on the request, so the view can read it twice)
        except (RequestDataTooBig, RawPostDataException):
            return False
        return True
