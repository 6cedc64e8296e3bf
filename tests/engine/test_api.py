"""The REST API: the same policy as everywhere, DRF-shaped errors, tokens, filters, schema."""
import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from engine.workflow import transitions_of
from tests import matrix

SOLUTIONS = ["solutions/resort", "tests/fixtures/b2b"]




def api_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def listed(client, entity):
    ids, url = set(), f"/api/{entity}/?page_size=100"
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.data
        ids |= {row["id"] for row in response.data["results"]}
        url = response.data["next"]
    return ids


def rolled_back(call, check=None):
    """The response of a writing request, with ``check(response)`` run before its effects are rolled back."""
    with transaction.atomic():
        response = call()
        if check is not None:
            check(response)
        transaction.set_rollback(True)
    return response


def status_rolled_back(call):
    return rolled_back(call).status_code


@pytest.mark.parametrize("solution", SOLUTIONS, indirect=True)
def test_access_matrix_through_the_api(solution):
    built = solution
    owners = matrix.make_users(2)
    matrix.make_rows(built, owners)
    writes = 0
    for role in built.spec.roles:
        users = matrix.give_role(owners, role)
        for entity in built.spec.entities:
            rows = list(built.model(entity.name).objects.all())
            for user in users:
                client = api_for(user)
                access = built.policy.for_user(user)
                visible = matrix.expected(built, role, entity, "view", user, rows)
                can_list = matrix.expected(built, role, entity, "list", user, rows)
                if role.grant(entity.name) and ("all" in role.grant(entity.name).actions
                                                or "list" in role.grant(entity.name).actions):
                    assert listed(client, entity.name) == can_list, (role.name, entity.name)
                else:
                    assert client.get(f"/api/{entity.name}/").status_code == 403
                for row in rows:
                    url = f"/api/{entity.name}/{row.pk}/"
                    assert client.get(url).status_code == (200 if row.pk in visible else 404)
                    writes += check_update(built, role, entity, user, access, client, row, rows, visible)
                    want = matrix.expected(built, role, entity, "delete", user, rows)
                    codes = {204, 409} if row.pk in want else {403 if row.pk in visible else 404}
                    assert status_rolled_back(lambda u=url, c=client: c.delete(u)) in codes, (role.name, entity.name)
                    for name, (wf, t) in transitions_of(built.spec, entity.name).items():
                        may = matrix.expected(built, role, entity, name, user, rows) if (
                            not t.roles or role.name in t.roles) else set()
                        granted = matrix.expected(built, role, entity, name, user, rows)
                        if row.pk in may:
                            code = 200 if getattr(row, wf.field) in t.sources else 409
                        else:
                            code = 403 if (row.pk in visible or row.pk in granted) else 404
                        got = status_rolled_back(lambda u=url, c=client, n=name: c.post(f"{u}{n}/"))
                        assert got == code, (role.name, entity.name, name, row.pk)
                writes += check_create(built, role, entity, user, access, client)
    assert writes >= 20


def check_update(built, role, entity, user, access, client, row, rows, visible):
    """PATCH a real change: stored when the role may update the row, refused (and unchanged) otherwise."""
    may = row.pk in matrix.expected(built, role, entity, "update", user, rows)
    names = access.editable_fields(entity.name, "update") if may else entity.field_names
    name, value = matrix.change(built, entity, row, names)
    body = {} if name is None else {name: value}
    Model = type(row)

    def check(response):
        if may:
            assert response.status_code == 200, (role.name, entity.name, body, response.data)
            if name is not None:
                assert matrix.stored(Model.objects.get(pk=row.pk), name, entity) == value, (role.name, entity.name)
        else:
            assert response.status_code == (403 if row.pk in visible else 404), (role.name, entity.name)
            if name is not None:
                assert matrix.stored(Model.objects.get(pk=row.pk), name, entity) == getattr(row, name)

    rolled_back(lambda: client.patch(f"/api/{entity.name}/{row.pk}/", body, format="json"), check)
    return int(may and name is not None)


