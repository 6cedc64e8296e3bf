"""The resort uses the chat: its chats compile, the demo posts its conversations, claims are numbered and
closed and reopened through their workflow; demo conversations are checked like other demo data."""
import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from engine import writes
from engine.access import AccessDenied
from engine.compiler import compile_folder, compile_sources
from engine.loader import data_sources, read_folder


@pytest.fixture
def resort(solution):
    out = io.StringIO()
    call_command("demo", seed_only=True, stdout=out)
    solution.demo_output = out.getvalue()
    return solution


def user(username):
    return get_user_model().objects.get(username=username)


def test_the_resort_declares_its_three_chats_and_their_pages():
    compiled = compile_folder("solutions/resort")
    assert compiled.problems == []
    spec = compiled.spec
    reception, discussions, claims = (spec.chat(n) for n in ("reception", "discussions", "claims"))
    assert (reception.type, reception.clients, reception.staff) == ("direct", ("guest",), ("reception", "manager"))
    assert (reception.max_size, reception.attachment_kinds) == (5 * 1024 * 1024, ("image", "pdf"))
    assert reception.card.entity == "guest" and reception.card.fields == (
        "full_name", "email", "phone", "language", "loyalty_points")
    assert [(r.entity, r.via, r.limit) for r in reception.card.related] == [
        ("stay", "guest", 1), ("service_order", "stay.guest", 5)]
    assert (discussions.type, discussions.members, discussions.moderators, discussions.join) == (
        "group", ("guest",), ("reception", "manager"), "open")
    assert [c.name for c in discussions.channels] == ["lobby", "excursions", "families"]
    assert (claims.type, claims.entity, claims.about, claims.close, claims.reopen, claims.closed_states) == (
        "ticket", "claim", "order", "close", "reopen", ("closed",))
    pages = {p.name: (p.kind, p.chats, p.roles) for p in spec.pages if p.kind in ("chat", "inbox")}
    assert pages == {
        "chat": ("chat", ("reception",), ("guest",)),
        "discussions": ("chat", ("discussions",), ("guest",)),
        "claims": ("chat", ("claims",), ("guest",)),
        "inbox": ("inbox", ("reception", "claims", "discussions"), ("reception", "manager")),
    }
    assert [(name, len(items)) for name, items in compiled.data.chats] == [
        ("reception", 1), ("claims", 1), ("discussions", 1)]


def test_the_demo_loads_its_conversations(resort):
    from engine.chat.models import Conversation, Message

    assert "chat reception 3" in resort.demo_output and "chat discussions 2" in resort.demo_output
    anna = Conversation.objects.get(chat="reception")
    assert anna.client == user("anna") and anna.type == "direct"
    thread = list(Message.objects.filter(conversation=anna).order_by("id"))
    assert [(m.author.username, m.side) for m in thread] == [
        ("anna", "client"), ("reception", "staff"), ("anna", "client")]
    assert [m.created_at for m in thread] == sorted(m.created_at for m in thread)
    assert timezone.now() - thread[0].created_at > timezone.timedelta(hours=4)
    # Anna's last question waits for an answer since it was written.
    assert anna.waiting_since == thread[2].created_at and anna.last_message_at == thread[2].created_at
    claim = resort.model("claim").objects.get()
    ticket = Conversation.objects.get(chat="claims")
    assert ticket.row_id == claim.pk and claim.order.service.name == "Breakfast in bed"
    assert Message.objects.get(conversation=ticket).text.startswith("The breakfast this morning arrived cold")
    lobby = Conversation.objects.get(chat="discussions", slug="lobby")
    assert [m.author.username for m in Message.objects.filter(conversation=lobby)] == ["boris", "anna"]
    assert sorted(Conversation.objects.filter(chat="discussions").values_list("slug", flat=True)) == [
        "excursions", "families", "lobby"]


def test_the_demo_leaves_existing_conversations_alone(resort):
    from engine.chat.models import Message

    before = Message.objects.count()
    call_command("demo", seed_only=True, stdout=io.StringIO())
    assert Message.objects.count() == before


def test_claims_are_numbered_by_year_and_walk_their_workflow(resort):
    Claim = resort.model("claim")
    order = resort.model("service_order").objects.get(stay__guest__full_name="Boris Ivanov")
    year = timezone.localdate().year
    assert Claim.objects.get().number == f"C-{year}-0001"
    boris = resort.policy.for_user(user("boris"))
    made = writes.create(boris, "claim", {"order": order, "subject": "Late transfer"}, source="api")
    assert re.fullmatch(rf"C-{year}-0002", made.number) and made.status == "open"
    writes.transition(boris, "claim", made, "close", source="api")
    assert Claim.objects.get(pk=made.pk).status == "closed"
    with pytest.raises(AccessDenied):  # guests do not reopen
        writes.transition(boris, "claim", made, "reopen", source="api")
    desk = resort.policy.for_user(user("reception"))
    writes.transition(desk, "claim", made, "reopen", source="api")
    assert Claim.objects.get(pk=made.pk).status == "open"


