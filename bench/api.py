"""API benchmark: the generated list and retrieve endpoints vs a hand-written DRF viewset, one server.

A small solution held in this file (entity ``item``: string, integer, money, choice, datetime and
the owner ref ``user``; role ``member`` with ``scope: own`` and actions list, view) is published
into a fresh database (PostgreSQL ``bench_api`` on 127.0.0.1:5432, dropped and created here, with
Redis db 13 as the cache when it answers; a temporary SQLite file and the local-memory cache when
PostgreSQL is down). One member user owns ``--mine`` items, ``--other-users`` other users own
``--others`` more, so the scope matters.

One server process (gunicorn, one sync worker, when it is installed; else
``manage.py runserver --noreload --nothreading``) serves both:

* generated: ``/api/item/`` and ``/api/item/<id>/`` (``engine.build.api``, behind the policy);
* hand-written: ``/hand/item/`` and ``/hand/item/<id>/`` (``bench/api_handwritten.py``, mounted with
  ``CABINET_EXTRA_URLCONF``): ``ModelViewSet`` + ``ModelSerializer`` over the same model class,
  ``filter(user=request.user)``, the same fields, ordering and page size.

Both are called with the same knox token (``Authorization: Token ...`` from ``POST /api/auth/token/``)
over loopback. Latency: one client connection (reopened after each answer by a server that closes
it), requests alternating generated / hand-written (median, p95). Throughput: ``--threads``
connections at once, in phases alternating the variants (ABBA), requests per second. Every response
must be 200 and the two variants must answer the same rows. The SQL queries per request are counted
in this process through ``django.test.Client``.

Run from the project root:  .venv/bin/python bench/api.py [--requests 2000] [--threads 4]
"""
from __future__ import annotations

import argparse
import cProfile
import gc
import http.client
import io
import json
import os
import pstats
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib.util import find_spec
from pathlib import Path

from common import drop_database, postgres_problem, recreate_database, summary

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
HOST = "127.0.0.1"
PG_DB = "bench_api"
PG_URL = f"postgres://postgres@127.0.0.1:5432/{PG_DB}"
REDIS_URL = "redis://127.0.0.1:6379/13"
TARGET_RATIO = 1.2  # generated / hand-written median latency; hand-written / generated requests per second
PAGE = 20
VARIANTS = ("generated", "hand-written")
ENDPOINTS = ("list", "retrieve")
PREFIX = {"generated": "/api/item/", "hand-written": "/hand/item/"}
SERVER_START_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 30.0
THROUGHPUT_PHASE_TIMEOUT_S = 600.0
MEMBER = "bench_member"
STATUSES = ("new", "active", "done", "archived")

# --- the solution ----------------------------------------------------------------------------

SOURCES = {
    "solution.yaml": """\
solution:
  name: apibench
  label: {en: API bench}
  languages: [en]
  default_language: en
""",
    "entities.yaml": """\
entities:
  item:
    label: {en: Item}
    plural: {en: Items}
    title: title
    owner: user
    ordering: [-created]
    fields:
      title: {type: string, max_length: 80, required: true, label: {en: Title}}
      qty: {type: integer, default: 0, min: 0, label: {en: Quantity}}
      price: {type: money, required: true, min: 0, label: {en: Price}}
      status:
        type: choice
        required: true
        default: new
        label: {en: Status}
        choices:
          - {value: new, label: {en: New}}
          - {value: active, label: {en: Active}}
          - {value: done, label: {en: Done}}
          - {value: archived, label: {en: Archived}}
      created: {type: datetime, required: true, default: now, label: {en: Created}}
      user: {type: ref, to: user, required: true, on_delete: cascade, label: {en: Owner}}
    indexes:
      - fields: [user, created]
""",
    "roles.yaml": """\
roles:
  member:
    label: {en: Member}
    entities:
      item: {actions: [list, view], scope: own}
""",
}

# --- services --------------------------------------------------------------------------------


def redis_problem():
    try:
        import redis
    except ImportError as exc:
        return f"missing client library: {exc}"
    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3, socket_timeout=3)
        client.ping()
        client.close()
        return None
    except redis.RedisError as exc:
        return f"Redis at 127.0.0.1:6379 not usable: {exc}"


