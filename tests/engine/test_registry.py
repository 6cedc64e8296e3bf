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


def test_another_registry_converges_on_the_published_version(publish_yaml):
    """A second Registry follows the number in the database (same process and cache: the real
    multi-process check is tests/engine/test_hot_reload.py)."""
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
    results, errors = [], []

    def serve():
        try:
            results.append(worker.ensure_current().number)
        except Exception as exc:  # noqa: BLE001 (a thread's failure must reach the assertion)
            errors.append(exc)

    threads = [threading.Thread(target=serve) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == [] and len(results) == 4
    assert set(results) <= {1, 2} and worker.ensure_current().number == 2


def test_nothing_published_answers_503_not_a_traceback(schema, client):
    response = client.get("/")
    assert response.status_code == 503
    assert b"No solution version is published yet" in response.content


def test_stored_sources_rebuild_the_same_spec(publish_yaml):
    built, _ = publish_yaml(V2)
    fresh = Registry()
    assert fresh.populate().spec == built.spec


REFS = V1 + "      tags: {type: refs, to: tag}\n  tag:\n    fields:\n      name: string\n"


def test_a_rebuilt_version_prefetches_refs(publish_yaml):
    """A version rebuilt from the database (as another process does) knows its reverse relations."""
    built, _ = publish_yaml(REFS)
    tag = built.model("tag").objects.create(name="red")
    built.model("note").objects.create(text="a").tags.add(tag)
    for _ in range(3):  # rebuild again and again, as processes following publishes do
        rebuilt = Registry().populate()
        notes = list(rebuilt.model("note").objects.prefetch_related("tags"))
        assert [[t.name for t in n.tags.all()] for n in notes] == [["red"]]
        assert rebuilt.model("tag")._meta.get_field("note_by_tags").related_model is rebuilt.model("note")


def test_a_stored_version_that_does_not_build_keeps_the_last_one_served(publish_yaml, caplog, settings):
    settings.CABINET_VERSION_RETRY = 3600
    publish_yaml(V1)
    worker = Registry()
    assert worker.ensure_current().number == 1
    broken = {"s.yaml": HEADER + dedent(V1).replace("type: string", "type: nonsense").replace("text: string",
                                                                                              "text: nonsense")}
    SolutionVersion.objects.create(number=2, solution="test", sources=broken, digest=digest_sources(broken))
    cache.delete(VERSION_KEY)
    with caplog.at_level("ERROR", logger="engine.registry"):
        assert worker.ensure_current().number == 1
    assert [r.levelname for r in caplog.records] == ["ERROR"]
    assert caplog.records[0].getMessage().startswith("version 2 does not build under this engine (")
    status = worker.status()
    assert (status["published"], status["active"]) == (2, 1)
    assert status["error"].startswith("version 2 does not build: ")
    caplog.clear()
    assert worker.ensure_current().number == 1 and caplog.records == []  # not retried on every request
    fresh = Registry()  # a process that starts now serves the newest version that builds
    with caplog.at_level("ERROR", logger="engine.registry"):
        assert fresh.ensure_current().number == 1
    worker._retry_at = 0.0  # the retry delay ran out
    good = {"s.yaml": HEADER + dedent(V2)}
    SolutionVersion.objects.filter(number=2).update(sources=good, digest=digest_sources(good))
    assert worker.ensure_current().number == 2
    assert worker.status() == {"published": 2, "active": 2, "error": None}


def test_publish_records_the_engine_version(publish_yaml):
    publish_yaml(V1)
    assert SolutionVersion.objects.get(number=1).engine_version not in ("", "unknown")


def test_celery_workers_and_beat_follow_the_published_version(publish_yaml):
    """Before every task (and when a worker or beat starts) the process serves the published version."""
    from celery import signals

    publish_yaml(V1)
    sources = {"s.yaml": HEADER + dedent(V2)}
    registry.deactivate()  # a worker process that has built nothing yet
    signals.worker_process_init.send(sender=None)
    assert registry.active.number == 1
    SolutionVersion.objects.create(number=2, solution="test", sources=sources, digest=digest_sources(sources))
    cache.delete(VERSION_KEY)  # published by another machine; the TTL ran out
    signals.task_prerun.send(sender=None, task_id="t", task=None, args=(), kwargs={})
    assert registry.active.number == 2
    assert apps.get_model("cabinet", "tag") is registry.active.model("tag")


@pytest.mark.postgres
def test_a_publish_is_announced_only_when_it_commits(publish_yaml):
    from django.db import connection, transaction

    if connection.vendor != "postgresql":
        pytest.skip("SQLite cannot change its schema inside an outer transaction")
    publish_yaml(V1)
    compiled = compile_sources({"s.yaml": HEADER + dedent(V2)})
    from engine.migrate import publish

    cache.delete(VERSION_KEY)
    with transaction.atomic():
        publish(compiled.raise_for_errors(), compiled.sources)
        assert cache.get(VERSION_KEY) is None  # not yet: the transaction may still roll back
    assert cache.get(VERSION_KEY) == 2
