"""The one write path: hooks in order, one transaction per write, audit records, the workflow's state
written only by transitions, concurrent transitions on one row."""
import re
import threading

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, connections
from rest_framework.test import APIClient

from engine import writes
from engine.access import AccessDenied
from engine.models import AuditRecord

ORDERS_YAML = """
entities:
  customer:
    title: name
    fields:
      user: {type: ref, to: user, unique: true}
      name: {type: string, required: true}
  purchase:
    title: item
    fields:
      customer: {type: ref, to: customer, required: true}
      item: {type: string, required: true, max_length: 20}
      quantity: {type: integer, min: 1, default: 1}
      secret: {type: string}
      status: {type: choice, choices: [new, accepted, delivered, cancelled], default: new}
roles:
  buyer:
    entities:
      purchase:
        actions: [list, view, create, update, cancel]
        scope: {customer.user: $user}
        fields: {view: [customer, item, quantity, status], edit: [item, quantity, status]}
        set: {customer: $user.customer}
      customer: {actions: [view], scope: {user: $user}}
  clerk:
    staff: true
    entities:
      purchase: {actions: all, scope: all}
      customer: {actions: all, scope: all}
workflows:
  order_flow:
    entity: purchase
    field: status
    initial: new
    states: {new: {}, accepted: {}, delivered: {final: true}, cancelled: {final: true}}
    transitions:
      accept: {from: new, to: accepted, roles: [clerk]}
      deliver: {from: accepted, to: delivered, roles: [clerk]}
      reject: {from: new, to: cancelled, roles: [clerk]}
      cancel: {from: [new, accepted], to: cancelled, roles: [buyer, clerk]}
pages:
  purchases: {kind: list, entity: purchase, roles: [buyer, clerk]}
  purchase_form: {kind: form, entity: purchase, roles: [buyer, clerk]}
  purchase_detail: {kind: detail, entity: purchase, roles: [buyer, clerk]}
  customer_form: {kind: form, entity: customer, roles: [clerk]}
"""


@pytest.fixture
def shop(publish_yaml):
    built, _ = publish_yaml(ORDERS_YAML)
    User = get_user_model()
    ann = User.objects.create_user("ann", password="pw-ann-12345")
    ann.groups.add(Group.objects.get_or_create(name="buyer")[0])
    clerk = User.objects.create_user("clerk", password="pw-clerk-12345", is_staff=True)
    clerk.groups.add(Group.objects.get_or_create(name="clerk")[0])
    customer = built.model("customer").objects.create(user=ann, name="Ann")
    return built, ann, clerk, customer


def access(built, user):
    return built.policy.for_user(user)


@pytest.fixture
def recorder():
    """Register one hook per stage that records the stage; unregister them afterwards."""
    seen, registered = [], []

    def add(stage, fn=None):
        def hook(ctx):
            seen.append((stage, ctx.action))
            if fn:
                fn(ctx)

        writes.register(stage, hook)
        registered.append((stage, hook))

    yield seen, add
    for stage, hook in registered:
        writes.unregister(stage, hook)


def test_hooks_run_in_stage_order_inside_every_write(shop, recorder):
    built, ann, clerk, customer = shop
    seen, add = recorder
    for stage in reversed(writes.STAGES):  # registration order does not matter, the stage does
        add(stage)
    me = access(built, ann)
    order = writes.create(me, "purchase", {"item": "tea"}, source="api")
    assert seen == [(stage, "create") for stage in writes.STAGES]
    seen.clear()
    writes.update(me, "purchase", order, {"quantity": 2}, source="page")
    writes.transition(me, "purchase", order, "cancel", source="page")
    assert seen == [(s, "update") for s in writes.STAGES] + [(s, "transition") for s in writes.STAGES]
    seen.clear()
    writes.delete(writes.system_access(built), "purchase", order, source="system")
    assert seen == [(stage, "delete") for stage in writes.STAGES]


