"""The chat pages: a guest's conversation, tickets and channels (``kind: chat``) and the staff inbox
(``kind: inbox``): rendering, isolation, actions through the service, escaping, query counts, menu badges and
the page checks E390-E392."""
import re
import textwrap

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from engine.chat import service
from engine.chat.models import Conversation, Message
from engine.chat.page_checks import check_chat_pages
from engine.checks import Checker
from engine.loader import load_sources
from engine.spec import make_solution_spec
from engine.validate import validate_document
from tests.conftest import HEADER, dedent
from tests.engine.chat_solution import CHAT_YAML, person

XSS = '<script>alert(1)</script><img src=x onerror=alert(2)>'


@pytest.fixture
def chat(publish_yaml):
    built, _ = publish_yaml(CHAT_YAML)
    return built


@pytest.fixture
def people(chat):
    return {"anna": person("anna", "guest", chat, "Anna Berg"), "boris": person("boris", "guest", chat, "Boris Li"),
            "rita": person("rita", "reception", chat, "Rita Desk"), "sam": person("sam", "reception", chat, "Sam Shift")}


def access(built, user):
    return built.policy.for_user(user)


def say(built, user, text, conv=None, chat="reception"):
    """``user`` writes ``text`` (a guest's first message starts their direct conversation)."""
    a = access(built, user)
    if conv is None:
        return service.start(a, chat, text=text)
    service.post(a, conv, text)
    return conv


def main_html(response):
    html = response.content.decode()
    return html[html.index('<main id="main">'):html.index("</main>")]


def test_a_guest_starts_their_conversation_with_the_first_message(chat, people, client):
    client.force_login(people["anna"])
    first = client.get("/p/chat/")
    assert first.status_code == 200
    html = main_html(first)
    assert 'action="/p/chat/start/"' in html and "Write your question; we answer here." in html
    assert "data-streams=\"\"" in html  # nothing to listen to before the conversation exists
    answer = client.post("/p/chat/start/", {"text": "Is the pool open?"})
    conv = Conversation.objects.get(chat="reception", client=people["anna"])
    assert answer.status_code == 302 and answer["Location"] == f"/p/chat/c/{conv.pk}/"
    page = main_html(client.get("/p/chat/"))  # the page is now her conversation, without a list
    assert "Is the pool open?" in page and 'class="chat-list"' not in page
    assert f'data-streams="/chat/stream/?conversation={conv.pk}"' in page
    assert '<h1 id="thread-title">Reception</h1>' in page  # the page's title


def test_the_chat_speaks_the_readers_language(chat, people, client):
    client.force_login(people["anna"])
    client.post("/i18n/setlang/", {"language": "ru", "next": "/p/chat/"})
    html = main_html(client.get("/p/chat/"))
    assert "Напишите свой вопрос — мы ответим здесь." in html and ">Отправить</button>" in html


def test_posting_without_javascript_and_with_fetch(chat, people, client):
    conv = say(chat, people["anna"], "Hello")
    client.force_login(people["anna"])
    plain = client.post(f"/p/chat/c/{conv.pk}/", {"text": "Second"})
    second = Message.objects.get(text="Second")
    assert plain.status_code == 302 and plain["Location"] == f"/p/chat/c/{conv.pk}/#m-{second.pk}"
    fetched = client.post(f"/p/chat/c/{conv.pk}/", {"text": "Third <b>bold</b>"}, HTTP_ACCEPT="application/json")
    third = Message.objects.get(text="Third <b>bold</b>")
    assert fetched.status_code == 201
    body = fetched.json()
    assert (body["id"], body["conversation"], body["author"], body["side"], body["text"], body["deleted"]) == (
        third.pk, conv.pk, {"id": people["anna"].pk, "name": "Anna Berg"}, "client", "Third <b>bold</b>", False)
    assert "&lt;b&gt;bold&lt;/b&gt;" in body["html"] and "<b>" not in body["html"]
    blank = client.post(f"/p/chat/c/{conv.pk}/", {"text": "   "}, HTTP_ACCEPT="application/json")
    assert blank.status_code == 400
    assert blank.json() == {"detail": "Write a message or attach a file.", "code": "invalid",
                            "fields": {"text": [{"message": "Write a message or attach a file.", "code": "required"}]}}
    again = client.post(f"/p/chat/c/{conv.pk}/", {"text": ""})  # without JavaScript: the page with the error
    assert again.status_code == 400 and "Write a message or attach a file." in main_html(again)


