"""Pages benchmark: server time and SQL queries of a generated list and detail page vs hand-written Django views.

A small solution held in this file (entity ``purchase``: string, integer, money, choice, datetime and
the owner ref ``user``; role ``member`` with ``scope: own`` and actions list, view; list pages of
10, 50 and 100 rows with six columns including the ref and the path ``shop.city`` (shops the member may
view only while open: a scope at that hop), a detail page with one section, and an info page) is
published into a fresh database. One member user owns ``--mine`` purchases and
``--other-users`` other users own ``--others`` more, so the scope matters.

Two variants are served by the same Django process, through the same middleware stack:

* generated: ``/p/purchases_<N>/?page=P`` and ``/p/purchase/<id>/`` (``engine.pages.views.PageView``);
* hand-written: ``/hand/purchases/?size=N&page=P`` and ``/hand/purchase/<id>/`` (``bench/pages_handwritten.py``,
  mounted with ``CABINET_EXTRA_URLCONF``): function views, ``filter(user=request.user)``,
  ``select_related("user")``, ``Paginator``, templates showing the same columns and values.

"Server time" is measured in process: from a WSGI environ handed to ``django.core.handlers.wsgi.
WSGIHandler`` (the handler a WSGI server calls, with the member's session and CSRF cookies) to the
last byte of the body and ``response.close()``, with ``time.perf_counter``. Per round every page
size of the list and the detail page is requested from both variants, alternating which goes
first; medians and p95 over ``--rounds`` rounds after ``--warmup`` rounds. Both variants must
answer the same rows with the same displayed values in every round. Queries per request are
counted with ``CaptureQueriesContext``.

Each database runs in a child process of this script: a temporary SQLite file always, and
PostgreSQL ``bench_pages`` on 127.0.0.1:5432 (user postgres; dropped and created here, dropped
at the end) when it answers.

Run from the project root:  .venv/bin/python bench/pages.py [--rounds 300] [--database auto|sqlite|postgres]
"""
from __future__ import annotations

import argparse
import cProfile
import gc
import html
import io
import json
import os
import pstats
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from common import drop_database, postgres_problem, recreate_database, summary

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PG_DB = "bench_pages"
PG_URL = f"postgres://postgres@127.0.0.1:5432/{PG_DB}"
TARGET_RATIO = 1.2  # generated median / hand-written median, per page (issue 13)
SIZES = (10, 50, 100)  # list page sizes: one generated list page each (purchases_<size>)
VARIANTS = ("generated", "hand-written")
MEMBER = "bench_member"
STATUSES = ("new", "active", "done", "archived")
SHOPS = 20  # purchases point at a shop; every 7th is closed, out of the member's scope (a blank city)
CHILD_TIMEOUT_S = 3600

# --- the solution ----------------------------------------------------------------------------


def list_page(size, order):
    return f"""\
  purchases_{size}:
    kind: list
    entity: purchase
    title: {{en: Purchases ×{size}}}
    roles: [member]
    order: {order}
    page_size: {size}
    columns: [title, status, price, created, user, shop.city]
"""


SOURCES = {
    "solution.yaml": """\
solution:
  name: pagesbench
  label: {en: Pages bench}
  languages: [en]
  default_language: en
""",
    "entities.yaml": """\
entities:
  purchase:
    label: {en: Purchase}
    plural: {en: Purchases}
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
      shop: {type: ref, to: shop, label: {en: Shop}}
    indexes:
      - fields: [user, created]
  shop:
    label: {en: Shop}
    title: name
    fields:
      name: {type: string, max_length: 80, required: true, label: {en: Name}}
      city: {type: string, max_length: 80, label: {en: City}}
      open: {type: boolean, default: true, label: {en: Open}}
""",
    "roles.yaml": """\
roles:
  member:
    label: {en: Member}
    entities:
      purchase: {actions: [list, view], scope: own}
      shop: {actions: [view], scope: {open: true}}
""",
    "pages.yaml": "pages:\n" + "".join(list_page(size, n + 1) for n, size in enumerate(SIZES)) + """\
  purchase:
    kind: detail
    entity: purchase
    title: {en: Purchase}
    roles: [member]
    menu: none
    sections:
      - {title: {en: Purchase}, fields: [title, status, qty, price, created, user, shop.city]}
  help:
    kind: info
    title: {en: Help}
    roles: [member]
    order: 9
    content: {en: "Your purchases, newest first."}
""",
}

