"""Liveness (``/healthz``) and readiness (``/readyz``) for load balancers and orchestrators.

Both answer JSON without authentication, before sessions, users or the solution are touched:
liveness says the process serves requests (no database, no cache); readiness checks the database,
the cache, the Celery broker (with ``REDIS_URL``) and that this process serves the published
version, and answers 503 naming what is wrong.
"""
from __future__ import annotations

import uuid

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.http import JsonResponse

from .errors import SolutionError
from .registry import registry

PATHS = ("/healthz", "/readyz")
TIMEOUT = 2  # seconds for a broker ping; a probe must answer quickly


def _response(body, ok):
    response = JsonResponse(body, status=200 if ok else 503)
    response["Cache-Control"] = "no-store"
    return response


def liveness():
    """The process is up and answers."""
    return _response({"status": "ok"}, True)


def check_database():
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return f"error: {type(exc).__name__}: {exc}"[:300]
    return "ok"


def check_cache():
    key, token = "cabinet:readyz", uuid.uuid4().hex
    try:
        cache.set(key, token, 10)
        if cache.get(key) != token:
            return "error: the cache did not keep a value"
    except (OSError, redis.RedisError) as exc:
        return f"error: {type(exc).__name__}: {exc}"[:300]
    return "ok"


def check_broker():
    url = settings.CELERY_BROKER_URL
    if not settings.REDIS_URL or not url.startswith(("redis://", "rediss://")):
        return None
    try:
        client = redis.Redis.from_url(url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)
        try:
            client.ping()
        finally:
            client.close()
    except (OSError, redis.RedisError) as exc:
        return f"error: {type(exc).__name__}: {exc}"[:300]
    return "ok"


def check_version():
    """(ok, details): this process serves the published version (building it if it lags)."""
    try:
        published = registry.published_number(use_cache=False)
        active = registry.ensure_current()
    except (DatabaseError, SolutionError) as exc:
        return False, {"error": f"{type(exc).__name__}: {exc}"[:300]}
    details = {"published": published, "active": active.number if active is not None else None}
    status = getattr(registry, "status", None)
    if callable(status):
        details["registry"] = status()
    if published == 0:
        details["error"] = "no version is published yet (run 'manage.py cabinet migrate')"
        return False, details
    if details["active"] != published:
        details["error"] = f"serving version {details['active']} while version {published} is published"
        return False, details
    return True, details


def readiness():
    """Database, cache, broker and the published version, each 'ok' or an error."""
    checks = {"database": check_database(), "cache": check_cache()}
    broker = check_broker()
    if broker is not None:
        checks["broker"] = broker
    ok = all(value == "ok" for value in checks.values())
    if checks["database"] == "ok":
        version_ok, checks["version"] = check_version()
        ok = ok and version_ok
    return _response({"status": "ok" if ok else "unavailable", "checks": checks}, ok)


class HealthMiddleware:
    """Answer ``/healthz`` and ``/readyz`` (GET or HEAD) before the rest of the stack."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path.rstrip("/")
        if path in PATHS and request.method in ("GET", "HEAD"):
            return liveness() if path == "/healthz" else readiness()
        return self.get_response(request)
