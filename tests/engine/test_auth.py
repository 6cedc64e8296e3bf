"""Logins: lockout on every path (whatever the proxy headers say), password reset and change revoking
tokens and other sessions, and two-factor login for roles marked ``two_factor: true``."""
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core import mail
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.models import AuthToken
from rest_framework.test import APIClient

from engine.accounts.ip import client_ip
from tests.conftest import compile_yaml

SOLUTION = """
entities:
  note:
    owner: user
    fields:
      user: {type: ref, to: user}
      text: {type: string, required: true}
roles:
  member:
    entities:
      note: {actions: [list, view, create], scope: own, set: {user: $user}}
  officer:
    staff: true
    two_factor: true
    entities:
      note: {actions: all, scope: all}
"""
LOCKED = "Too many failed login attempts"


@pytest.fixture
def site(publish_yaml, settings):
    """A published solution with a member (no two-factor) and an officer (two-factor), both with e-mail."""
    settings.AXES_FAILURE_LIMIT = 3
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # wrong codes are tried on purpose; the delay has its own test
    built, _ = publish_yaml(SOLUTION)
    User = get_user_model()
    member = User.objects.create_user("mia", "mia@example.com", "mia-pw-12345")
    member.groups.add(Group.objects.get_or_create(name="member")[0])
    officer = User.objects.create_user("olga", "olga@example.com", "olga-pw-12345", is_staff=True)
    officer.groups.add(Group.objects.get_or_create(name="officer")[0])
    return built, member, officer


# --- lockout -------------------------------------------------------------------------------------

def cabinet_login(client, password, **extra):
    return client.post("/accounts/login/", {"username": "mia", "password": password}, **extra)


def admin_login(client, password, **extra):
    return client.post("/admin/login/", {"username": "mia", "password": password, "next": "/admin/"}, **extra)


def api_login(client, password, **extra):
    return client.post("/api/auth/token/", {"username": "mia", "password": password},
                       content_type="application/json", **extra)


PATHS = {"cabinet": (cabinet_login, 200), "admin": (admin_login, 200), "api": (api_login, 400)}
SPOOFS = [
    {},
    {"HTTP_X_FORWARDED_FOR": "203.0.113.{i}"},
    {"HTTP_X_FORWARDED_FOR": "198.51.100.{i}, 127.0.0.1"},
    {"HTTP_X_REAL_IP": "203.0.113.{i}", "HTTP_FORWARDED": "for=203.0.113.{i}"},
]


@pytest.mark.parametrize("spoof", range(len(SPOOFS)))
@pytest.mark.parametrize("path", list(PATHS))
def test_every_login_path_locks_out_whatever_the_proxy_headers_say(site, path, spoof):
    login, failed_status = PATHS[path]
    client = Client()
    statuses = []
    for i in range(5):
        headers = {k: v.format(i=i) for k, v in SPOOFS[spoof].items()}
        statuses.append(login(client, "wrong", **headers).status_code)
    assert statuses == [failed_status, failed_status, 429, 429, 429]
    # Locked out: even the right password is refused, with a message rather than a 500.
    response = login(client, "mia-pw-12345", HTTP_X_FORWARDED_FOR="192.0.2.99")
    assert response.status_code == 429
    assert LOCKED in response.content.decode()
    assert int(response["Retry-After"]) > 0
    # Another client (another address) is not locked out.
    other = login(Client(REMOTE_ADDR="192.0.2.7"), "mia-pw-12345")
    assert LOCKED not in other.content.decode()
    # The API answers a token, the cabinet logs in, the admin says mia is not staff.
    assert other.status_code == {"api": 200, "cabinet": 302, "admin": 200}[path]


def test_the_api_lockout_is_json(site):
    client = Client()
    for _ in range(3):
        response = api_login(client, "wrong")
    assert response.status_code == 429
    assert response.json() == {"detail": "Too many failed login attempts. Try again in 15 minutes.",
                               "code": "locked_out"}


def test_failures_on_one_path_count_on_the_others(site):
    client = Client()
    cabinet_login(client, "wrong")
    admin_login(client, "wrong")
    assert api_login(client, "wrong").status_code == 429
    assert cabinet_login(client, "mia-pw-12345").status_code == 429


def test_a_success_resets_the_count(site):
    client = Client()
    cabinet_login(client, "wrong")
    cabinet_login(client, "wrong")
    assert cabinet_login(client, "mia-pw-12345").status_code == 302
    client.logout()
    assert [cabinet_login(client, "wrong").status_code for _ in range(3)] == [200, 200, 429]


