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



def tab_counts(html):
    return {state: int(n) for state, n in re.findall(r'data-state="(\w*)">.*?<span class="count">(\d+)</span>', html)}


def test_orders_queue_tabs_count_each_state_and_pick_one(resort, client):
    login(client, "reception")
    Order = resort.model("service_order")
    html = client.get("/p/orders/").content.decode()
    expected = {s: Order.objects.filter(status=s).count() for s in ("new", "accepted", "delivered", "cancelled")}
    assert tab_counts(html) == {"": Order.objects.count(), **expected}
    assert 'badge badge--state badge--info" data-state="new">New</span>' in html  # the status column's badge
    new = client.get("/p/orders/?status=new").content.decode()
    assert 'aria-current="true" data-state="new"' in new
    numbers = re.findall(r'<a href="/p/orders/\d+/">(R-[\d-]+)</a>', new)
    assert sorted(numbers) == sorted(Order.objects.filter(status="new").values_list("number", flat=True))
    assert client.get("/p/orders/?status=bogus").status_code == 200  # an unknown state: all rows


def test_queue_tabs_are_counted_within_the_readers_scope(resort, client):
    login(client, "anna")  # my_orders filters on status: no tabs there, and anna's list shows only her orders
    Order = resort.model("service_order")
    html = client.get("/p/my_orders/").content.decode()
    assert "state-tabs" not in html
    mine = Order.objects.filter(stay__guest__user__username="anna")
    assert html.count('data-label="Number"') == mine.count() < Order.objects.count()


def test_queue_queries_do_not_grow_with_rows(resort, client):
    login(client, "reception")
    Order = resort.model("service_order")
    stay, service = resort.model("stay").objects.first(), resort.model("service").objects.first()
    client.get("/p/orders/")
    counts = []
    for extra in (2, 25):
        Order.objects.bulk_create([Order(stay=stay, service=service, status=s) for s in ["new", "accepted"] * extra])
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/p/orders/?page_size=20").status_code == 200
        counts.append(len(ctx.captured_queries))
        tabs = [q for q in ctx.captured_queries if "GROUP BY" in q["sql"] and "cabinet_service_order" in q["sql"]]
        assert len(tabs) == 1  # the tabs: one aggregate query
    assert counts[0] == counts[1]


