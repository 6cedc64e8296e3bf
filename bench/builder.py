"""Builder benchmark: from pressing Publish on a draft's plan page to a second server process serving it.

Per scenario a throw-away database gets version 1 (``manage.py migrate`` and ``manage.py cabinet migrate``
of the resort, or of a generated solution of 200 entities with 10 fields each, the one ``bench/compile.py``
makes). Two servers run the project (``manage.py runserver --noreload`` on free loopback ports): A is
the business admin's, B is "the rest of the site" and gets an anonymous request every 20 ms, as under
load (an idle server re-reads the version on its first request, which would make every publish look
instant). Then, ``--runs`` times:

1. this process starts a draft and adds entity ``probe_<n>`` in a file of its own (``drafts.start`` and
   ``drafts.set_file``, the calls the builder's forms make), and opens the draft's plan page on A as a
   logged-in superuser, taking the CSRF token and the plan's digest from the page, as a browser does;
2. after a random pause, it POSTs the publish form to A (the Publish button) and, at the same time,
   polls ``/admin/cabinet/probe<n>/`` on B with the same session every ~5 ms. The clock starts just
   before the POST is sent and stops when B answers 200 (B answers 404 until it serves the new version).

Printed per scenario: p50, p95 and max of that latency, and p50 of how long A took to answer the POST
(the publish: plan under the lock, the schema change, the version row, A's own rebuild). Target: the
maximum under 1 s.

Scenarios: ``sqlite-resort``, ``sqlite-200`` (SQLite, a local-memory cache per process: B re-reads the
published number when its cached copy expires after ``CABINET_VERSION_TTL``), ``postgres-resort`` and
``postgres-200`` (PostgreSQL database ``bench_builder`` on 127.0.0.1:5432 and Redis ``--redis`` (db 8 by
default), both emptied first and cleaned up after; the publisher announces the new number through Redis).
PostgreSQL scenarios are skipped with a message when either service is unreachable.

Run from the project root:  .venv/bin/python bench/builder.py [--runs 7] [--scenarios sqlite-resort,...]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

from common import percentile
from compile import synthetic_sources
from hot_reload import HOST, Traffic, free_port, http_status, manage, tail, wait_for_server

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
RESORT = ROOT / "solutions" / "resort"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_DB = "bench_builder"
PG_URL = f"postgres://postgres@127.0.0.1:5432/{PG_DB}"
SCENARIOS = ("sqlite-resort", "sqlite-200", "postgres-resort", "postgres-200")
TARGET_MS = 1000.0
POLL_INTERVAL_S = 0.005
FLIP_TIMEOUT_S = 180.0
SCENARIO_TIMEOUT_S = 900.0
RESULT_PREFIX = "RESULT "
PROBES_FILE = "bench_probes.yaml"


# --- the solution and the change published ---------------------------------------------------


def write_solution(case, folder):
    """Version 1 of ``case`` ('resort' or 'synthetic') in ``folder``; return the folder."""
    if case == "resort":
        return RESORT
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in synthetic_sources(200).items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def probes_yaml(version):
    """The file the draft adds: entities ``probe_2`` .. ``probe_<version>`` (one more per publish)."""
    lines = ["entities:"]
    for n in range(2, version + 1):
        lines += [f"  probe_{n}:", f"    label: {{en: Probe {n}, ru: Проба {n}}}", "    title: name", "    fields:",
                  "      name: {type: string, max_length: 80, required: true, label: {en: Name, ru: Название}}"]
    return "\n".join(lines) + "\n"


# --- HTTP as the admin's browser -------------------------------------------------------------


def admin_session():
    """Create a superuser and a logged-in session for it; return (user, Cookie header value)."""
    import secrets

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore

    user = get_user_model().objects.create_superuser("bench", "bench@example.invalid", secrets.token_urlsafe(16))
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"  # the one that logs passwords in
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return user, f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def request(port, method, path, cookie, body=None, timeout=60.0):
    """One request to the loopback server; return (status, headers, text). Redirects are not followed."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        headers = {"Connection": "close", "Cookie": cookie}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.getheaders(), response.read().decode("utf-8", "replace")
    finally:
        conn.close()


def open_plan(port, draft_id, session_cookie):
    """GET the plan page as the admin; return (cookie header with the CSRF cookie, form body for Publish)."""
    status, headers, page = request(port, "GET", f"/builder/d/{draft_id}/plan/", session_cookie)
    if status != 200:
        raise RuntimeError(f"the plan page answered {status}")
    csrf_cookie = next((v.split(";")[0] for k, v in headers
                        if k.lower() == "set-cookie" and v.startswith("csrftoken=")), None)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    digest = re.search(r'name="digest" value="([0-9a-f]+)"', page)
    if not (csrf_cookie and token and digest):
        raise RuntimeError("the plan page has no publish form (errors, blocked or stale?)")
    body = urlencode({"csrfmiddlewaretoken": token.group(1), "digest": digest.group(1), "comment": "bench"})
    return f"{session_cookie}; {csrf_cookie}", body


