"""The builder's drafts on the resort: edit, plan, publish, confirm, stale drafts, rebase, discard."""
import pytest
from django.contrib.auth import get_user_model

from engine.builder import drafts
from engine.builder.errors import (
    Blocked,
    ConfirmationNeeded,
    DraftHasErrors,
    DraftNotOpen,
    EditError,
    PlanChanged,
    StaleDraft,
)
from engine.builder.models import BuilderLog, Draft
from engine.models import SolutionVersion
from engine.registry import registry


@pytest.fixture
def resort(solution):
    return solution


@pytest.fixture
def admin(db):
    return get_user_model().objects.create_superuser("ada", password="pw-ada-12345", first_name="Ada",
                                                      last_name="Admin")


@pytest.fixture
def other(db):
    return get_user_model().objects.create_superuser("bob", password="pw-bob-12345")


def make_guests(count=3):
    user_model = get_user_model()
    guest = registry.active.model("guest")
    for i in range(count):
        user = user_model.objects.create_user(f"guest{i}", password="pw-guest-12345")
        guest.objects.create(user=user, full_name=f"Guest {i}", email=f"g{i}@example.com",
                             phone="" if i == count - 1 else f"+3100000{i}")
    return guest


def publish_all(draft, user, comment="test"):
    """Publish with every destructive step confirmed (the plan screen's ticks)."""
    view = drafts.plan(draft)
    return drafts.publish(draft, user, comment, view.digest, {s.key for s in view.destructive})


def test_start_copies_the_published_sources_and_base(resort, admin):
    draft = drafts.start(admin, title="Allergies")
    assert draft.base == 1 and draft.status == Draft.OPEN and draft.edits == []
    assert draft.sources == SolutionVersion.objects.get(number=1).sources
    assert draft.created_by == admin


def test_add_field_then_publish_serves_it(resort, admin):
    draft = drafts.start(admin)
    drafts.apply(draft, {"op": "add_field", "entity": "guest", "name": "allergies", "type": "text",
                         "label": {"en": "Allergies", "ru": "Аллергии"}}, admin)
    assert draft.edits[-1]["op"] == "add_field"
    assert "      allergies: {type: text, label: {en: Allergies, ru: Аллергии}}\n" in draft.sources["entities.yaml"]
    view = drafts.plan(draft)
    assert [(s.grade, s.text) for s in view.steps] == [("safe", "add column cabinet_guest.allergies (text)")]
    assert view.base == view.published == 1 and view.number == 2
    version = drafts.publish(draft, admin, "allergies for the kitchen", view.digest, set())
    assert version.number == 2 and version.created_by == admin and version.note == "allergies for the kitchen"
    assert version.origin == f"builder:draft#{draft.pk}"
    assert registry.active.number == 2 and registry.active.spec.entity("guest").field("allergies")
    draft.refresh_from_db()
    assert (draft.status, draft.published_as) == (Draft.PUBLISHED, 2)
    log = BuilderLog.objects.get(action=BuilderLog.PUBLISH)
    assert (log.version, log.user, log.user_label, log.comment, log.digest) == (
        2, admin, "Ada Admin", "allergies for the kitchen", view.digest)
    assert "add column cabinet_guest.allergies" in log.plan


def test_rename_field_keeps_every_value_and_follows_lists(resort, admin):
    guest = make_guests()
    before = sorted(guest.objects.values_list("id", "phone"))
    draft = drafts.start(admin)
    drafts.apply(draft, {"op": "rename_field", "entity": "guest", "field": "phone", "new_name": "mobile"}, admin)
    text = draft.sources["entities.yaml"]
    assert "      mobile: {type: phone, renamed_from: phone, label: {en: Phone, ru: Телефон}}\n" in text
    assert "search: [full_name, email, mobile]" in text
    roles = draft.sources["roles.yaml"]
    assert "view: [full_name, email, mobile, language, loyalty_points]" in roles
    assert "edit: [full_name, email, mobile, language]" in roles
    assert "columns: [full_name, email, mobile, loyalty_points]" in draft.sources["pages.yaml"]
    assert "fields: [full_name, email, mobile, language, loyalty_points]" in draft.sources["chats.yaml"]
    view = drafts.plan(draft)
    assert [s.grade for s in view.steps] == ["caution"]
    assert "rename column cabinet_guest.phone -> mobile" in view.steps[0].text
    publish_all(draft, admin)
    assert sorted(registry.active.model("guest").objects.values_list("id", "mobile")) == before


