"""The chat service: every change in one transaction with its event, published after commit; reads with
constant query counts; offline notices once per unread streak (engine/chat/service.py, notify.py)."""
import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from engine.chat import live, service
from engine.chat.card import client_card
from engine.chat.errors import Closed, Conflict, Invalid, NotAllowed, NotVisible
from engine.chat.models import Attachment, ChatEvent, Conversation, Message, Participant
from engine.models import Outbox
from tests.engine.test_chat_policy import build_world

LINK = ' rel="nofollow noopener noreferrer" target="_blank">'
XSS = [
    ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
    ('<img src=x onerror="alert(1)">', "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"),
    ("javascript:alert(document.cookie)", "javascript:alert(document.cookie)"),
    ("[x](javascript:alert(1))", "[x](javascript:alert(1))"),
    ('"><svg onload=alert(1)>', "&quot;&gt;&lt;svg onload=alert(1)&gt;"),
    ('https://example.org/"onmouseover="alert(1)',
     f'<a href="https://example.org/"{LINK}https://example.org/</a>&quot;onmouseover=&quot;alert(1)'),
    ("see www.example.org/<b>", f'see <a href="http://www.example.org/"{LINK}www.example.org/</a>&lt;b&gt;'),
]
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def world(publish_yaml):
    return build_world(publish_yaml)


def events_of(conv):
    return list(ChatEvent.objects.filter(conversation=conv).values_list("kind", flat=True))


def test_post_writes_the_message_its_event_and_the_conversations_order(world):
    ann = world.access(world.ann)
    conv = service.start(ann, "reception")
    assert (conv.type, conv.client, conv.last_message_id, conv.waiting_since) == ("direct", world.ann, 0, None)
    assert service.start(ann, "reception") == conv  # one direct conversation per client
    message = service.post(ann, conv, "Hello\nhttps://example.org")
    conv.refresh_from_db()
    assert (conv.last_message_id, conv.waiting_since, conv.last_message_at) == (
        message.pk, message.created_at, message.created_at)
    event = ChatEvent.objects.get(conversation=conv)
    assert event.payload == {
        "id": event.pk, "conversation": conv.pk, "chat": "reception", "kind": "message",
        "data": {
            "id": message.pk, "conversation": conv.pk, "author": {"id": world.ann.pk, "name": "ann"},
            "side": "client", "text": "Hello\nhttps://example.org",
            "html": 'Hello<br>\n<a href="https://example.org" rel="nofollow noopener noreferrer" target="_blank">'
                    "https://example.org</a>",
            "created": message.created_at.astimezone(dt.UTC).isoformat(), "edited": None, "deleted": False,
            "attachments": [],
        },
    }
    staff_reply = service.post(world.access(world.rita), conv, "Welcome")
    conv.refresh_from_db()
    assert (conv.last_message_id, conv.waiting_since) == (staff_reply.pk, None)  # answered
    assert Participant.objects.get(conversation=conv, user=world.ann).last_read_id == message.pk


def test_events_are_published_only_after_commit(world):
    ann = world.access(world.ann)
    conv = service.start(ann, "reception")
    with live.subscribe([f"c:{conv.pk}"]) as sub:
        with transaction.atomic():
            message = service.post(ann, conv, "one")
            assert sub.get(timeout=0) is None  # not yet committed
        got = sub.get(timeout=1)
    assert (got["kind"], got["data"]["id"], got["id"]) == ("message", message.pk,
                                                           ChatEvent.objects.get(message=message).pk)
    with live.subscribe(["k:reception"]) as sub:
        with pytest.raises(RuntimeError), transaction.atomic():
            service.post(ann, conv, "rolled back")
            raise RuntimeError
        assert sub.get(timeout=0.2) is None
    assert list(Message.objects.filter(conversation=conv).values_list("text", flat=True)) == ["one"]


@pytest.mark.parametrize(("payload", "expected"), XSS)
def test_text_is_escaped_and_only_web_links_are_made(world, payload, expected):
    conv = service.start(world.access(world.ann), "reception")
    message = service.post(world.access(world.ann), conv, payload)
    assert service.message_payload(message)["html"] == expected
    assert message.text == payload  # stored as typed; escaped when shown


