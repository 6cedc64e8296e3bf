"""Apply a plan atomically and record the new version in the same transaction."""
from __future__ import annotations

import logging

from django.db import DatabaseError, IntegrityError, connection

from ..build.models import build_models, new_apps
from ..errors import Loc, Problem
from ..models import SolutionVersion, digest_sources

log = logging.getLogger("engine.migrate")


class MigrationError(Exception):
    """A migration was refused or failed; ``problems`` says why. Nothing was changed."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def _state_models(state, targets, cache):
    """Models of ``state``; entities it refers to but does not hold yet come from ``targets`` (the new
    spec) so references resolve; on PostgreSQL their constraints are created at the end anyway."""
    key = tuple(sorted(id(e) for e in state.values()))
    if key not in cache:
        extra = [e for name, e in targets.items() if name not in state]
        cache[key] = build_models([*state.values(), *extra], apps=new_apps())
    return cache[key]


def run_operations(editor, plan):
    """Run the plan's operations in order, each between models of the state before and after it."""
    state = {e.name: e for e in plan.old.entities} if plan.old else {}
    targets = {e.name: e for e in plan.new.entities}
    cache = {}
    for op in plan.operations:
        after_state = op.mutate(state)
        before, after = _state_models(state, targets, cache), _state_models(after_state, targets, cache)
        log.info("migrate: %s", op.text)
        op.run(editor, before, after)
        state = after_state


def apply_plan(plan, number, sources, allow_data_loss=False, note="", origin="", user=None):
    """Run ``plan`` and store version ``number`` in one transaction; raise ``MigrationError`` on refusal
    or failure, leaving schema and data exactly as they were."""
    blocking = plan.blocking(allow_data_loss)
    if blocking:
        raise MigrationError(blocking)
    try:
        with connection.schema_editor(atomic=True) as editor:
            run_operations(editor, plan)
            version = SolutionVersion.objects.create(
                number=number, solution=plan.new.name, sources=sources, digest=digest_sources(sources),
                note=note, origin=origin, created_by=user,
            )
    except IntegrityError as exc:
        if SolutionVersion.objects.filter(number=number).exists():
            raise MigrationError([Problem("M006", f"version {number} was published by someone else meanwhile",
                                          Loc(), "plan again against the new version")]) from exc
        raise MigrationError([_failure(exc)]) from exc
    except DatabaseError as exc:
        raise MigrationError([_failure(exc)]) from exc
    return version


def _failure(exc):
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return Problem("M006", f"the database refused the migration: {text}", Loc(),
                   "nothing was changed; fix the data or the definition and try again")