# --- services --------------------------------------------------------------------------------






def environment(database_url):
    """The environment of a child: its database, the hand-written URLs mounted, production-like settings."""
    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "engine.settings",
        "DATABASE_URL": database_url,
        "DEBUG": "0",
        "CABINET_EXTRA_URLCONF": "bench.pages_handwritten",
        "CONN_MAX_AGE": "60",  # one connection kept across requests, as a server would
        # How long the cached version number is trusted. With the local-memory cache the default is
        # 0.5 s (a version query every half second, on whichever request comes); 300 s is what it
        # is with Redis in production. Either way both variants pay it alike (same middleware).
        "CABINET_VERSION_TTL": "300",
        "CABINET_LOG_LEVEL": "ERROR",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")])),
    })
    for name in ("REDIS_URL", "CABINET_PRODUCTION"):
        env.pop(name, None)
    return env


# --- data ------------------------------------------------------------------------------------


def prepare(args):
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
    built, _plan = publish(spec, SOURCES, note="pages bench")
    steps["publish_s"] = time.perf_counter() - started

    started = time.perf_counter()
    user_model = get_user_model()
    member = user_model.objects.create_user(MEMBER, f"{MEMBER}@example.invalid", None,
                                            first_name="Bench", last_name="Member")
    member.groups.add(Group.objects.get(name="member"))
    user_model.objects.bulk_create([
        user_model(username=f"bench_other_{n}", password=make_password(None), email="") for n in range(args.other_users)
    ])
    others = list(user_model.objects.exclude(pk=member.pk).values_list("pk", flat=True))
    Group.objects.get(name="member").user_set.add(*others)
    owners = [member.pk] * args.mine + [others[n % len(others)] for n in range(args.others)]
    rng = random.Random(args.seed)
    rng.shuffle(owners)  # the member's rows are spread over the table
    offsets = list(range(len(owners)))
    rng.shuffle(offsets)  # ``created`` unique and not correlated with the id
    start = datetime(2025, 6, 1, 12, tzinfo=UTC)
    shop_model = built.model("shop")
    shop_model._default_manager.bulk_create([
        shop_model(name=f"Shop {n}", city=f"City <{n}>", open=n % 7 != 0) for n in range(SHOPS)])
    shops = list(shop_model._default_manager.values_list("pk", flat=True))
    model = built.model("purchase")
    model._default_manager.bulk_create([
        model(user_id=owner, shop_id=rng.choice(shops), title=f"Purchase <{n}> & co", qty=rng.randint(0, 5000),
              price=Decimal(rng.randint(0, 10_000_000)) / 100, status=rng.choice(STATUSES),
              created=start - timedelta(seconds=37 * offsets[n]))
        for n, owner in enumerate(owners)
    ], batch_size=2000)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for table in ("auth_user", "auth_user_groups", "cabinet_purchase", "cabinet_shop", "django_session"):
                cursor.execute(f"VACUUM ANALYZE {table}")
    steps["load_s"] = time.perf_counter() - started
    return built, member, steps


# --- requests --------------------------------------------------------------------------------


