"""Generated models are real Django models: ORM, ModelForms, DRF serializers, guardian and the admin."""
import datetime as dt
from decimal import Decimal

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection
from django.db.models.deletion import ProtectedError
from django.forms import modelform_factory
from django.utils import translation
from guardian.shortcuts import assign_perm, get_objects_for_user
from rest_framework import serializers

from engine.build.models import build_models
from engine.registry import registry
from tests.conftest import compile_yaml

SHOP = """
entities:
  customer:
    label: {en: Customer, ru: Клиент}
    title: name
    owner: user
    search: [name]
    ordering: [name]
    fields:
      user: {type: ref, to: user, on_delete: cascade}
      name: {type: string, max_length: 20, required: true, min_length: 2, label: {en: Name, ru: Имя}}
      code: {type: string, max_length: 8, unique: true}
      notes: {type: markdown, max_length: 50}
      age: {type: integer, min: 18, max: 120}
      balance: {type: money, default: 0}
      rate: {type: decimal, max_digits: 5, decimal_places: 3}
      vip: {type: boolean}
      born: date
      seen: datetime
      opens: time
      level:
        type: choice
        default: basic
        choices: [basic, {value: gold, label: {en: Gold, ru: Золото}}]
      email: email
      phone: phone
      site: url
      photo: image
      contract: file
      extra: {type: json, default: {tags: []}}
      friends: {type: refs, to: customer}
  purchase:
    ordering: [-id]
    indexes:
      - {fields: [customer, made]}
      - {fields: [number], unique: true}
    fields:
      customer: {type: ref, to: customer, required: true}
      number: {type: integer, required: true}
      made: {type: date, default: today}
"""


@pytest.fixture
def shop():
    spec = compile_yaml(SHOP).raise_for_errors()
    return spec, build_models(spec.entities, "en")


def test_field_types_map_to_django_fields(shop):
    _, models = shop
    meta = models["customer"]._meta
    kinds = {f.name: type(f).__name__ for f in meta.get_fields() if not f.auto_created}
    assert kinds == {
        "user": "ForeignKey", "name": "CharField", "code": "CharField", "notes": "TextField",
        "age": "BigIntegerField", "balance": "DecimalField", "rate": "DecimalField", "vip": "BooleanField",
        "born": "DateField", "seen": "DateTimeField", "opens": "TimeField", "level": "CharField",
        "email": "EmailField", "phone": "CharField", "site": "URLField", "photo": "ImageField",
        "contract": "FileField", "extra": "JSONField", "friends": "ManyToManyField",
    }
    assert meta.db_table == "cabinet_customer" and meta.app_label == "cabinet"
    assert meta.get_field("name").max_length == 20 and not meta.get_field("name").null
    assert meta.get_field("code").unique and meta.get_field("code").null  # blank codes do not collide
    assert (meta.get_field("balance").max_digits, meta.get_field("balance").decimal_places) == (14, 2)
    assert meta.get_field("level").choices[0][0] == "basic"
    assert meta.get_field("friends").remote_field.through._meta.db_table == "cabinet_customer_friends"
    purchase = models["purchase"]._meta
    assert [ix.fields for ix in purchase.indexes] == [["customer", "made"]]
    assert [c.fields for c in purchase.constraints] == [("number",)]
    assert purchase.get_field("customer").remote_field.model is models["customer"]


def test_labels_follow_the_active_language(shop):
    _, models = shop
    meta = models["customer"]._meta
    with translation.override("ru"):
        assert (str(meta.verbose_name), str(meta.get_field("name").verbose_name)) == ("Клиент", "Имя")
        assert str(dict(meta.get_field("level").choices)["gold"]) == "Золото"
    with translation.override("en"):
        assert (str(meta.verbose_name), str(meta.get_field("name").verbose_name)) == ("Customer", "Name")