def test_a_refusal_in_check_rolls_the_whole_write_back(shop, recorder):
    built, ann, clerk, customer = shop
    seen, add = recorder

    def refuse(ctx):
        assert built.model("purchase").objects.filter(pk=ctx.obj.pk).exists()  # written, not committed
        raise writes.RuleViolation(fields={"quantity": ["Not enough left."]}, code="rule")

    add("check", refuse)
    with pytest.raises(writes.RuleViolation) as caught:
        writes.create(access(built, ann), "purchase", {"item": "tea", "quantity": 5}, source="api")
    assert caught.value.fields == {"quantity": ["Not enough left."]} and caught.value.code == "rule"
    assert built.model("purchase").objects.count() == 0 and AuditRecord.objects.count() == 0


def test_an_exception_in_effects_rolls_the_write_back_too(shop, recorder):
    built, ann, clerk, customer = shop
    me = access(built, ann)
    order = writes.create(me, "purchase", {"item": "tea"}, source="api")
    seen, add = recorder

    def explode(ctx):
        built.model("purchase").objects.create(customer=customer, item="side effect")
        raise RuntimeError("the action failed")

    add("effects", explode)
    with pytest.raises(RuntimeError):
        writes.transition(me, "purchase", order.pk, "cancel", source="api")
    order.refresh_from_db()
    assert order.status == "new" and built.model("purchase").objects.count() == 1
    assert list(AuditRecord.objects.values_list("action", flat=True)) == ["create"]


def test_forced_values_validation_and_the_initial_state(shop):
    built, ann, clerk, customer = shop
    me = access(built, ann)
    order = writes.create(me, "purchase", {"item": "tea"}, source="api")
    assert (order.customer, order.status, order.quantity) == (customer, "new", 1)
    with pytest.raises(writes.RuleViolation) as caught:  # Django's full_clean, which DRF never ran
        writes.create(me, "purchase", {"item": "x" * 21, "quantity": 0}, source="import")
    assert set(caught.value.fields) == {"item", "quantity"}
    assert caught.value.fields["quantity"][0].code == "min_value"
    with pytest.raises(writes.RuleViolation) as unknown:
        writes.create(me, "purchase", {"item": "tea", "colour": "red"}, source="api")
    assert unknown.value.fields == {"colour": ["Unknown field."]}


@pytest.mark.parametrize("source", ["api", "page", "admin", "import", "system"])
def test_the_state_field_is_written_only_by_transitions(shop, source):
    built, ann, clerk, customer = shop
    me = writes.system_access(built) if source in ("import", "system") else access(built, clerk)
    with pytest.raises(writes.ReadOnlyField) as created:
        writes.create(me, "purchase", {"customer": customer, "item": "tea", "status": "delivered"}, source=source)
    assert created.value.code == "state_field" and list(created.value.fields) == ["status"]
    order = writes.create(me, "purchase", {"customer": customer, "item": "tea"}, source=source)
    with pytest.raises(writes.ReadOnlyField) as updated:
        writes.update(me, "purchase", order, {"item": "jam", "status": "delivered"}, source=source)
    assert updated.value.code == "state_field"
    order.refresh_from_db()
    assert (order.item, order.status) == ("tea", "new")