def test_queue_rows_offer_their_transitions_and_a_danger_cancel(resort, client):
    login(client, "reception")
    Order = resort.model("service_order")
    new, accepted = Order.objects.filter(status="new").first(), Order.objects.filter(status="accepted").first()
    html = client.get("/p/orders/").content.decode()
    assert f'hx-post="/p/orders/{new.pk}/do/accept/"' in html and f"/p/orders/{new.pk}/do/deliver/" not in html
    assert f'hx-post="/p/orders/{accepted.pk}/do/deliver/"' in html
    assert re.search(rf'hx-post="/p/orders/{new.pk}/do/cancel/"[^>]*hx-confirm="Cancel this order\?"', html)
    assert 'class="small button--danger danger" data-action="cancel"' in html
    assert 'class="small" data-action="accept"' in html
    assert f'href="/p/stay_detail/{new.stay_id}/" data-action="stay_detail"' in html  # the related page
    assert "lucide.svg#bed" in html
    # Accept from the queue in place: the row moves to its next state.
    response = client.post(f"/p/orders/{new.pk}/do/accept/", HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    new.refresh_from_db()
    assert new.status == "accepted"


def test_bulk_accept_goes_through_the_write_path_and_reports_done_and_refused(resort, client):
    from engine.models import AuditRecord

    login(client, "reception")
    Order = resort.model("service_order")
    stay, service = resort.model("stay").objects.first(), resort.model("service").objects.first()
    fresh = [Order.objects.create(stay=stay, service=service) for _ in range(3)]
    delivered = Order.objects.filter(status="delivered").first()
    ids = [o.pk for o in fresh] + [delivered.pk]
    response = client.post("/p/orders/bulk/", {"transition": "accept", "ids": ids, "next": "/p/orders/?status=new"},
                           follow=True)
    assert response.redirect_chain == [("/p/orders/?status=new", 302)]
    html = response.content.decode()
    assert "“Accept”: 3 rows done; 1 refused (changed meanwhile or not allowed)." in html
    assert set(Order.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"accepted", "delivered"}
    assert AuditRecord.objects.filter(transition="accept", object_id__in=[o.pk for o in fresh]).count() == 3


@pytest.mark.parametrize(("username", "data", "status"), [
    ("anna", {"transition": "accept", "ids": ["1"]}, 404),  # a guest may not open the queue
    ("reception", {"transition": "cancel", "ids": ["1"]}, 404),  # not a bulk transition of the page
    ("reception", {"transition": "accept", "ids": ["x"]}, 400),
    ("reception", {"transition": "accept", "ids": ["99999999999999999999"]}, 400),
    ("reception", {"transition": "accept", "ids": [str(i) for i in range(1, 300)]}, 400),
])
def test_bulk_refusals_are_answered(resort, client, username, data, status):
    login(client, username)
    assert client.post("/p/orders/bulk/", data).status_code == status


def test_bulk_without_rows_says_so_and_an_outside_next_is_ignored(resort, client):
    login(client, "reception")
    response = client.post("/p/orders/bulk/", {"transition": "accept", "next": "https://evil.example/"}, follow=True)
    assert response.redirect_chain == [("/p/orders/", 302)]
    assert "Check the rows to do “Accept” on." in response.content.decode()


def test_detail_page_shows_the_badge_and_its_actions(resort, client):
    login(client, "anna")
    order = resort.model("service_order").objects.filter(stay__guest__user__username="anna", status="new").first()
    html = client.get(f"/p/my_orders/{order.pk}/").content.decode()
    assert 'badge--state badge--info" data-state="new">New</span>' in html
    assert f'action="/p/my_orders/{order.pk}/do/cancel/"' in html and "hx-post" not in html.split("History")[0]


def test_menu_and_card_icons_are_drawn_from_the_sprite(resort, client):
    from engine.icons import SPRITE_FILE, names
    from engine.templatetags.cabinet_icons import icon

    assert {"house", "bell", "receipt", "concierge-bell", "message-circle", "shopping-cart"} <= names()
    assert SPRITE_FILE.stat().st_size > 100_000 and (SPRITE_FILE.parent / "LICENSE").read_text().startswith("ISC")
    assert icon("no-such-icon") == "" and icon(None) == ""
    login(client, "anna")
    html = client.get("/p/home/").content.decode()
    assert re.search(r'<a href="/p/home/" aria-current="page"><svg class="icon"[^>]*aria-hidden="true"[^>]*>'
                     r'<use href="/static/cabinet/icons/lucide.svg#house"></use></svg>My stay', html)
    client.logout()
    login(client, "reception")
    assert "lucide.svg#receipt" in client.get("/p/desk/").content.decode()  # the counter card's icon


def test_services_show_as_cards_with_price_badge_description_and_the_order_button(resort, client):
    login(client, "anna")
    service = resort.model("service").objects.filter(available=True).exclude(description="").first()
    html = client.get("/p/services/").content.decode()
    cards = re.findall(r'<li class="card item-card">(.*?)</li>', html, re.S)
    assert len(cards) == resort.model("service").objects.filter(available=True).count()
    card = next(c for c in cards if f'href="/p/services/{service.pk}/"' in c)
    assert f">{service.name}</a></h2>" in card and "EUR</strong>" in card
    assert '<span class="badge badge--neutral">' in card  # the category
    first_words = " ".join(service.description.replace("#", "").replace("*", "").split()[:3])
    assert first_words in card
    assert re.search(rf'<a class="button small button--primary" href="/p/order_service/new/\?service={service.pk}"'
                     r' data-action="order_service"><svg[^>]*><use href="[^"]+#shopping-cart"></use></svg>Order</a>',
                     card)
    assert "<table" not in html


def test_card_list_queries_do_not_grow_with_rows(resort, client):
    login(client, "anna")
    Service = resort.model("service")
    client.get("/p/services/")
    counts = []
    for total in (3, 30):
        Service.objects.bulk_create([Service(name=f"S{i}", price=1, description="**A** b") for i in range(total)])
        with CaptureQueriesContext(connection) as ctx:
            html = client.get("/p/services/").content.decode()
        counts.append(len(ctx.captured_queries))
    assert html.count('class="card item-card"') == 20 and counts[0] == counts[1]


def test_queue_and_bulk_speak_russian(resort, client):
    login(client, "reception")
    client.cookies.load({"django_language": "ru"})
    html = client.get("/p/orders/", HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert 'aria-label="Статусы"' in html and "С отмеченными строками:" in html and ">Новый</span>" in html
    new = resort.model("service_order").objects.filter(status="new").values_list("pk", flat=True)
    done = client.post("/p/orders/bulk/", {"transition": "accept", "ids": list(new)}, follow=True,
                       HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert "«Принять»: выполнено для" in done and len(new) > 0


def test_stay_detail_lists_its_orders_with_their_buttons_for_reception(resort, client):
    login(client, "reception")
    order = resort.model("service_order").objects.filter(status="new").first()
    html = client.get(f"/p/stay_detail/{order.stay_id}/").content.decode()
    section = html[html.index('id="related-1"'):]
    assert 'hx-trigger="cabinet-changed from:body" hx-select="#related-1"' in section
    assert f'hx-post="/p/orders/{order.pk}/do/accept/"' in section and 'data-action="cancel"' in section
    assert client.post(f"/p/orders/{order.pk}/do/accept/", HTTP_HX_REQUEST="true").status_code == 204
    html = client.get(f"/p/stay_detail/{order.stay_id}/").content.decode()
    assert f'/p/orders/{order.pk}/do/accept/' not in html and f'hx-post="/p/orders/{order.pk}/do/deliver/"' in html
