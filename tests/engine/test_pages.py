"""The generated cabinet pages: every kind, menus and direct URLs per role, forms, language, PWA files."""
import datetime
import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from engine.fieldtypes import FieldType
from engine.models import UserPreference


@pytest.fixture
def resort(solution, client):
    """The resort solution with its demo data (anna, boris, reception, manager, admin)."""
    import io

    from django.core.management import call_command

    call_command("demo", seed_only=True, stdout=io.StringIO())
    return solution


def login(client, username):
    assert client.login(username=username, password=f"{username}-demo")
    return client


def links(html):
    return set(re.findall(r'href="(/p/[^"]+)"', html))


def test_anonymous_users_get_the_login_page_and_public_pages_only(resort, client):
    assert client.get("/").url.startswith("/accounts/login/")
    assert client.get("/p/my_orders/").url.startswith("/accounts/login/?next=/p/my_orders/")
    page = client.get("/p/about/")
    assert page.status_code == 200 and "Welcome to Sunny Bay" in page.content.decode()
    assert client.get("/accounts/login/").status_code == 200


def test_each_role_gets_its_home_and_menu(resort, client):
    login(client, "anna")
    assert client.get("/").url == "/p/home/"
    html = client.get("/p/home/").content.decode()
    assert {"/p/home/", "/p/services/", "/p/my_orders/", "/p/excursions/", "/p/my_bookings/", "/p/stays/"} <= links(html)
    assert "/p/guests/" not in html and "/p/desk/" not in html
    client.logout()
    login(client, "reception")
    assert client.get("/").url == "/p/desk/"
    html = client.get("/p/desk/").content.decode()
    assert "/p/guests/" in html and "/p/my_orders/" not in html


@pytest.mark.parametrize(("username", "url", "status"), [
    ("anna", "/p/guests/", 404), ("anna", "/p/desk/", 404), ("reception", "/p/my_orders/", 404),
    ("anna", "/p/nope/", 404), ("anna", "/p/stay_detail/999/", 404), ("reception", "/p/guests/", 200),
    ("manager", "/p/desk/", 200), ("admin", "/p/guests/", 200),
])
def test_direct_urls_follow_the_menus(resort, client, username, url, status):
    login(client, username)
    assert client.get(url).status_code == status


def test_list_page_shows_only_the_users_rows_and_visible_columns(resort, client):
    login(client, "anna")
    html = client.get("/p/my_bookings/").content.decode()
    assert "Sunset boat trip" in html and "Old town walk" not in html  # boris's booking
    stays = client.get("/p/stays/").content.decode()
    assert stays.count('data-label="Check-in"') == 2  # anna's two stays, not boris's


