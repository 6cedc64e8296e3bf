"""Compile-time benchmark: YAML sources -> validated spec -> Django model classes.

Measures the resort solution and synthetic solutions of 50/100/200/400 entities with 10 fields
each, in two ways:

* cold: a fresh Python process per run (Django set up and the engine imported first, not
  timed), so the first compile also pays for building the cached JSON Schema validator;
* warm: repeated compiles in this process after one warm-up compile.

Nothing is published: models are built into a side registry (``build_solution``) and the
database is a throw-away SQLite file that is never opened.

Run from the project root:  .venv/bin/python bench/compile.py [--runs 5] [--sizes 50,100,200,400]
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
RESORT = ROOT / "solutions" / "resort"
SIZES = (50, 100, 200, 400)
FIELDS_PER_ENTITY = 10
ENTITIES_PER_FILE = 25
TARGETS = {"resort": 150.0, "200": 2000.0}  # cold total, ms

# --- environment ---------------------------------------------------------------------------


def bench_env(tmpdir):
    """The environment for Django in this benchmark: a throw-away SQLite file, local cache."""
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "engine.settings"
    env["DATABASE_URL"] = f"sqlite:///{Path(tmpdir) / 'compile-bench.sqlite3'}"
    env.pop("REDIS_URL", None)
    env.setdefault("CABINET_LOG_LEVEL", "ERROR")
    return env


def setup_django(tmpdir):
    os.environ.update(bench_env(tmpdir))
    os.environ.pop("REDIS_URL", None)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    # Import the whole pipeline up front: module import is process start-up, not compile time.
    import engine.build.models  # noqa: F401
    import engine.compiler  # noqa: F401
    import engine.registry  # noqa: F401


# --- synthetic solutions ---------------------------------------------------------------------

KINDS = ("string", "integer", "decimal", "money", "boolean", "date", "datetime", "choice", "email", "text")
RU = {"string": "Строка", "integer": "Число", "decimal": "Дробное", "money": "Сумма", "boolean": "Флаг",
      "date": "Дата", "datetime": "Время", "choice": "Выбор", "email": "Почта", "text": "Текст", "ref": "Ссылка"}


def _label(en, ru):
    return f"{{en: {en}, ru: {ru}}}"


def _field(i, j, kind):
    """One field line (or block) of entity ``i``; ``j`` is its position (1..9)."""
    name = f"{kind}_{j}"
    label = _label(f"{kind.capitalize()} {j}", f"{RU[kind]} {j}")
    required = ", required: true" if (i + j) % 4 == 0 else ""
    if kind == "string":
        return name, f"{{type: string, max_length: {40 + j * 10}{required}, label: {label}}}"
    if kind == "integer":
        return name, f"{{type: integer, min: 0, max: {1000 * j}, default: 0{required}, label: {label}}}"
    if kind == "decimal":
        return name, f"{{type: decimal, max_digits: 10, decimal_places: 2, min: 0{required}, label: {label}}}"
    if kind == "money":
        return name, f"{{type: money, min: 0{required}, label: {label}}}"
    if kind == "boolean":
        return name, f"{{type: boolean, default: {'true' if j % 2 else 'false'}, label: {label}}}"
    if kind == "date":
        return name, f"{{type: date{required}, index: {'true' if j % 3 == 0 else 'false'}, label: {label}}}"
    if kind == "datetime":
        default = ", default: now" if required else ""
        return name, f"{{type: datetime{required}{default}, label: {label}}}"
    if kind == "email":
        return name, f"{{type: email, label: {label}}}"
    if kind == "text":
        return name, f"{{type: text, max_length: 2000, label: {label}}}"
    # choice: a block with translated choice labels
    values = ("new", "active", "closed")
    ru = ("Новый", "Активный", "Закрыт")
    lines = [f"type: choice{', required: true' if required else ''}", "default: new", f"label: {label}", "choices:"]
    lines += [f"  - {{value: {v}, label: {_label(v.capitalize(), r)}}}" for v, r in zip(values, ru, strict=True)]
    return name, lines


def _ref(i, j, target):
    label = _label(f"Link {j}", f"{RU['ref']} {j}")
    on_delete = "cascade" if j % 2 else "protect"
    return f"ref_{j}", f"{{type: ref, to: entity_{target:03d}, on_delete: {on_delete}, label: {label}}}"


def entity_yaml(i):
    """The YAML of synthetic entity ``i``: 10 fields, a title, refs to earlier entities, a choice."""
    fields = [("name", f"{{type: string, max_length: 120, required: true, label: {_label('Name', 'Название')}}}")]
    for j in range(1, FIELDS_PER_ENTITY):
        if i > 0 and j == 1:
            fields.append(_ref(i, j, i - 1))
        elif i > 2 and j == 6 and i % 3 == 0:
            fields.append(_ref(i, j, i // 2))
        else:
            fields.append(_field(i, j, KINDS[(i + j) % len(KINDS)]))
    out = [
        f"  entity_{i:03d}:",
        f"    label: {_label(f'Entity {i}', f'Сущность {i}')}",
        f"    plural: {_label(f'Entities {i}', f'Сущности {i}')}",
        "    title: name",
        "    search: [name]",
        "    ordering: [name]",
        "    fields:",
    ]
    for name, body in fields:
        if isinstance(body, str):
            out.append(f"      {name}: {body}")
        else:
            out.append(f"      {name}:")
            out += [f"        {line}" for line in body]
    if i % 5 == 4:
        out += ["    indexes:", "      - fields: [name, ref_1]"]
    return "\n".join(out)


def synthetic_sources(n):
    """A solution of ``n`` entities as ``{filename: text}``, split over files of 25 entities."""
    sources = {
        "solution.yaml": (
            "solution:\n"
            f"  name: synthetic_{n}\n"
            f"  label: {_label(f'Synthetic {n}', f'Синтетика {n}')}\n"
            "  languages: [en, ru]\n"
            "  default_language: en\n"
            "  currency: EUR\n"
        )
    }
    for start in range(0, n, ENTITIES_PER_FILE):
        body = "\n".join(entity_yaml(i) for i in range(start, min(n, start + ENTITIES_PER_FILE)))
        sources[f"entities_{start // ENTITIES_PER_FILE:02d}.yaml"] = f"entities:\n{body}\n"
    return sources


def resort_sources():
    """The resort solution's sources exactly as the engine stores them."""
    from engine.compiler import compile_folder

    return compile_folder(RESORT).sources


