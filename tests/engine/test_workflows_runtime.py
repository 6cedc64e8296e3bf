"""Workflow behaviour at run time: guards, fields to fill, actions, state actions and triggers, each in the
write's transaction (a refusal or a failing action leaves no trace), on SQLite and PostgreSQL."""
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation
from rest_framework.test import APIClient

from engine import writes
from engine.models import AuditRecord, Outbox, WebhookDelivery
from tests.engine.test_webhooks import Receiver

YAML = """
entities:
  guest:
    owner: user
    title: name
    fields:
      user: {type: ref, to: user}
      name: string
      points: {type: integer, default: 0, min: 0}
      orders: {type: integer, default: 0}
  purchase:
    fields:
      guest: {type: ref, to: guest, required: true}
      status: {type: choice, choices: [new, paid, done, cancelled]}
      paid: {type: boolean, default: false}
      total: {type: money, default: 0}
      note: text
      done_at: datetime
      left_new: {type: boolean, default: false}
    triggers:
      create: [{increment: {field: guest.orders}}]
      update:
        - {set: {note: "'total changed'"}, when: "old.total != total"}
        - {set: {note: "'moved from ' + old.guest.name"}, when: "old.guest.name != guest.name"}
      delete: [{decrement: {field: guest.orders}}]
  entry:
    fields:
      guest: {type: ref, to: guest, required: true}
      points: {type: integer, required: true}
      reason: string
webhooks:
  crm: {entity: purchase, on: [create], url: "https://crm.example.com/hook"}
roles:
  clerk:
    entities:
      purchase: {actions: all, scope: all}
      guest: {actions: all, scope: all}
      entry: {actions: [list, view], scope: all}
  buyer:
    entities:
      purchase: {actions: [list, view, cancel], scope: {guest.user: $user}}
pages:
  purchases: {kind: list, entity: purchase, columns: [guest, total, status]}
  purchase: {kind: detail, entity: purchase}
workflows:
  flow:
    entity: purchase
    field: status
    states:
      new: {on_leave: [{set: {left_new: true}}]}
      paid:
      done: {final: true, on_enter: [{notify: {to: guest.user, message: {en: Delivered., ru: Доставлено.}}}]}
      cancelled: {final: true}
    transitions:
      pay:
        from: new
        to: paid
        roles: [clerk]
        guard: {when: "total > 0", message: {en: Nothing to pay., ru: Нечего оплачивать.}}
        actions: [{set: {paid: true}}]
      deliver:
        from: paid
        to: done
        roles: [clerk]
        fields: [note]
        actions:
          - set: {done_at: now}
          - increment: {field: guest.points, by: "round(total / 10)"}
            when: paid
          - create: {entity: entry, values: {guest: guest, points: "round(total / 10)", reason: "'order'"}}
            when: paid
          - webhook: crm
      void:
        from: paid
        to: cancelled
        roles: [clerk]
        actions:
          - create: {entity: entry, values: {guest: guest, points: -5, reason: "'void'"}}
          - decrement: {field: guest.points, by: 1000}
      cancel:
        from: [new, paid]
        to: cancelled
        roles: [clerk, buyer]
        required: [note]
        guard: "not paid"
"""


def user_with(role_group, name):
    user = get_user_model().objects.create_user(name, password="pw-user-12345")
    user.groups.set([Group.objects.get_or_create(name=role_group)[0]])
    return get_user_model().objects.get(pk=user.pk)


@pytest.fixture
def receiver(settings, monkeypatch):
    from engine.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)  # deliveries run in the test, as with no broker
    settings.CABINET_WEBHOOK_ALLOW_PRIVATE = True  # the receiver is on loopback
    endpoint = Receiver()
    yield endpoint
    endpoint.close()


@pytest.fixture
def shop(publish_yaml, receiver):
    built, _ = publish_yaml(YAML.replace("https://crm.example.com/hook", receiver.url))
    clerk = user_with("clerk", "clerk")
    buyer = user_with("buyer", "buyer")
    guest = built.model("guest").objects.create(user=buyer, name="Ann", points=0)
    access = built.policy.for_user(clerk)
    return built, access, buyer, guest


def new_purchase(built, access, guest, total):
    return writes.create(access, "purchase", {"guest": guest, "total": total}, source="system")


def trace(built):
    """Everything a write could leave behind."""
    return (AuditRecord.objects.count(), Outbox.objects.count(), WebhookDelivery.objects.count(),
            built.model("entry").objects.count(), list(built.model("guest").objects.values_list("points", "orders")))


