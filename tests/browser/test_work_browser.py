"""Staff work pages in a real browser: reception accepts an order from the desk in two clicks, bulk-accepts
from the queue, and the icons, badges, cards and charts draw without breaking the CSP (360 and 1280 px)."""
import os

import pytest

from tests.browser.test_cabinet_browser import CHROMIUM, browser, demo, shot  # noqa: F401 (fixtures)
from tests.browser.test_csp_browser import log_in, watch

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Chromium is not installed")
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.mark.parametrize("width", [360, 1280])
def test_reception_accepts_an_order_from_the_desk_in_two_clicks(demo, live_server, browser, width):  # noqa: F811
    Order = demo.model("service_order")
    new = Order.objects.filter(status="new").first()
    page = browser.new_context(viewport={"width": width, "height": 800}, locale="en-US").new_page()
    violations = watch(page)
    log_in(page, live_server.url, "reception", "reception-demo")
    page.wait_for_url("**/p/desk/")
    page.wait_for_load_state("networkidle")
    icon = page.locator("main h2 svg.icon").first
    assert icon.bounding_box()["width"] > 0  # the sprite's symbol is drawn
    shot(page, f"work-desk-{width}")
    page.click("main a[href='/p/orders/?status=new'] >> nth=0")  # click 1: the counter
    page.wait_for_url("**/p/orders/?status=new")
    assert page.locator(".state-tabs a[aria-current] .count").inner_text() == "1"
    shot(page, f"work-orders-{width}")
    page.click(f"form[action='/p/orders/{new.pk}/do/accept/'] button")  # click 2: Accept
    page.wait_for_selector(f"form[action='/p/orders/{new.pk}/do/accept/']", state="detached")
    new.refresh_from_db()
    assert new.status == "accepted"
    assert page.locator(".state-tabs a[aria-current] .count").inner_text() == "0"  # the tabs reloaded too
    for url in ("/p/services/", "/p/bookings/", f"/p/orders/{new.pk}/"):
        page.goto(f"{live_server.url}{url}")
        page.wait_for_load_state("networkidle")
        shot(page, f"work-{url.strip('/').replace('/', '-')}-{width}")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert violations == []


def test_bulk_confirm_from_the_bookings_queue(demo, live_server, browser):  # noqa: F811
    Booking = demo.model("booking")
    requested = list(Booking.objects.filter(status="requested").values_list("pk", flat=True))
    page = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US").new_page()
    log_in(page, live_server.url, "reception", "reception-demo")
    page.wait_for_url("**/p/desk/")
    page.goto(f"{live_server.url}/p/bookings/?status=requested")
    for pk in requested:
        page.check(f"input[name=ids][value='{pk}']")
    page.click("#bulk-form button[value=confirm]")
    page.wait_for_url("**/p/bookings/?status=requested")
    assert f"{len(requested)} row" in page.locator("#messages").inner_text()
    assert set(Booking.objects.filter(pk__in=requested).values_list("status", flat=True)) == {"confirmed"}


def test_a_guest_orders_from_the_service_cards(demo, live_server, browser):  # noqa: F811
    page = browser.new_context(viewport={"width": 360, "height": 740}, locale="en-US").new_page()
    log_in(page, live_server.url, "anna", "anna-demo")
    page.wait_for_url("**/p/home/")
    page.goto(f"{live_server.url}/p/services/")
    shot(page, "work-services-cards-360")
    page.click(".item-card .button--primary >> nth=0")
    page.wait_for_url("**/p/order_service/new/?service=*")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