def check_create(built, role, entity, user, access, client):
    """POST a valid body: 201 with exactly the values sent (and forced) when the role creates, else 403."""
    grant = role.grant(entity.name)
    creates = grant is not None and ("all" in grant.actions or "create" in grant.actions)
    editable = access.editable_fields(entity.name, "create")
    body = matrix.create_body(built, entity, user, editable) if creates else {}
    forced = access.resolved_forced(entity.name) if creates else {}
    Model = built.model(entity.name)

    def check(response):
        if not creates:
            assert response.status_code == 403, (role.name, entity.name)
            return
        assert response.status_code == 201, (role.name, entity.name, body, response.data)
        obj = Model.objects.get(pk=response.data["id"])
        for name, value in body.items():
            want = sorted(value) if isinstance(value, list) else value
            assert matrix.stored(obj, name, entity) == want, (role.name, entity.name, name)
        for name, value in forced.items():
            assert getattr(obj, name) == value, (role.name, entity.name, name)

    rolled_back(lambda: client.post(f"/api/{entity.name}/", body, format="json"), check)
    return int(creates)


def test_anonymous_clients_are_refused(solution):
    client = APIClient()
    for url in ("/api/", "/api/booking/", "/api/booking/1/", "/api/schema/", "/api/auth/tokens/"):
        response = client.get(url)
        assert response.status_code == 401, url
        assert response.data == {"detail": [{"message": "Authentication credentials were not provided.",
                                             "code": "not_authenticated"}]}


@pytest.fixture
def resort(solution):
    """The resort with anna and boris as guests (each with a stay) and a reception clerk."""
    built = solution
    User = get_user_model()
    guests = Group.objects.get(name="guest")
    people = {}
    Guest, Stay, Excursion = built.model("guest"), built.model("stay"), built.model("excursion")
    for name in ("anna", "boris"):
        user = User.objects.create_user(name, password=f"{name}-pw-123")
        user.groups.add(guests)
        guest = Guest.objects.create(user=user, full_name=name.title())
        Stay.objects.create(guest=guest, check_in="2026-01-01", check_out="2026-01-05")
        people[name] = user
    clerk = User.objects.create_user("clerk", password="clerk-pw-123")
    clerk.groups.add(Group.objects.get(name="reception"))
    people["clerk"] = clerk
    people["trip"] = Excursion.objects.create(name="Boat", starts_at=timezone.now() + dt.timedelta(days=60), price=10, capacity=9)
    return built, people


def test_create_forces_values_and_refuses_read_only_hidden_and_unknown_keys(resort):
    built, people = resort
    client = api_for(people["anna"])
    boris_guest = built.model("guest").objects.get(user=people["boris"])
    Booking = built.model("booking")
    response = client.post("/api/booking/", {"excursion": people["trip"].pk, "seats": 2, "guest": boris_guest.pk,
                                             "status": "confirmed", "id": 77, "seat": 3}, format="json")
    unknown = "Unknown field; the fields you may write here: excursion, note, seats."
    assert (response.status_code, response.data) == (400, {
        "guest": [{"message": unknown, "code": "unknown"}],  # forced and hidden: as if it did not exist
        "status": [{"message": "This field changes only through the workflow's transitions.",
                    "code": "state_field"}],  # the workflow's state: only transitions write it
        "id": [{"message": "This field is read-only.", "code": "read_only"}],
        "seat": [{"message": unknown, "code": "unknown"}],  # a typo is named, not dropped
    })
    assert not Booking.objects.exists()
    response = client.post("/api/booking/", {"excursion": people["trip"].pk, "seats": 2}, format="json")
    assert response.status_code == 201, response.data
    booking = Booking.objects.get(pk=response.data["id"])
    assert (booking.guest.user, booking.status, booking.seats) == (people["anna"], "requested", 2)
    assert set(response.data) == {"id", "excursion", "seats", "status", "note", "created_at"}  # no 'guest'
    url = f"/api/booking/{booking.pk}/"
    clerk = api_for(people["clerk"])  # reception may update bookings: every field but none is refused silently
    for body, key, code in (({"status": "cancelled"}, "status", "state_field"), ({"id": 5}, "id", "read_only"),
                            ({"nope": 1}, "nope", "unknown")):
        response = clerk.patch(url, body, format="json")
        assert response.status_code == 400 and response.data[key][0]["code"] == code, response.data
    assert clerk.patch(url, {"note": "window seat"}, format="json").status_code == 200
    anna = client.patch(url, {"status": "confirmed"}, format="json")
    assert anna.status_code == 403  # a guest may not update bookings at all
    assert Booking.objects.get(pk=booking.pk).status == "requested"  # only transitions move the state


