"""The welcome: a branded login page, a first-visit intro per role, personal cards only for their owner."""
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from engine.models import IntroSeen
from tests.conftest import compile_yaml


@pytest.fixture
def resort(solution):
    call_command("demo", seed_only=True, stdout=io.StringIO())
    return solution


def login(username, language=None):
    client = Client()
    if language:
        client.cookies["django_language"] = language
    assert client.login(username=username, password=f"{username}-demo")
    return client


def test_login_page_has_the_brand_welcome_info_links_and_languages(resort, client):
    html = client.get("/accounts/login/").content.decode()
    assert '<p class="name">Sunny Bay Resort</p>' in html
    assert "Sign in with the login from your welcome slip" in html
    assert '<a href="/p/about/">About the resort</a>' in html  # the public info page
    assert '<option value="ru" selected' not in html and '<option value="ru" lang="ru">Русский</option>' in html
    assert "--primary:#0b6e4f" in html  # brand tokens (with the CSP nonce)
    client.cookies["django_language"] = "ru"
    html = client.get("/accounts/login/").content.decode()
    assert "Курорт «Солнечная бухта»" in html and "Войдите с логином" in html and "О курорте" in html


def test_guest_sees_the_intro_once_on_the_home_page_in_their_language(resort):
    anna = login("anna", "ru")
    html = anna.get("/p/home/").content.decode()
    assert 'class="card intro"' in html and "Ваш отдых на одном экране" in html and "Пропустить" in html
    assert "<strong>«Мой отдых»</strong>" in html  # the step's markdown
    assert IntroSeen.objects.filter(user__username="anna", intro="role:guest").exists()
    assert 'class="card intro"' not in anna.get("/p/services/").content.decode()  # the home page only
    response = anna.post("/welcome/", {"skip": "1", "next": "/p/home/"})
    assert response.status_code == 302 and response.url == "/p/home/"
    assert 'class="card intro"' not in anna.get("/p/home/").content.decode()
    again = login("anna")  # a later login: never again
    assert 'class="card intro"' not in again.get("/p/home/").content.decode()
    page = again.get("/welcome/")  # on demand
    assert page.status_code == 200 and "Your stay at a glance" in page.content.decode()


def test_each_role_gets_its_own_intro_and_roles_without_one_get_none(resort):
    html = login("reception").get("/p/desk/").content.decode()
    assert "The desk" in html and "Your stay at a glance" not in html
    assert 'class="card intro"' not in login("manager").get("/p/desk/").content.decode()
    assert not IntroSeen.objects.filter(user__username="manager").exists()
    assert login("manager").get("/welcome/").url == "/"


def test_intro_costs_no_query_on_pages(resort):
    anna = login("anna")
    anna.get("/p/home/")
    with CaptureQueriesContext(connection) as shown:
        anna.get("/p/home/")
    anna.post("/welcome/", {"next": "/p/home/"})
    with CaptureQueriesContext(connection) as hidden:
        anna.get("/p/home/")
    assert len(shown) == len(hidden)


def test_welcome_next_stays_on_this_site(resort):
    anna = login("anna")
    assert anna.post("/welcome/", {"next": "https://evil.example/"}).url == "/"
    assert anna.post("/welcome/", {"next": "//evil.example/"}).url == "/"
    assert Client().post("/welcome/").url.startswith("/accounts/login/")


def test_superuser_never_sees_a_guests_balance_as_their_own(resort):
    admin = login("admin")
    html = admin.get("/p/home/").content.decode()
    assert admin.get("/p/home/").status_code == 200
    main = html[html.index("<main"):]
    assert "<h2>Loyalty points</h2>" not in main and '<p class="big">127</p>' not in main
    assert '<p class="big">127</p>' in login("anna").get("/p/home/").content.decode()


def test_staff_with_an_all_scope_gets_no_balance_card(publish_yaml):
    built, _ = publish_yaml("""
        entities:
          member:
            owner: user
            fields:
              user: {type: ref, to: user}
              points: {type: integer}
        roles:
          client:
            entities: {member: {actions: [list, view], scope: own}}
          clerk:
            entities: {member: {actions: [list, view], scope: all}}
        pages:
          home:
            kind: dashboard
            cards:
              - {kind: balance, title: Points, entity: member, field: points}
    """)
    from django.contrib.auth.models import Group

    users = get_user_model().objects
    client_user, clerk = users.create_user("c1", password="pw"), users.create_user("k1", password="pw")
    client_user.groups.add(Group.objects.get_or_create(name="client")[0])
    clerk.groups.add(Group.objects.get_or_create(name="clerk")[0])
    built.model("member").objects.create(user=client_user, points=41)
    as_client, as_clerk = Client(), Client()
    as_client.force_login(client_user)
    as_clerk.force_login(clerk)
    assert '<p class="big">41</p>' in as_client.get("/p/home/").content.decode()
    html = as_clerk.get("/p/home/").content.decode()
    assert "Points" not in html and "41" not in html


def test_intro_and_welcome_are_checked():
    compiled = compile_yaml("""
        roles:
          guest:
            intro:
              - {title: {en: Hello}, text: {en: Hi}, image: x.png}
    """)
    assert [str(e) for e in compiled.errors] == ["solution.yaml:7:46: cabinet.E101 'roles.guest.intro[0].image' is not a known key (hint: allowed keys here: title, text)"]
    spec = compile_yaml("""
        roles:
          guest:
            intro:
              - {title: {en: Hello, ru: Привет}, text: {en: "**Hi**"}}
    """, header="solution:\n  name: t\n  welcome: {en: Hi there}\n").raise_for_errors()
    assert spec.role("guest").intro[0].title.get("ru") == "Привет" and spec.welcome.get("en") == "Hi there"
