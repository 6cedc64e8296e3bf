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