def test_xss_in_text_and_file_names_is_inert(chat, people, client):
    conv = say(chat, people["anna"], XSS)
    upload = SimpleUploadedFile('<img src=x onerror=alert(3)>".txt', b"plain words", content_type="text/plain")
    service.post(access(chat, people["anna"]), conv, "file", files=[upload])
    client.force_login(people["rita"])
    for url in (f"/p/inbox/c/{conv.pk}/", "/p/inbox/", "/p/inbox/?fragment=list"):
        html = client.get(url).content.decode()
        assert "<script>alert" not in html and "<img src=x" not in html and "alert(2)>" not in html, url
        assert "alert(3)>" not in html, url
    thread = client.get(f"/p/inbox/c/{conv.pk}/").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in thread  # shown as text
    assert 'download>&lt;img src=x onerror=alert(3)&gt;&quot;.txt</a>' in thread


def test_a_guest_cannot_open_another_guests_conversation(chat, people, client):
    conv = say(chat, people["anna"], "private")
    message = conv.messages.get()
    client.force_login(people["boris"])
    assert client.get(f"/p/chat/c/{conv.pk}/").status_code == 404
    assert client.get(f"/p/chat/c/{conv.pk}/?fragment=list").status_code == 404
    assert client.post(f"/p/chat/c/{conv.pk}/", {"text": "hi"}).status_code == 404
    assert client.post(f"/p/chat/c/{conv.pk}/read/").status_code == 404
    assert client.post(f"/p/chat/c/{conv.pk}/m/{message.pk}/delete/").status_code == 404
    assert client.post(f"/p/chat/c/{conv.pk}/m/{message.pk}/edit/", {"text": "x"}).status_code == 404
    assert client.get(f"/p/inbox/c/{conv.pk}/").status_code == 404  # a page the guest may not open
    assert client.get(f"/p/claims/c/{conv.pk}/").status_code == 404  # a page of another chat
    assert client.get("/p/chat/c/999999/").status_code == 404
    assert "private" not in client.get("/p/chat/").content.decode()
    assert Message.objects.filter(conversation=conv).count() == 1 and conv.messages.get().text == "private"


def test_inbox_lists_the_oldest_unanswered_first_with_unread_counts(chat, people, client):
    anna = say(chat, people["anna"], "first question")
    boris = say(chat, people["boris"], "second question")
    say(chat, people["boris"], "and another", boris)
    client.force_login(people["rita"])
    html = main_html(client.get("/p/inbox/"))
    titles = re.findall(r'<strong class="conv-title">([^<]+)</strong>', html)
    assert titles == ["Anna Berg", "Boris Li"]
    unread = re.findall(r'unread: </span>(\d+)</span>', html)
    assert unread == ["1", "2"]
    assert 'data-streams="/chat/stream/?chat=reception /chat/stream/?chat=claims"' in html
    service.post(access(chat, people["rita"]), anna, "We open at eight.")  # answered: no longer waiting
    waiting = main_html(client.get("/p/inbox/?state=waiting"))
    assert re.findall(r'<strong class="conv-title">([^<]+)</strong>', waiting) == ["Boris Li"]
    service.take(access(chat, people["sam"]), boris)
    mine = main_html(client.get("/p/inbox/?operator=mine"))
    assert "conv-title" not in mine and "No conversations here." in mine
    unassigned = main_html(client.get("/p/inbox/?operator=unassigned"))
    assert re.findall(r'<strong class="conv-title">([^<]+)</strong>', unassigned) == ["Anna Berg"]
    odd = client.get("/p/inbox/?state=%00&operator=nobody&chat=zzz&page=x")  # unknown filters: the defaults
    assert odd.status_code == 200
    fragment = client.get("/p/inbox/?state=all&operator=unassigned&fragment=list").content.decode()
    assert fragment.lstrip().startswith('<ul class="conversations"')  # the list alone, for chat.js to swap in
    assert re.findall(r'href="([^"]+)"', fragment) == [f"/p/inbox/c/{anna.pk}/?state=all&amp;operator=unassigned"]


