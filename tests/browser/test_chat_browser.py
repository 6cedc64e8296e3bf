"""A guest on a 360 px phone and an operator on a 1280 px desktop chat live in two real browser contexts
(Debian's Chromium driven by Playwright); each sees the other's message within a second, without reloading."""
import os
import time

import pytest

from tests.browser.test_cabinet_browser import CHROMIUM, browser, shot  # noqa: F401 (the browser fixture)
from tests.engine.chat_solution import CHAT_YAML, person

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Chromium is not installed")
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
LIVE = 1.0  # seconds: a message shows at the other side within this, without a reload


@pytest.fixture
def people(publish_yaml, settings):
    settings.CABINET_CHAT_STREAM_LIFETIME = 60  # one stream per page for the whole test (WSGI mode)
    built, _ = publish_yaml(CHAT_YAML)
    guest = person("anna", "guest", built, "Anna Berg")
    built.model("stay").objects.create(guest=built.model("guest").objects.get(user=guest), room="214")
    return {"built": built, "anna": guest, "rita": person("rita", "reception", built, "Rita Desk")}


def log_in(chromium, live_server, username, viewport, password=None):
    context = chromium.new_context(viewport=viewport, device_scale_factor=2 if viewport["width"] < 500 else 1,
                                  locale="en-US", timezone_id="Europe/Berlin")
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(f"{page.url}: {message.text[:80]} {message.location}") if message.type == "error"
            and not message.text.startswith("Failed to load resource") else None)  # (the browser's favicon probe)
    page.on("response", lambda response: errors.append(f"{response.status} {response.url}")
            if response.status >= 400 else None)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password or f"{username}-pw-123")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return context, page, errors


def arrives(page, text, since):
    """Wait until a message with ``text`` shows in ``page``'s thread; return the seconds since ``since``."""
    page.locator("#thread .message .body", has_text=text).wait_for(timeout=5000)
    return time.monotonic() - since