def flush_redis():
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3, socket_timeout=3)
        client.flushdb()
        client.close()
    except redis.RedisError as exc:
        print(f"(could not flush {REDIS_URL}: {exc})")






def environment(database_url, redis_url, conn_max_age):
    """The environment of this process and of the server: same database, cache and settings."""
    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "engine.settings",
        "DATABASE_URL": database_url,
        "DEBUG": "0",
        "CABINET_EXTRA_URLCONF": "bench.api_handwritten",
        # Throttling stays on (same classes for both variants) but never limits: per second, so the
        # throttle's request history stays short.
        "CABINET_API_RATE_USER": "1000000/s",
        "CABINET_API_RATE_ANON": "1000000/s",
        "CABINET_API_RATE_LOGIN": "1000/s",
        "CONN_MAX_AGE": str(conn_max_age),
        "CABINET_LOG_LEVEL": "ERROR",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")])),
    })
    env.pop("CABINET_PRODUCTION", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    else:
        env.pop("REDIS_URL", None)
    return env


def setup_django(env):
    os.environ.update(env)
    if "REDIS_URL" not in env:
        os.environ.pop("REDIS_URL", None)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


# --- data ------------------------------------------------------------------------------------


def prepare(args, password):
    """migrate, publish the solution, create the users and the rows; return (built, member, timings)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.db import connection

    from engine.compiler import compile_sources
    from engine.migrate import publish

    steps = {}
    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    steps["migrate_s"] = time.perf_counter() - started

    started = time.perf_counter()
    spec = compile_sources(SOURCES).raise_for_errors()
    built, _plan = publish(spec, SOURCES, note="api bench")
    steps["publish_s"] = time.perf_counter() - started

    started = time.perf_counter()
    user_model = get_user_model()
    member = user_model.objects.create_user(MEMBER, f"{MEMBER}@example.invalid", password)
    member.groups.add(Group.objects.get(name="member"))
    user_model.objects.bulk_create([
        user_model(username=f"bench_other_{n}", password=make_password(None), email="") for n in range(args.other_users)
    ])
    others = list(user_model.objects.exclude(pk=member.pk).values_list("pk", flat=True))
    owners = [member.pk] * args.mine + [others[n % len(others)] for n in range(args.others)]
    rng = random.Random(args.seed)
    rng.shuffle(owners)  # the member's rows are spread over the table
    offsets = list(range(len(owners)))
    rng.shuffle(offsets)  # ``created`` unique and not correlated with the id
    start = datetime(2025, 1, 1, tzinfo=UTC)
    model = built.model("item")
    model._default_manager.bulk_create([
        model(user_id=owner, title=f"item {n}", qty=rng.randint(0, 500),
              price=Decimal(rng.randint(0, 10_000_000)) / 100, status=rng.choice(STATUSES),
              created=start - timedelta(seconds=7 * offsets[n]))
        for n, owner in enumerate(owners)
    ], batch_size=2000)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for table in ("auth_user", "auth_user_groups", "cabinet_item"):
                cursor.execute(f"VACUUM ANALYZE {table}")
    steps["load_s"] = time.perf_counter() - started
    return built, member, steps


# --- HTTP over loopback ----------------------------------------------------------------------


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Connection:
    """One persistent HTTP/1.1 connection to the server, with the token; reconnects when closed."""

    def __init__(self, port, token=None):
        self.port = port
        self.headers = {"Accept": "application/json"}
        if token:
            self.headers["Authorization"] = f"Token {token}"
        self.conn = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT_S)
        self.reconnects = 0

    def request(self, method, path, body=None, headers=None):
        """Send one request; return (status, body bytes, seconds from send to the last byte)."""
        all_headers = {**self.headers, **(headers or {})}
        for attempt in (1, 2):
            try:
                started = time.perf_counter()
                self.conn.request(method, path, body=body, headers=all_headers)
                response = self.conn.getresponse()
                data = response.read()
                return response.status, data, time.perf_counter() - started
            except (ConnectionError, http.client.HTTPException):
                # the server closed an idle keep-alive connection: open a new one and send again, once
                self.conn.close()
                self.reconnects += 1
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def get(self, path):
        return self.request("GET", path)

    def close(self):
        self.conn.close()


def tail(path, lines=30):
    try:
        return "\n".join(Path(path).read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def server_command(kind, port, worker="sync"):
    if kind == "gunicorn":
        # One process, one request at a time. gthread keeps connections alive (its accept/poll loop is a
        # second thread); sync closes every connection after one response (the client reconnects).
        return [sys.executable, "-m", "gunicorn", "engine.wsgi:application", "--bind", f"{HOST}:{port}",
                "--workers", "1", "--worker-class", worker, "--threads", "1", "--keep-alive", "120",
                "--timeout", "120", "--log-level", "warning"]
    return [sys.executable, str(ROOT / "manage.py"), "runserver", f"{HOST}:{port}", "--noreload", "--nothreading"]


def start_server(kind, env, port, log, worker):
    with open(log, "w", encoding="utf-8") as log_file:
        server = subprocess.Popen(  # noqa: S603 - our interpreter running gunicorn or the project's manage.py
            server_command(kind, port, worker), cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}:\n{tail(log)}")
        try:
            conn = Connection(port)
            try:
                conn.request("GET", "/api/", headers={"Connection": "close"})
            finally:
                conn.close()
            return server
        except OSError:
            time.sleep(0.1)
    stop_server(server)
    raise RuntimeError(f"the server did not answer within {SERVER_START_TIMEOUT_S} s:\n{tail(log)}")


def stop_server(server):
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=15)


def obtain_token(port, password):
    conn = Connection(port)
    try:
        status, body, _ = conn.request("POST", "/api/auth/token/",
                                       body=json.dumps({"username": MEMBER, "password": password}),
                                       headers={"Content-Type": "application/json"})
    finally:
        conn.close()
    if status != 200:
        raise RuntimeError(f"POST /api/auth/token/ answered {status}: {body[:300]!r}")
    return json.loads(body)["token"]


def path_of(variant, endpoint, item_id):
    return PREFIX[variant] if endpoint == "list" else f"{PREFIX[variant]}{item_id}/"


def same_answer(endpoint, generated, hand):
    """Whether the two bodies hold the same rows (list: count and results; the page links differ)."""
    a, b = json.loads(generated), json.loads(hand)
    if endpoint == "list":
        return a["count"] == b["count"] and a["results"] == b["results"] and len(a["results"]) == PAGE
    return a == b


# --- measurement -----------------------------------------------------------------------------






def sequential(port, token, ids, n, check=True):
    """``n`` rounds over one connection; each round calls every endpoint of both variants, alternating
    which variant goes first. Return (timings ms per endpoint and variant, statuses, mismatches)."""
    conn = Connection(port, token)
    timings = {(e, v): [] for e in ENDPOINTS for v in VARIANTS}
    statuses = {}
    mismatches = dict.fromkeys(ENDPOINTS, 0)
    gc.collect()
    try:
        for i in range(n):
            item_id = ids[i % len(ids)]
            for j, endpoint in enumerate(ENDPOINTS):
                order = VARIANTS if (i + j) % 2 == 0 else VARIANTS[::-1]
                bodies = {}
                for variant in order:
                    status, body, elapsed = conn.get(path_of(variant, endpoint, item_id))
                    timings[(endpoint, variant)].append(elapsed * 1000)
                    key = f"{endpoint} {variant} {status}"
                    statuses[key] = statuses.get(key, 0) + 1
                    bodies[variant] = body if status == 200 else None
                if check and not (None not in bodies.values() and same_answer(endpoint, *bodies.values())):
                    mismatches[endpoint] += 1
    finally:
        conn.close()
    return timings, statuses, mismatches


def throughput_phase(port, token, paths, threads):
    """Send ``paths`` from ``threads`` persistent connections at once; return (seconds, statuses)."""
    shares = [paths[k::threads] for k in range(threads)]
    conns = [Connection(port, token) for _ in range(threads)]
    for conn in conns:  # open every connection before the clock starts
        conn.get(paths[0])
    barrier = threading.Barrier(threads + 1)
    statuses = [{} for _ in range(threads)]
    errors = []

    def work(k):
        try:
            barrier.wait(timeout=60)
            for path in shares[k]:
                status = conn_get_status(conns[k], path)
                statuses[k][status] = statuses[k].get(status, 0) + 1
        except Exception as exc:  # noqa: BLE001 - reported, and the phase is failed
            errors.append(repr(exc))

    workers = [threading.Thread(target=work, args=(k,), daemon=True) for k in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait(timeout=60)
    started = time.perf_counter()
    for worker in workers:
        worker.join(timeout=THROUGHPUT_PHASE_TIMEOUT_S)
    elapsed = time.perf_counter() - started
    for conn in conns:
        conn.close()
    if errors or any(worker.is_alive() for worker in workers):
        raise RuntimeError(f"throughput phase failed: {errors[:3] or 'timeout'}")
    merged = {}
    for found in statuses:
        for status, count in found.items():
            merged[status] = merged.get(status, 0) + count
    return elapsed, merged


def conn_get_status(conn, path):
    return conn.get(path)[0]


def throughput(port, token, ids, n, threads, phases):
    """``n`` requests per endpoint and variant in ``phases`` phases each, ABBA order; return req/s."""
    per_phase = max(threads, n // phases)
    result = {}
    rng = random.Random(7)
    for endpoint in ENDPOINTS:
        seconds = dict.fromkeys(VARIANTS, 0.0)
        done = dict.fromkeys(VARIANTS, 0)
        statuses = {v: {} for v in VARIANTS}
        rates = {v: [] for v in VARIANTS}
        for phase in range(phases):
            order = VARIANTS if phase % 4 in (0, 3) else VARIANTS[::-1]
            picked = [rng.choice(ids) for _ in range(per_phase)]
            for variant in order:
                paths = [path_of(variant, endpoint, item_id) for item_id in picked]
                elapsed, found = throughput_phase(port, token, paths, threads)
                seconds[variant] += elapsed
                done[variant] += len(paths)
                rates[variant].append(len(paths) / elapsed)
                for status, count in found.items():
                    statuses[variant][str(status)] = statuses[variant].get(str(status), 0) + count
        for variant in VARIANTS:
            result[(endpoint, variant)] = {"requests": done[variant], "seconds": seconds[variant],
                                           "req_per_s": done[variant] / seconds[variant],
                                           "phase_req_per_s": rates[variant], "statuses": statuses[variant]}
        print(f"  throughput {endpoint}: " + ", ".join(
            f"{v} {result[(endpoint, v)]['req_per_s']:.0f} req/s" for v in VARIANTS), flush=True)
    return result


# --- in this process: queries, timing without HTTP, profile ----------------------------------


def test_client(token):
    from django.test import Client

    return Client(HTTP_AUTHORIZATION=f"Token {token}", HTTP_ACCEPT="application/json")


def query_counts(token, item_id):
    """The SQL of one request of each endpoint and variant (through the whole middleware stack)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = test_client(token)
    found = {}
    for endpoint in ENDPOINTS:
        for variant in VARIANTS:
            path = path_of(variant, endpoint, item_id)
            client.get(path)  # once untimed: per-process caches (permission ids, grants) filled
            with CaptureQueriesContext(connection) as ctx:
                response = client.get(path)
            if response.status_code != 200:
                raise RuntimeError(f"in-process GET {path} answered {response.status_code}: {response.content[:300]!r}")
            found[f"{endpoint} {variant}"] = {"count": len(ctx.captured_queries),
                                              "sql": [q["sql"] for q in ctx.captured_queries]}
    return found


def in_process_timings(token, ids, n):
    """Median ms per request through ``django.test.Client`` (the whole Django stack, no HTTP server)."""
    client = test_client(token)
    timings = {(e, v): [] for e in ENDPOINTS for v in VARIANTS}
    for i in range(n + 50):
        item_id = ids[i % len(ids)]
        for j, endpoint in enumerate(ENDPOINTS):
            for variant in VARIANTS if (i + j) % 2 == 0 else VARIANTS[::-1]:
                started = time.perf_counter()
                response = client.get(path_of(variant, endpoint, item_id))
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != 200:
                    raise RuntimeError(f"in-process {endpoint} {variant} answered {response.status_code}")
                if i >= 50:  # the first 50 rounds warm up
                    timings[(endpoint, variant)].append(elapsed)
    return {key: summary(values) for key, values in timings.items()}


ENGINE_MARKERS = ("/engine/", "/django_filters/", "rest_framework/filters.py", "/guardian/")
# (label, file the function is in or None for any, function name): cumulative time per request of each
BREAKDOWN = (
    ("whole request (handler)", "django/core/handlers/base.py", "get_response"),
    ("middleware: ensure_current", "engine/registry.py", "ensure_current"),
    ("DRF dispatch", "rest_framework/views.py", "dispatch"),
    ("  authentication (knox)", "rest_framework/views.py", "perform_authentication"),
    ("  check_permissions", None, "check_permissions"),
    ("  check_throttles", "rest_framework/views.py", "check_throttles"),
    ("  get_queryset", None, "get_queryset"),
    ("  filter_queryset", "rest_framework/generics.py", "filter_queryset"),
    ("  paginate_queryset (count, page)", "rest_framework/generics.py", "paginate_queryset"),
    ("  get_serializer", "rest_framework/generics.py", "get_serializer"),
    ("  serializer .data", "rest_framework/serializers.py", "data"),
    ("render JSON", "rest_framework/response.py", "rendered_content"),
    ("SQL (execute_sql)", "django/db/models/sql/compiler.py", "execute_sql"),
    ("cache (Redis or local memory)", "django/core/cache/backends/", None),
)


def breakdown(stats, n):
    """ms per request spent in each BREAKDOWN entry (its largest cumulative time: wrappers recurse)."""
    found = {}
    for label, where, func in BREAKDOWN:
        cum = 0.0
        for (filename, _line, name), (_cc, _nc, _tt, cumtime, callers) in stats.stats.items():
            if (where is None or where in filename) and (func is None or name == func):
                if func is None:  # a module: time of its functions called from outside it
                    cumtime = sum(c[3] for caller, c in callers.items() if where not in caller[0])
                    cum += cumtime
                else:
                    cum = max(cum, cumtime)
        found[label] = cum * 1000 / n
    return found


def profile(token, ids, n, endpoint="list", batch=25):
    """cProfile ``n`` in-process requests of each variant, in alternating batches (so that other load on
    the machine weighs on both alike); return texts, a breakdown and the engine's own costs."""
    client = test_client(token)
    profilers = {variant: cProfile.Profile() for variant in VARIANTS}
    wall = dict.fromkeys(VARIANTS, 0.0)
    for i in range(20):
        for variant in VARIANTS:
            client.get(path_of(variant, endpoint, ids[i % len(ids)]))
    for k in range(max(1, n // batch)):
        for variant in VARIANTS if k % 2 == 0 else VARIANTS[::-1]:
            paths = [path_of(variant, endpoint, ids[(k * batch + i) % len(ids)]) for i in range(batch)]
            started = time.perf_counter()
            profilers[variant].enable()
            for path in paths:
                client.get(path)
            profilers[variant].disable()
            wall[variant] += time.perf_counter() - started
    n = max(1, n // batch) * batch
    out = {}
    for variant in VARIANTS:
        stream = io.StringIO()
        stats = pstats.Stats(profilers[variant], stream=stream)
        stats.sort_stats("cumulative").print_stats(35)
        stats.sort_stats("tottime").print_stats(20)
        entries = []
        for (filename, line, func), (_cc, ncalls, tottime, cumtime, _callers) in stats.stats.items():
            if any(marker in filename for marker in ENGINE_MARKERS):
                short = filename.split("site-packages/")[-1].replace(str(ROOT) + "/", "")
                entries.append({"function": f"{short}:{line}({func})", "calls_per_request": ncalls / n,
                                "cum_ms_per_request": cumtime * 1000 / n, "own_ms_per_request": tottime * 1000 / n})
        entries.sort(key=lambda e: -e["cum_ms_per_request"])
        out[variant] = {"requests": n, "wall_ms_per_request_profiled": wall[variant] * 1000 / n,
                        "text": stream.getvalue(), "breakdown_ms_per_request": breakdown(stats, n),
                        "engine_functions": entries[:40]}
    return out


# --- report ----------------------------------------------------------------------------------


def print_table(latency, rates, queries, in_process):
    head = (f"{'endpoint':<9} {'variant':<13} {'queries':>7} {'median ms':>10} {'p95 ms':>8} {'mean ms':>8} "
            f"{'req/s':>8} {'in-proc ms':>10}")
    print(head)
    print("-" * len(head))
    for endpoint in ENDPOINTS:
        for variant in VARIANTS:
            s = latency[(endpoint, variant)]
            key = (endpoint, variant)
            print(f"{endpoint:<9} {variant:<13} {queries[f'{endpoint} {variant}']['count']:>7} "
                  f"{s['median_ms']:>10.2f} {s['p95_ms']:>8.2f} {s['mean_ms']:>8.2f} "
                  f"{rates[key]['req_per_s']:>8.0f} {in_process[key]['median_ms']:>10.2f}")


def verdicts(latency, rates):
    found = {}
    for endpoint in ENDPOINTS:
        gen, hand = latency[(endpoint, "generated")], latency[(endpoint, "hand-written")]
        ratio = gen["median_ms"] / hand["median_ms"]
        found[f"{endpoint} latency"] = {
            "ok": ratio <= TARGET_RATIO, "ratio": ratio,
            "text": f"median {gen['median_ms']:.2f} ms / {hand['median_ms']:.2f} ms = {ratio:.3f} "
                    f"(generated / hand-written, target <= {TARGET_RATIO})"}
        gen_rate = rates[(endpoint, "generated")]["req_per_s"]
        hand_rate = rates[(endpoint, "hand-written")]["req_per_s"]
        slowdown = hand_rate / gen_rate
        # each phase of one variant next to the same phase of the other: bursts of other load cancel out
        paired = statistics.median(h / g for h, g in zip(rates[(endpoint, "hand-written")]["phase_req_per_s"],
                                                         rates[(endpoint, "generated")]["phase_req_per_s"],
                                                         strict=True))
        found[f"{endpoint} throughput"] = {
            "ok": slowdown <= TARGET_RATIO, "ratio": slowdown, "median_phase_ratio": paired,
            "text": f"{hand_rate:.0f} req/s / {gen_rate:.0f} req/s = {slowdown:.3f} "
                    f"(hand-written / generated, target <= {TARGET_RATIO}; median of the "
                    f"{len(rates[(endpoint, 'generated')]['phase_req_per_s'])} phase pairs {paired:.3f})"}
    return found


def keyed(mapping):
    return {f"{endpoint} {variant}": value for (endpoint, variant), value in mapping.items()}


def git_state():
    """The commit measured and the files that differ from it (the engine may be changing under the run)."""
    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,  # noqa: S603, S607
                                  timeout=10, check=False).stdout.rstrip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"head": git("rev-parse", "--short", "HEAD"),
            "modified": [line[3:] for line in git("status", "--porcelain").splitlines()]}


def versions():
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": sys.version.split()[0]}
    for name in ("django", "djangorestframework", "django-filter", "django-rest-knox", "gunicorn", "psycopg"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


# --- orchestration ---------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="timed requests per endpoint and variant, "
                        "sequential and again concurrent (at most 20,000)")
    parser.add_argument("--warmup", type=int, default=200, help="untimed requests per endpoint and variant first")
    parser.add_argument("--threads", type=int, default=4, help="connections at once for the throughput (at most 16)")
    parser.add_argument("--phases", type=int, default=8, help="throughput phases per endpoint and variant (ABBA)")
    parser.add_argument("--mine", type=int, default=2000, help="items of the member user")
    parser.add_argument("--others", type=int, default=20000, help="items of other users")
    parser.add_argument("--other-users", type=int, default=100)
    parser.add_argument("--in-process", type=int, default=300, help="rounds through django.test.Client")
    parser.add_argument("--server", choices=("auto", "gunicorn", "runserver"), default="auto")
    parser.add_argument("--worker", choices=("sync", "gthread"), default="sync",
                        help="gunicorn worker class, one thread either way (gthread: keep-alive, but its poll "
                             "loop is a second thread that takes the GIL from long requests)")
    parser.add_argument("--database", choices=("auto", "postgres", "sqlite"), default="auto")
    parser.add_argument("--cache", choices=("auto", "redis", "locmem"), default="auto",
                        help="auto: Redis with PostgreSQL when it answers (the production shape), else locmem")
    parser.add_argument("--conn-max-age", type=int, default=60, help="CONN_MAX_AGE of the server (0: a "
                        "database connection per request)")
    parser.add_argument("--profile", action="store_true", help="profile the list endpoint even when on target")
    parser.add_argument("--seed", type=int, default=20250101)
    parser.add_argument("--keep", action="store_true", help=f"keep the {PG_DB} database and Redis db 13")
    parser.add_argument("--no-json", action="store_true", help="do not write bench/results/api-*.json")
    args = parser.parse_args()
    n = max(10, min(args.requests, 20_000))
    threads = max(1, min(args.threads, 16))
    phases = max(2, min(args.phases, 100))
    if args.mine < PAGE or args.others < 0 or args.other_users < 1:
        parser.error(f"need --mine >= {PAGE} and at least one other user")

    notes = []
    pg_problem = postgres_problem() if args.database != "sqlite" else "not asked for"
    if args.database == "postgres" and pg_problem:
        print(pg_problem)
        return 1
    use_pg = pg_problem is None
    if not use_pg and args.database == "auto":
        notes.append(f"PostgreSQL not used ({pg_problem}): falling back to a temporary SQLite file")
    r_problem = redis_problem() if args.cache != "locmem" else "not asked for"
    if args.cache == "redis" and r_problem:
        print(r_problem)
        return 1
    use_redis = r_problem is None and (args.cache == "redis" or use_pg)
    if args.cache == "auto" and not use_redis:
        notes.append(f"cache: local memory ({r_problem if r_problem else 'SQLite run'})")
    server_kind = args.server
    if server_kind == "auto":
        server_kind = "gunicorn" if find_spec("gunicorn") else "runserver"
        if server_kind == "runserver":
            notes.append("gunicorn is not installed (pip install gunicorn): serving with manage.py runserver")
    elif server_kind == "gunicorn" and not find_spec("gunicorn"):
        print("gunicorn is not installed in this environment (pip install gunicorn)")
        return 1
    for note in notes:
        print(f"NOTE: {note}")

    workdir = tempfile.TemporaryDirectory(prefix="cabinet-api-bench-")
    database_url = PG_URL if use_pg else f"sqlite:///{Path(workdir.name) / 'api.sqlite3'}"
    env = environment(database_url, REDIS_URL if use_redis else None, args.conn_max_age)
    load_avg = os.getloadavg()
    tree = git_state()
    print(f"commit {tree['head']}; modified: {', '.join(tree['modified']) or 'none'}")
    print(f"load average {load_avg[0]:.2f} {load_avg[1]:.2f} {load_avg[2]:.2f}; cpus {os.cpu_count()}; "
          f"database {'PostgreSQL ' + PG_DB if use_pg else 'SQLite (temporary file)'}; "
          f"cache {'Redis db 13' if use_redis else 'local memory'}; server {server_kind}; "
          f"{args.mine:,} items of the member, {args.others:,} of {args.other_users} other users", flush=True)

    if use_pg:
        recreate_database(PG_DB)
    if use_redis:
        flush_redis()
    server = None
    started_all = time.perf_counter()
    try:
        setup_django(env)
        from django.conf import settings
        from django.db import connections

        assert not settings.DEBUG, "DEBUG must be off"
        password = secrets.token_urlsafe(16)
        built, member, steps = prepare(args, password)
        ids = list(built.model("item")._default_manager.filter(user=member).values_list("pk", flat=True))
        random.Random(args.seed).shuffle(ids)
        print(f"prepared: migrate {steps['migrate_s']:.1f} s, publish {steps['publish_s']:.1f} s, "
              f"load {steps['load_s']:.1f} s", flush=True)
        connections.close_all()

        port = free_port()
        log = Path(workdir.name) / "server.log"
        server = start_server(server_kind, env, port, log, args.worker)
        command = " ".join(server_command(server_kind, port, args.worker)[1:])
        print(f"server pid {server.pid} on {HOST}:{port}: {command}", flush=True)
        token = obtain_token(port, password)

        queries = query_counts(token, ids[0])
        connections.close_all()

        print(f"warm-up: {args.warmup} rounds", flush=True)
        _, warm_statuses, warm_mismatches = sequential(port, token, ids, max(1, args.warmup))
        bad = {k: v for k, v in warm_statuses.items() if not k.endswith(" 200")}
        if bad or any(warm_mismatches.values()):
            raise RuntimeError(f"before timing: statuses {warm_statuses}, mismatching answers {warm_mismatches}\n"
                               f"{tail(log)}")
        print(f"latency: {n} rounds, one connection", flush=True)
        timings, statuses, mismatches = sequential(port, token, ids, n)
        latency = {key: summary(values) for key, values in timings.items()}
        print(f"throughput: {n} requests per endpoint and variant, {threads} connections, {phases} phases",
              flush=True)
        rates = throughput(port, token, ids, n, threads, phases)
        stop_server(server)
        server_log = tail(log, 50)

        print(f"in process (django.test.Client): {args.in_process} rounds", flush=True)
        in_process = in_process_timings(token, ids, max(10, args.in_process))
        checks = verdicts(latency, rates)
        profiled = None
        if args.profile or not all(c["ok"] for c in checks.values()):
            print("profiling the list endpoint in process (cProfile)", flush=True)
            profiled = profile(token, ids, 300)
        connections.close_all()
    finally:
        if server is not None:
            stop_server(server)
        if not args.keep:
            if use_pg:
                from django.db import connections as conns

                conns.close_all()
                drop_database(PG_DB)
            if use_redis:
                flush_redis()
        workdir.cleanup()
    total_s = time.perf_counter() - started_all

    print(f"\nOne server process ({server_kind}), {n} requests per row; latency over one connection, "
          f"req/s over {threads}; page of {PAGE}; total run {total_s:.0f} s")
    print_table(latency, rates, queries, in_process)
    all_200 = all(k.endswith(" 200") for k in statuses) and all(
        set(r["statuses"]) == {"200"} for r in rates.values())
    print(f"statuses (sequential): {statuses}")
    print("statuses (throughput): " + ", ".join(f"{e} {v} {r['statuses']}" for (e, v), r in rates.items()))
    print(f"answers differing between the variants (sequential rounds): {mismatches}")
    for endpoint in ENDPOINTS:
        for variant in VARIANTS:
            print(f"\n[{endpoint} {variant}] SQL per request:")
            for sql in queries[f"{endpoint} {variant}"]["sql"]:
                print(f"  {sql}")
    if profiled:
        for variant in VARIANTS:
            p = profiled[variant]
            print(f"\n--- cProfile, list, {variant}: {p['wall_ms_per_request_profiled']:.2f} ms per request "
                  f"under the profiler ---")
            if variant == "generated":
                print(p["text"])
        gen, hand = (profiled[v]["breakdown_ms_per_request"] for v in VARIANTS)
        print("--- list request under cProfile (times inflated by the profiler), ms per request ---")
        print(f"{'':<36} {'generated':>10} {'hand':>10} {'extra':>8}")
        for label in gen:
            print(f"{label:<36} {gen[label]:>10.2f} {hand[label]:>10.2f} {gen[label] - hand[label]:>8.2f}")
        print("\n--- engine / django-filter / DRF filters / guardian functions in the generated list request ---")
        print(f"{'cum ms/req':>10} {'own ms/req':>10} {'calls/req':>9}  function")
        for e in profiled["generated"]["engine_functions"][:25]:
            print(f"{e['cum_ms_per_request']:>10.3f} {e['own_ms_per_request']:>10.3f} "
                  f"{e['calls_per_request']:>9.1f}  {e['function']}")

    print("\nTargets")
    ok = all_200 and not any(mismatches.values())
    print(f"  {'PASS' if ok else 'FAIL'}  every response 200 and the same rows from both variants")
    for name, check in checks.items():
        ok &= check["ok"]
        print(f"  {'PASS' if check['ok'] else 'FAIL'}  {name}: {check['text']}")

    if not args.no_json:
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = RESULTS / f"api-{time.strftime('%Y%m%d-%H%M%S')}.json"
        out.write_text(json.dumps({
            "options": vars(args), "notes": notes, "load_average": load_avg, "cpus": os.cpu_count(),
            "versions": versions(), "git": tree, "target_ratio": TARGET_RATIO,
            "setup": {"database": "postgresql" if use_pg else "sqlite", "cache": "redis" if use_redis else "locmem",
                      "server": server_kind, "server_command": command, "conn_max_age": args.conn_max_age,
                      "threads": threads, "phases": phases, "requests": n, "warmup": args.warmup,
                      "rows": {"mine": args.mine, "others": args.others, "other_users": args.other_users}},
            "prepare_s": steps, "total_s": total_s, "sources": SOURCES,
            "latency": keyed(latency), "throughput": keyed(rates), "in_process": keyed(in_process),
            "queries": queries, "statuses": statuses, "mismatches": mismatches, "verdicts": checks,
            "profile": profiled, "server_log_tail": server_log,
        }, indent=2), encoding="utf-8")
        print(f"\nwrote {out.relative_to(ROOT)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
