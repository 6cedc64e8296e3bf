"""Outgoing webhooks: signed JSON posted after commit, retried with backoff, never lost."""
import datetime as dt
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone
from rest_framework.test import APIClient

from engine.models import WebhookDelivery
from engine.tasks import deliver_webhook, sweep_webhooks
from engine.webhooks import sign
from tests.conftest import compile_yaml


class Receiver:
    """A real HTTP endpoint on loopback that records posts and fails the first ``failures`` of them."""

    def __init__(self, failures=0):
        self.failures = failures
        self.received = []
        self.redirect_to = None  # a URL to answer 307 with, instead of a status
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                if receiver.redirect_to:
                    self.send_response(307)
                    self.send_header("Location", receiver.redirect_to)
                    self.end_headers()
                    return
                status = 500 if len(receiver.received) <= receiver.failures else 204
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def _loopback_allowed(settings):
    """These tests post to a receiver on loopback, which webhooks refuse unless allowed."""
    settings.CABINET_WEBHOOK_ALLOW_PRIVATE = True


@pytest.fixture
def receiver():
    made = []

    def make(failures=0):
        made.append(Receiver(failures))
        return made[-1]

    yield make
    for r in made:
        r.close()


def solution_text(url):
    return f"""
entities:
  ticket:
    owner: user
    fields:
      user: {{type: ref, to: user}}
      subject: {{type: string, required: true}}
      status: {{type: choice, choices: [open, closed], default: open}}
roles:
  customer:
    entities:
      ticket: {{actions: [list, view, create, update, close], scope: own, set: {{user: $user}}}}
workflows:
  flow:
    entity: ticket
    field: status
    states: {{open: , closed: }}
    transitions:
      close: {{from: open, to: closed, roles: [customer]}}
webhooks:
  crm:
    entity: ticket
    on: [create, close]
    url: {url}
    secret_env: TEST_WEBHOOK_SECRET
"""


@pytest.fixture
def customer(publish_yaml, receiver, monkeypatch):
    from engine.celery import app

    # Run tasks in the test's thread (as with no broker) unless a test starts a real worker.
    monkeypatch.setitem(app.conf, "task_always_eager", True)
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", "s3cret")
    endpoint = receiver()
    built, _ = publish_yaml(solution_text(endpoint.url))
    user = get_user_model().objects.create_user("cust", password="pw-cust-123")
    user.groups.add(Group.objects.get(name="customer"))
    client = APIClient()
    client.force_authenticate(user)
    return built, client, endpoint


def test_webhook_checks():
    head = "entities:\n  a:\n    fields: {x: string}\nwebhooks:\n"
    found = compile_yaml(head + '  h1: {entity: a, on: [create, explode], url: "https://example.com/h"}\n'
                         '  h2: {entity: b, on: [create], url: "https://example.com/h"}\n').problems
    assert [(p.code, p.loc.path) for p in found] == [("E206", "webhooks.h1.on[1]"), ("E201", "webhooks.h2.entity")]
    found = compile_yaml(head + '  h: {entity: a, on: [create], url: "ftp://example.com", secret_env: lower}\n').problems
    assert [(p.code, p.loc.path) for p in found] == [("E105", "webhooks.h.url"), ("E105", "webhooks.h.secret_env")]


def test_create_and_transition_are_posted_signed(customer):
    built, client, endpoint = customer
    created = client.post("/api/ticket/", {"subject": "Help"}, format="json").data
    client.post(f"/api/ticket/{created['id']}/close/")
    client.patch(f"/api/ticket/{created['id']}/", {"subject": "x"}, format="json")  # 'update' is not subscribed
    assert len(endpoint.received) == 2
    bodies = [json.loads(body) for _, body in endpoint.received]
    assert [(b["event"], b["entity"], b["id"], b["data"]["status"]) for b in bodies] == [
        ("create", "ticket", created["id"], "open"), ("close", "ticket", created["id"], "closed")]
    headers, body = endpoint.received[0]
    stamp, signature = (part.split("=", 1)[1] for part in headers["X-Cabinet-Signature"].split(","))
    expected = hmac.new(b"s3cret", f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signature, expected)
    assert headers["X-Cabinet-Event"] == "create"
    assert list(WebhookDelivery.objects.values_list("status", flat=True)) == ["delivered", "delivered"]