def test_the_inbox_pages_its_list_keeping_the_filters(chat, people, client, monkeypatch):
    monkeypatch.setattr("engine.pages.chat.LIST_SIZE", 1)
    say(chat, people["anna"], "first")
    say(chat, people["boris"], "second")
    client.force_login(people["rita"])
    first = main_html(client.get("/p/inbox/?state=waiting"))
    assert re.findall(r'<strong class="conv-title">([^<]+)</strong>', first) == ["Anna Berg"]
    assert '<a href="?state=waiting&amp;page=2">Next</a>' in first and "Page 1 of 2" in first
    second = main_html(client.get("/p/inbox/?state=waiting&page=2"))
    assert re.findall(r'<strong class="conv-title">([^<]+)</strong>', second) == ["Boris Li"]
    assert '<a href="?state=waiting&amp;page=1">Previous</a>' in second


def test_the_inbox_conversation_take_hand_over_and_the_thread(chat, people, client):
    conv = say(chat, people["anna"], "Towels, please")
    guest = chat.model("guest").objects.get(user=people["anna"])
    chat.model("stay").objects.create(guest=guest, room="214")
    client.force_login(people["rita"])
    page = main_html(client.get(f"/p/inbox/c/{conv.pk}/"))
    assert 'class="chat has-list has-thread has-card inbox"' in page
    card = page[page.index('<aside class="chat-card card"'):page.index("</aside>")]
    assert re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", card)).strip() == (
        "Anna Berg Full name Anna Berg Phone +100 Stays Anna Berg · 214 Room 214")
    assert f'<a href="/p/guests/{guest.pk}/">Anna Berg</a>' in card  # the profile, where the reader has it
    assert '<h2 id="thread-title">Anna Berg</h2>' in page and "Towels, please" in page
    assert f'action="/p/inbox/c/{conv.pk}/take/"' in page
    assert f'<option value="{people["sam"].pk}">Sam Shift</option>' in page
    assert client.post(f"/p/inbox/c/{conv.pk}/take/").status_code == 302
    conv.refresh_from_db()
    assert conv.operator == people["rita"]
    taken = main_html(client.get(f"/p/inbox/c/{conv.pk}/"))
    assert "Answered by Rita Desk" in taken and f'action="/p/inbox/c/{conv.pk}/take/"' not in taken
    fragment = client.get(f"/p/inbox/c/{conv.pk}/?fragment=thread").content.decode()  # what chat.js swaps in
    assert fragment.startswith('<section class="chat-thread"') and fragment.rstrip().endswith("</section>")
    assert "Answered by Rita Desk" in fragment and "<style" not in fragment
    handed = client.post(f"/p/inbox/c/{conv.pk}/hand_over/", {"user": people["sam"].pk})
    assert handed.status_code == 302
    conv.refresh_from_db()
    assert conv.operator == people["sam"]
    refused = client.post(f"/p/inbox/c/{conv.pk}/hand_over/", {"user": people["boris"].pk})
    assert refused.status_code == 400 and "This person does not answer in this chat." in main_html(refused)


def test_read_receipts_show_seen_on_the_last_message_read(chat, people, client):
    conv = say(chat, people["anna"], "one")
    say(chat, people["anna"], "two", conv)
    client.force_login(people["anna"])
    assert main_html(client.get(f"/p/chat/c/{conv.pk}/")).count('<span class="seen">') == 0
    client.force_login(people["rita"])
    client.get(f"/p/inbox/c/{conv.pk}/")  # opening the conversation reads it
    client.force_login(people["anna"])
    html = main_html(client.get(f"/p/chat/c/{conv.pk}/"))
    assert html.count('<span class="seen"> · Seen</span>') == 1
    assert html.index("two") < html.index('<span class="seen"> · Seen</span>')


