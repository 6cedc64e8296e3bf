"""Child rows in form pages (``lines:``): created, changed and removed with their parent in one
transaction, within each entity's rights, on create and on edit."""
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

SOLUTION = """
entities:
  purchase:
    title: title
    fields:
      title: {type: string, required: true, max_length: 80}
  shelf:
    title: name
    fields:
      name: {type: string, required: true}
  item:
    fields:
      shelf: {type: ref, to: shelf}
      purchase: {type: ref, to: purchase, required: true, on_delete: cascade}
      product: {type: string, required: true, max_length: 40}
      qty: {type: integer, required: true, default: 1, min: 1, max: 9}
    rules:
      - {name: no_sevens, when: "qty != 7", field: qty, message: {en: Sevens are sold out.}}
roles:
  clerk:
    entities:
      purchase: {actions: all, scope: all}
      item: {actions: all, scope: all}
      shelf: {actions: [list, view], scope: all}
  trainee:
    entities:
      purchase: {actions: [list, view, create, update], scope: all}
      item: {actions: [list, view, create, update], scope: all}
pages:
  purchases:
    kind: list
    entity: purchase
    columns: [title]
  new_purchase:
    kind: form
    entity: purchase
    submit: {en: Buy}
    lines:
      - {entity: item, via: purchase, fields: [product, qty, shelf], min: 1, max: 12, title: {en: Items}}
"""


@pytest.fixture
def shop(publish_yaml):
    built, _ = publish_yaml(SOLUTION)
    return built


def user(client, role):
    account = get_user_model().objects.create_user(f"{role}1", password="pw-12345-x")
    account.groups.add(Group.objects.get_or_create(name=role)[0])
    client.force_login(account)
    return account


def rows(*items, start=0):
    data = {"line0-TOTAL": str(start + len(items))}
    for i, (pk, product, qty) in enumerate(items, start=start):
        if pk:
            data[f"line0-{i}-id"] = str(pk)
        data[f"line0-{i}-product"] = product
        data[f"line0-{i}-qty"] = str(qty)
    return data


def test_the_form_offers_empty_rows_and_a_template_row(shop, client):
    user(client, "clerk")
    html = client.get("/p/new_purchase/new/").content.decode()
    assert "<legend>Items</legend>" in html and 'name="line0-TOTAL" value="2"' in html
    assert 'name="line0-0-product"' in html and 'name="line0-1-qty"' in html
    assert 'name="line0-__prefix__-product"' in html and "data-line-add" in html
    assert re.search(r'name="line0-0-qty" value="1" min="1" max="9"', html)


def test_a_purchase_is_saved_with_its_items_in_one_go(shop, client):
    user(client, "clerk")
    Purchase, Item = shop.model("purchase"), shop.model("item")
    data = {"title": "Groceries", **rows((None, "Milk", 2), (None, "Bread", 1)), "line0-TOTAL": "3"}  # + a blank slot
    response = client.post("/p/new_purchase/new/", data)
    assert response.status_code == 302
    purchase = Purchase.objects.get()
    assert sorted(Item.objects.filter(purchase=purchase).values_list("product", "qty")) == [("Bread", 1), ("Milk", 2)]


@pytest.mark.parametrize(("items", "message"), [
    ([(None, "Milk", 0)], "Ensure this value is greater than or equal to 1."),
    ([(None, "Milk", 7)], "Sevens are sold out."),  # refused by the write path: the purchase is rolled back
    ([], "Add at least 1 row."),
    ([(None, str(i), 1) for i in range(13)], "At most 12 rows."),
])
def test_a_refused_item_saves_nothing(shop, client, items, message):
    user(client, "clerk")
    response = client.post("/p/new_purchase/new/", {"title": "Groceries", **rows(*items)})
    assert response.status_code == 400 and message in response.content.decode()
    assert shop.model("purchase").objects.count() == 0 and shop.model("item").objects.count() == 0


def test_editing_changes_removes_and_adds_items(shop, client):
    user(client, "clerk")
    Purchase, Item = shop.model("purchase"), shop.model("item")
    purchase = Purchase.objects.create(title="Groceries")
    milk = Item.objects.create(purchase=purchase, product="Milk", qty=1)
    bread = Item.objects.create(purchase=purchase, product="Bread", qty=1)
    other = Item.objects.create(purchase=Purchase.objects.create(title="Other"), product="Tea", qty=1)
    html = client.get(f"/p/new_purchase/{purchase.pk}/edit/").content.decode()
    assert f'name="line0-0-id" value="{milk.pk}"' in html and 'name="line0-1-DELETE"' in html
    data = {"title": "Groceries", **rows((milk.pk, "Milk", 3), (bread.pk, "Bread", 1), (other.pk, "Tea", 5),
                                          (None, "Eggs", 2)), "line0-1-DELETE": "1"}
    assert client.post(f"/p/new_purchase/{purchase.pk}/edit/", data).status_code == 302
    assert sorted(Item.objects.filter(purchase=purchase).values_list("product", "qty")) == [("Eggs", 2), ("Milk", 3)]
    other.refresh_from_db()
    assert (other.qty, other.purchase.title) == (1, "Other")  # another purchase's item is not this form's


def test_a_role_without_delete_cannot_remove_items(shop, client):
    user(client, "trainee")
    Purchase, Item = shop.model("purchase"), shop.model("item")
    purchase = Purchase.objects.create(title="Groceries")
    milk = Item.objects.create(purchase=purchase, product="Milk", qty=1)
    html = client.get(f"/p/new_purchase/{purchase.pk}/edit/").content.decode()
    assert "DELETE" not in html
    data = {"title": "Groceries", **rows((milk.pk, "Milk", 2)), "line0-0-DELETE": "1"}
    assert client.post(f"/p/new_purchase/{purchase.pk}/edit/", data).status_code == 302
    assert list(Item.objects.values_list("product", "qty")) == [("Milk", 2)]


def test_a_double_submit_creates_one_purchase(shop, client):
    user(client, "clerk")
    html = client.get("/p/new_purchase/new/").content.decode()
    token = re.search(r'name="_form_token" value="([^"]+)"', html).group(1)
    data = {"title": "Groceries", "_form_token": token, **rows((None, "Milk", 2))}
    assert client.post("/p/new_purchase/new/", data).status_code == 302
    assert client.post("/p/new_purchase/new/", data).status_code == 302
    assert shop.model("purchase").objects.count() == 1 and shop.model("item").objects.count() == 1



def test_the_edit_form_reads_choices_once_whatever_the_number_of_rows(shop, client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    user(client, "clerk")
    Purchase, Item, Shelf = shop.model("purchase"), shop.model("item"), shop.model("shelf")
    shelf = Shelf.objects.create(name="Dairy")
    purchase = Purchase.objects.create(title="Groceries")

    def count():
        with CaptureQueriesContext(connection) as queries:
            html = client.get(f"/p/new_purchase/{purchase.pk}/edit/").content.decode()
        assert "Dairy" in html
        return len(queries)

    Item.objects.create(purchase=purchase, product="Milk", qty=1, shelf=shelf)
    count()
    few = count()
    Item.objects.bulk_create([Item(purchase=purchase, product=f"P{i}", qty=1, shelf=shelf) for i in range(10)])
    assert count() <= few