def sources_for(case):
    return resort_sources() if case == "resort" else synthetic_sources(int(case))


# --- measuring -------------------------------------------------------------------------------


def measure_once(sources):
    """Time compile (load + validate + spec + checks) and build of ``sources``; return ms and counts."""
    from engine.compiler import compile_sources
    from engine.registry import build_solution

    gc.collect()
    t0 = time.perf_counter()
    compiled = compile_sources(sources)
    t1 = time.perf_counter()
    if compiled.errors:
        raise SystemExit("the solution does not compile:\n" + "\n".join(str(p) for p in compiled.errors))
    spec = compiled.spec
    built = build_solution(spec, 1, sources)
    t2 = time.perf_counter()
    return {
        "load_validate_ms": (t1 - t0) * 1000,
        "build_ms": (t2 - t1) * 1000,
        "total_ms": (t2 - t0) * 1000,
        "entities": len(spec.entities),
        "fields": sum(len(e.fields) for e in spec.entities),
        "models": len(built.models),
        "warnings": len(compiled.warnings),
    }


def measure_load_only(sources):
    """Time the YAML load alone (part of load + validate), for the breakdown."""
    from engine.loader import load_sources

    gc.collect()
    t0 = time.perf_counter()
    load_sources(sources)
    return (time.perf_counter() - t0) * 1000


def child(case, tmpdir):
    """Run in a fresh process: one cold compile + build, then the validator's own build cost."""
    setup_django(tmpdir)
    sources = sources_for(case)
    result = measure_once(sources)  # the first compile of this process: validator() is built here
    from engine.validate import validator

    validator.cache_clear()
    t0 = time.perf_counter()
    validator()
    result["validator_ms"] = (time.perf_counter() - t0) * 1000
    print(json.dumps(result))


def cold(case, runs, tmpdir):
    """Median of ``runs`` cold measurements, each in a new process."""
    samples = []
    for _ in range(runs):
        proc = subprocess.run(  # noqa: S603 - our own interpreter and script
            [sys.executable, str(Path(__file__).resolve()), "--child", case],
            cwd=ROOT, env=bench_env(tmpdir), capture_output=True, text=True, timeout=300, check=False,
        )
        if proc.returncode != 0:
            raise SystemExit(f"cold run of {case} failed:\n{proc.stdout}\n{proc.stderr}")
        samples.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return summarize(samples)


def warm(case, runs):
    """Median of ``runs`` measurements in this process, after one warm-up compile."""
    sources = sources_for(case)
    measure_once(sources)
    samples = [measure_once(sources) for _ in range(runs)]
    summary = summarize(samples)
    summary["yaml_load_ms"] = statistics.median(measure_load_only(sources) for _ in range(runs))
    return summary


def summarize(samples):
    keys = [k for k in samples[0] if k.endswith("_ms")]
    out = {k: statistics.median(s[k] for s in samples) for k in keys}
    out["total_max_ms"] = max(s["total_ms"] for s in samples)
    out.update({k: samples[0][k] for k in ("entities", "fields", "models", "warnings")})
    out["runs"] = len(samples)
    return out