def test_form_bodies_are_checked_like_json(resort):
    built, people = resort
    client = api_for(people["anna"])
    response = client.post("/api/booking/", {"excursion": people["trip"].pk, "seats": 2, "status": "x",
                                             "csrfmiddlewaretoken": "t"}, format="multipart")
    assert response.status_code == 400 and set(response.data) == {"status"}
    response = client.post("/api/booking/", {"excursion": people["trip"].pk, "seats": 3,
                                             "csrfmiddlewaretoken": "t"}, format="multipart")
    assert response.status_code == 201 and built.model("booking").objects.get().seats == 3


def test_validation_errors_have_codes_per_field(resort):
    built, people = resort
    client = api_for(people["anna"])
    response = client.post("/api/booking/", {"excursion": 999999, "seats": 0}, format="json")
    assert response.status_code == 400
    assert response.data == {
        "excursion": [{"message": 'Invalid pk "999999" - object does not exist.', "code": "does_not_exist"}],
        "seats": [{"message": "Ensure this value is greater than or equal to 1.", "code": "min_value"}],
    }


def test_refs_accept_only_rows_in_scope(resort):
    built, people = resort
    boris_stay = built.model("stay").objects.get(guest__user=people["boris"])
    tea = built.model("service").objects.create(name="Tea", price=2)
    response = api_for(people["anna"]).post("/api/service_order/", {"stay": boris_stay.pk, "service": tea.pk},
                                            format="json")
    assert response.status_code == 400
    assert response.data["stay"][0]["code"] == "does_not_exist"


def test_out_of_scope_is_404_and_not_allowed_is_403(resort):
    built, people = resort
    anna, boris = api_for(people["anna"]), api_for(people["boris"])
    created = anna.post("/api/booking/", {"excursion": people["trip"].pk}, format="json").data
    assert boris.get(f"/api/booking/{created['id']}/").data == {"detail": [{"message": "Not found.",
                                                                            "code": "not_found"}]}
    response = anna.delete(f"/api/booking/{created['id']}/")
    assert response.status_code == 403 and response.data["detail"][0]["code"] == "permission_denied"
    assert anna.get("/api/booking/abc/").status_code == 404


def test_transitions_follow_roles_and_states(resort):
    built, people = resort
    anna, clerk = api_for(people["anna"]), api_for(people["clerk"])
    booking = anna.post("/api/booking/", {"excursion": people["trip"].pk}, format="json").data
    url = f"/api/booking/{booking['id']}/"
    assert anna.post(f"{url}confirm/").status_code == 403  # a guest may not confirm
    confirmed = clerk.post(f"{url}confirm/")
    assert confirmed.status_code == 200 and confirmed.data["status"] == "confirmed"
    again = clerk.post(f"{url}confirm/")
    assert again.status_code == 409 and again.data["detail"][0]["code"] == "invalid_state"
    assert anna.post(f"{url}cancel/").data["status"] == "cancelled"


def test_filters_search_ordering_pagination_and_expand(resort):
    built, people = resort
    clerk = api_for(people["clerk"])
    Service = built.model("service")
    for i in range(25):
        Service.objects.create(name=f"Massage {i:02d}" if i % 2 else f"Tea {i:02d}", price=i,
                               category="spa" if i % 2 else "room_service")
    page = clerk.get("/api/service/?price__gte=10&price__lt=20&category=spa&ordering=-price").data
    assert [r["name"] for r in page["results"]] == ["Massage 19", "Massage 17", "Massage 15", "Massage 13",
                                                    "Massage 11"]
    assert clerk.get("/api/service/?category__in=spa,transfer").data["count"] == 12
    assert clerk.get("/api/service/?search=tea").data["count"] == 13
    first = clerk.get("/api/service/?page_size=1000")
    assert len(first.data["results"]) == 25 and first.data["next"] is None  # max page size 100
    assert len(clerk.get("/api/service/").data["results"]) == 20 and clerk.get("/api/service/").data["next"]
    bad = clerk.get("/api/service/?price__gte=cheap&ordering=secret")
    assert bad.status_code == 400 and bad.data["price__gte"][0]["code"] == "invalid"
    anna = api_for(people["anna"])
    anna.post("/api/booking/", {"excursion": people["trip"].pk}, format="json")
    expanded = anna.get("/api/booking/?expand=excursion").data["results"][0]["excursion"]
    assert expanded["name"] == "Boat" and expanded["id"] == people["trip"].pk
    refused = anna.get("/api/booking/?expand=guest")  # hidden field
    assert refused.status_code == 400 and refused.data["expand"][0]["message"].startswith("'guest' cannot be")


