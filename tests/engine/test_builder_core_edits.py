"""Every structured edit on the resort's files: the YAML it writes compiles to the intended spec."""
import pytest
from django.contrib.auth import get_user_model

from engine.builder import drafts, edits
from engine.builder.errors import EditError
from engine.compiler import compile_folder, compile_sources
from engine.registry import registry

SOURCES = compile_folder("solutions/resort").sources


def apply(*ops, sources=SOURCES):
    for edit in ops:
        sources = edits.run(sources, edit, SOURCES)
    compiled = compile_sources(sources)
    assert not compiled.errors, compiled.errors
    return sources, compiled.spec


def refused(edit, sources=SOURCES):
    with pytest.raises(EditError) as caught:
        edits.run(sources, edit, SOURCES)
    return caught.value.fields


def test_entities_add_update_rename_remove():
    sources, spec = apply(
        {"op": "add_entity", "name": "spa_slot", "label": {"en": "Spa slot", "ru": "Слот СПА"},
         "plural": {"en": "Spa slots", "ru": "Слоты СПА"}},
        {"op": "add_field", "entity": "spa_slot", "name": "starts_at", "type": "datetime", "required": True,
         "label": {"en": "Starts at"}},
        {"op": "add_field", "entity": "spa_slot", "name": "guest", "type": "ref", "to": "guest", "on_delete": "cascade",
         "label": {"en": "Guest"}},
        {"op": "update_entity", "entity": "spa_slot", "ordering": ["-starts_at"], "search": ["name"]},
    )
    slot = spec.entity("spa_slot")
    assert [f.name for f in slot.fields] == ["name", "starts_at", "guest"] and slot.ordering == ("-starts_at",)
    assert slot.field("guest").to == "guest" and slot.field("guest").on_delete == "cascade"
    assert "  spa_slot:\n    label: {en: Spa slot, ru: Слот СПА}\n" in sources["entities.yaml"]
    sources, spec = apply({"op": "rename_entity", "entity": "room", "new_name": "chamber"})
    assert spec.entity("chamber").renamed_from == "room" and spec.entity("stay").field("room").to == "chamber"
    assert "chamber" in [g.entity for g in spec.role("guest").grants]
    assert "room" not in [g.entity for g in spec.role("reception").grants]
    _, spec = apply({"op": "remove_entity", "entity": "spa_slot"}, sources=apply(
        {"op": "add_entity", "name": "spa_slot", "label": {"en": "Spa slot"}, "plural": {"en": "Spa slots"}})[0])
    assert spec.entity("spa_slot") is None
    assert "entities.stay.fields.room" in refused({"op": "remove_entity", "entity": "room"})["entity"][0]
    assert "already" in refused({"op": "add_entity", "name": "guest", "label": {"en": "G"},
                                 "plural": {"en": "Gs"}})["name"][0]
    assert refused({"op": "add_entity", "name": "user", "label": {"en": "U"}, "plural": {"en": "Us"}})["name"]


def test_fields_update_choices_and_defaults():
    _, spec = apply(
        {"op": "update_field", "entity": "room", "field": "kind",
         "choices": [{"value": "standard", "label": {"en": "Standard"}}, {"value": "deluxe", "label": {"en": "Deluxe"}},
                     {"value": "suite", "label": {"en": "Suite"}}, {"value": "villa", "label": {"en": "Villa"}}]},
        {"op": "update_field", "entity": "room", "field": "floor", "max": 80, "help": {"en": "Ground floor is 0"}},
        {"op": "update_field", "entity": "guest", "field": "email", "label": {"en": "E-mail", "ru": "Почта"}},
    )
    assert spec.entity("room").field("kind").choice_values[-1] == "villa"
    assert spec.entity("room").field("floor").max_value == 80
    assert spec.entity("guest").field("email").label.get("en") == "E-mail"
    assert "default" in refused({"op": "update_field", "entity": "room", "field": "kind", "default": "castle"})
    assert "max" in refused({"op": "update_field", "entity": "room", "field": "floor", "min": 10, "max": 5})
    assert "choices" in refused({"op": "add_field", "entity": "room", "name": "x", "type": "choice",
                                 "label": {"en": "X"}})
    assert "label" in refused({"op": "update_field", "entity": "room", "field": "floor", "label": None})