def test_text_limits(world):
    ann = world.access(world.ann)
    conv = service.start(ann, "reception")
    with pytest.raises(Invalid) as caught:
        service.post(ann, conv, "   ")
    assert caught.value.fields == {"text": [{"message": "Write a message or attach a file.", "code": "required"}]}
    with pytest.raises(Invalid) as caught:
        service.post(ann, conv, "x" * 4001)
    assert caught.value.as_dict() == {"detail": "At most 4000 characters.", "code": "invalid",
                                      "fields": {"text": [{"message": "At most 4000 characters.",
                                                           "code": "max_length"}]}}
    assert service.post(ann, conv, "x" * 4000).text == "x" * 4000


def test_a_guest_can_never_reach_another_guests_conversation(world):
    conv = service.start(world.access(world.ann), "reception", text="private")
    message = Message.objects.get(conversation=conv)
    bob = world.access(world.bob)
    calls = [lambda: service.post(bob, conv.pk, "hi"), lambda: service.messages(bob, conv.pk),
             lambda: service.messages(bob, conv), lambda: service.mark_read(bob, conv.pk),
             lambda: service.edit(bob, message.pk, "x"), lambda: service.delete(bob, message.pk),
             lambda: service.take(bob, conv.pk), lambda: service.members(bob, conv.pk),
             lambda: service.join(bob, conv.pk), lambda: service.add_member(bob, conv.pk, world.bob.pk)]
    for call in calls:
        with pytest.raises(NotVisible):
            call()
    assert events_of(conv) == ["message"]


def test_edit_and_delete_within_the_window_and_moderation(world):
    ann, rita = world.access(world.ann), world.access(world.rita)
    conv = service.start(ann, "reception", text="first")
    message = Message.objects.get(conversation=conv)
    edited = service.edit(ann, message.pk, "first, edited")
    assert (edited.text, edited.edited_at is not None) == ("first, edited", True)
    with pytest.raises(NotAllowed):
        service.edit(rita, message.pk, "staff may not rewrite a guest")
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - dt.timedelta(minutes=16))
    with pytest.raises(NotAllowed) as caught:
        service.edit(ann, message.pk, "too late")
    assert caught.value.code == "edit_window"
    with pytest.raises(NotAllowed):
        service.delete(ann, message.pk)
    deleted = service.delete(rita, message.pk)  # staff moderate
    assert (deleted.text, deleted.deleted_by, service.message_payload(deleted)["deleted"]) == ("", world.rita, True)
    with pytest.raises(Conflict):
        service.delete(rita, message.pk)
    assert events_of(conv) == ["message", "edit", "delete"]
    assert ChatEvent.objects.filter(kind="delete").get().payload["data"]["text"] == ""


def test_ticket_close_and_reopen_by_role(world):
    ann, rita = world.access(world.ann), world.access(world.rita)
    conv = service.start(ann, "claims", text="The lamp is broken", values={"subject": "Lamp"})
    with pytest.raises(NotAllowed):
        service.close(ann, conv)  # the close transition lists reception and manager only
    service.close(rita, conv)
    claim = world.built.model("claim").objects.get(pk=conv.row_id)
    assert claim.status == "closed"
    with pytest.raises(Closed) as caught:
        service.post(ann, conv, "still broken")
    assert caught.value.status_code == 409
    with pytest.raises(Conflict):
        service.close(rita, conv)  # already closed: the transition does not start here
    service.reopen(ann, conv)  # guests may reopen their own claim
    claim.refresh_from_db()
    assert claim.status == "open"
    assert service.post(ann, conv, "still broken").text == "still broken"
    states = [e.payload["data"] for e in ChatEvent.objects.filter(conversation=conv, kind="state")]
    assert states == [{"closed": True, "state": "closed", "operator": None},
                      {"closed": False, "state": "open", "operator": None}]


def test_ticket_values_are_checked_like_any_write(world):
    ann = world.access(world.ann)
    with pytest.raises(Invalid) as caught:
        service.start(ann, "claims", values={"subject": "x", "stay": world.stays["bob"].pk})  # not hers
    assert caught.value.fields == {"stay": [{"message": "Select a valid choice.", "code": "invalid_choice"}]}
    with pytest.raises(Invalid) as caught:
        service.start(ann, "claims", values={"stay": world.stays["ann"].pk})
    assert caught.value.fields["subject"][0]["code"] == "required"
    with pytest.raises(Invalid) as caught:
        service.start(ann, "claims", values={"subject": "x", "status": "closed"})
    assert list(caught.value.fields) == ["status"]
    assert Conversation.objects.filter(type="ticket").count() == 0
    assert world.built.model("claim").objects.count() == 0


