"""Business rules benchmark: a transition with two actions and an audit row, and a list with computed columns.

A small solution held in this file: ``customer`` (a points balance), ``purchase`` (quantity, price,
a workflow ``placed -> paid -> done``, two computed columns: ``total = qty * price`` and
``points_given = sum(ledger.points)``, an aggregate over related rows) and ``ledger`` (points entries).
The transition ``complete`` (paid -> done) has two actions: it increments the customer's points by the
quantity and creates a ledger row; the write path writes the audit record in the same transaction.

1. **transition**: ``POST /api/purchase/<id>/complete/`` (the generated API, through
   ``engine.writes.transition``) vs ``POST /hand/purchase/<id>/complete/``: a hand-written DRF view doing
   the same work as a developer would write it (``select_for_update`` of the row, a state check, the
   state change, an ``F()`` increment of the customer's points, a ledger insert and an ``AuditRecord``
   insert in one ``transaction.atomic()``, the row serialised back). Both use the same token, the same
   middleware and authentication, and each request completes a different purchase. Alternating which
   variant goes first, medians and p95 over ``--rounds`` rounds after ``--warmup``. Both variants must
   leave the same effects (points, ledger rows, audit rows), checked at the end. The generated path does
   more than the hand-written one, by design: Django's ``full_clean`` of every row it writes (foreign keys
   looked up), the ledger row created through the write path (its own audit record, create triggers and
   rules) and a savepoint around it; ``--show-sql`` prints both variants' SQL.
2. **list with computed columns**: the generated list page ``/p/purchases_<N>/`` for N = 10, 50 and 100
   rows shows ``total`` and ``points_given``; the SQL queries per request must be the same at every size
   (computed values come in the list query itself), and the API list ``/api/purchase/?page_size=N`` too.

Each database runs in a child process: a temporary SQLite file always, and PostgreSQL
``bench_rules`` on 127.0.0.1:5432 (dropped and created here, dropped at the end) when it answers.

Run from the project root:  .venv/bin/python bench/rules.py [--rounds 200] [--database auto|sqlite|postgres]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from common import drop_database, postgres_problem, recreate_database, summary

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PG_DB = "bench_rules"
PG_URL = f"postgres://postgres@127.0.0.1:5432/{PG_DB}"
TARGET_RATIO = 2.5  # generated / hand-written transition median (it validates and audits more; see above)
SIZES = (10, 50, 100)
VARIANTS = ("generated", "hand-written")
CLERK = "bench_clerk"
CHILD_TIMEOUT_S = 3600


def list_page(size, order):
    return f"""\
  purchases_{size}:
    kind: list
    entity: purchase
    title: {{en: Purchases ×{size}}}
    roles: [clerk]
    order: {order}
    page_size: {size}
    columns: [title, customer, qty, price, total, points_given, status]
"""


SOURCES = {
    "solution.yaml": """\
solution:
  name: rulesbench
  label: {en: Rules bench}
  languages: [en]
  default_language: en
""",
    "entities.yaml": """\
entities:
  customer:
    title: name
    fields:
      name: {type: string, max_length: 80, required: true}
      points: {type: integer, default: 0, min: 0}
  purchase:
    title: title
    ordering: [-id]
    fields:
      title: {type: string, max_length: 80, required: true}
      customer: {type: ref, to: customer, required: true, on_delete: cascade}
      qty: {type: integer, required: true, default: 1, min: 1}
      price: {type: money, required: true, min: 0}
      status:
        type: choice
        required: true
        default: placed
        choices: [placed, paid, done]
      total: {type: money, computed: "qty * price"}
      points_given: {type: integer, computed: "sum(ledger.points)"}
  ledger:
    fields:
      customer: {type: ref, to: customer, required: true, on_delete: cascade}
      purchase: {type: ref, to: purchase, required: true, on_delete: cascade}
      points: {type: integer, required: true}
""",
    "workflows.yaml": """\
workflows:
  purchase_flow:
    entity: purchase
    field: status
    initial: placed
    states:
      placed: {}
      paid: {}
      done: {final: true}
    transitions:
      pay: {from: placed, to: paid, roles: [clerk]}
      complete:
        from: paid
        to: done
        roles: [clerk]
        actions:
          - increment: {field: customer.points, by: qty}
          - create: {entity: ledger, values: {customer: customer, purchase: id, points: qty}}
