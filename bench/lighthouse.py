"""Lighthouse mobile scores (performance, accessibility, best practices) of the resort cabinet's pages.

The resort demo is seeded into a temporary SQLite database and served by gunicorn (the production
stack's workers, ``DEBUG`` off, static files through WhiteNoise) on a free local port. A guest's session
is made in the database (a real login, so the session is the one a browser would hold) and handed to
Lighthouse as a cookie header. Pages: the login page (anonymous), the guest's home (dashboard), a
list (services), a detail page (the guest's stay) and a form (order a service).

Lighthouse 12.2.3 runs through ``npx`` with Debian's Chromium (``CHROME_PATH``, default
/usr/bin/chromium), mobile form factor with Lighthouse's default throttling. Scores are 0-100; the
target is 95 for each. Reports are written to ``bench/results/lighthouse-<page>.json``.

Run from the project root:  .venv/bin/python bench/lighthouse.py [--runs 1] [--pages login,home,...]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
LIGHTHOUSE = "lighthouse@12.2.3"
CATEGORIES = ("performance", "accessibility", "best-practices")
TARGET = 95
GUEST = "anna"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def django_env(db_path):
    return {**os.environ, "DATABASE_URL": f"sqlite:///{db_path}", "DEBUG": "0", "PYTHONPATH": str(ROOT),
            "SECRET_KEY": "lighthouse-bench-" + "x" * 40, "DJANGO_SETTINGS_MODULE": "engine.settings",
            "CABINET_SOLUTION": str(ROOT / "solutions" / "resort")}


SETUP = """
import django, json
django.setup()
from django.core.management import call_command
import io
call_command("demo", seed_only=True, stdout=io.StringIO())
from django.test import Client
from django.conf import settings
from engine.registry import registry
built = registry.ensure_current()
client = Client()
assert client.login(username=%(guest)r, password=%(guest)r + "-demo")
stay = built.model("stay").objects.filter(guest__user__username=%(guest)r).order_by("-check_in").first()
print(json.dumps({"cookie": settings.SESSION_COOKIE_NAME + "=" + client.cookies[settings.SESSION_COOKIE_NAME].value,
                  "stay": stay.pk}))
"""


def seed(env):
    out = subprocess.run([sys.executable, "-c", SETUP % {"guest": GUEST}],  # noqa: S603 - our interpreter
                         env=env, cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def serve(env, port, log):
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
    server = subprocess.Popen([gunicorn, "engine.asgi:application", "-c", str(ROOT / "gunicorn.conf.py"),  # noqa: S603
                               "--bind", f"127.0.0.1:{port}", "--workers", "2", "--access-logfile", "/dev/null"],
                              env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)
    for _ in range(300):  # up to a minute on a busy machine
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)  # noqa: S310 (local)
            return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    log.seek(0)
    raise SystemExit("the server did not start:\n" + log.read().decode(errors="replace")[-2000:])


def lighthouse(url, cookie, out):
    headers = out.with_suffix(".headers.json")
    headers.write_text(json.dumps({"Cookie": cookie} if cookie else {}))
    env = {**os.environ, "CHROME_PATH": os.environ.get("CHROME_PATH", "/usr/bin/chromium")}
    command = ["npx", "-y", LIGHTHOUSE, url, "--quiet", "--output=json", f"--output-path={out}",
               f"--only-categories={','.join(CATEGORIES)}", f"--extra-headers={headers}",
               "--chrome-flags=--headless=new --no-sandbox --disable-gpu"]
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)  # noqa: S603 - a pinned Lighthouse
    headers.unlink()
    report = json.loads(out.read_text())
    failed = [a["id"] for a in report["audits"].values()
              if a.get("score") is not None and a["score"] < 0.9 and a.get("scoreDisplayMode") in ("binary", "numeric")]
    return {c: round(report["categories"][c]["score"] * 100) for c in CATEGORIES}, failed, report


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1, help="Lighthouse runs per page (the median is shown)")
    parser.add_argument("--pages", default="login,home,list,detail,form")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        env = django_env(Path(tmp) / "lighthouse.sqlite3")
        seeded = seed(env)
        pages = {"login": ("/accounts/login/", None), "home": ("/p/home/", seeded["cookie"]),
                 "list": ("/p/services/", seeded["cookie"]),
                 "detail": (f"/p/stay_detail/{seeded['stay']}/", seeded["cookie"]),
                 "form": ("/p/order_service/new/", seeded["cookie"])}
        port = free_port()
        server = serve(env, port, stack.enter_context(tempfile.TemporaryFile()))
        rows, missed = [], False
        try:
            for name in args.pages.split(","):
                path, cookie = pages[name]
                runs = [lighthouse(f"http://127.0.0.1:{port}{path}", cookie, RESULTS / f"lighthouse-{name}.json")
                        for _ in range(args.runs)]
                scores = {c: statistics.median(r[0][c] for r in runs) for c in CATEGORIES}
                final = runs[-1][2]["finalDisplayedUrl"]
                if not final.endswith(path):
                    raise SystemExit(f"{name}: Lighthouse ended on {final}, not {path} (not signed in?)")
                missed |= any(v < TARGET for v in scores.values())
                rows.append((name, path, scores, runs[-1][1]))
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(f"Lighthouse {LIGHTHOUSE.split('@')[1]}, mobile, {args.runs} run(s) per page; target {TARGET}")  # noqa: T201
    print(f"{'page':8} {'path':28} {'perf':>5} {'a11y':>5} {'best':>5}  audits under 0.9")  # noqa: T201
    for name, path, s, failed in rows:
        print(f"{name:8} {path:28} {s['performance']:5.0f} {s['accessibility']:5.0f} "  # noqa: T201
              f"{s['best-practices']:5.0f}  {', '.join(failed) or '-'}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
