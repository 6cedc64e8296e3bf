"""Hooks into every write: capability packages (rules, workflows, timers) register functions per stage.

Stages run in this order inside the write's transaction; an exception in any of them rolls back the
whole write, the row, its audit record and everything the hooks wrote:

- ``prepare``: before validation (defaults, sequence numbers);
- ``validate``: before the write, row-local checks (raise ``RuleViolation``, ``GuardRefused``);
- ``lock``: lock parent rows before the write (``select_for_update``);
- ``write``: right after the row is saved (or deleted);
- ``check``: after the write, checks over several rows;
- ``effects``: actions, triggers, timers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STAGES = ("prepare", "validate", "lock", "write", "check", "effects")
_registry = {stage: [] for stage in STAGES}


@dataclass
class WriteContext:
    """One write as the hooks see it; ``obj`` is the row being written (already locked for a change)."""

    access: Any
    built: Any
    entity: Any  # EntitySpec
    model: type
    action: str  # create | update | delete | transition
    obj: Any
    old: dict | None  # plain values before the write ({field: value}, refs as ids); None on create
    data: dict  # the input, model values
    transition: Any = None  # TransitionSpec
    workflow: Any = None  # WorkflowSpec
    source: str = "system"  # api | page | admin | import | system
    now: Any = None
    env: Any = None  # the expression environment (engine.expr.Env), when that package is present
    audit: dict = field(default_factory=dict)  # details merged into the audit record
    changed: set = field(default_factory=set)  # fields whose value the write changes


def register(stage, fn):
    """Run ``fn(ctx)`` at ``stage`` of every write (once, however often it is registered)."""
    if stage not in _registry:
        raise ValueError(f"unknown write stage {stage!r}; stages: {', '.join(STAGES)}")
    if fn not in _registry[stage]:
        _registry[stage].append(fn)


def unregister(stage, fn):
    """Stop running ``fn`` at ``stage`` (tests that register a hook for a while)."""
    if fn in _registry.get(stage, ()):
        _registry[stage].remove(fn)


def run(stage, ctx):
    for fn in tuple(_registry[stage]):
        fn(ctx)
