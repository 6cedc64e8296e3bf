"""Translated fields in the API: the request's language in the field, every language in <name>_translations."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from tests.engine.test_content_pages import person, shop  # noqa: F401 (the fixture)


def api_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def shop_api(shop):  # noqa: F811
    built = shop()
    return built, api_for(person("clerk", "clerk")), api_for(person("cleo", "client"))


def test_reads_give_the_requests_language_and_every_language(shop_api):
    built, _clerk, reader = shop_api
    en = reader.get("/api/product/?ordering=id").json()["results"]
    assert [r["name"] for r in en] == ["Tea", "Coffee"]
    assert en[0]["name_translations"] == {"en": "Tea", "ru": "Чай"}
    assert en[1]["name_translations"] == {"en": "Coffee", "ru": ""}
    ru = reader.get("/api/product/?ordering=id", HTTP_ACCEPT_LANGUAGE="ru").json()["results"]
    assert [r["name"] for r in ru] == ["Чай", "Coffee"]  # an empty translation falls back
    assert reader.get("/api/product/?ordering=id&lang=ru").json()["results"][0]["name"] == "Чай"
    assert reader.get("/api/product/?search=Чай").json()["count"] == 1  # search covers every language


def test_writes_take_every_language_within_the_field_policy(shop_api):
    built, clerk, reader = shop_api
    made = clerk.post("/api/product/", {"name": "Juice", "name_translations": {"ru": "Сок"}, "price": "3"},
                      format="json")
    assert made.status_code == 201, made.json()
    assert made.json()["name_translations"] == {"en": "Juice", "ru": "Сок"}
    row = built.model("product").objects.get(pk=made.json()["id"])
    assert (row.name, row.name_ru) == ("Juice", "Сок")
    changed = clerk.patch(f"/api/product/{row.pk}/?lang=ru", {"name": "Свежий сок"}, format="json")
    assert changed.status_code == 200 and changed.json()["name"] == "Свежий сок"
    row.refresh_from_db()
    assert (row.name, row.name_ru) == ("Juice", "Свежий сок")  # `name` writes the request's language
    refused = reader.patch(f"/api/product/{row.pk}/", {"name_translations": {"ru": "x"}}, format="json")
    assert refused.status_code in (403, 405)
    bad = clerk.patch(f"/api/product/{row.pk}/", {"name_translations": {"de": "Saft", "ru": "x" * 81}},
                      format="json")
    assert bad.status_code == 400
    assert set(bad.json()["name_translations"]) == {"de", "ru"}
    assert clerk.patch(f"/api/product/{row.pk}/", {"name_translations": ["ru"]}, format="json").status_code == 400
    for odd in ({"ru": "a\x00b"}, {"ru": 5}, {"ru": None}, {"ru": {"x": 1}}):
        answer = clerk.patch(f"/api/product/{row.pk}/", {"name_translations": odd}, format="json")
        assert answer.status_code == 400 and "ru" in answer.json()["name_translations"], odd
    missing = clerk.post("/api/product/", {"name_translations": {"ru": "Только"}}, format="json")
    assert missing.status_code == 400 and "name" in missing.json()  # required: the default language's value


def test_the_schema_describes_both_fields(shop_api):
    _built, clerk, reader = shop_api
    schema = clerk.get("/api/schema/?format=json").json()["components"]["schemas"]
    product = schema["Product"]["properties"]
    assert product["name"]["type"] == "string"
    assert product["name_translations"]["properties"] == {"en": {"type": "string"}, "ru": {"type": "string"}}
    assert "name_translations" in schema["ProductRequest"]["properties"]
    guest = reader.get("/api/schema/?format=json").json()["components"]["schemas"]["Product"]["properties"]
    assert guest["name_translations"]["readOnly"] is True


def test_list_queries_stay_constant(shop_api):
    built, _clerk, reader = shop_api
    reader.get("/api/product/")
    with CaptureQueriesContext(connection) as few:
        reader.get("/api/product/")
    for i in range(10):
        built.model("product").objects.create(name=f"P{i}", name_ru=f"Т{i}")
    with CaptureQueriesContext(connection) as many:
        assert reader.get("/api/product/", HTTP_ACCEPT_LANGUAGE="ru").json()["count"] == 12
    assert len(many) == len(few)