def test_nothing_is_posted_for_a_rolled_back_change(customer):
    built, client, endpoint = customer
    response = client.post("/api/ticket/", {"subject": ""}, format="json")
    assert response.status_code == 400
    assert endpoint.received == [] and not WebhookDelivery.objects.exists()


def test_failed_delivery_waits_with_backoff_then_the_sweeper_delivers(customer, receiver, settings):
    built, client, endpoint = customer
    endpoint.failures = 2
    client.post("/api/ticket/", {"subject": "Help"}, format="json")
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("pending", 1, "HTTP 500")
    wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
    assert settings.CABINET_WEBHOOK_BACKOFF - 2 < wait <= settings.CABINET_WEBHOOK_BACKOFF
    assert sweep_webhooks() == 0  # not due yet
    WebhookDelivery.objects.update(next_attempt_at=timezone.now() - dt.timedelta(seconds=1))
    assert sweep_webhooks() == 1
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.status) == (2, "pending")
    assert (delivery.next_attempt_at - timezone.now()).total_seconds() > settings.CABINET_WEBHOOK_BACKOFF  # doubled
    WebhookDelivery.objects.update(next_attempt_at=timezone.now())
    sweep_webhooks()
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.status) == (3, "delivered")
    assert len(endpoint.received) == 3


def test_gives_up_after_the_last_attempt(customer, settings):
    built, client, endpoint = customer
    settings.CABINET_WEBHOOK_ATTEMPTS = 2
    endpoint.failures = 99
    client.post("/api/ticket/", {"subject": "Help"}, format="json")
    WebhookDelivery.objects.update(next_attempt_at=timezone.now())
    sweep_webhooks()
    assert WebhookDelivery.objects.get().status == "failed"


def test_missing_secret_is_an_error_not_an_unsigned_post(customer, monkeypatch):
    built, client, endpoint = customer
    monkeypatch.delenv("TEST_WEBHOOK_SECRET")
    client.post("/api/ticket/", {"subject": "Help"}, format="json")
    assert endpoint.received == []
    assert WebhookDelivery.objects.get().last_error == "environment variable TEST_WEBHOOK_SECRET is not set"


def test_broker_down_keeps_the_delivery_for_the_sweeper(customer, monkeypatch):
    from kombu.exceptions import OperationalError

    built, client, endpoint = customer

    def broker_down(*args, **kwargs):
        raise OperationalError("connection refused")

    with monkeypatch.context() as patched:
        patched.setattr(deliver_webhook, "delay", broker_down)
        response = client.post("/api/ticket/", {"subject": "Help"}, format="json")
    assert response.status_code == 201 and endpoint.received == []
    assert WebhookDelivery.objects.get().status == "pending"
    assert sweep_webhooks() == 1 and len(endpoint.received) == 1


def test_signature_helper_matches_the_documented_scheme():
    assert sign("k", b"{}", 1700000000) == "t=1700000000,v1=" + hmac.new(
        b"k", b"1700000000.{}", hashlib.sha256).hexdigest()


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs Redis and a real Celery worker (REDIS_URL)")
def test_real_worker_retries_with_backoff(customer, settings, monkeypatch):
    """With a broker, the retry is a task scheduled with a countdown and run by a worker."""
    from celery.contrib.testing.worker import start_worker

    from engine.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", False)
    built, client, endpoint = customer
    settings.CABINET_WEBHOOK_BACKOFF = 0.5
    endpoint.failures = 1
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        started = time.monotonic()
        client.post("/api/ticket/", {"subject": "Help"}, format="json")
        while len(endpoint.received) < 2 and time.monotonic() - started < 20:
            time.sleep(0.05)
    assert len(endpoint.received) == 2
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("delivered", 2)


# --- server-side request forgery ---------------------------------------------------------------

def delivery_to(url):
    return WebhookDelivery.objects.create(webhook="crm", event="create", entity="ticket", object_id=1, url=url,
                                          payload={"event": "create"}, next_attempt_at=timezone.now())


