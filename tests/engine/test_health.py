"""Liveness and readiness: JSON, 200 or 503, no login, a fixed number of queries."""
import pytest
import redis
from django.db import OperationalError, connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from engine.registry import registry


def get(url, **extra):
    response = Client().get(url, **extra)
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    return response.status_code, response.json()


def test_liveness_needs_no_database():
    # No database access is allowed in this test: a query would fail it.
    assert get("/healthz") == (200, {"status": "ok"})
    assert get("/healthz/") == (200, {"status": "ok"})


def test_readiness_is_unavailable_before_a_version_is_published(transactional_db):
    status, body = get("/readyz")
    assert status == 503
    assert body["checks"]["database"] == "ok" and body["checks"]["cache"] == "ok"
    assert body["checks"]["version"]["published"] == 0
    assert "no version is published" in body["checks"]["version"]["error"]


def test_readiness_when_everything_is_up(solution):
    status, body = get("/readyz")
    assert status == 200, body
    assert body["status"] == "ok"
    version = body["checks"]["version"]
    assert (version["published"], version["active"]) == (solution.number, solution.number)
    with CaptureQueriesContext(connection) as queries:
        assert get("/readyz")[0] == 200
    # SELECT 1 and the published version number, whatever the data holds.
    assert len(queries) == 2, [q["sql"] for q in queries]


def test_probes_need_no_login_or_session(solution):
    client = Client(enforce_csrf_checks=True)
    assert client.get("/readyz").status_code == 200
    assert "sessionid" not in client.cookies and "csrftoken" not in client.cookies
    assert client.post("/readyz").status_code in (302, 403, 404, 405)


def test_readiness_reports_a_database_failure(solution, monkeypatch):
    def down(*args, **kwargs):
        raise OperationalError("connection refused")

    with monkeypatch.context() as patched:  # undone before the fixtures clean the database
        patched.setattr(connection, "cursor", down)
        status, body = get("/readyz")
    assert status == 503
    assert body["checks"]["database"] == "error: OperationalError: connection refused"
    assert "version" not in body["checks"]


def test_readiness_reports_a_cache_failure(solution, monkeypatch):
    from engine import health

    def down(*args, **kwargs):
        raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:1")

    monkeypatch.setattr(health.cache, "set", down)
    status, body = get("/readyz")
    assert status == 503 and body["checks"]["cache"].startswith("error: ConnectionError")


def test_readiness_reports_an_unreachable_broker(solution, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    status, body = get("/readyz")
    assert status == 503 and body["checks"]["broker"].startswith("error: ConnectionError")


@pytest.mark.skipif("not __import__('os').environ.get('REDIS_URL')", reason="needs Redis (REDIS_URL)")
def test_readiness_pings_the_broker(solution):
    status, body = get("/readyz")
    assert status == 200 and body["checks"]["broker"] == "ok"


def test_readiness_reports_a_process_behind_the_published_version(solution, monkeypatch):
    monkeypatch.setattr(registry, "ensure_current", lambda: None)
    status, body = get("/readyz")
    assert status == 503
    assert body["checks"]["version"]["error"] == f"serving version None while version {solution.number} is published"


def test_readiness_includes_the_registry_status_when_there_is_one(solution, monkeypatch):
    monkeypatch.setattr(registry, "status", lambda: {"state": "serving", "number": solution.number}, raising=False)
    status, body = get("/readyz")
    assert status == 200 and body["checks"]["version"]["registry"] == {"state": "serving", "number": solution.number}


def test_probes_answer_any_host_over_plain_http(settings):
    # Orchestrators probe the pod's address over HTTP, whatever ALLOWED_HOSTS and the SSL redirect say.
    settings.SECURE_SSL_REDIRECT = True
    settings.ALLOWED_HOSTS = ["cabinet.example.com"]
    response = Client().get("/healthz", HTTP_HOST="10.1.2.3:8000")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    assert Client().get("/accounts/login/", HTTP_HOST="cabinet.example.com").status_code == 301