def test_create_trigger_and_initial_state(shop):
    built, access, _buyer, guest = shop
    row = new_purchase(built, access, guest, 100)
    assert row.status == "new"
    guest.refresh_from_db()
    assert guest.orders == 1
    (create,) = AuditRecord.objects.filter(entity="purchase", object_id=row.pk)
    assert create.details["actions"] == [{"action": "increment", "field": "guest.orders", "id": guest.pk, "by": 1}]


def test_failing_guard_leaves_no_trace_and_says_why_in_the_users_language(shop):
    built, access, _buyer, guest = shop
    row = new_purchase(built, access, guest, 0)
    before = trace(built)
    with pytest.raises(writes.GuardRefused) as refused:
        writes.transition(access, "purchase", row, "pay", source="api")
    assert refused.value.message == "Nothing to pay."
    with translation.override("ru"), pytest.raises(writes.GuardRefused) as refused:
        writes.transition(access, "purchase", row.pk, "pay", source="api")
    assert refused.value.message == "Нечего оплачивать."
    row.refresh_from_db()
    assert (row.status, row.paid, row.left_new) == ("new", False, False)
    assert trace(built) == before


def test_transition_runs_leave_actions_and_enter_actions_in_order_and_audits_them(shop, receiver):
    built, access, buyer, guest = shop
    row = new_purchase(built, access, guest, 125)
    writes.transition(access, "purchase", row, "pay", source="api")
    row.refresh_from_db()
    assert (row.status, row.paid, row.left_new) == ("paid", True, True)
    pay = AuditRecord.objects.get(entity="purchase", object_id=row.pk, action="transition")
    assert pay.details["guard"] == {"when": "total > 0", "inputs": {"id": row.pk, "total": "125.00"}}
    assert [a["action"] for a in pay.details["actions"]] == ["set", "set"]  # on_leave of new, then pay's own

    writes.transition(access, "purchase", row, "deliver", {"note": "left at the door"}, source="api")
    row.refresh_from_db()
    guest.refresh_from_db()
    assert (row.status, row.note, row.done_at is not None) == ("done", "left at the door", True)
    assert guest.points == 13  # round(12.5), half up
    entry = built.model("entry").objects.get()
    assert (entry.guest_id, entry.points, entry.reason) == (guest.pk, 13, "order")
    (note,) = Outbox.objects.filter(kind="notify")
    assert note.payload == {"to": buyer.pk, "event": "deliver", "message": {"en": "Delivered.", "ru": "Доставлено."}}
    (hook,) = WebhookDelivery.objects.filter(event="deliver")
    assert hook.webhook == "crm" and hook.object_id == row.pk and hook.status == WebhookDelivery.DELIVERED
    assert [headers["X-Cabinet-Event"] for headers, _body in receiver.received] == ["create", "deliver"]
    deliver = AuditRecord.objects.filter(entity="purchase", object_id=row.pk, transition="deliver").get()
    assert deliver.details["fields"] == {"note": "left at the door"}
    assert [a["action"] for a in deliver.details["actions"]] == ["set", "increment", "create", "webhook", "notify"]
    assert AuditRecord.objects.filter(entity="entry", object_id=entry.pk, action="create").exists()


def test_a_failing_action_rolls_the_transition_back(shop):
    built, access, _buyer, guest = shop
    row = new_purchase(built, access, guest, 10)
    writes.transition(access, "purchase", row, "pay", source="api")
    before = trace(built)
    with pytest.raises(writes.RuleViolation) as failed:
        writes.transition(access, "purchase", row, "void", source="api")
    assert "points" in failed.value.fields
    row.refresh_from_db()
    assert row.status == "paid"
    assert trace(built) == before  # the entry created before the failing decrement is gone too


def test_required_fields_and_only_the_transitions_fields(shop):
    built, access, _buyer, guest = shop
    row = new_purchase(built, access, guest, 0)
    before = trace(built)
    with pytest.raises(writes.RuleViolation) as missing:
        writes.transition(access, "purchase", row, "cancel", source="api")
    assert list(missing.value.fields) == ["note"]
    with pytest.raises(writes.RuleViolation) as extra:
        writes.transition(access, "purchase", row, "cancel", {"note": "x", "total": 5}, source="api")
    assert list(extra.value.fields) == ["total"]
    assert trace(built) == before
    writes.transition(access, "purchase", row, "cancel", {"note": "changed my mind"}, source="api")
    row.refresh_from_db()
    assert (row.status, row.note) == ("cancelled", "changed my mind")