def poll_until_served(port, path, cookie, deadline):
    """Poll ``path`` until it answers 200; return (time seen, polls, statuses)."""
    polls, statuses = 0, {}
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        try:
            status = http_status(port, path, cookie)
        except OSError as exc:
            status = f"error {type(exc).__name__}"
        polls += 1
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        if status == 200:
            return time.perf_counter(), polls, statuses
        time.sleep(max(0.0, POLL_INTERVAL_S - (time.perf_counter() - started)))
    raise RuntimeError(f"{path} was not served within {FLIP_TIMEOUT_S} s (statuses seen: {statuses})")


def press_publish(port_a, port_b, draft_id, version, session_cookie):
    """Press Publish on A and wait for B to serve the new version; return the sample."""
    cookie, body = open_plan(port_a, draft_id, session_cookie)
    answer = {}

    def post():
        sent = time.perf_counter()
        status, headers, _text = request(port_a, "POST", f"/builder/d/{draft_id}/publish/", cookie, body)
        answer.update(status=status, location={k.lower(): v for k, v in headers}.get("location"),
                      ms=(time.perf_counter() - sent) * 1000)

    pressed = time.perf_counter()
    poster = threading.Thread(target=post, daemon=True)
    poster.start()
    seen, polls, statuses = poll_until_served(port_b, f"/admin/cabinet/probe{version}/", session_cookie,
                                              pressed + FLIP_TIMEOUT_S)
    poster.join(timeout=FLIP_TIMEOUT_S)
    if answer.get("status") != 303 or answer.get("location") != f"/builder/published/{version}/":
        raise RuntimeError(f"publish answered {answer}")
    return {"version": version, "latency_ms": (seen - pressed) * 1000, "publish_post_ms": answer["ms"],
            "polls": polls, "statuses": statuses}


# --- one scenario, in its own process --------------------------------------------------------


def scenario_env(name, workdir, redis_url):
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "engine.settings"
    env.setdefault("CABINET_LOG_LEVEL", "WARNING")
    if name.startswith("sqlite"):
        env["DATABASE_URL"] = f"sqlite:///{Path(workdir) / 'builder.sqlite3'}"
        env.pop("REDIS_URL", None)
    else:
        env["DATABASE_URL"] = PG_URL
        env["REDIS_URL"] = redis_url
    return env


def start_server(env, workdir, label):
    port = free_port()
    log = Path(workdir) / f"server-{label}.log"
    with open(log, "w", encoding="utf-8") as log_file:
        proc = subprocess.Popen(  # noqa: S603 - our interpreter running the project's manage.py
            [sys.executable, str(ROOT / "manage.py"), "runserver", f"{HOST}:{port}", "--noreload"],
            cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    wait_for_server(proc, port, log)
    return proc, port, log


def stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def run_scenario(name, runs, redis_url):
    case = "resort" if name.endswith("resort") else "synthetic"
    with tempfile.TemporaryDirectory(prefix=f"cabinet-builder-{name}-") as workdir:
        env = scenario_env(name, workdir, redis_url)
        os.environ.update(env)
        if "REDIS_URL" not in env:
            os.environ.pop("REDIS_URL", None)
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        print(f"[{name}] DATABASE_URL={env['DATABASE_URL']} REDIS_URL={env.get('REDIS_URL', '(none: locmem)')}")
        manage(env, "migrate", "--noinput")
        # A first publish of 200 entities creates 200 tables and their permissions: minutes on a busy SQLite.
        manage(env, "cabinet", "migrate", str(write_solution(case, Path(workdir) / "solution")), timeout=1800)

        import django

        django.setup()
        from django.conf import settings
        from django.db import connection

        from engine.builder import drafts

        admin, cookie = admin_session()
        connection.close()
        servers = []
        traffic = None
        try:
            server_a, port_a, log_a = start_server(env, workdir, "a")
            servers.append(server_a)
            server_b, port_b, log_b = start_server(env, workdir, "b")
            servers.append(server_b)
            before = http_status(port_b, "/admin/cabinet/probe2/", cookie)
            if before != 404:
                raise RuntimeError(f"B answered {before} for a probe not published yet\n{tail(log_b)}")
            traffic = Traffic(port_b)
            traffic.start()
            ttl = settings.CABINET_VERSION_TTL
            samples = []
            for version in range(2, runs + 2):
                draft = drafts.set_file(drafts.start(admin, title=f"probe {version}"), PROBES_FILE,
                                        probes_yaml(version), admin)
                connection.close()
                time.sleep(random.uniform(0.2, 0.2 + ttl))  # press at a random phase of B's version cache
                sample = press_publish(port_a, port_b, draft.pk, version, cookie)
                samples.append(sample)
                print(f"[{name}] v{version}: B served it {sample['latency_ms']:.0f} ms after Publish was pressed "
                      f"(A answered the POST in {sample['publish_post_ms']:.0f} ms; {sample['polls']} polls "
                      f"{sample['statuses']})")
        except RuntimeError as exc:
            logs = "\n".join(f"--- {log.name}\n{tail(log)}" for log in Path(workdir).glob("server-*.log"))
            raise RuntimeError(f"{exc}\n{logs}") from exc
        finally:
            if traffic is not None:
                traffic.stop.set()
                traffic.join(timeout=10)
            for proc in servers:
                stop(proc)
            connection.close()
        return {"scenario": name, "ttl_s": ttl, "entities": len(drafts.check(draft).spec.entities) - runs,
                "database": settings.DATABASES["default"]["ENGINE"], "cache": settings.CACHES["default"]["BACKEND"],
                "traffic_requests": traffic.requests, "samples": samples}


# --- orchestration ---------------------------------------------------------------------------


def postgres_ready(redis_url):
    """Create a fresh ``bench_builder`` database and flush the Redis db; return an error text or None."""
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
        client = redis.Redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=3)
        client.ping()
        client.flushdb()
        client.close()
    except redis.RedisError as exc:
        return f"Redis at {redis_url} not usable: {exc}"
    return None


