"""The Content-Security-Policy in a real browser: no page breaks it (no inline script, no style without
the nonce, no eval), and the two-factor enrolment page shows its QR code."""
import io
import os
import re
import shutil
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from tests.browser.test_cabinet_browser import CHROMIUM, browser, shot  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Chromium is not installed")
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def demo(solution):
    from django.core.management import call_command

    call_command("demo", seed_only=True, stdout=io.StringIO())
    return solution


def watch(page):
    """Collect the browser's CSP complaints (console messages and violation events)."""
    found = []
    page.on("console", lambda msg: found.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.add_init_script("document.addEventListener('securitypolicyviolation', e => "
                         "console.log('Content Security Policy violation: ' + e.violatedDirective + ' ' + e.blockedURI))")
    return found


def log_in(page, base, username, password):
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("main button[type=submit]")


def test_no_page_violates_the_policy(demo, live_server, browser):  # noqa: F811
    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    violations = watch(page)
    log_in(page, base, "anna", "anna-demo")
    page.wait_for_url("**/p/home/")
    # The branding colours come from the inline <style> that carries the nonce.
    assert page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--primary').trim()")
    for url in ("/p/home/", "/p/my_orders/", "/p/order_service/new/", "/p/about/"):
        page.goto(f"{base}{url}")
        page.wait_for_load_state("networkidle")
    page = context.browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US").new_page()
    violations += watch(page)
    log_in(page, base, "admin", "admin-demo")
    for url in ("/admin/", "/api/docs/"):
        page.goto(f"{base}{url}")
        page.wait_for_load_state("networkidle")
    assert page.locator(".swagger-ui").count() == 1  # the docs ran their script from a file
    page.wait_for_selector(".opblock", timeout=15000)
    assert violations == []


@pytest.fixture
def resort_with_two_factor_manager(schema, tmp_path, settings):
    """The resort demo, with its manager role marked ``two_factor: true``."""
    from django.core.management import call_command

    from engine.registry import registry

    folder = tmp_path / "resort"
    shutil.copytree(ROOT / "solutions" / "resort", folder)
    roles = folder / "roles.yaml"
    text = roles.read_text(encoding="utf-8")
    assert "  manager:\n    label:" in text
    roles.write_text(text.replace("  manager:\n    label:", "  manager:\n    two_factor: true\n    label:"),
                     encoding="utf-8")
    settings.CABINET_SOLUTION = folder
    call_command("demo", seed_only=True, stdout=io.StringIO())
    built = registry.active
    assert [r.name for r in built.spec.roles if r.two_factor] == ["manager"]
    return built


def test_two_factor_enrolment_in_the_browser(resort_with_two_factor_manager, live_server, browser):  # noqa: F811
    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user = get_user_model().objects.get(username="manager")

    context = browser.new_context(viewport={"width": 360, "height": 740}, device_scale_factor=2, locale="en-US")
    page = context.new_page()
    violations = watch(page)
    log_in(page, live_server.url, "manager", "manager-demo")
    page.wait_for_url("**/accounts/two-factor/**")
    assert page.locator("figure.qr svg").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    shot(page, "2fa-enrol")
    secret = page.locator(".otp-secret").inner_text()
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    assert re.search(r"secret=([A-Z2-7]+)", device.config_url).group(1) == secret
    page.fill("#id_code", f"{totp(device.bin_key):06d}")
    page.click("main form.card button[type=submit]")
    page.wait_for_url("**/p/desk/")
    assert violations == []
