"""Styled, translated error pages (404, 403, 405, 500) with a way back; the API, admin and builder keep theirs."""
import io
import sys
import types

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.test import Client
from django.urls import path


@pytest.fixture
def resort(solution):
    call_command("demo", seed_only=True, stdout=io.StringIO())
    return solution


@pytest.fixture
def anna(resort):
    client = Client()
    assert client.login(username="anna", password="anna-demo")
    return client


def boom(request):
    raise RuntimeError("boom")


def forbidden(request):
    raise PermissionDenied


@pytest.fixture
def failing_urls(settings):
    """Views that fail, mounted beside the cabinet's through ``CABINET_EXTRA_URLCONF``."""
    module = types.ModuleType("tests_failing_urls")
    module.urlpatterns = [path("fail/boom/", boom), path("fail/forbidden/", forbidden),
                          path("api/fail/", boom), path("builder/fail/", boom)]
    sys.modules[module.__name__] = module
    settings.CABINET_EXTRA_URLCONF = module.__name__
    yield
    del sys.modules[module.__name__]


def test_404_is_styled_with_the_brand_and_a_way_home(anna):
    response = anna.get("/p/nope/", HTTP_REFERER="http://testserver/p/home/")
    html = response.content.decode()
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")
    assert '<h1>Page not found</h1>' in html and "Sunny Bay Resort" in html
    assert 'href="/">Go to the home page</a>' in html and 'href="http://testserver/p/home/">Back</a>' in html
    assert "cabinet.css" in html and "Log in" not in html


def test_404_in_russian(anna):
    anna.cookies["django_language"] = "ru"
    html = anna.get("/nothing-here/").content.decode()
    assert '<html lang="ru">' in html and "Страница не найдена" in html and "На главную" in html


def test_404_for_anonymous_offers_to_log_in(resort, client):
    html = client.get("/no/such/page/").content.decode()
    assert "Page not found" in html and 'href="/accounts/login/?next=/no/such/page/"' in html


def test_back_link_never_leaves_the_site(anna):
    html = anna.get("/p/nope/", HTTP_REFERER="https://evil.example/").content.decode()
    assert "evil.example" not in html and ">Back<" not in html


def test_405_is_styled_and_keeps_allow(anna):
    response = anna.post("/p/services/")
    assert response.status_code == 405 and "Not allowed" in response.content.decode()
    assert "GET" in response["Allow"]
    anna.cookies["django_language"] = "ru"
    assert "Действие недоступно" in anna.post("/p/services/").content.decode()


def test_403_and_500_are_styled(resort, failing_urls):
    client = Client(raise_request_exception=False)
    response = client.get("/fail/forbidden/")
    assert response.status_code == 403 and "Access denied" in response.content.decode()
    response = client.get("/fail/boom/")
    html = response.content.decode()
    assert response.status_code == 500 and "Something went wrong" in html and 'href="/"' in html
    assert "RuntimeError" not in html and "boom" not in html


def test_api_errors_stay_json(resort, failing_urls):
    client = Client(raise_request_exception=False)
    response = client.get("/api/no-such-endpoint/")
    assert response.status_code == 404 and response.json() == {
        "detail": [{"message": "There is no such page, or it is not available to you.", "code": "not_found"}]}
    response = client.get("/api/fail/")
    assert response.status_code == 500 and response.json()["detail"][0]["code"] == "server_error"


def test_admin_and_builder_keep_their_own_error_pages(resort, failing_urls):
    client = Client(raise_request_exception=False)
    for url in ("/admin/no/such/thing/", "/builder/fail/"):
        response = client.get(url)
        assert "error-page" not in response.content.decode(), url
    assert client.get("/builder/fail/").status_code == 500


def test_error_page_before_anything_is_published(db, client):
    from engine.registry import registry

    registry.deactivate()
    response = client.get("/no/such/")
    html = response.content.decode()
    assert response.status_code == 404 and "Page not found" in html and "Cabinet" in html


def test_a_refused_form_explains_itself(resort):
    client = Client(enforce_csrf_checks=True)
    assert client.login(username="anna", password="anna-demo")
    response = client.post("/p/order_service/new/", {"quantity": 1})
    html = response.content.decode()
    assert response.status_code == 403 and "The form has expired" in html and 'href="/"' in html
    client.cookies["django_language"] = "ru"
    assert "Форма устарела" in client.post("/p/order_service/new/", {}).content.decode()
