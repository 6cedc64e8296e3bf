"""Access benchmark: one user's first page of a scoped entity through the policy vs a hand-written query.

On PostgreSQL (database ``bench_access`` on 127.0.0.1:5432, user postgres, dropped and created
here) a small solution is published from YAML held in this file:

* ``note``: ``owner: user``, role ``member`` has ``scope: own``; index ``[user, created]`` and
  ordering ``[-created]`` from the YAML;
* ``memo`` (one-hop path scope): ``memo.folder`` -> ``folder`` (``owner: user``), role ``member``
  has ``scope: {folder.user: $user}``; indexes ``folder.user`` and ``memo [folder, created]``.

Users and rows are loaded with ``INSERT ... SELECT generate_series`` inside PostgreSQL (defaults:
100,000 users, 1,000,000 notes, 200,000 folders and 1,000,000 memos), every user is put in the
role's group, then ``VACUUM ANALYZE``. For a fixed random sample of users the first page (20 rows)
is fetched, interleaved per user and in rotating order, in three ways:

* hand-written: ``list(Note.objects.filter(user=u)[:20])`` (``Memo.objects.filter(folder__user=u)``);
* policy: ``list(policy.for_user(u).queryset("note")[:20])`` with the user's roles already resolved;
* policy + role lookup: the same with a fresh user object, so ``for_user`` also runs its groups query.

Run from the project root:  .venv/bin/python bench/access.py [--samples 200] [--keep] [--reuse]
"""
from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

from common import PG_ADMIN_URL, drop_database, recreate_database, summary

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PG_DB = "bench_access"
PG_URL = f"postgres://postgres@127.0.0.1:5432/{PG_DB}"
TARGET_RATIO = 1.2  # policy (roles resolved) median / hand-written median
TARGET_MS = 10.0  # both medians, single-digit milliseconds
PAGE = 20
VARIANTS = ("hand-written", "policy", "policy + role lookup")

# --- the solution ----------------------------------------------------------------------------

SOLUTION_YAML = """\
solution:
  name: accessbench
  label: {en: Access bench}
  languages: [en]
  default_language: en
"""

ENTITIES_YAML = """\
entities:
  note:
    label: {en: Note}
    title: title
    owner: user
    ordering: [-created]
    fields:
      user: {type: ref, to: user, required: true, on_delete: cascade}
      title: {type: string, max_length: 80, required: true}
      created: {type: datetime, required: true, default: now}
    indexes:
      - fields: [user, created]
  folder:
    label: {en: Folder}
    title: name
    owner: user
    fields:
      user: {type: ref, to: user, required: true, on_delete: cascade, index: true}
      name: {type: string, max_length: 80, required: true}
  memo:
    label: {en: Memo}
    title: title
    ordering: [-created]
    fields:
      folder: {type: ref, to: folder, required: true, on_delete: cascade}
      title: {type: string, max_length: 80, required: true}
      created: {type: datetime, required: true, default: now}
    indexes:
      - fields: [folder, created]
"""

ROLES_YAML = """\
roles:
  member:
    label: {en: Member}
    entities:
      note: {actions: [list, view], scope: own}
      folder: {actions: [list, view], scope: own}
      memo: {actions: [list, view], scope: {folder.user: $user}}
"""


def sources(with_indexes=True):
    """The solution as ``{filename: text}``; without indexes, every index the YAML asks for is left out."""
    entities = ENTITIES_YAML
    if not with_indexes:
        entities = "\n".join(line for line in entities.splitlines()
                             if "indexes:" not in line and "- fields:" not in line) + "\n"
        entities = entities.replace(", index: true}", "}")
    return {"solution.yaml": SOLUTION_YAML, "entities.yaml": entities, "roles.yaml": ROLES_YAML}


# --- database --------------------------------------------------------------------------------


def admin_connect():
    import psycopg

    return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)


def database_exists():
    with admin_connect() as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (PG_DB,)).fetchone() is not None






def setup_django():
    os.environ["DJANGO_SETTINGS_MODULE"] = "engine.settings"
    os.environ["DATABASE_URL"] = PG_URL
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("CABINET_LOG_LEVEL", "ERROR")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def timed(label, fn, *args, **kwargs):
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    elapsed = time.perf_counter() - started
    print(f"  {label:<44} {elapsed:7.1f} s", flush=True)
    return result, elapsed


def execute(sql, params=None):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def fetch(sql, params=None):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def contiguous_ids(table):
    """(first id, count) of ``table``, checking that the ids are one unbroken run (a fresh sequence)."""
    low, high, count = fetch({"auth_user": "SELECT min(id), max(id), count(*) FROM auth_user",
                              "cabinet_folder": "SELECT min(id), max(id), count(*) FROM cabinet_folder"}[table])[0]
    if count == 0 or high - low + 1 != count:
        raise RuntimeError(f"{table}: ids {low}..{high} are not a contiguous run of {count}")
    return low, count


