"""The chat's REST API (``/api/chat/``) on the resort demo: every endpoint, its errors in the API's shape,
the OpenAPI schema, and query counts that do not grow with the conversations or messages shown."""
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from engine.chat.models import Conversation, Message
from tests.chat_fixtures import api, png, user

CHAT_PATHS = [
    "/api/chat/chats/", "/api/chat/conversations/", "/api/chat/conversations/{id}/",
    "/api/chat/conversations/{id}/card/", "/api/chat/conversations/{id}/close/",
    "/api/chat/conversations/{id}/hand_over/", "/api/chat/conversations/{id}/join/",
    "/api/chat/conversations/{id}/leave/", "/api/chat/conversations/{id}/members/",
    "/api/chat/conversations/{id}/messages/", "/api/chat/conversations/{id}/read/",
    "/api/chat/conversations/{id}/reopen/", "/api/chat/conversations/{id}/take/", "/api/chat/messages/{id}/",
]


def conv_of(chat, **filters):
    return Conversation.objects.get(chat=chat, **filters)


def errors(response):
    """{field: [code]} of an error answer, asserting the API's shape on the way."""
    body = response.json()
    assert all(isinstance(found, list) and all(set(e) == {"message", "code"} for e in found)
               for found in body.values()), body
    return {field: [e["code"] for e in found] for field, found in body.items()}


def test_chats_lists_the_chats_each_user_may_use(chat_resort):
    assert [(c["name"], c["type"], c["can_start"]) for c in api("anna").get("/api/chat/chats/").json()] == [
        ("reception", "direct", True), ("discussions", "group", False), ("claims", "ticket", True)]
    chats = api("reception").get("/api/chat/chats/").json()
    assert [(c["name"], c["type"], c["can_start"]) for c in chats] == [
        ("reception", "direct", False), ("discussions", "group", True), ("claims", "ticket", True)]
    assert chats[0]["label"] == "Chat with reception"
    assert chats[0]["conversations"] == "http://testserver/api/chat/conversations/?chat=reception"
    # Anna's last message waits for reception: one conversation with unread messages there.
    assert {c["name"]: c["unread"] for c in chats}["reception"] == 1


def test_anonymous_callers_are_refused(chat_resort):
    response = APIClient().get("/api/chat/conversations/")
    assert response.status_code == 401
    assert errors(response) == {"detail": ["not_authenticated"]}


def test_a_token_works_like_a_session(chat_resort):
    token = APIClient().post("/api/auth/token/", {"username": "anna", "password": "anna-demo"}, format="json")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.json()['token']}")
    assert client.get("/api/chat/chats/").status_code == 200


def test_conversations_filter_by_chat_state_and_operator_and_paginate(chat_resort):
    anna = api("anna").get("/api/chat/conversations/?page_size=100").json()
    assert set(anna) == {"count", "next", "previous", "results"}
    assert sorted((c["chat"], c["slug"]) for c in anna["results"]) == [
        ("claims", ""), ("discussions", "excursions"), ("discussions", "families"), ("discussions", "lobby"),
        ("reception", "")]
    mine = api("anna").get("/api/chat/conversations/?chat=reception").json()
    assert mine["count"] == 1
    row = mine["results"][0]
    assert row["client"] == {"id": user("anna").pk, "name": "Anna Petrova"}
    assert row["operator"] is None and row["closed"] is False
    assert row["url"] == f"http://testserver/api/chat/conversations/{row['id']}/"
    desk = api("reception")
    assert desk.get("/api/chat/conversations/?chat=reception&operator=unassigned").json()["count"] == 1
    assert desk.get("/api/chat/conversations/?chat=reception&operator=mine").json()["count"] == 0
    assert desk.post(f"/api/chat/conversations/{row['id']}/take/").status_code == 200
    assert desk.get("/api/chat/conversations/?chat=reception&operator=mine").json()["count"] == 1
    assert desk.get("/api/chat/conversations/?chat=claims&state=open").json()["count"] == 1
    assert desk.get("/api/chat/conversations/?chat=claims&state=closed").json()["count"] == 0
    two = desk.get("/api/chat/conversations/?page_size=2").json()
    assert len(two["results"]) == 2 and two["next"].endswith("page=2&page_size=2")


