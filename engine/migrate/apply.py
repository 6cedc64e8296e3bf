"""Apply a plan atomically: lock, plan again, compare with the plan shown, run, record the version.

Checking the data and changing the schema happen in one transaction under one lock, so rows written
by other processes between the preview and the change cannot be dropped unseen: the plan computed
under the lock is the one that runs, and it must be the plan the user confirmed (its hash).
"""
from __future__ import annotations

import logging

from django.db import DatabaseError, IntegrityError, connection, transaction

from ..build.models import build_models, new_apps
from ..errors import Loc, Problem
from ..models import SolutionVersion, digest_sources

log = logging.getLogger("engine.migrate")
LOCK_KEY = 0x6361_6269  # PostgreSQL advisory lock of publishing ("cabi")


class MigrationError(Exception):
    """A migration was refused or failed; ``problems`` says why. Nothing was changed."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class BaseMoved(MigrationError):
    """The applied version is no longer the one the change was made from (``expected_base``)."""

    def __init__(self, expected, current):
        self.expected = expected
        self.current = current  # the SolutionVersion published meanwhile
        super().__init__([Problem("M006", f"version {current.number} was published by someone else meanwhile "
                                  f"(this change was made from {expected or 'no version'})", Loc(),
                                  "nothing was changed; bring the change up to date with the new version")])


def _state_models(state, targets, cache):
    """Models of ``state``; entities it refers to but does not hold yet come from ``targets`` (the new
    spec) so references resolve; on PostgreSQL their constraints are created at the end anyway."""
    key = tuple(sorted(id(e) for e in state.values()))
    if key not in cache:
        extra = [e for name, e in targets.items() if name not in state]
        cache[key] = build_models([*state.values(), *extra], apps=new_apps())
    return cache[key]


def run_operations(editor, plan):
    """Run the plan's operations in order, each between models of the state before and after it.

    A database failure is reported at the YAML place the failing operation came from (``cabinet.M006``).
    """
    state = {e.name: e for e in plan.old.entities} if plan.old else {}
    targets = {e.name: e for e in plan.new.entities}
    cache = {}
    for op in plan.operations:
        after_state = op.mutate(state)
        before, after = _state_models(state, targets, cache), _state_models(after_state, targets, cache)
        log.info("migrate: %s", op.text)
        try:
            with transaction.atomic():  # a savepoint, so the failure is the op's own on PostgreSQL
                op.run(editor, before, after)
        except DatabaseError as exc:
            raise MigrationError([_failure(exc, op.where(plan), op.text)]) from exc
        state = after_state


def lock_publishers():
    """Serialise publishers: the first statement of the publish transaction.

    SQLite: take the file's write lock now (a write statement), before anything is read, so the
    transaction never has to upgrade a read snapshot (which fails at once in WAL mode); every other
    writer waits for the commit. PostgreSQL: a transaction-scoped advisory lock.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
        else:
            table = connection.ops.quote_name(SolutionVersion._meta.db_table)
            cursor.execute(f"UPDATE {table} SET number = number WHERE 1 = 0")  # noqa: S608 (quoted identifier)


def lock_tables(old_spec):
    """Hold writers off the solution's tables until the commit (PostgreSQL; SQLite is locked whole).

    ``EXCLUSIVE`` lets reads go on and makes writes wait, so the row counts behind a refusal stay
    true until the DDL ran. Tables are locked in name order, as every publisher does.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        existing = set(connection.introspection.table_names(cursor))
        tables = sorted(t for t in _tables(old_spec) if t in existing)
        if tables:
            names = ", ".join(connection.ops.quote_name(t) for t in tables)
            cursor.execute(f"LOCK TABLE {names} IN EXCLUSIVE MODE")


def _tables(spec):
    if spec is None:
        return []
    found = []
    for entity in spec.entities:
        found.append(entity.table)
        found += [f"{entity.table}_{f.name}" for f in entity.fields if f.type.value == "refs"]
    return found


def apply_locked(spec, sources, allow_data_loss=False, expected=None, note="", origin="", user=None,
                 expected_base=None):
    """Plan ``spec`` against the applied version and run it, all under the publish lock; return
    (version row, plan). ``expected`` is the hash of the plan the user saw: a different plan is refused
    (``cabinet.M007``); ``expected_base`` is the version number the change was made from (0: none), and
    any other applied version is refused with ``BaseMoved``, checked under the same lock so two
    publishers from one base cannot both pass. Raise ``MigrationError`` on refusal or failure, changing
    nothing."""
    from . import applied, make_plan

    number = None
    try:
        with connection.schema_editor(atomic=True) as editor:
            lock_publishers()
            current, old = applied()
            if expected_base is not None and (current.number if current else 0) != expected_base:
                raise BaseMoved(expected_base, current)
            lock_tables(old)
            number = (current.number if current else 0) + 1
            plan = make_plan(old, spec, connection)
            digest = plan.digest(number - 1, number)
            if expected and expected != digest:
                raise MigrationError([Problem(
                    "M007", f"the plan changed since it was shown (shown {expected}, now {digest})", Loc(),
                    "nothing was changed; run 'cabinet plan' again and confirm the new plan")])
            blocking = plan.blocking(allow_data_loss)
            if blocking:
                raise MigrationError(blocking)
            run_operations(editor, plan)
            version = SolutionVersion.objects.create(
                number=number, solution=spec.name, sources=sources, digest=digest_sources(sources),
                note=note, origin=origin, created_by=user, engine_version=engine_version(),
            )
    except IntegrityError as exc:
        if number and SolutionVersion.objects.filter(number=number).exists():
            raise MigrationError([Problem("M006", f"version {number} was published by someone else meanwhile",
                                          Loc(), "plan again against the new version")]) from exc
        raise MigrationError([_failure(exc)]) from exc
    except DatabaseError as exc:
        raise MigrationError([_failure(exc)]) from exc
    return version, plan


def engine_version():
    """The version of the engine (and so of the DSL it reads) that published a version."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cabinet-builder")
    except PackageNotFoundError:
        return "unknown"


def _failure(exc, loc=None, what=""):
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    about = f" while running '{what}'" if what else ""
    return Problem("M006", f"the database refused the migration{about}: {text}", loc or Loc(),
                   "nothing was changed; fix the data or the definition and try again")
