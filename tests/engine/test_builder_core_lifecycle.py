"""The builder's git round trip, rollback, diffs and the publish lock's base check."""
import io
import shutil
import threading
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection

from engine.builder import diff, drafts
from engine.builder.errors import ImportFailed, NotFound, StaleDraft
from engine.builder.importer import write_folder
from engine.builder.models import BuilderLog, Draft
from engine.compiler import compile_sources
from engine.migrate import BaseMoved, publish
from engine.models import SolutionVersion
from engine.registry import registry

RESORT = Path("solutions/resort")


@pytest.fixture
def resort(solution):
    return solution


@pytest.fixture
def admin(db):
    return get_user_model().objects.create_superuser("ada", password="pw-ada-12345")


def publish_all(draft, user, comment=""):
    view = drafts.plan(draft)
    return drafts.publish(draft, user, comment, view.digest, {s.key for s in view.destructive})


def test_export_then_import_is_a_noop_and_byte_identical(resort, admin, tmp_path):
    files = drafts.export_files()
    write_folder(files, tmp_path)
    for path in RESORT.glob("*.yaml"):
        assert (tmp_path / path.name).read_bytes() == path.read_bytes()  # the consultant's comments and layout
    draft = drafts.import_folder(str(tmp_path), admin)
    assert draft.origin == f"import:{tmp_path}" and draft.edits == [] and draft.base == 1
    view = drafts.plan(draft)
    assert view.is_noop and view.steps == [] and "(no schema change)" in view.text
    assert BuilderLog.objects.get(action=BuilderLog.IMPORT).details["changed"] == []


def test_files_changed_in_git_import_as_a_draft_with_a_plan(resort, admin, tmp_path):
    shutil.copytree(RESORT, tmp_path / "resort")
    folder = tmp_path / "resort"
    text = (folder / "entities.yaml").read_text()
    text = text.replace("      floor: {type: integer", "      sea_view: {type: boolean, default: false, label: {en: Sea "
                        "view}}\n      floor: {type: integer")
    (folder / "entities.yaml").write_text(text)
    out = io.StringIO()
    call_command("cabinet", "draft", "import", str(folder), "--user", "ada", stdout=out, stderr=io.StringIO())
    draft = Draft.objects.get()
    assert draft.created_by == admin and [e["path"] for e in draft.edits] == ["entities.yaml"]
    printed = out.getvalue()
    assert f"Draft #{draft.pk} on version 1: set entities.yaml." in printed
    assert "[safe] add column cabinet_room.sea_view (boolean, default False)" in printed
    assert "Plan hash: " in printed
    listing = io.StringIO()
    call_command("cabinet", "drafts", stdout=listing)
    assert f"#{draft.pk}  open  on v1" in listing.getvalue() and f"import:{folder}" in listing.getvalue()
    publish_all(draft, admin)
    assert drafts.export_files(2)["entities.yaml"] == text


def test_import_of_a_missing_or_unreadable_folder_is_refused(resort, admin, tmp_path):
    with pytest.raises(ImportFailed) as caught:
        drafts.import_folder(str(tmp_path / "nope"), admin)
    assert caught.value.fields == {"path": ["no such folder"]}
    (tmp_path / "bad.yaml").write_bytes(b"solution: \xff\xfe\n")
    with pytest.raises(ImportFailed) as caught:
        drafts.import_folder(str(tmp_path), admin)
    assert "not valid UTF-8" in caught.value.fields["path"][0]
    assert not Draft.objects.exists()
    with pytest.raises(NotFound):
        drafts.export_files(7)


