"""Hot-reload benchmark: time from a version being published to a separate server process serving it.

For each scenario a throw-away database is prepared (``manage.py migrate`` and
``manage.py cabinet migrate`` of version 1), ``manage.py runserver --noreload`` is started on a
free loopback port, and then this process publishes versions 2, 3, ... in-process
(``engine.migrate.publish`` on the same database), each adding one entity ``probe_<n>``. The
clock starts when the publishing transaction has committed and stops when the server answers
``/admin/cabinet/probe<n>/`` as a page that exists (200 for a logged-in staff session) instead
of 404.

Scenarios:

* ``sqlite``: the embedded default, SQLite and a local-memory cache per process; the server
  looks for a new version at most every ``CABINET_VERSION_TTL`` (0.5 s) seconds.
* ``postgres``: PostgreSQL (database ``bench_hot`` on 127.0.0.1:5432, user postgres) and Redis
  (127.0.0.1:6379, db 14, flushed first); the publisher announces the version through Redis.
  Skipped when either is unreachable.

Run from the project root:  .venv/bin/python bench/hot_reload.py [--runs 5] [--scenarios sqlite,postgres]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
HOST = "127.0.0.1"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_DB = "bench_hot"
PG_URL = f"postgres://postgres@127.0.0.1:5432/{PG_DB}"
REDIS_URL = "redis://127.0.0.1:6379/14"
TARGET_S = 1.0
POLL_INTERVAL_S = 0.005
FLIP_TIMEOUT_S = 15.0
SERVER_START_TIMEOUT_S = 60.0
SCENARIO_TIMEOUT_S = 600.0
TRAFFIC_INTERVAL_S = 0.02  # background requests keep the server's version cache cycling, as under real load
RESULT_PREFIX = "RESULT "


# --- solution versions -----------------------------------------------------------------------

SOLUTION_YAML = """\
solution:
  name: hotbench
  label: {en: Hot reload bench, ru: Тест горячей перезагрузки}
  languages: [en, ru]
  default_language: en
"""


def entities_yaml(version):
    """Version 1 has ``item``; version n adds ``probe_2`` .. ``probe_n``."""
    text = textwrap.dedent("""\
        entities:
          item:
            label: {en: Item, ru: Предмет}
            plural: {en: Items, ru: Предметы}
            title: name
            fields:
              name: {type: string, max_length: 80, required: true, label: {en: Name, ru: Название}}
              qty: {type: integer, default: 0, label: {en: Quantity, ru: Количество}}
        """)
    for n in range(2, version + 1):
        text += textwrap.indent(textwrap.dedent(f"""\
            probe_{n}:
              label: {{en: Probe {n}, ru: Проба {n}}}
              title: name
              fields:
                name: {{type: string, max_length: 80, required: true, label: {{en: Name, ru: Название}}}}
                item: {{type: ref, to: item, label: {{en: Item, ru: Предмет}}}}
            """), "  ")
    return text


def write_version(base, version):
    folder = Path(base) / f"v{version}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "solution.yaml").write_text(SOLUTION_YAML, encoding="utf-8")
    (folder / "entities.yaml").write_text(entities_yaml(version), encoding="utf-8")
    return folder


def probe_path(version):
    return f"/admin/cabinet/probe{version}/"


# --- plumbing --------------------------------------------------------------------------------


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def http_status(port, path, cookie=None, timeout=5.0):
    """GET ``path`` from the loopback server; return the status (redirects are not followed)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        headers = {"Connection": "close"}
        if cookie:
            headers["Cookie"] = cookie
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def manage(env, *args, timeout=300):
    proc = subprocess.run(  # noqa: S603 - our interpreter running the project's manage.py
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def tail(path, lines=30):
    try:
        return "\n".join(Path(path).read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def postgres_ready():
    """Create a fresh ``bench_hot`` database and flush Redis db 14; return an error text or None."""
    try:
        import psycopg
        import redis
    except ImportError as exc:
        return f"missing client library: {exc}"
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {PG_DB}")
    except psycopg.Error as exc:
        return f"PostgreSQL at 127.0.0.1:5432 not usable: {str(exc).strip()}"
    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3, socket_timeout=3)
        client.ping()
        client.flushdb()
        client.close()
    except redis.RedisError as exc:
        return f"Redis at 127.0.0.1:6379 not usable: {exc}"
    return None


def cleanup_postgres():
    """Drop the ``bench_hot`` database and flush Redis db 14 (both belong to this benchmark)."""
    import psycopg
    import redis

    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
    except psycopg.Error as exc:
        print(f"  (could not drop {PG_DB}: {str(exc).strip()})")
    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3, socket_timeout=3)
        client.flushdb()
        client.close()
    except redis.RedisError as exc:
        print(f"  (could not flush {REDIS_URL}: {exc})")


