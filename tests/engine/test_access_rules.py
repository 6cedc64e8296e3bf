"""Access on expressions: string scopes, state-dependent rights (role `when`), forced values from the clock,
ref choices limited by a condition (the current value always kept), card filters as expressions."""
import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone
from rest_framework.test import APIClient

from engine.access import AccessDenied, NotFound
from tests.conftest import HEADER, compile_yaml, dedent

SHOP = """
entities:
  company:
    title: name
    fields: {name: {type: string, required: true}}
  buyer:
    owner: user
    fields:
      user: {type: ref, to: user, unique: true}
      company: {type: ref, to: company, required: true}
  slot:
    title: label
    fields:
      label: {type: string, required: true}
      starts_at: {type: datetime}
      free: {type: boolean, default: true}
  purchase:
    owner: created_by
    fields:
      company: {type: ref, to: company, required: true}
      created_by: {type: ref, to: user}
      status: {type: choice, choices: [draft, placed, shipped], default: draft}
      note: {type: string}
      due: {type: date}
      slot: {type: ref, to: slot, limit_choices: "free and (starts_at == null or starts_at > now)"}
      extras: {type: refs, to: slot, limit_choices: free}
roles:
  buyer:
    entities:
      company: {actions: [view], scope: "id == $user.buyer.company"}
      slot: {actions: [list, view], scope: all}
      purchase:
        actions: [list, view, create, update, delete, place]
        scope: "company == $user.buyer.company"
        when:
          update: "status == 'draft'"
          delete: "status == 'draft' and created_by == $user"
          place: "note != null"
        set: {company: $user.buyer.company, created_by: $user, due: $today + 3}
pages:
  home:
    kind: dashboard
    cards:
      - {kind: counter, title: Drafts due, entity: purchase, filter: "status == 'draft' and due >= $today"}
      - {kind: counter, title: Placed, entity: purchase, filter: {status: placed}}
workflows:
  purchase_flow:
    entity: purchase
    field: status
    states: {draft: , placed: , shipped: }
    transitions:
      place: {from: draft, to: placed, roles: [buyer]}
      ship: {from: placed, to: shipped}
"""


@pytest.fixture
def shop(publish_yaml):
    built, _ = publish_yaml(SHOP)
    Company, Buyer, Order = (built.model(n) for n in ("company", "buyer", "purchase"))
    User = get_user_model()
    acme, other = Company.objects.create(name="Acme"), Company.objects.create(name="Other")
    ann, bob, eve = (User.objects.create_user(n, password=f"pw-{n}-12345") for n in ("ann", "bob", "eve"))
    group = Group.objects.get(name="buyer")
    for user, company in ((ann, acme), (bob, acme), (eve, other)):
        user.groups.add(group)
        Buyer.objects.create(user=user, company=company)
    rows = {
        "draft": Order.objects.create(company=acme, created_by=ann, status="draft"),
        "bobs": Order.objects.create(company=acme, created_by=bob, status="draft", note="rush"),
        "placed": Order.objects.create(company=acme, created_by=ann, status="placed"),
        "theirs": Order.objects.create(company=other, created_by=eve, status="draft"),
    }
    return built, {u.username: User.objects.get(pk=u.pk) for u in (ann, bob, eve)}, rows


def ids(queryset):
    return set(queryset.values_list("pk", flat=True))


def test_when_narrows_an_action_to_rows_in_a_state(shop):
    built, users, rows = shop
    access = built.policy.for_user(users["ann"])
    pk = {name: row.pk for name, row in rows.items()}
    assert ids(access.queryset("purchase", "list")) == {pk["draft"], pk["bobs"], pk["placed"]}
    assert ids(access.queryset("purchase", "update")) == {pk["draft"], pk["bobs"]}
    assert ids(access.queryset("purchase", "delete")) == {pk["draft"]}  # drafts she made
    assert ids(access.queryset("purchase", "place")) == {pk["bobs"]}  # a note is needed to place
    assert access.get("purchase", pk["draft"], "update").pk == pk["draft"]
    with pytest.raises(AccessDenied):  # visible but shipped on: a 403, not a 404
        access.get("purchase", pk["placed"], "update")
    with pytest.raises(AccessDenied):
        access.get("purchase", pk["bobs"], "delete")
    with pytest.raises(NotFound):  # another company's order stays invisible
        access.get("purchase", pk["theirs"], "update")
    assert ids(access.queryset("company", "view")) == {rows["draft"].company_id}


def test_api_refuses_editing_an_order_that_is_no_longer_a_draft(shop):
    _built, users, rows = shop
    api = APIClient()
    api.force_authenticate(users["ann"])
    assert api.patch(f"/api/purchase/{rows['draft'].pk}/", {"note": "ok"}, format="json").status_code == 200
    assert api.patch(f"/api/purchase/{rows['placed'].pk}/", {"note": "late"}, format="json").status_code == 403
    assert api.patch(f"/api/purchase/{rows['theirs'].pk}/", {"note": "x"}, format="json").status_code == 404
    assert api.delete(f"/api/purchase/{rows['placed'].pk}/").status_code == 403


def test_forced_values_are_expressions_over_the_user_and_the_clock(shop):
    built, users, rows = shop
    access = built.policy.for_user(users["bob"])
    forced = access.resolved_forced("purchase")
    assert forced["company"] == rows["draft"].company
    assert forced["created_by"] == users["bob"]
    assert forced["due"] == timezone.localdate() + dt.timedelta(days=3)
    nobody = get_user_model().objects.create_user("nobody")
    nobody.groups.add(Group.objects.get(name="buyer"))
    stranger = built.policy.for_user(get_user_model().objects.get(pk=nobody.pk))
    with pytest.raises(AccessDenied, match="Your account has no buyer to attach this purchase to"):
        stranger.resolved_forced("purchase")