def test_model_form_applies_the_yaml_constraints(shop):
    _, models = shop
    Form = modelform_factory(models["customer"], exclude=["user", "friends", "photo", "contract"])
    form = Form(data={"name": "A", "age": "12", "level": "platinum", "email": "nope", "phone": "call me",
                      "notes": "x" * 51, "rate": "12.3456", "balance": "0", "extra": "{}"})
    assert not form.is_valid()
    assert {k: [e["code"] for e in v] for k, v in form.errors.get_json_data().items()} == {
        "name": ["min_length"], "age": ["min_value"], "level": ["invalid_choice"], "email": ["invalid"],
        "phone": ["invalid"], "notes": ["max_length"], "rate": ["max_digits"],
    }
    good = Form(data={"name": "Ann", "age": "30", "level": "gold", "balance": "1.50", "extra": '{"a": 1}'})
    assert good.is_valid(), good.errors


def test_drf_serializer_over_a_generated_model(shop):
    _, models = shop

    class CustomerSerializer(serializers.ModelSerializer):
        class Meta:
            model = models["customer"]
            fields = ["id", "name", "age", "level", "balance"]

    s = CustomerSerializer(data={"name": "A", "age": 5, "level": "x"})
    assert not s.is_valid()
    assert sorted(s.errors) == ["age", "level", "name"]
    assert CustomerSerializer(data={"name": "Ann", "age": 40}).is_valid()


@pytest.mark.django_db(transaction=True)
def test_orm_defaults_constraints_str_and_user_deletion(publish_yaml):
    built, _ = publish_yaml(SHOP)
    Customer, Purchase = built.model("customer"), built.model("purchase")
    user = get_user_model().objects.create_user("ann", password="pw-ann-123")
    ann = Customer.objects.create(user=user, name="Ann")
    assert (ann.level, ann.balance, ann.extra, ann.vip) == ("basic", Decimal("0"), {"tags": []}, False)
    assert str(ann) == "Ann"
    p = Purchase.objects.create(customer=ann, number=1)
    assert p.made == dt.date.today() and str(p).endswith(f"#{p.pk}")
    with pytest.raises(IntegrityError), connection.cursor():
        from django.db import transaction

        with transaction.atomic():
            Purchase.objects.create(customer=ann, number=1)
    with pytest.raises(ProtectedError):  # required ref defaults to protect
        ann.delete()
    Purchase.objects.all().delete()
    user.delete()  # on_delete: cascade on the owner ref, resolved through Django's app registry
    assert not Customer.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_guardian_grants_and_content_types(publish_yaml):
    built, _ = publish_yaml(SHOP)
    Customer = built.model("customer")
    ct = ContentType.objects.get_for_model(Customer)
    assert (ct.app_label, ct.model) == ("cabinet", "customer") and ct.model_class() is Customer
    assert apps.get_model("cabinet", "customer") is Customer
    user = get_user_model().objects.create_user("bob", password="pw-bob-123")
    a, b = Customer.objects.create(name="Ann"), Customer.objects.create(name="Bea")
    assign_perm("view_customer", user, b)
    assert user.has_perm("cabinet.view_customer", b) and not user.has_perm("cabinet.view_customer", a)
    assert list(get_objects_for_user(user, "cabinet.view_customer", Customer)) == [b]


@pytest.mark.django_db(transaction=True)
def test_admin_lists_and_edits_every_entity(publish_yaml, client):
    built, _ = publish_yaml(SHOP)
    get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-123")
    ann = built.model("customer").objects.create(name="Ann")
    built.model("purchase").objects.create(customer=ann, number=7)
    client.login(username="root", password="pw-root-123")
    for name in ("customer", "purchase"):
        assert client.get(f"/admin/cabinet/{name}/").status_code == 200
        assert client.get(f"/admin/cabinet/{name}/add/").status_code == 200
    response = client.get(f"/admin/cabinet/customer/{ann.pk}/change/")
    assert response.status_code == 200 and "Ann" in response.content.decode()
    assert client.get("/admin/cabinet/customer/?q=Ann").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_publishing_creates_a_group_per_role(publish_yaml):
    from django.contrib.auth.models import Group

    built, _ = publish_yaml(SHOP + "roles:\n  clerk:\n    group: Shop clerks\n    staff: true\n    entities:\n"
                            "      purchase: {actions: [list, view, create], scope: all}\n")
    assert Group.objects.get(name="Shop clerks").permissions.count() == 0
    assert registry.active is built