def test_update_and_delete_triggers(shop):
    built, access, _buyer, guest = shop
    row = new_purchase(built, access, guest, 10)
    writes.update(access, "purchase", row, {"total": 20}, source="api")
    row.refresh_from_db()
    assert row.note == "total changed"
    writes.update(access, "purchase", row, {"note": "kept"}, source="api")
    row.refresh_from_db()
    assert row.note == "kept"  # the trigger's when: the total did not change
    writes.delete(access, "purchase", row, source="api")
    guest.refresh_from_db()
    assert guest.orders == 0
    row = new_purchase(built, access, guest, 10)
    bob = built.model("guest").objects.create(name="Bob")
    writes.update(access, "purchase", row, {"guest": bob}, source="api")
    row.refresh_from_db()
    assert row.note == "moved from Ann"  # old along a ref: the row as it was stored before the change


def test_api_lists_and_refuses_by_guard(shop):
    built, access, buyer, guest = shop
    row = new_purchase(built, access, guest, 0)
    client = APIClient()
    client.force_authenticate(access.user)
    response = client.post(f"/api/purchase/{row.pk}/pay/", {}, format="json", HTTP_ACCEPT_LANGUAGE="ru")
    assert response.status_code == 409
    assert "Нечего оплачивать." in str(response.data)
    response = client.post(f"/api/purchase/{row.pk}/cancel/", {"note": "no"}, format="json")
    assert response.status_code == 200 and response.data["status"] == "cancelled"


def buttons(html):
    """The transition names of the buttons and links a page shows."""
    return sorted(set(re.findall(r'/do/([a-z_]+)/"', html)))


def test_buttons_and_listed_transitions_are_exactly_those_roles_state_and_guard_allow(shop, client):
    built, access, buyer, guest = shop
    free, due = new_purchase(built, access, guest, 0), new_purchase(built, access, guest, 30)
    client.force_login(access.user)
    assert buttons(client.get(f"/p/purchase/{free.pk}/").content.decode()) == ["cancel"]  # pay's guard: total > 0
    assert buttons(client.get(f"/p/purchase/{due.pk}/").content.decode()) == ["cancel", "pay"]
    with CaptureQueriesContext(connection) as one:
        listed = client.get("/p/purchases/").content.decode()
    assert buttons(listed) == ["cancel", "pay"] and f"/p/purchase/{due.pk}/do/pay/" in listed
    assert f"/p/purchase/{free.pk}/do/pay/" not in listed
    for _ in range(5):
        new_purchase(built, access, guest, 30)
    with CaptureQueriesContext(connection) as six:
        client.get("/p/purchases/")
    assert len(six.captured_queries) == len(one.captured_queries)  # one query per transition, whatever the rows

    api = APIClient()
    api.force_authenticate(access.user)
    assert [t["name"] for t in api.get(f"/api/purchase/{due.pk}/transitions/").data] == ["pay", "cancel"]
    (cancel,) = api.get(f"/api/purchase/{free.pk}/transitions/").data
    assert (cancel["fields"], cancel["required"], cancel["to"]) == (["note"], ["note"], "cancelled")
    assert cancel["url"].endswith(f"/api/purchase/{free.pk}/cancel/")
    writes.transition(access, "purchase", due, "pay", source="api")
    assert [t["name"] for t in api.get(f"/api/purchase/{due.pk}/transitions/").data] == ["deliver", "void"]
    api.force_authenticate(buyer)  # the buyer's role has only cancel, and cancel's guard wants it unpaid
    assert [t["name"] for t in api.get(f"/api/purchase/{free.pk}/transitions/").data] == ["cancel"]
    assert api.get(f"/api/purchase/{due.pk}/transitions/").data == []


def test_a_transition_with_fields_asks_for_them_on_its_confirmation_form(shop, client):
    built, access, _buyer, guest = shop
    row = new_purchase(built, access, guest, 0)
    client.force_login(access.user)
    url = f"/p/purchase/{row.pk}/do/cancel/"
    form = client.get(url)
    assert form.status_code == 200 and 'name="note"' in form.content.decode()
    assert 'name="total"' not in form.content.decode()
    missing = client.post(url, {})
    assert missing.status_code == 400 and "This field is required." in missing.content.decode()
    row.refresh_from_db()
    assert row.status == "new"
    done = client.post(url, {"note": "a change of plan", "total": "99"})
    assert done.status_code == 302
    row.refresh_from_db()
    assert (row.status, row.note, row.total) == ("cancelled", "a change of plan", 0)  # only the transition's fields
    refused = client.get(f"/p/purchase/{new_purchase(built, access, guest, 0).pk}/do/pay/")
    assert refused.status_code == 404  # pay has nothing to fill: its button posts
    paid = new_purchase(built, access, guest, 5)
    writes.transition(access, "purchase", paid, "pay", source="api")
    stale = client.post(f"/p/purchase/{paid.pk}/do/cancel/", {"note": "too late"})
    assert stale.status_code == 409 and "“Cancel” was not done" in stale.content.decode()
