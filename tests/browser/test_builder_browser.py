"""A business admin changes the resort in the builder in a real browser (Chromium, 1280 px), a guest sees it.

The admin adds an "Allergies" field to the guest with English and Russian labels, lets guests see and
edit it, looks at the plan and at the preview, publishes; in a second browser context a signed-in guest
sees the field on their details form within a second, with no restart; the admin rolls back, and the field
is gone with every other stored value as it was. Screenshots: var/screenshots/builder-journey-*.png.
"""
import io
import os
import re
import time

import pytest
from django.db import connection

from tests.browser.test_cabinet_browser import CHROMIUM, browser, shot  # noqa: F401 (the browser fixture)

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
# Tables a publish and a rollback legitimately write: the versions and the builder's drafts and audit log,
# and the sessions and login records of the two people signing in.
CHANGED_BY_DESIGN = {"engine_solutionversion", "engine_draft", "engine_builderlog", "django_session",
                     "axes_accessattempt", "axes_accesslog", "axes_accessfailurelog"}


@pytest.fixture
def demo(solution):
    from django.core.management import call_command

    call_command("demo", seed_only=True, stdout=io.StringIO())
    return solution


def snapshot():
    """Every row of every table (but those a publish writes by design), in a stable order."""
    found = {}
    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names(cursor)):
            if table in CHANGED_BY_DESIGN:
                continue
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 (introspected name)
            names = [c[0] for c in cursor.description]
            found[table] = (names, sorted(cursor.fetchall(), key=repr))
    return found


def log_in(context, base, username):
    page = context.new_page()
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", f"{username}-demo")
    page.click("main button[type=submit]")
    page.wait_for_load_state("networkidle")
    return page


def test_an_admin_adds_a_field_a_guest_sees_it_and_a_rollback_removes_it(demo, live_server, browser):  # noqa: F811
    base = live_server.url
    guest_row = demo.model("guest").objects.get(user__username="anna")
    details = f"{base}/p/my_details/{guest_row.pk}/edit/"
    guest = log_in(browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US"), base, "anna")
    guest.goto(details)
    assert guest.locator("#id_allergies").count() == 0 and guest.locator("#id_full_name").is_visible()
    admin = log_in(browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US"), base, "admin")
    before = snapshot()

    # A draft, and the field with its two labels.
    admin.goto(f"{base}/builder/")
    admin.fill("#draft-title", "Allergies on the guest")
    admin.click("form[action$='/drafts/new/'] button[type=submit]")
    admin.wait_for_url(re.compile(r".*/builder/d/\d+/$"))
    draft = int(re.search(r"/d/(\d+)/", admin.url).group(1))
    admin.goto(f"{base}/builder/d/{draft}/entities/guest/add-field/")
    admin.fill("#id_name", "allergies")
    admin.select_option("#id_type", "text")
    admin.fill("#id_label_en", "Allergies")
    admin.fill("#id_label_ru", "Аллергии")
    shot(admin, "builder-journey-1-add-field")
    admin.click("button[type=submit].b-btn-primary")
    admin.wait_for_url(re.compile(rf".*/builder/d/{draft}/entities/guest/(#field-allergies)?$"))
    assert "allergies" in admin.locator("main").inner_text()

    # Guests may see and edit it.
    admin.goto(f"{base}/builder/d/{draft}/roles/guest/guest/")
    admin.check("input[name=view][value=allergies]")
    admin.check("input[name=edit][value=allergies]")
    shot(admin, "builder-journey-2-rights")
    admin.click(".s-buttons button[value=save]")
    admin.wait_for_url(re.compile(rf".*/builder/d/{draft}/roles/guest/(#.*)?$"))

    # The plan: one safe step, and what changes in words.
    admin.click(".b-draft-links >> text=Plan & publish")
    admin.wait_for_url(f"**/builder/d/{draft}/plan/")
    words = admin.locator(".b-words").inner_text()
    assert "Field 'Allergies' (guest.allergies) added" in words
    assert admin.locator(".b-step").count() == 1 and admin.locator(".b-step-safe").count() == 1
    assert admin.locator("input[name=confirm]").count() == 0
    shot(admin, "builder-journey-3-plan")

    # The preview as the guest anna: the field is on her form, and nothing is stored.
    admin.goto(f"{base}/builder/d/{draft}/preview/")
    admin.click(".b-roles >> text=as anna")
    admin.wait_for_url(f"**/builder/d/{draft}/preview/guest/*/p/home/")
    admin.goto(admin.url.replace("/p/home/", f"/p/my_details/{guest_row.pk}/edit/"))
    assert admin.locator(".builder-preview").inner_text().startswith(f"Preview of draft #{draft} as role Guest (anna)")
    assert admin.locator("#id_allergies").is_visible()
    shot(admin, "builder-journey-4-preview")
    assert snapshot() == before

    # Publish; the guest's next page has the field, with no restart.
    admin.goto(f"{base}/builder/d/{draft}/plan/")
    admin.fill("#id_comment", "The kitchen asked for allergies")
    admin.click(".b-publish button[type=submit]")
    admin.wait_for_url("**/builder/published/2/")
    assert admin.locator("h1").inner_text() == "Version 2 is live"
    shot(admin, "builder-journey-5-published")
    published_at = time.monotonic()  # the publish is over (the screenshot above is not the site's time)
    guest.goto(details)
    guest.locator("#id_allergies").wait_for(timeout=1000)
    seen_after = time.monotonic() - published_at
    assert seen_after < 1.0, seen_after
    assert guest.locator("label[for=id_allergies]").inner_text().startswith("Allergies")
    shot(guest, "builder-journey-6-guest-sees-it")

    # History and rollback to version 1, through the same plan screen.
    admin.goto(f"{base}/builder/history/")
    assert admin.locator("#v2").inner_text().count("The kitchen asked for allergies") == 1
    shot(admin, "builder-journey-7-history")
    admin.click("#v1 button:has-text('roll back to v1')")
    admin.wait_for_url(re.compile(r".*/builder/d/\d+/plan/$"))
    step = admin.locator(".b-step")
    assert step.count() == 1 and "allergies" in step.inner_text()
    for box in admin.locator("input[name=confirm]").all():  # a dropped column is confirmed, whatever it held
        box.check()
    admin.fill("#id_comment", "Back to version 1")
    shot(admin, "builder-journey-8-rollback-plan")
    admin.click(".b-publish button[type=submit]")
    admin.wait_for_url("**/builder/published/3/")
    shot(admin, "builder-journey-9-rolled-back")

    guest.goto(details)
    assert guest.locator("#id_allergies").count() == 0 and guest.locator("#id_full_name").is_visible()
    shot(guest, "builder-journey-10-guest-after-rollback")
    assert snapshot() == before  # the column is gone and every other stored value is as it was
    admin.goto(f"{base}/builder/history/1/3/")
    assert "No change in the definitions." in admin.locator("main").inner_text()
    admin.goto(f"{base}/builder/audit/")
    assert admin.locator(".b-audit-rollback").count() == 1 and admin.locator(".b-audit-publish").count() == 1
    shot(admin, "builder-journey-11-audit")
