"""The resort's workflow rules: points earned on delivered paid orders with a ledger, and guards on cancelling."""
import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from engine import writes


def member(name, group):
    user = get_user_model().objects.create_user(name, password="pw-resort-123")
    user.groups.set([Group.objects.get_or_create(name=group)[0]])
    return get_user_model().objects.get(pk=user.pk)


@pytest.fixture
def resort(solution):
    built = solution
    system = writes.system_access(built)
    anna = member("anna", "guest")
    guest = writes.create(system, "guest", {"user": anna, "full_name": "Anna"}, source="system")
    today = timezone.localdate()
    stay = writes.create(system, "stay", {"guest": guest, "check_in": today, "check_out": today + dt.timedelta(days=3)},
                         source="system")
    spa = writes.create(system, "service", {"name": "Massage", "category": "spa", "price": Decimal("45.00")},
                        source="system")
    desk = built.policy.for_user(member("rita", "reception"))
    return built, system, desk, built.policy.for_user(anna), guest, stay, spa


def order(built, access, stay, service, quantity=2, **extra):
    row = writes.create(access, "service_order", {"stay": stay, "service": service, "quantity": quantity, **extra},
                        source="system")
    writes.transition(access, "service_order", row, "accept", source="system")
    return row


def points(built, guest):
    guest.refresh_from_db()
    ledger = list(built.model("points_entry").objects.filter(guest=guest).values_list("points", "reason", "order"))
    return guest.loyalty_points, ledger


@pytest.mark.parametrize("solution", ["solutions/resort"], indirect=True)
def test_a_paid_order_earns_points_with_a_ledger_entry_on_delivery(resort):
    built, _system, desk, _anna, guest, stay, spa = resort
    paid = order(built, desk, stay, spa, paid=True)
    writes.transition(desk, "service_order", paid, "deliver", source="page")
    assert points(built, guest) == (9, [(9, "order", paid.pk)])  # 2 x 45.00 / 10
    unpaid = order(built, desk, stay, spa, quantity=1)
    writes.transition(desk, "service_order", unpaid, "deliver", source="page")
    assert points(built, guest) == (9, [(9, "order", paid.pk)])


@pytest.mark.parametrize("solution", ["solutions/resort"], indirect=True)
def test_paying_a_delivered_order_earns_its_points_once(resort):
    built, _system, desk, _anna, guest, stay, spa = resort
    row = order(built, desk, stay, spa, quantity=3)
    writes.transition(desk, "service_order", row, "deliver", source="page")
    writes.update(desk, "service_order", row, {"note": "delivered to the spa"}, source="page")
    assert points(built, guest) == (0, [])
    writes.update(desk, "service_order", row, {"paid": True}, source="page")
    assert points(built, guest) == (14, [(14, "order", row.pk)])  # round(13.5), half up
    writes.update(desk, "service_order", row, {"paid": False}, source="page")
    writes.update(desk, "service_order", row, {"paid": True}, source="page")
    assert points(built, guest) == (14, [(14, "order", row.pk)])


@pytest.mark.parametrize("solution", ["solutions/resort"], indirect=True)
def test_a_guest_cancels_a_booking_only_before_the_excursion_starts(resort):
    built, system, desk, anna, guest, _stay, _spa = resort
    now = timezone.now()
    trips = {name: writes.create(system, "excursion", {"name": name, "starts_at": now + delta, "price": 10,
                                                       "capacity": 5}, source="system")
             for name, delta in (("later", dt.timedelta(days=1)), ("started", -dt.timedelta(hours=1)))}
    later, started = (built.model("booking").objects.create(guest=guest, excursion=trips[name], seats=1)
                      for name in ("later", "started"))
    with pytest.raises(writes.GuardRefused) as refused:
        writes.transition(anna, "booking", started, "cancel", source="api")
    assert refused.value.message == "The excursion has already started."
    writes.transition(anna, "booking", later, "cancel", source="api")
    writes.transition(desk, "booking", started, "cancel", source="page")  # the reception still may
    assert set(built.model("booking").objects.values_list("status", flat=True)) == {"cancelled"}


@pytest.mark.parametrize("solution", ["solutions/resort"], indirect=True)
def test_a_guest_cannot_cancel_an_order_due_within_the_hour_and_sees_why(resort, client):
    built, _system, desk, anna, _guest, stay, spa = resort
    soon = order(built, desk, stay, spa, deliver_at=timezone.now() + dt.timedelta(minutes=30))
    client.force_login(anna.user)
    detail = client.get(f"/p/my_orders/{soon.pk}/")
    assert "/do/cancel/" not in detail.content.decode()  # the button is not offered
    refused = client.post(f"/p/my_orders/{soon.pk}/do/cancel/", HTTP_ACCEPT_LANGUAGE="ru")
    assert refused.status_code == 409
    assert "Заказ будет доставлен в течение часа; позвоните на ресепшн." in refused.content.decode()
    soon.refresh_from_db()
    assert soon.status == "accepted"


@pytest.mark.parametrize("solution", ["solutions/resort"], indirect=True)
def test_my_points_page_lists_the_guests_own_entries(resort, client):
    built, system, desk, anna, guest, stay, spa = resort
    other = writes.create(system, "guest", {"user": member("boris", "guest"), "full_name": "Boris"}, source="system")
    writes.create(system, "points_entry", {"guest": guest, "points": 5, "reason": "gift"}, source="system")
    writes.create(system, "points_entry", {"guest": other, "points": 777, "reason": "gift"}, source="system")
    client.force_login(anna.user)
    page = client.get("/p/my_points/").content.decode()
    assert ">5<" in page and "777" not in page
