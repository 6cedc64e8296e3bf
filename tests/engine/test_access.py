"""The access policy: SQL scopes agree with the YAML for every role, entity and action of a solution."""
import datetime as dt
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, Group
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from engine.access import AccessDenied, NotFound
from engine.compiler import compile_folder
from engine.migrate import publish
from tests import matrix

SOLUTIONS = ["solutions/resort", "tests/fixtures/b2b"]




@pytest.mark.parametrize("solution", SOLUTIONS, indirect=True)
def test_access_matrix(solution):
    built = solution
    owners = matrix.make_users(2)
    matrix.make_rows(built, owners)
    for entity in built.spec.entities:
        assert built.model(entity.name).objects.count() >= 4, f"no rows made for {entity.name}"
    checked, partial = 0, 0
    for role in built.spec.roles:
        users = matrix.give_role(owners, role)
        for entity in built.spec.entities:
            model = built.model(entity.name)
            rows = list(model.objects.all())
            for user in users:
                access = built.policy.for_user(user)
                visible = matrix.expected(built, role, entity, "view", user, rows)
                for action in ("list", "view", "update", "delete"):
                    want = matrix.expected(built, role, entity, action, user, rows)
                    got = set(access.queryset(entity.name, action).values_list("pk", flat=True))
                    assert got == want, (role.name, entity.name, action, user.username)
                    partial += 0 < len(want) < len(rows)
                    for row in rows:
                        if row.pk in want:
                            assert access.get(entity.name, row.pk, action).pk == row.pk
                        else:
                            error = AccessDenied if (action != "view" and row.pk in visible) else NotFound
                            with pytest.raises(error):
                                access.get(entity.name, row.pk, action)
                    checked += 1
                grant = role.grant(entity.name)
                allowed = grant is not None and ("all" in grant.actions or "create" in grant.actions)
                assert access.can(entity.name, "create") is allowed
    assert checked >= len(built.spec.roles) * len(built.spec.entities) * 8
    assert partial >= 10, "the scopes under test should let some rows through and hold others back"


@pytest.mark.parametrize("solution", ["solutions/resort"], indirect=True)
def test_anonymous_and_roleless_users_see_nothing(solution):
    built = solution
    owners = matrix.make_users(2)
    matrix.make_rows(built, owners)
    nobody = get_user_model().objects.create_user("nobody")
    for user in (AnonymousUser(), nobody):
        access = built.policy.for_user(user)
        for entity in built.spec.entities:
            assert not access.queryset(entity.name).exists()
            assert not access.can(entity.name, "view") and not access.can(entity.name, "create")
            assert access.visible_fields(entity.name) == ()


@pytest.mark.parametrize("solution", ["solutions/resort"], indirect=True)
def test_list_costs_the_same_queries_for_10_or_1000_rows(solution):
    built = solution
    user = matrix.make_users(1)[0]
    user.groups.add(Group.objects.get(name="guest"))
    Guest, Excursion, Booking = built.model("guest"), built.model("excursion"), built.model("booking")
    guest = Guest.objects.create(user=user, full_name="Ann")
    trip = Excursion.objects.create(name="Boat", starts_at=timezone.now() + dt.timedelta(days=60), price=1, capacity=5)
    list(built.policy.for_user(user).queryset("booking"))  # warm per-process caches (content types, permissions)
    counts = []
    for total in (10, 1000):
        Booking.objects.bulk_create([Booking(guest=guest, excursion=trip) for _ in range(total - Booking.objects.count())])
        user = get_user_model().objects.get(pk=user.pk)
        with CaptureQueriesContext(connection) as ctx:
            rows = list(built.policy.for_user(user).queryset("booking").select_related("excursion"))
        assert len(rows) == total
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1] == 1  # the rows; the user's groups and granted ids come from the cache