def test_rename_twice_keeps_the_published_name_and_back_drops_it(resort, admin):
    draft = drafts.start(admin)
    drafts.apply(draft, {"op": "rename_field", "entity": "guest", "field": "phone", "new_name": "mobile"}, admin)
    drafts.apply(draft, {"op": "rename_field", "entity": "guest", "field": "mobile", "new_name": "cell"}, admin)
    assert "cell: {type: phone, renamed_from: phone," in draft.sources["entities.yaml"]
    drafts.apply(draft, {"op": "rename_field", "entity": "guest", "field": "cell", "new_name": "phone"}, admin)
    assert draft.sources == SolutionVersion.objects.get(number=1).sources


def test_removing_a_field_with_data_needs_its_confirmation(resort, admin):
    guest = make_guests(3)
    draft = drafts.start(admin)
    drafts.apply(draft, {"op": "remove_field", "entity": "guest", "field": "phone"}, admin)
    assert "phone" not in draft.sources["roles.yaml"].split("guest:")[1].split("stay:")[0]
    view = drafts.plan(draft)
    (step,) = view.steps
    assert (step.grade, step.rows, step.values, step.blocking) == ("destructive", 3, 2, False)
    assert step.confirm == "Delete the 2 stored value(s) of guest.phone"
    with pytest.raises(ConfirmationNeeded) as caught:
        drafts.publish(draft, admin, "", view.digest, set())
    assert caught.value.steps == [step] and caught.value.status_code == 409
    assert caught.value.fields == {"confirmed": ["Delete the 2 stored value(s) of guest.phone"]}
    assert SolutionVersion.objects.count() == 1 and registry.active.number == 1
    assert guest.objects.exclude(phone="").count() == 2  # the column is still there
    refused = BuilderLog.objects.get(action=BuilderLog.REFUSED)
    assert refused.details["code"] == "confirmation_needed" and refused.draft_id == draft.pk
    drafts.publish(draft, admin, "drop phones", view.digest, {step.key})
    assert registry.active.number == 2
    assert not any(f.name == "phone" for f in registry.active.spec.entity("guest").fields)
    assert registry.active.model("guest").objects.count() == 3


def test_second_admin_from_the_same_base_is_refused_then_rebases(resort, admin, other):
    first = drafts.start(admin)
    second = drafts.start(other)
    drafts.apply(first, {"op": "add_field", "entity": "room", "name": "view", "type": "string",
                         "label": {"en": "View"}}, admin)
    drafts.apply(second, {"op": "set_branding", "primary": "#123456"}, other)
    second_view = drafts.plan(second)
    publish_all(first, admin)
    with pytest.raises(StaleDraft) as caught:
        drafts.publish(second, other, "", second_view.digest, set())
    message = caught.value.message
    assert message.startswith("Version 2 was published by ada at ")
    assert message.endswith("since this draft was started from version 1; rebase it first.")
    assert SolutionVersion.objects.count() == 2
    result = drafts.rebase(second, other)
    assert result.conflicts == [] and second.base == 2
    assert "view:" in second.sources["entities.yaml"] and "#123456" in second.sources["solution.yaml"]
    version = publish_all(second, other)
    assert version.number == 3
    assert registry.active.spec.entity("room").field("view") is not None
    assert dict(registry.active.spec.branding)["primary"] == "#123456"


