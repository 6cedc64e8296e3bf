"""Computed columns benchmark: a list page of 100 rows with two computed columns (a row-local product
and an aggregate over related rows) vs the same page with two stored columns.

A temporary SQLite file (or PostgreSQL ``bench_computed`` on 127.0.0.1:5432 with ``--postgres``,
dropped and created here) gets a small solution held in this file: ``product`` and ``line``
(quantity x product price) with ``total`` and ``lines_total`` computed, and the same columns stored
in ``plain``. The page is fetched through Django's test client as a staff member; the query count is
taken at 10 and at 100 rows (it must not grow) and the median time over ``--rounds`` fetches.

Run from the project root:  .venv/bin/python bench/computed.py [--rounds 30] [--postgres]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

YAML = """
solution: {name: bench, languages: [en]}
entities:
  product:
    title: name
    fields:
      name: {type: string, required: true}
      price: {type: money, required: true}
      lines_total: {type: money, computed: "sum(line.total_stored)"}
  line:
    fields:
      product: {type: ref, to: product, required: true}
      quantity: {type: integer, required: true}
      total_stored: {type: money}
      note: {type: string}
      total: {type: money, computed: "quantity * product.price"}
      product_total: {type: money, computed: "product.price * 1"}
roles:
  staff:
    entities:
      line: {actions: all, scope: all}
      product: {actions: all, scope: all}
pages:
  computed:
    kind: list
    entity: line
    roles: [staff]
    page_size: 100
    columns: [product, quantity, total, product_total]
  stored:
    kind: list
    entity: line
    roles: [staff]
    page_size: 100
    columns: [product, quantity, total_stored, note]
"""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="bench-computed-")
    if args.postgres:
        from bench.common import recreate_database

        recreate_database("bench_computed")
        os.environ["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/bench_computed"
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{folder}/bench.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "engine.settings")
    os.environ.pop("REDIS_URL", None)
    # The cached version number is trusted this long (300 s, as with Redis in production): no version
    # query lands in one measured request and not in another.
    os.environ["CABINET_VERSION_TTL"] = "300"
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from engine.compiler import compile_sources
    from engine.migrate import publish

    call_command("migrate", verbosity=0)
    compiled = compile_sources({"solution.yaml": YAML})
    built, _ = publish(compiled.raise_for_errors(), compiled.sources)
    user = get_user_model().objects.create_user("staff")  # logged in with force_login
    user.groups.add(Group.objects.get_or_create(name="staff")[0])
    Product, Line = built.model("product"), built.model("line")
    products = [Product.objects.create(name=f"P{i}", price=i + 1) for i in range(10)]

    def fill(count):
        Line._base_manager.bulk_create(Line(product=products[i % 10], quantity=i % 7 + 1,
                                            total_stored=(i % 7 + 1) * (i % 10 + 1)) for i in range(count))

    client = Client()
    client.force_login(user)
    results = {}
    fill(10)
    for page in ("computed", "stored"):
        client.get(f"/p/{page}/")  # warm: the session, the published version, the built pages
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/p/{page}/").status_code == 200
        results[f"{page}_queries_10_rows"] = len(queries)
    fill(90)
    for page in ("computed", "stored"):
        client.get(f"/p/{page}/")  # warm again: the cached version number may have expired meanwhile
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/p/{page}/").status_code == 200
        results[f"{page}_queries_100_rows"] = len(queries)
        timings = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            client.get(f"/p/{page}/")
            timings.append((time.perf_counter() - start) * 1000)
        results[f"{page}_median_ms"] = round(statistics.median(timings), 2)
    results["ratio_computed_vs_stored"] = round(results["computed_median_ms"] / results["stored_median_ms"], 2)
    results["database"] = connection.vendor
    print(json.dumps(results, indent=2))  # noqa: T201
    if args.postgres:
        from bench.common import drop_database

        connection.close()
        drop_database("bench_computed")


if __name__ == "__main__":
    main()
