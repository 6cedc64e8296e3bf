"""Concurrent writes: writers wait for each other, none fails, and the capacity rule holds.

A real threaded WSGI server in another process serves the resort demo with the shipped settings;
100 one-seat booking POSTs for an excursion with 20 places arrive at once. Exactly 20 must answer
201 and the other 80 a 400 on ``seats`` (the resort's capacity rule), with 20 rows stored: never a
500, a "database is locked" or an overbooking. On the embedded SQLite default (a file database, one
writer at a time) always; on PostgreSQL too when the suite runs there (in a database of its own, made
and dropped by the test), where the rule locks the excursion row while it counts.
"""
import contextlib
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


def postgres_url():
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else None


@contextlib.contextmanager
def fresh_postgres_database(url):
    """A new, empty database beside the one ``url`` names; dropped afterwards."""
    import dj_database_url
    import psycopg

    params = dj_database_url.parse(url)
    name = f"{params['NAME']}_concurrency"
    admin = {"host": params["HOST"] or None, "port": params["PORT"] or None, "user": params["USER"] or None,
             "password": params["PASSWORD"] or None, "dbname": "postgres", "autocommit": True}
    with psycopg.connect(**admin) as conn:
        conn.execute(psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(psycopg.sql.Identifier(name)))
        conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
    try:
        yield url.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(**admin) as conn:
            conn.execute(psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                psycopg.sql.Identifier(name)))


BACKENDS = ["sqlite", pytest.param("postgres", marks=[
    pytest.mark.postgres, pytest.mark.skipif(postgres_url() is None, reason="needs PostgreSQL (DATABASE_URL)")])]


@pytest.fixture(params=BACKENDS)
def server(request, tmp_path):
    """The resort demo on a fresh database, served by a threaded server in its own process; yields
    (base URL, a function running one SQL query on that database)."""
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            db = tmp_path / "cabinet.sqlite3"
            url = f"sqlite:///{db}"

            def query(sql):
                with contextlib.closing(sqlite3.connect(db)) as conn:
                    rows = conn.execute(sql).fetchall()
                    conn.commit()
                    return rows
        else:
            import psycopg

            url = stack.enter_context(fresh_postgres_database(postgres_url()))

            def query(sql):
                with psycopg.connect(url) as conn:
                    return conn.execute(sql).fetchall()
        yield from serve(url, query)


def serve(url, query):
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CABINET_PRODUCTION", "DEBUG")}
    env.update(DATABASE_URL=url, SECRET_KEY="concurrency-test-key", DJANGO_SETTINGS_MODULE="engine.settings",
               CABINET_API_RATE_USER="100000/minute", CABINET_API_RATE_ANON="100000/minute")
    seeded = subprocess.run([sys.executable, "manage.py", "demo", "--seed-only"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert seeded.returncode == 0, seeded.stderr
    process = subprocess.Popen([sys.executable, "-c", SERVER], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}", query
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=30)
        if "database is locked" in errors or "Traceback" in errors:
            pytest.fail(f"the server logged errors: {errors[-2000:]}")


def test_concurrent_booking_posts_fill_an_excursion_exactly(server, request):
    base, query = server
    if "sqlite" in request.node.callspec.id:
        assert query("PRAGMA journal_mode") == [("wal",)]
    token = requests.post(f"{base}/api/auth/token/", json={"username": "anna", "password": "anna-demo"},
                          timeout=30).json()["token"]
    headers = {"Authorization": f"Token {token}"}
    starts = "2100-06-01 10:00:00"
    trip = query("INSERT INTO cabinet_excursion (name, description, starts_at, price, capacity, meeting_point) "
                 f"VALUES ('Crowded walk', '', '{starts}', 5, 20, '') RETURNING id")[0][0]
    statuses, failures = [], []
    start = threading.Barrier(REQUESTS)

    def book(i):
        start.wait()
        try:
            response = requests.post(f"{base}/api/booking/", headers=headers, timeout=120,
                                     json={"excursion": trip, "seats": 1, "note": f"concurrent {i}"})
            statuses.append(response.status_code)
            if response.status_code == 400:
                assert [e["code"] for e in response.json()["seats"]] == ["rule"], response.text
            elif response.status_code != 201:
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
    assert sorted(statuses) == [201] * 20 + [400] * (REQUESTS - 20)
    assert query(f"SELECT COUNT(*), SUM(seats) FROM cabinet_booking WHERE excursion_id = {trip}") == [(20, 20)]
    left = requests.get(f"{base}/api/excursion/{trip}/", headers=headers, timeout=30).json()["seats_left"]
    assert left == 0


def test_concurrent_transitions_on_one_row_exactly_one_wins(server):
    """20 'confirm' requests on one requested booking at once: one moves it, the others are told it changed
    (409), and the audit trail holds one transition. SQLite serialises the writers (BEGIN IMMEDIATE), PostgreSQL
    locks the row (SELECT ... FOR UPDATE); either way the state is checked against the locked row."""
    base, query = server
    token = requests.post(f"{base}/api/auth/token/", json={"username": "reception", "password": "reception-demo"},
                          timeout=30).json()["token"]
    headers = {"Authorization": f"Token {token}"}
    booking = next(row for row in requests.get(f"{base}/api/booking/", headers=headers, timeout=30).json()["results"]
                   if row["status"] == "requested")
    statuses, start = [], threading.Barrier(20)

    def confirm():
        start.wait()
        response = requests.post(f"{base}/api/booking/{booking['id']}/confirm/", headers=headers, timeout=120)
        statuses.append(response.status_code)

    threads = [threading.Thread(target=confirm) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert sorted(statuses) == [200] + [409] * 19
    assert query(f"SELECT status FROM cabinet_booking WHERE id = {int(booking['id'])}") == [("confirmed",)]
    assert query("SELECT COUNT(*) FROM engine_auditrecord WHERE entity = 'booking' AND transition = 'confirm' "
                 f"AND object_id = {int(booking['id'])}") == [(1,)]