def test_guest_cannot_filter_on_hidden_fields(resort):
    built, people = resort
    anna = api_for(people["anna"])
    assert anna.get("/api/guest/?loyalty_points__gte=0").data["count"] == 1
    # 'user' is hidden from guests: the filter does not exist for them, so it cannot probe values
    boris_id = people["boris"].pk
    assert anna.get(f"/api/guest/?user={boris_id}").data["count"] == 1


@pytest.mark.parametrize("expand", ["", "&expand=excursion"])
def test_list_queries_do_not_grow_with_the_page(resort, expand):
    built, people = resort
    Booking = built.model("booking")
    guest = built.model("guest").objects.get(user=people["anna"])
    client = api_for(people["anna"])
    client.get(f"/api/booking/?page_size=1{expand}")  # warm the per-process caches (content types)
    counts = []
    for size in (10, 100):
        Booking.objects.bulk_create([Booking(guest=guest, excursion=people["trip"])
                                     for _ in range(size - Booking.objects.count())])
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(f"/api/booking/?page_size={size}{expand}")
        assert len(response.data["results"]) == size
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]


def test_tokens_obtain_use_list_create_revoke(resort, settings):
    built, people = resort
    client = APIClient()
    assert client.post("/api/auth/token/", {"username": "anna", "password": "wrong"}).status_code == 400
    token = client.post("/api/auth/token/", {"username": "anna", "password": "anna-pw-123"}).data["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/booking/").status_code == 200
    second = client.post("/api/auth/tokens/").data["token"]
    keys = [t["token_key"] for t in client.get("/api/auth/tokens/").data]
    assert len(keys) == 2 and second[: len(keys[0])] in keys
    assert client.delete(f"/api/auth/tokens/{token[: len(keys[0])]}/").status_code == 204
    assert client.get("/api/booking/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Token {second}")
    assert client.get("/api/booking/").status_code == 200


def test_login_is_rate_limited(resort, monkeypatch):
    from rest_framework.throttling import ScopedRateThrottle

    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"login": "3/minute"})
    client = APIClient()
    codes = [client.post("/api/auth/token/", {"username": "anna", "password": "x"}).status_code for _ in range(4)]
    assert codes == [400, 400, 400, 429]


def test_session_clients_need_csrf(resort):
    client = APIClient(enforce_csrf_checks=True)
    client.login(username="anna", password="anna-pw-123")
    assert client.get("/api/booking/").status_code == 200
    response = client.post("/api/booking/", {"excursion": resort[1]["trip"].pk}, format="json")
    assert response.status_code == 403 and "CSRF" in response.data["detail"][0]["message"]


def test_api_root_lists_what_the_user_may_use(resort):
    built, people = resort
    tiny = get_user_model().objects.create_user("tiny")
    assert api_for(tiny).get("/api/").data["entities"] == {}
    assert set(api_for(people["clerk"]).get("/api/").data["entities"]) == {e.name for e in built.spec.entities}


def test_openapi_schema_from_the_specs(resort):
    built, people = resort
    schema = api_for(people["clerk"]).get("/api/schema/?format=json").json()
    booking = schema["components"]["schemas"]["Booking"]
    assert set(booking["required"]) >= {"id", "guest", "excursion"}
    assert booking["properties"]["seats"]["maximum"] == 10
    assert booking["properties"]["seats"]["description"] == "Seats"
    status = booking["properties"]["status"]
    enum = schema["components"]["schemas"][status["allOf"][0]["$ref"].rsplit("/", 1)[1]] if "allOf" in status \
        else status
    assert enum["enum"] == ["requested", "confirmed", "cancelled"]
    assert "/api/booking/{id}/cancel/" in schema["paths"]
    assert "/api/service_order/{id}/deliver/" in schema["paths"]
    docs = api_for(people["anna"]).get("/api/docs/")
    assert docs.status_code == 200 and b"/static/drf_spectacular_sidecar/swagger-ui-dist/" in docs.content


