"""Bringing the Procfile's stack up for a deploy test: the PostgreSQL and Redis it needs, a database of its
own, the release step, web processes that answer. Used by test_stack.py and test_chat_processes.py."""
from __future__ import annotations

import os
import secrets
import time
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest

from tests.deploy.stack import (
    Stack,
    drop_database,
    free_port,
    python_env,
    ready,
    recreate_database,
    wait_until,
    with_database,
)

DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")

# The marks of a test that runs the stack: it needs PostgreSQL and Redis.
NEEDS_STACK = [
    pytest.mark.postgres,
    pytest.mark.skipif(not (DATABASE_URL.startswith("postgres") and REDIS_URL),
                       reason="needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL)"),
]


@contextmanager
def released_stack(tmp_path, suffix, solution, **env):
    """A ``Stack`` on a fresh database ``<DATABASE_URL's>_<suffix>`` and a flushed Redis, with its release
    step run (Django's tables, the ``solution`` folder's, static files); ``stack.database_url`` and
    ``stack.release_s`` say which database and how long the release took. Stopped, and the database
    dropped, on the way out."""
    import redis

    name = f"{urlsplit(DATABASE_URL).path.lstrip('/') or 'cabinet'}_{suffix}"
    stack = None
    try:
        recreate_database(DATABASE_URL, name)
        redis.Redis.from_url(REDIS_URL).flushdb()
        stack = Stack(python_env({
            "DATABASE_URL": with_database(DATABASE_URL, name), "REDIS_URL": REDIS_URL, "CABINET_PRODUCTION": "1",
            "SECRET_KEY": secrets.token_urlsafe(50), "SECURE_SSL_REDIRECT": "0",
            "CABINET_SOLUTION": str(solution), "STATIC_ROOT": str(tmp_path / "static"),
            "MEDIA_ROOT": str(tmp_path / "media"), **env,
        }), tmp_path / "logs")
        stack.database_url = stack.env["DATABASE_URL"]
        started = time.monotonic()
        release = stack.run(["/bin/sh", "-c", stack.commands["release"]], timeout=180)
        assert release.returncode == 0, release.stdout + release.stderr
        stack.release_s = round(time.monotonic() - started, 1)
        yield stack
    finally:
        if stack is not None:
            stack.stop()
        drop_database(DATABASE_URL, name)


def start_webs(stack, names=("web_a", "web_b")):
    """Start a web process of the Procfile per name, each on a free port; return {name: base URL} once
    every one answers."""
    bases = {}
    for web in names:
        port = free_port()
        stack.start(web, process="web", PORT=str(port))
        bases[web] = f"http://127.0.0.1:{port}"
    for web, base in bases.items():
        wait_until(lambda base=base: ready(base), 60, 0.2, f"{web} to answer /accounts/login/")
    return bases