@pytest.mark.parametrize("solution", ["solutions/resort"], indirect=True)
def test_two_hop_scope_and_guardian_grants_combine(solution):
    built = solution
    anna, boris, clerk = matrix.make_users(3)
    guest_group = Group.objects.get(name="guest")
    for u in (anna, boris):
        u.groups.add(guest_group)
    Guest, Stay, Service, Order = (built.model(n) for n in ("guest", "stay", "service", "service_order"))
    service = Service.objects.create(name="Tea", price=2)
    orders = {}
    for user in (anna, boris):
        g = Guest.objects.create(user=user, full_name=user.username)
        stay = Stay.objects.create(guest=g, check_in="2026-01-01", check_out="2026-01-05")
        orders[user.username] = Order.objects.create(stay=stay, service=service)
    # the scope goes two hops: service_order.stay.guest.user
    assert list(built.policy.for_user(anna).queryset("service_order")) == [orders[anna.username]]
    # a grant shares one of boris's orders with anna: it joins her scope in the same query
    assign_perm("view_serviceorder", anna, orders[boris.username])
    anna = get_user_model().objects.get(pk=anna.pk)
    access = built.policy.for_user(anna)
    with CaptureQueriesContext(connection) as ctx:
        assert set(access.queryset("service_order")) == set(orders.values())
    # whether anyone holds such grants, the ids granted to anna (both guardian tables in one query), then
    # the rows: scope OR pk IN (granted ids); the rows query itself does not touch guardian's tables
    sqls = [q["sql"] for q in ctx.captured_queries]
    assert len(sqls) == 3 and "guardian" not in sqls[-1] and "IN (2)" in sqls[-1]
    assert "guardian_userobjectpermission" in sqls[1] and "guardian_groupobjectpermission" in sqls[1]
    # a grant to a group works the same; a user with no role gets only the granted row
    share = Group.objects.create(name="share")
    clerk.groups.add(share)
    assign_perm("view_serviceorder", share, orders[anna.username])
    clerk = get_user_model().objects.get(pk=clerk.pk)
    clerk_access = built.policy.for_user(clerk)
    assert list(clerk_access.queryset("service_order")) == [orders[anna.username]]
    assert clerk_access.get("service_order", orders[anna.username].pk).pk == orders[anna.username].pk
    with pytest.raises(NotFound):
        clerk_access.get("service_order", orders[boris.username].pk)
    # the grant is for viewing: updating the shared row is still refused, with a 403 since it is visible
    with pytest.raises(AccessDenied):
        access.get("service_order", orders[boris.username].pk, "update")
    # granted ids are cached across requests (until a grant changes), and a revocation is seen at once
    list(built.policy.for_user(get_user_model().objects.get(pk=anna.pk)).queryset("service_order"))
    anna = get_user_model().objects.get(pk=anna.pk)
    with CaptureQueriesContext(connection) as ctx:
        assert len(built.policy.for_user(anna).queryset("service_order")) == 2
    assert len(ctx.captured_queries) == 1 and "guardian" not in ctx.captured_queries[0]["sql"]
    remove_perm("view_serviceorder", anna, orders[boris.username])
    anna = get_user_model().objects.get(pk=anna.pk)
    assert list(built.policy.for_user(anna).queryset("service_order")) == [orders[anna.username]]