def test_trusted_proxies_forward_the_client_address(site, settings):
    settings.CABINET_TRUSTED_PROXIES = ["127.0.0.1", "10.0.0.0/8"]
    client = Client()  # REMOTE_ADDR 127.0.0.1: the trusted proxy
    # Each attempt comes from another client behind the proxy: none reaches the limit.
    statuses = [cabinet_login(client, "wrong", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}, 10.1.2.3").status_code
                for i in range(5)]
    assert statuses == [200] * 5
    # One client behind the proxy is locked out, whatever it puts in front of the header.
    statuses = [cabinet_login(client, "wrong", HTTP_X_FORWARDED_FOR=f"6.6.6.{i}, 198.51.100.9").status_code
                for i in range(4)]
    assert statuses == [200, 200, 429, 429]


@pytest.mark.parametrize(("remote", "forwarded", "trusted", "expected"), [
    ("192.0.2.1", "203.0.113.5", [], "192.0.2.1"),
    ("127.0.0.1", "203.0.113.5", [], "127.0.0.1"),
    ("127.0.0.1", "203.0.113.5", ["127.0.0.1"], "203.0.113.5"),
    ("127.0.0.1", "1.1.1.1, 203.0.113.5", ["127.0.0.1"], "203.0.113.5"),
    ("127.0.0.1", "1.1.1.1, 203.0.113.5, 10.0.0.2", ["127.0.0.1", "10.0.0.0/8"], "203.0.113.5"),
    ("192.0.2.1", "203.0.113.5", ["127.0.0.1"], "192.0.2.1"),
    ("127.0.0.1", "garbage, 203.0.113.5", ["127.0.0.1"], "203.0.113.5"),
    ("127.0.0.1", "203.0.113.5, garbage", ["127.0.0.1"], "127.0.0.1"),
    ("127.0.0.1", "", ["127.0.0.1"], "127.0.0.1"),
    ("::1", "2001:db8::5", ["::1"], "2001:db8::5"),
])
def test_client_ip(rf, settings, remote, forwarded, trusted, expected):
    settings.CABINET_TRUSTED_PROXIES = trusted
    request = rf.get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


def test_api_throttles_ignore_spoofed_headers(site, monkeypatch, settings):
    from rest_framework.throttling import ScopedRateThrottle

    settings.AXES_FAILURE_LIMIT = 100  # the DRF throttle alone

    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"login": "3/minute"})
    client = APIClient()
    codes = [client.post("/api/auth/token/", {"username": f"nobody{i}", "password": "x"},
                         HTTP_X_FORWARDED_FOR=f"203.0.113.{i}").status_code for i in range(4)]
    assert codes == [400, 400, 400, 429]
    assert "throttled" in str(client.post("/api/auth/token/", {"username": "x", "password": "x"}).data)


# --- password reset and change ----------------------------------------------------------------