# --- report ----------------------------------------------------------------------------------


def table(title, rows):
    print(f"\n{title}")
    head = (f"{'case':>8} {'entities':>8} {'fields':>7} {'load+validate ms':>17} {'build ms':>9} "
            f"{'total ms':>9} {'max ms':>8} {'ms/field':>9}")
    print(head)
    print("-" * len(head))
    for case, r in rows.items():
        print(f"{case:>8} {r['entities']:>8} {r['fields']:>7} {r['load_validate_ms']:>17.1f} {r['build_ms']:>9.1f} "
              f"{r['total_ms']:>9.1f} {r['total_max_ms']:>8.1f} {r['total_ms'] / r['fields']:>9.3f}")


def per_field(r):
    return r["total_ms"] / r["fields"]


def report(cold_rows, warm_rows, sizes):
    if cold_rows:
        table("Cold (median of fresh processes; includes building the schema validator once)", cold_rows)
        validator_ms = statistics.median(r["validator_ms"] for r in cold_rows.values())
        print(f"  of which building the JSON Schema validator (validator(), cached per process): "
              f"~{validator_ms:.1f} ms")
    table("Warm (median in one process after a warm-up compile)", warm_rows)
    print("  YAML load alone (part of load+validate), warm: "
          + ", ".join(f"{c}={r['yaml_load_ms']:.1f} ms" for c, r in warm_rows.items()))

    print("\nLinearity (cost per field, largest vs smallest synthetic size; 1.00 = perfectly linear)")
    lo, hi = str(min(sizes)), str(max(sizes))
    linearity = {}
    for label, rows in (("cold", cold_rows), ("warm", warm_rows)):
        if lo in rows and hi in rows and lo != hi:
            ratio = per_field(rows[hi]) / per_field(rows[lo])
            linearity[label] = ratio
            print(f"  {label}: {per_field(rows[hi]):.3f} ms/field at {hi} entities vs "
                  f"{per_field(rows[lo]):.3f} at {lo} -> ratio {ratio:.2f}")
            for part in ("load_validate_ms", "build_ms"):
                part_ratio = (rows[hi][part] / rows[hi]["fields"]) / (rows[lo][part] / rows[lo]["fields"])
                print(f"    {part[:-3]:<14} ratio {part_ratio:.2f}")

    print("\nTargets (judged on the cold total; warm shown for reference)")
    verdicts = {}
    for case, limit in TARGETS.items():
        source = cold_rows or warm_rows
        if case not in source:
            continue
        value = source[case]["total_ms"]
        ok = value < limit
        verdicts[case] = ok
        what = "resort" if case == "resort" else f"{case} entities / {warm_rows[case]['fields']} fields"
        warm_value = warm_rows[case]["total_ms"] if case in warm_rows else float("nan")
        print(f"  [{'PASS' if ok else 'FAIL'}] {what}: {'cold' if cold_rows else 'warm'} {value:.1f} ms "
              f"(target < {limit:.0f} ms; warm {warm_value:.1f} ms)")
    return linearity, verdicts


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="measurements per case (median reported)")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="synthetic entity counts")
    parser.add_argument("--no-cold", action="store_true", help="skip the fresh-process measurements")
    parser.add_argument("--no-json", action="store_true", help="do not write bench/results/compile-*.json")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cabinet-bench-") as tmpdir:
        if args.child:
            child(args.child, tmpdir)
            return 0
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
              + " ".join(f"{x:.2f}" for x in os.getloadavg()) + f"; {args.runs} runs per case")
        cases = ["resort", *map(str, sizes)]
        cold_rows = {}
        if not args.no_cold:
            for case in cases:
                print(f"cold: {case} ...", file=sys.stderr, flush=True)
                cold_rows[case] = cold(case, args.runs, tmpdir)
        setup_django(tmpdir)
        warm_rows = {}
        for case in cases:
            print(f"warm: {case} ...", file=sys.stderr, flush=True)
            warm_rows[case] = warm(case, args.runs)
        linearity, verdicts = report(cold_rows, warm_rows, sizes)

    if not args.no_json:
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = RESULTS / f"compile-{time.strftime('%Y%m%d-%H%M%S')}.json"
        out.write_text(json.dumps({"python": sys.version.split()[0], "runs": args.runs, "cold": cold_rows,
                                   "warm": warm_rows, "linearity": linearity, "targets": TARGETS,
                                   "passed": verdicts}, indent=2), encoding="utf-8")
        print(f"\nwrote {out.relative_to(ROOT)}")
    return 0 if all(verdicts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