def test_audit_records_create_update_delete_and_transitions(shop, recorder):
    built, ann, clerk, customer = shop
    seen, add = recorder
    add("effects", lambda ctx: ctx.audit.update({"guard": {"status": ctx.old["status"]}}) if ctx.transition else None)
    me, staff = access(built, ann), access(built, clerk)
    order = writes.create(me, "purchase", {"item": "tea"}, source="api")
    writes.update(me, "purchase", order, {"item": "jam", "quantity": 1}, source="page")  # quantity unchanged
    writes.transition(staff, "purchase", order, "accept", source="api")
    writes.delete(staff, "purchase", order, source="admin")
    created, updated, accepted, deleted = AuditRecord.objects.filter(entity="purchase", object_id=order.pk)
    assert (created.action, created.actor, created.actor_label, created.source) == ("create", ann, "ann", "api")
    assert created.changes == {"customer": [None, customer.pk], "item": [None, "tea"], "quantity": [None, 1],
                               "status": [None, "new"]}
    assert (updated.action, updated.changes, updated.source) == ("update", {"item": ["tea", "jam"]}, "page")
    assert (accepted.action, accepted.transition, accepted.from_state, accepted.to_state, accepted.actor) == (
        "transition", "accept", "new", "accepted", clerk)
    assert accepted.changes == {"status": ["new", "accepted"]} and accepted.details == {"guard": {"status": "new"}}
    assert deleted.action == "delete" and deleted.changes["item"] == ["jam", None]
    assert not built.model("purchase").objects.exists()
    system = writes.create(writes.system_access(built), "purchase", {"customer": customer, "item": "x"}, source="system")
    record = AuditRecord.objects.get(object_id=system.pk, action="create")
    assert (record.actor, record.actor_label, record.source) == (None, "system", "system")


def test_a_stale_transition_is_a_state_conflict_and_changes_nothing(shop):
    built, ann, clerk, customer = shop
    staff = access(built, clerk)
    order = writes.create(staff, "purchase", {"customer": customer, "item": "tea"}, source="api")
    stale = built.model("purchase").objects.get(pk=order.pk)
    writes.transition(staff, "purchase", order, "cancel", source="page")
    with pytest.raises(writes.StateConflict) as caught:
        writes.transition(staff, "purchase", stale, "accept", source="page")  # its copy still says 'new'
    assert caught.value.code == "invalid_state" and caught.value.status_code == 409
    assert stale.status == "cancelled"  # the caller's copy now shows the row as it is
    with pytest.raises(AccessDenied):
        writes.transition(access(built, ann), "purchase", order, "accept", source="api")  # buyers may not accept
    assert AuditRecord.objects.filter(action="transition").count() == 1


def test_a_row_out_of_reach_by_the_time_it_is_locked_is_a_conflict(shop):
    """Rights that depend on the row are checked again under the lock: the row moved out of the scope."""
    built, ann, clerk, customer = shop
    me = access(built, ann)
    order = writes.create(me, "purchase", {"item": "tea"}, source="api")
    other = built.model("customer").objects.create(name="Bob")
    built.model("purchase").objects.filter(pk=order.pk).update(customer=other)
    with pytest.raises(writes.StateConflict):
        writes.update(me, "purchase", order, {"item": "jam"}, source="api")
    assert built.model("purchase").objects.get(pk=order.pk).item == "tea"


def test_the_api_refuses_state_writes_and_maps_domain_errors(shop, recorder):
    built, ann, clerk, customer = shop
    client = APIClient()
    client.force_authenticate(ann)
    created = client.post("/api/purchase/", {"item": "tea", "status": "delivered"}, format="json")
    assert (created.status_code, created.data) == (400, {"status": [
        {"message": "This field changes only through the workflow's transitions.", "code": "state_field"}]})
    order = client.post("/api/purchase/", {"item": "tea"}, format="json").data
    assert order["status"] == "new"
    url = f"/api/purchase/{order['id']}/"
    patched = client.patch(url, {"status": "delivered"}, format="json")
    assert patched.status_code == 400 and patched.data["status"][0]["code"] == "state_field"
    assert client.post(f"{url}cancel/").data["status"] == "cancelled"
    cancelled = client.post(f"{url}cancel/")
    assert cancelled.status_code == 409 and cancelled.data["detail"][0]["code"] == "invalid_state"
    assert client.post(f"{url}cancel/", {"note": "x"}, format="json").data == {"note": [{
        "message": "This transition does not fill this field; it fills: none.", "code": "unknown"}]}
    seen, add = recorder

    def rule(ctx):
        raise writes.RuleViolation(fields={"quantity": ["Too many."], "secret": ["Hidden."]}, code="rule")

    add("validate", rule)
    refused = client.patch(url, {"quantity": 3}, format="json")
    assert (refused.status_code, refused.data) == (400, {
        "quantity": [{"message": "Too many.", "code": "rule"}],
        "non_field_errors": [{"message": "Hidden.", "code": "rule"}]})  # a field the buyer does not see