def token_for(username, password):
    response = APIClient().post("/api/auth/token/", {"username": username, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.data["token"]


def token_works(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client.get("/api/note/").status_code


def logged_in(client):
    response = client.get("/accounts/password_change/")
    return response.status_code == 200


def test_password_reset_by_mail_revokes_tokens_and_sessions(site):
    token = token_for("mia", "mia-pw-12345")
    other = Client()
    assert other.login(username="mia", password="mia-pw-12345") and logged_in(other)
    assert token_works(token) == 200

    client = Client()
    response = client.post("/accounts/password_reset/", {"email": "mia@example.com"})
    assert response.status_code == 302 and response["Location"] == "/accounts/password_reset/done/"
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["mia@example.com"]
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.outbox[0].body).group(1)
    form_url = client.get(link)["Location"]  # Django hides the token behind a redirect
    assert client.get(form_url).status_code == 200
    response = client.post(form_url, {"new_password1": "fresh-Secret-987", "new_password2": "fresh-Secret-987"})
    assert response.status_code == 302 and response["Location"] == "/accounts/reset/done/"

    assert get_user_model().objects.get(username="mia").check_password("fresh-Secret-987")
    assert token_works(token) == 401
    assert AuthToken.objects.filter(user__username="mia").count() == 0
    assert not logged_in(other)
    # The link works once.
    assert "not valid" in client.get(link, follow=True).content.decode()
    assert token_works(token_for("mia", "fresh-Secret-987")) == 200


def test_password_reset_does_not_tell_who_has_an_account(site):
    response = Client().post("/accounts/password_reset/", {"email": "nobody@example.com"})
    assert response.status_code == 302 and response["Location"] == "/accounts/password_reset/done/"
    assert mail.outbox == []


def test_password_reset_requests_are_limited_per_client(site, settings):
    settings.CABINET_PASSWORD_RESETS_PER_HOUR = 3
    client = Client()
    statuses = [client.post("/accounts/password_reset/", {"email": "mia@example.com"},
                            HTTP_X_FORWARDED_FOR=f"203.0.113.{i}").status_code for i in range(5)]
    assert statuses == [302, 302, 302, 429, 429]
    assert len(mail.outbox) == 3
    refused = client.post("/accounts/password_reset/", {"email": "mia@example.com"})
    assert "Too many password reset requests" in refused.content.decode()
    assert Client(REMOTE_ADDR="192.0.2.8").post("/accounts/password_reset/", {"email": "mia@example.com"}
                                                 ).status_code == 302


def test_password_change_keeps_this_session_and_ends_the_others(site):
    token = token_for("mia", "mia-pw-12345")
    here, there = Client(), Client()
    assert here.login(username="mia", password="mia-pw-12345")
    assert there.login(username="mia", password="mia-pw-12345")
    response = here.post("/accounts/password_change/", {
        "old_password": "mia-pw-12345", "new_password1": "fresh-Secret-987", "new_password2": "fresh-Secret-987"})
    assert response.status_code == 302 and response["Location"] == "/accounts/password_change/done/"
    assert logged_in(here)
    assert not logged_in(there)
    assert token_works(token) == 401


def test_every_way_of_setting_a_password_revokes_tokens(site):
    _, member, _ = site
    first = token_for("mia", "mia-pw-12345")
    member.set_password("scripted-Secret-1")
    member.save()
    assert token_works(first) == 401
    second = token_for("mia", "scripted-Secret-1")
    # Saving without a password change keeps the tokens.
    member.first_name = "Mia"
    member.save()
    assert token_works(second) == 200


def test_pages_of_password_reset_are_themed_and_not_404(site):
    client = Client()
    for url in ("/accounts/password_reset/", "/accounts/password_reset/done/", "/accounts/reset/done/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert 'href="/static/cabinet/cabinet.css"' in response.content.decode()
    assert 'href="/accounts/password_reset/"' in client.get("/accounts/login/").content.decode()


# --- two-factor ---------------------------------------------------------------------------------

def code(device, step_offset=0):
    return f"{totp(device.bin_key, drift=step_offset):06d}"


def enrol(client, next_url="/"):
    """Enrol the logged-in user's authenticator through the page; return the confirmed device."""
    page = client.get(f"/accounts/two-factor/?next={next_url}")
    assert page.status_code == 200
    html = page.content.decode()
    assert "otpauth://totp/Cabinet%3Aolga?secret=" in html and "<svg" in html
    device = TOTPDevice.objects.get(user__username="olga", confirmed=False)
    secret = re.search(r'class="otp-secret">([A-Z2-7]+)<', html).group(1)
    assert secret == re.search(r"secret=([A-Z2-7]+)", device.config_url).group(1)
    wrong = client.post("/accounts/two-factor/", {"code": "000000" if code(device) != "000000" else "111111",
                                                  "next": next_url})
    assert wrong.status_code == 200 and "not valid" in wrong.content.decode()
    response = client.post("/accounts/two-factor/", {"code": code(device), "next": next_url})
    assert response.status_code == 302 and response["Location"] == next_url
    device.refresh_from_db()
    assert device.confirmed
    return device


def test_a_two_factor_role_must_enrol_then_verify_on_the_cabinet(site):
    client = Client()
    response = client.post("/accounts/login/", {"username": "olga", "password": "olga-pw-12345", "next": "/p/x/"})
    assert response.status_code == 302
    for url in ("/", "/admin/", "/p/anything/"):
        blocked = client.get(url)
        assert blocked.status_code == 302 and blocked["Location"].startswith("/accounts/two-factor/?next="), url
    api = client.get("/api/note/")
    assert api.status_code == 403 and api.json()["code"] == "two_factor_required"
    device = enrol(client)
    assert client.get("/api/note/").status_code == 200
    assert client.get("/admin/").status_code == 200

    # The next login asks for a code from the enrolled device (no new enrolment).
    second = Client()
    second.post("/accounts/login/", {"username": "olga", "password": "olga-pw-12345"})
    page = second.get("/accounts/two-factor/")
    assert "otpauth://" not in page.content.decode()
    assert second.get("/api/note/").status_code == 403
    assert second.post("/accounts/two-factor/", {"code": code(device, 1)}).status_code == 302
    assert second.get("/api/note/").status_code == 200


def test_the_admin_login_also_needs_the_second_step(site):
    client = Client()
    response = client.post("/admin/login/", {"username": "olga", "password": "olga-pw-12345", "next": "/admin/"})
    assert response.status_code == 302
    blocked = client.get("/admin/")
    assert blocked.status_code == 302 and blocked["Location"] == "/accounts/two-factor/?next=%2Fadmin%2F"
    enrol(client, "/admin/")
    assert client.get("/admin/").status_code == 200


def test_api_tokens_of_a_two_factor_role_need_a_code(site):
    client = APIClient()
    body = {"username": "olga", "password": "olga-pw-12345"}
    response = client.post("/api/auth/token/", body, format="json")
    assert response.status_code == 403
    assert response.data["detail"][0]["code"] == "two_factor_enrolment_required"
    device = TOTPDevice.objects.create(user=site[2], name="phone", confirmed=True)
    response = client.post("/api/auth/token/", body, format="json")
    assert response.status_code == 400
    assert response.data == {"otp": [{"message": "A two-factor code is required for this account.",
                                      "code": "required"}]}
    response = client.post("/api/auth/token/", {**body, "otp": "12x456"}, format="json")
    assert response.status_code == 400 and response.data["otp"][0]["code"] == "invalid"
    response = client.post("/api/auth/token/", {**body, "otp": code(device)}, format="json")
    assert response.status_code == 200 and response.data["token"]
    assert token_works(response.data["token"]) == 200
    # A code is good once.
    response = client.post("/api/auth/token/", {**body, "otp": code(device)}, format="json")
    assert response.status_code == 400 and response.data["otp"][0]["code"] == "invalid"


def test_wrong_codes_slow_down_the_next_tries(site, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 1
    device = TOTPDevice.objects.create(user=site[2], name="phone", confirmed=True)
    client = Client()
    client.force_login(site[2])
    assert client.post("/accounts/two-factor/", {"code": "12345x"}).status_code == 200
    assert client.post("/accounts/two-factor/", {"code": "000000" if code(device) != "000000" else "111111"}
                       ).status_code == 200
    # Right after a wrong code even the right one waits (django-otp's doubling delay).
    response = client.post("/accounts/two-factor/", {"code": code(device)})
    assert response.status_code == 200 and "Too many wrong codes" in response.content.decode()
    device.refresh_from_db()
    assert device.throttling_failure_count == 1
    assert client.get("/api/note/").status_code == 403


def test_roles_without_two_factor_log_in_as_before(site):
    client = Client()
    assert client.post("/accounts/login/", {"username": "mia", "password": "mia-pw-12345"}).status_code == 302
    assert client.get("/api/note/").status_code == 200
    assert token_works(token_for("mia", "mia-pw-12345")) == 200


def test_granting_a_two_factor_role_takes_effect_on_the_next_request(site):
    _, member, _ = site
    client = Client()
    client.force_login(member)
    assert client.get("/api/note/").status_code == 200
    member.groups.add(Group.objects.get(name="officer"))
    assert client.get("/api/note/").status_code == 403


def test_two_factor_is_a_role_key_with_checks():
    compiled = compile_yaml("""
roles:
  c: {two_factor: "yes"}
""")
    assert [str(p) for p in compiled.problems] == [
        "solution.yaml:5:19: cabinet.E103 'roles.c.two_factor' is a text, expected boolean"]
    compiled = compile_yaml("""
roles:
  a: {two_factor: true, group: desk}
  b: {group: desk}
""")
    spec = compiled.raise_for_errors()
    assert {r.name: r.two_factor for r in spec.roles} == {"a": True, "b": False}
    assert [str(p) for p in compiled.problems] == [
        "solution.yaml:6:3: cabinet.W016 role 'b' has group 'desk' like two-factor role 'a', so its holders must "
        "use two-factor login too (hint: set 'two_factor: true' on it too, or give it another group)"]


def test_over_long_usernames_are_refused_or_cut_never_a_database_error(solution):
    """By class: whatever reaches the lockout, its username fits axes' varchar(255) (PostgreSQL refuses more)."""
    from axes.models import AccessAttempt
    from django.contrib.auth import authenticate
    from django.test import RequestFactory

    answer = APIClient().post("/api/auth/token/", {"username": "[" * 1000, "password": "x"}, format="json")
    assert answer.status_code == 400 and answer.data["username"][0]["code"] == "max_length"
    for path in ("/accounts/login/", "/admin/login/"):
        assert Client().post(path, {"username": "u" * 1000, "password": "x"}).status_code == 200  # form error
    request = RequestFactory().post("/accounts/login/", {"username": "v" * 1000, "password": "x"})
    assert authenticate(request, username="v" * 1000, password="x") is None  # straight to axes
    assert [len(a.username) for a in AccessAttempt.objects.filter(username__startswith="v")] == [255]