def test_ticket_for_row_gets_or_creates_the_conversation_of_a_visible_row(world):
    claim = world.built.model("claim").objects.create(guest=world.guests["bob"], subject="Noise")
    conv = service.ticket_for_row(world.access(world.rita), "claims", claim.pk)
    assert (conv.row_id, conv.client, conv.type) == (claim.pk, world.bob, "ticket")
    assert service.ticket_for_row(world.access(world.bob), "claims", claim.pk) == conv
    for user in (world.ann, world.eve):
        with pytest.raises(NotVisible):
            service.ticket_for_row(world.access(user), "claims", claim.pk)


def test_take_and_hand_over(world):
    conv = service.start(world.access(world.ann), "reception", text="Hi")
    with pytest.raises(NotAllowed):
        service.take(world.access(world.ann), conv)
    conv = service.take(world.access(world.rita), conv)
    assert conv.operator == world.rita
    with pytest.raises(Invalid) as caught:
        service.hand_over(world.access(world.rita), conv, world.bob.pk)
    assert caught.value.fields == {"user": [{"message": "This person does not answer in this chat.",
                                             "code": "not_staff"}]}
    conv = service.hand_over(world.access(world.rita), conv, world.max.pk)
    assert conv.operator == world.max
    assert [e.payload["data"]["operator"] for e in ChatEvent.objects.filter(conversation=conv, kind="state")] == [
        {"id": world.rita.pk, "name": "rita"}, {"id": world.max.pk, "name": "max"}]


def test_group_join_leave_and_moderation(world):
    ann, bob, max_ = world.access(world.ann), world.access(world.bob), world.access(world.max)
    hall = service.channel(ann, "lobby", "hall")
    with pytest.raises(NotAllowed):
        service.post(ann, hall, "before joining")
    service.join(ann, hall)
    service.join(bob, hall)
    message = service.post(bob, hall, "spam")
    assert message.side == "member"
    with pytest.raises(NotAllowed):
        service.delete(ann, message.pk)
    service.delete(max_, message.pk)
    service.remove_member(max_, hall, world.bob)
    with pytest.raises(NotVisible):
        service.post(bob, hall.pk, "again")
    with pytest.raises(NotVisible):
        service.join(bob, hall.pk)
    service.leave(ann, hall)
    assert events_of(hall) == ["access", "access", "message", "delete", "access", "access"]
    assert [e.payload["data"] for e in ChatEvent.objects.filter(conversation=hall, kind="access")] == [
        {"user": world.ann.pk, "action": "join"}, {"user": world.bob.pk, "action": "join"},
        {"user": world.bob.pk, "action": "remove"}, {"user": world.ann.pk, "action": "leave"}]


def test_add_member_grants_and_remove_member_revokes_with_an_access_event(world):
    conv = service.start(world.access(world.ann), "reception", text="Hi")
    rita = world.access(world.rita)
    service.add_member(rita, conv, world.bob.pk)
    assert world.built.chat.get(world.access(world.bob), conv.pk) == conv
    with live.subscribe([f"c:{conv.pk}"]) as sub:
        service.remove_member(rita, conv, world.bob.pk)
        got = sub.get(timeout=1)
    assert (got["kind"], got["data"]) == ("access", {"user": world.bob.pk, "action": "remove"})
    with pytest.raises(NotVisible):
        world.built.chat.get(world.access(world.bob), conv.pk)
    with pytest.raises(Invalid) as caught:
        service.remove_member(rita, conv, world.ann.pk)
    assert caught.value.fields == {"user": [{"message": "The client of a conversation stays in it.",
                                             "code": "client"}]}


def test_messages_pages_and_constant_queries(world, django_assert_num_queries):
    ann = world.access(world.ann)
    conv = service.start(ann, "reception")
    sent = [service.post(ann, conv, f"m{i}") for i in range(6)]
    service.post(ann, conv, "with a file", [SimpleUploadedFile("a.pdf", PDF)])
    conv = world.built.chat.get(ann, conv.pk)
    with django_assert_num_queries(2):  # the messages with their authors, then their attachments
        assert [m.text for m in service.messages(ann, conv, limit=3)] == ["m4", "m5", "with a file"]
    assert [m.text for m in service.messages(ann, conv, before=sent[2].pk)] == ["m0", "m1"]
    assert [m.text for m in service.messages(ann, conv, after=sent[3].pk, limit=2)] == ["m4", "m5"]
    for i in range(10):
        service.post(ann, conv, f"more {i}", [SimpleUploadedFile(f"{i}.pdf", PDF)])
    with django_assert_num_queries(2):
        found = service.messages(ann, conv, limit=50)
        payloads = [service.message_payload(m) for m in found]
    assert len(payloads) == 17 and sum(len(p["attachments"]) for p in payloads) == 11
    with pytest.raises(Invalid):
        service.messages(ann, conv, before="x")