def load(users, notes, folders, memos):
    """Bulk-load users, group membership, notes, folders and memos inside PostgreSQL; return step timings."""
    from django.contrib.auth.models import Group

    steps = {}
    _, steps["users"] = timed(f"{users:,} users (auth_user)", execute, """
        INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email,
                               is_staff, is_active, date_joined)
        SELECT '!', false, 'bench_' || g, '', '', '', false, true, now()
        FROM generate_series(1, %s) AS g""", [users])
    first_user, _ = contiguous_ids("auth_user")
    group = Group.objects.get(name="member")
    _, steps["groups"] = timed("every user in group 'member'", execute, """
        INSERT INTO auth_user_groups (user_id, group_id) SELECT id, %s FROM auth_user""", [group.pk])
    # A user's rows are spread over the whole table (g %% users), the realistic worst case for the heap,
    # and ``created`` is not correlated with the id, so ORDER BY created really needs the index.
    _, steps["notes"] = timed(f"{notes:,} notes (owner: user)", execute, """
        INSERT INTO cabinet_note (user_id, title, created)
        SELECT %s + g %% %s, 'note ' || g,
               timestamptz '2025-01-01 00:00:00+00' - ((g::bigint * 7919) %% 31536000) * interval '1 second'
        FROM generate_series(0, %s - 1) AS g""", [first_user, users, notes])
    if memos:
        _, steps["folders"] = timed(f"{folders:,} folders (owner: user)", execute, """
            INSERT INTO cabinet_folder (user_id, name)
            SELECT %s + g %% %s, 'folder ' || g FROM generate_series(0, %s - 1) AS g""",
                                    [first_user, users, folders])
        first_folder, _ = contiguous_ids("cabinet_folder")
        _, steps["memos"] = timed(f"{memos:,} memos (scope folder.user)", execute, """
            INSERT INTO cabinet_memo (folder_id, title, created)
            SELECT %s + g %% %s, 'memo ' || g,
                   timestamptz '2025-01-01 00:00:00+00' - ((g::bigint * 104729) %% 31536000) * interval '1 second'
            FROM generate_series(0, %s - 1) AS g""", [first_folder, folders, memos])

    def vacuum():
        for table in ("auth_user", "auth_group", "auth_user_groups", "guardian_userobjectpermission",
                      "guardian_groupobjectpermission", "cabinet_note", "cabinet_folder", "cabinet_memo"):
            execute(f"VACUUM ANALYZE {table}")

    _, steps["vacuum_analyze"] = timed("VACUUM ANALYZE", vacuum)
    return steps


