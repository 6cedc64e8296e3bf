"""The builder's field editor keeps and edits `translate` (a checkbox for string, text and markdown)."""
import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from engine.builder import drafts
from tests.engine.test_builder_views_entities import errors_beside, fields_of, text


@pytest.fixture
def editor(solution):
    user = get_user_model().objects.create_superuser("boss", password="pw-boss-12345")
    client = Client()
    client.force_login(user)
    return client, drafts.start(user)


def test_the_checkbox_shows_the_written_value_and_an_unchanged_save_keeps_it(editor):
    client, draft = editor
    url = f"/builder/d/{draft.pk}/entities/service/fields/name/"
    form = text(client.get(url))
    assert 'name="translate"' in form and 'id="id_translate" checked' in form
    response = client.post(url, {"label_en": "Title", "label_ru": "Название", "required": "on", "translate": "on",
                                 "max_length": "120"})
    assert response.status_code == 303
    assert fields_of(draft, "service")["name"]["translate"] is True
    assert "translate" not in draft.edits[-1]  # only what changed is sent
    client.post(url, {"label_en": "Title", "label_ru": "Название", "required": "on", "max_length": "120"})
    assert "translate" not in fields_of(draft, "service")["name"]  # unticked: removed


def test_adding_a_translated_field_and_refusing_it_on_other_types(editor):
    client, draft = editor
    url = f"/builder/d/{draft.pk}/entities/guest/add-field/"
    response = client.post(url, {"name": "bio", "type": "markdown", "label_en": "About", "translate": "on"})
    assert response.status_code == 303
    assert fields_of(draft, "guest")["bio"] == {"type": "markdown", "translate": True, "label": {"en": "About"}}
    refused = client.post(url, {"name": "age", "type": "integer", "label_en": "Age", "translate": "on"})
    assert refused.status_code == 400
    assert "does not take this option" in errors_beside(text(refused), "translate")
    assert "age" not in fields_of(draft, "guest")
