"""A guest uses the cabinet in a real browser (Debian's Chromium driven by Playwright) on a phone screen."""
import io
import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="Chromium is not installed (make test installs it when run as root)")
# Playwright's sync API runs an event loop in this thread; the ORM calls below are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run", "--disable-sync"])
        yield instance
        instance.close()


@pytest.fixture
def demo(solution):
    from django.core.management import call_command

    call_command("demo", seed_only=True, stdout=io.StringIO())
    return solution


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_guest_on_a_phone(demo, live_server, browser):
    context = browser.new_context(viewport={"width": 360, "height": 740}, device_scale_factor=2, locale="en-US")
    page = context.new_page()
    page.goto(f"{live_server.url}/")
    assert "/accounts/login/" in page.url
    page.fill("#id_username", "anna")
    page.fill("#id_password", "anna-demo")
    page.click("button[type=submit]")
    page.wait_for_url("**/p/home/")
    assert page.locator("h1").inner_text() == "My stay"
    assert page.locator(".sidebar").is_hidden()  # the main menu is folded on a phone
    shot(page, "1-home")

    page.keyboard.press("Tab")  # keyboard: skip link, then the menu button
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "menu-toggle"
    page.keyboard.press("Enter")
    assert page.get_attribute(".menu-toggle", "aria-expanded") == "true"
    assert page.locator(".sidebar").is_visible()
    page.click(".sidebar >> text=My orders")
    page.wait_for_url("**/p/my_orders/")
    assert page.locator("table.list tbody tr").count() == 2
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # nothing wider than the phone
    shot(page, "2-list")

    page.click("table.list tbody tr >> nth=0 >> a")
    page.wait_for_url("**/p/my_orders/*/")
    assert "Breakfast in bed" in page.locator("main").inner_text()
    shot(page, "3-detail")

    page.goto(f"{live_server.url}/p/order_service/new/")
    assert page.locator("#id_stay").get_attribute("type") == "hidden"  # her one current stay, shown as text
    page.select_option("#id_service", label="Champagne to the room · 65.00 EUR")  # choices show the price
    page.fill("#id_quantity", "0")
    page.click("main button[type=submit]")
    assert page.locator(".field.invalid .error").first.inner_text() == "Ensure this value is greater than or equal to 1."
    shot(page, "4-form-error")
    page.fill("#id_quantity", "2")
    page.click("main button[type=submit]")
    page.wait_for_url("**/p/my_orders/*/")
    assert "Saved." in page.locator(".messages").inner_text()
    shot(page, "5-saved")

    page.click(".user-menu summary")
    with page.expect_navigation():
        page.select_option(".user-menu select[name=language]", "ru")
    page.goto(f"{live_server.url}/p/home/")
    assert page.locator("h1").inner_text() == "Мой отдых"
    assert page.locator("html").get_attribute("lang") == "ru"
    shot(page, "6-russian")
    context.close()


def test_a_stale_transition_shows_a_message_on_a_phone(demo, live_server, browser):
    """Two tabs show the same booking; the second 'Cancel' is refused with a message, inline and on the detail."""
    context = browser.new_context(viewport={"width": 360, "height": 740}, device_scale_factor=2, locale="en-US")
    first = context.new_page()
    first.on("dialog", lambda dialog: dialog.accept())
    first.goto(f"{live_server.url}/accounts/login/")
    first.fill("#id_username", "anna")
    first.fill("#id_password", "anna-demo")
    first.click("button[type=submit]")
    first.wait_for_url("**/p/home/")
    second = context.new_page()
    second.on("dialog", lambda dialog: dialog.accept())
    for tab in (first, second):
        tab.goto(f"{live_server.url}/p/my_bookings/")
    first.click("td.row-actions button")
    first.wait_for_selector("td.row-actions button", state="detached")  # the list reloaded: no button any more
    with second.expect_response(lambda r: "/do/cancel/" in r.url) as answer:
        second.click("td.row-actions button")
    assert answer.value.status == 409
    message = second.locator("#messages .msg.error")
    message.wait_for()
    assert "was not done: this row has changed in the meantime" in message.inner_text()
    second.wait_for_selector("td.row-actions button", state="detached")  # and its list shows the row as it is
    assert second.evaluate("document.documentElement.scrollWidth") <= 360
    shot(second, "8-stale-inline")

    booking = demo.model("booking").objects.get(guest__user__username="anna")
    booking.status = "requested"
    booking.save(update_fields=["status"])
    for tab in (first, second):
        tab.goto(f"{live_server.url}/p/my_bookings/{booking.pk}/")
    with first.expect_navigation():
        first.click("main .actions button")
    with second.expect_navigation():
        second.click("main .actions button")
    assert "was not done: this row has changed in the meantime" in second.locator(".messages").inner_text()
    assert second.locator("main .actions button").count() == 0
    shot(second, "9-stale-detail")
    context.close()


def test_installable_and_works_offline(demo, live_server, browser):
    context = browser.new_context(viewport={"width": 360, "height": 740})
    page = context.new_page()
    response = page.goto(f"{live_server.url}/manifest.webmanifest")
    assert response.ok and response.json()["display"] == "standalone"
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "anna")
    page.fill("#id_password", "anna-demo")
    page.click("button[type=submit]")
    page.wait_for_url("**/p/home/")
    # the service worker installs, caches the app shell and takes control of the page
    page.wait_for_function("navigator.serviceWorker.controller !== null || "
                           "navigator.serviceWorker.ready.then(() => true)", timeout=15000)
    page.reload()
    page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=15000)
    context.set_offline(True)
    page.goto(f"{live_server.url}/p/my_orders/")
    assert "You are offline" in page.locator("main").inner_text()
    shot(page, "7-offline")
    context.close()


def test_a_duplicate_with_a_forced_field_is_a_form_error_on_a_phone(publish_yaml, live_server, browser):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from tests.engine.test_pages import FAVOURITES_YAML

    built, _plan = publish_yaml(FAVOURITES_YAML)
    me = get_user_model().objects.create_user("me", password="pw-me-12345")
    me.groups.add(Group.objects.get_or_create(name="client")[0])
    built.model("customer").objects.create(user=me, name="Me")
    built.model("product").objects.create(name="Green tea")
    built.model("product").objects.create(name="Black tea")  # two choices: a select (one is shown fixed)
    context = browser.new_context(viewport={"width": 360, "height": 740}, device_scale_factor=2, locale="en-US")
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "me")
    page.fill("#id_password", "pw-me-12345")
    page.click("button[type=submit]")
    for _attempt in range(2):
        page.goto(f"{live_server.url}/p/add_favourite/new/")
        page.select_option("#id_product", label="Green tea")
        page.click("main button[type=submit]")
    assert "Favourite with this Customer and Product already exists." in page.locator(".errors").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    shot(page, "10-form-duplicate")
    context.close()


@pytest.mark.parametrize(("username", "pages"), [
    ("anna", ["home", "my_bookings"]),
    ("reception", ["desk", "guests", "excursions"]),
])
def test_guests_and_staff_on_a_desktop(demo, live_server, browser, username, pages):
    """At 1280 px: each role's pages fit the width, keep their menu, and are saved for a look."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", f"{username}-demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"**/p/{pages[0]}/")
    for name in pages:
        response = page.goto(f"{live_server.url}/p/{name}/")
        assert response.status == 200
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280
        assert page.locator("nav").count() >= 1
        shot(page, f"desktop-{username}-{name}")
    context.close()