def database_facts():
    facts = {
        "server_version": fetch("SHOW server_version")[0][0],
        "shared_buffers": fetch("SHOW shared_buffers")[0][0],
        "work_mem": fetch("SHOW work_mem")[0][0],
        "random_page_cost": fetch("SHOW random_page_cost")[0][0],
        "tables": {},
    }
    for table in ("auth_user", "auth_user_groups", "cabinet_note", "cabinet_folder", "cabinet_memo"):
        rows, size = fetch("SELECT reltuples::bigint, pg_size_pretty(pg_total_relation_size(oid)) "
                           "FROM pg_class WHERE relname = %s", [table])[0]
        indexes = [f"{name}: {definition}" for name, definition in fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s ORDER BY indexname", [table])]
        facts["tables"][table] = {"rows_estimate": rows, "total_size": size, "indexes": indexes}
    return facts


# --- measurement -----------------------------------------------------------------------------






def make_variants(policy, entity, hand):
    """The three ways to fetch the first page; each takes (user with roles resolved, fresh user object)."""

    def hand_written(user, _fresh):
        return list(hand(user)[:PAGE])

    def through_policy(user, _fresh):
        return list(policy.for_user(user).queryset(entity)[:PAGE])

    def through_policy_with_roles(_user, fresh):
        return list(policy.for_user(fresh).queryset(entity)[:PAGE])

    return dict(zip(VARIANTS, (hand_written, through_policy, through_policy_with_roles), strict=True))


def fresh_copy(user):
    """A copy of ``user`` that has not resolved its roles yet (as a new request's ``request.user``)."""
    fresh = copy.copy(user)
    fresh.__dict__.pop("_cabinet_groups", None)
    return fresh


def query_counts(variants, user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    found = {}
    for name, fn in variants.items():
        with CaptureQueriesContext(connection) as ctx:
            fn(user, fresh_copy(user))
        found[name] = {"count": len(ctx.captured_queries), "sql": [q["sql"] for q in ctx.captured_queries]}
    return found


def explain(queryset):
    return queryset.explain(analyze=True, buffers=True)


def measure_case(case, policy, hand, users, warmup_users):
    """Time the variants for every sampled user, interleaved and in rotating order; return results."""
    variants = make_variants(policy, case, hand)
    names = list(variants)
    for user in users + warmup_users:
        policy.roles_of(user)  # resolved once: the 'policy' variant measures the page query alone
    for user in warmup_users:  # untimed: connection, plan and content-type caches, Python paths
        for fn in variants.values():
            fn(user, fresh_copy(user))
    counts = query_counts(variants, users[0])
    timings = {name: [] for name in names}
    mismatches = 0
    rows_seen = []
    gc.collect()
    gc.disable()
    try:
        for i, user in enumerate(users):
            order = names[i % len(names):] + names[:i % len(names)]
            pages = {}
            for name in order:
                fresh = fresh_copy(user)
                started = time.perf_counter()
                rows = variants[name](user, fresh)
                timings[name].append((time.perf_counter() - started) * 1000)
                pages[name] = [row.pk for row in rows]
            if any(page != pages[names[0]] for page in pages.values()):
                mismatches += 1
            rows_seen.append(len(pages[names[0]]))
    finally:
        gc.enable()
    stats = {name: summary(values) for name, values in timings.items()}
    stats_ratio = {name: stats[name]["median_ms"] / stats[names[0]]["median_ms"] for name in names}
    sample = users[0]
    plans = {
        "hand-written": explain(hand(sample)[:PAGE]),
        "policy": explain(policy.for_user(sample).queryset(case)[:PAGE]),
    }
    return {"entity": case, "stats": stats, "ratio_to_hand": stats_ratio, "queries": counts,
            "page_mismatches": mismatches,
            "rows_per_page": {"median": statistics.median(rows_seen), "min": min(rows_seen), "max": max(rows_seen)},
            "explain_user_id": sample.pk, "explain": plans, "timings_ms": timings}


# --- orchestration ---------------------------------------------------------------------------


def prepare(args, wanted_sources):
    """Create and load the database (or reuse a kept one); return (built version, load step timings)."""
    if args.reuse and database_exists():
        print(f"reusing database {PG_DB}")
        setup_django()
        from engine.models import SolutionVersion
        from engine.registry import registry

        version = SolutionVersion.objects.order_by("-number").first()
        if version is None or version.sources != wanted_sources:
            raise SystemExit(f"{PG_DB} was not built by this script with these options; run without --reuse")
        return registry.populate(), {}

    print(f"creating database {PG_DB} and loading it:")
    recreate_database(PG_DB)
    setup_django()
    from django.core.management import call_command

    from engine.compiler import compile_sources
    from engine.migrate import publish

    _, migrate_s = timed("manage.py migrate", call_command, "migrate", verbosity=0)
    spec = compile_sources(wanted_sources).raise_for_errors()
    (built, _plan), publish_s = timed("publish the solution (YAML -> tables, indexes)", publish, spec,
                                      wanted_sources, False, "access bench")
    steps = load(args.users, args.rows, args.folders, args.memos)
    steps.update({"migrate": migrate_s, "publish": publish_s})
    return built, steps


def print_case(result):
    stats, ratios, counts = result["stats"], result["ratio_to_hand"], result["queries"]
    print(f"\n{result['entity']}: first page of {PAGE} rows, {stats[VARIANTS[0]]['n']} users "
          f"(rows per page: median {result['rows_per_page']['median']:.0f}; "
          f"pages differing between variants: {result['page_mismatches']})")
    head = (f"{'variant':<22} {'queries':>7} {'median ms':>10} {'p95 ms':>8} {'mean ms':>8} {'min ms':>7} "
            f"{'max ms':>7} {'x hand':>7}")
    print(head)
    print("-" * len(head))
    for name in VARIANTS:
        s = stats[name]
        print(f"{name:<22} {counts[name]['count']:>7} {s['median_ms']:>10.3f} {s['p95_ms']:>8.3f} "
              f"{s['mean_ms']:>8.3f} {s['min_ms']:>7.3f} {s['max_ms']:>7.3f} {ratios[name]:>7.2f}")


def print_details(result):
    print(f"\n--- {result['entity']}: SQL per call ---")
    for name in VARIANTS:
        for sql in result["queries"][name]["sql"]:
            print(f"[{name}] {sql}")
    for name, plan in result["explain"].items():
        print(f"\n--- {result['entity']}: EXPLAIN (ANALYZE, BUFFERS) {name}, user {result['explain_user_id']} ---")
        print(plan)


def verdicts(result):
    stats = result["stats"]
    hand, policy = stats["hand-written"]["median_ms"], stats["policy"]["median_ms"]
    ratio = result["ratio_to_hand"]["policy"]
    return {
        "ratio": {"ok": ratio <= TARGET_RATIO, "text": f"policy / hand-written median = {ratio:.2f} "
                                                       f"(target <= {TARGET_RATIO})"},
        "single_digit_ms": {"ok": hand < TARGET_MS and policy < TARGET_MS,
                            "text": f"medians hand-written {hand:.2f} ms, policy {policy:.2f} ms "
                                    f"(target < {TARGET_MS:.0f} ms)"},
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=1_000_000, help="notes (scope: own)")
    parser.add_argument("--folders", type=int, default=200_000)
    parser.add_argument("--memos", type=int, default=1_000_000, help="memos (scope: folder.user), 0 to skip")
    parser.add_argument("--samples", type=int, default=200, help="users timed (at most 2,000)")
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument("--no-indexes", action="store_true", help="leave the YAML's indexes out (for comparison)")
    parser.add_argument("--keep", action="store_true", help=f"keep the {PG_DB} database afterwards")
    parser.add_argument("--reuse", action="store_true", help=f"reuse a kept {PG_DB} database instead of loading")
    parser.add_argument("--no-json", action="store_true", help="do not write bench/results/access-*.json")
    args = parser.parse_args()
    samples = max(10, min(args.samples, 2000))
    if args.users < samples + 20 or args.rows < 1 or (args.memos and args.folders < 1):
        parser.error("need at least samples + 20 users, one note and (with memos) one folder")

    try:
        with admin_connect():
            pass
    except Exception as exc:  # noqa: BLE001 - any failure to connect means: skip with the reason
        print(f"PostgreSQL at 127.0.0.1:5432 not usable: {str(exc).strip()}")
        return 1
    wanted = sources(with_indexes=not args.no_indexes)
    load_avg = os.getloadavg()
    print(f"load average {load_avg[0]:.2f} {load_avg[1]:.2f} {load_avg[2]:.2f}; "
          f"{args.users:,} users, {args.rows:,} notes, {args.memos:,} memos; "
          f"indexes from the YAML: {'no' if args.no_indexes else 'yes'}")
    started = time.perf_counter()
    try:
        built, steps = prepare(args, wanted)
        from django.contrib.auth import get_user_model
        from django.db import connection

        facts = database_facts()
        print(f"\nPostgreSQL {facts['server_version']}, shared_buffers {facts['shared_buffers']}")
        for table, info in facts["tables"].items():
            print(f"  {table}: ~{info['rows_estimate']:,} rows, {info['total_size']}")
            for index in info["indexes"]:
                print(f"      {index}")

        policy = built.policy
        user_ids = list(get_user_model().objects.order_by("id").values_list("id", flat=True))
        rng = random.Random(args.seed)
        chosen = rng.sample(user_ids, samples + 20)
        by_id = get_user_model().objects.in_bulk(chosen)
        users = [by_id[pk] for pk in chosen[:samples]]
        warmup = [by_id[pk] for pk in chosen[samples:]]
        cases = {"note": lambda u: built.model("note")._default_manager.filter(user=u)}
        if args.memos:
            cases["memo"] = lambda u: built.model("memo")._default_manager.filter(folder__user=u)
        results = {}
        for case, hand in cases.items():
            results[case] = measure_case(case, policy, hand, users, warmup)
            print_case(results[case])
        for result in results.values():
            print_details(result)
        connection.close()
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            drop_database(PG_DB)
            print(f"\ndropped database {PG_DB} (--keep to keep it)")

    total_s = time.perf_counter() - started
    print(f"\nTargets (judged on note, scope: own; total run {total_s:.0f} s)")
    all_ok = True
    for case, result in results.items():
        result["verdicts"] = verdicts(result)
        for check in result["verdicts"].values():
            judged = case == "note"
            all_ok &= check["ok"] or not judged
            print(f"  {case:<5} {'PASS' if check['ok'] else 'FAIL'}  {check['text']}"
                  f"{'' if judged else '  (informative)'}")

    if not args.no_json:
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = RESULTS / f"access-{time.strftime('%Y%m%d-%H%M%S')}.json"
        out.write_text(json.dumps({
            "options": vars(args), "samples": samples, "page": PAGE,
            "targets": {"ratio": TARGET_RATIO, "median_ms": TARGET_MS}, "load_average": load_avg,
            "load_steps_s": steps, "total_s": total_s, "database": facts, "sources": wanted, "results": results,
        }, indent=2), encoding="utf-8")
        print(f"\nwrote {out.relative_to(ROOT)}")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