def test_rollback_goes_through_the_plan_and_publishes_a_new_number(resort, admin):
    guest = registry.active.model("guest")
    user = get_user_model().objects.create_user("g", password="pw-g-1234567")
    guest.objects.create(user=user, full_name="Gina")
    draft = drafts.start(admin)
    drafts.apply(draft, {"op": "add_field", "entity": "guest", "name": "allergies", "type": "text",
                         "label": {"en": "Allergies", "ru": "Аллергии"}}, admin)
    publish_all(draft, admin)
    registry.active.model("guest").objects.update(allergies="nuts")
    back = drafts.rollback_draft(1, admin)
    assert back.origin == "rollback:v1" and back.base == 2 and [e["path"] for e in back.edits] == ["entities.yaml"]
    view = drafts.plan(back)
    (step,) = view.steps
    assert step.grade == "destructive" and step.confirm == "Delete the 1 stored value(s) of guest.allergies"
    with pytest.raises(drafts.ConfirmationNeeded):
        drafts.publish(back, admin, "undo", view.digest, set())
    version = drafts.publish(back, admin, "undo", view.digest, {step.key})
    assert version.number == 3 and version.sources == SolutionVersion.objects.get(number=1).sources
    assert list(registry.active.model("guest").objects.values_list("full_name", flat=True)) == ["Gina"]
    assert BuilderLog.objects.get(action=BuilderLog.ROLLBACK).version == 3
    with pytest.raises(drafts.EditError) as caught:
        drafts.rollback_draft(3, admin)
    assert "number" in caught.value.fields


def test_diff_files_and_words(resort, admin):
    draft = drafts.start(admin)
    drafts.apply(draft, {"op": "add_field", "entity": "guest", "name": "allergies", "type": "text",
                         "label": {"en": "Allergies", "ru": "Аллергии"}}, admin)
    drafts.apply(draft, {"op": "rename_field", "entity": "room", "field": "floor", "new_name": "level"}, admin)
    drafts.apply(draft, {"op": "order_menu", "pages": ["services", "home"]}, admin)
    drafts.apply(draft, {"op": "set_rights", "role": "guest", "entity": "guest", "actions": ["list", "view", "update"],
                         "scope": "own", "view": ["full_name", "email", "phone", "language", "loyalty_points",
                                                  "allergies"], "edit": ["full_name", "allergies"]}, admin)
    publish_all(draft, admin)
    a, b = drafts.export_files(1), drafts.export_files(2)
    found = {d.path: d for d in diff.files(a, b)}
    assert found["chats.yaml"].status == "equal" and found["entities.yaml"].status == "changed"
    added = [r for r in found["entities.yaml"].rows if r.kind == "added"]
    assert [r.right for r in added] == ["      allergies: {type: text, label: {en: Allergies, ru: Аллергии}}"]
    changed = [r for r in found["entities.yaml"].rows if r.kind == "changed"]
    assert changed[0].left.strip().startswith("floor:") and changed[0].right.strip().startswith("level:")
    sentences = diff.words(compile_sources(a).spec, compile_sources(b).spec)
    assert "Field 'Allergies' (guest.allergies) added" in sentences
    assert "Field 'Floor' renamed from room.floor to room.level" in sentences
    assert "Role 'guest' may now see guest.allergies" in sentences
    assert "Role 'guest' may no longer edit guest.email" in sentences
    assert "Page 'home' moved in the menu" in sentences and "Page 'services' moved in the menu" in sentences


def test_publish_refuses_a_moved_base_under_the_lock(resort):
    compiled = compile_sources(SolutionVersion.objects.get(number=1).sources)
    with pytest.raises(BaseMoved) as caught:
        publish(compiled.spec, compiled.sources, expected_base=0)
    assert caught.value.current.number == 1 and caught.value.problems[0].code == "M006"
    assert SolutionVersion.objects.count() == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="two connections racing need PostgreSQL")
def test_two_admins_racing_cannot_both_publish(resort, admin):
    one, two = drafts.start(admin), drafts.start(admin)
    for d, name in ((one, "one"), (two, "two")):
        drafts.apply(d, {"op": "add_field", "entity": "room", "name": name, "type": "string",
                         "label": {"en": name}}, admin)
    views = {d.pk: drafts.plan(d) for d in (one, two)}
    results, barrier = {}, threading.Barrier(2)

    def run(d):
        barrier.wait()
        try:
            results[d.pk] = drafts.publish(d, admin, "", views[d.pk].digest, set()).number
        except StaleDraft as exc:
            results[d.pk] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(d,)) for d in (one, two)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    outcomes = sorted(results.values(), key=lambda r: isinstance(r, StaleDraft))
    assert outcomes[0] == 2 and isinstance(outcomes[1], StaleDraft)
    assert SolutionVersion.objects.count() == 2