class Server:
    """Django's WSGI handler called in this process with the member's cookies: the server's own time."""

    def __init__(self, member):
        from django.core.handlers.wsgi import WSGIHandler
        from django.test import Client

        client = Client()
        client.force_login(member)
        self.cookies = {"sessionid": client.cookies["sessionid"].value}
        self.handler = WSGIHandler()

    def environ(self, url):
        path, _, query = url.partition("?")
        return {
            "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": query,
            "SERVER_NAME": "testserver", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "testserver", "HTTP_ACCEPT": "text/html", "HTTP_ACCEPT_LANGUAGE": "en",
            "HTTP_COOKIE": "; ".join(f"{k}={v}" for k, v in self.cookies.items()), "REMOTE_ADDR": "127.0.0.1",
            "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""),
            "wsgi.errors": sys.stderr, "wsgi.multithread": False, "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }

    def get(self, url):
        """One request; return (status, body text, seconds from the handler call to response.close())."""
        environ = self.environ(url)
        statuses = []
        started = time.perf_counter()
        response = self.handler(environ, lambda status, headers, exc_info=None: statuses.append(status))
        try:
            body = b"".join(response)
        finally:
            response.close()
        elapsed = time.perf_counter() - started
        if "csrftoken" in response.cookies:  # a browser sends the CSRF cookie back once it has it
            self.cookies["csrftoken"] = response.cookies["csrftoken"].value
        return int(statuses[0].split()[0]), body.decode(), elapsed


def url_of(variant, kind, size=None, page=1, pk=None):
    if kind == "list":
        if variant == "generated":
            return f"/p/purchases_{size}/?page={page}"
        return f"/hand/purchases/?size={size}&page={page}"
    return f"/p/purchase/{pk}/" if variant == "generated" else f"/hand/purchase/{pk}/"


CASES = [("list", size) for size in SIZES] + [("detail", None)]


def case_name(kind, size):
    return f"list {size}" if kind == "list" else "detail"


TAG = re.compile(r"<[^>]+>")


def text(fragment):
    return " ".join(html.unescape(TAG.sub("", fragment)).split())


def shown(kind, body):
    """What a page shows of the rows: list: [(id, [cell texts])]; detail: (h1, [(dt, dd)])."""
    if kind == "list":
        tbody = body.partition("<tbody>")[2].partition("</tbody>")[0]
        rows = []
        for row in re.findall(r"<tr>(.*?)</tr>", tbody, re.S):
            link = re.search(r'href="[^"]*/(\d+)/"', row)
            rows.append((int(link.group(1)) if link else None,
                         [text(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]))
        return rows
    title = re.search(r"<h1>(.*?)</h1>", body, re.S)
    return (text(title.group(1)) if title else None,
            [(text(dt), text(dd)) for dt, dd in re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", body, re.S)])


class Plan:
    """Which page or row each round asks for: list pages cycle over the first few, rows in a seeded order."""

    def __init__(self, ids, mine, seed):
        self.ids = list(ids)
        random.Random(seed).shuffle(self.ids)
        self.pages = {size: max(1, min(5, -(-mine // size))) for size in SIZES}

    def urls(self, i, kind, size):
        if kind == "list":
            page = 1 + i % self.pages[size]
            return {v: url_of(v, kind, size, page=page) for v in VARIANTS}
        pk = self.ids[i % len(self.ids)]
        return {v: url_of(v, kind, pk=pk) for v in VARIANTS}

    def expected_rows(self, i, size, mine):
        page = 1 + i % self.pages[size]
        return min(size, mine - (page - 1) * size)


def rounds(server, plan, n, mine, offset=0, timings=None):
    """``n`` rounds: each case of both variants, alternating which goes first; return mismatch descriptions."""
    problems = []
    for i in range(offset, offset + n):
        for j, (kind, size) in enumerate(CASES):
            urls = plan.urls(i, kind, size)
            answers = {}
            for variant in VARIANTS if (i + j) % 2 == 0 else VARIANTS[::-1]:
                status, body, elapsed = server.get(urls[variant])
                if status != 200:
                    raise RuntimeError(f"GET {urls[variant]} answered {status}")
                if timings is not None:
                    timings[(case_name(kind, size), variant)].append(elapsed * 1000)
                answers[variant] = shown(kind, body)
            gen, hand = answers["generated"], answers["hand-written"]
            if kind == "list":
                ok = gen == hand and len(gen) == plan.expected_rows(i, size, mine) and all(pk for pk, _ in gen)
            else:
                ok = gen == hand and len(gen[1]) == 7
            if not ok and len(problems) < 5:
                problems.append({"urls": urls, "generated": gen[:3] if kind == "list" else gen,
                                 "hand-written": hand[:3] if kind == "list" else hand})
            elif not ok:
                problems.append(None)
    return problems


def query_counts(server, plan):
    """The SQL of one request of each case and variant (after a warm one)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    found = {}
    for kind, size in CASES:
        urls = plan.urls(0, kind, size)
        for variant in VARIANTS:
            server.get(urls[variant])
            with CaptureQueriesContext(connection) as ctx:
                status, _body, _elapsed = server.get(urls[variant])
            if status != 200:
                raise RuntimeError(f"GET {urls[variant]} answered {status}")
            found[f"{case_name(kind, size)} {variant}"] = {
                "count": len(ctx.captured_queries), "sql": [q["sql"] for q in ctx.captured_queries]}
    return found






# --- profile ---------------------------------------------------------------------------------

# label -> (file substring, function name) alternatives, any variant; the largest cumulative time of a
# match counts (wrappers recurse). "<view>" is the variant's view function (VIEWS).
BREAKDOWN = (
    ("whole request (handler)", [("django/core/handlers/base.py", "get_response")]),
    ("middleware: ensure_current", [("engine/registry.py", "ensure_current")]),
    ("session load (SQL)", [("django/contrib/sessions/backends/db.py", "load")]),
    ("request.user (SQL)", [("django/contrib/auth/__init__.py", "get_user")]),
    ("view (generated PageView.get / hand view)", "<view>"),
    ("  access_for + page_or_404", [("engine/pages/base.py", "page_or_404")]),
    ("  CabinetView.context (menus, labels)", [("engine/pages/base.py", "context")]),
    ("    PageSite.menu", [("engine/pages/site.py", "menu")]),
    ("  Paginator count + page (SQL)", [("django/core/paginator.py", "get_page")]),
    ("  fetch the row (access.get / get_object_or_404)", [("engine/access.py", "get"),
                                                        ("django/shortcuts.py", "get_object_or_404")]),
    ("  ref descriptor __get__ (lazy load)", [("django/db/models/fields/related_descriptors.py", "__get__")]),
    ("  row_title()", [("display.py", "row_title")]),
    ("  display() of values", [("display.py", "display")]),
    ("  transitions_of / can_edit", [("engine/workflow.py", "transitions_of")]),
    ("  reverse() (links)", [("django/urls/base.py", "reverse")]),
    ("  select_template / get_template", [("django/template/loader.py", "select_template"),
                                          ("django/template/backends/django.py", "get_template")]),
    ("  template render", [("django/template/backends/django.py", "render")]),
    ("  query rows (SQL)", [("django/db/models/query.py", "_fetch_all")]),
    ("all SQL (execute_sql)", [("django/db/models/sql/compiler.py", "execute_sql")]),
)
VIEWS = {("generated", "list"): ("engine/pages/views.py", "get"),
         ("generated", "detail"): ("engine/pages/views.py", "get"),
         ("hand-written", "list"): ("pages_handwritten.py", "purchase_list"),
         ("hand-written", "detail"): ("pages_handwritten.py", "purchase_detail")}
ENGINE_MARKERS = ("/engine/", "pages_handwritten")


def breakdown(stats, n, variant, kind):
    """ms per request spent in each BREAKDOWN entry."""
    found = {}
    for label, alternatives in BREAKDOWN:
        if alternatives == "<view>":
            alternatives = [VIEWS[(variant, kind)]]
        cum = 0.0
        for (filename, _line, name), (_cc, _nc, _tt, cumtime, _callers) in stats.stats.items():
            if any(where in filename and name == func for where, func in alternatives):
                cum = max(cum, cumtime)
        found[label] = cum * 1000 / n
    return found


# own time (not cumulative) of every function, summed by where the function lives: where the time goes
AREAS = (
    ("engine (pages, access, display, registry)", ("/engine/",)),
    ("hand-written views", ("pages_handwritten",)),
    ("templates (django/template)", ("django/template/",)),
    ("formats, dates, numbers, translation", ("django/utils/formats", "django/utils/dateformat",
                                              "django/utils/numberformat", "django/utils/timezone",
                                              "django/utils/translation", "django/template/defaultfilters")),
    ("URL reversing (django/urls)", ("django/urls/",)),
    ("ORM and database driver", ("django/db/", "sqlite3", "psycopg")),
    ("sessions, auth, messages, middleware, handler", ("django/contrib/", "django/middleware/",
                                                       "django/core/handlers/", "django_htmx", "whitenoise")),
)


def areas(stats, n):
    found = dict.fromkeys([label for label, _ in AREAS] + ["other (builtins, stdlib, ...)"], 0.0)
    for (filename, _line, _name), (_cc, _nc, tottime, _cum, _callers) in stats.stats.items():
        # the first area that matches; formats before templates for the template filters
        ordered = sorted(AREAS, key=lambda a: a[0] != "formats, dates, numbers, translation")
        label = next((label for label, markers in ordered if any(m in filename for m in markers)),
                     "other (builtins, stdlib, ...)")
        found[label] += tottime * 1000 / n
    return found


def profile(server, plan, kind, size, n, batch=25):
    """cProfile ``n`` requests of ``kind`` (list: of ``size`` rows) of each variant, in alternating batches."""
    profilers = {variant: cProfile.Profile() for variant in VARIANTS}
    wall = dict.fromkeys(VARIANTS, 0.0)
    batches = max(1, n // batch)
    for k in range(batches):
        for variant in VARIANTS if k % 2 == 0 else VARIANTS[::-1]:
            urls = [plan.urls(k * batch + i, kind, size)[variant] for i in range(batch)]
            started = time.perf_counter()
            profilers[variant].enable()
            for url in urls:
                server.get(url)
            profilers[variant].disable()
            wall[variant] += time.perf_counter() - started
    n = batches * batch
    out = {"case": case_name(kind, size)}
    for variant in VARIANTS:
        stream = io.StringIO()
        stats = pstats.Stats(profilers[variant], stream=stream)
        stats.sort_stats("cumulative").print_stats(40)
        stats.sort_stats("tottime").print_stats(25)
        entries = []
        for (filename, line, func), (_cc, ncalls, tottime, cumtime, _callers) in stats.stats.items():
            if any(marker in filename for marker in ENGINE_MARKERS):
                short = filename.split("site-packages/")[-1].replace(str(ROOT) + "/", "")
                entries.append({"function": f"{short}:{line}({func})", "calls_per_request": ncalls / n,
                                "cum_ms_per_request": cumtime * 1000 / n, "own_ms_per_request": tottime * 1000 / n})
        entries.sort(key=lambda e: -e["cum_ms_per_request"])
        out[variant] = {"requests": n, "wall_ms_per_request_profiled": wall[variant] * 1000 / n,
                        "text": stream.getvalue(), "breakdown_ms_per_request": breakdown(stats, n, variant, kind),
                        "areas_ms_per_request": areas(stats, n),
                        "engine_functions": entries[:40]}
    return out


# --- one database, in a child process ----------------------------------------------------------


def child(args):
    """Set up Django on this child's database, measure, print, write the result to ``args.child_out``."""
    os.environ.update(environment(args.database_url))
    for name in ("REDIS_URL", "CABINET_PRODUCTION"):
        os.environ.pop(name, None)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    assert not settings.DEBUG, "DEBUG must be off"
    vendor = connection.vendor
    built, member, steps = prepare(args)
    ids = list(built.model("purchase")._default_manager.filter(user=member).values_list("pk", flat=True))
    print(f"[{vendor}] prepared: migrate {steps['migrate_s']:.1f} s, publish {steps['publish_s']:.1f} s, "
          f"load {steps['load_s']:.1f} s", flush=True)
    server = Server(member)
    plan = Plan(ids, args.mine, args.seed)

    print(f"[{vendor}] warm-up: {args.warmup} rounds", flush=True)
    warm_problems = rounds(server, plan, max(1, args.warmup), args.mine)
    if warm_problems:
        raise SystemExit(f"the variants answer differently before timing: {json.dumps(warm_problems[:2], indent=1)}")
    queries = query_counts(server, plan)

    print(f"[{vendor}] timing: {args.rounds} rounds x {len(CASES)} cases x 2 variants", flush=True)
    timings = {(case_name(k, s), v): [] for k, s in CASES for v in VARIANTS}
    gc.collect()
    problems = rounds(server, plan, args.rounds, args.mine, offset=args.warmup, timings=timings)
    stats = {key: summary(values) for key, values in timings.items()}
    paired = {}
    for kind, size in CASES:
        name = case_name(kind, size)
        ratios = [g / h for g, h in zip(timings[(name, "generated")], timings[(name, "hand-written")], strict=True)]
        paired[name] = statistics.median(ratios)

    ratios = {case_name(k, s): stats[(case_name(k, s), "generated")]["median_ms"]
              / stats[(case_name(k, s), "hand-written")]["median_ms"] for k, s in CASES}
    profiled = []
    for kind, size in (("list", max(SIZES)), ("detail", None)):
        over = any(r > TARGET_RATIO for name, r in ratios.items() if name.startswith(kind))
        if args.profile or over:
            print(f"[{vendor}] profiling {case_name(kind, size)} (cProfile)", flush=True)
            profiled.append(profile(server, plan, kind, size, args.profile_requests))

    result = {
        "database": vendor, "prepare_s": steps, "queries": queries, "problems": len(problems),
        "problem_examples": [p for p in problems if p][:3],
        "stats": {f"{name} {variant}": s for (name, variant), s in stats.items()},
        "ratio_of_medians": ratios, "median_of_paired_ratios": paired, "profile": profiled,
        "bytes": {f"{case_name(k, s)} {v}": len(server.get(plan.urls(0, k, s)[v])[1]) for k, s in CASES
                  for v in VARIANTS},
    }
    print_child(result)
    Path(args.child_out).write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


def print_child(r):
    db = r["database"]
    head = (f"{'page':<9} {'variant':<13} {'queries':>7} {'median ms':>10} {'p95 ms':>8} {'mean ms':>8} "
            f"{'min ms':>7} {'KiB':>6} {'ratio':>6}")
    print(f"\n[{db}] server time per request (WSGI handler, in process), {r['stats']['detail generated']['n']} "
          f"requests per row")
    print(head)
    print("-" * len(head))
    for kind, size in CASES:
        name = case_name(kind, size)
        for variant in VARIANTS:
            s = r["stats"][f"{name} {variant}"]
            ratio = f"{r['ratio_of_medians'][name]:.3f}" if variant == "generated" else ""
            print(f"{name:<9} {variant:<13} {r['queries'][f'{name} {variant}']['count']:>7} {s['median_ms']:>10.2f} "
                  f"{s['p95_ms']:>8.2f} {s['mean_ms']:>8.2f} {s['min_ms']:>7.2f} "
                  f"{r['bytes'][f'{name} {variant}'] / 1024:>6.1f} {ratio:>6}")
    print("median of per-round ratios: " + ", ".join(f"{k} {v:.3f}" for k, v in r["median_of_paired_ratios"].items()))
    print(f"rounds where the variants showed different rows or values: {r['problems']}")
    for name in ("list 10", "list 100", "detail"):
        for variant in VARIANTS:
            print(f"\n[{db}] {name} {variant}: SQL per request")
            for sql in r["queries"][f"{name} {variant}"]["sql"]:
                print(f"  {sql[:300]}")
    for p in r["profile"] or ():
        gen_p, hand_p = p["generated"], p["hand-written"]
        print(f"\n--- [{db}] cProfile, generated {p['case']}: {gen_p['wall_ms_per_request_profiled']:.2f} ms per "
              f"request under the profiler (hand-written {hand_p['wall_ms_per_request_profiled']:.2f}) ---")
        print(gen_p["text"])
        gen, hand = gen_p["breakdown_ms_per_request"], hand_p["breakdown_ms_per_request"]
        print(f"--- [{db}] {p['case']} request under cProfile (times inflated by the profiler), ms per request ---")
        print(f"{'':<50} {'generated':>10} {'hand':>10} {'extra':>8}")
        for label in gen:
            print(f"{label:<50} {gen[label]:>10.2f} {hand[label]:>10.2f} {gen[label] - hand[label]:>8.2f}")
        gen, hand = gen_p["areas_ms_per_request"], hand_p["areas_ms_per_request"]
        print(f"--- [{db}] {p['case']} request under cProfile: own time by area, ms per request ---")
        for label in gen:
            print(f"{label:<50} {gen[label]:>10.2f} {hand[label]:>10.2f} {gen[label] - hand[label]:>8.2f}")
        print(f"\n--- [{db}] engine functions in the generated {p['case']} request ---")
        print(f"{'cum ms/req':>10} {'own ms/req':>10} {'calls/req':>9}  function")
        for e in gen_p["engine_functions"][:25]:
            print(f"{e['cum_ms_per_request']:>10.3f} {e['own_ms_per_request']:>10.3f} "
                  f"{e['calls_per_request']:>9.1f}  {e['function']}")


# --- orchestration ---------------------------------------------------------------------------


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


def run_child(args, database_url, out):
    command = [sys.executable, str(Path(__file__).resolve()), "--child", "--database-url", database_url,
               "--child-out", str(out), "--rounds", str(args.rounds), "--warmup", str(args.warmup),
               "--mine", str(args.mine), "--others", str(args.others), "--other-users", str(args.other_users),
               "--seed", str(args.seed), "--profile-requests", str(args.profile_requests)]
    if args.profile:
        command.append("--profile")
    try:
        proc = subprocess.run(command, cwd=ROOT, env=environment(database_url),  # noqa: S603 - this script
                              timeout=CHILD_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        print(f"the child for {database_url} did not finish within {CHILD_TIMEOUT_S} s")
        return None
    if proc.returncode != 0 or not out.exists():
        print(f"the child for {database_url} failed with status {proc.returncode}")
        return None
    return json.loads(out.read_text(encoding="utf-8"))


def verdicts(result):
    db, found = result["database"], {}
    for kind, size in CASES:
        name = case_name(kind, size)
        g, h = result["stats"][f"{name} generated"], result["stats"][f"{name} hand-written"]
        ratio = result["ratio_of_medians"][name]
        found[f"{db} {name} time"] = {
            "ok": ratio <= TARGET_RATIO, "ratio": ratio,
            "text": f"median {g['median_ms']:.2f} ms / {h['median_ms']:.2f} ms = {ratio:.3f} "
                    f"(generated / hand-written, target <= {TARGET_RATIO})"}
    counts = {size: result["queries"][f"list {size} generated"]["count"] for size in SIZES}
    hand = {size: result["queries"][f"list {size} hand-written"]["count"] for size in SIZES}
    found[f"{db} list query count"] = {
        "ok": len(set(counts.values())) == 1, "counts": counts,
        "text": "generated list queries at " + ", ".join(f"{s} rows: {c}" for s, c in counts.items())
                + " (hand-written: " + ", ".join(str(c) for c in hand.values()) + "); must not grow with the rows"}
    found[f"{db} same rows"] = {"ok": result["problems"] == 0,
                                "text": f"both variants showed the same rows and values in every round "
                                        f"({result['problems']} rounds differed)"}
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300, help="timed rounds (each: every page of both variants)")
    parser.add_argument("--warmup", type=int, default=50, help="untimed rounds first")
    parser.add_argument("--mine", type=int, default=500, help="purchases of the member user")
    parser.add_argument("--others", type=int, default=20000, help="purchases of other users")
    parser.add_argument("--other-users", type=int, default=40)
    parser.add_argument("--database", choices=("auto", "sqlite", "postgres"), default="auto",
                        help="auto: SQLite, and PostgreSQL too when it answers")
    parser.add_argument("--profile", action="store_true", help="profile the list page even when on target")
    parser.add_argument("--profile-requests", type=int, default=300)
    parser.add_argument("--seed", type=int, default=20250601)
    parser.add_argument("--keep", action="store_true", help=f"keep the {PG_DB} database")
    parser.add_argument("--no-json", action="store_true", help="do not write bench/results/pages-*.json")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.rounds = max(10, min(args.rounds, 20_000))
    if args.mine < max(SIZES) or args.others < 0 or args.other_users < 1:
        parser.error(f"need --mine >= {max(SIZES)} and at least one other user")
    if args.child:
        return child(args)

    notes = []
    databases = []
    if args.database in ("auto", "sqlite"):
        databases.append("sqlite")
    if args.database in ("auto", "postgres"):
        problem = postgres_problem()
        if problem is None:
            databases.append("postgres")
        elif args.database == "postgres":
            print(problem)
            return 1
        else:
            notes.append(f"PostgreSQL skipped: {problem}")
    load_avg = os.getloadavg()
    tree = git_state()
    print(f"commit {tree['head']}; modified: {', '.join(tree['modified']) or 'none'}")
    print(f"load average {load_avg[0]:.2f} {load_avg[1]:.2f} {load_avg[2]:.2f}; cpus {os.cpu_count()}; "
          f"databases {', '.join(databases)}; {args.mine:,} purchases of the member, {args.others:,} of "
          f"{args.other_users} other users; {args.rounds} rounds after {args.warmup} warm-up", flush=True)
    for note in notes:
        print(f"NOTE: {note}")

    results = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cabinet-pages-bench-") as workdir:
        for db in databases:
            out = Path(workdir) / f"{db}.json"
            if db == "postgres":
                recreate_database(PG_DB)
                try:
                    results[db] = run_child(args, PG_URL, out)
                finally:
                    if not args.keep:
                        drop_database(PG_DB)
            else:
                results[db] = run_child(args, f"sqlite:///{Path(workdir) / 'pages.sqlite3'}", out)
    total_s = time.perf_counter() - started

    print(f"\nSummary (total run {total_s:.0f} s): server time, generated / hand-written")
    head = (f"{'database':<10} {'page':<9} {'queries gen/hand':>16} {'median gen':>10} {'median hand':>11} "
            f"{'ratio':>6} {'p95 gen':>8} {'p95 hand':>8}")
    print(head)
    print("-" * len(head))
    for db, r in results.items():
        if r is None:
            print(f"{db:<10} (failed)")
            continue
        for kind, size in CASES:
            name = case_name(kind, size)
            g, h = r["stats"][f"{name} generated"], r["stats"][f"{name} hand-written"]
            q = f"{r['queries'][f'{name} generated']['count']}/{r['queries'][f'{name} hand-written']['count']}"
            print(f"{db:<10} {name:<9} {q:>16} {g['median_ms']:>10.2f} {h['median_ms']:>11.2f} "
                  f"{r['ratio_of_medians'][name]:>6.3f} {g['p95_ms']:>8.2f} {h['p95_ms']:>8.2f}")

    print("\nTargets")
    ok = bool(results) and all(r is not None for r in results.values())
    if not ok:
        print("  FAIL  a database run failed (see above)")
    checks = {}
    for r in results.values():
        if r is not None:
            checks.update(verdicts(r))
    for name, check in checks.items():
        ok &= check["ok"]
        print(f"  {'PASS' if check['ok'] else 'FAIL'}  {name}: {check['text']}")

    if not args.no_json:
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = RESULTS / f"pages-{time.strftime('%Y%m%d-%H%M%S')}.json"
        options = {k: v for k, v in vars(args).items() if k not in ("child", "database_url", "child_out")}
        out.write_text(json.dumps({
            "options": options, "notes": notes, "load_average": load_avg, "cpus": os.cpu_count(),
            "python": sys.version.split()[0], "git": tree, "target_ratio": TARGET_RATIO, "total_s": total_s,
            "sources": SOURCES, "results": results, "verdicts": checks,
        }, indent=2), encoding="utf-8")
        print(f"\nwrote {out.relative_to(ROOT)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
