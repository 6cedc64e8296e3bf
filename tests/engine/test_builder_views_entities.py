"""The builder's Entities section through HTTP: browse published and draft entities, and every field form's
success (303, the draft's YAML changed) and error (400, the message beside the field, nothing changed)."""
import html
import os
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from engine.builder import drafts
from engine.builder.models import Draft
from engine.loader import load_sources


@pytest.fixture
def boss(solution):
    user = get_user_model().objects.create_superuser("boss", password="pw-boss-12345")
    client = Client()
    client.force_login(user)
    return user, client


@pytest.fixture
def draft(boss):
    return drafts.start(boss[0])


def fields_of(draft, entity):
    draft.refresh_from_db()
    return load_sources(draft.sources).data["entities"][entity]["fields"]


def text(response):
    return response.content.decode()


def errors_beside(page, field):
    """The error list the form shows under input ``field`` (Django's aria-describedby id)."""
    start = page.index(f'id="id_{field}_error"')
    return html.unescape(page[start:page.index("</ul>", start)])


def test_published_entities_are_browsed_with_edit_in_a_draft(boss):
    _, client = boss
    page = text(client.get("/builder/entities/"))
    assert "As published in version 1" in page
    assert 'href="/builder/entities/guest/"' in page and "Guests" in page
    assert 'action="/builder/edit/"' in page and 'value="entities/"' in page
    guest = text(client.get("/builder/entities/guest/"))
    assert "<code>full_name</code>" in guest and "Имя и фамилия" in guest and "max_length: 120" in guest
    assert "choices: en, ru" in guest
    assert 'value="entities/guest/"' in guest
    assert "Rename" not in guest  # nothing is edited outside a draft
    assert client.get("/builder/entities/nothing/").status_code == 404


def test_a_draft_shows_the_fields_with_their_controls(boss, draft):
    _, client = boss
    page = text(client.get(f"/builder/d/{draft.pk}/entities/guest/"))
    assert f"Draft #{draft.pk}" in page
    assert f'href="/builder/d/{draft.pk}/entities/guest/add-field/"' in page
    assert f'action="/builder/d/{draft.pk}/entities/guest/fields/email/move/"' in page
    assert f'href="/builder/d/{draft.pk}/entities/guest/fields/email/rename/"' in page
    assert "data-reorder" in page


def test_adding_a_field_writes_it_with_labels_per_language(boss, draft):
    _, client = boss
    url = f"/builder/d/{draft.pk}/entities/guest/add-field/"
    form = text(client.get(url))
    assert 'name="label_en"' in form and 'name="label_ru"' in form and '<option value="refs">' in form
    response = client.post(url, {"name": "allergies", "type": "text", "label_en": "Allergies",
                                 "label_ru": "Аллергии", "max_length": "500"})
    assert response.status_code == 303
    assert response["Location"] == f"/builder/d/{draft.pk}/entities/guest/#field-allergies"
    assert fields_of(draft, "guest")["allergies"] == {"type": "text", "max_length": 500,
                                                     "label": {"en": "Allergies", "ru": "Аллергии"}}
    assert "Аллергии" in text(client.get(response["Location"]))


def test_a_choice_field_with_a_default_and_a_ref_field(boss, draft):
    _, client = boss
    url = f"/builder/d/{draft.pk}/entities/guest/add-field/"
    response = client.post(url, {"name": "diet", "type": "choice", "label_en": "Diet", "default": "vegan",
                                 "choices": "none | No preference | Нет\nvegan | Vegan | Веган"})
    assert response.status_code == 303
    diet = fields_of(draft, "guest")["diet"]
    assert diet["default"] == "vegan"
    assert diet["choices"] == [{"value": "none", "label": {"en": "No preference", "ru": "Нет"}},
                               {"value": "vegan", "label": {"en": "Vegan", "ru": "Веган"}}]
    response = client.post(url, {"name": "favourite_room", "type": "ref", "to": "room", "on_delete": "set_null",
                                 "label_en": "Favourite room"})
    assert response.status_code == 303
    assert fields_of(draft, "guest")["favourite_room"]["to"] == "room"


