"""The resort's common tasks in a real browser, as a guest on a phone and as reception on a desktop: order from
home in two taps, book an excursion from the calendar, export the orders queue, read the cabinet in Russian.
Screenshots of each step go to var/screenshots/journey-*.png."""
import csv
import io
import os
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.browser.test_cabinet_browser import CHROMIUM, browser, demo, shot  # noqa: F401 (fixtures)
from tests.browser.test_csp_browser import log_in, watch

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Chromium is not installed")
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
PHONE = {"width": 360, "height": 740}


def guest_on_a_phone(browser, live_server, locale="en-US"):  # noqa: F811
    page = browser.new_context(viewport=PHONE, device_scale_factor=2, locale=locale).new_page()
    violations = watch(page)
    log_in(page, live_server.url, "anna", "anna-demo")
    page.wait_for_url("**/p/home/")
    return page, violations


def fits(page, width=PHONE["width"]):
    return page.evaluate("document.documentElement.scrollWidth") <= width


def test_a_guest_orders_champagne_from_home_in_two_taps(demo, live_server, browser):  # noqa: F811
    Order = demo.model("service_order")
    before = Order.objects.count()
    page, violations = guest_on_a_phone(browser, live_server)
    page.click("main a[href='/p/services/']")  # tap 1: the home's shortcut to the catalogue
    page.wait_for_url("**/p/services/")
    card = page.locator(".item-card", has_text="Champagne")
    assert "EUR" in card.inner_text()  # the card shows the price
    shot(page, "journey-1-catalogue-360")
    card.locator(".button--primary").click()  # tap 2: Order on the card
    page.wait_for_url("**/p/order_service/new/?service=*")
    # The form knows the service and the guest's one current stay; it asks only for what is left.
    assert "Champagne" in page.locator("main").inner_text()
    assert page.locator("main button[type=submit]").inner_text().strip() == "Order"
    assert fits(page)
    shot(page, "journey-2-order-form-360")
    page.click("main button[type=submit]")
    page.wait_for_url("**/p/my_orders/*/")
    assert "Saved." in page.locator(".messages").inner_text()
    assert Order.objects.count() == before + 1
    assert Order.objects.latest("pk").service.name == "Champagne to the room"
    shot(page, "journey-3-ordered-360")
    assert violations == []


def test_a_guest_books_an_excursion_from_the_calendar(demo, live_server, browser):  # noqa: F811
    Excursion, Booking = demo.model("excursion"), demo.model("booking")
    trip = Excursion.objects.create(name="Sunset sail", starts_at=timezone.now() + timedelta(hours=30), price=40,
                                    capacity=12)
    page, violations = guest_on_a_phone(browser, live_server)
    page.goto(f"{live_server.url}/p/excursions/")
    page.click(".calendar a:has-text('Sunset sail')")
    page.wait_for_url(f"**/p/excursion_detail/{trip.pk}/")
    shot(page, "journey-4-excursion-360")
    page.click("main a[data-action='book_excursion']")
    page.wait_for_url(f"**/p/book_excursion/new/?excursion={trip.pk}")
    assert page.locator("main button[type=submit]").inner_text().strip() == "Book"
    page.fill("#id_seats", "2")
    assert fits(page)
    shot(page, "journey-5-booking-form-360")
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    booking = Booking.objects.get(excursion=trip)
    assert (booking.seats, booking.status, booking.guest.user.username) == (2, "requested", "anna")
    page.goto(f"{live_server.url}/p/my_bookings/")
    row = page.locator("table.list tbody tr", has_text="Sunset sail")
    assert "Requested" in row.inner_text() and row.locator("time, td").count() > 2  # with the excursion's date
    shot(page, "journey-6-my-bookings-360")
    assert violations == []


def test_reception_exports_the_orders_queue(demo, live_server, browser):  # noqa: F811
    Order = demo.model("service_order")
    page = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US",
                               accept_downloads=True).new_page()
    log_in(page, live_server.url, "reception", "reception-demo")
    page.wait_for_url("**/p/desk/")
    page.goto(f"{live_server.url}/p/orders/")
    shot(page, "journey-7-orders-queue-1280")
    with page.expect_download() as info:
        page.click("a[href^='/p/orders/export/csv/']")
    rows = list(csv.reader(io.StringIO(info.value.path().read_text(encoding="utf-8-sig"))))
    assert rows[0][:3] == ["Number", "Service", "Guest"]  # the guest along stay.guest.full_name
    assert len(rows) - 1 == Order.objects.count()
    names = {o.stay.guest.full_name for o in Order.objects.select_related("stay__guest")}
    assert {r[2] for r in rows[1:]} == names
    with page.expect_download() as info:
        page.click("a[href^='/p/orders/export/xlsx/']")
    assert info.value.path().read_bytes()[:2] == b"PK"  # an XLSX (zip) file


def test_a_guest_reads_the_cabinet_in_russian(demo, live_server, browser):  # noqa: F811
    page, violations = guest_on_a_phone(browser, live_server)
    page.click(".user-menu summary")
    with page.expect_navigation():
        page.select_option(".user-menu select[name=language]", "ru")
    page.goto(f"{live_server.url}/p/services/")
    assert page.locator("h1").inner_text() == "Услуги"
    text = page.locator("main").inner_text()
    assert "Шампанское" in text and "Champagne to the room" not in text  # the records' own Russian
    shot(page, "journey-8-services-ru-360")
    page.goto(f"{live_server.url}/p/my_orders/")
    assert "Шампанское" in page.locator("main").inner_text()  # refs are titled in Russian too
    # The choice is saved: the next login is in Russian without choosing again.
    page.context.clear_cookies()
    log_in(page, live_server.url, "anna", "anna-demo")
    page.wait_for_url("**/p/home/")
    assert page.locator("html").get_attribute("lang") == "ru"
    shot(page, "journey-9-home-ru-360")
    assert violations == []
