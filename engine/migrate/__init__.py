"""Safe schema evolution: plan the change from the applied version, then apply it atomically."""
from __future__ import annotations

from django.db import connection

from ..compiler import compile_sources
from ..models import SolutionVersion
from ..registry import build_solution, registry
from .apply import MigrationError, apply_plan
from .plan import Plan, make_plan

__all__ = ["MigrationError", "Plan", "applied", "make_plan", "plan_for", "publish"]


def applied():
    """Return (version, spec) of the latest applied version, or (None, None)."""
    version = SolutionVersion.objects.order_by("-number").first()
    if version is None:
        return None, None
    return version, compile_sources(version.sources).raise_for_errors()


def plan_for(spec):
    """Plan the change from the applied version to ``spec``; return (plan, applied version or None)."""
    version, old = applied()
    return make_plan(old, spec, connection), version


def publish(spec, sources, allow_data_loss=False, note="", origin="", user=None):
    """Migrate the database to ``spec`` and publish it as the next version; return the built version.

    The schema change and the version row are one transaction. The new version is then built,
    activated in this process and announced to the others.
    """
    plan, current = plan_for(spec)
    number = (current.number if current else 0) + 1
    apply_plan(plan, number, sources, allow_data_loss, note, origin, user)
    registry.announce(number)  # first, so other processes start converging while this one builds
    built = registry.activate(build_solution(spec, number, sources))
    from ..permissions import sync_permissions, sync_role_groups

    sync_permissions(built)
    sync_role_groups(built)
    return built, plan
