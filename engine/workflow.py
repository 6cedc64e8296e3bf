"""Workflow transitions: kept for imports; the write path (``engine.writes``) owns them now."""
from .writes import StateConflict as InvalidState
from .writes import allowed, transitions_of
from .writes import transition as _transition


def fire(access, entity, obj, name):
    """Move ``obj`` along transition ``name`` (as the API does); see ``engine.writes.transition``."""
    return _transition(access, entity, obj, name, source="api")


__all__ = ["InvalidState", "allowed", "fire", "transitions_of"]
