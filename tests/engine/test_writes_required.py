"""A required text is refused when it is missing or blank, on every path a row is written: the write path
itself (create, update, transition), the page form, the API, a chat ticket opened with a row, demo data.

Every textual type (string, text, markdown, choice, email, phone, url) is covered. The database gives
these columns the default '' (``engine.build.models.db_default_of``) and Django's ``full_clean`` does not
look at a column default, so before the write path refused them a missing value was stored as ''.
"""
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from rest_framework.test import APIClient

from engine import writes
from engine.chat import service
from engine.chat.errors import Invalid
from engine.chat.models import Conversation
from engine.demo import DemoDataError, load_demo
from engine.demodata import DemoData
from tests.engine.chat_solution import CHAT_YAML, person

NOTES_YAML = """
entities:
  note:
    title: title
    fields:
      title: {type: string, required: true, max_length: 40}
      body: {type: text, required: true}
      summary: {type: markdown, required: true}
      kind: {type: choice, choices: [a, b], required: true}
      email: {type: email, required: true}
      phone: {type: phone, required: true}
      site: {type: url, required: true}
      code: {type: string, required: true}
      remark: {type: string}
      state: {type: choice, choices: [draft, done], default: draft}
roles:
  writer:
    entities:
      note:
        actions: [list, view, create, update, finish]
        scope: all
        fields: {edit: [title, body, summary, kind, email, phone, site, remark]}
workflows:
  note_flow:
    entity: note
    field: state
    initial: draft
    states: {draft: {}, done: {final: true}}
    transitions:
      finish: {from: draft, to: done, roles: [writer], fields: [remark, title]}
pages:
  notes: {kind: list, entity: note, roles: [writer]}
  note_form: {kind: form, entity: note, roles: [writer]}
"""
# ``code`` is required but the writer may not edit it: the form and the API never send it.
VALID = {"title": "Plan", "body": "Long text", "summary": "*short*", "kind": "a", "email": "ann@example.com",
         "phone": "+3725551234", "site": "https://example.com/", "code": "N-1"}
TEXTUAL = sorted(VALID)
REQUIRED = {"message": "This field is required.", "code": "required"}


@pytest.fixture
def notes(publish_yaml):
    built, _ = publish_yaml(NOTES_YAML)
    ann = get_user_model().objects.create_user("ann", password="pw-ann-12345")
    ann.groups.add(Group.objects.get_or_create(name="writer")[0])
    return built, ann


def system(built):
    return writes.system_access(built)


def refusal(exc):
    """{field: [(message, code)]} of a domain error."""
    return {name: [(str(m), m.code) for m in found] for name, found in exc.fields.items()}


def count(built):
    return built.model("note")._base_manager.count()


# --- the write path --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", TEXTUAL)
@pytest.mark.parametrize("blank", [None, "", "   ", "\t\n"])
def test_create_refuses_each_required_text_missing_or_blank(notes, name, blank):
    built, _ = notes
    data = dict(VALID)
    if blank is None:
        del data[name]
    else:
        data[name] = blank
    with pytest.raises(writes.RuleViolation) as info:
        writes.create(system(built), "note", data, source="api")
    assert refusal(info.value) == {name: [("This field is required.", "required")]}
    assert info.value.code == "required"
    assert count(built) == 0


def test_create_names_every_missing_required_text_with_the_other_field_errors(notes):
    built, _ = notes
    with pytest.raises(writes.RuleViolation) as info:
        writes.create(system(built), "note", {"email": "not an address", "title": "x" * 41}, source="api")
    found = refusal(info.value)
    assert set(found) == set(TEXTUAL)
    assert found["email"][0][1] == "invalid" and found["title"][0][1] == "max_length"
    assert all(found[name] == [("This field is required.", "required")]
               for name in TEXTUAL if name not in ("email", "title"))
    assert count(built) == 0


def test_create_stores_the_given_texts_and_an_optional_text_may_stay_empty(notes):
    built, _ = notes
    row = writes.create(system(built), "note", VALID, source="api")
    row.refresh_from_db()
    assert {name: getattr(row, name) for name in TEXTUAL} == VALID
    assert row.remark == ""