def test_rebase_names_a_file_changed_on_both_sides(resort, admin, other):
    first, second = drafts.start(admin), drafts.start(other)
    text = first.sources["solution.yaml"]
    drafts.set_file(first, "solution.yaml", text.replace("radius: 12px", "radius: 8px"), admin)
    drafts.set_file(second, "solution.yaml", text.replace("radius: 12px", "radius: 4px"), other)
    drafts.apply(second, {"op": "add_field", "entity": "room", "name": "view", "type": "string",
                          "label": {"en": "View"}}, other)
    publish_all(first, admin)
    result = drafts.rebase(second, other)
    assert len(result.conflicts) == 1
    assert result.conflicts[0].startswith("set_file solution.yaml: ")
    assert "'solution.yaml' was changed in version 2" in result.conflicts[0]
    assert "radius: 8px" in second.sources["solution.yaml"]
    assert [e["op"] for e in second.edits] == ["add_field"]


def test_plan_digest_must_match(resort, admin):
    draft = drafts.start(admin)
    drafts.apply(draft, {"op": "set_branding", "accent": "#abcdef"}, admin)
    with pytest.raises(PlanChanged):
        drafts.publish(draft, admin, "", "000000000000", set())
    assert SolutionVersion.objects.count() == 1


def test_draft_with_errors_cannot_be_planned_or_published(resort, admin):
    draft = drafts.start(admin)
    drafts.set_file(draft, "pages.yaml", draft.sources["pages.yaml"].replace("columns: [name, category, price]",
                                                                           "columns: [name, categry, price]"), admin)
    compiled = drafts.check(draft)
    assert compiled.errors
    found = drafts.problems_at(compiled, "pages.services")
    assert found and all(p.loc.path.startswith("pages.services") for p in found)
    assert found[0].loc.file == "pages.yaml" and found[0].loc.line > 0
    with pytest.raises(DraftHasErrors):
        drafts.plan(draft)
    with pytest.raises(DraftHasErrors):
        drafts.publish(draft, admin, "", "x", set())
    assert BuilderLog.objects.filter(action=BuilderLog.REFUSED).count() == 1


def test_new_required_field_with_rows_is_blocked(resort, admin):
    make_guests(1)
    draft = drafts.start(admin)
    drafts.apply(draft, {"op": "add_field", "entity": "guest", "name": "passport", "type": "string",
                         "required": True, "label": {"en": "Passport"}}, admin)
    view = drafts.plan(draft)
    assert view.steps[0].blocking and view.steps[0].refusal.code == "M004"
    with pytest.raises(Blocked) as caught:
        drafts.publish(draft, admin, "", view.digest, {view.steps[0].key})
    assert "M004" in caught.value.fields["plan"][0]


def test_discard_and_closed_drafts(resort, admin):
    draft = drafts.start(admin)
    drafts.discard(draft, admin)
    assert Draft.objects.get(pk=draft.pk).status == Draft.DISCARDED
    assert BuilderLog.objects.filter(action=BuilderLog.DISCARD, draft=draft).exists()
    with pytest.raises(DraftNotOpen):
        drafts.apply(draft, {"op": "set_branding", "accent": "#abcdef"}, admin)
    with pytest.raises(DraftNotOpen):
        drafts.discard(draft, admin)