@pytest.mark.parametrize(("query", "expected"), [
    ("chat=nope", {"chat": ["invalid"]}),
    ("chat=" + "x" * 101, {"chat": ["invalid"]}),
    ("chat=a%00b", {"chat": ["invalid"]}),
    ("state=bogus", {"state": ["invalid_choice"]}),
    ("operator=someone", {"operator": ["invalid_choice"]}),
    ("operator=99999999999999999999", {"operator": ["out_of_range"]}),
    ("page=99", {"page": ["not_found"]}),
    ("page=abc", {"page": ["not_found"]}),
])
def test_bad_list_parameters_are_answered_naming_the_parameter(chat_resort, query, expected):
    response = api("reception").get(f"/api/chat/conversations/?{query}")
    assert response.status_code in (400, 404)
    assert errors(response) == expected


def test_a_conversation_tells_the_caller_their_side_and_rights(chat_resort):
    conv = conv_of("reception")
    mine = api("anna").get(f"/api/chat/conversations/{conv.pk}/").json()
    assert (mine["side"], mine["rights"]) == ("client", ["edit_own", "post", "read"])
    assert mine["messages"] == f"http://testserver/api/chat/conversations/{conv.pk}/messages/"
    desk = api("reception").get(f"/api/chat/conversations/{conv.pk}/").json()
    assert desk["side"] == "staff"
    assert {"take", "hand_over", "moderate", "add_member", "remove_member", "post"} <= set(desk["rights"])


def test_messages_read_oldest_first_with_before_after_and_limit(chat_resort):
    conv = conv_of("reception")
    anna = api("anna")
    url = f"/api/chat/conversations/{conv.pk}/messages/"
    page = anna.get(url).json()
    texts = [m["text"] for m in page["results"]]
    assert texts[0].startswith("Good morning! Could we check out late") and len(texts) == 3
    assert [m["side"] for m in page["results"]] == ["client", "staff", "client"]
    first, second, third = (m["id"] for m in page["results"])
    assert page["older"] is None and page["newer"].endswith(f"?after={third}&limit=50")
    assert [m["id"] for m in anna.get(f"{url}?before={third}").json()["results"]] == [first, second]
    assert [m["id"] for m in anna.get(f"{url}?after={first}").json()["results"]] == [second, third]
    last_two = anna.get(f"{url}?limit=2").json()
    assert [m["id"] for m in last_two["results"]] == [second, third]
    assert last_two["older"].endswith(f"?before={second}&limit=2")
    assert anna.get(f"{url}?after={third}").json()["results"] == []


@pytest.mark.parametrize(("query", "expected"), [
    ("before=x", {"before": ["invalid"]}),
    ("after=-1", {"after": ["out_of_range"]}),
    ("limit=0", {"limit": ["out_of_range"]}),
    ("limit=101", {"limit": ["out_of_range"]}),
    ("before=99999999999999999999", {"before": ["out_of_range"]}),
])
def test_bad_message_parameters_are_400s_naming_them(chat_resort, query, expected):
    response = api("anna").get(f"/api/chat/conversations/{conv_of('reception').pk}/messages/?{query}")
    assert response.status_code == 400
    assert errors(response) == expected


def test_posting_text_and_files(chat_resort):
    conv = conv_of("reception")
    anna = api("anna")
    url = f"/api/chat/conversations/{conv.pk}/messages/"
    made = anna.post(url, {"text": "See https://example.com <b>now</b>"}, format="json")
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["text"] == "See https://example.com <b>now</b>" and body["conversation"] == conv.pk
    assert "<b>" not in body["html"] and "&lt;b&gt;" in body["html"]
    assert 'href="https://example.com"' in body["html"] and "noopener" in body["html"]
    assert body["author"] == {"id": user("anna").pk, "name": "Anna Petrova"} and body["side"] == "client"
    photo = anna.post(url, {"text": "", "files": [png()]}, format="multipart")
    assert photo.status_code == 201, photo.content
    [attachment] = photo.json()["attachments"]
    assert (attachment["name"], attachment["type"], attachment["is_image"]) == ("photo.png", "image/png", True)
    assert attachment["url"] == f"/chat/files/{attachment['id']}/"
    assert Message.objects.filter(conversation=conv).count() == 5