def cleanup_postgres(redis_url):
    import psycopg
    import redis

    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
    except psycopg.Error as exc:
        print(f"  (could not drop {PG_DB}: {str(exc).strip()})")
    try:
        client = redis.Redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=3)
        client.flushdb()
        client.close()
    except redis.RedisError as exc:
        print(f"  (could not flush {redis_url}: {exc})")


def spawn_scenario(name, runs, redis_url):
    """Run one scenario in a child process (Django is set up once per process); return its result or None."""
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(Path(__file__).resolve()), "--scenario", name, "--runs", str(runs), "--redis", redis_url],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
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
    posts = [s["publish_post_ms"] for s in result["samples"]]
    return {"runs": len(latencies), "entities": result["entities"], "p50_ms": percentile(latencies, 50),
            "p95_ms": percentile(latencies, 95), "max_ms": max(latencies), "post_p50_ms": percentile(posts, 50)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="publishes per scenario (max 20)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"comma-separated: {', '.join(SCENARIOS)}")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/8", help="Redis URL of the PostgreSQL scenarios "
                                                                           "(its db is flushed)")
    parser.add_argument("--keep", action="store_true", help="keep the bench_builder database and the Redis db")
    parser.add_argument("--no-json", action="store_true", help="do not write bench/results/builder-*.json")
    parser.add_argument("--scenario", help=argparse.SUPPRESS)
    args = parser.parse_args()
    runs = max(1, min(args.runs, 20))
    if args.scenario:
        sys.stdout.reconfigure(line_buffering=True)
        print(RESULT_PREFIX + json.dumps(run_scenario(args.scenario, runs, args.redis)), flush=True)
        return 0

    names = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    results, summaries, skipped = {}, {}, {}
    for name in names:
        if name.startswith("postgres"):
            problem = postgres_ready(args.redis)
            if problem:
                skipped[name] = problem
                print(f"[{name}] skipped: {problem}")
                continue
        try:
            result = spawn_scenario(name, runs, args.redis)
        finally:
            if name.startswith("postgres") and not args.keep:
                cleanup_postgres(args.redis)
        if result is not None:
            results[name], summaries[name] = result, summarize(result)

    print(f"\nPublish pressed on server A -> served by server B (target: max < {TARGET_MS:.0f} ms)")
    head = (f"{'scenario':>16} {'entities':>8} {'runs':>5} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} "
            f"{'POST p50 ms':>12}  verdict")
    print(head)
    print("-" * len(head))
    verdicts = {}
    for name, s in summaries.items():
        verdicts[name] = s["max_ms"] < TARGET_MS
        print(f"{name:>16} {s['entities']:>8} {s['runs']:>5} {s['p50_ms']:>7.0f} {s['p95_ms']:>7.0f} "
              f"{s['max_ms']:>7.0f} {s['post_p50_ms']:>12.0f}  {'PASS' if verdicts[name] else 'FAIL'}")
    for name, why in skipped.items():
        print(f"{name:>16}  skipped: {why}")
    if not args.no_json and results:
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = RESULTS / f"builder-{time.strftime('%Y%m%d-%H%M%S')}.json"
        out.write_text(json.dumps({"target_ms": TARGET_MS, "summaries": summaries, "results": results,
                                   "skipped": skipped}, indent=2), encoding="utf-8")
        print(f"\nwrote {out.relative_to(ROOT)}")
    failed = len(results) < len(names) - len(skipped)
    return 0 if verdicts and all(verdicts.values()) and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