def test_roles_and_scopes():
    _, spec = apply(
        {"op": "add_role", "name": "housekeeping", "label": {"en": "Housekeeping", "ru": "Уборка"}, "staff": True},
        {"op": "set_rights", "role": "housekeeping", "entity": "room", "actions": ["list", "view"], "scope": "all",
         "view": ["number", "floor"]},
        {"op": "set_rights", "role": "guest", "entity": "stay", "actions": ["list", "view"],
         "scope": {"guest.user": "$user", "status": "in_house"}},
    )
    grant = spec.role("housekeeping").grants[0]
    assert (grant.entity, grant.actions, grant.view_fields) == ("room", ("list", "view"), ("number", "floor"))
    assert spec.role("housekeeping").staff
    assert "scope" in refused({"op": "set_rights", "role": "guest", "entity": "stay", "actions": ["view"],
                               "scope": {"nope.user": "$user"}})
    assert "scope" in refused({"op": "set_rights", "role": "guest", "entity": "stay", "actions": ["view"],
                               "scope": {"status": [{"x": 1}]}})
    sources, spec = apply(
        {"op": "set_rights", "role": "guest", "entity": "stay", "actions": ["list", "view"],
         "scope": {"guest.user": "$user", "status": ["booked", "in_house"]}},
        {"op": "set_rights", "role": "guest", "entity": "booking", "actions": ["list", "view", "create", "cancel"],
         "scope": "guest.user == $user or status == 'confirmed'"})
    assert "        scope: {guest.user: $user, status: [booked, in_house]}\n" in sources["roles.yaml"]
    assert "        scope: \"guest.user == $user or status == 'confirmed'\"\n" in sources["roles.yaml"]
    assert next(g for g in spec.role("guest").grants if g.entity == "booking").scope == \
        "guest.user == $user or status == 'confirmed'"
    assert "actions" in refused({"op": "set_rights", "role": "guest", "entity": "stay", "actions": ["accept"],
                                 "scope": "all"})


def test_pages_and_menu():
    sources, spec = apply(
        {"op": "add_page", "name": "rooms", "kind": "list", "entity": "room", "title": {"en": "Rooms"},
         "roles": ["reception"], "icon": "bed", "columns": ["number", "kind"]},
        {"op": "update_page", "page": "rooms", "columns": ["number", "kind", "floor"], "menu": "section",
         "parent": "guests"},
        {"op": "order_menu", "pages": ["services", "home", "my_orders"]},
    )
    assert spec.page("rooms").columns == ("number", "kind", "floor") and spec.page("rooms").parent == "guests"
    assert [spec.page(p).order for p in ("services", "home", "my_orders")] == [1, 2, 3]
    assert "    icon: bell\n    order: 1\n" in sources["pages.yaml"]
    _, spec = apply({"op": "remove_page", "page": "rooms"}, sources=sources)
    assert spec.page("rooms") is None
    assert "solution.home.guest" in refused({"op": "remove_page", "page": "home"})["page"][0]
    assert "pages.order_service.parent" in refused({"op": "remove_page", "page": "my_orders"})["page"][0]
    assert "entity" in refused({"op": "add_page", "name": "x", "kind": "list", "title": {"en": "X"},
                                "roles": ["guest"]})
    assert "columns" in refused({"op": "add_page", "name": "x", "kind": "list", "entity": "room",
                                 "title": {"en": "X"}, "roles": ["guest"], "columns": ["nope"]})