def test_conversations_and_unread_counts_in_constant_queries(world, django_assert_num_queries):
    rita = world.access(world.rita)
    convs = []
    for name in ("ann", "bob"):
        user = getattr(world, name)
        convs.append(service.start(world.access(user), "reception", text=f"hello from {name}"))
    service.start(world.access(world.ann), "claims", text="claim", values={"subject": "Lamp"})
    service.unread(rita)  # warm the role and grant caches
    with django_assert_num_queries(1):
        counts = service.unread(rita)
    assert counts == {"reception": 2, "claims": 1}
    with django_assert_num_queries(1):
        rows = list(service.conversations(rita, "reception"))
    assert [(c.client.username, c.unread, c.last_text) for c in rows] == [
        ("ann", 1, "hello from ann"), ("bob", 1, "hello from bob")]  # oldest unanswered first
    service.post(world.access(world.ann), convs[0], "still there?")
    assert [c.unread for c in service.conversations(rita, "reception")] == [2, 1]
    service.mark_read(rita, convs[0])
    service.post(rita, convs[1], "answer")
    assert service.unread(rita) == {"reception": 0, "claims": 1}
    # max never opened them: what a client still waits for counts, what rita answered does not
    assert service.unread(world.access(world.max)) == {"reception": 1, "claims": 1, "lobby": 0, "club": 0}
    assert service.unread(world.access(world.bob)) == {"reception": 1, "claims": 0, "lobby": 0, "club": 0}
    assert [c.client.username for c in service.conversations(rita, "reception", state="waiting")] == ["ann"]
    service.take(rita, convs[0])
    assert [c.client.username for c in service.conversations(rita, "reception", operator="mine")] == ["ann"]
    assert [c.client.username for c in service.conversations(rita, "reception", operator="unassigned")] == ["bob"]
    for bad in ({"state": "nope"}, {"operator": "x"}):
        with pytest.raises(Invalid):
            service.conversations(rita, "reception", **bad)


def test_closed_filter_reads_the_ticket_rows_state(world):
    rita = world.access(world.rita)
    open_one = service.start(world.access(world.ann), "claims", values={"subject": "a"})
    closed_one = service.start(world.access(world.bob), "claims", values={"subject": "b"})
    service.close(rita, closed_one)
    assert [c.pk for c in service.conversations(rita, "claims", state="open")] == [open_one.pk]
    assert [c.pk for c in service.conversations(rita, "claims", state="closed")] == [closed_one.pk]


def test_read_receipts(world):
    ann, rita = world.access(world.ann), world.access(world.rita)
    conv = service.start(ann, "reception", text="one")
    service.post(ann, conv, "two")
    conv.refresh_from_db()
    assert service.mark_read(rita, conv.pk) == conv.last_message_id
    assert service.mark_read(rita, conv.pk) == conv.last_message_id  # nothing new: no second event
    assert service.mark_read(rita, conv.pk, upto=10**9) == conv.last_message_id  # clamped
    reads = [e.payload["data"] for e in ChatEvent.objects.filter(conversation=conv, kind="read")]
    assert reads == [{"user": world.rita.pk, "upto": conv.last_message_id}]


