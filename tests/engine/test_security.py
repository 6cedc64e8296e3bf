"""Security headers (CSP without inline scripts, Permissions-Policy), deployment checks, the
development-key warning, and 500s logged with their traceback in every configuration."""
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from django.core import checks
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "CABINET_PRODUCTION": "1",
    "SECRET_KEY": "k" * 20 + "-production-only-9f8e7d6c5b4a3f2e1d0c9b8a7",
    "REDIS_URL": "redis://127.0.0.1:6379/5",
    "ALLOWED_HOSTS": "cabinet.example.com",
    "DEBUG": "0",
    # Its own database, so the outcome does not hang on whatever var/ or another run left behind.
    "DATABASE_URL": f"sqlite:///{Path(tempfile.gettempdir()) / 'cabinet-check-deploy.sqlite3'}",
}


# Not passed on to the processes these tests start: the settings under test, and what the browser tests
# set for this test process only (Django's deploy check refuses DJANGO_ALLOW_ASYNC_UNSAFE).
INHERITED_NOT = ("DEBUG", "SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE")


def run_python(code, env_overrides, drop=()):
    env = {k: v for k, v in os.environ.items() if k not in drop and k not in INHERITED_NOT}
    env.update(env_overrides)
    env.setdefault("DJANGO_SETTINGS_MODULE", "engine.settings")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def manage(args, env_overrides, drop=()):
    env = {k: v for k, v in os.environ.items() if k not in drop and k not in INHERITED_NOT}
    env.update(env_overrides)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


# --- headers -------------------------------------------------------------------------------------

def csp_of(response):
    return dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";") if part.strip())


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/accounts/login/", "/accounts/password_reset/", "/admin/login/"])
def test_security_headers_on_account_pages(url):
    response = Client().get(url)
    assert response.status_code == 200
    csp = csp_of(response)
    assert csp["script-src"] == "'self'"
    assert csp["object-src"] == "'none'" and csp["frame-ancestors"] == "'none'" and csp["base-uri"] == "'self'"
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert "unsafe-eval" not in response["Content-Security-Policy"]
    assert "camera=()" in response["Permissions-Policy"] and "geolocation=()" in response["Permissions-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


def test_cabinet_pages_style_only_with_the_nonce(solution):
    response = Client().get("/p/about/")
    assert response.status_code == 200
    nonce = re.search(r"'nonce-([^']+)'", csp_of(response)["style-src"]).group(1)
    html = response.content.decode()
    styles = re.findall(r"<style([^>]*)>", html)
    assert styles and all(f'nonce="{nonce}"' in attrs for attrs in styles)
    # htmx adds its indicator styles with the same nonce, and evaluates no script text.
    config = json.loads(re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", html).group(1))
    assert config["inlineStyleNonce"] == nonce and config["allowEval"] is False
    assert "<script>" not in html and not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)


def test_api_docs_load_their_script_from_a_file(solution, admin_client):
    page = admin_client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script in the API docs"
    script = re.search(r'<script src="([^"]*\?script[^"]*)"', html).group(1).replace("&amp;", "&")
    response = admin_client.get(script)
    assert response.status_code == 200 and "SwaggerUIBundle" in response.content.decode()


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
HANDLER = re.compile(r"""\son[a-z]+\s*=\s*["']""", re.I)
JS_URL = re.compile(r"""(href|src|action)\s*=\s*["']\s*javascript:""", re.I)
STYLE_WITHOUT_NONCE = re.compile(r"<style(?![^>]*\bnonce=)[^>]*>", re.I)


def template_files():
    for base in (ROOT / "themes", ROOT / "engine"):
        yield from (p for p in base.rglob("*.html") if ".venv" not in p.parts)


def test_no_template_has_inline_scripts_handlers_or_unsigned_styles():
    found = []
    files = list(template_files())
    assert any(p.name == "base.html" for p in files)
    for path in files:
        text = path.read_text(encoding="utf-8")
        for name, pattern in (("inline script", INLINE_SCRIPT), ("event handler", HANDLER),
                              ("javascript: URL", JS_URL), ("style without nonce", STYLE_WITHOUT_NONCE)):
            found += [f"{path.relative_to(ROOT)}: {name}: {m.group(0)}" for m in pattern.finditer(text)]
    assert found == []


# --- deployment checks ----------------------------------------------------------------------------

def test_shipped_production_settings_pass_check_deploy():
    result = manage(["check", "--deploy", "--fail-level", "WARNING"], PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}
    result = manage(["check"], env)
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY must be set in production." in result.stderr


def test_production_needs_a_shared_cache():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "REDIS_URL"}
    result = manage(["check", "--deploy"], env, drop=("REDIS_URL",))
    assert result.returncode == 1
    assert "cabinet.E270" in result.stderr and "is local to each process" in result.stderr


def test_development_says_loudly_it_uses_the_development_key():
    result = manage(["check"], {}, drop=("SECRET_KEY", "CABINET_PRODUCTION"))
    assert result.returncode == 0
    assert "cabinet.W015" in result.stderr and "publicly known development key" in result.stderr


def test_deployment_check_in_process(settings):
    from engine.checks_django import check_deployment

    assert [m.id for m in check_deployment()] == ["cabinet.W015"]
    settings.SECRET_KEY = "x" * 60
    settings.PRODUCTION = True
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    messages = check_deployment()
    assert [(m.id, m.level) for m in messages] == [("cabinet.E270", checks.ERROR)]
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": "redis://127.0.0.1:6379/5"}}
    assert check_deployment() == []


# --- logs -------------------------------------------------------------------------------------

BOOM = """
    import django
    django.setup()
    from django.test import Client
    from django.test.utils import override_settings
    from django.urls import path

    def boom(request):
        raise ZeroDivisionError("boom from a view")

    urlpatterns = [path("boom/", boom)]
    with override_settings(ROOT_URLCONF=__name__):
        response = Client(raise_request_exception=False).get("/boom/", HTTP_X_REQUEST_ID="req-42")
    print("STATUS", response.status_code, response["X-Request-ID"])
"""


@pytest.mark.parametrize("debug", ["0", "1"])
def test_a_500_is_logged_with_its_traceback(tmp_path, debug):
    result = run_python(BOOM, {"DEBUG": debug, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"},
                        drop=("CABINET_LOG_FORMAT",))
    assert "STATUS 500 req-42" in result.stdout, result.stderr
    assert "ERROR django.request [req-42] Internal Server Error: /boom/" in result.stderr
    assert "Traceback (most recent call last)" in result.stderr
    assert "ZeroDivisionError: boom from a view" in result.stderr


def test_json_logs_are_one_object_per_line_with_the_request_id(tmp_path):
    result = run_python(BOOM, {"CABINET_LOG_FORMAT": "json", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"})
    assert "STATUS 500 req-42" in result.stdout, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    errors = [line for line in lines if line["logger"] == "django.request"]
    assert len(errors) == 1
    entry = errors[0]
    assert (entry["level"], entry["request_id"], entry["method"], entry["path"], entry["status"]) == (
        "ERROR", "req-42", "GET", "/boom/", 500)
    assert entry["exc_type"] == "ZeroDivisionError" and "boom from a view" in entry["traceback"]
    assert all(line.startswith("{") for line in result.stderr.splitlines() if line.strip())


def test_the_test_settings_log_request_errors_too():
    import logging

    logger = logging.getLogger("django.request")
    assert logger.isEnabledFor(logging.ERROR)
    assert "StreamHandler" in [type(h).__name__ for h in logger.handlers]
    assert logger.propagate is False  # one line per error, not one per handler up the tree