@pytest.mark.parametrize("solution", ["solutions/resort"], indirect=True)
def test_fields_hidden_read_only_and_forced(solution):
    built = solution
    anna, boris = matrix.make_users(2)
    guest_group = Group.objects.get(name="guest")
    for u in (anna, boris):
        u.groups.add(guest_group)
    Guest = built.model("guest")
    anna_guest = Guest.objects.create(user=anna, full_name="Anna")
    boris_guest = Guest.objects.create(user=boris, full_name="Boris")
    access = built.policy.for_user(anna)
    assert access.visible_fields("booking") == ("excursion", "seats", "status", "note", "created_at")
    assert access.editable_fields("booking", "create") == ("excursion", "seats", "note")
    assert "user" not in access.visible_fields("guest")
    cleaned = access.clean_input("booking", {"excursion": 1, "seats": 2}, "create")
    assert cleaned == {"excursion": 1, "seats": 2, "guest": anna_guest}
    with pytest.raises(ValidationError) as info:
        access.clean_input("booking", {"seats": 2, "guest": boris_guest.pk, "status": "confirmed", "x": 1}, "create")
    assert {k: [e.code for e in v] for k, v in info.value.error_dict.items()} == {
        "guest": ["unknown"], "status": ["read_only"], "x": ["unknown"]}  # a hidden field looks unknown
    # a guest without a guest profile cannot create a booking: the forced value has nothing to point at
    stranger = matrix.make_users(1)[0]
    stranger.groups.add(guest_group)
    with pytest.raises(AccessDenied, match="no guest"):
        built.policy.for_user(get_user_model().objects.get(pk=stranger.pk)).clean_input("booking", {}, "create")


@pytest.mark.parametrize("solution", ["tests/fixtures/b2b"], indirect=True)
def test_b2b_company_scope_and_forced_company(solution):
    built = solution
    Company, Employee, Order = built.model("company"), built.model("employee"), built.model("purchase_order")
    acme, globex = Company.objects.create(name="Acme"), Company.objects.create(name="Globex")
    buyer, colleague, outsider = matrix.make_users(3)
    buyers = Group.objects.get(name="buyer")
    for user, company in ((buyer, acme), (colleague, acme), (outsider, globex)):
        user.groups.add(buyers)
        Employee.objects.create(user=user, company=company, name=user.username)
    mine = Order.objects.create(company=acme, created_by=colleague, status="submitted")
    Order.objects.create(company=acme, created_by=buyer, status="approved")  # out of the status filter
    Order.objects.create(company=globex, created_by=outsider)
    access = built.policy.for_user(get_user_model().objects.get(pk=buyer.pk))
    assert list(access.queryset("purchase_order")) == [mine]
    assert list(access.queryset("company")) == []  # 'view' only, no 'list'
    assert access.get("company", acme.pk).pk == acme.pk
    with pytest.raises(NotFound):
        access.get("company", globex.pk)
    assert access.clean_input("purchase_order", {"note": "rush"}, "create") == {
        "note": "rush", "company": acme, "created_by": access.user}
    assert access.visible_fields("purchase_order") == ("company", "created_by", "status", "note")


@pytest.mark.django_db(transaction=True)
def test_staff_admin_follows_the_policy(schema, client):
    compiled = compile_folder("tests/fixtures/b2b")
    built, _ = publish(compiled.raise_for_errors(), compiled.sources)
    Company, Order = built.model("company"), built.model("purchase_order")
    acme = Company.objects.create(name="Acme")
    draft = Order.objects.create(company=acme, status="draft", internal_note="secret")
    sent = Order.objects.create(company=acme, status="submitted")
    staff = get_user_model().objects.create_user("sup", password="pw-sup-123", is_staff=True)
    staff.groups.add(Group.objects.get(name="supplier"))
    client.login(username="sup", password="pw-sup-123")
    page = client.get("/admin/cabinet/purchaseorder/")
    assert page.status_code == 200
    listed = {obj.pk for obj in page.context["cl"].result_list}
    assert listed == {sent.pk}
    assert client.get(f"/admin/cabinet/purchaseorder/{draft.pk}/change/").status_code == 302  # "does not exist"
    assert client.get("/admin/cabinet/purchaseorder/add/").status_code == 403
    assert client.get(f"/admin/cabinet/purchaseorder/{sent.pk}/delete/").status_code == 403
    assert client.get("/admin/cabinet/product/add/").status_code == 200