def test_edit_and_delete_own_messages_and_moderation(chat, people, client):
    conv = say(chat, people["anna"], "typo hre")
    message = conv.messages.get()
    client.force_login(people["anna"])
    edited = client.post(f"/p/chat/c/{conv.pk}/m/{message.pk}/edit/", {"text": "typo here"},
                         HTTP_ACCEPT="application/json")
    assert edited.status_code == 200 and edited.json()["text"] == "typo here" and edited.json()["edited"]
    client.force_login(people["rita"])
    page = main_html(client.get(f"/p/inbox/c/{conv.pk}/"))
    assert f'action="/p/inbox/c/{conv.pk}/m/{message.pk}/delete/" data-delete>' in page  # staff moderate
    assert client.post(f"/p/inbox/c/{conv.pk}/m/{message.pk}/edit/", {"text": "x"}).status_code == 403
    deleted = client.post(f"/p/inbox/c/{conv.pk}/m/{message.pk}/delete/")
    assert deleted.status_code == 302
    message.refresh_from_db()
    assert message.deleted_at is not None and message.text == ""
    assert "This message was deleted." in main_html(client.get(f"/p/inbox/c/{conv.pk}/"))


def test_a_ticket_is_opened_from_the_list_with_its_fields_and_closed_by_staff(chat, people, client):
    stay = chat.model("stay").objects.create(guest=chat.model("guest").objects.get(user=people["anna"]), room="12")
    client.force_login(people["anna"])
    listing = main_html(client.get(f"/p/claims/?about={stay.pk}"))
    assert '<details class="card chat-new" open>' in listing
    assert f'<option value="{stay.pk}" selected>' in listing and 'name="row-subject"' in listing
    missing = client.post("/p/claims/start/", {"row-subject": "", "text": "The shower"})
    assert missing.status_code == 400 and "This field is required." in main_html(missing)
    opened = client.post("/p/claims/start/", {"row-subject": "Cold shower", "row-stay": stay.pk, "text": "No hot water"})
    conv = Conversation.objects.get(chat="claims")
    assert opened.status_code == 302 and opened["Location"] == f"/p/claims/c/{conv.pk}/"
    claim = chat.model("claim").objects.get()
    assert (claim.subject, claim.stay_id, claim.author_id, conv.row_id) == ("Cold shower", stay.pk,
                                                                            people["anna"].pk, claim.pk)
    mine = main_html(client.get("/p/claims/"))
    assert "Cold shower" in mine and "No hot water" in mine
    client.force_login(people["rita"])
    inbox = main_html(client.get(f"/p/inbox/c/{conv.pk}/"))
    assert f'action="/p/inbox/c/{conv.pk}/close/"' in inbox
    assert client.post(f"/p/inbox/c/{conv.pk}/close/").status_code == 302
    claim.refresh_from_db()
    assert claim.status == "closed"
    client.force_login(people["anna"])
    closed = main_html(client.get(f"/p/claims/c/{conv.pk}/"))
    assert "This conversation is closed." in closed and "data-composer" not in closed
    late = client.post(f"/p/claims/c/{conv.pk}/", {"text": "still cold"})
    assert late.status_code == 409 and "This conversation is closed." in main_html(late)
    assert client.post(f"/p/claims/c/{conv.pk}/reopen/").status_code == 403  # a guest may not reopen
    client.force_login(people["rita"])
    assert client.post(f"/p/inbox/c/{conv.pk}/reopen/").status_code == 302
    claim.refresh_from_db()
    assert claim.status == "open"