@pytest.mark.parametrize("name", TEXTUAL)
def test_update_refuses_setting_a_required_text_blank(notes, name):
    built, _ = notes
    row = writes.create(system(built), "note", VALID, source="api")
    with pytest.raises(writes.RuleViolation) as info:
        writes.update(system(built), "note", row, {name: "  "}, source="api")
    assert refusal(info.value) == {name: [("This field is required.", "required")]}
    row.refresh_from_db()
    assert getattr(row, name) == VALID[name]


def test_update_of_a_row_stored_blank_names_the_blank_field(notes):
    """A row stored blank before this rule (whitespace, or '' as Django itself refuses) takes no change
    until its required text is filled: the refusal says which."""
    built, _ = notes
    row = writes.create(system(built), "note", VALID, source="api")
    for stored in ("", "  "):
        built.model("note")._base_manager.filter(pk=row.pk).update(code=stored)
        with pytest.raises(writes.RuleViolation) as info:
            writes.update(system(built), "note", row, {"remark": "checked"}, source="api")
        assert refusal(info.value) == {"code": [("This field is required.", "required")]}
    writes.update(system(built), "note", row, {"remark": "checked", "code": "N-2"}, source="api")
    row.refresh_from_db()
    assert (row.remark, row.code) == ("checked", "N-2")


def test_a_transition_refuses_filling_a_required_text_blank(notes):
    built, ann = notes
    row = writes.create(system(built), "note", VALID, source="api")
    with pytest.raises(writes.RuleViolation) as info:
        writes.transition(built.policy.for_user(ann), "note", row, "finish", {"title": " "}, source="api")
    assert refusal(info.value) == {"title": [("This field is required.", "required")]}
    row.refresh_from_db()
    assert (row.state, row.title) == ("draft", "Plan")


# --- the surfaces ----------------------------------------------------------------------------------

def test_page_form_refuses_a_blank_text_on_its_field_and_a_missing_one_on_the_form(notes):
    built, ann = notes
    client = Client()
    client.force_login(ann)
    form = {name: value for name, value in VALID.items() if name != "code"}
    response = client.post("/p/note_form/new/", {**form, "title": "   "})
    assert response.status_code == 400
    assert response.context["form"].errors["title"] == ["This field is required."]
    # Every shown field filled: the write path refuses the required text the form does not show.
    response = client.post("/p/note_form/new/", form)
    assert response.status_code == 400
    # ... named by its label, since no field of the form can carry it.
    assert response.context["form"].non_field_errors() == ["Code: This field is required."]
    assert count(built) == 0


def test_api_refuses_a_required_text_missing_or_blank_with_a_field_message(notes):
    built, ann = notes
    client = APIClient()
    client.force_authenticate(ann)
    form = {name: value for name, value in VALID.items() if name != "code"}
    # The writer may not write ``code``: the API answers on the whole input, as for any field it hides.
    response = client.post("/api/note/", form, format="json")
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": [{**REQUIRED, "message": "code: This field is required."}]}
    response = client.post("/api/note/", {**form, "body": "  "}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["body"]
    assert count(built) == 0
    row = writes.create(system(built), "note", VALID, source="api")
    response = client.patch(f"/api/note/{row.pk}/", {"phone": " "}, format="json")
    assert response.status_code == 400 and list(response.json()) == ["phone"]
    row.refresh_from_db()
    assert row.phone == VALID["phone"]


def test_chat_ticket_refuses_a_blank_required_text_of_its_row(publish_yaml):
    built, _ = publish_yaml(CHAT_YAML)
    guest = person("gina", "guest", built)
    access = built.policy.for_user(guest)
    for subject in ("", "   "):
        with pytest.raises(Invalid) as info:
            service.start(access, "claims", text="It is cold", values={"subject": subject})
        assert info.value.fields == {"subject": [REQUIRED]}
    assert built.model("claim")._base_manager.count() == 0
    assert Conversation.objects.count() == 0


def test_demo_data_refuses_a_blank_required_text_and_writes_nothing(notes):
    built, _ = notes
    rows = [dict(VALID, title="First"), dict(VALID, title="Second", site="   ")]
    with pytest.raises(DemoDataError, match=r"records\.note\[1\]: .*required"):
        load_demo(built, DemoData(records=[("note", rows)]))
    assert count(built) == 0