@pytest.mark.parametrize(("data", "fmt", "expected"), [
    ({"text": ""}, "json", {"text": ["required"]}),
    ({"text": "x" * 4001}, "json", {"text": ["max_length"]}),
    ({"text": 5}, "json", {"text": ["invalid"]}),
    ("[1]", "json", {"non_field_errors": ["invalid"]}),
])
def test_refused_posts_answer_in_the_api_error_shape(chat_resort, data, fmt, expected):
    conv = conv_of("reception")
    response = api("anna").post(f"/api/chat/conversations/{conv.pk}/messages/", data, format=fmt)
    assert response.status_code == 400
    assert errors(response) == expected


def test_refused_files_name_the_files_field(chat_resort):
    conv = conv_of("reception")
    url = f"/api/chat/conversations/{conv.pk}/messages/"
    fake = SimpleUploadedFile("photo.png", b"MZ\x90\x00 not an image", content_type="image/png")
    response = api("anna").post(url, {"text": "x", "files": [fake]}, format="multipart")
    assert response.status_code == 400
    assert set(errors(response)) == {"files"}
    big = SimpleUploadedFile("big.pdf", b"%PDF-1.4\n" + b"0" * (5 * 1024 * 1024), content_type="application/pdf")
    response = api("anna").post(url, {"text": "x", "files": [big]}, format="multipart")
    assert response.status_code == 400 and set(errors(response)) == {"files"}
    assert Message.objects.filter(conversation=conv).count() == 3  # nothing written


def test_authors_edit_and_delete_their_own_messages(chat_resort):
    conv = conv_of("reception")
    mine = Message.objects.filter(conversation=conv, author=user("anna")).last()
    theirs = Message.objects.filter(conversation=conv, author=user("reception")).last()
    anna = api("anna")
    # The demo's messages were written hours ago: past the 15-minute window.
    late = anna.patch(f"/api/chat/messages/{mine.pk}/", {"text": "changed"}, format="json")
    assert late.status_code == 403
    Message.objects.filter(pk=mine.pk).update(created_at=timezone.now())
    edited = anna.patch(f"/api/chat/messages/{mine.pk}/", {"text": "changed"}, format="json")
    assert edited.status_code == 200, edited.content
    assert edited.json()["text"] == "changed" and edited.json()["edited"] is not None
    assert anna.patch(f"/api/chat/messages/{theirs.pk}/", {"text": "x"}, format="json").status_code == 403
    assert errors(anna.patch(f"/api/chat/messages/{mine.pk}/", {}, format="json")) == {"text": ["required"]}
    deleted = anna.delete(f"/api/chat/messages/{mine.pk}/")
    assert deleted.status_code == 200
    assert deleted.json()["deleted"] is not None and deleted.json()["text"] == ""
    assert anna.delete("/api/chat/messages/99999999999999999999/").status_code == 404


def test_read_marks_the_conversation_read(chat_resort):
    conv = conv_of("reception")
    last = Message.objects.filter(conversation=conv).last()
    desk = api("reception")
    assert {c["name"]: c["unread"] for c in desk.get("/api/chat/chats/").json()}["reception"] == 1
    response = desk.post(f"/api/chat/conversations/{conv.pk}/read/")
    assert response.status_code == 200 and response.json() == {"last_read_id": last.pk}
    assert {c["name"]: c["unread"] for c in desk.get("/api/chat/chats/").json()}["reception"] == 0
    assert errors(desk.post(f"/api/chat/conversations/{conv.pk}/read/", {"upto": "x"}, format="json")) == {
        "upto": ["invalid"]}


def test_take_and_hand_over(chat_resort):
    conv = conv_of("reception")
    url = f"/api/chat/conversations/{conv.pk}/"
    desk = api("reception")
    taken = desk.post(f"{url}take/")
    assert taken.status_code == 200 and taken.json()["operator"]["id"] == user("reception").pk
    handed = desk.post(f"{url}hand_over/", {"user": user("manager").pk}, format="json")
    assert handed.status_code == 200, handed.content
    assert handed.json()["operator"] == {"id": user("manager").pk, "name": "Max Boss"}
    assert errors(desk.post(f"{url}hand_over/", {}, format="json")) == {"user": ["required"]}
    assert errors(desk.post(f"{url}hand_over/", {"user": 10**9}, format="json")) == {"user": ["does_not_exist"]}
    refused = desk.post(f"{url}hand_over/", {"user": user("anna").pk}, format="json")
    assert refused.status_code == 400 and set(errors(refused)) == {"user"}
    assert api("anna").post(f"{url}take/").status_code == 403
    assert api("anna").post(f"{url}hand_over/", {"user": user("reception").pk}, format="json").status_code == 403


