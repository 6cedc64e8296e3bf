"""The builder's Roles section through HTTP: the role x entity x action matrix with scopes in words, a role's
page, the rights form (actions, the step-by-step scope builder, field pickers) and adding a role."""
import html
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from engine.builder import drafts


def text(response):
    return response.content.decode()


def words(response):
    """The page's text with entities read (messages quote names with ')."""
    return html.unescape(text(response))


def section(page, entity):
    """The matrix table of one entity."""
    start = page.index(f'id="m-{entity}"')
    return page[start:page.index("</section>", start)]


def row(table, role):
    """One role's row of a matrix table."""
    start = table.index(f">{role}</a></th>")
    return table[start:table.index("</tr>", start)]


def grant_of(draft, role, entity):
    draft.refresh_from_db()
    spec = drafts.check(draft).spec
    assert spec is not None, [str(p) for p in drafts.check(draft).errors]
    return spec.role(role).grant(entity)


def test_the_matrix_shows_the_resorts_real_rights_with_scopes_in_words(boss):
    _, client, _ = boss
    response = client.get("/builder/roles/")
    assert response.status_code == 200
    page = text(response)
    orders = section(page, "service_order")
    # the columns: the five data actions, then the workflow's transitions
    heads = re.findall(r'<th scope="col" class="s-act[^"]*"[^>]*>([^<]+)</th>', orders)
    assert heads == ["List", "View", "Create", "Update", "Delete", "Accept", "Delivered", "Cancel"]
    guest = row(orders, "Guest")
    assert "Guest may Cancel" in guest and "Guest may Create" in guest
    assert "Guest may Accept" not in guest and "Guest may Delete" not in guest
    assert "Rows where Stay › Guest › Account is the signed-in user" in guest
    assert "Number, Stay, Service, Quantity, Total, Deliver at, Note, Status, Ordered at" in guest
    assert "Stay, Service, Quantity, Deliver at, Note" in guest
    reception = row(orders, "Reception")
    assert "Reception may Accept" in reception and "All rows" in reception and "Reception may Delete" not in reception
    manager = row(orders, "Manager")  # actions: all -> every action and transition
    assert all(f"Manager may {a}" in manager for a in heads)
    assert "Rows where Available is yes" in row(section(page, "service"), "Guest")
    assert "Own rows: Account is the signed-in user" in row(section(page, "guest"), "Guest")
    claims = row(section(page, "claim"), "Guest")
    assert "Rows where Order › Stay › Guest › Account is the signed-in user" in claims and "Guest may Close" in claims
    # browsing shows the published version and offers a draft; no edit forms
    assert 'action="/builder/edit/"' in page and 'value="roles/"' in page
    assert "add-role" not in page


def test_a_role_page_lists_its_rights_per_entity_and_links_to_the_rights_form(boss):
    _, client, draft = boss
    page = text(client.get("/builder/roles/guest/"))
    assert "Guest" in page and "Rows where Guest › Account is the signed-in user" in page
    assert "/roles/guest/service_order/" not in page  # no edit links outside a draft
    page = text(client.get(f"/builder/d/{draft.pk}/roles/guest/"))
    assert f'href="/builder/d/{draft.pk}/roles/guest/service_order/"' in page
    assert client.get(f"/builder/d/{draft.pk}/roles/nobody/").status_code == 404


def test_the_rights_form_offers_the_entitys_transitions_and_the_current_grant(boss):
    _, client, draft = boss
    page = text(client.get(f"/builder/d/{draft.pk}/roles/guest/service_order/"))
    checked = set(re.findall(r'name="actions" value="(\w+)" checked', page))
    offered = set(re.findall(r'name="actions" value="(\w+)"', page))
    assert offered == {"list", "view", "create", "update", "delete", "accept", "deliver", "cancel"}
    assert checked == {"list", "view", "create", "cancel"}
    assert 'name="cond_path" value="stay.guest.user"' in page
    assert 'name="view" value="paid"' in page and 'name="view" value="paid" checked' not in page
    assert 'name="edit" value="note" checked' in page


def post_rights(client, draft, role, entity, **data):
    payload = {"actions": ["list", "view"], "scope_mode": "all", "view_mode": "all", "edit_mode": "visible"}
    payload.update(data)
    return client.post(f"/builder/d/{draft.pk}/roles/{role}/{entity}/", payload)


