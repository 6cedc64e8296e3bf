"""The builder's Pages, Workflows and Branding sections through HTTP: each role's menus and reordering them,
adding, editing and removing pages, the workflow diagrams (SVG drawn on the server) and their forms, branding
with its preview, and languages. The last test drives them in Chromium and keeps screenshots."""
import html
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from engine.builder import drafts
from engine.builder.diagram import workflow_svg
from engine.compiler import compile_folder

SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
SVG = "{http://www.w3.org/2000/svg}"



def text(response):
    return response.content.decode()


def words(response):
    return html.unescape(text(response))


def lenient(draft):
    """The draft's spec even while a check fails (a transition whose roles lack the action, say)."""
    from engine.builder.views.editing import lenient_spec

    draft.refresh_from_db()
    return lenient_spec(draft.sources)


def spec_of(draft):
    draft.refresh_from_db()
    compiled = drafts.check(draft)
    assert compiled.spec is not None, [str(p) for p in compiled.errors]
    return compiled.spec


def menu(page, place):
    """The page names of one menu list on the pages screen, in order (section menus left out)."""
    start = page.index(f'data-menu="{place}"')
    body = page[start:page.index("</section>", start)]
    body = re.sub(r'<ol class="m-menu m-children".*?</ol>', "", body, flags=re.S)
    return re.findall(r'class="m-item" data-page="(\w+)"', body)


# --- pages and menus ---------------------------------------------------------------------------

def test_each_roles_menus_appear_as_the_cabinet_shows_them(boss):
    _, client, _ = boss
    page = text(client.get("/builder/pages/?role=guest"))
    assert menu(page, "main") == ["home", "services", "my_orders", "excursions", "my_bookings", "my_points",
                                  "stays", "chat", "discussions", "claims"]
    assert re.search(r'data-parent="my_orders"[^>]*>\s*<li>\s*<div class="m-item" data-page="order_service"', page)
    assert menu(page, "user") == ["about", "my_details"]
    staff = text(client.get("/builder/pages/?role=reception"))
    # by order, then by name, as in the cabinet
    assert menu(staff, "main") == ["desk", "orders", "services", "bookings", "excursions", "inbox", "guests",
                                   "excursion_bookings", "stays", "points"]
    assert "menu-order" not in page  # browsing: no reordering forms


def test_moving_a_menu_item_with_the_buttons_reorders_that_menu_only(boss):
    _, client, draft = boss
    url = f"/builder/d/{draft.pk}/menu-order/"
    response = client.post(url, {"role": "guest", "place": "main", "move": "excursions:up"})
    assert response.status_code == 303
    assert response["Location"] == f"/builder/d/{draft.pk}/pages/?role=guest"
    page = text(client.get(f"/builder/d/{draft.pk}/pages/?role=guest"))
    assert menu(page, "main")[:4] == ["home", "services", "excursions", "my_orders"]
    staff = text(client.get(f"/builder/d/{draft.pk}/pages/?role=reception"))
    assert menu(staff, "main") == ["desk", "orders", "services", "bookings", "excursions", "inbox", "guests",
                                   "excursion_bookings", "stays", "points"]  # reception's menu as it was
    assert spec_of(draft).page("excursions").order < spec_of(draft).page("my_orders").order
    assert draft.edits[-1]["op"] == "order_menu"


def test_the_whole_order_posted_by_the_script_answers_json(boss):
    _, client, draft = boss
    url = f"/builder/d/{draft.pk}/menu-order/"
    order = ["claims", "home", "services", "my_orders", "excursions", "my_bookings", "my_points", "stays", "chat",
             "discussions"]
    response = client.post(url, {"role": "guest", "place": "main", "pages": ",".join(order)},
                           HTTP_ACCEPT="application/json")
    assert (response.status_code, response.json()) == (200, {"ok": True, "errors": {}})
    assert menu(text(client.get(f"/builder/d/{draft.pk}/pages/?role=guest")), "main") == order
    sources = dict(spec_of(draft) and draft.sources)
    response = client.post(url, {"role": "guest", "place": "main", "pages": "home,services"},
                           HTTP_ACCEPT="application/json")
    assert response.status_code == 400
    assert response.json()["errors"]["pages"] == ["The menu changed meanwhile; reload the page and try again."]
    draft.refresh_from_db()
    assert draft.sources == sources