REFUSED_TARGETS = [
    ("http://127.0.0.1:{port}/hook", "127.0.0.1 (loopback)"),
    ("http://localhost:{port}/hook", "(loopback)"),
    ("http://[::1]:{port}/hook", "::1 (loopback)"),
    ("http://[::ffff:127.0.0.1]:{port}/hook", "(loopback)"),
    ("http://0.0.0.0:{port}/hook", "0.0.0.0 (unspecified)"),
    ("http://10.0.0.1/hook", "10.0.0.1 (private)"),
    ("http://172.16.5.4/hook", "172.16.5.4 (private)"),
    ("http://192.168.1.1/hook", "192.168.1.1 (private)"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 (link-local)"),
    ("http://[fe80::1]/hook", "fe80::1 (link-local)"),
    ("http://[fc00::1]/hook", "fc00::1 (private)"),
    ("http://224.0.0.1/hook", "224.0.0.1 (multicast)"),
    ("http://240.0.0.1/hook", "240.0.0.1 (reserved)"),
    ("http://100.64.0.1/hook", "100.64.0.1 (not public)"),
    ("http://2130706433:{port}/hook", "127.0.0.1 (loopback)"),  # 127.0.0.1 as one decimal number
]


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "reason"), REFUSED_TARGETS)
def test_private_targets_are_refused_once_and_for_all(receiver, settings, url, reason):
    settings.CABINET_WEBHOOK_ALLOW_PRIVATE = False
    endpoint = receiver()
    delivery = delivery_to(url.format(port=endpoint.server.server_address[1]))
    deliver_webhook.apply(args=[delivery.pk])
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 1, None)
    assert delivery.last_error.startswith("refused: ") and reason in delivery.last_error, delivery.last_error
    assert "CABINET_WEBHOOK_ALLOW_PRIVATE" in delivery.last_error
    assert endpoint.received == []
    # Never retried: the sweeper leaves it alone.
    WebhookDelivery.objects.update(next_attempt_at=timezone.now())
    assert sweep_webhooks() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "gopher://example.com/",
                                 "http://user:pw@example.com/hook", "http:///nohost"])
def test_urls_that_are_not_plain_http_are_refused(settings, url):
    from engine.webhooks import attempt

    delivery = delivery_to(url)
    assert attempt(delivery) is False
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.last_error.startswith("refused: ")


@pytest.mark.django_db
def test_every_address_of_a_host_is_checked(monkeypatch, settings):
    import socket

    from engine import netguard
    from engine.webhooks import attempt

    settings.CABINET_WEBHOOK_ALLOW_PRIVATE = False
    public = (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 80))
    private = (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", 80))
    monkeypatch.setattr(netguard.socket, "getaddrinfo", lambda *a, **k: [public, private])
    delivery = delivery_to("http://mixed.example.com/hook")
    assert attempt(delivery) is False
    delivery.refresh_from_db()
    assert delivery.status == "failed" and "10.1.2.3 (private)" in delivery.last_error


@pytest.mark.django_db
def test_redirects_to_private_targets_are_refused(receiver, settings):
    from engine.webhooks import attempt

    settings.CABINET_WEBHOOK_ALLOW_PRIVATE = False
    settings.CABINET_WEBHOOK_ALLOWED_HOSTS = ["localhost"]  # the first hop only, by name
    endpoint, inner = receiver(), receiver()
    endpoint.redirect_to = inner.url  # http://127.0.0.1:<port>/hook
    delivery = delivery_to(f"http://localhost:{endpoint.server.server_address[1]}/hook")
    assert attempt(delivery) is False
    delivery.refresh_from_db()
    assert delivery.status == "failed" and "127.0.0.1 (loopback)" in delivery.last_error
    assert len(endpoint.received) == 1 and inner.received == []


@pytest.mark.django_db
@pytest.mark.parametrize("allowed", [["127.0.0.0/8"], ["127.0.0.1"], ["LOCALHOST"]])
def test_the_allow_list_lets_named_hosts_and_networks_through(receiver, settings, allowed):
    from engine.webhooks import attempt

    settings.CABINET_WEBHOOK_ALLOW_PRIVATE = False
    settings.CABINET_WEBHOOK_ALLOWED_HOSTS = allowed
    endpoint = receiver()
    host = "localhost" if allowed == ["LOCALHOST"] else "127.0.0.1"
    delivery = delivery_to(f"http://{host}:{endpoint.server.server_address[1]}/hook")
    assert attempt(delivery) is True, delivery.last_error
    assert len(endpoint.received) == 1


def test_public_addresses_pass_the_guard():
    import ipaddress

    from engine.netguard import address_kind

    for address in ("93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"):
        assert address_kind(ipaddress.ip_address(address)) == "", address