def test_channels_join_leave_and_removal_by_a_moderator(chat, people, client):
    client.force_login(people["anna"])
    listing = main_html(client.get("/p/lounge/"))
    lobby = Conversation.objects.get(chat="lounge", slug="lobby")
    assert "<strong class=\"conv-title\">Lobby</strong>" in listing and '<span class="conv-last">Say hello</span>' in listing
    assert "Joined" not in listing
    page = main_html(client.get(f"/p/lounge/c/{lobby.pk}/"))
    assert "Join to write here." in page and f'action="/p/lounge/c/{lobby.pk}/join/"' in page
    assert client.post(f"/p/lounge/c/{lobby.pk}/join/").status_code == 302
    client.post(f"/p/lounge/c/{lobby.pk}/", {"text": "Hi all"})
    joined = main_html(client.get("/p/lounge/"))
    assert '<span class="tag">Joined</span>' in joined and '<span class="conv-last">Hi all</span>' in joined
    assert f'action="/p/lounge/c/{lobby.pk}/leave/"' in main_html(client.get(f"/p/lounge/c/{lobby.pk}/"))
    client.force_login(people["rita"])
    moderator = main_html(client.get(f"/p/lounge/c/{lobby.pk}/"))
    assert f'<input type="hidden" name="user" value="{people["anna"].pk}">' in moderator
    assert client.post(f"/p/lounge/c/{lobby.pk}/remove_member/", {"user": people["anna"].pk}).status_code == 302
    client.force_login(people["anna"])
    assert client.get(f"/p/lounge/c/{lobby.pk}/").status_code == 404
    assert client.post(f"/p/lounge/c/{lobby.pk}/join/").status_code == 404


def test_menu_badges_count_conversations_with_unread_messages(chat, people, client):
    conv = say(chat, people["anna"], "one")
    say(chat, people["boris"], "two")
    client.force_login(people["rita"])
    html = client.get("/p/guests/").content.decode()
    assert re.search(r'Inbox<span class="badge" data-badge="inbox"><span class="visually-hidden">, unread: </span>'
                     r'<span class="count">2</span></span>', html)
    client.get(f"/p/inbox/c/{conv.pk}/")
    html = client.get("/p/guests/").content.decode()
    assert '<span class="count">1</span>' in html
    client.force_login(people["anna"])
    service.post(access(chat, people["rita"]), conv, "answer")
    assert re.search(r'data-badge="chat"><span class="visually-hidden">, unread: </span><span class="count">1</span>',
                     client.get("/p/lounge/").content.decode())


def chat_queries(client, url):
    """The SQL of ``url``'s request that reads the chat tables."""
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return [q["sql"] for q in queries.captured_queries if "engine_conversation" in q["sql"]]


def test_badges_cost_one_query_and_none_without_chat_pages(chat, people, client):
    say(chat, people["anna"], "one")
    client.force_login(people["rita"])
    assert len(chat_queries(client, "/p/guests/")) == 1
    client.force_login(person("cleo", "cleaner", chat))
    assert chat_queries(client, "/p/stays/") == []
    assert "data-badge" not in client.get("/p/stays/").content.decode()


def test_a_ticket_of_a_row_a_channel_by_a_moderator_and_starting_with_fetch(chat, people, client):
    claim = chat.model("claim").objects.create(author=people["anna"], subject="Lost key")
    client.force_login(people["rita"])
    opened = client.get(f"/p/inbox/row/{claim.pk}/")
    conv = Conversation.objects.get(chat="claims", row_id=claim.pk)
    assert opened.status_code == 302 and opened["Location"] == f"/p/inbox/c/{conv.pk}/"
    assert client.get("/p/inbox/row/999999/").status_code == 404
    channel = client.post("/p/lounge/start/", {"title": "Tennis", "slug": "tennis"})
    tennis = Conversation.objects.get(chat="lounge", slug="tennis")
    assert channel.status_code == 302 and (tennis.title, tennis.type) == ("Tennis", "group")
    taken = client.post("/p/lounge/start/", {"title": "Tennis again", "slug": "tennis"})
    assert taken.status_code == 400 and "A channel with this name exists." in main_html(taken)
    client.force_login(people["boris"])
    assert client.get(f"/p/claims/row/{claim.pk}/").status_code == 404  # anna's claim
    assert 'class="card chat-new"' not in main_html(client.get("/p/lounge/"))  # members make no channels
    assert client.post("/p/lounge/start/", {"title": "Mine", "slug": "mine"}).status_code == 403
    started = client.post("/p/chat/start/", {"text": "Hi"}, HTTP_ACCEPT="application/json")
    mine = Conversation.objects.get(chat="reception", client=people["boris"])
    assert started.status_code == 201 and started.json() == {"conversation": mine.pk, "url": f"/p/chat/c/{mine.pk}/"}