def test_offline_notices_once_per_unread_streak(world, monkeypatch):
    online = set()
    monkeypatch.setattr(live, "is_online", lambda user_id: user_id in online)
    ann, rita = world.access(world.ann), world.access(world.rita)
    conv = service.start(ann, "reception", text="hello")
    assert Outbox.objects.count() == 0  # no one took it: the inbox shows it, no one is notified
    service.take(rita, conv)
    service.post(ann, conv, "are you there?")
    notice = Outbox.objects.get()
    assert (notice.kind, notice.entity, notice.object_id) == ("notify", "chat", conv.pk)
    assert notice.payload == {"to": world.rita.pk, "event": "chat_message", "conversation": conv.pk,
                              "chat": "reception",
                              "message": {"en": "Chat with reception — ann: are you there?",
                                          "ru": "Чат с ресепшн — ann: are you there?"}}
    service.post(ann, conv, "hello??")
    assert Outbox.objects.count() == 1  # same unread streak
    service.mark_read(rita, conv)
    online.add(world.rita.pk)
    service.post(ann, conv, "thanks")
    assert Outbox.objects.count() == 1  # online: the stream shows it
    online.clear()
    service.post(ann, conv, "bye")
    assert Outbox.objects.count() == 2
    service.post(rita, conv, "bye to you")
    assert list(Outbox.objects.order_by("pk").values_list("payload__to", flat=True)) == [
        world.rita.pk, world.rita.pk, world.ann.pk]


