"""The generated Django admin: forced values and unique indexes, and the lookups a changelist accepts."""
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from tests.engine.test_pages import FAVOURITES_YAML


def staff_client(publish_yaml, client):
    built, _plan = publish_yaml(FAVOURITES_YAML.replace("  client:\n", "  client:\n    staff: true\n", 1))
    me = get_user_model().objects.create_user("me", password="pw-me-12345", is_staff=True)
    me.groups.add(Group.objects.get_or_create(name="client")[0])
    built.model("customer").objects.create(user=me, name="Me")
    client.force_login(me)
    return built


def test_admin_add_with_a_forced_field_in_a_unique_index_is_a_form_error(publish_yaml, client):
    built = staff_client(publish_yaml, client)
    product = built.model("product").objects.create(name="Tea")
    url = "/admin/cabinet/favourite/add/"
    assert client.post(url, {"product": product.pk}).status_code == 302
    again = client.post(url, {"product": product.pk})
    assert again.status_code == 200  # the admin re-shows an invalid form with 200
    assert "Favourite with this Customer and Product already exists." in again.content.decode()
    assert built.model("favourite").objects.count() == 1


def test_admin_changelist_refuses_lookups_no_filter_offers_and_nul_bytes(publish_yaml, client):
    staff_client(publish_yaml, client)
    url = "/admin/cabinet/product/"
    # Django answers a lookup the admin does not allow with 400 (DisallowedModelAdminLookup).
    assert client.get(url, {"name__startswith": "T"}).status_code == 400  # would probe any field
    assert client.get(url, {"id": "99999999999999999999"}).status_code == 400
    assert client.get(url, {"q": "a\x00b"}).status_code == 400
    assert client.get(url, {"q": "Tea"}).status_code == 200


SCOPED_YAML = """
entities:
  customer:
    title: name
    owner: user
    fields:
      user: {type: ref, to: user}
      name: string
  purchase:
    title: note
    fields:
      customer: {type: ref, to: customer}
      note: string
roles:
  clerk:
    staff: true
    entities:
      customer: {actions: [list, view], scope: own}
      purchase: {actions: [list, view, update], scope: all, fields: {view: [note, customer], edit: [note, customer]}}
  auditor:
    staff: true
    entities:
      customer: {actions: [list, view], scope: own}
      purchase: {actions: [list, view, update], scope: all, fields: {view: [note, customer], edit: [note]}}
"""


def scoped_admin(publish_yaml, client, role):
    built, _plan = publish_yaml(SCOPED_YAML)
    User = get_user_model()
    me = User.objects.create_user("me", password="pw-me-12345", is_staff=True)
    me.groups.add(Group.objects.get_or_create(name=role)[0])
    other = User.objects.create_user("other", password="pw-other-12345")
    Customer, Order = built.model("customer"), built.model("purchase")
    mine, theirs = Customer.objects.create(user=me, name="Mine Ltd"), Customer.objects.create(user=other, name="Hidden Co")
    my_order = Order.objects.create(customer=mine, note="first note")
    their_order = Order.objects.create(customer=theirs, note="second note")
    client.force_login(me)
    return built, mine, theirs, my_order, their_order


def test_admin_shows_titles_of_referenced_rows_only_in_the_readers_scope(publish_yaml, client):
    built, mine, theirs, my_order, their_order = scoped_admin(publish_yaml, client, "clerk")
    changelist = client.get("/admin/cabinet/purchase/").content.decode()
    assert "first note" in changelist and "second note" in changelist  # both orders are in scope
    assert "Mine Ltd" in changelist and "Hidden Co" not in changelist
    change = client.get(f"/admin/cabinet/purchase/{their_order.pk}/change/").content.decode()
    assert "second note" in change and "Hidden Co" not in change  # the raw id input names no hidden row
    own = client.get(f"/admin/cabinet/purchase/{my_order.pk}/change/").content.decode()
    assert "Mine Ltd" in own


def test_admin_read_only_refs_show_only_rows_in_scope(publish_yaml, client):
    built, mine, theirs, my_order, their_order = scoped_admin(publish_yaml, client, "auditor")
    change = client.get(f"/admin/cabinet/purchase/{their_order.pk}/change/").content.decode()
    assert "second note" in change and "Hidden Co" not in change
    assert "Mine Ltd" in client.get(f"/admin/cabinet/purchase/{my_order.pk}/change/").content.decode()


def test_admin_ref_inputs_accept_the_rows_the_policy_offers(publish_yaml, client):
    """The admin follows Access.ref_choices, like the page forms and the API: no picking a hidden customer."""
    built, mine, theirs, my_order, their_order = scoped_admin(publish_yaml, client, "clerk")
    url = f"/admin/cabinet/purchase/{my_order.pk}/change/"
    refused = client.post(url, {"note": "moved", "customer": theirs.pk})
    assert refused.status_code == 200  # the admin re-shows an invalid form
    assert "Select a valid choice" in refused.content.decode()
    my_order.refresh_from_db()
    assert (my_order.note, my_order.customer_id) == ("first note", mine.pk)
    assert client.post(url, {"note": "kept", "customer": mine.pk}).status_code == 302
    my_order.refresh_from_db()
    assert my_order.note == "kept"


def test_admin_save_racing_a_duplicate_is_a_message_not_a_500(publish_yaml, client, monkeypatch):
    """A duplicate saved between the form's unique check and the insert (simulated by skipping the check)."""
    from django.db.models import Model

    built = staff_client(publish_yaml, client)
    product = built.model("product").objects.create(name="Tea")
    url = "/admin/cabinet/favourite/add/"
    assert client.post(url, {"product": product.pk}).status_code == 302
    monkeypatch.setattr(Model, "validate_unique", lambda self, exclude=None: None)
    monkeypatch.setattr(Model, "validate_constraints", lambda self, exclude=None: None)
    raced = client.post(url, {"product": product.pk}, follow=True)
    assert raced.status_code == 200
    assert "it was saved in the meantime" in raced.content.decode()
    assert built.model("favourite").objects.count() == 1
