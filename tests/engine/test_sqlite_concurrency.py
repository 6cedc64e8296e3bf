"""The embedded SQLite default under concurrent writes: writers wait for each other, none fails.

A real threaded WSGI server in another process serves a file database with the shipped settings;
100 booking POSTs arrive at once. Every one must answer 201 and every row must be stored.
"""
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
REQUESTS = 100

SERVER = """
import os, sys
import django
django.setup()
from socketserver import ThreadingMixIn
from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer, get_internal_wsgi_application

class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass

class Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 256  # all clients connect at once

server = Server(("127.0.0.1", 0), Quiet, ipv6=False)
server.set_app(get_internal_wsgi_application())
print(server.server_address[1], flush=True)
server.serve_forever()
"""


@pytest.fixture
def sqlite_server(tmp_path):
    """The resort demo on a file SQLite database, served by a threaded server in its own process."""
    db = tmp_path / "cabinet.sqlite3"
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CABINET_PRODUCTION", "DEBUG")}
    env.update(DATABASE_URL=f"sqlite:///{db}", SECRET_KEY="concurrency-test-key", DJANGO_SETTINGS_MODULE="engine.settings",
               CABINET_API_RATE_USER="100000/minute", CABINET_API_RATE_ANON="100000/minute")
    seeded = subprocess.run([sys.executable, "manage.py", "demo", "--seed-only"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert seeded.returncode == 0, seeded.stderr
    server = subprocess.Popen([sys.executable, "-c", SERVER], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())
        yield f"http://127.0.0.1:{port}", db
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=30)
        if "database is locked" in errors:
            pytest.fail("the server logged 'database is locked'")


def bookings(db):
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM cabinet_booking").fetchone()[0]


def test_concurrent_booking_posts_all_succeed(sqlite_server):
    base, db = sqlite_server
    with sqlite3.connect(db) as conn:
        pass
    token = requests.post(f"{base}/api/auth/token/", json={"username": "anna", "password": "anna-demo"},
                          timeout=30).json()["token"]
    headers = {"Authorization": f"Token {token}"}
    excursions = requests.get(f"{base}/api/excursion/", headers=headers, timeout=30).json()["results"]
    before = bookings(db)
    statuses, failures = [], []
    start = threading.Barrier(REQUESTS)

    def book(i):
        start.wait()
        try:
            response = requests.post(f"{base}/api/booking/", headers=headers, timeout=120,
                                     json={"excursion": excursions[i % len(excursions)]["id"], "seats": 1,
                                           "note": f"concurrent {i}"})
            statuses.append(response.status_code)
            if response.status_code != 201:
                failures.append((i, response.status_code, response.text[:200]))
        except requests.RequestException as exc:
            failures.append((i, type(exc).__name__, str(exc)[:200]))

    threads = [threading.Thread(target=book, args=(i,)) for i in range(REQUESTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads)
    assert failures == []
    assert statuses == [201] * REQUESTS
    assert bookings(db) == before + REQUESTS
    with sqlite3.connect(db) as conn:
        notes = {row[0] for row in conn.execute("SELECT note FROM cabinet_booking WHERE note LIKE 'concurrent %'")}
    assert notes == {f"concurrent {i}" for i in range(REQUESTS)}