def test_history_shows_what_the_reader_may_see(shop):
    built, ann, clerk, customer = shop
    staff = access(built, clerk)
    order = writes.create(staff, "purchase", {"customer": customer, "item": "tea", "secret": "s1"}, source="admin")
    writes.update(staff, "purchase", order, {"secret": "s2"}, source="admin")  # hidden from the buyer
    writes.update(staff, "purchase", order, {"item": "jam", "secret": "s3"}, source="admin")
    writes.transition(staff, "purchase", order, "accept", source="page")
    buyer = APIClient()
    buyer.force_authenticate(ann)
    page = buyer.get(f"/api/purchase/{order.pk}/history/")
    assert page.status_code == 200 and page.data["count"] == 3
    first, edit, accept = page.data["results"]
    assert (first["action"], first["actor"], "secret" in first["changes"]) == ("create", "clerk", False)
    assert edit["changes"] == {"item": ["tea", "jam"]}
    assert (accept["transition"], accept["from_state"], accept["to_state"]) == ("accept", "new", "accepted")
    assert buyer.get(f"/api/purchase/{order.pk}/history/?page_size=1").data["next"]
    staff_client = APIClient()
    staff_client.force_authenticate(clerk)
    assert staff_client.get(f"/api/purchase/{order.pk}/history/").data["count"] == 4
    other = built.model("purchase").objects.create(customer=built.model("customer").objects.create(name="Bob"),
                                                item="not ann's")
    assert buyer.get(f"/api/purchase/{other.pk}/history/").status_code == 404
    schema = staff_client.get("/api/schema/?format=json").json()
    assert "/api/purchase/{id}/history/" in schema["paths"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_transitions_on_one_row_exactly_one_wins(shop):
    """Threads with their own connections fire 'accept' and 'reject' (both from 'new') at once on one order."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (the in-memory SQLite test database fails writers at once; "
                    "the file database serialises writers with BEGIN IMMEDIATE)")
    built, ann, clerk, customer = shop
    staff = access(built, clerk)
    for _ in range(5):
        order = writes.create(staff, "purchase", {"customer": customer, "item": "tea"}, source="api")
        barrier, outcome = threading.Barrier(2), {}

        def fire(name, pk=order.pk, barrier=barrier, outcome=outcome):
            try:
                barrier.wait()
                writes.transition(access(built, clerk), "purchase", pk, name, source="api")
                outcome[name] = "won"
            except writes.StateConflict:
                outcome[name] = "conflict"
            finally:
                connections.close_all()

        threads = [threading.Thread(target=fire, args=(name,)) for name in ("accept", "reject")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcome.values()) == ["conflict", "won"], outcome
        winner = next(name for name, result in outcome.items() if result == "won")
        status = built.model("purchase").objects.get(pk=order.pk).status
        assert status == {"accept": "accepted", "reject": "cancelled"}[winner]
        assert AuditRecord.objects.filter(object_id=order.pk, action="transition").count() == 1


# --- pages and admin: the same refusals, shown on the form ---------------------------------------------------


def test_a_page_form_never_offers_the_state_and_refuses_a_posted_one(shop, client, recorder):
    built, ann, clerk, customer = shop
    client.force_login(clerk)
    order = writes.create(access(built, clerk), "purchase", {"customer": customer, "item": "tea"}, source="api")
    url = f"/p/purchase_form/{order.pk}/edit/"
    assert 'name="status"' not in client.get(url).content.decode()
    posted = client.post(url, {"customer": customer.pk, "item": "jam", "quantity": 1, "status": "delivered"})
    assert posted.status_code == 400
    assert "This field changes only through the workflow&#x27;s transitions." in posted.content.decode()
    order.refresh_from_db()
    assert (order.item, order.status) == ("tea", "new")
    seen, add = recorder

    def rule(ctx):
        if ctx.data.get("quantity", 0) > 5:
            raise writes.RuleViolation(fields={"quantity": ["Five at most."]}, code="rule")

    add("validate", rule)
    refused = client.post(url, {"customer": customer.pk, "item": "jam", "quantity": 9})
    html = refused.content.decode()
    assert refused.status_code == 400 and 'class="field invalid"' in html and "Five at most." in html
    assert client.post(url, {"customer": customer.pk, "item": "jam", "quantity": 2}).status_code == 302
    order.refresh_from_db()
    assert (order.item, order.quantity) == ("jam", 2)
    assert AuditRecord.objects.filter(object_id=order.pk, action="update", source="page").count() == 1


def test_the_detail_page_shows_the_rows_history(shop, client):
    built, ann, clerk, customer = shop
    staff = access(built, clerk)
    order = writes.create(staff, "purchase", {"customer": customer, "item": "tea", "secret": "s1"}, source="api")
    writes.update(staff, "purchase", order, {"secret": "hidden change"}, source="api")
    writes.update(staff, "purchase", order, {"quantity": 3}, source="api")
    writes.transition(staff, "purchase", order, "accept", source="api")
    client.force_login(ann)
    html = client.get(f"/p/purchase_detail/{order.pk}/").content.decode()
    timeline = html[html.index('<ol class="timeline">'):]
    assert timeline.count('<p class="when">') == 3  # created, quantity changed, accepted; not the secret edit
    assert re.search(r'Accept</strong> <span class="states"><span class="badge badge--state badge--\w+">New</span>'
                     r' <span aria-hidden="true">→</span><span class="visually-hidden">to</span> '
                     r'<span class="badge badge--state badge--\w+">Accepted</span>', timeline)
    assert "Quantity: 1 → 3" in timeline and "by clerk" in timeline and "hidden change" not in html
    assert "<li>Status: New</li>" in timeline  # stored values shown as the page shows the field (a choice's label)
    client.cookies.load({"django_language": "ru"})
    assert "История" in client.get(f"/p/purchase_detail/{order.pk}/", HTTP_ACCEPT_LANGUAGE="ru").content.decode()


def test_the_admin_refuses_a_direct_status_change(shop, client, recorder):
    built, ann, clerk, customer = shop
    client.force_login(clerk)
    order = writes.create(access(built, clerk), "purchase", {"customer": customer, "item": "tea"}, source="api")
    url = f"/admin/cabinet/purchase/{order.pk}/change/"
    form = client.get(url).content.decode()
    assert 'name="status"' not in form and "New" in form  # shown read-only
    refused = client.post(url, {"customer": customer.pk, "item": "jam", "quantity": 1, "status": "delivered"})
    assert refused.status_code == 200  # the form again, with the error; nothing saved
    assert "This field changes only through the workflow&#x27;s transitions." in refused.content.decode()
    order.refresh_from_db()
    assert (order.item, order.status) == ("tea", "new")
    seen, add = recorder
    add("check", lambda ctx: (_ for _ in ()).throw(
        writes.RuleViolation(fields={"quantity": ["Not that many."]}, code="rule")) if ctx.obj.quantity > 5 else None)
    too_many = client.post(url, {"customer": customer.pk, "item": "jam", "quantity": 9})
    assert too_many.status_code == 200 and "Not that many." in too_many.content.decode()
    assert client.post(url, {"customer": customer.pk, "item": "jam", "quantity": 2}).status_code == 302
    order.refresh_from_db()
    assert (order.item, order.quantity, order.status) == ("jam", 2, "new")
    assert AuditRecord.objects.get(object_id=order.pk, action="update").source == "admin"
    add("validate", lambda ctx: (_ for _ in ()).throw(writes.RuleViolation("Orders are kept.")) if (
        ctx.action == "delete") else None)
    bulk = client.post("/admin/cabinet/purchase/", {"action": "delete_selected", "_selected_action": [order.pk],
                                                    "post": "yes"}, follow=True)
    assert "Nothing was changed: Orders are kept." in bulk.content.decode()
    assert built.model("purchase").objects.filter(pk=order.pk).exists()


def test_ref_choices_are_what_pages_admin_and_api_all_accept(shop, client):
    """One policy method: the accounts a form offers for a user ref are exactly those the API and the admin
    accept. A customer is a profile (a unique ref to the user): the clerk may link the buyers' accounts that
    have no customer yet, never a colleague, an outsider or an account already linked."""
    built, ann, clerk, customer = shop
    User = get_user_model()
    buyers = [User.objects.create_user(f"buyer{i}") for i in range(3)]
    for user in buyers:
        user.groups.add(Group.objects.get(name="buyer"))
    colleague = User.objects.create_user("colleague", is_staff=True)
    colleague.groups.add(Group.objects.get(name="clerk"))
    outsider = User.objects.create_user("outsider")
    choices = set(access(built, clerk).ref_choices("customer", "user").values_list("pk", flat=True))
    assert choices == {u.pk for u in buyers}  # not ann (linked), the clerks, the outsider
    client.force_login(clerk)
    form = client.get("/p/customer_form/new/").content.decode()
    offered = {int(pk) for pk in re.findall(r'<option value="(\d+)"', form)}
    assert offered == choices
    api = APIClient()
    api.force_authenticate(clerk)
    for wrong in (outsider, colleague, ann):
        refused = api.post("/api/customer/", {"user": wrong.pk, "name": "Out"}, format="json")
        assert refused.status_code == 400 and refused.data["user"][0]["code"] == "does_not_exist"
    assert api.post("/api/customer/", {"user": buyers[0].pk, "name": "C0"}, format="json").status_code == 201
    admin_out = client.post("/admin/cabinet/customer/add/", {"user": outsider.pk, "name": "Out"})
    assert admin_out.status_code == 200 and "Select a valid choice" in admin_out.content.decode()
    assert client.post("/admin/cabinet/customer/add/", {"user": buyers[1].pk, "name": "C1"}).status_code == 302
    page_out = client.post("/p/customer_form/new/", {"user": outsider.pk, "name": "Out"})
    assert page_out.status_code == 400
    assert client.post("/p/customer_form/new/", {"user": buyers[2].pk, "name": "C2"}).status_code == 302
    assert not built.model("customer").objects.filter(user=outsider).exists()


def test_outbox_rows_are_written_once_per_key_with_the_write(shop, recorder):
    """A hook records a notification in the outbox; the same key twice (a retried step) is one row, and a
    write that fails afterwards leaves none."""
    from engine.models import Outbox

    built, ann, clerk, customer = shop
    seen, add = recorder

    def notify(ctx):
        for _ in range(2):
            writes.outbox("notify", ctx.entity.name, ctx.obj.pk, {"to": "ann"}, key=f"created:{ctx.obj.pk}")
        if ctx.obj.item == "boom":
            raise writes.RuleViolation("Refused after the notification.")

    add("effects", notify)
    order = writes.create(access(built, ann), "purchase", {"item": "tea"}, source="api")
    assert list(Outbox.objects.values_list("kind", "object_id", "key")) == [
        ("notify", order.pk, f"created:{order.pk}")]
    with pytest.raises(writes.RuleViolation):
        writes.create(access(built, ann), "purchase", {"item": "boom"}, source="api")
    assert Outbox.objects.count() == 1