TICKETS = """
entities:
  ticket:
    title: subject
    fields:
      subject: {type: string, required: true}
      secret: {type: string}
      status: {type: choice, choices: [open, closed], default: closed}
roles:
  agent:
    staff: true
    entities:
      ticket:
        actions: [list, view, create, update]
        scope: all
        fields: {view: [subject, status], edit: [subject]}
        set: {status: open}
  auditor:
    entities:
      ticket: {actions: [list, view], scope: {status: closed}, fields: {view: [subject, secret]}}
"""


def test_several_roles_give_the_union(publish_yaml):
    built, _ = publish_yaml(TICKETS)
    Ticket = built.model("ticket")
    closed = Ticket.objects.create(subject="a", status="closed")
    opened = Ticket.objects.create(subject="b", status="open")
    user = matrix.make_users(1)[0]
    user.groups.add(Group.objects.get(name="auditor"))
    access = built.policy.for_user(get_user_model().objects.get(pk=user.pk))
    assert list(access.queryset("ticket")) == [closed] and not access.can("ticket", "create")
    user.groups.add(Group.objects.get(name="agent"))
    access = built.policy.for_user(get_user_model().objects.get(pk=user.pk))
    assert set(access.queryset("ticket")) == {closed, opened}
    assert access.visible_fields("ticket") == ("subject", "secret", "status")
    assert access.can("ticket", "create") and access.editable_fields("ticket", "create") == ("subject",)
    # memberships are cached, but leaving a role takes effect at the next request
    user.groups.remove(Group.objects.get(name="agent"))
    access = built.policy.for_user(get_user_model().objects.get(pk=user.pk))
    assert list(access.queryset("ticket")) == [closed] and not access.can("ticket", "create")
    Group.objects.get(name="agent").user_set.add(user)  # through the other side of the relation
    assert built.policy.for_user(get_user_model().objects.get(pk=user.pk)).can("ticket", "create")


def test_admin_hides_fields_keeps_read_only_and_forces_values(publish_yaml, client):
    built, _ = publish_yaml(TICKETS)
    agent = get_user_model().objects.create_user("agent", password="pw-agent-123", is_staff=True)
    agent.groups.add(Group.objects.get(name="agent"))
    client.login(username="agent", password="pw-agent-123")
    form = client.get("/admin/cabinet/ticket/add/")
    html = form.content.decode()
    assert form.status_code == 200 and 'name="subject"' in html
    assert 'name="secret"' not in html and 'name="status"' not in html  # hidden / read-only
    response = client.post("/admin/cabinet/ticket/add/", {"subject": "Help", "secret": "x", "status": "closed"})
    assert response.status_code == 302
    ticket = built.model("ticket").objects.get()
    assert (ticket.subject, ticket.secret, ticket.status) == ("Help", "", "open")


def test_admin_bulk_delete_stays_within_the_delete_scope(publish_yaml, client):
    built, _ = publish_yaml(TICKETS.replace("  auditor:", """  janitor:
    staff: true
    entities:
      ticket: {actions: [list, view, delete], scope: all}
  closer:
    staff: true
    entities:
      ticket: {actions: [list, view], scope: all}
  auditor:""").replace("      ticket: {actions: [list, view, delete], scope: all}\n",
                       "      ticket: {actions: [list, view, delete], scope: {status: closed}}\n"))
    Ticket = built.model("ticket")
    closed = Ticket.objects.create(subject="a", status="closed")
    opened = Ticket.objects.create(subject="b", status="open")
    staff = get_user_model().objects.create_user("jan", password="pw-jan-123", is_staff=True)
    staff.groups.add(Group.objects.get(name="janitor"), Group.objects.get(name="closer"))
    client.login(username="jan", password="pw-jan-123")
    def delete(*rows):
        return client.post("/admin/cabinet/ticket/", {"action": "delete_selected", "post": "yes",
                                                      "_selected_action": [row.pk for row in rows]}).status_code

    assert delete(closed, opened) == 403  # one selected row is outside the delete scope: nothing happens
    assert Ticket.objects.count() == 2
    assert delete(closed) == 302
    assert list(Ticket.objects.all()) == [opened]


