"""The shared cache of compiled specs: a process following a publish loads the spec instead of compiling."""
import pickle

import pytest
from django.core.cache import caches

from engine import speccache
from engine.compiler import compile_folder
from engine.errors import SolutionError
from engine.models import digest_sources

pytestmark = pytest.mark.django_db


@pytest.fixture
def resort_sources(settings):
    compiled = compile_folder(settings.BASE_DIR / "solutions" / "resort")
    return compiled.sources, compiled.raise_for_errors()


def test_a_remembered_spec_is_loaded_without_compiling(resort_sources, monkeypatch):
    sources, spec = resort_sources
    speccache.remember(sources, spec)
    monkeypatch.setattr(speccache, "compile_sources", lambda *a: pytest.fail("compiled again"))
    assert speccache.spec_of(sources) == spec


def test_a_miss_compiles_and_stores_for_the_next_process(resort_sources):
    sources, spec = resort_sources
    caches["specs"].delete(speccache._key(digest_sources(sources)))
    assert speccache.spec_of(sources) == spec
    assert pickle.loads(caches["specs"].get(speccache._key(digest_sources(sources)))) == spec  # noqa: S301


def test_a_value_that_no_longer_loads_is_a_miss(resort_sources):
    sources, spec = resort_sources
    caches["specs"].set(speccache._key(digest_sources(sources)), b"not a pickle")
    assert speccache.spec_of(sources) == spec


def test_sources_with_errors_raise_as_compiling_does():
    with pytest.raises(SolutionError):
        speccache.spec_of({"solution.yaml": "solution: {name: x}\nentities: {a: {fields: {b: {type: monye}}}}\n"})


def test_the_key_names_the_engine_code_so_another_engine_never_reads_it(resort_sources):
    sources, _ = resort_sources
    assert speccache.engine_fingerprint() in speccache._key(digest_sources(sources))
