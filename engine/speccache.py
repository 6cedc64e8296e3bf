"""A shared cache of compiled specs, so a process following a publish builds without compiling again.

Compiling a large solution takes seconds (the 200-entity benchmark: about 3 s); loading its pickled spec
takes about 0.1 s. The publisher stores the spec it compiled under the digest of the version's sources
and a fingerprint of the engine's code (a changed engine never reads a spec an older one made); every
other process that follows the publish finds it in the cache ``specs`` (Redis in production, files under
``var/cache/specs`` on one machine) and compiles only on a miss. The cache is Django's, which pickles values
anyway; a value that no longer loads is a miss.
"""
from __future__ import annotations

import hashlib
import logging
import pickle
from functools import cache
from pathlib import Path

from django.core.cache import caches

from .compiler import compile_sources
from .models import digest_sources

log = logging.getLogger("engine.registry")
TIMEOUT = 7 * 24 * 3600
LOAD_ERRORS = (pickle.UnpicklingError, AttributeError, ImportError, EOFError, TypeError, ValueError, IndexError)


@cache
def engine_fingerprint():
    """A digest of the engine's Python sources: specs pickled by other code are never read."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _key(digest):
    return f"cabinet:spec:{engine_fingerprint()}:{digest}"


def _store(key, spec):
    try:
        data = pickle.dumps(spec, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError):  # a spec that cannot be stored is compiled
        log.warning("a compiled spec cannot be pickled; other processes will compile it", exc_info=True)
        return
    caches["specs"].set(key, data, timeout=TIMEOUT)


def remember(sources, spec):
    """Store ``spec``, compiled from ``sources``, for the other processes."""
    _store(_key(digest_sources(sources)), spec)


def spec_of(sources, digest=None):
    """The spec of ``sources``: from the cache when a process stored it, else compiled (and stored).

    Raise ``SolutionError`` when the sources do not compile, as ``compile_sources(...).raise_for_errors()``.
    """
    key = _key(digest or digest_sources(sources))
    data = caches["specs"].get(key)
    if data is not None:
        try:
            return pickle.loads(data)  # noqa: S301 (written by this engine's own publishers into its own cache)
        except LOAD_ERRORS:
            log.warning("a cached spec does not load; compiling the version again", exc_info=True)
    spec = compile_sources(sources).raise_for_errors()
    _store(key, spec)
    return spec