def test_adding_a_page(boss):
    _, client, draft = boss
    response = client.post(f"/builder/d/{draft.pk}/add-page/", {
        "name": "spa", "kind": "list", "entity": "service", "title_en": "Spa", "title_ru": "Спа",
        "roles": ["guest"], "menu": "main", "icon": "star", "columns": ["name", "price"]})
    assert response.status_code == 303
    page = spec_of(draft).page("spa")
    assert (page.kind, page.entity, page.title.get("ru"), page.roles, page.columns, page.icon) == (
        "list", "service", "Спа", ("guest",), ("name", "price"), "star")
    assert "spa" in menu(text(client.get(f"/builder/d/{draft.pk}/pages/?role=guest")), "main")


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"name": "home"}, "name", "there is already a page 'home'"),
    ({"name": "Spa Page"}, "name", ""),
    ({"entity": ""}, "entity", "a list page needs an entity"),
    ({"title_en": "", "title_ru": ""}, "title", ""),
])
def test_a_bad_page_is_refused_next_to_its_field_and_nothing_changes(boss, data, field, message):
    _, client, draft = boss
    sources = dict(draft.sources)
    form = {"name": "spa", "kind": "list", "entity": "service", "title_en": "Spa", "roles": ["guest"], "menu": "main"}
    response = client.post(f"/builder/d/{draft.pk}/add-page/", {**form, **data})
    assert response.status_code == 400
    assert response.context["errors"][field]
    assert message in words(response)
    draft.refresh_from_db()
    assert draft.sources == sources and draft.edits == []


def test_editing_and_removing_a_page(boss):
    _, client, draft = boss
    form = text(client.get(f"/builder/d/{draft.pk}/pages/my_orders/"))
    # the page's columns come first, in their order, ticked
    assert re.findall(r'name="columns" value="(\w+)" checked', form) == [
        "number", "service", "quantity", "total", "status", "ordered_at"]
    response = client.post(f"/builder/d/{draft.pk}/pages/my_orders/", {
        "kind": "list", "entity": "service_order", "title_en": "Orders", "title_ru": "Заказы", "roles": ["guest"],
        "menu": "main", "icon": "receipt", "columns": ["number", "status"]})
    assert response.status_code == 303
    page = spec_of(draft).page("my_orders")
    assert (page.title.get("en"), page.columns, page.filters) == ("Orders", ("number", "status"),
                                                                  ("status", "ordered_at"))
    sources = dict(draft.sources)
    response = client.post(f"/builder/d/{draft.pk}/pages/my_orders/remove/")
    assert response.status_code == 400
    assert "“my_orders” is still used by pages.home.cards, pages.order_service.parent" in words(response)
    draft.refresh_from_db()
    assert draft.sources == sources
    assert client.post(f"/builder/d/{draft.pk}/pages/points/remove/").status_code == 303
    assert spec_of(draft).page("points") is None


# --- workflows ---------------------------------------------------------------------------------

def svgs(page):
    return [ET.fromstring(m) for m in re.findall(r"<svg .*?</svg>", page, flags=re.S)]  # noqa: S314 (our own SVG)