def test_list_filters_search_sort_paging_and_htmx_partial(resort, client):
    login(client, "reception")
    Service = resort.model("service")
    for i in range(30):
        Service.objects.create(name=f"Extra {i:02d}", price=i, category="spa")
    full = client.get("/p/services/?category=spa&sort=-price").content.decode()
    assert full.index("Extra 29") < full.index("Extra 28") and "Champagne" not in full
    assert "Page 1 of 2" in full
    partial = client.get("/p/services/?category=spa&page=2", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in partial and "Page 2 of 2" in partial
    guests = client.get("/p/guests/?q=boris").content.decode()
    assert "Boris Ivanov" in guests and "Anna Petrova" not in guests


def test_list_queries_do_not_grow_with_rows(resort, client):
    login(client, "reception")
    Service = resort.model("service")
    client.get("/p/services/")
    counts = []
    for total in (5, 40):
        Service.objects.bulk_create([Service(name=f"S{i}", price=1) for i in range(total)])
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/p/services/?page_size=20").status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]


def test_detail_page_with_sections_related_rows_and_transitions(resort, client):
    login(client, "anna")
    stay = resort.model("stay").objects.filter(guest__user__username="anna", status="in_house").get()
    html = client.get(f"/p/stay_detail/{stay.pk}/").content.decode()
    assert "Check-in" in html and "Breakfast in bed" in html and "Champagne to the room" in html
    booking = resort.model("booking").objects.get(guest__user__username="anna")
    detail = client.get(f"/p/my_bookings/{booking.pk}/").content.decode()
    assert "/do/cancel/" in detail and "/do/confirm/" not in detail  # guests cancel, reception confirms
    response = client.post(f"/p/my_bookings/{booking.pk}/do/cancel/")
    assert response.status_code == 302
    booking.refresh_from_db()
    assert booking.status == "cancelled"
    assert client.post(f"/p/my_bookings/{booking.pk}/do/confirm/").status_code == 403


def test_form_shows_field_errors_then_saves_with_forced_values(resort, client):
    login(client, "anna")
    form = client.get("/p/order_service/new/").content.decode()
    assert 'name="quantity"' in form and 'name="status"' not in form
    stay = resort.model("stay").objects.filter(guest__user__username="anna", status="in_house").first()
    boris_stay = resort.model("stay").objects.filter(guest__user__username="boris").first()
    # anna's one current stay is the only choice (in scope, not over): fixed, posted as a hidden value
    assert f'<input type="hidden" name="stay" value="{stay.pk}"' in form and 'name="stay" id' not in form
    service = resort.model("service").objects.first()
    bad = client.post("/p/order_service/new/", {"stay": stay.pk, "service": service.pk, "quantity": 0})
    assert bad.status_code == 400 and "Ensure this value is greater than or equal to 1." in bad.content.decode()
    good = client.post("/p/order_service/new/", {"stay": stay.pk, "service": service.pk, "quantity": 2})
    assert good.status_code == 302
    order = resort.model("service_order").objects.latest("id")
    assert (order.quantity, order.status, order.stay_id) == (2, "new", stay.pk)
    assert client.post("/p/order_service/new/", {"stay": boris_stay.pk, "service": service.pk,
                                                 "quantity": 1}).status_code == 400


def test_dashboard_counters_and_calendar(resort, client):
    login(client, "anna")
    html = client.get("/p/home/").content.decode()
    assert "Open orders" in html and "Recent orders" in html and "Breakfast in bed" in html
    # anna's own points: 120 from the demo data, 7 earned by her paid and delivered champagne
    assert re.search(r"Loyalty points</h2>\s*<p class=\"big\">127</p>", html)
    calendar = client.get("/p/excursions/").content.decode()
    assert "Sunset boat trip" in calendar and "Next week" in calendar


def test_info_content_is_sanitised(publish_yaml, client):
    publish_yaml("""
entities:
  a:
    fields: {x: string}
pages:
  about:
    kind: info
    public: true
    content: "# Hi\\n<script>alert(1)</script><a href='javascript:alert(1)' onclick='x()'>link</a>"
""")
    html = client.get("/p/about/").content.decode()
    assert "<h1>Hi</h1>" in html and "<script>alert" not in html and "javascript:" not in html
    assert "onclick" not in html


def test_language_switch_is_remembered(resort, client):
    login(client, "anna")
    response = client.post("/i18n/setlang/", {"language": "ru", "next": "/p/home/"})
    assert response.status_code == 302
    html = client.get("/p/home/").content.decode()
    assert "Мой отдых" in html and "Открытые заказы" in html and 'lang="ru"' in html
    assert "Профиль" in html  # the chrome is translated too


def test_profile_details_password_notifications_and_tokens(resort, client):
    login(client, "anna")
    assert client.get("/accounts/profile/").status_code == 200
    client.post("/accounts/profile/", {"save_details": "1", "first_name": "Anya", "last_name": "P",
                                       "email": "anya@example.com", "phone": "+7 900 123-45-67"})
    anna = get_user_model().objects.get(username="anna")
    assert (anna.first_name, anna.email) == ("Anya", "anya@example.com")
    assert UserPreference.objects.get(user=anna).phone == "+7 900 123-45-67"
    assert client.post("/accounts/profile/", {"save_details": "1", "phone": "call me"}).status_code == 400
    bad = client.post("/accounts/profile/", {"save_details": "1", "email": "not-an-email"})
    assert bad.status_code == 400
    client.post("/accounts/profile/", {"save_notifications": "1", "channels": ["sms", "push", "fax"]})
    assert UserPreference.objects.get(user=anna).channels == ["sms", "push"]
    client.post("/accounts/profile/", {"new_token": "1"})
    from knox.models import AuthToken

    token = AuthToken.objects.get(user=anna)
    client.post("/accounts/profile/", {"revoke_token": token.token_key})
    assert not AuthToken.objects.filter(user=anna).exists()
    changed = client.post("/accounts/profile/", {"change_password": "1", "old_password": "anna-demo",
                                                 "new_password1": "a-much-longer-secret-42",
                                                 "new_password2": "a-much-longer-secret-42"})
    assert changed.status_code == 302
    assert get_user_model().objects.get(username="anna").check_password("a-much-longer-secret-42")


def test_pwa_manifest_service_worker_offline_and_icons(resort, client):
    manifest = json.loads(client.get("/manifest.webmanifest").content)
    assert manifest["name"] == "Sunny Bay Resort" and manifest["theme_color"] == "#0b6e4f"
    assert {icon["sizes"] for icon in manifest["icons"]} == {"192x192", "512x512"}
    worker = client.get("/sw.js")
    assert worker["Content-Type"] == "application/javascript" and "/offline/" in worker.content.decode()
    assert client.get("/offline/").status_code == 200
    icon = client.get("/icon-512.png")
    assert icon["Content-Type"] == "image/png" and icon.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_branding_tokens_reach_the_css(resort, client):
    login(client, "anna")
    html = client.get("/p/home/").content.decode()
    assert "--primary:#0b6e4f;" in html and "--accent:#f4a259;" in html and "--radius:12px;" in html


def test_user_without_role_sees_an_empty_cabinet(resort, client):
    user = get_user_model().objects.create_user("lonely", password="lonely-demo")
    assert not user.groups.exists()
    login(client, "lonely")
    response = client.get("/")
    assert response.status_code == 200 and "nothing for your account" in response.content.decode()


def test_a_solution_theme_overrides_a_template(schema, client, tmp_path, settings):
    from engine.migrate import publish
    from tests.conftest import compile_yaml

    theme_dir = tmp_path / "sunny" / "cabinet"
    theme_dir.mkdir(parents=True)
    (theme_dir / "info.html").write_text('{% extends "default/cabinet/base.html" %}'
                                        '{% block content %}<p class="themed">{{ html|safe }}</p>{% endblock %}')
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [tmp_path, *settings.TEMPLATES[0]["DIRS"]]}]
    compiled = compile_yaml("entities:\n  a:\n    fields: {x: string}\npages:\n"
                            "  about: {kind: info, public: true, content: Hello}\n  faq: {kind: info, public: true}\n",
                            header="solution:\n  name: t\n  theme: sunny\n")
    publish(compiled.raise_for_errors(), compiled.sources)
    assert '<p class="themed"><p>Hello</p></p>' in client.get("/p/about/").content.decode()
    assert client.get("/p/faq/").status_code == 200




