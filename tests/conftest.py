"""Shared fixtures: YAML solutions in temp folders, and a database schema cleaned after migrations."""
import textwrap

import pytest
from django.core.cache import cache
from django.db import connection

from engine.compiler import compile_sources
from engine.registry import registry

HEADER = "solution:\n  name: test\n  languages: [en, ru]\n"


def dedent(text):
    return textwrap.dedent(text).lstrip("\n")


def compile_yaml(text, header=HEADER, name="solution.yaml"):
    """Compile one YAML file (with a default solution header unless ``header`` is empty)."""
    return compile_sources({name: header + dedent(text)})


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def drop_cabinet_tables():
    """Drop every table the generated models made, so the next test starts from an empty schema."""
    with connection.cursor() as cursor:
        tables = [t for t in connection.introspection.table_names(cursor) if t.startswith("cabinet_")]
        for table in tables:
            if connection.vendor == "postgresql":
                cursor.execute(f"DROP TABLE IF EXISTS {connection.ops.quote_name(table)} CASCADE")
            else:
                cursor.execute(f"DROP TABLE IF EXISTS {connection.ops.quote_name(table)}")


@pytest.fixture
def schema(transactional_db):
    """A database where solutions may be migrated; generated tables and the registry are reset after."""
    drop_cabinet_tables()
    yield
    reset_cabinet_schema()


def reset_cabinet_schema():
    """Forget the active version and drop the generated tables (SQLite: with foreign keys off meanwhile)."""
    registry.deactivate()
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA foreign_keys = OFF")
    drop_cabinet_tables()
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA foreign_keys = ON")


@pytest.fixture
def solution(schema, request):
    """A solution folder (the resort unless parametrized indirectly) published into the test database."""
    from engine.compiler import compile_folder
    from engine.migrate import publish

    compiled = compile_folder(getattr(request, "param", "solutions/resort"))
    built, _ = publish(compiled.raise_for_errors(), compiled.sources)
    return built


@pytest.fixture
def publish_yaml(schema):
    """Publish a YAML text (with the default header) as the next version; return (built, plan)."""
    from engine.migrate import publish

    def run(text, allow_data_loss=False):
        compiled = compile_yaml(text)
        spec = compiled.raise_for_errors()
        return publish(spec, compiled.sources, allow_data_loss=allow_data_loss)

    return run


@pytest.fixture(autouse=True)
def _version_trusted_while_counting(request, settings):
    """Trust the cached version number for the whole of a query-counting test.

    With the local-memory cache the number is re-read from the database every CABINET_VERSION_TTL
    seconds; on a loaded machine that re-read could land inside a measured request and add a query.
    """
    if "CaptureQueriesContext" in vars(request.module):
        settings.CABINET_VERSION_TTL = 3600


@pytest.fixture(autouse=True)
def _autocommit_restored():
    """Fail the test that leaves the connection outside autocommit (and restore it), rather than every later
    test with "on_commit() cannot be used in manual transaction management"."""
    yield
    if connection.connection is not None and not connection.in_atomic_block and not connection.autocommit:
        connection.rollback()
        connection.set_autocommit(True)
        pytest.fail("the test left the database connection outside autocommit (a transaction was not closed)")


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """Test on an SQLite file, not Django's default in-memory database, so that every thread has a connection
    of its own, as in production. With the in-memory database the live server's request threads share the
    test's one connection object, and two requests at once (a chat stream beside a post) interleave their
    transactions on it: one left it out of autocommit, and every later test failed on it."""
    import os
    import tempfile

    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        db.setdefault("TEST", {})["NAME"] = os.path.join(tempfile.gettempdir(), f"cabinet-test-{os.getpid()}.sqlite3")
        # A test database is thrown away at the end: no need to wait for the disk on every commit.
        db["OPTIONS"]["init_command"] = "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;"