def png():
    """A small photo-like PNG (160x100, a green gradient)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    image = Image.new("RGB", (160, 100))
    image.putdata([(11, 60 + y, 79 + x // 2) for y in range(100) for x in range(160)])
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def send(page, text):
    page.fill("#composer-text", text)
    start = time.monotonic()
    page.click("form[data-composer] button[type=submit]")
    return start


def test_a_guest_on_a_phone_and_an_operator_on_a_desktop_chat_live(people, live_server, browser):  # noqa: F811
    phone_context, phone, phone_errors = log_in(browser, live_server, "anna", {"width": 360, "height": 740})
    desk_context, desk, desk_errors = log_in(browser, live_server, "rita", {"width": 1280, "height": 800})

    phone.goto(f"{live_server.url}/p/chat/")
    assert phone.locator("h1").inner_text() == "Reception"
    shot(phone, "chat-1-guest-phone-start")
    desk.goto(f"{live_server.url}/p/inbox/")
    assert "No conversations here." in desk.locator(".chat-list").inner_text()

    phone.fill("#composer-text", "Hello! Is the <b>pool</b> open tonight?")
    with phone.expect_navigation():  # the first message starts the conversation and opens it
        phone.click("form[data-composer] button[type=submit]")
    assert phone.locator("#thread .message.mine .body").inner_text() == "Hello! Is the <b>pool</b> open tonight?"
    # The operator's inbox shows the new conversation by itself, with its unread count.
    desk.locator(".conversation .conv-title", has_text="Anna Berg").wait_for(timeout=5000)
    assert desk.locator(".conversation.unread .badge").inner_text().strip().endswith("1")
    assert desk.locator('.sidebar [data-badge="inbox"] .count').inner_text() == "1"
    shot(desk, "chat-2-operator-inbox")

    desk.click(".conversation a")
    desk.wait_for_url("**/p/inbox/c/*/")
    assert desk.locator("#thread .message .author").first.inner_text() == "Anna Berg"
    card = desk.locator(".chat-card")  # the client card beside the conversation, on the desktop's right
    assert card.is_visible() and "Phone" in card.inner_text() and "214" in card.inner_text()
    box, thread_box = card.bounding_box(), desk.locator(".chat-thread").bounding_box()
    assert box["x"] > thread_box["x"] + thread_box["width"] - 1 and box["x"] + box["width"] <= 1280
    desk.wait_for_timeout(300)  # both streams connected
    phone.wait_for_timeout(300)

    took = arrives(phone, "Yes, until ten.", send(desk, "Yes, until ten. Towels are at the pool bar."))
    assert took < LIVE, f"the operator's answer took {took:.2f}s to reach the phone"
    took = arrives(desk, "Thank you!", send(phone, "Thank you!"))
    assert took < LIVE, f"the guest's message took {took:.2f}s to reach the desktop"
    assert desk.locator("#thread .message").count() == 3 and phone.locator("#thread .message").count() == 3
    # The open conversation is read as messages arrive: its list entry and the menu count no unread.
    desk.locator(".conversation.unread").wait_for(state="detached", timeout=3000)
    desk.locator('.sidebar [data-badge="inbox"].zero').wait_for(state="attached", timeout=3000)

    # A photo from the phone: uploaded with the message, shown at the operator's side through the scoped URL.
    phone.set_input_files("[data-files]", files=[{"name": 'sink <b>.png', "mimeType": "image/png",
                                                  "buffer": png()}])
    assert phone.locator("[data-chosen]").inner_text() == 'sink <b>.png'
    took = arrives(desk, "The sink drips.", send(phone, "The sink drips."))
    assert took < LIVE, f"the photo's message took {took:.2f}s to reach the desktop"
    image = desk.locator("#thread .message .files img").last
    image.wait_for()
    assert image.get_attribute("alt") == 'sink <b>.png' and image.get_attribute("src").startswith("/chat/files/")
    desk.wait_for_function("(img) => img.complete && img.naturalWidth === 160", arg=image.element_handle())
    assert phone.locator("[data-chosen]").inner_text() == ""  # the form is ready for the next message

    # The operator's page read the guest's message: the phone shows "Seen" under it.
    phone.locator("#thread .message.mine").last.locator(".seen").wait_for(state="visible", timeout=3000)
    assert phone.locator("#thread .message.mine .seen:visible").count() == 1
    # Times are shown in the reader's time zone (Europe/Berlin here), not the server's UTC.
    created = phone.locator("#thread .message time").first.get_attribute("datetime")
    shown = phone.evaluate("(iso) => new Intl.DateTimeFormat('en-US', {hour: '2-digit', minute: '2-digit', "
                           "timeZone: 'Europe/Berlin'}).format(new Date(iso))", created)
    assert phone.locator("#thread .message time").first.inner_text() == shown
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360  # nothing wider than the phone
    shot(phone, "chat-3-guest-phone-thread")

    # The operator edits their answer; the phone shows the new text live.
    answer = desk.locator("#thread .message.mine").first
    answer.locator("details.edit summary").click()
    answer.locator("textarea").fill("Yes, until ten tonight.")
    start = time.monotonic()
    answer.locator("form[data-edit] button").click()
    took = arrives(phone, "Yes, until ten tonight.", start)
    assert took < LIVE and phone.locator("#thread .message .edited:visible").count() == 1
    shot(desk, "chat-4-operator-desktop-thread")

    # The operator takes the conversation; the guest opens a claim about her stay from the claims page.
    desk.click(".thread-actions button:has-text('Take')")
    desk.wait_for_url("**/p/inbox/c/*/")
    assert "Answered by Rita Desk" in desk.locator(".thread-state").inner_text()
    stay = people["built"].model("stay").objects.get()
    phone.goto(f"{live_server.url}/p/claims/?about={stay.pk}")
    assert phone.locator("#id_row-stay").input_value() == str(stay.pk)
    phone.fill("#id_row-subject", "Noisy air conditioning")
    phone.fill("#new-text", "It rattles all night.")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    shot(phone, "chat-5-guest-phone-new-claim")
    with phone.expect_navigation():
        phone.click(".chat-new button[type=submit]")
    assert phone.locator("#thread .message .body").inner_text() == "It rattles all night."
    desk.goto(f"{live_server.url}/p/inbox/?chat=claims")
    assert desk.locator(".conversation .conv-title").inner_text() == "Noisy air conditioning"
    shot(desk, "chat-6-operator-inbox-claims")
    # On a phone the operator's list and thread are separate screens: the thread with a way back.
    desk.set_viewport_size({"width": 360, "height": 740})
    desk.click(".conversation a")
    desk.wait_for_url("**/p/inbox/c/*/?chat=claims")
    assert desk.locator(".chat-list").is_hidden() and desk.locator(".thread-head .back").is_visible()
    assert desk.evaluate("document.documentElement.scrollWidth") <= 360
    shot(desk, "chat-7-operator-phone-thread")
    desk.click(".thread-head .back")
    desk.wait_for_url("**/p/inbox/?chat=claims")
    assert desk.locator(".chat-list").is_visible() and desk.locator(".chat-placeholder").is_hidden()
    # A moderator removes the guest from a channel she has open: her stream is revoked and says so.
    phone.goto(f"{live_server.url}/p/lounge/")
    phone.click(".conversation a >> text=Lobby")
    with phone.expect_navigation():
        phone.click(".thread-actions button:has-text('Join')")
    phone.fill("#composer-text", "Hello, neighbours!")
    phone.click("form[data-composer] button[type=submit]")
    phone.locator("#thread .message.mine").wait_for()
    desk.set_viewport_size({"width": 1280, "height": 800})
    desk.goto(phone.url)
    desk.on("dialog", lambda dialog: dialog.accept())
    desk.click(".thread-actions summary:has-text('Members')")
    start = time.monotonic()
    with desk.expect_navigation():
        desk.click(".members button:has-text('Remove')")
    phone.locator(".closed-note", has_text="You can no longer see this conversation.").wait_for(timeout=5000)
    assert time.monotonic() - start < 5
    assert phone.locator("#composer-text").count() == 0 and phone.locator(".thread-actions").is_hidden()
    shot(phone, "chat-8-guest-phone-removed")
    lobby = phone.url
    assert phone.goto(lobby).status == 404  # and the page is gone for her
    phone_errors.remove(f"404 {lobby}")

    assert (desk_errors, phone_errors) == ([], []), (desk_errors, phone_errors)
    phone_context.close()
    desk_context.close()
