"""Unique fields and constraints answer a duplicate with a field error, forced values and races included."""
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import IntegrityError
from rest_framework.test import APIClient

from engine.build.api import ScopedSerializer

FAVOURITES = """
entities:
  customer:
    owner: user
    title: name
    fields:
      user: {type: ref, to: user, required: true, unique: true}
      name: {type: string, required: true}
  product:
    title: name
    fields:
      name: {type: string, required: true}
      code: {type: string, unique: true}
  favourite:
    fields:
      customer: {type: ref, to: customer, required: true, on_delete: cascade}
      product: {type: ref, to: product, required: true}
      note: string
    indexes:
      - {fields: [customer, product], unique: true}
roles:
  client:
    entities:
      customer: {actions: [list, view], scope: own}
      product: {actions: [list, view, create, update], scope: all}
      favourite:
        actions: [list, view, create, update]
        scope: {customer.user: $user}
        fields: {view: [product, note], edit: [product, note]}
        set: {customer: $user.customer}
"""


@pytest.fixture
def shop(publish_yaml):
    built, _ = publish_yaml(FAVOURITES)
    users = {}
    for name in ("ann", "bob"):
        user = get_user_model().objects.create_user(name)
        user.groups.add(Group.objects.get(name="client"))
        built.model("customer").objects.create(user=user, name=name)
        client = APIClient()
        client.force_authenticate(user)
        users[name] = client
    Product = built.model("product")
    tea, jam = Product.objects.create(name="tea", code="T"), Product.objects.create(name="jam", code="J")
    return built, users, tea, jam


UNIQUE_PAIR = {"product": [{"message": "A Favourite with this Product already exists.", "code": "unique"}]}


def test_a_duplicate_over_a_forced_field_is_a_field_error(shop):
    built, users, tea, jam = shop
    ann, bob = users["ann"], users["bob"]
    first = ann.post("/api/favourite/", {"product": tea.pk}, format="json")
    assert first.status_code == 201, first.data
    again = ann.post("/api/favourite/", {"product": tea.pk, "note": "x"}, format="json")
    assert (again.status_code, again.data) == (400, UNIQUE_PAIR)
    assert bob.post("/api/favourite/", {"product": tea.pk}, format="json").status_code == 201  # his own pair
    other = ann.post("/api/favourite/", {"product": jam.pk}, format="json").data["id"]
    moved = ann.patch(f"/api/favourite/{other}/", {"product": tea.pk}, format="json")  # update into a clash
    assert (moved.status_code, moved.data) == (400, UNIQUE_PAIR)
    Favourite = built.model("favourite")
    assert sorted(Favourite.objects.values_list("customer__name", "product__name")) == [
        ("ann", "jam"), ("ann", "tea"), ("bob", "tea")]
    code = ann.post("/api/product/", {"name": "tea 2", "code": "T"}, format="json")
    assert (code.status_code, code.data) == (400, {"code": [
        {"message": "Product with this Code already exists.", "code": "unique"}]})


def test_a_race_past_the_checks_is_a_field_error_not_a_500(shop, monkeypatch):
    """The other request commits between our checks and our insert: the database refuses, we answer 400."""
    built, users, tea, jam = shop
    real = ScopedSerializer.check_unique
    calls = []

    def racing(self, attrs):
        calls.append(1)
        if len(calls) == 1:  # before the insert: the other row is not there yet
            built.model("favourite").objects.create(customer=built.model("customer").objects.get(name="ann"),
                                                    product=tea)
            return None
        return real(self, attrs)

    monkeypatch.setattr(ScopedSerializer, "check_unique", racing)
    response = users["ann"].post("/api/favourite/", {"product": tea.pk}, format="json")
    assert (response.status_code, response.data) == (400, UNIQUE_PAIR)
    assert built.model("favourite").objects.count() == 1


def test_an_integrity_error_the_checks_cannot_explain_is_a_409(shop, monkeypatch):
    built, users, tea, jam = shop

    def refuse(*args, **kwargs):
        raise IntegrityError("simulated")

    monkeypatch.setattr(built.model("favourite"), "save", refuse)
    response = users["ann"].post("/api/favourite/", {"product": tea.pk}, format="json")
    assert (response.status_code, response.data) == (409, {"detail": [{
        "message": "The data changed while this was being saved; reload and try again.", "code": "conflict"}]})