def test_every_workflow_is_drawn_with_all_its_states_and_transitions_as_valid_svg(boss):
    _, client, _ = boss
    spec = compile_folder("solutions/resort").spec
    page = text(client.get("/builder/workflows/"))
    drawn = svgs(page)
    assert len(drawn) == len(spec.workflows) == 3
    for wf, svg in zip(spec.workflows, drawn, strict=True):
        states = {g.get("data-state") for g in svg.iter(f"{SVG}g") if g.get("data-state")}
        assert states == {s.name for s in wf.states}
        texts = {t.text for t in svg.iter(f"{SVG}text")}
        assert {s.label.get("en") for s in wf.states} <= texts
        assert {t.label.get("en") for t in wf.transitions} <= texts
        edges = [p.get("data-transition") for p in svg.iter(f"{SVG}path") if p.get("data-transition")]
        assert sorted(edges) == sorted(t.name for t in wf.transitions for _ in t.sources)
        assert svg.find(f"{SVG}title").text.startswith(f"State diagram of the workflow {wf.name}")
        desc = svg.find(f"{SVG}desc").text
        assert all(f"{t.label.get('en')}: from" in desc for t in wf.transitions)
    one = text(client.get("/builder/workflows/service_order_flow/"))
    assert "<th scope=\"row\">Cancel <span class=\"s-muted\">(cancel)</span>" in one
    assert "New, Accepted" in one and "Cancel this order?" in one


def test_the_diagram_marks_the_initial_and_final_states(boss):
    spec = compile_folder("solutions/resort").spec
    svg = ET.fromstring(workflow_svg(spec.workflows[0], "ru", "en"))  # noqa: S314 (our own SVG)
    classes = {g.get("data-state"): g.get("class") for g in svg.iter(f"{SVG}g") if g.get("data-state")}
    assert "wf-initial" in classes["new"] and "wf-final" not in classes["new"]
    assert "wf-final" in classes["delivered"] and "wf-final" in classes["cancelled"]
    assert "Принят" in {t.text for t in svg.iter(f"{SVG}text")}
    assert svg.find(f"{SVG}g[@class='wf-start']") is not None


def test_adding_states_and_transitions_and_escaping_their_labels(boss):
    _, client, draft = boss
    base = f"/builder/d/{draft.pk}/workflows/claim_flow/"
    response = client.post(base + "add-state/", {"state": "escalated", "state_label_en": "Escalated <b>&",
                                                 "state_label_ru": "Передана"})
    assert response.status_code == 303
    response = client.post(base + "add-transition/", {
        "name": "escalate", "from": ["open"], "to": "escalated", "roles": ["reception", "manager"],
        "label_en": "Escalate <script>x</script>", "confirm_en": "Escalate it?"})
    assert response.status_code == 303
    wf = next(w for w in lenient(draft).workflows if w.name == "claim_flow")
    t = next(t for t in wf.transitions if t.name == "escalate")
    assert (t.sources, t.target, t.roles, t.label.get("en")) == (
        ("open",), "escalated", ("reception", "manager"), "Escalate <script>x</script>")
    page = text(client.get(base))
    # the draft's problem is shown next to the workflow: the roles do not hold the new action yet
    assert "role &#x27;reception&#x27; is listed on transition &#x27;escalate&#x27;" in page
    assert "<script>x</script>" not in page and "Escalate &lt;script&gt;x&lt;/script&gt;" in page
    svg = svgs(page)[0]
    assert "Escalated <b>&" in {t.text for t in svg.iter(f"{SVG}text")}
    assert "escalate" in [p.get("data-transition") for p in svg.iter(f"{SVG}path")]


def test_editing_and_removing_a_transition(boss):
    _, client, draft = boss
    base = f"/builder/d/{draft.pk}/workflows/booking_flow/"
    form = text(client.get(base + "transitions/confirm/"))
    assert 'name="from" value="requested" checked' in form
    response = client.post(base + "transitions/confirm/", {"from": ["requested"], "to": "confirmed",
                                                            "roles": ["manager"], "label_en": "Approve", "ask": "on"})
    assert response.status_code == 303
    wf = next(w for w in spec_of(draft).workflows if w.name == "booking_flow")
    t = next(t for t in wf.transitions if t.name == "confirm")
    assert (t.roles, t.label.get("en"), t.confirm) == (("manager",), "Approve", True)
    # 'cancel' is run by a timer: refused, next to the table
    sources = dict(draft.sources)
    response = client.post(base + "transitions/cancel/remove/")
    assert response.status_code == 400 and "is used by timers.unconfirmed; change those first" in words(response)
    draft.refresh_from_db()
    assert draft.sources == sources
    assert client.post(base + "transitions/confirm/remove/").status_code == 303
    spec = lenient(draft)  # the roles lost the action with it; the state it led to is now unreachable
    assert "state &#x27;confirmed&#x27; of workflow &#x27;booking_flow&#x27; cannot be reached" in text(client.get(base))
    assert [t.name for t in next(w for w in spec.workflows if w.name == "booking_flow").transitions] == ["cancel"]
    assert "confirm" not in spec.role("reception").grant("booking").actions