def test_saving_rights_writes_them_to_the_draft_and_answers_303(boss):
    _, client, draft = boss
    response = post_rights(client, draft, "guest", "service_order", actions=["list", "view", "cancel"],
                           scope_mode="where", cond_path=["stay.guest.user"], cond_value=['"$user"'], cond_keep=["0"],
                           view_mode="some", view=["number", "service", "status"], edit_mode="none")
    assert response.status_code == 303
    assert response["Location"] == f"/builder/d/{draft.pk}/roles/guest/"
    grant = grant_of(draft, "guest", "service_order")
    assert grant.actions == ("list", "view", "cancel")
    assert grant.scope == (("stay.guest.user", "$user"),)
    assert grant.view_fields == ("service", "status", "number")  # in the entity's field order
    assert grant.edit_fields == ()
    assert draft.edits[-1]["op"] == "set_rights"
    # the published version did not change
    assert "Guest may Create" in row(section(text(client.get("/builder/roles/")), "service_order"), "Guest")


def test_the_scope_builder_steps_along_refs_without_javascript(boss):
    _, client, draft = boss
    url = f"/builder/d/{draft.pk}/roles/guest/booking/"
    base = {"actions": ["list", "view", "create", "cancel"], "scope_mode": "all", "view_mode": "all", "edit_mode": "visible"}
    page = text(client.post(url, {**base, "do": "step", "step": "excursion"}))
    assert 'name="path" value="excursion"' in page
    assert '<option value="meeting_point"' in page  # the excursion's fields are the next steps
    assert '<option value="seats_left"' not in page  # a computed field is no step
    assert draft.edits == []  # a step saves nothing
    page = text(client.post(url, {**base, "do": "back", "path": "excursion"}))
    assert 'name="path" value=""' in page
    page = text(client.post(url, {**base, "do": "step", "step": "guest"}))
    assert 'name="path" value="guest"' in page and '<option value="user" data-kind="user"' in page
    response = client.post(url, {**base, "do": "add", "path": "guest", "step": "user"})
    assert response.status_code == 303
    assert grant_of(draft, "guest", "booking").scope == (("guest.user", "$user"),)


def test_a_condition_on_a_plain_field_asks_for_its_value(boss):
    _, client, draft = boss
    url = f"/builder/d/{draft.pk}/roles/guest/service/"
    base = {"actions": ["list", "view"], "scope_mode": "all", "view_mode": "all", "edit_mode": "visible"}
    page = text(client.post(url, {**base, "do": "step", "step": "available"}))
    assert 'name="value" id="scope-value-input"' in page and '<option value="true"' in page
    response = client.post(url, {**base, "do": "add", "path": "available", "value": "false"})
    assert response.status_code == 303
    assert grant_of(draft, "guest", "service").scope == (("available", False),)


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"do": "add", "path": "available", "value": ""}, "value", "Pick yes or no."),
    ({"do": "step", "step": "nonsense"}, "step", "Pick one of the fields the path can go on to"),
    ({"do": "add", "path": "name"}, "value", "Type the value to compare with."),
    ({"do": "add", "path": "category", "values": ["nonsense"]}, "value", "Pick one or more of the choices."),
    ({"scope_mode": "where"}, "scope", "Add at least one condition, or choose all or own rows."),
])
def test_bad_rights_answer_400_with_the_message_by_the_field_and_change_nothing(boss, data, field, message):
    _, client, draft = boss
    sources = dict(draft.sources)
    response = post_rights(client, draft, "guest", "service", **data)
    assert response.status_code == 400
    assert message in words(response)
    assert response.context["errors"][field]
    draft.refresh_from_db()
    assert draft.sources == sources and draft.edits == []


def test_a_refusal_from_the_edit_is_shown_next_to_its_field(boss):
    _, client, draft = boss
    sources = dict(draft.sources)
    # a hand-made condition the scope checker refuses (not a path of this entity)
    response = post_rights(client, draft, "guest", "service", scope_mode="where", cond_path=["nowhere.user"],
                           cond_value=['"$user"'], cond_keep=["0"])
    assert response.status_code == 400
    assert "'nowhere.user' is not a path of fields starting from this entity" in words(response)
    assert response.context["errors"]["scope"]
    draft.refresh_from_db()
    assert draft.sources == sources


def test_removing_access_takes_the_entity_out_of_the_role(boss):
    _, client, draft = boss
    response = client.post(f"/builder/d/{draft.pk}/roles/guest/points_entry/", {"do": "remove"})
    assert response.status_code == 303
    assert grant_of(draft, "guest", "points_entry") is None
    page = text(client.get(f"/builder/d/{draft.pk}/roles/"))
    assert "No access" in row(section(page, "points_entry"), "Guest")


