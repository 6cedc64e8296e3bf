"""Form pages in a real browser on a phone: child rows added with "Add a row" (no CSP complaint), saved with
the parent; the resort's order form with its fixed stay and its "Order" button."""
import io
import os

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from tests.browser.test_cabinet_browser import CHROMIUM, browser, shot  # noqa: F401 (fixture)
from tests.browser.test_csp_browser import log_in, watch
from tests.engine.test_pages_lines import SOLUTION

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Chromium is not installed")
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def test_child_rows_are_added_on_a_phone_and_saved_with_the_row(publish_yaml, live_server, browser):  # noqa: F811
    built, _ = publish_yaml(SOLUTION)
    clerk = get_user_model().objects.create_user("clerk1", password="pw-12345-x")
    clerk.groups.add(Group.objects.get_or_create(name="clerk")[0])
    page = browser.new_context(viewport={"width": 360, "height": 740}, locale="en-US").new_page()
    violations = watch(page)
    log_in(page, live_server.url, "clerk1", "pw-12345-x")
    page.goto(f"{live_server.url}/p/new_purchase/new/")
    page.fill("#id_title", "Groceries")
    assert page.locator("[data-line]:visible").count() == 2
    page.click("[data-line-add]")
    assert page.locator("[data-line]:visible").count() == 3
    for i, (product, qty) in enumerate([("Milk", "2"), ("Bread", "1"), ("Eggs", "3")]):
        page.fill(f"#id_line0-{i}-product", product)
        page.fill(f"#id_line0-{i}-qty", qty)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    shot(page, "forms-lines-360")
    page.click("button[type=submit]:has-text('Buy')")
    page.wait_for_url("**/p/purchases/*/")
    purchase = built.model("purchase").objects.get()
    items = built.model("item").objects.filter(purchase=purchase)
    assert sorted(items.values_list("product", "qty")) == [("Bread", 1), ("Eggs", 3), ("Milk", 2)]
    assert violations == []


def test_the_order_form_on_a_phone(solution, live_server, browser):  # noqa: F811
    from django.core.management import call_command

    call_command("demo", seed_only=True, stdout=io.StringIO())
    page = browser.new_context(viewport={"width": 360, "height": 740}, locale="en-US").new_page()
    violations = watch(page)
    log_in(page, live_server.url, "anna", "anna-demo")
    page.goto(f"{live_server.url}/p/order_service/new/?service=3")
    assert "Anna Petrova" in page.locator(".fixed-value").inner_text()
    assert page.locator("#id_service").input_value() == "3"
    shot(page, "forms-order-360")
    page.click("button[type=submit]:has-text('Order')")
    page.wait_for_url("**/p/my_orders/*/")
    assert "Saved." in page.locator(".messages").inner_text()
    assert violations == []