def test_workflows():
    first, spec = apply(
        {"op": "add_state", "workflow": "claim_flow", "state": "escalated", "label": {"en": "Escalated"}},
        {"op": "add_transition", "workflow": "claim_flow", "name": "escalate", "from": "open", "to": "escalated",
         "roles": ["manager"], "label": {"en": "Escalate"}, "confirm": {"en": "Escalate this claim?"}},
        {"op": "update_transition", "workflow": "claim_flow", "name": "reopen", "from": ["closed", "escalated"]},
        {"op": "set_rights", "role": "manager", "entity": "claim", "actions": "all", "scope": "all"},
    )
    flow = next(w for w in spec.workflows if w.name == "claim_flow")
    assert [s.name for s in flow.states] == ["open", "closed", "escalated"]
    escalate = next(t for t in flow.transitions if t.name == "escalate")
    assert (escalate.sources, escalate.target, escalate.roles) == (("open",), "escalated", ("manager",))
    assert "escalated" in spec.entity("claim").field("status").choice_values
    assert "chats.claims.reopen" in refused({"op": "remove_transition", "workflow": "claim_flow",
                                             "name": "reopen"})["name"][0]
    _, spec = apply({"op": "set_rights", "role": "reception", "entity": "claim",
                     "actions": ["list", "view", "create", "close", "reopen", "escalate"], "scope": "all"},
                    {"op": "remove_transition", "workflow": "claim_flow", "name": "escalate"},
                    {"op": "update_transition", "workflow": "claim_flow", "name": "reopen", "from": "closed"},
                    {"op": "remove_state", "workflow": "claim_flow", "state": "escalated"}, sources=first)
    assert next(g for g in spec.role("reception").grants if g.entity == "claim").actions == (
        "list", "view", "create", "close", "reopen")
    assert "escalated" not in spec.entity("claim").field("status").choice_values
    assert "initial" in refused({"op": "remove_state", "workflow": "claim_flow", "state": "open"})["state"][0]
    assert "transitions.close" in refused({"op": "remove_state", "workflow": "claim_flow",
                                           "state": "closed"})["state"][0]
    assert "timers.unaccepted" in refused({"op": "remove_transition", "workflow": "service_order_flow",
                                           "name": "cancel"})["name"][0]


def test_branding_and_languages():
    sources, spec = apply({"op": "set_branding", "primary": "#112233", "logo": "https://example.com/logo.svg",
                           "radius": None})
    branding = dict(spec.branding)
    assert branding["primary"] == "#112233" and branding["logo"] == "https://example.com/logo.svg"
    assert "radius" not in branding and "  # " not in sources["solution.yaml"].split("branding:")[1]
    _, spec = apply({"op": "set_languages", "languages": ["en", "ru", "de"], "default_language": "en"})
    assert spec.languages == ("en", "ru", "de")
    assert "default_language" in refused({"op": "set_languages", "languages": ["en"], "default_language": "fr"})
    assert "languages" in refused({"op": "set_languages", "languages": ["EN;"], "default_language": "EN;"})
    assert "logo" in refused({"op": "set_branding", "logo": "javascript:alert(1)"})


def test_rename_entity_in_a_draft_keeps_every_row(solution):
    admin = get_user_model().objects.create_superuser("ada", password="pw-ada-12345")
    room = registry.active.model("room")
    room.objects.create(number="101", floor=1)
    room.objects.create(number="102", floor=1)
    draft = drafts.start(admin)
    drafts.apply(draft, {"op": "rename_entity", "entity": "room", "new_name": "chamber"}, admin)
    view = drafts.plan(draft)
    assert view.steps[0].grade == "caution" and "rename table cabinet_room -> cabinet_chamber" in view.steps[0].text
    drafts.publish(draft, admin, "", view.digest, {s.key for s in view.destructive})
    assert sorted(registry.active.model("chamber").objects.values_list("number", flat=True)) == ["101", "102"]