@pytest.mark.parametrize(("posted", "field", "message"), [
    ({"name": "Bad Name", "type": "string", "label_en": "X"}, "name", "is not a valid field name"),
    ({"name": "email", "type": "string", "label_en": "X"}, "name", "already has a field 'email'"),
    ({"name": "age", "type": "integer", "label_en": "Age", "default": "1.5"}, "default", "Enter a whole number."),
    ({"name": "age", "type": "integer", "label_en": "Age", "min": "9", "max": "3"}, "max", "must not be less than min"),
    ({"name": "flag", "type": "boolean", "label_en": "Flag", "max_length": "3"}, "max_length", "does not take"),
    ({"name": "pal", "type": "ref", "label_en": "Pal"}, "to", "Choose the entity"),
    ({"name": "x", "type": "string", "label_ru": "Икс"}, "label_en", "This field is required."),
])
def test_a_bad_field_is_refused_beside_its_input_and_nothing_changes(boss, draft, posted, field, message):
    _, client = boss
    before = dict(draft.sources)
    response = client.post(f"/builder/d/{draft.pk}/entities/guest/add-field/", posted)
    assert response.status_code == 400
    assert message in errors_beside(text(response), field)
    assert 'aria-invalid="true"' in text(response)
    draft.refresh_from_db()
    assert draft.sources == before and draft.edits == []


def test_labels_are_escaped_wherever_they_show(boss, draft):
    _, client = boss
    response = client.post(f"/builder/d/{draft.pk}/entities/guest/add-field/",
                           {"name": "note", "type": "string", "label_en": "<script>alert(1)</script>"})
    assert response.status_code == 303
    page = text(client.get(f"/builder/d/{draft.pk}/entities/guest/"))
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_editing_a_field_sends_only_what_changed(boss, draft):
    _, client = boss
    url = f"/builder/d/{draft.pk}/entities/guest/fields/full_name/"
    form = text(client.get(url))
    assert 'value="Имя и фамилия"' in form and 'value="120"' in form
    response = client.post(url, {"label_en": "Name", "label_ru": "Имя и фамилия", "required": "on",
                                 "max_length": "150"})
    assert response.status_code == 303
    assert fields_of(draft, "guest")["full_name"] == {"type": "string", "max_length": 150, "required": True,
                                                      "label": {"en": "Name", "ru": "Имя и фамилия"}}
    assert draft.edits[-1] == {"op": "update_field", "entity": "guest", "field": "full_name",
                               "label": {"en": "Name", "ru": "Имя и фамилия"}, "max_length": 150}
    # Emptying an option removes it; a label with no text in the default language is refused.
    client.post(url, {"label_en": "Name", "required": "on"})
    assert "max_length" not in fields_of(draft, "guest")["full_name"]
    refused = client.post(url, {"label_en": "", "label_ru": "Имя"})
    assert refused.status_code == 400 and "This field is required." in errors_beside(text(refused), "label_en")


def test_renaming_a_field_records_renamed_from(boss, draft):
    _, client = boss
    url = f"/builder/d/{draft.pk}/entities/guest/fields/phone/rename/"
    assert "The data follows the field." in text(client.get(url))
    refused = client.post(url, {"new_name": "email"})
    assert refused.status_code == 400 and "already has a field 'email'" in errors_beside(text(refused), "new_name")
    response = client.post(url, {"new_name": "mobile"})
    assert response.status_code == 303
    fields = fields_of(draft, "guest")
    assert "phone" not in fields and fields["mobile"]["renamed_from"] == "phone"
    assert list(fields).index("mobile") == 3  # it keeps its place


def test_removing_a_field_warns_then_removes_it_from_the_draft_only(boss, draft):
    _, client = boss
    url = f"/builder/d/{draft.pk}/entities/guest/fields/loyalty_points/remove/"
    ask = text(client.get(url))
    assert "Its stored values will be deleted when the draft is published." in ask
    assert f'href="/builder/d/{draft.pk}/plan/"' in ask
    assert "loyalty_points" in fields_of(draft, "guest")
    assert client.post(url).status_code == 303
    assert "loyalty_points" not in fields_of(draft, "guest")
    assert client.get(url).status_code == 404


def test_fields_move_with_buttons_and_by_position(boss, draft):
    _, client = boss
    base = f"/builder/d/{draft.pk}/entities/guest/fields"
    order = ["user", "full_name", "email", "phone", "language", "loyalty_points"]
    assert list(fields_of(draft, "guest")) == order
    response = client.post(f"{base}/email/move/", {"direction": "up"})
    assert response.status_code == 303 and response["Location"].endswith("/entities/guest/#field-email")
    assert list(fields_of(draft, "guest")) == ["user", "email", "full_name", "phone", "language", "loyalty_points"]
    moved = client.post(f"{base}/user/move/", {"to_index": "5"}, headers={"Accept": "application/json"})
    assert moved.status_code == 200 and moved.json() == {"field": "user", "index": 5}
    assert list(fields_of(draft, "guest"))[-1] == "user"
    refused = client.post(f"{base}/user/move/", {"direction": "down"})
    assert refused.status_code == 400 and "outside the 6 fields" in text(refused)
    assert client.post(f"{base}/user/move/", {"to_index": "x"},
                       headers={"Accept": "application/json"}).status_code == 400
    assert client.get(f"{base}/user/move/").status_code == 405


