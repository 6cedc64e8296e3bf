"""Safe schema evolution: plan the change from the applied version, then apply it atomically."""
from __future__ import annotations

from django.db import connection, transaction

from ..compiler import compile_sources
from ..errors import Loc, Problem, SolutionError
from ..models import SolutionVersion, digest_sources
from ..registry import build_solution, registry
from ..speccache import remember
from .apply import BaseMoved, MigrationError, apply_locked
from .plan import Plan, make_plan

__all__ = ["BaseMoved", "MigrationError", "Plan", "applied", "make_plan", "plan_for", "publish"]


def applied():
    """Return (version, spec) of the latest applied version, or (None, None).

    Raise ``MigrationError`` when that version no longer compiles under this engine: there is then no
    spec to plan from, and the stored version's own problems say why.
    """
    version = SolutionVersion.objects.order_by("-number").first()
    if version is None:
        return None, None
    active = registry.serving
    if active is not None and active.number == version.number and digest_sources(active.sources) == version.digest:
        return version, active.spec  # this process serves exactly that version: its spec is compiled already
    try:
        return version, compile_sources(version.sources).raise_for_errors()
    except SolutionError as exc:
        raise MigrationError([
            Problem("M011", f"the applied version {version.number} (engine {version.engine_version or 'unknown'}) "
                    "does not compile under this engine, so no change can be planned from it", Loc(),
                    "publish a fixed copy of it first ('cabinet export', fix, 'cabinet migrate')"),
            *exc.problems]) from exc


def plan_for(spec):
    """Plan the change from the applied version to ``spec``; return (plan, applied version or None)."""
    version, old = applied()
    return make_plan(old, spec, connection), version


def publish(spec, sources, allow_data_loss=False, note="", origin="", user=None, expected_plan=None,
            expected_base=None):
    """Migrate the database to ``spec`` and publish it as the next version; return (built, plan).

    Planning (with its look at the data), the schema change and the version row are one transaction
    under the publish lock; ``expected_plan`` is the hash of the plan the user confirmed, and any
    other plan is refused; ``expected_base`` (the version number the change was made from) is checked
    under the same lock (``BaseMoved``). The new version is announced once committed, then built and
    activated here.
    """
    version, plan = apply_locked(spec, sources, allow_data_loss, expected_plan, note, origin, user, expected_base)
    number = version.number
    # Announced once committed (at once outside an outer transaction), so other processes start
    # converging while this one builds, and never on a version that was rolled back.
    # The compiled spec is stored first, so the processes that follow the announcement load it, not compile.
    transaction.on_commit(lambda: remember(sources, spec))
    transaction.on_commit(lambda: registry.announce(number))
    built = registry.activate(build_solution(spec, number, sources))
    from ..permissions import sync_permissions, sync_role_groups

    sync_permissions(built)
    sync_role_groups(built)
    return built, plan
