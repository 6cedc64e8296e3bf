"""Schemathesis against /api/schema/: generated requests never cause a 5xx and responses fit the schema."""
import pytest
from django.contrib.auth.models import Group
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, given, settings
from rest_framework.test import APIClient
from schemathesis import openapi
from schemathesis.checks import not_a_server_error, response_schema_conformance

from engine.compiler import compile_folder
from engine.migrate import publish
from tests import matrix

EXAMPLES = 12  # per operation: enough to reach every branch of the views, small enough for CI


@pytest.fixture
def api(schema):
    compiled = compile_folder("solutions/resort")
    built, _ = publish(compiled.raise_for_errors(), compiled.sources)
    owners = matrix.make_users(2)
    matrix.make_rows(built, owners)
    user = matrix.give_role(owners, built.spec.role("reception"))[0]
    user.groups.add(Group.objects.get(name="guest"))
    client = APIClient()
    token = client.post("/api/auth/token/", {"username": user.username, "password": "pw-owner-123"}).data["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    raw = client.get("/api/schema/?format=json").json()
    loaded = openapi.from_dict(raw)
    loaded.app = get_wsgi_application()
    return loaded, {"Authorization": f"Token {token}"}


def test_no_server_errors_and_responses_fit_the_schema(api):
    loaded, headers = api
    operations = [result.ok() for result in loaded.get_all_operations()]
    assert len(operations) > 30
    for operation in operations:
        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case):
            response = case.call(headers=headers)
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

        check()