def test_adding_an_entity(boss, draft):
    _, client = boss
    url = f"/builder/d/{draft.pk}/new-entity/"
    assert 'name="plural_ru"' in text(client.get(url))
    response = client.post(url, {"name": "souvenir", "label_en": "Souvenir", "label_ru": "Сувенир",
                                 "plural_en": "Souvenirs", "plural_ru": "Сувениры"})
    assert response.status_code == 303, text(response)[text(response).find("b-alert"):][:600]
    assert response["Location"] == f"/builder/d/{draft.pk}/entities/souvenir/"
    assert "Souvenirs" in text(client.get(f"/builder/d/{draft.pk}/entities/"))
    again = client.post(url, {"name": "souvenir", "label_en": "E", "plural_en": "Es"})
    assert again.status_code == 400 and "already an entity" in errors_beside(text(again), "name")
    assert Draft.objects.get(pk=draft.pk).edits[-1]["op"] == "add_entity"


def test_a_closed_draft_is_not_found(boss, draft):
    user, client = boss
    drafts.discard(draft, user)
    assert client.get(f"/builder/d/{draft.pk}/entities/").status_code == 404
    assert client.post(f"/builder/d/{draft.pk}/entities/guest/add-field/",
                       {"name": "x", "type": "string", "label_en": "X"}).status_code == 404


def test_the_pages_in_a_real_browser_reorder_by_drag_and_follow_the_type(boss, draft, live_server):
    """Chromium at 1280 and 360 px: no CSP complaint, drag and drop moves a field, the add-field form shows
    only the options of the chosen type; screenshots kept in var/screenshots/builder-*.png."""
    from tests.browser.test_cabinet_browser import CHROMIUM, shot
    from tests.browser.test_csp_browser import log_in, watch

    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed")
    from playwright.sync_api import expect, sync_playwright

    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    base = f"{live_server.url}/builder/d/{draft.pk}/entities/guest"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        for width, height in ((1280, 900), (360, 740)):
            page = browser.new_context(viewport={"width": width, "height": height}, locale="en-US").new_page()
            complaints = watch(page)
            log_in(page, live_server.url, "boss", "pw-boss-12345")
            page.wait_for_load_state("networkidle")
            page.goto(f"{live_server.url}/builder/")
            shot(page, f"builder-home-{width}")
            page.goto(f"{live_server.url}/builder/d/{draft.pk}/yaml/?file=entities.yaml")
            shot(page, f"builder-yaml-{width}")
            page.goto(f"{base}/")
            shot(page, f"builder-entities-{width}")
            page.goto(f"{base}/add-field/")
            assert page.locator("[data-types] #id_max_length").is_visible()
            page.select_option("#id_type", "boolean")
            assert not page.locator("#id_max_length").is_visible()
            assert not page.locator("#id_choices").is_visible()
            page.select_option("#id_type", "choice")
            assert page.locator("#id_choices").is_visible()
            page.fill("#id_name", "Bad Name")
            page.fill("#id_label_en", "Diet")
            page.click("button[type=submit].b-btn-primary")
            page.wait_for_selector("#id_name_error")
            assert page.locator("#id_choices_error").is_visible()  # a box with an error is never hidden
            shot(page, f"builder-field-add-{width}")
            assert complaints == []
        # Drag "email" above "user" (1280 px page): the draft's order follows.
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        log_in(page, live_server.url, "boss", "pw-boss-12345")
        page.wait_for_load_state("networkidle")
        page.goto(f"{base}/")
        with page.expect_response(lambda r: r.url.endswith("/fields/email/move/")) as moved:
            page.locator("#field-email .b-handle").drag_to(page.locator("#field-user"),
                                                           target_position={"x": 40, "y": 2})
        assert moved.value.status == 200
        expect(page.locator("tbody tr").first).to_have_id("field-email", timeout=10000)
        browser.close()
    assert list(fields_of(draft, "guest"))[:3] == ["email", "user", "full_name"]