def test_ref_choices_are_limited_and_keep_the_current_value(shop):
    built, users, rows = shop
    Slot = built.model("slot")
    now = timezone.now()
    open_slot = Slot.objects.create(label="open", starts_at=now + dt.timedelta(days=1))
    undated = Slot.objects.create(label="any time")
    taken = Slot.objects.create(label="taken", starts_at=now + dt.timedelta(days=1), free=False)
    past = Slot.objects.create(label="past", starts_at=now - dt.timedelta(days=1))
    access = built.policy.for_user(users["ann"])
    assert ids(access.ref_choices("purchase", "slot")) == {open_slot.pk, undated.pk}
    assert ids(access.ref_choices("purchase", "slot", current=taken)) == {open_slot.pk, undated.pk, taken.pk}
    assert ids(access.ref_choices("purchase", "slot", current=taken.pk)) == {open_slot.pk, undated.pk, taken.pk}
    assert ids(access.ref_choices("purchase", "extras")) == {open_slot.pk, undated.pk, past.pk}
    order = rows["draft"]
    order.extras.set([taken])
    assert ids(access.ref_choices("purchase", "extras", current=order.extras)) == {
        open_slot.pk, undated.pk, past.pk, taken.pk}
    assert ids(access.ref_choices("purchase", "extras", current=[taken, None])) == {
        open_slot.pk, undated.pk, past.pk, taken.pk}
    assert ids(access.ref_choices("purchase", "company")) == {order.company_id}  # no limit: the view scope


def test_card_filters_are_expressions_with_the_readers_clock(shop, client):
    _built, users, rows = shop
    rows["draft"].due = timezone.localdate()
    rows["draft"].save()
    rows["bobs"].due = timezone.localdate() - dt.timedelta(days=1)
    rows["bobs"].save()
    client.force_login(users["ann"])
    html = client.get("/p/home/").content.decode()
    drafts = html[html.index("Drafts due"):]
    placed = html[html.index("Placed"):]
    assert ">1<" in drafts[:300].replace(" ", "").replace("\n", "")
    assert ">1<" in placed[:300].replace(" ", "").replace("\n", "")


# --- checks ---------------------------------------------------------------------------------------

def test_the_shop_passes_the_checks():
    assert compile_yaml(SHOP).problems == []


@pytest.mark.parametrize(("old", "new", "code", "token"), [
    ('scope: "company == $user.buyer.company"', 'scope: "compny == $user.buyer.company"', "E301", "compny"),
    ('update: "status == \'draft\'"', 'update: "status == \'drafted\'"', "E307", "'drafted'"),
    ('update: "status', 'view: "status', "E308", "view"),
    ('update: "status', 'ship: "status', "E308", "ship"),
    ("due: $today + 3}", "due: $today + 'x'}", "E304", "$today"),
    ("due: $today + 3}", "due: $tomorrow}", "E207", "$tomorrow"),
    ("due: $today + 3}", "due: $now + 1d}", "E304", "$now"),
    ('limit_choices: "free and', 'limit_choices: "fre and', "E301", "fre"),
    ("filter: \"status == 'draft' and due >= $today\"", "filter: \"status == 'draft' and due >= $now\"",
     "E304", "due"),
    ("filter: {status: placed}", "filter: {status: plaed}", "E220", "plaed"),
    ("created_by: {type: ref, to: user}", "created_by: {type: ref, to: user, limit_choices: 'true'}", "E305",
     "limit_choices"),
    ("note: {type: string}", "note: {type: string, limit_choices: 'true'}", "E212", "limit_choices"),
])
def test_expression_problems_are_located_at_their_token(old, new, code, token):
    assert old in SHOP
    text = SHOP.replace(old, new, 1)
    found = compile_yaml(text).problems
    assert [p.code for p in found] == [code], found
    source = (HEADER + dedent(text)).splitlines()
    where = source[found[0].loc.line - 1][found[0].loc.column - 1:]
    assert where.startswith(token), (where, found[0])


def test_an_unchanged_ref_outside_its_limit_still_saves_and_a_new_one_is_refused(shop):
    """Editing a row unchanged never fails on limit_choices; picking a row outside the limit anew does."""
    built, users, rows = shop
    Slot = built.model("slot")
    taken = Slot.objects.create(label="taken", free=False)
    other = Slot.objects.create(label="also taken", free=False)
    draft = rows["draft"]
    built.model("purchase").objects.filter(pk=draft.pk).update(slot=taken)
    api = APIClient()
    api.force_authenticate(users["ann"])
    url = f"/api/purchase/{draft.pk}/"
    assert api.patch(url, {"slot": taken.pk, "note": "same slot"}, format="json").status_code == 200
    refused = api.patch(url, {"slot": other.pk}, format="json")
    assert refused.status_code == 400 and "slot" in refused.json()
    # The kept value stays within the reader's reach: it is offered for this row, not for a new one.
    access = built.policy.for_user(users["ann"])
    draft.refresh_from_db()
    assert taken.pk in ids(access.ref_choices("purchase", "slot", access.current_choices(draft, "slot")))
    assert taken.pk not in ids(access.ref_choices("purchase", "slot"))