def scenario_env(name, workdir):
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "engine.settings"
    if name == "sqlite":
        env["DATABASE_URL"] = f"sqlite:///{Path(workdir) / 'hot.sqlite3'}"
        env.pop("REDIS_URL", None)
    elif name == "postgres":
        env["DATABASE_URL"] = PG_URL
        env["REDIS_URL"] = REDIS_URL
    else:
        raise ValueError(name)
    return env


# --- one scenario, in its own process (Django is set up once per process) -------------------


def staff_session_cookie():
    """Create a superuser and a logged-in session for it; return the Cookie header value."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore

    user = get_user_model().objects.create_superuser("bench", "bench@example.invalid", secrets.token_urlsafe(16))
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def wait_for_server(proc, port, log):
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}:\n{tail(log)}")
        try:
            return http_status(port, "/admin/login/", timeout=2.0)
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the server did not answer within {SERVER_START_TIMEOUT_S} s:\n{tail(log)}")


def publish_timed(folder):
    """Publish ``folder`` in this process; return (perf_counter at commit, at return, number)."""
    import engine.migrate as migrate
    from engine.compiler import compile_folder

    spec = compile_folder(folder).raise_for_errors()
    sources = compile_folder(folder).sources
    original = migrate.apply_locked
    marks = {}

    def apply_and_mark(*args, **kwargs):
        result = original(*args, **kwargs)  # returns after the plan, schema change and version row commit
        marks["commit"] = time.perf_counter()
        return result

    migrate.apply_locked = apply_and_mark
    try:
        built, _ = migrate.publish(spec, sources, note="hot reload bench", origin=str(folder))
    finally:
        migrate.apply_locked = original
    return marks["commit"], time.perf_counter(), built.number


def poll_until(port, path, cookie, want):
    """Poll ``path`` every POLL_INTERVAL_S until it answers ``want``; return timing details."""
    deadline = time.perf_counter() + FLIP_TIMEOUT_S
    polls = 0
    statuses = {}
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        try:
            status = http_status(port, path, cookie)
        except OSError as exc:
            status = f"error {type(exc).__name__}"
        answered = time.perf_counter()
        polls += 1
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        if status == want:
            return {"seen_at": answered, "request_started": started, "request_ms": (answered - started) * 1000,
                    "polls": polls, "statuses": statuses}
        time.sleep(max(0.0, POLL_INTERVAL_S - (time.perf_counter() - started)))
    raise RuntimeError(f"{path} did not answer {want} within {FLIP_TIMEOUT_S} s (statuses seen: {statuses})")


class Traffic(threading.Thread):
    """Anonymous requests to ``/`` every TRAFFIC_INTERVAL_S, so the server is never idle.

    An idle server re-reads the published version on its first request, which would make every
    publish look instant; under load it re-reads it only when its cached number expires.
    """

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.stop = threading.Event()
        self.requests = 0
        self.errors = 0

    def run(self):
        while not self.stop.wait(TRAFFIC_INTERVAL_S):
            try:
                http_status(self.port, "/", timeout=5.0)
                self.requests += 1
            except OSError:
                self.errors += 1


def run_scenario(name, runs):
    with tempfile.TemporaryDirectory(prefix=f"cabinet-hot-{name}-") as workdir:
        env = scenario_env(name, workdir)
        os.environ.update(env)
        if "REDIS_URL" not in env:
            os.environ.pop("REDIS_URL", None)
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))

        print(f"[{name}] DATABASE_URL={env['DATABASE_URL']} REDIS_URL={env.get('REDIS_URL', '(none: locmem)')}")
        manage(env, "migrate", "--noinput")
        manage(env, "cabinet", "migrate", str(write_version(workdir, 1)))

        import django

        django.setup()
        from django.conf import settings
        from django.db import connection

        cookie = staff_session_cookie()
        connection.close()
        port = free_port()
        log = Path(workdir) / "runserver.log"
        with open(log, "w", encoding="utf-8") as log_file:
            server = subprocess.Popen(  # noqa: S603 - our interpreter running the project's manage.py
                [sys.executable, str(ROOT / "manage.py"), "runserver", f"{HOST}:{port}", "--noreload"],
                cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
            )
        traffic = Traffic(port)
        try:
            wait_for_server(server, port, log)
            # The observable: a logged-in staff user gets 200 for a model of the served version, 404 otherwise.
            checks = {
                "item (staff)": http_status(port, "/admin/cabinet/item/", cookie),
                "probe2 (staff)": http_status(port, probe_path(2), cookie),
                "item (anonymous)": http_status(port, "/admin/cabinet/item/"),
                "probe2 (anonymous)": http_status(port, probe_path(2)),
            }
            print(f"[{name}] server on {HOST}:{port}; before publishing: {checks}")
            if checks["item (staff)"] != 200 or checks["probe2 (staff)"] != 404:
                raise RuntimeError(f"unexpected statuses before publishing: {checks}\n{tail(log)}")

            ttl = settings.CABINET_VERSION_TTL
            traffic.start()
            samples = []
            for version in range(2, runs + 2):
                # Publish at a random phase of the server's version-cache expiry.
                time.sleep(random.uniform(0.2, 0.2 + ttl))
                folder = write_version(workdir, version)
                committed, returned, number = publish_timed(folder)
                if number != version:
                    raise RuntimeError(f"published version {number}, expected {version}")
                seen = poll_until(port, probe_path(version), cookie, 200)
                sample = {
                    "version": version,
                    "latency_ms": (seen["seen_at"] - committed) * 1000,
                    "after_publish_returned_ms": (seen["seen_at"] - returned) * 1000,
                    "publish_tail_ms": (returned - committed) * 1000,
                    "last_request_ms": seen["request_ms"],
                    "polls": seen["polls"],
                    "statuses": seen["statuses"],
                }
                samples.append(sample)
                print(f"[{name}] v{version}: served {sample['latency_ms']:.0f} ms after commit "
                      f"({sample['after_publish_returned_ms']:.0f} ms after publish() returned; "
                      f"last request {sample['last_request_ms']:.0f} ms; {seen['polls']} polls {seen['statuses']})")
            old = http_status(port, "/admin/cabinet/item/", cookie)
            if old != 200:
                raise RuntimeError(f"/admin/cabinet/item/ answered {old} after the run")
        finally:
            traffic.stop.set()
            if traffic.is_alive():
                traffic.join(timeout=10)
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)
            connection.close()
        print(f"[{name}] background traffic: {traffic.requests} requests, {traffic.errors} errors")
        return {"scenario": name, "ttl_s": ttl, "traffic_requests": traffic.requests,
                "cache": settings.CACHES["default"]["BACKEND"], "database": settings.DATABASES["default"]["ENGINE"],
                "samples": samples}


# --- orchestration ---------------------------------------------------------------------------


def spawn_scenario(name, runs):
    """Run one scenario in a child process, echoing its progress; return its result or None."""
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(Path(__file__).resolve()), "--scenario", name, "--runs", str(runs)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    result = None
    try:
        for line in proc.stdout:
            if line.startswith(RESULT_PREFIX):
                result = json.loads(line[len(RESULT_PREFIX):])
            else:
                print(line, end="", flush=True)
        proc.wait(timeout=SCENARIO_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    if proc.returncode != 0 or result is None:
        print(f"[{name}] FAILED (exit {proc.returncode})")
        return None
    return result


def summarize(result):
    latencies = [s["latency_ms"] for s in result["samples"]]
    return {
        "runs": len(latencies),
        "median_ms": statistics.median(latencies),
        "max_ms": max(latencies),
        "min_ms": min(latencies),
        "median_after_publish_returned_ms": statistics.median(s["after_publish_returned_ms"]
                                                              for s in result["samples"]),
        "median_publish_tail_ms": statistics.median(s["publish_tail_ms"] for s in result["samples"]),
        "median_last_request_ms": statistics.median(s["last_request_ms"] for s in result["samples"]),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="versions published per scenario (max 20)")
    parser.add_argument("--scenarios", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument("--keep", action="store_true", help="keep the bench_hot database and Redis db 14 afterwards")
    parser.add_argument("--no-json", action="store_true", help="do not write bench/results/hot_reload-*.json")
    parser.add_argument("--scenario", help=argparse.SUPPRESS)
    args = parser.parse_args()
    runs = max(1, min(args.runs, 20))

    if args.scenario:
        sys.stdout.reconfigure(line_buffering=True)
        print(RESULT_PREFIX + json.dumps(run_scenario(args.scenario, runs)), flush=True)
        return 0

    results, summaries, skipped = {}, {}, {}
    for name in [s.strip() for s in args.scenarios.split(",") if s.strip()]:
        if name == "postgres":
            problem = postgres_ready()
            if problem:
                skipped[name] = problem
                print(f"[{name}] skipped: {problem}")
                continue
        try:
            result = spawn_scenario(name, runs)
        finally:
            if name == "postgres" and not args.keep:
                cleanup_postgres()
        if result is not None:
            results[name] = result
            summaries[name] = summarize(result)

    print(f"\nPublish -> served by another process (target < {TARGET_S * 1000:.0f} ms; clock from commit)")
    head = (f"{'scenario':>9} {'runs':>5} {'median ms':>10} {'min ms':>7} {'max ms':>7} "
            f"{'after return ms':>16} {'publish tail ms':>16} {'poll req ms':>12}  verdict")
    print(head)
    print("-" * len(head))
    verdicts = {}
    for name, s in summaries.items():
        ok = s["max_ms"] < TARGET_S * 1000
        verdicts[name] = ok
        print(f"{name:>9} {s['runs']:>5} {s['median_ms']:>10.0f} {s['min_ms']:>7.0f} {s['max_ms']:>7.0f} "
              f"{s['median_after_publish_returned_ms']:>16.0f} {s['median_publish_tail_ms']:>16.0f} "
              f"{s['median_last_request_ms']:>12.0f}  {'PASS' if ok else 'FAIL'} (max < {TARGET_S:.0f} s)")
    for name, why in skipped.items():
        print(f"{name:>9}  skipped: {why}")

    if not args.no_json and results:
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = RESULTS / f"hot_reload-{time.strftime('%Y%m%d-%H%M%S')}.json"
        out.write_text(json.dumps({"target_ms": TARGET_S * 1000, "summaries": summaries, "results": results,
                                   "skipped": skipped}, indent=2), encoding="utf-8")
        print(f"\nwrote {out.relative_to(ROOT)}")
    failed = len(results) < len([s for s in args.scenarios.split(",") if s.strip()]) - len(skipped)
    return 0 if verdicts and all(verdicts.values()) and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