def operations(schema):
    return {(path, method) for path, item in schema["paths"].items() for method in item
            if method in ("get", "post", "put", "patch", "delete")}


def test_each_role_gets_its_own_schema(resort):
    """Fields, write fields, operations and transitions of the caller's roles; nothing else is named."""
    built, people = resort
    guest = api_for(people["anna"]).get("/api/schema/?format=json").json()
    booking = guest["components"]["schemas"]["Booking"]
    assert set(booking["properties"]) == {"id", "excursion", "seats", "status", "note", "created_at"}
    assert {n for n, p in booking["properties"].items() if p.get("readOnly")} == {
        "id", "excursion", "seats", "status", "note", "created_at"}  # a guest never updates a booking
    create = guest["components"]["schemas"]["BookingCreateRequest"]
    assert set(create["properties"]) == {"excursion", "seats", "note"}  # 'guest' is forced, 'status' read-only
    booking_ops = {op for op in operations(guest) if op[0].startswith("/api/booking/")}
    assert booking_ops == {("/api/booking/", "get"), ("/api/booking/", "post"), ("/api/booking/{id}/", "get"),
                           ("/api/booking/{id}/cancel/", "post"), ("/api/booking/{id}/history/", "get"),
                           ("/api/booking/{id}/transitions/", "get")}
    assert ("/api/room/{id}/", "get") in operations(guest) and "/api/room/" not in guest["paths"]  # view, no list
    assert "/api/service_order/{id}/deliver/" not in guest["paths"]
    filters = {p["name"] for p in guest["paths"]["/api/booking/"]["get"]["parameters"]}
    assert "guest" not in filters and "seats__gte" in filters
    guest_profile = guest["components"]["schemas"]["Guest"]
    assert "user" not in guest_profile["properties"]  # hidden from guests everywhere in their schema
    assert "PatchedGuestRequest" in guest["components"]["schemas"]
    clerk = api_for(people["clerk"]).get("/api/schema/?format=json").json()
    assert "guest" in clerk["components"]["schemas"]["Booking"]["properties"]
    assert ("/api/booking/{id}/confirm/", "post") in operations(clerk)
    assert ("/api/booking/", "post") not in operations(clerk) and ("/api/booking/{id}/", "delete") not in \
        operations(clerk)  # reception neither creates nor deletes bookings
    tiny = get_user_model().objects.create_user("tiny-schema")
    empty = api_for(tiny).get("/api/schema/?format=json").json()
    assert not any(p.startswith(("/api/booking", "/api/guest")) for p in empty["paths"])
    assert "Booking" not in empty.get("components", {}).get("schemas", {})
    boss = get_user_model().objects.create_superuser("boss-schema")
    full = api_for(boss).get("/api/schema/?format=json").json()
    assert operations(full) > operations(clerk) | operations(guest)
    # one schema per set of abilities: boris (a guest too) gets anna's, from the cache
    assert api_for(people["boris"]).get("/api/schema/?format=json").json() == guest
    assert len(built._schema_cache) == 4  # guest, reception, no role, superuser


def test_schema_descriptions_follow_the_language(resort):
    built, people = resort
    client = api_for(people["anna"])
    ru = client.get("/api/schema/?format=json", HTTP_ACCEPT_LANGUAGE="ru").json()
    en = client.get("/api/schema/?format=json", HTTP_ACCEPT_LANGUAGE="en").json()
    assert ru["components"]["schemas"]["Booking"]["properties"]["seats"]["description"] == "Мест"
    assert en["components"]["schemas"]["Booking"]["properties"]["seats"]["description"] == "Seats"


def test_odd_utc_offsets_are_converted_not_a_server_error(resort):
    built, people = resort
    clerk = api_for(people["clerk"])
    response = clerk.get("/api/excursion/", {"starts_at__gt": "0255-08-18T19:50:58.1+21:39"})
    assert response.status_code == 200
    response = clerk.get("/api/excursion/", {"starts_at__gt": "0001-01-01T00:00:00+01:00"})
    assert response.status_code == 400 and set(response.data) == {"starts_at__gt"}
    assert response.data["starts_at__gt"][0]["code"] == "invalid"
