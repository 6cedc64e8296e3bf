"""No YAML a user can write makes the compiler raise: every input ends in a spec or in located problems;
whatever passes the checks builds, migrates on a fresh database and serves (see also test_dsl_fuzz.py)."""
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.compiler import compile_sources
from engine.errors import CATALOG
from tests.engine.test_dsl_fuzz import superuser as superuser_fixture

superuser = superuser_fixture

WORDS = st.sampled_from([
    "solution", "entities", "roles", "pages", "workflows", "name", "fields", "type", "string", "ref", "to", "user",
    "required", "default", "choices", "label", "en", "ru", "scope", "own", "all", "actions", "list", "kind", "entity",
    "states", "transitions", "from", "title", "owner", "indexes", "min", "max", "max_length", "a", "b", "$user",
])
SCALARS = st.one_of(WORDS, st.integers(-5, 5), st.booleans(), st.none(), st.floats(allow_nan=False), st.text(max_size=5))
TREES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(WORDS, inner, max_size=5)), max_leaves=30)


def assert_clean(result):
    for problem in result.problems:
        assert problem.code in CATALOG
        assert problem.message
        assert len(str(problem).splitlines()) == 1, repr(str(problem))
    assert (result.spec is None) == bool(result.errors)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_arbitrary_bytes(raw):
    assert_clean(compile_sources({"a.yaml": raw}))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(list("ab:-[]{}&*!|>'\"#\n\t ,?%@`\\") + ["solution", "entities", "  "]),
                max_size=60))
def test_yaml_punctuation_soup(pieces):
    assert_clean(compile_sources({"a.yaml": "".join(pieces)}))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["entities", "roles", "pages", "workflows"]), TREES, max_size=4), TREES)
def test_structured_nonsense(sections, solution):
    doc = {"solution": solution, **sections}
    assert_clean(compile_sources({"a.yaml": yaml.safe_dump(doc, allow_unicode=True)}))


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.dictionaries(st.sampled_from(["a", "b", "c", "a_b", "b_"]), st.fixed_dictionaries(
    {"fields": st.dictionaries(st.sampled_from(["x", "y", "user", "id", "z", "b", "a_by_x", "spec", "b_x"]), st.one_of(
        st.sampled_from(["string", "integer", "ref", "refs", "choice", "date", "json", "decimal"]),
        st.dictionaries(st.sampled_from(["type", "to", "required", "default", "choices", "unique", "min", "max",
                                         "max_length", "renamed_from", "on_delete", "max_digits"]), TREES, max_size=5)),
        min_size=1, max_size=4)},
    optional={"title": WORDS, "owner": WORDS, "ordering": st.lists(WORDS, max_size=2)}), max_size=3))
def test_entity_shaped_nonsense(superuser, entities):
    from tests.engine.test_dsl_fuzz import publish_and_serve

    doc = {"solution": {"name": "s"}, "entities": entities}
    result = compile_sources({"a.yaml": yaml.safe_dump(doc)})
    assert_clean(result)
    if result.spec is not None:  # whatever passes the checks must also build, migrate and serve
        publish_and_serve(result, superuser)