""",
    "roles.yaml": """\
roles:
  clerk:
    staff: true
    entities:
      customer: {actions: all, scope: all}
      purchase: {actions: all, scope: all}
      ledger: {actions: [list, view], scope: all}
""",
    "pages.yaml": "pages:\n" + "".join(list_page(size, n + 1) for n, size in enumerate(SIZES)),
}


def environment(database_url):
    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "engine.settings",
        "DATABASE_URL": database_url,
        "DEBUG": "0",
        "CABINET_EXTRA_URLCONF": "bench.rules_handwritten",
        "CONN_MAX_AGE": "60",
        "CABINET_VERSION_TTL": "300",
        "CABINET_LOG_LEVEL": "ERROR",
        "CABINET_API_RATE_USER": "1000000/minute",  # both variants throttle alike; not what is measured
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")])),
    })
    for name in ("REDIS_URL", "CABINET_PRODUCTION"):
        env.pop(name, None)
    return env


# --- child -----------------------------------------------------------------------------------


def prepare(args):
    """migrate, publish, a clerk with a token, customers and purchases in 'paid'; return (built, token)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from knox.models import AuthToken

    from engine.compiler import compile_sources
    from engine.migrate import publish

    call_command("migrate", verbosity=0)
    spec = compile_sources(SOURCES).raise_for_errors()
    built, _plan = publish(spec, SOURCES, note="rules bench")
    clerk = get_user_model().objects.create_user(CLERK, f"{CLERK}@example.invalid", None, is_staff=True)
    clerk.groups.add(Group.objects.get(name="clerk"))
    _instance, token = AuthToken.objects.create(clerk)
    customer = built.model("customer")
    purchase = built.model("purchase")
    customers = customer._default_manager.bulk_create([customer(name=f"Customer {n}") for n in range(50)])
    n = 2 * (args.warmup + args.rounds) + max(SIZES)
    purchase._default_manager.bulk_create([
        purchase(title=f"Purchase {i}", customer=customers[i % len(customers)], qty=1 + i % 7,
                 price=Decimal(100 + i % 900) / 10, status="paid")
        for i in range(n)
    ], batch_size=2000)
    return built, token


def child(args):
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from engine.models import AuditRecord

    built, token = prepare(args)
    purchase = built.model("purchase")
    ids = list(purchase._base_manager.order_by("id").values_list("id", flat=True))
    client = Client(HTTP_AUTHORIZATION=f"Token {token}", HTTP_ACCEPT="application/json")
    url = {"generated": "/api/purchase/{}/complete/", "hand-written": "/hand/purchase/{}/complete/"}
    timings = {v: [] for v in VARIANTS}
    done = {v: [] for v in VARIANTS}
    queries = {}
    for i in range(args.warmup + args.rounds):
        for variant in VARIANTS if i % 2 == 0 else VARIANTS[::-1]:
            pk = ids.pop()
            if i == args.warmup:  # one measured request of each variant: its SQL
                with CaptureQueriesContext(connection) as ctx:
                    response = client.post(url[variant].format(pk), content_type="application/json", data="{}")
                queries[variant] = len(ctx.captured_queries)
                if args.show_sql:
                    for q in ctx.captured_queries:
                        print(variant, q["sql"][:300], file=sys.stderr)  # noqa: T201
            else:
                started = time.perf_counter()
                response = client.post(url[variant].format(pk), content_type="application/json", data="{}")
                elapsed = time.perf_counter() - started
                if i >= args.warmup:
                    timings[variant].append(elapsed * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"{variant} POST {pk} answered {response.status_code}: {response.content[:300]!r}")
            done[variant].append(pk)
    # Both variants must have had the same effects on the rows they completed.
    ledger = built.model("ledger")
    effects = {}
    for variant in VARIANTS:
        rows = purchase._base_manager.filter(pk__in=done[variant])
        effects[variant] = {
            "done": rows.filter(status="done").count(),
            "ledger rows": ledger._default_manager.filter(purchase__in=done[variant]).count(),
            "ledger points = qty": sum(r.qty for r in rows) == sum(
                ledger._default_manager.filter(purchase__in=done[variant]).values_list("points", flat=True)),
            "audit rows": AuditRecord.objects.filter(entity="purchase", object_id__in=done[variant],
                                                     transition="complete").count(),
        }
    total = len(done["generated"])
    for variant in VARIANTS:
        e = effects[variant]
        if not (e["done"] == e["ledger rows"] == e["audit rows"] == total and e["ledger points = qty"]):
            raise RuntimeError(f"{variant} effects differ: {effects}")

    # List pages and the API list: queries per request at each size.
    from django.contrib.auth import get_user_model

    browser = Client()
    browser.force_login(get_user_model().objects.get(username=CLERK))
    lists = {}
    for size in SIZES:
        for name, target, c in (("page", f"/p/purchases_{size}/", browser),
                                ("api", f"/api/purchase/?page_size={size}", client)):
            c.get(target)
            with CaptureQueriesContext(connection) as ctx:
                started = time.perf_counter()
                response = c.get(target)
                elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise RuntimeError(f"GET {target} answered {response.status_code}")
            body = response.content.decode()
            if name == "api":
                rows = json.loads(body)["results"]
                if len(rows) != size or any("total" not in r or "points_given" not in r for r in rows):
                    raise RuntimeError(f"GET {target}: computed columns missing")
            lists[f"{name} {size}"] = {"queries": len(ctx.captured_queries), "ms": elapsed * 1000}
    return {"vendor": connection.vendor, "transition": {v: summary(timings[v]) for v in VARIANTS},
            "transition_queries": queries, "effects": effects, "lists": lists}


