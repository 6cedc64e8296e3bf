"""The registry: built to the side, swapped whole, and every process converges on the published version."""
import threading

import pytest
from django.apps import apps
from django.core.cache import cache

from engine.compiler import compile_sources
from engine.models import SolutionVersion, digest_sources
from engine.registry import VERSION_KEY, Registry, RegistryNotReady, build_solution, registry
from tests.conftest import HEADER, dedent

V1 = "entities:\n  note:\n    title: text\n    fields:\n      text: string\n"
V2 = V1 + "      stars: {type: integer, default: 3}\n  tag:\n    fields:\n      name: string\n"


def test_not_ready_until_populated():
    fresh = Registry()
    assert not fresh.ready
    with pytest.raises(RegistryNotReady, match="cabinet migrate"):
        fresh.active  # noqa: B018


def test_building_to_the_side_does_not_touch_the_active_version(publish_yaml):
    built, _ = publish_yaml(V1)
    spec2 = compile_sources({"s.yaml": HEADER + dedent(V2)}).raise_for_errors()
    side = build_solution(spec2, 2)
    assert registry.active is built
    assert apps.get_model("cabinet", "note") is built.model("note")
    assert side.model("note") is not built.model("note")
    with pytest.raises(LookupError):
        apps.get_model("cabinet", "tag")


def test_publish_swaps_models_urls_and_admin_whole(publish_yaml, admin_client):
    v1, _ = publish_yaml(V1)
    assert admin_client.get("/admin/cabinet/tag/").status_code == 404
    v2, _ = publish_yaml(V2)
    assert registry.active is v2 and v2.number == 2
    assert apps.get_model("cabinet", "tag") is v2.model("tag")
    assert "stars" in [f.name for f in apps.get_model("cabinet", "note")._meta.fields]
    assert admin_client.get("/admin/cabinet/tag/").status_code == 200
    note = v2.model("note").objects.create(text="hi")
    assert note.stars == 3


def test_another_process_converges_on_the_published_version(publish_yaml):
    """A second Registry stands for another worker: it follows the number in the database."""
    publish_yaml(V1)
    worker = Registry()
    assert worker.ensure_current().number == 1
    publish_yaml(V2)
    assert worker.ensure_current().number == 2
    assert worker.active.spec == registry.active.spec


def test_a_publish_seen_only_in_the_database_is_picked_up(publish_yaml, settings):
    """Another machine published (the cache here knows nothing): the version TTL bounds the delay."""
    publish_yaml(V1)
    worker = Registry()
    worker.ensure_current()
    sources = {"s.yaml": HEADER + dedent(V2)}
    # Written as a publisher elsewhere would (its schema change is not needed for this check).
    SolutionVersion.objects.create(number=2, solution="test", sources=sources, digest=digest_sources(sources))
    assert worker.ensure_current().number == 1  # still cached
    cache.delete(VERSION_KEY)  # the TTL ran out
    assert worker.ensure_current().number == 2


def test_only_one_thread_rebuilds_while_others_keep_serving(publish_yaml):
    publish_yaml(V1)
    worker = Registry()
    old = worker.ensure_current()
    publish_yaml(V2)
    worker._lock.acquire()  # another thread is rebuilding
    try:
        assert worker.ensure_current() is old
    finally:
        worker._lock.release()
    results = []
    threads = [threading.Thread(target=lambda: results.append(worker.ensure_current().number)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(results) <= {1, 2} and worker.ensure_current().number == 2


def test_nothing_published_answers_503_not_a_traceback(schema, client):
    response = client.get("/")
    assert response.status_code == 503
    assert b"No solution version is published yet" in response.content


def test_stored_sources_rebuild_the_same_spec(publish_yaml):
    built, _ = publish_yaml(V2)
    fresh = Registry()
    assert fresh.populate().spec == built.spec
