"""Work pages: row actions, work queues (state tabs, inline and bulk transitions), state badges, icons."""
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.engine.test_pages import login


@pytest.fixture
def resort(solution, client):
    """The resort solution with its demo data (anna, boris, reception, manager, admin)."""
    import io

    from django.core.management import call_command

    call_command("demo", seed_only=True, stdout=io.StringIO())
    return solution


def test_services_offer_an_order_link_prefilled_with_the_service_to_guests_only(resort, client):
    login(client, "anna")
    html = client.get("/p/services/").content.decode()
    services = resort.model("service").objects.filter(available=True)
    for service in services:
        assert f'href="/p/order_service/new/?service={service.pk}"' in html
    assert 'data-action="order_service"' in html and "Order" in html
    client.logout()
    login(client, "reception")  # reception may not open the guest's order form: no link
    assert "/p/order_service/new/" not in client.get("/p/services/").content.decode()


def test_desk_counters_link_to_the_filtered_queues(resort, client):
    login(client, "reception")
    html = client.get("/p/desk/").content.decode()
    assert 'href="/p/orders/?status=new"' in html and 'href="/p/bookings/?status=requested"' in html
    new = resort.model("service_order").objects.filter(status="new").count()
    assert re.search(rf'href="/p/orders/\?status=new"[^>]*>{new}</a>', html)

