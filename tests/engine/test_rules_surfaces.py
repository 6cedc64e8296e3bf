"""Rules, computed values and numbers as the API, the admin and the pages show them: the same refusals
on the right field, computed values read-only (and typed in the OpenAPI schema), sortable and filterable."""
import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from tests.engine.test_rules import TOURS, book, excursion

DESK = TOURS + """
roles:
  desk:
    staff: true
    entities:
      excursion: {actions: all, scope: all}
      booking: {actions: all, scope: all}
      stay: {actions: all, scope: all}
pages:
  bookings:
    kind: list
    entity: booking
    roles: [desk]
    columns: [excursion, seats, total, number]
  trips:
    kind: list
    entity: excursion
    roles: [desk]
    columns: [name, capacity, seats_left]
  new_booking:
    kind: form
    entity: booking
    roles: [desk]
    fields: [excursion, seats, total, number]
"""


@pytest.fixture
def desk(publish_yaml):
    built, _ = publish_yaml(DESK)
    user = get_user_model().objects.create_user("desk", password="pw-desk-12345", is_staff=True)
    user.groups.add(Group.objects.get_or_create(name="desk")[0])
    return built, user


def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_the_api_refuses_a_rule_on_its_field_and_shows_computed_values_read_only(desk):
    built, user = desk
    trip = excursion(built, capacity=3, price="15.00")
    client = api(user)
    made = client.post("/api/booking/", {"excursion": trip.pk, "seats": 2, "total": "1.00", "number": "X"},
                       format="json")
    assert made.status_code == 400, made.content
    assert set(made.json()) == {"total", "number"}  # engine-filled: refused, not silently dropped
    made = client.post("/api/booking/", {"excursion": trip.pk, "seats": 2}, format="json")
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["total"] == "30.00" and body["number"] == f"B-{timezone.localdate().year}-0001"
    full = client.post("/api/booking/", {"excursion": trip.pk, "seats": 2}, format="json")
    assert full.status_code == 400
    assert [e["message"] for e in full.json()["seats"]] == ["Not enough places left."]
    trips = client.get("/api/excursion/").json()["results"]
    assert [t["seats_left"] for t in trips] == [1]
    schema = client.get("/api/schema/?format=json").json()["components"]["schemas"]
    total = schema["Booking"]["properties"]["total"]
    assert total["readOnly"] is True and total["type"] == "string" and total.get("format") == "decimal"
    assert schema["Excursion"]["properties"]["seats_left"] == {**schema["Excursion"]["properties"]["seats_left"],
                                                              "type": "integer", "readOnly": True}


def test_the_api_sorts_and_filters_by_computed_values_at_a_constant_query_count(desk):
    built, user = desk
    trip = excursion(built, capacity=1000, price="10.00")
    for seats in (1, 3, 2):
        book(built, trip, seats=seats)
    client = api(user)
    ordered = client.get("/api/booking/?ordering=-total").json()["results"]
    assert [b["total"] for b in ordered] == ["30.00", "20.00", "10.00"]
    assert [b["seats"] for b in client.get("/api/booking/?total__gte=20").json()["results"]] == [3, 2]
    assert client.get("/api/booking/?total__gte=abc").status_code == 400
    assert client.get(f"/api/excursion/?seats_left__lt={2**70}").status_code == 400
    with CaptureQueriesContext(connection) as few:
        client.get("/api/booking/")
    for _ in range(30):
        book(built, trip)
    with CaptureQueriesContext(connection) as many:
        assert len(client.get("/api/booking/?page_size=100").json()["results"]) == 33
    assert len(many) == len(few)


def test_the_admin_shows_computed_and_numbered_fields_read_only_and_refuses_on_the_field(desk, client):
    built, user = desk
    client.force_login(user)
    trip = excursion(built, capacity=2, price="5.00")
    first = book(built, trip, seats=2)
    changelist = client.get("/admin/cabinet/booking/")
    assert changelist.status_code == 200 and "10.00" in changelist.content.decode()
    change = client.get(f"/admin/cabinet/booking/{first.pk}/change/").content.decode()
    assert first.number in change and 'name="number"' not in change and 'name="total"' not in change
    added = client.post("/admin/cabinet/booking/add/", {"excursion": trip.pk, "seats": 1, "status": "requested"})
    assert added.status_code == 200  # re-shown with the rule's message on the seats field
    assert "Not enough places left." in added.content.decode()
    assert built.model("booking").objects.count() == 1


def test_pages_list_computed_columns_at_a_constant_query_count_and_forms_show_the_rule(desk, client):
    built, user = desk
    client.force_login(user)
    trip = excursion(built, capacity=500, price="4.00")
    book(built, trip, seats=3)
    html = client.get("/p/bookings/").content.decode()
    assert "12.00" in html or "12,00" in html
    with CaptureQueriesContext(connection) as few:
        client.get("/p/bookings/")
    for _ in range(15):
        book(built, trip)
    with CaptureQueriesContext(connection) as many:
        client.get("/p/bookings/")
    assert len(many) == len(few)
    assert client.get("/p/trips/").status_code == 200
    form = client.get("/p/new_booking/new/").content.decode()
    assert 'name="seats"' in form and 'name="total"' not in form and 'name="number"' not in form
    started = excursion(built, starts_in=-dt.timedelta(hours=1))
    refused = client.post("/p/new_booking/new/", {"excursion": started.pk, "seats": 1})
    assert refused.status_code == 400 and "This excursion has already started." in refused.content.decode()