@pytest.mark.parametrize(("url", "data", "field"), [
    ("add-transition/", {"name": "escalate", "from": ["open"], "roles": ["manager"]}, "to"),
    ("add-transition/", {"name": "close", "from": ["open"], "to": "closed", "roles": ["manager"]}, "name"),
    ("add-state/", {"state": "Open Again", "state_label_en": "x"}, "state"),
    ("states/open/remove/", {}, "state"),
    ("transitions/close/", {"from": ["nowhere"], "to": "closed", "roles": ["guest"]}, "from"),
])
def test_bad_workflow_edits_answer_400_by_the_field_and_change_nothing(boss, url, data, field):
    _, client, draft = boss
    sources = dict(draft.sources)
    response = client.post(f"/builder/d/{draft.pk}/workflows/claim_flow/{url}", data)
    assert response.status_code == 400
    context = response.context
    forms = [context.get("errors") or {}] + [context[k]["errors"] for k in ("tform", "sform") if k in context]
    assert any(errors.get(field) for errors in forms)
    draft.refresh_from_db()
    assert draft.sources == sources and draft.edits == []


# --- branding and languages --------------------------------------------------------------------

def test_branding_is_saved_in_the_draft(boss):
    _, client, draft = boss
    page = text(client.get("/builder/branding/"))
    assert 'value="#0b6e4f"' in page and "builder/branding/preview/?primary=#0b6e4f" in page
    response = client.post(f"/builder/d/{draft.pk}/branding/", {
        "primary": "#123456", "accent": "#abcdef", "font": "Georgia, serif", "radius": "4px", "logo": "/static/l.png"})
    assert response.status_code == 303
    assert dict(spec_of(draft).branding) == {"primary": "#123456", "accent": "#abcdef", "font": "Georgia, serif",
                                             "radius": "4px", "logo": "/static/l.png"}


def test_bad_branding_is_refused_by_the_field_and_the_preview_button_saves_nothing(boss):
    _, client, draft = boss
    sources = dict(draft.sources)
    response = client.post(f"/builder/d/{draft.pk}/branding/", {"primary": "red", "radius": "12px"})
    assert response.status_code == 400
    assert response.context["errors"]["primary"] and "must be a colour" in words(response)
    response = client.post(f"/builder/d/{draft.pk}/branding/", {"primary": "#ff0000", "do": "preview"})
    assert response.status_code == 200 and "preview/?primary=#ff0000" in text(response)
    draft.refresh_from_db()
    assert draft.sources == sources and draft.edits == []


def test_the_preview_draws_the_cabinet_style_with_only_safe_values(boss):
    _, client, _ = boss
    response = client.get("/builder/branding/preview/?primary=%23ff0000&radius=3px&font=Open+Sans")
    page = text(response)
    assert "cabinet/cabinet.css" in page
    assert "--primary:#ff0000;" in page and "--radius:3px;" in page and "--font:Open Sans;" in page
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in response["Content-Security-Policy"]
    evil = text(client.get("/builder/branding/preview/?primary=red;}</style><script>x</script>&logo=javascript:x"))
    assert "<script>x</script>" not in evil and "javascript:" not in evil and "--primary:#0b6e4f;" in evil


def test_languages(boss):
    _, client, draft = boss
    sources = dict(draft.sources)
    response = client.post(f"/builder/d/{draft.pk}/languages/", {"languages": "en, ru", "default_language": "de"})
    assert response.status_code == 400
    assert response.context["lang_errors"]["default_language"] == ["must be one of the languages"]
    draft.refresh_from_db()
    assert draft.sources == sources
    response = client.post(f"/builder/d/{draft.pk}/languages/", {"languages": "en, ru", "default_language": "ru"})
    assert response.status_code == 303
    assert spec_of(draft).default_language == "ru"