def test_adding_a_role(boss):
    _, client, draft = boss
    response = client.post(f"/builder/d/{draft.pk}/add-role/",
                           {"name": "housekeeping", "label_en": "Housekeeping", "label_ru": "Горничные", "staff": "on"})
    assert response.status_code == 303
    assert response["Location"] == f"/builder/d/{draft.pk}/roles/housekeeping/"
    draft.refresh_from_db()
    role = drafts.check(draft).spec.role("housekeeping")
    assert (role.label.get("ru"), role.staff, role.grants) == ("Горничные", True, ())


def test_adding_a_role_with_a_bad_name_is_refused_next_to_the_name(boss):
    _, client, draft = boss
    sources = dict(draft.sources)
    response = client.post(f"/builder/d/{draft.pk}/add-role/", {"name": "Guest Two", "label_en": "x"})
    assert response.status_code == 400
    assert response.context["add"]["errors"]["name"]
    assert 'id="role-name-err"' in text(response)
    response = client.post(f"/builder/d/{draft.pk}/add-role/", {"name": "guest", "label_en": "x"})
    assert response.status_code == 400 and "there is already a role 'guest'" in words(response)
    draft.refresh_from_db()
    assert draft.sources == sources


def test_labels_are_escaped_in_the_matrix(boss):
    _, client, draft = boss
    client.post(f"/builder/d/{draft.pk}/add-role/", {"name": "evil", "label_en": "<script>alert(1)</script>"})
    page = text(client.get(f"/builder/d/{draft.pk}/roles/"))
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_every_roles_page_needs_the_builder_permission(boss):
    _, _, draft = boss
    plain = get_user_model().objects.create_user("plain", password="pw-12345-user")
    client = Client()
    client.force_login(plain)
    sources = dict(draft.sources)
    for url in ("/builder/roles/", "/builder/roles/guest/", f"/builder/d/{draft.pk}/roles/",
                f"/builder/d/{draft.pk}/roles/guest/service/"):
        assert client.get(url).status_code == 403
    assert client.post(f"/builder/d/{draft.pk}/roles/guest/service/", {"do": "remove"}).status_code == 403
    assert client.post(f"/builder/d/{draft.pk}/add-role/", {"name": "x", "label_en": "x"}).status_code == 403
    draft.refresh_from_db()
    assert draft.sources == sources
    plain.user_permissions.add(Permission.objects.get(codename="use_builder", content_type__app_label="engine"))
    client.force_login(get_user_model().objects.get(pk=plain.pk))
    assert client.get("/builder/roles/").status_code == 200


def test_forms_need_the_csrf_token(boss):
    user, _, draft = boss
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post(f"/builder/d/{draft.pk}/roles/guest/service/", {"do": "remove"}).status_code == 403
    draft.refresh_from_db()
    assert draft.edits == []


def test_a_choice_condition_may_hold_several_values(boss):
    _, client, draft = boss
    response = post_rights(client, draft, "guest", "service_order", actions=["list", "view", "create", "cancel"],
                           scope_mode="where", cond_path=["stay.guest.user"], cond_value=['"$user"'], cond_keep=["0"],
                           do="add", path="status", values=["new", "accepted"])
    assert response.status_code == 303
    grant = grant_of(draft, "guest", "service_order")
    assert grant.scope == (("stay.guest.user", "$user"), ("status", ("new", "accepted")))
    page = text(client.get(f"/builder/d/{draft.pk}/roles/"))
    assert "Status is one of “New” or “Accepted”" in row(section(page, "service_order"), "Guest")


def test_an_expression_scope_is_kept_as_written(boss):
    user, client, draft = boss
    expression = "stay.guest.user == $user or status == 'new'"
    drafts.apply(draft, {"op": "set_rights", "role": "guest", "entity": "service_order",
                         "actions": ["list", "view", "create", "cancel"], "scope": expression,
                         "view": None, "edit": None}, user)
    page = words(client.get(f"/builder/d/{draft.pk}/roles/guest/service_order/"))
    assert 'value="expression" checked' in page and expression in page
    response = post_rights(client, draft, "guest", "service_order", actions=["list", "view", "create", "cancel"],
                           scope_mode="expression", view_mode="all", edit_mode="visible")
    assert response.status_code == 303
    assert grant_of(draft, "guest", "service_order").scope == expression
    assert f"Rows where {expression}" in words(client.get(f"/builder/d/{draft.pk}/roles/"))
