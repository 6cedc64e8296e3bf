"""Every page kind of the resort, for a guest and for reception, at 360 px and 1280 px: no axe violations,
nothing wider than the screen (even with a 300-letter word), and a screenshot of each under var/screenshots/."""
import pytest

from tests.browser.axe import assert_accessible
from tests.browser.test_cabinet_browser import CHROMIUM, browser, demo, shot  # noqa: F401  (fixtures)

pytestmark = pytest.mark.skipif(not __import__("pathlib").Path(CHROMIUM).exists(), reason="Chromium is not installed")
LONG_WORD = "Supercalifragilistic" * 15  # 300 letters, no space


def first_row_url(page, list_url):
    page.goto(list_url)
    return page.locator("table.list tbody tr a").first.get_attribute("href")


def guest_pages(page, base):
    yield "home", "/p/home/"
    yield "list", "/p/services/"
    yield "list-own", "/p/my_orders/"
    yield "detail-auto", first_row_url(page, f"{base}/p/my_orders/")
    yield "detail", first_row_url(page, f"{base}/p/stays/")
    yield "form", "/p/order_service/new/"
    yield "calendar", "/p/excursions/"
    yield "chat", "/p/chat/"
    yield "info", "/p/about/"
    yield "profile", "/accounts/profile/"
    yield "intro", "/welcome/"
    yield "not-found", "/p/no-such-page/"


def reception_pages(page, base):
    yield "home", "/p/desk/"
    yield "list", "/p/guests/"
    yield "list-services", "/p/services/"
    yield "detail", first_row_url(page, f"{base}/p/stays/")
    yield "detail-auto", first_row_url(page, f"{base}/p/guests/")
    yield "calendar", "/p/excursions/"
    yield "inbox", "/p/inbox/"
    yield "profile", "/accounts/profile/"
    yield "not-found", "/p/no-such-page/"


def sign_in(page, base, username):
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", f"{username}-demo")
    page.click("main button[type=submit]")
    page.wait_for_load_state()


@pytest.mark.parametrize("width", [360, 1280])
@pytest.mark.parametrize(("username", "role", "pages"), [("anna", "guest", guest_pages),
                                                         ("reception", "reception", reception_pages)])
def test_every_page_kind_is_accessible_and_fits(demo, live_server, browser, width, username, role, pages):  # noqa: F811
    # the name at its limit (120), the description a 300-letter word
    demo.model("service").objects.create(name=LONG_WORD[:120], price=1, category="spa", description=LONG_WORD)
    context = browser.new_context(viewport={"width": width, "height": 800}, locale="en-US")
    page = context.new_page()
    base = live_server.url
    page.goto(f"{base}/accounts/login/")
    assert_accessible(page, "login")
    shot(page, f"axe-{width}-login")
    sign_in(page, base, username)
    seen = []
    for name, url in list(pages(page, base)):
        assert url, name
        page.goto(url if url.startswith("http") else f"{base}{url}")
        where = f"{role} {width}px {name} {page.url}"
        assert page.evaluate("document.documentElement.scrollWidth") <= width, f"wider than the screen: {where}"
        assert_accessible(page, where)
        shot(page, f"axe-{width}-{role}-{name}")
        seen.append(name)
    assert "not-found" in seen
    context.close()


def test_dark_mode_follows_the_system_and_stays_accessible(demo, live_server, browser):  # noqa: F811
    context = browser.new_context(viewport={"width": 360, "height": 800}, locale="ru-RU", color_scheme="dark")
    page = context.new_page()
    base = live_server.url
    page.goto(f"{base}/accounts/login/")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(13, 17, 23)"
    assert_accessible(page, "dark login")
    shot(page, "axe-dark-360-login")
    sign_in(page, base, "anna")
    for name, url in (("home", "/p/home/"), ("list", "/p/my_orders/"), ("form", "/p/order_service/new/"),
                      ("not-found", "/p/nope/")):
        page.goto(f"{base}{url}")
        assert_accessible(page, f"dark {name}")
        shot(page, f"axe-dark-360-guest-{name}")
    context.close()