# --- parent ----------------------------------------------------------------------------------


def run(database, args):
    if database == "postgres":
        recreate_database(PG_DB)
        url = PG_URL
        tmp = None
    else:
        tmp = tempfile.TemporaryDirectory()
        url = f"sqlite:///{tmp.name}/bench.sqlite3"
    try:
        out = subprocess.run(  # noqa: S603  (this script, our arguments)
            [sys.executable, __file__, "--child", "--rounds", str(args.rounds), "--warmup", str(args.warmup),
             *(["--show-sql"] if args.show_sql else [])],
            env=environment(url), capture_output=True, text=True, timeout=CHILD_TIMEOUT_S, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"{database} child failed:\n{out.stderr[-4000:]}")
        if args.show_sql:
            print(out.stderr)  # noqa: T201
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        if database == "postgres":
            drop_database(PG_DB)
        if tmp:
            tmp.cleanup()


def report(result):
    t = result["transition"]
    gen, hand = t["generated"]["median_ms"], t["hand-written"]["median_ms"]
    ratio = gen / hand
    print(f"\n== {result['vendor']}")  # noqa: T201
    print(f"{'transition complete (2 actions + audit)':42} {'median ms':>10} {'p95 ms':>9} {'queries':>8}")  # noqa: T201
    for v in VARIANTS:
        print(f"  {v:40} {t[v]['median_ms']:10.2f} {t[v]['p95_ms']:9.2f} {result['transition_queries'][v]:8}")  # noqa: T201
    print(f"  ratio generated / hand-written: {ratio:.2f} (target < {TARGET_RATIO})")  # noqa: T201
    print("list with computed columns total and points_given: queries (ms)")  # noqa: T201
    for key, value in result["lists"].items():
        print(f"  {key:20} {value['queries']:3} queries  {value['ms']:7.1f} ms")  # noqa: T201
    constant = all(len({result["lists"][f"{kind} {size}"]["queries"] for size in SIZES}) == 1
                   for kind in ("page", "api"))
    print(f"  queries constant across sizes: {'yes' if constant else 'NO'}")  # noqa: T201
    return ratio < TARGET_RATIO and constant


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--database", choices=("auto", "sqlite", "postgres"), default="auto")
    parser.add_argument("--no-json", action="store_true")
    parser.add_argument("--show-sql", action="store_true", help="print the SQL of one transition of each variant")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))  # noqa: T201
        return 0
    databases = ["sqlite"]
    if args.database in ("auto", "postgres"):
        problem = postgres_problem()
        if problem is None:
            databases.append("postgres")
        elif args.database == "postgres":
            print(problem)  # noqa: T201
            return 1
        else:
            print(f"(PostgreSQL skipped: {problem})")  # noqa: T201
    if args.database == "postgres":
        databases = ["postgres"]
    results = [run(db, args) for db in databases]
    ok = all([report(r) for r in results])  # noqa: C419  (every report printed)
    if not args.no_json:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "rules.json").write_text(json.dumps(results, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