def test_join_and_leave_a_channel(chat_resort):
    conv = conv_of("discussions", slug="excursions")
    url = f"/api/chat/conversations/{conv.pk}/"
    boris = api("boris")
    assert "join" in boris.get(url).json()["rights"]
    assert boris.post(f"{url}messages/", {"text": "hi"}, format="json").status_code == 403  # not joined yet
    joined = boris.post(f"{url}join/")
    assert joined.status_code == 200 and {"post", "leave"} <= set(joined.json()["rights"])
    assert boris.post(f"{url}messages/", {"text": "hi"}, format="json").status_code == 201
    left = boris.post(f"{url}leave/")
    assert left.status_code == 200 and "post" not in left.json()["rights"]
    assert api("reception").post(f"{url}join/").status_code == 403  # moderators do not join


def test_members_added_and_removed_by_moderators(chat_resort):
    conv = conv_of("discussions", slug="families")
    url = f"/api/chat/conversations/{conv.pk}/members/"
    desk = api("reception")
    assert desk.post(url, {"user": user("boris").pk}, format="json").status_code == 200
    assert "post" in api("boris").get(f"/api/chat/conversations/{conv.pk}/").json()["rights"]
    assert desk.get(url).json() == [{"id": user("boris").pk, "name": "Boris Ivanov", "side": "member"}]
    assert api("anna").delete(f"{url}?user={user('boris').pk}").status_code == 403
    assert desk.delete(f"{url}?user={user('boris').pk}").status_code == 200
    assert api("boris").get(f"/api/chat/conversations/{conv.pk}/").status_code == 404
    assert errors(desk.delete(url)) == {"user": ["required"]}


def test_the_client_card_is_for_staff(chat_resort):
    conv = conv_of("reception")
    card = api("reception").get(f"/api/chat/conversations/{conv.pk}/card/")
    assert card.status_code == 200, card.content
    body = card.json()
    assert (body["entity"], body["title"], body["user"]) == (
        "guest", "Anna Petrova", {"id": user("anna").pk, "name": "Anna Petrova"})
    assert [(f["name"], f["value"]) for f in body["fields"]] == [
        ("full_name", "Anna Petrova"), ("email", "anna@example.com"), ("phone", "+7 900 111-22-33"),
        ("language", "Russian"), ("loyalty_points", "127")]  # 120 + 7 earned by the paid champagne
    stay, orders = body["related"]
    assert (stay["title"], [c["name"] for c in stay["columns"]], len(stay["rows"])) == (
        "Current stay", ["room", "check_in", "check_out", "status"], 1)
    assert stay["rows"][0]["cells"][0] == {"name": "room", "value": "201"}
    assert orders["title"] == "Recent orders" and len(orders["rows"]) == 2
    assert all(re.fullmatch(r"R-\d{4}-\d{5}", row["cells"][0]["value"]) for row in orders["rows"])
    assert api("anna").get(f"/api/chat/conversations/{conv.pk}/card/").status_code in (403, 404)
    lobby = conv_of("discussions", slug="lobby")
    assert api("reception").get(f"/api/chat/conversations/{lobby.pk}/card/").status_code == 404