def test_calendar_day_view(resort, client):
    login(client, "anna")
    trip = resort.model("excursion").objects.get(name="Sunset boat trip")
    day = trip.starts_at.date().isoformat()
    html = client.get(f"/p/excursions/?view=day&day={day}").content.decode()
    assert "Sunset boat trip" in html and "Old town walk" not in html and "Next day" in html


def test_detail_queries_do_not_grow_with_related_rows(resort, client):
    login(client, "anna")
    stay = resort.model("stay").objects.filter(guest__user__username="anna", status="in_house").get()
    Order, service = resort.model("service_order"), resort.model("service").objects.first()
    client.get(f"/p/stay_detail/{stay.pk}/")
    counts = []
    for extra in (1, 15):
        Order.objects.bulk_create([Order(stay=stay, service=service) for _ in range(extra)])
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(f"/p/stay_detail/{stay.pk}/").status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]


def test_inline_row_actions_with_htmx(resort, client):
    login(client, "anna")
    booking = resort.model("booking").objects.get(guest__user__username="anna")
    html = client.get("/p/my_bookings/").content.decode()
    url = f"/p/my_bookings/{booking.pk}/do/cancel/"
    assert f'hx-post="{url}"' in html and 'hx-confirm="Cancel this booking?"' in html
    response = client.post(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 204 and response["HX-Trigger"] == "cabinet-changed"
    booking.refresh_from_db()
    assert booking.status == "cancelled"
    assert f'hx-post="{url}"' not in client.get("/p/my_bookings/").content.decode()  # cancelled: no more button


def test_access_matrix_through_the_pages(solution, client):
    """For every role and every entity page: a row opens exactly when the policy and the page allow it."""
    from tests import matrix

    built = solution
    owners = matrix.make_users(2)
    matrix.make_rows(built, owners)
    checked = 0
    for role in built.spec.roles:
        users = matrix.give_role(owners, role)
        for user in users:
            client.force_login(user)
            access = built.policy.for_user(get_user_model().objects.get(pk=user.pk))
            for page in built.spec.pages:
                if not page.entity:
                    continue
                entity = built.spec.entity(page.entity)
                rows = list(built.model(entity.name).objects.all())
                page_open = built.pages.allowed(access, page)
                visible = matrix.expected(built, role, entity, "view", user, rows)
                updatable = matrix.expected(built, role, entity, "update", user, rows)
                for row in rows:
                    status = client.get(f"/p/{page.name}/{row.pk}/").status_code
                    assert status == (200 if page_open and row.pk in visible else 404), (role.name, page.name, row.pk)
                    edit = client.get(f"/p/{page.name}/{row.pk}/edit/").status_code
                    want = (200 if row.pk in updatable else 403 if row.pk in visible else 404) if page_open else 404
                    assert edit == want, (role.name, page.name, row.pk, "edit")
                    checked += 2
                grant = role.grant(entity.name)
                creates = grant is not None and ("all" in grant.actions or "create" in grant.actions)
                new = client.get(f"/p/{page.name}/new/").status_code
                assert new == ((200 if creates else 403) if page_open else 404), (role.name, page.name, "new")
    assert checked > 300


# --- issue 9: refusals, card filters, forced unique values, out-of-scope titles, fields per role ----------


def test_a_stale_transition_answers_409_with_a_message_and_the_row_as_it_is_now(resort, client):
    login(client, "anna")
    booking = resort.model("booking").objects.get(guest__user__username="anna")
    url = f"/p/my_bookings/{booking.pk}/do/cancel/"
    assert client.post(url).status_code == 302  # the first click
    again = client.post(url)  # a second tab still showing the button
    html = again.content.decode()
    assert again.status_code == 409
    assert "“Cancel” was not done: this row has changed in the meantime." in html
    assert 'class="msg error"' in html and "Cancelled" in html and f'action="{url}"' not in html
    inline = client.post(url, HTTP_HX_REQUEST="true")
    assert inline.status_code == 409
    assert (inline["HX-Trigger"], inline["HX-Retarget"], inline["HX-Reswap"]) == ("cabinet-changed", "#messages",
                                                                                 "innerHTML")
    assert inline.content.decode().strip() == (
        '<p class="msg error">“Cancel” was not done: this row has changed in the meantime. '
        "It is shown as it is now.</p>")
    booking.refresh_from_db()
    assert booking.status == "cancelled"


def test_every_workflow_refusal_is_answered_not_raised(resort, client, monkeypatch):
    """Any refusal of the write path (its domain errors) becomes a page answer with its status and reason."""
    from engine import writes

    def refuse(*args, **kwargs):
        raise writes.GuardRefused("the excursion has started.")

    monkeypatch.setattr(writes, "transition", refuse)
    login(client, "anna")
    booking = resort.model("booking").objects.get(guest__user__username="anna")
    response = client.post(f"/p/my_bookings/{booking.pk}/do/cancel/")
    assert response.status_code == 409
    assert "“Cancel” was not done: the excursion has started." in response.content.decode()


CARDS_YAML = """
entities:
  ticket:
    title: subject
    owner: user
    fields:
      user: {type: ref, to: user}
      subject: string
      status: {type: choice, choices: [new, open, closed], default: new}
      created_at: {type: datetime, default: now}
roles:
  client:
    entities:
      ticket: {actions: [list, view], scope: all}
pages:
  home:
    kind: dashboard
    cards:
      - {kind: recent, title: Mine, entity: ticket, filter: {user: $user}}
      - {kind: counter, title: Open or new, entity: ticket, filter: {status: [new, open]}}
      - {kind: counter, title: Mine open, entity: ticket, filter: {user: $user, status: open}}
"""


def test_card_filters_resolve_variables_and_lists_like_scopes(publish_yaml, client):
    from django.contrib.auth.models import Group

    built, _plan = publish_yaml(CARDS_YAML)
    User = get_user_model()
    me, other = User.objects.create_user("me", password="pw-me-12345"), User.objects.create_user("other")
    me.groups.add(Group.objects.get_or_create(name="client")[0])
    Ticket = built.model("ticket")
    for user, subject, status in [(me, "My new", "new"), (me, "My open", "open"), (other, "Their open", "open"),
                                  (other, "Their closed", "closed")]:
        Ticket.objects.create(user=user, subject=subject, status=status)
    client.force_login(me)
    response = client.get("/p/home/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "My new" in html and "My open" in html and "Their open" not in html  # recent: $user resolved
    counters = re.findall(r"<h2>([^<]+)</h2>\s*<p class=\"big\">([^<]+)</p>", html)
    assert counters == [("Open or new", "3"), ("Mine open", "1")]


def test_a_card_filter_value_of_the_wrong_type_shows_nothing_instead_of_failing(publish_yaml):
    from engine.pages.dashboard import card_rows
    from engine.spec import CardSpec

    built, _plan = publish_yaml(CARDS_YAML)
    admin = get_user_model().objects.create_superuser("root", password="pw-root-12345")
    access = built.policy.for_user(admin)
    bad = CardSpec(kind="counter", entity="ticket", filter=(("created_at", "yesterday"),))
    assert card_rows(access, bad) is None
    many = CardSpec(kind="counter", entity="ticket", filter=(("status", ["new", "closed"]),))
    assert "IN" in str(card_rows(access, many).query)


FAVOURITES_YAML = """
entities:
  customer:
    title: name
    owner: user
    fields:
      user: {type: ref, to: user, unique: true}
      name: string
  product:
    title: name
    fields: {name: string}
  favourite:
    fields:
      customer: {type: ref, to: customer, required: true}
      product: {type: ref, to: product, required: true}
    indexes: [{fields: [customer, product], unique: true}]
roles:
  client:
    entities:
      customer: {actions: [view], scope: own}
      product: {actions: [list, view], scope: all}
      favourite:
        actions: [list, view, create]
        scope: {customer.user: $user}
        fields: {view: [customer, product], edit: [product]}
        set: {customer: $user.customer}
pages:
  favourites: {kind: list, entity: favourite}
  add_favourite: {kind: form, entity: favourite, fields: [product]}
"""


@pytest.fixture
def favourites(publish_yaml, client):
    from django.contrib.auth.models import Group

    built, _plan = publish_yaml(FAVOURITES_YAML)
    me = get_user_model().objects.create_user("me", password="pw-me-12345")
    me.groups.add(Group.objects.get_or_create(name="client")[0])
    built.model("customer").objects.create(user=me, name="Me")
    product = built.model("product").objects.create(name="Tea")
    client.force_login(me)
    return built, product


def test_a_unique_index_with_a_forced_field_is_a_form_error(favourites, client):
    built, product = favourites
    assert client.post("/p/add_favourite/new/", {"product": product.pk}).status_code == 302
    again = client.post("/p/add_favourite/new/", {"product": product.pk})
    assert again.status_code == 400
    assert "Favourite with this Customer and Product already exists." in again.content.decode()
    assert built.model("favourite").objects.count() == 1


def test_a_racing_duplicate_is_a_form_error_not_a_500(favourites, client, monkeypatch):
    from engine.pages.forms import CabinetModelForm

    built, product = favourites
    from django.db.models import Model

    monkeypatch.setattr(CabinetModelForm, "validate_unique", lambda self: None)  # the other request wins the race
    monkeypatch.setattr(CabinetModelForm, "_get_validation_exclusions", lambda self: {"customer", "product"})
    # ... past the write path's own validation of the row too: only the database sees the duplicate.
    monkeypatch.setattr(Model, "validate_unique", lambda self, exclude=None: None)
    monkeypatch.setattr(Model, "validate_constraints", lambda self, exclude=None: None)
    assert client.post("/p/add_favourite/new/", {"product": product.pk}).status_code == 302
    again = client.post("/p/add_favourite/new/", {"product": product.pk})
    assert again.status_code == 400
    assert "A row with these values already exists; it was saved in the meantime." in again.content.decode()
    assert built.model("favourite").objects.count() == 1
    assert client.get("/p/favourites/").status_code == 200  # the request's transaction is still usable


def test_titles_of_rows_out_of_the_readers_scope_are_hidden(resort, client):
    """A granted order of another guest's stay shows the order, not the stay's check-in date."""
    from guardian.shortcuts import assign_perm

    from engine.display import display

    Order = resort.model("service_order")
    theirs = Order.objects.filter(stay__guest__user__username="boris").first()
    mine = Order.objects.filter(stay__guest__user__username="anna").first()
    anna = get_user_model().objects.get(username="anna")
    assign_perm("view_serviceorder", anna, theirs)
    # Dates far from today, so neither can coincide with a timestamp the page prints (created, history).
    Stay = resort.model("stay")
    Stay.objects.filter(pk=theirs.stay_id).update(check_in=datetime.date(2001, 2, 3))
    Stay.objects.filter(pk=mine.stay_id).update(check_in=datetime.date(2002, 3, 4))
    theirs.stay.refresh_from_db()
    mine.stay.refresh_from_db()
    stay_field = resort.spec.entity("stay").field("check_in")
    their_date, my_date = display(theirs.stay, stay_field), display(mine.stay, stay_field)
    assert their_date != my_date
    login(client, "anna")
    detail = client.get(f"/p/my_orders/{theirs.pk}/").content.decode()
    assert theirs.service.name in detail and their_date not in detail
    own = client.get(f"/p/my_orders/{mine.pk}/").content.decode()
    assert my_date in own  # a stay in scope still shows its title
    home = client.get("/p/home/").content.decode()  # recent orders are titled by their service (the title)
    assert their_date not in home and mine.service.name in home


def test_access_matrix_shows_exactly_the_visible_fields(solution, client):
    """For every role and entity page: each row's visible text values render, its hidden ones never do."""
    from django.utils.html import escape

    from engine.display import display
    from tests import matrix

    built = solution
    owners = matrix.make_users(2)
    matrix.make_rows(built, owners)
    # Types whose sample values are unique per row (numbers, choices and booleans repeat across rows).
    texts = (FieldType.STRING, FieldType.TEXT, FieldType.EMAIL, FieldType.URL, FieldType.PHONE, FieldType.DATE,
             FieldType.DATETIME)
    shown_checks = hidden_checks = 0
    for role in built.spec.roles:
        for user in matrix.give_role(owners, role)[:1]:
            client.force_login(user)
            access = built.policy.for_user(get_user_model().objects.get(pk=user.pk))
            for page in built.spec.pages:
                if not page.entity or not built.pages.allowed(access, page):
                    continue
                entity = built.spec.entity(page.entity)
                visible = set(access.visible_fields(entity.name))
                on_page = visible & {n for s in page.sections for n in s.fields} if page.sections else visible
                rows = built.model(entity.name).objects.all()
                viewable = matrix.expected(built, role, entity, "view", user, list(rows))
                for row in rows:
                    if row.pk not in viewable:
                        continue
                    html = client.get(f"/p/{page.name}/{row.pk}/").content.decode()
                    for f in entity.fields:
                        value = display(row, f) if f.type in texts else ""
                        if f.type is FieldType.REF and f.to != "user" and f.name not in visible:
                            value = str(getattr(row, f.name) or "")  # a hidden ref: not even its row's title
                        if len(value) < 6:
                            continue
                        if f.name in on_page:
                            assert escape(value) in html, (role.name, page.name, f.name)
                            shown_checks += 1
                        elif f.name not in visible:
                            assert escape(value) not in html, (role.name, page.name, f.name, "hidden")
                            hidden_checks += 1
    assert shown_checks > 100 and hidden_checks > 0, (shown_checks, hidden_checks)
