"""Every API query parameter, fuzzed: hostile values for each filter, lookup, expand, ordering, page,
page_size, search and format of every entity's list and detail, for a superuser and a scoped role.

No request may produce a 5xx; a 4xx names the parameter it refuses (``{param: [{message, code}]}``), or is
a 404 (an unknown format as ``detail``, a page past the end as ``page``) in the API's error shape. Schemathesis covers only the
operations and parameters the OpenAPI schema declares; this covers the ones it does not.
"""
import random

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from engine.build.api import LOOKUPS
from engine.fieldtypes import FieldType
from engine.spec import USER
from tests import matrix

SOLUTIONS = {"solutions/resort": "guest", "tests/fixtures/b2b": "buyer"}

GENERIC = [
    "", "\x00", "a\x00b", "-1", "1.5", "9" * 25, "9" * 5000, "1e999999", "NaN", "-inf", "0x10", "true",
    "' OR 1=1 --", "\u202e\U0001F642", "x" * 5000, ",,,", ",".join(["1"] * 3000), "0001-01-01", "9999-12-31",
    "9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "23:59:60", "a b c " * 500,
]
SHORT = ["\x00", "9" * 5000, "1e999999", "0001-01-01T00:00:00+14:00", ",".join(["1"] * 3000), "x" * 5000]
SPECIAL = ("expand", "ordering", "page", "page_size", "search", "format")


def values_for(param, entity, short=False):
    """Hostile values for ``param``: generic ones (fewer when ``short``) plus ones aimed at its kind."""
    names = [f.name for f in entity.fields]
    refs = [f.name for f in entity.fields if f.type in (FieldType.REF, FieldType.REFS)]
    extra = []
    if param == "ordering":
        extra = [*names, *(f"-{n}" for n in names), *(f"--{n}" for n in names), *(f"{n},{n}" for n in names),
                 "id,-id", ",".join(names * 20), "?", "pk", "-pk", "id__name"]
    elif param == "expand":
        extra = [*refs, *(f"{n},{n}" for n in refs), *(f"{n}." for n in refs), ",".join(refs * 50),
                 *(f"{n}__id" for n in refs), "id", *names]
    elif param in ("page", "page_size"):
        extra = ["0", "2", "100", "101", "1000000", str(2**63), str(2**64), "-9223372036854775809", "1.0", "01"]
    elif param == "format":
        extra = ["json", "api", "xml", "yaml", "openapi", "html", "csv", "json\x00", "JSON"]
    elif param == "search":
        extra = ["a " * 1000, "a," * 1000, "\x00" * 10, '"', "'", "a%b", "a_b", "tea"]
    return (SHORT if short and param not in SPECIAL else GENERIC) + extra


def parameters(entity):
    """Every list parameter of ``entity``: filters with each lookup (and an unknown one), and the rest."""
    found = []
    for f in entity.fields:
        for lookup in LOOKUPS.get(f.type, []):
            found.append(f.name if lookup == "exact" else f"{f.name}__{lookup}")
        found += [f"{f.name}__regex", f"{f.name}__isnull"]  # lookups the API does not offer
    return [*found, "id", "id__in", "expand", "ordering", "page", "page_size", "search", "format", "limit",
            "offset", "fields", "cursor", "\x00", "x" * 300]


@pytest.fixture(autouse=True)
def _no_rate_limits(monkeypatch):
    """Thousands of requests a minute: the user rate limit is not under test here."""
    from rest_framework.throttling import SimpleRateThrottle

    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {**SimpleRateThrottle.THROTTLE_RATES, "user": None})


def check(response, param, url):
    code = response.status_code
    assert code < 500, (url, param, code)
    if code in (200, 201, 204):
        return 0
    data = response.data
    assert isinstance(data, dict) and data, (url, param, code, data)
    for key, errors in data.items():
        assert isinstance(errors, list) and errors, (url, param, key)
        assert all(set(e) == {"message", "code"} for e in errors), (url, param, key, errors)
    if code == 400:
        assert set(data) == {param}, (url, param, data)
    else:
        assert code == 404 and set(data) == ({"page"} if param == "page" else {"detail"}), (url, param, code, data)
    return 1


def fuzz_targets(built, role):
    """(client, label) pairs: a superuser and a user of ``role`` with the matrix rows."""
    owners = matrix.make_users(2)
    matrix.make_rows(built, owners)
    scoped = matrix.give_role(owners, built.spec.role(role))[0]
    boss = get_user_model().objects.create_superuser("boss", password="pw-boss-123")
    found = []
    for user in (boss, scoped):
        client = APIClient()
        client.force_authenticate(user)
        found.append((client, user.username))
    return found


@pytest.mark.parametrize(("solution", "role"), list(SOLUTIONS.items()), indirect=["solution"])
def test_no_query_parameter_value_is_a_server_error(solution, role):
    built = solution
    attempts, refused = 0, 0
    for (client, _), short in zip(fuzz_targets(built, role), (False, True), strict=True):
        for entity in built.spec.entities:
            row = built.model(entity.name).objects.order_by("pk").first()
            may_list = client.get(f"/api/{entity.name}/").status_code == 200
            for param in parameters(entity):
                for value in values_for(param, entity, short):
                    if may_list:
                        url = f"/api/{entity.name}/"
                        refused += check(client.get(url, {param: value}), param, url)
                        attempts += 1
                    if param in ("expand", "format") and row is not None:
                        url = f"/api/{entity.name}/{row.pk}/"
                        refused += check(client.get(url, {param: value}), param, url)
                        attempts += 1
    print(f"{built.spec.name}: {attempts} requests, {refused} refused with a 4xx, 0 server errors")  # noqa: T201
    assert attempts > 5000 and 0 < refused < attempts


@pytest.mark.parametrize(("solution", "role"), list(SOLUTIONS.items()), indirect=["solution"])
def test_random_combinations_of_parameters_are_no_server_errors(solution, role):
    """Several hostile parameters at once (seeded, so a failure reproduces)."""
    built = solution
    rng = random.Random(9)
    targets = fuzz_targets(built, role)
    for _ in range(400):
        client, _ = rng.choice(targets)
        entity = rng.choice(built.spec.entities)
        chosen = rng.sample(parameters(entity), 4)
        query = {param: rng.choice(values_for(param, entity)) for param in chosen}
        response = client.get(f"/api/{entity.name}/", query)
        assert response.status_code < 500, (entity.name, query)
        if response.status_code == 400:
            assert set(response.data) <= {*chosen, *(p.split("__")[0] for p in chosen)}, (query, response.data)


def test_user_refs_are_not_expandable_and_say_so(solution):
    """``expand`` names what may be expanded when it refuses (users are never expanded)."""
    built = solution
    boss = get_user_model().objects.create_superuser("boss2")
    client = APIClient()
    client.force_authenticate(boss)
    user_refs = [(e.name, f.name) for e in built.spec.entities for f in e.fields if f.to == USER]
    assert user_refs
    for entity, name in user_refs:
        response = client.get(f"/api/{entity}/", {"expand": name})
        assert response.status_code == 400 and response.data["expand"][0]["code"] == "invalid"