def test_a_bad_edit_names_its_argument_and_changes_nothing(resort, admin):
    draft = drafts.start(admin)
    before = dict(draft.sources)
    cases = [
        ({"op": "add_field", "entity": "guest", "name": "Bad Name", "type": "text", "label": {"en": "X"}}, "name"),
        ({"op": "add_field", "entity": "nope", "name": "x", "type": "text", "label": {"en": "X"}}, "entity"),
        ({"op": "add_field", "entity": "guest", "name": "class", "type": "text", "label": {"en": "X"}}, "name"),
        ({"op": "add_field", "entity": "guest", "name": "email", "type": "text", "label": {"en": "X"}}, "name"),
        ({"op": "add_field", "entity": "guest", "name": "x", "type": "colour", "label": {"en": "X"}}, "type"),
        ({"op": "add_field", "entity": "guest", "name": "x", "type": "text", "label": {"de": "X"}}, "label"),
        ({"op": "add_field", "entity": "guest", "name": "x", "type": "text", "label": {"ru": "X"}}, "label"),
        ({"op": "add_field", "entity": "guest", "name": "x", "type": "ref", "label": {"en": "X"}}, "to"),
        ({"op": "add_field", "entity": "guest", "name": "x", "type": "boolean", "label": {"en": "X"},
          "max_length": 3}, "max_length"),
        ({"op": "add_field", "entity": "guest", "name": "x", "type": "text", "label": {"en": "X"}, "evil": 1}, "evil"),
        ({"op": "update_field", "entity": "guest", "field": "nope", "required": True}, "field"),
        ({"op": "rename_field", "entity": "guest", "field": "email", "new_name": "phone"}, "new_name"),
        ({"op": "remove_field", "entity": "service_order", "field": "status"}, "field"),
        ({"op": "move_field", "entity": "guest", "field": "email", "to_index": 99}, "to_index"),
        ({"op": "set_rights", "role": "nobody", "entity": "guest", "actions": ["view"], "scope": "all"}, "role"),
        ({"op": "set_rights", "role": "guest", "entity": "guest", "actions": ["fly"], "scope": "all"}, "actions"),
        ({"op": "set_rights", "role": "guest", "entity": "guest", "actions": ["view"], "scope": "all",
          "view": ["nope"]}, "view"),
        ({"op": "set_branding", "primary": "red; background: url(x)"}, "primary"),
        ({"op": "set_branding", "font": "x}</style><script>"}, "font"),
        ({"op": "set_file", "path": "../etc/passwd", "text": "x"}, "path"),
        ({"op": "set_file", "path": "data/seed.yaml", "text": "x"}, "path"),
        ({"op": "hack"}, "op"),
    ]
    for edit, arg in cases:
        with pytest.raises(EditError) as caught:
            drafts.apply(draft, edit, admin)
        assert arg in caught.value.fields, (edit, caught.value.fields)
        assert caught.value.status_code == 400
        draft.refresh_from_db()
        assert draft.sources == before and draft.edits == []


def test_set_rights_and_move_field(resort, admin):
    draft = drafts.start(admin)
    drafts.apply(draft, {"op": "add_field", "entity": "guest", "name": "allergies", "type": "text",
                         "label": {"en": "Allergies", "ru": "Аллергии"}}, admin)
    drafts.apply(draft, {"op": "set_rights", "role": "guest", "entity": "guest", "actions": ["list", "view", "update"],
                         "scope": "own", "view": ["full_name", "email", "phone", "language", "loyalty_points",
                                                  "allergies"],
                         "edit": ["full_name", "email", "phone", "language", "allergies"]}, admin)
    drafts.apply(draft, {"op": "move_field", "entity": "guest", "field": "allergies", "to_index": 2}, admin)
    spec = drafts.check(draft).spec
    assert [f.name for f in spec.entity("guest").fields][:4] == ["user", "full_name", "allergies", "email"]
    grant = next(g for g in spec.role("guest").grants if g.entity == "guest")
    assert "allergies" in grant.view_fields and "allergies" in grant.edit_fields
    drafts.apply(draft, {"op": "set_rights", "role": "reception", "entity": "points_entry", "scope": None}, admin)
    assert "points_entry" not in [g.entity for g in drafts.check(draft).spec.role("reception").grants]
    assert "      service_order: {actions: [list, view, update, accept, deliver, cancel], scope: all}\n" in \
        draft.sources["roles.yaml"]


def test_set_file_keeps_line_ends_and_records_the_base_digest(resort, admin):
    draft = drafts.start(admin)
    text = draft.sources["solution.yaml"].replace("radius: 12px", "radius: 8px")
    drafts.set_file(draft, "solution.yaml", text.replace("\n", "\r\n"), admin)
    assert draft.sources["solution.yaml"] == text
    (edit,) = draft.edits
    assert edit["op"] == "set_file" and edit["path"] == "solution.yaml" and len(edit["before"]) == 16
    drafts.set_file(draft, "extra/notes.yaml", "# nothing yet\nwebhooks: {}\n", admin)
    assert draft.edits[-1]["before"] is None and "extra/notes.yaml" in draft.sources
    drafts.apply(draft, {"op": "remove_file", "path": "extra/notes.yaml"}, admin)
    assert "extra/notes.yaml" not in draft.sources and draft.edits[-1]["op"] == "remove_file"
