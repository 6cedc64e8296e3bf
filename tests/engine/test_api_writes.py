"""API writes by class: ``?expand=`` never changes what a write accepts, and every body parser is bounded."""
import datetime as dt
import json

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.test import APIClient

from engine.api import parsers
from engine.fieldtypes import FieldType
from engine.registry import registry
from engine.spec import USER
from engine.workflow import transitions_of
from tests import matrix

SOLUTIONS = ["solutions/resort", "tests/fixtures/b2b"]


def boss_client():
    boss = get_user_model().objects.create_superuser(f"boss{next(matrix.counter)}", password="pw-boss-123")
    client = APIClient()
    client.force_authenticate(boss)
    return client


def expandable(entity):
    return [f.name for f in entity.fields if f.type is FieldType.REF and f.to != USER]


def body_of(built, entity, row, client):
    """A write body for ``entity``: the row's own representation, with unique values made new."""
    data = client.get(f"/api/{entity.name}/{row.pk}/").data
    body = {}
    for f in entity.fields:
        if f.type in (FieldType.IMAGE, FieldType.FILE) or f.name in matrix.state_fields(built, entity):
            continue  # (the workflow's state is written by transitions only)
        if not f.stored or f.sequence:
            continue  # computed values and numbers are the engine's
        value = data[f.name]
        if f.unique and f.type is FieldType.REF:
            value = get_user_model().objects.create_user(f"new{next(matrix.counter)}").pk if f.to == USER else None
        elif f.unique:
            value = f"{value}-{next(matrix.counter)}"[-(f.max_length or 255):]
        body[f.name] = value
    return body


def other_target(built, entity, name, current):
    """Another row of the entity ``name`` refers to (the write must store exactly this one)."""
    boss = get_user_model().objects.filter(is_superuser=True).first()
    allowed = built.policy.for_user(boss).ref_choices(entity.name, name)  # the field's limit_choices apply
    return allowed.exclude(pk=current).order_by("pk").values_list("pk", flat=True).first() or current


@pytest.mark.parametrize("solution", SOLUTIONS, indirect=True)
def test_expand_never_changes_what_a_write_accepts(solution):
    """Create, update and partial update with ``?expand=`` every ref store exactly the ids sent."""
    built = solution
    matrix.make_rows(built, matrix.make_users(2))
    client = boss_client()
    checked = 0
    for entity in built.spec.entities:
        refs = expandable(entity)
        if not refs:
            continue
        Model = built.model(entity.name)
        row = Model.objects.order_by("pk").first()
        expand = "?expand=" + ",".join(refs)
        body = body_of(built, entity, row, client)
        for name in refs:
            body[name] = other_target(built, entity, name, body[name])
        created = client.post(f"/api/{entity.name}/{expand}", body, format="json")
        assert created.status_code == 201, (entity.name, created.data)
        stored = Model.objects.get(pk=created.data["id"])
        for name in refs:
            assert getattr(stored, f"{name}_id") == body[name], (entity.name, name)
            assert created.data[name]["id"] == body[name]  # the output is expanded
        url = f"/api/{entity.name}/{row.pk}/{expand}"
        put = body_of(built, entity, row, client)
        for name in refs:
            put[name] = other_target(built, entity, name, getattr(row, f"{name}_id"))
        assert client.put(url, put, format="json").status_code == 200
        row.refresh_from_db()
        assert {n: getattr(row, f"{n}_id") for n in refs} == {n: put[n] for n in refs}, entity.name
        for name in refs:
            target = other_target(built, entity, name, getattr(row, f"{name}_id"))
            patched = client.patch(url, {name: target}, format="json")
            assert patched.status_code == 200 and patched.data[name]["id"] == target
            row.refresh_from_db()
            assert getattr(row, f"{name}_id") == target
            checked += 1
    assert checked >= 3