TEAMS = """
entities:
  team:
    title: name
    fields:
      name: {type: string, required: true}
      members: {type: refs, to: user}
  project:
    title: name
    fields:
      name: {type: string, required: true}
      teams: {type: refs, to: team}
      budget: {type: integer, default: 0}
roles:
  member:
    staff: true
    home: home
    entities:
      team: {actions: [list, view], scope: {members: $user}}
      project: {actions: [list, view, update, delete], scope: {teams.members: $user}}
pages:
  home:
    kind: dashboard
    roles: [member]
    cards: [{kind: counter, entity: project, title: {en: Projects}}]
  projects: {kind: list, entity: project, roles: [member], columns: [name, budget]}
  project: {kind: detail, entity: project, roles: [member]}
"""


def test_a_scope_through_many_refs_matches_each_row_once_for_every_consumer(publish_yaml, client):
    """A user in two teams of one project sees it once: policy, API list/detail/update/delete, pages, admin."""
    from rest_framework.test import APIClient

    built, _ = publish_yaml(TEAMS)
    Team, Project = built.model("team"), built.model("project")
    me, other = matrix.make_users(2)
    me.is_staff = True
    me.save()
    me.groups.add(Group.objects.get(name="member"))
    red, blue, grey = (Team.objects.create(name=n) for n in ("red", "blue", "grey"))
    red.members.set([me, other])
    blue.members.set([me])
    grey.members.set([other])
    shared = Project.objects.create(name="shared")
    shared.teams.set([red, blue])  # reaches me through two teams: a join would repeat it
    mine = Project.objects.create(name="mine")
    mine.teams.set([blue])
    theirs = Project.objects.create(name="theirs")
    theirs.teams.set([grey])
    me = get_user_model().objects.get(pk=me.pk)
    access = built.policy.for_user(me)
    for action in ("list", "view", "update", "delete"):
        rows = list(access.queryset("project", action).values_list("pk", flat=True))
        assert sorted(rows) == sorted([shared.pk, mine.pk]), action
    assert access.queryset("project").count() == 2
    assert access.get("project", shared.pk, "update").pk == shared.pk
    assert sorted(access.queryset("team").values_list("name", flat=True)) == ["blue", "red"]
    api = APIClient()
    api.force_authenticate(me)
    listed = api.get("/api/project/")
    assert listed.status_code == 200 and listed.data["count"] == 2
    assert sorted(r["id"] for r in listed.data["results"]) == sorted([shared.pk, mine.pk])
    assert api.get(f"/api/project/{shared.pk}/").data["name"] == "shared"
    assert api.get(f"/api/project/{theirs.pk}/").status_code == 404
    patched = api.patch(f"/api/project/{shared.pk}/", {"budget": 7}, format="json")
    assert patched.status_code == 200 and patched.data["budget"] == 7
    assert Project.objects.get(pk=shared.pk).budget == 7
    assert api.delete(f"/api/project/{shared.pk}/").status_code == 204
    assert not Project.objects.filter(pk=shared.pk).exists()
    shared = Project.objects.create(name="shared again")
    shared.teams.set([red, blue])
    client.force_login(me)
    home = client.get("/p/home/").content.decode()
    assert re.search(r"Projects</h2>\s*<p class=\"big\">2</p>", home), home
    page = client.get("/p/projects/").content.decode()
    assert page.count("shared again") == 1 and "theirs" not in page
    assert client.get(f"/p/project/{shared.pk}/").status_code == 200
    admin = client.get("/admin/cabinet/project/")
    assert admin.status_code == 200
    assert sorted(obj.pk for obj in admin.context["cl"].result_list) == sorted([shared.pk, mine.pk])


def _choices(queryset):
    return set(queryset.values_list("pk", flat=True))