def count_queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_queries_do_not_grow_with_messages_or_conversations(chat, people, client):
    conv = say(chat, people["anna"], "m0")
    for i in range(1, 3):
        say(chat, people["anna"], f"m{i}", conv)
    client.force_login(people["rita"])
    client.get(f"/p/inbox/c/{conv.pk}/")
    few_thread = count_queries(client, f"/p/inbox/c/{conv.pk}/")
    few_list = count_queries(client, "/p/inbox/")
    upload = SimpleUploadedFile("note.txt", b"words", content_type="text/plain")
    service.post(access(chat, people["anna"]), conv, "with a file", files=[upload])
    for i in range(3, 25):
        say(chat, people["anna"] if i % 2 else people["rita"], f"m{i}", conv)
    for i in range(8):
        say(chat, person(f"guest{i}", "guest", chat), f"hello {i}")
    client.get(f"/p/inbox/c/{conv.pk}/")
    assert count_queries(client, f"/p/inbox/c/{conv.pk}/") == few_thread
    assert count_queries(client, "/p/inbox/") == few_list


def chat_page_problems(pages):
    """The chat page problems of the test solution with ``pages`` instead of its own."""
    text = CHAT_YAML[:CHAT_YAML.index("pages:")] + "pages:\n" + textwrap.indent(dedent(pages), "  ")
    doc = load_sources({"solution.yaml": HEADER + dedent(text)})
    validate_document(doc)
    assert [p for p in doc.problems if p.is_error] == []
    checker = Checker(make_solution_spec(doc), doc)
    check_chat_pages(checker)
    return [(p.code, p.message, p.loc.path) for p in checker.problems]


def test_page_checks():
    assert chat_page_problems("""
        chat: {kind: chat, chat: reception, roles: [guest]}
        inbox: {kind: inbox, chats: [reception, claims, lounge], roles: [reception]}
    """) == []
    assert chat_page_problems("""
        a: {kind: chat, roles: [guest]}
        b: {kind: chat, chats: [reception]}
        c: {kind: chat, chat: recepton}
        d: {kind: inbox}
        e: {kind: inbox, chat: reception}
        f: {kind: inbox, chats: [reception, nope]}
    """) == [
        ("E390", "'pages.a' is a chat page and needs 'chat'", "pages.a"),
        ("E390", "'pages.b.chats': a chat page takes 'chat', not 'chats'", "pages.b.chats"),
        ("E390", "'pages.c.chat' refers to unknown chat 'recepton'; did you mean 'reception'?", "pages.c.chat"),
        ("E390", "'pages.d' is an inbox and needs 'chats'", "pages.d"),
        ("E390", "'pages.e.chat': an inbox page takes 'chats', not 'chat'", "pages.e.chat"),
        ("E390", "'pages.f.chats[1]' refers to unknown chat 'nope'", "pages.f.chats[1]"),
    ]
    assert chat_page_problems("""
        g: {kind: list, entity: guest, chat: reception}
        h: {kind: info, chats: [reception]}
        i: {kind: chat, chat: reception, roles: [guest, reception]}
        j: {kind: inbox, chats: [reception, lounge], roles: [reception, guest]}
        k: {kind: chat, chat: claims, roles: [guest, reception]}
    """) == [
        ("E391", "'pages.g.chat' is only for chat and inbox pages, and 'g' is a list page", "pages.g.chat"),
        ("E391", "'pages.h.chats' is only for chat and inbox pages, and 'h' is an info page", "pages.h.chats"),
        ("E392", "'pages.j.roles[1]': role 'guest' cannot answer in chat 'reception', 'lounge'", "pages.j.roles[1]"),
    ]