@pytest.mark.parametrize("solution", ["solutions/resort"], indirect=True)
def test_a_transition_with_expand_moves_the_row_and_expands_the_output(solution):
    built = solution
    matrix.make_rows(built, matrix.make_users(1))
    client = boss_client()
    booking = built.model("booking").objects.filter(status="requested").first()
    assert "cancel" in transitions_of(built.spec, "booking")
    response = client.post(f"/api/booking/{booking.pk}/cancel/?expand=excursion,guest,excursion")
    assert response.status_code == 200, response.data
    assert response.data["status"] == "cancelled" and response.data["excursion"]["id"] == booking.excursion_id
    assert response.data["guest"]["id"] == booking.guest_id
    booking.refresh_from_db()
    assert (booking.status, booking.excursion_id) == ("cancelled", response.data["excursion"]["id"])


def test_a_required_ref_with_expand_is_stored_not_a_500(solution):
    """The probe's example: a guest books with ``?expand=excursion``."""
    built = solution
    anna = matrix.make_users(1)[0]
    anna.groups.add(matrix.Group.objects.get(name="guest"))
    built.model("guest").objects.create(user=anna, full_name="Anna")
    trip = built.model("excursion").objects.create(name="Boat", starts_at=timezone.now() + dt.timedelta(days=60), price=10, capacity=9)
    client = APIClient()
    client.force_authenticate(anna)
    response = client.post("/api/booking/?expand=excursion", {"excursion": trip.pk, "seats": 2}, format="json")
    assert response.status_code == 201, response.data
    assert response.data["excursion"]["name"] == "Boat"
    assert built.model("booking").objects.get().excursion_id == trip.pk


# --- bounded bodies ----------------------------------------------------------------------------------

def deep(levels):
    return "[" * levels + "]" * levels


ENDPOINTS = [("/api/auth/token/", False), ("/api/booking/", True), ("/api/guest/", True)]


@pytest.mark.parametrize(("url", "signed_in"), ENDPOINTS)
def test_bodies_past_a_limit_are_400s_on_every_endpoint(solution, url, signed_in, settings):
    """Nesting, size and field count, for JSON, form and multipart bodies, anonymous or not."""
    client = boss_client() if signed_in else APIClient()
    too_deep = client.post(url, deep(100_000), content_type="application/json")
    assert (too_deep.status_code, too_deep.data) == (400, {"detail": [
        {"message": "The request body nests more than 32 levels deep.", "code": "too_deep"}]})
    strings = json.dumps({"username": "[" * 1000, "password": "{" * 1000})  # brackets in strings do not nest
    assert client.post(url, strings, content_type="application/json").status_code != 500
    at_limit = client.post(url, json.dumps({"a": json.loads(deep(31))}), content_type="application/json")
    assert at_limit.status_code != 500 and at_limit.data.get("detail", [{}])[0].get("code") != "too_deep"
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    big = client.post(url, json.dumps({"username": "x" * 2000}), content_type="application/json")
    assert (big.status_code, big.data["detail"][0]["code"]) == (400, "too_large")
    form = client.post(url, "username=" + "x" * 2000, content_type="application/x-www-form-urlencoded")
    assert (form.status_code, form.data["detail"][0]["code"]) == (400, "too_large")
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    many = "&".join(f"f{i}=1" for i in range(20))
    fields = client.post(url, many, content_type="application/x-www-form-urlencoded")
    assert (fields.status_code, fields.data["detail"][0]["code"]) == (400, "too_many_fields")
    multipart = client.post(url, {f"f{i}": "1" for i in range(20)}, format="multipart")
    assert (multipart.status_code, multipart.data["detail"][0]["code"]) == (400, "too_many_fields")
    settings.CABINET_API_MAX_UPLOAD = 100
    upload = client.post(url, {"f": "x" * 200}, format="multipart")
    assert (upload.status_code, upload.data["detail"][0]["code"]) == (400, "too_large")


def test_every_api_view_parses_with_the_bounded_parsers(solution):
    """By class: whatever view a route serves, its parsers are the bounded ones (no view opts out)."""
    from django.urls import URLPattern, URLResolver

    def views(patterns):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from views(p.url_patterns)
            elif isinstance(p, URLPattern):
                yield p

    built = registry.ensure_current()
    found = 0
    for pattern in views(built.api.urlpatterns()):
        cls = getattr(pattern.callback, "cls", None)
        if cls is None:
            continue
        assert [type(p) for p in cls().get_parsers()] == parsers.PARSERS, pattern
        found += 1
    assert found >= 10