@pytest.mark.parametrize("solution", SOLUTIONS, indirect=True)
def test_api_and_page_forms_offer_the_same_ref_choices(solution):
    """One rule (``Access.ref_choices``) for every ref and user ref, every role: the API and pages agree."""
    from django import forms

    from engine.fieldtypes import FieldType
    from engine.pages.views import FormView

    built = solution
    owners = matrix.make_users(2)
    matrix.make_rows(built, owners)
    get_user_model().objects.get_or_create(username="AnonymousUser")  # django-guardian's anonymous account
    compared = 0
    for role in built.spec.roles:
        for user in matrix.give_role(owners, role)[:1]:
            access = built.policy.for_user(user)
            for entity in built.spec.entities:
                refs = [f.name for f in entity.fields if f.type in (FieldType.REF, FieldType.REFS)]
                if not refs:
                    continue
                serializer = built.api.entity(entity.name).serializer(refs, refs)(context={"access": access})
                view = FormView()
                view.access = access
                form = view.scoped(forms.modelform_factory(built.model(entity.name), fields=refs)())
                for name in refs:
                    rule = _choices(access.ref_choices(entity.name, name))
                    field = serializer.fields[name]
                    api = _choices(getattr(field, "child_relation", field).queryset)
                    assert api == rule == _choices(form.fields[name].queryset), (role.name, entity.name, name)
                    assert "AnonymousUser" not in {str(u) for u in access.ref_choices(entity.name, name)[:500]}
                    compared += 1
    assert compared >= len(built.spec.roles) * 3


@pytest.mark.parametrize("solution", ["tests/fixtures/b2b"], indirect=True)
def test_a_user_ref_offers_the_accounts_within_the_roles_reach(solution):
    from rest_framework.test import APIClient

    built = solution
    Company, Employee, Order = built.model("company"), built.model("employee"), built.model("purchase_order")
    acme, globex = Company.objects.create(name="Acme"), Company.objects.create(name="Globex")
    buyer, colleague, outsider, stranger, supplier, supplier2 = matrix.make_users(6)
    for user, company in ((buyer, acme), (colleague, acme), (outsider, globex)):
        user.groups.add(Group.objects.get(name="buyer"))
        Employee.objects.create(user=user, company=company, name=user.username)
    for user in (supplier, supplier2):
        user.groups.add(Group.objects.get(name="supplier"))
    anonymous, _ = get_user_model().objects.get_or_create(username="AnonymousUser")
    fresh = get_user_model().objects.get
    # an employee picks employees of their own company (and themselves), nobody else
    buyer_access = built.policy.for_user(fresh(pk=buyer.pk))
    assert _choices(buyer_access.ref_choices("purchase_order", "created_by")) == {buyer.pk, colleague.pk}
    # staff of a role pick each other, and the accounts of every profile they may view
    staff = built.policy.for_user(fresh(pk=supplier.pk))
    assert _choices(staff.ref_choices("purchase_order", "created_by")) == {
        buyer.pk, colleague.pk, outsider.pk, supplier.pk, supplier2.pk}
    assert stranger.pk not in _choices(staff.ref_choices("employee", "user")) and anonymous.pk not in _choices(
        staff.ref_choices("employee", "user"))
    # the API applies it: a supplier may set an order's author to an employee, not to a stranger
    order = Order.objects.create(company=acme, created_by=buyer, status="submitted")
    client = APIClient()
    client.force_authenticate(fresh(pk=supplier.pk))
    refused = client.patch(f"/api/purchase_order/{order.pk}/", {"created_by": stranger.pk}, format="json")
    assert refused.status_code == 400 and refused.data["created_by"][0]["code"] == "does_not_exist"
    refused = client.patch(f"/api/purchase_order/{order.pk}/", {"created_by": anonymous.pk}, format="json")
    assert refused.status_code == 400
    moved = client.patch(f"/api/purchase_order/{order.pk}/", {"created_by": outsider.pk}, format="json")
    assert moved.status_code == 200 and Order.objects.get(pk=order.pk).created_by_id == outsider.pk