def test_starting_conversations(chat_resort):
    boris = api("boris")
    direct = boris.post("/api/chat/conversations/", {"chat": "reception", "text": "Hello!"}, format="json")
    assert direct.status_code == 201, direct.content
    assert direct.json()["client"]["id"] == user("boris").pk and direct.json()["side"] == "client"
    again = boris.post("/api/chat/conversations/", {"chat": "reception"}, format="json")
    assert again.json()["id"] == direct.json()["id"]  # one direct conversation per client
    order = chat_resort.model("service_order").objects.get(stay__guest__full_name="Boris Ivanov")
    ticket = boris.post("/api/chat/conversations/", {
        "chat": "claims", "text": "The car was late.", "values": {"order": order.pk, "subject": "Late transfer"}},
        format="json")
    assert ticket.status_code == 201, ticket.content
    claim = chat_resort.model("claim").objects.get(pk=ticket.json()["row"])
    assert (claim.subject, claim.order_id, claim.status) == ("Late transfer", order.pk, "open")
    assert re.fullmatch(rf"C-{timezone.localdate().year}-0002", claim.number)
    anna_order = chat_resort.model("service_order").objects.filter(stay__guest__full_name="Anna Petrova").first()
    foreign = boris.post("/api/chat/conversations/", {
        "chat": "claims", "values": {"order": anna_order.pk, "subject": "Not mine"}}, format="json")
    assert foreign.status_code == 400 and "order" in errors(foreign)
    missing = boris.post("/api/chat/conversations/", {"chat": "claims", "values": {"order": order.pk}},
                         format="json")
    assert missing.status_code == 400 and "subject" in errors(missing)
    assert boris.post("/api/chat/conversations/", {"chat": "discussions", "values": {"slug": "x", "title": "X"}},
                      format="json").status_code == 403
    assert errors(boris.post("/api/chat/conversations/", {}, format="json")) == {"chat": ["required"]}
    assert errors(boris.post("/api/chat/conversations/", {"chat": "nope"}, format="json")) == {"chat": ["invalid"]}
    assert errors(boris.post("/api/chat/conversations/", {"chat": "claims", "values": "x"}, format="json")) == {
        "values": ["invalid"]}


def test_staff_open_the_conversation_of_an_existing_ticket_row(chat_resort):
    claim = chat_resort.model("claim").objects.get()
    Conversation.objects.filter(chat="claims").delete()
    made = api("reception").post("/api/chat/conversations/", {"chat": "claims", "row": claim.pk}, format="json")
    assert made.status_code == 201, made.content
    assert made.json()["row"] == claim.pk and made.json()["title"].startswith("C-")
    assert api("boris").post("/api/chat/conversations/", {"chat": "claims", "row": claim.pk},
                             format="json").status_code == 404


def test_the_schema_lists_the_chat_paths(chat_resort):
    schema = api("reception").get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = sorted(p for p in schema.json()["paths"] if p.startswith("/api/chat/"))
    assert paths == CHAT_PATHS
    operations = schema.json()["paths"]["/api/chat/conversations/{id}/messages/"]
    assert set(operations) == {"get", "post"}
    assert "multipart/form-data" in operations["post"]["requestBody"]["content"]
    assert operations["get"]["tags"] == ["chat"]
    deletes = schema.json()["paths"]["/api/chat/messages/{id}/"]["delete"]["responses"]
    assert list(deletes) == ["200"]  # the message as it is now (deleted), not an empty 204
    members = schema.json()["paths"]["/api/chat/conversations/{id}/members/"]["get"]
    assert [p["name"] for p in members["parameters"]] == ["id"]  # a plain list, not paginated


def test_a_solution_without_chats_has_no_chat_api(publish_yaml):
    built, _ = publish_yaml("""
        entities:
          note: {fields: {text: string}}
    """)
    from django.urls import resolve
    from django.urls.exceptions import Resolver404

    with pytest.raises(Resolver404):
        resolve("/api/chat/chats/", urlconf=built.urlconf)


def count_queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries)


def test_query_counts_do_not_grow_with_rows(chat_resort):
    desk = api("reception")
    conv = conv_of("reception")
    url = f"/api/chat/conversations/{conv.pk}/messages/"
    desk.get("/api/chat/conversations/")  # warm the version's caches
    lists = count_queries(desk, "/api/chat/conversations/")
    messages = count_queries(desk, url)
    chats = count_queries(desk, "/api/chat/chats/")
    anna = api("anna")
    for i in range(12):
        anna.post(url, {"text": f"message {i}", "files": [png(f"p{i}.png")]}, format="multipart")
    for name in ("carol", "dave", "erin"):
        guest = get_user_model().objects.create_user(name, password="x")
        guest.groups.add(*user("anna").groups.all())
        api(name).post("/api/chat/conversations/", {"chat": "reception", "text": "hi"}, format="json")
    assert count_queries(desk, "/api/chat/conversations/") == lists
    assert count_queries(desk, url) == messages
    assert count_queries(desk, "/api/chat/chats/") == chats