def test_guests_see_claims_about_their_own_orders_only(resort):
    Claim = resort.model("claim")
    order = resort.model("service_order").objects.get(stay__guest__full_name="Boris Ivanov")
    writes.create(resort.policy.for_user(user("boris")), "claim", {"order": order, "subject": "x"}, source="api")
    seen = {name: set(resort.policy.for_user(user(name)).queryset("claim", "view").values_list("subject", flat=True))
            for name in ("anna", "boris", "reception")}
    assert seen == {"anna": {"Breakfast arrived cold"}, "boris": {"x"},
                    "reception": {"Breakfast arrived cold", "x"}}
    assert Claim.objects.count() == 2


BAD = """\
chats:
  recepton: []
  reception:
    - client: boris
      messages:
        - {from: anna, text: hi}
        - {from: reception, text: '', at: $now-2h, by: x}
    - {client: reception}
  claims:
    - {row: {subject: nope}, messages: [{from: boris, text: hi, at: $now}, {from: anna, text: x, at: $now-1h}]}
  discussions:
    - {channel: lobbi, members: [reception, zed]}
    - {messages: [{from: anna, text: hi, at: tomorrow}]}
"""


def test_bad_demo_conversations_are_located_and_coded():
    data = data_sources("solutions/resort")
    data["data/chats.yaml"] = BAD.encode()
    problems = [str(p) for p in compile_sources(read_folder("solutions/resort"), data).problems]
    assert problems == [
        "data/chats.yaml:2:3: cabinet.E104 'chats.recepton' names no chat of the solution; did you mean "
        "'reception'? (hint: chats: reception, discussions, claims)",
        "data/chats.yaml:6:18: cabinet.E104 'chats.reception[0].messages[0].from': user 'anna' may not write in "
        "chat 'reception' (hint: writers: the conversation's client or users with a role of reception, manager)",
        "data/chats.yaml:7:35: cabinet.E221 'chats.reception[0].messages[1].text' must be a text of 1 to 4000 "
        "characters without NUL",
        "data/chats.yaml:7:52: cabinet.E101 'chats.reception[0].messages[1].by' is not a key of a demo message "
        "(hint: allowed keys here: from, text, at)",
        "data/chats.yaml:8:16: cabinet.E104 'chats.reception[1].client': user 'reception' holds none of the client "
        "roles of chat 'reception' (hint: client roles: guest)",
        "data/chats.yaml:10:13: cabinet.E222 'chats.claims[0].row' ({subject: 'nope'}) matches no 'claim' row among "
        "those listed before it (hint: give values that pick exactly one row, and list the rows it refers to "
        "first)",
        "data/chats.yaml:10:102: cabinet.E105 'chats.claims[0].messages[1].at' ($now-1h) is earlier than the "
        "message before it ($now) (hint: list the messages in the order they were written)",
        "data/chats.yaml:12:17: cabinet.E104 'chats.discussions[0].channel' names no channel of chat "
        "'discussions'; did you mean 'lobby'? (hint: channels: lobby, excursions, families)",
        "data/chats.yaml:12:34: cabinet.E104 'chats.discussions[0].members[0]': user 'reception' holds none of the "
        "member roles of chat 'discussions' (hint: member roles: guest)",
        "data/chats.yaml:12:45: cabinet.E223 'chats.discussions[0].members[1]' names the user 'zed', whom the demo "
        "data does not define (hint: add the user under 'users:' or fix the name)",
        "data/chats.yaml:13:7: cabinet.E102 'chats.discussions[1]' needs 'channel' (hint: add 'channel:')",
    ]


def test_a_solution_without_chats_refuses_a_chats_section():
    solution = "solution: {name: shop, languages: [en]}\nentities:\n  item: {fields: {name: string}}\n"
    problems = [str(p) for p in compile_sources({"solution.yaml": solution},
                                                {"data/demo.yaml": "chats: {}\n"}).problems]
    assert problems == ["data/demo.yaml:1:1: cabinet.E101 'chats' is not a known key of demo data (hint: allowed "
                        "keys here: users, records)"]