def test_every_structure_page_needs_the_builder_permission(boss):
    _, _, draft = boss
    client = Client()
    client.force_login(get_user_model().objects.create_user("plain", password="pw-12345-user"))
    for url in ("/builder/pages/", "/builder/workflows/", "/builder/workflows/claim_flow/", "/builder/branding/",
                "/builder/branding/preview/", f"/builder/d/{draft.pk}/pages/my_orders/"):
        assert client.get(url).status_code == 403
    for url in (f"/builder/d/{draft.pk}/menu-order/", f"/builder/d/{draft.pk}/add-page/",
                f"/builder/d/{draft.pk}/workflows/claim_flow/add-state/", f"/builder/d/{draft.pk}/branding/",
                f"/builder/d/{draft.pk}/languages/"):
        assert client.post(url, {"role": "guest", "move": "home:down", "state": "x", "primary": "#000000"}).status_code \
            == 403
    draft.refresh_from_db()
    assert draft.edits == []


# --- in a real browser -------------------------------------------------------------------------

@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Chromium is not installed")
def test_in_chromium_menus_drag_and_keys_scope_steps_and_the_live_preview(boss, live_server):
    from playwright.sync_api import sync_playwright

    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    _, _, draft = boss
    SHOTS.mkdir(parents=True, exist_ok=True)
    base, d = live_server.url, f"/builder/d/{draft.pk}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        violations = []
        page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
        page.goto(f"{base}/accounts/login/")
        page.fill("#id_username", "boss")
        page.fill("#id_password", "pw-boss-12345")
        page.click("main button[type=submit]")
        page.wait_for_load_state()

        def shot(name, url, width=1280):
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(base + url)
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(SHOTS / f"builder-{name}.png"), full_page=True)

        shot("roles-matrix", "/builder/roles/")
        shot("roles-matrix-360", "/builder/roles/", 360)
        shot("role-rights", f"{d}/roles/guest/service_order/")
        # the scope builder steps without a round trip
        page.select_option("#scope-step", "stay")
        page.select_option("#scope-step", "guest")
        assert page.locator("#scope-crumbs li").all_inner_texts() == ["Service order", "Stay", "Guest"]
        assert page.input_value("#scope-path") == "stay.guest"
        page.click("#scope-back")
        assert page.input_value("#scope-path") == "stay"
        shot("role-page", f"{d}/roles/guest/")
        # the menu: Alt+ArrowDown moves the focused item and saves
        shot("menu-editor", f"{d}/pages/?role=guest")
        page.focus('.m-item[data-page="home"]')
        page.keyboard.press("Alt+ArrowDown")
        page.wait_for_selector("#menu-status:has-text('Order saved')")
        page.drag_and_drop('.m-item[data-page="my_bookings"]', '.m-item[data-page="my_orders"]')
        page.wait_for_selector("#menu-status:has-text('My bookings')")
        page.reload()
        order = page.eval_on_selector_all('ol[data-menu="main"] > li > .m-item', "els => els.map(e => e.dataset.page)")
        assert order[:5] == ["services", "home", "my_bookings", "my_orders", "excursions"]
        shot("workflow-diagram", f"{d}/workflows/service_order_flow/")
        shot("workflow-diagram-360", "/builder/workflows/service_order_flow/", 360)
        # the branding preview follows the typing
        shot("branding-preview", f"{d}/branding/")
        page.fill("#b-primary", "#7b2cbf")
        page.fill("#b-radius", "0px")
        frame = page.frame_locator("#branding-frame")
        assert frame.locator(".topbar").evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(123, 44, 191)"
        assert frame.locator("button").first.evaluate("e => getComputedStyle(e).borderRadius") == "0px"
        page.screenshot(path=str(SHOTS / "builder-branding-typed.png"), full_page=True)
        browser.close()
    assert violations == []
