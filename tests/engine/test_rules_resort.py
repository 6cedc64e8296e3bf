"""The resort's rules as its guests and staff meet them: stay dates, excursion places and start times,
orders bound to a current stay, order numbers and totals, places left, the current stay as a default."""
import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from engine import writes
from engine.rules.compile import constraint_name


@pytest.fixture
def resort(solution):
    call_command("demo", seed_only=True, stdout=io.StringIO())
    return solution


def api(username):
    client = APIClient()
    client.force_authenticate(get_user_model().objects.get(username=username))
    return client


def messages(response, field):
    return [e["message"] for e in response.json()[field]]


def test_a_stay_ends_after_it_starts_in_forms_and_in_the_database(resort):
    stay = resort.model("stay")
    current = stay.objects.get(status="in_house", guest__full_name="Anna Petrova")
    with pytest.raises(writes.RuleViolation) as caught:
        writes.update(writes.system_access(resort), "stay", current, {"check_out": current.check_in}, source="admin")
    assert caught.value.fields == {"check_out": ["Check-out must be after check-in."]}
    with pytest.raises(IntegrityError), transaction.atomic():
        stay._base_manager.filter(pk=current.pk).update(check_out=current.check_in - dt.timedelta(days=1))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            found = connection.introspection.get_constraints(cursor, "cabinet_stay")
        assert constraint_name("stay", resort.spec.entity("stay").rules[0]) in found


def test_an_excursion_takes_no_more_seats_than_it_has_nor_bookings_once_started(resort):
    anna = api("anna")
    trip = resort.model("excursion").objects.get(name="Sunset boat trip")  # 12 places, 2 booked
    assert anna.get(f"/api/excursion/{trip.pk}/").json()["seats_left"] == 10
    assert anna.post("/api/booking/", {"excursion": trip.pk, "seats": 10}, format="json").status_code == 201
    full = anna.post("/api/booking/", {"excursion": trip.pk, "seats": 1}, format="json")
    assert full.status_code == 400
    assert messages(full, "seats") == ["Not enough places left on this excursion."]
    assert anna.get(f"/api/excursion/{trip.pk}/").json()["seats_left"] == 0
    started = resort.model("excursion").objects.get(name="Old town walk")
    resort.model("excursion").objects.filter(pk=started.pk).update(starts_at=timezone.now() - dt.timedelta(hours=1))
    late = anna.post("/api/booking/", {"excursion": started.pk, "seats": 1}, format="json")
    assert late.status_code == 400 and messages(late, "excursion") == ["This excursion has already started."]


def test_orders_belong_to_a_current_stay_and_deliver_within_it(resort):
    anna = api("anna")
    Stay = resort.model("stay")
    old = Stay.objects.get(guest__full_name="Anna Petrova", status="checked_out")
    current = Stay.objects.get(guest__full_name="Anna Petrova", status="in_house")
    tea = resort.model("service").objects.get(name="Breakfast in bed")
    over = anna.post("/api/service_order/", {"stay": old.pk, "service": tea.pk}, format="json")
    assert over.status_code == 400 and list(over.json()) == ["stay"]
    outside = timezone.now() + dt.timedelta(days=30)
    late = anna.post("/api/service_order/", {"stay": current.pk, "service": tea.pk, "deliver_at": outside.isoformat()},
                     format="json")
    assert late.status_code == 400 and messages(late, "deliver_at") == ["The delivery time must fall within the stay."]
    past = anna.post("/api/service_order/", {"stay": current.pk, "service": tea.pk,
                                             "deliver_at": "2020-05-01T10:00:00Z"}, format="json")
    assert past.status_code == 400 and "deliver_at" in past.json()


def test_an_order_gets_its_number_its_total_and_the_current_stay(resort, client):
    anna = api("anna")
    current = resort.model("stay").objects.get(guest__full_name="Anna Petrova", status="in_house")
    massage = resort.model("service").objects.get(name="Hot stone massage")  # 90.00
    made = anna.post("/api/service_order/", {"service": massage.pk, "quantity": 2}, format="json")
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["stay"] == current.pk  # the current stay, as the order form offers it
    assert body["total"] == "180.00"
    assert re.fullmatch(rf"R-{timezone.localdate().year}-\d{{5}}", body["number"])
    client.login(username="anna", password="anna-demo")
    form = client.get("/p/order_service/new/").content.decode()
    assert f'<input type="hidden" name="stay" value="{current.pk}"' in form  # her one current stay, fixed
    page = client.get("/p/my_orders/").content.decode()
    assert body["number"] in page and ("180.00" in page or "180,00" in page)
    assert Decimal(body["total"]) == resort.model("service_order").objects.get(pk=body["id"]).total
