"""Helpers the benchmarks share: summary statistics and a PostgreSQL database of their own."""
from __future__ import annotations

import statistics

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def percentile(values, pct):
    """The ``pct`` percentile of ``values``, interpolated between the nearest ranks."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values_ms):
    """Count, median, p95, mean, min and max of timings in milliseconds."""
    return {"n": len(values_ms), "median_ms": statistics.median(values_ms), "p95_ms": percentile(values_ms, 95),
            "mean_ms": statistics.fmean(values_ms), "min_ms": min(values_ms), "max_ms": max(values_ms)}


def postgres_problem():
    """None when PostgreSQL on 127.0.0.1:5432 takes connections, else why not."""
    try:
        import psycopg
    except ImportError as exc:
        return f"missing client library: {exc}"
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL at 127.0.0.1:5432 not usable: {str(exc).strip()}"


def recreate_database(name):
    """Drop and create the PostgreSQL database ``name`` (a benchmark's own; never the project's)."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")


def drop_database(name):
    """Drop the PostgreSQL database ``name``, saying so when it cannot."""
    import psycopg

    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    except psycopg.Error as exc:
        print(f"(could not drop {name}: {str(exc).strip()})")  # noqa: T201