def test_attachments_are_stored_under_random_names(world, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    ann = world.access(world.ann)
    conv = service.start(ann, "reception", files=[SimpleUploadedFile("../../etc/<img src=x onerror=alert(1)>.pdf", PDF)])
    message = Message.objects.get(conversation=conv)
    attachment = Attachment.objects.get(message=message)
    assert (attachment.name, attachment.content_type, attachment.size, attachment.is_image) == (
        "<img src=x onerror=alert(1)>.pdf", "application/pdf", len(PDF), False)
    assert "img" not in attachment.file.name and attachment.file.name.startswith("chat/")
    assert service.message_payload(message)["attachments"] == [
        {"id": attachment.pk, "name": "<img src=x onerror=alert(1)>.pdf", "size": len(PDF), "type": "application/pdf",
         "is_image": False, "url": f"/chat/files/{attachment.pk}/"}]
    stored = attachment.file.name
    assert (tmp_path / stored).read_bytes() == PDF
    service.delete(ann, message.pk)
    assert not Attachment.objects.filter(pk=attachment.pk).exists()
    assert not (tmp_path / stored).exists()


def test_client_card_through_the_readers_field_policy(world):
    Stay = world.built.model("stay")
    Stay.objects.create(guest=world.guests["ann"], room="R7", check_out=dt.date(2026, 5, 2))
    Stay.objects.create(guest=world.guests["ann"], room="R0", check_out=dt.date(2026, 6, 1))  # filtered out
    conv = service.start(world.access(world.ann), "reception", text="Hi")
    rita = world.access(world.rita)
    assert client_card(rita, conv.pk) == {
        "entity": "guest", "id": world.guests["ann"].pk, "title": "Ann", "user": {"id": world.ann.pk, "name": "ann"},
        "fields": [{"name": "name", "label": "Name", "value": "Ann"},
                   {"name": "email", "label": "Email", "value": "ann@x.org"}],  # vip is hidden from reception
        "related": [{"entity": "stay", "title": "Stays",
                     "columns": [{"name": "room", "label": "Room"}, {"name": "check_out", "label": "Check out"}],
                     "rows": [{"id": world.stays["ann"].pk + 2, "title": "R7", "values": ["R7", "05/02/2026"],
                               "cells": [{"name": "room", "value": "R7"}, {"name": "check_out", "value": "05/02/2026"}]},
                              {"id": world.stays["ann"].pk, "title": "R1", "values": ["R1", ""],
                               "cells": [{"name": "room", "value": "R1"}, {"name": "check_out", "value": ""}]}]}],
    }
    manager_card = client_card(world.access(world.max), conv)
    assert manager_card["fields"][-1] == {"name": "vip", "label": "Vip", "value": "No"}
    assert client_card(world.access(world.ann), conv) is None  # the client does not see a card of themselves
    with pytest.raises(NotVisible):
        client_card(world.access(world.bob), conv.pk)
    hall = service.channel(world.access(world.max), "lobby", "hall")
    assert client_card(world.access(world.max), hall) is None


def test_client_card_queries_are_constant(world):
    Stay = world.built.model("stay")
    conv = service.start(world.access(world.ann), "reception", text="Hi")
    rita = world.access(world.rita)
    conv = world.built.chat.get(rita, conv.pk)
    client_card(rita, conv)
    with CaptureQueriesContext(connection) as one:
        client_card(rita, conv)
    for i in range(5):
        Stay.objects.create(guest=world.guests["ann"], room=f"S{i}", check_out=dt.date(2026, 1, 1 + i))
    with CaptureQueriesContext(connection) as many:
        card = client_card(rita, conv)
    assert [r["title"] for r in card["related"][0]["rows"]] == ["S4", "S3"]
    assert len(many.captured_queries) == len(one.captured_queries) <= 4


def test_files_of_a_failed_post_do_not_stay_in_storage(world, settings, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = tmp_path
    ann = world.access(world.ann)
    conv = service.start(ann, "reception")

    def broken(*args, **kwargs):
        raise RuntimeError("the event log is down")

    monkeypatch.setattr(service.events, "emit", broken)
    with pytest.raises(RuntimeError):
        service.post(ann, conv, "", [SimpleUploadedFile("a.pdf", PDF)])
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    assert not Attachment.objects.exists() and not Message.objects.exists()


def test_every_change_checks_visibility_then_its_right_on_the_locked_conversation(world):
    """The changes share one entry (``service._changing``): a conversation the user does not see is
    ``NotVisible`` whatever else is wrong; a visible one without the right is ``NotAllowed`` (after the named
    account is resolved); nothing is written either way."""
    ann, bob = world.access(world.ann), world.access(world.bob)
    conv = service.start(ann, "reception", text="Hi")
    message = Message.objects.get(conversation=conv)
    changes = {
        "post": lambda a, who: service.post(a, conv.pk, "x"),
        "edit": lambda a, who: service.edit(a, message.pk, "x"),
        "delete": lambda a, who: service.delete(a, message.pk),
        "take": lambda a, who: service.take(a, conv.pk),
        "hand_over": lambda a, who: service.hand_over(a, conv.pk, who),
        "close": lambda a, who: service.close(a, conv.pk),
        "reopen": lambda a, who: service.reopen(a, conv.pk),
        "join": lambda a, who: service.join(a, conv.pk),
        "leave": lambda a, who: service.leave(a, conv.pk),
        "add_member": lambda a, who: service.add_member(a, conv.pk, who),
        "remove_member": lambda a, who: service.remove_member(a, conv.pk, who),
    }
    before = (ChatEvent.objects.count(), Participant.objects.count(), Message.objects.count())
    for change in changes.values():
        with pytest.raises(NotVisible):
            change(bob, 10**9)  # not his conversation: that is the answer, not the unknown account
    targeted = ("hand_over", "add_member", "remove_member")
    for name in ("take", "close", "reopen", "join", "leave", *targeted):
        with pytest.raises(NotAllowed):
            changes[name](ann, world.rita.pk)
    for name in targeted:
        with pytest.raises(Invalid) as caught:
            changes[name](ann, 10**9)
        assert [e["code"] for e in caught.value.fields["user"]] == ["unknown"]
    assert (ChatEvent.objects.count(), Participant.objects.count(), Message.objects.count()) == before


def test_a_change_judges_the_conversation_as_it_is_when_locked(world):
    """A conversation object read before a moderator closed the channel: the post reads it again under
    the lock and is refused as closed."""
    ann, max_ = world.access(world.ann), world.access(world.max)
    hall = service.channel(max_, "lobby", "hall")
    service.join(ann, hall.pk)
    stale = service.channel(ann, "lobby", "hall")
    service.close(max_, hall.pk)
    with pytest.raises(Closed):
        service.post(ann, stale, "still open?")
    service.reopen(max_, hall.pk)
    assert service.post(ann, stale, "open again").text == "open again"


def test_starting_channels_and_who_may_start(world):
    max_ = world.access(world.max)
    wine = service.start(max_, "club", values={"slug": "wine", "title": "Wine club"})
    assert (wine.type, wine.slug, wine.title) == ("group", "wine", "Wine club")
    assert Participant.objects.get(conversation=wine).side == "moderator"
    for values, code in (({"slug": "Bad Slug"}, "invalid"), ({"slug": "wine"}, "unique")):
        with pytest.raises(Invalid) as caught:
            service.start(max_, "club", values=values)
        assert [item["code"] for item in caught.value.fields["slug"]] == [code]
    with pytest.raises(NotAllowed):
        service.start(world.access(world.ann), "lobby", values={"slug": "mine"})  # members do not create
    with pytest.raises(NotVisible):
        service.start(world.access(world.eve), "lobby", values={"slug": "mine"})
    with pytest.raises(NotVisible):
        service.start(world.access(world.ann), "no_such_chat")
    with pytest.raises(NotAllowed):
        service.start(world.access(world.rita), "reception", text="staff have no own thread")
    assert Conversation.objects.filter(type="group").count() == 1
