"""The chat's live stream (engine.chat.stream): SSE frames, catch-up, permission, revocation, heartbeat."""
import asyncio
import json
import os
import threading
import time
from types import SimpleNamespace

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import transaction
from django.test import AsyncClient, Client
from django.urls import path

from engine.access import NotFound
from engine.chat import live, stream
from engine.chat.models import ChatEvent, Conversation
from engine.registry import BuiltSolution

YAML = """
entities:
  note:
    fields:
      text: {type: string}
roles:
  guest:
    entities:
      note: {actions: [list, view], scope: all}
"""

urlpatterns = [path("chat/stream/", stream.view)]


class FakePolicy:
    def __init__(self, built):
        self.built = built

    def chats_for(self, access):
        return [SimpleNamespace(name="reception")]

    def visible(self, access, chat=None):
        qs = Conversation.objects.all()
        if chat:
            qs = qs.filter(chat=chat)
        if not access.user.is_staff:
            qs = qs.filter(client=access.user)
        return qs

    def get(self, access, pk):
        try:
            return self.visible(access).get(pk=pk)
        except Conversation.DoesNotExist:
            raise NotFound from None


@pytest.fixture
def world(publish_yaml, monkeypatch, settings):
    monkeypatch.setattr(BuiltSolution, "chat", property(lambda self: FakePolicy(self)), raising=False)
    settings.CABINET_CHAT_STREAM_LIFETIME = 2
    settings.CABINET_CHAT_RECHECK = 0.5
    settings.CABINET_EXTRA_URLCONF = "tests.engine.test_chat_stream"
    publish_yaml(YAML)
    users = get_user_model().objects
    anna = users.create_user("anna", password="pw-anna-123")
    boris = users.create_user("boris", password="pw-boris-123")
    conv = Conversation.objects.create(chat="reception", type="direct", client=anna)
    other = Conversation.objects.create(chat="reception", type="direct", client=boris)
    return SimpleNamespace(anna=anna, boris=boris, conv=conv, other=other)


def emit(conv, kind="message", data=None):
    with transaction.atomic():
        event = ChatEvent.objects.create(conversation=conv, kind=kind, payload=data or {"text": "hi"})
        payload = {"id": event.pk, "conversation": conv.pk, "chat": conv.chat, "kind": kind,
                   "data": data or {"text": "hi"}}
        transaction.on_commit(lambda: live.publish([f"c:{conv.pk}", f"k:{conv.chat}"], payload))
    return event


def parse(text):
    frames = []
    for block in text.split("\n\n"):
        fields = {}
        for line in block.splitlines():
            if line.startswith(":"):
                fields.setdefault("comment", line)
                continue
            key, _, value = line.partition(": ")
            fields[key] = value
        if fields:
            frames.append(fields)
    return frames


class Reader:
    """Read SSE frames off a streaming response's async iterator."""

    def __init__(self, response):
        self.content = response.streaming_content
        self.buffer = ""
        self.ended = False

    async def frames(self, count, timeout=5.0):
        found = []

        async def run():
            while len(found) < count:
                if "\n\n" in self.buffer:
                    block, self.buffer = self.buffer.split("\n\n", 1)
                    found.extend(parse(block + "\n\n"))
                    continue
                try:
                    self.buffer += (await anext(self.content)).decode()
                except StopAsyncIteration:
                    self.ended = True
                    return

        await asyncio.wait_for(run(), timeout)
        return found

    async def close(self):
        await self.content.aclose()


def run(scenario):
    async_to_sync(scenario)()


def data(fields):
    return json.loads(fields["data"])


async def open_async(user, query, **headers):
    client = AsyncClient()
    if user is not None:
        await sync_to_async(client.force_login)(user)
    return await client.get(f"/chat/stream/?{query}", headers=headers)


# --- the sync mode (WSGI: runserver, live_server) -------------------------------------------------


def test_sync_stream_catches_up_then_delivers_live_and_ends_after_its_lifetime(world):
    client = Client()
    client.force_login(world.anna)
    first = emit(world.conv, data={"text": "before"})
    emit(world.other, data={"text": "not hers"})
    response = client.get(f"/chat/stream/?conversation={world.conv.pk}&last=0")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream; charset=utf-8"
    assert response["X-Accel-Buffering"] == "no"
    assert "no-cache" in response["Cache-Control"]
    timer = threading.Timer(0.3, lambda: emit(world.conv, data={"text": "live"}))
    timer.start()
    started = time.monotonic()
    frames = parse(b"".join(response.streaming_content).decode())
    timer.join()
    assert 1.5 < time.monotonic() - started < 4  # CABINET_CHAT_STREAM_LIFETIME = 2
    second = ChatEvent.objects.order_by("-id").first()
    assert frames == [
        {"retry": "1000"},
        {"id": str(first.pk), "event": "message", "data": json.dumps(
            {"id": first.pk, "conversation": world.conv.pk, "chat": "reception", "kind": "message",
             "data": {"text": "before"}}, separators=(",", ":"))},
        {"id": str(second.pk), "event": "message", "data": json.dumps(
            {"id": second.pk, "conversation": world.conv.pk, "chat": "reception", "kind": "message",
             "data": {"text": "live"}}, separators=(",", ":"))},
    ]


def test_sync_stream_refuses_what_the_user_may_not_see(world):
    client = Client()
    assert client.get(f"/chat/stream/?conversation={world.conv.pk}").status_code == 403  # anonymous
    client.force_login(world.anna)
    assert client.get(f"/chat/stream/?conversation={world.other.pk}").status_code == 404
    assert client.get("/chat/stream/?conversation=999999").status_code == 404
    assert client.get("/chat/stream/?conversation=abc").status_code == 404
    assert client.get("/chat/stream/?chat=nosuchchat").status_code == 404
    assert client.get("/chat/stream/").status_code == 400
    assert client.post(f"/chat/stream/?conversation={world.conv.pk}").status_code == 405


# --- the async mode (ASGI: uvicorn) ---------------------------------------------------------------


def test_async_stream_catches_up_from_last_event_id_then_delivers_live(world):
    async def scenario():
        events = [await sync_to_async(emit)(world.conv, data={"text": f"m{n}"}) for n in range(3)]
        response = await open_async(world.anna, f"conversation={world.conv.pk}&last=0",
                                     **{"Last-Event-ID": str(events[0].pk)})
        assert response.status_code == 200
        reader = Reader(response)
        frames = await reader.frames(3)
        assert frames[0] == {"retry": "3000"}
        assert [f["id"] for f in frames[1:]] == [str(events[1].pk), str(events[2].pk)]
        assert [data(f)["data"]["text"] for f in frames[1:]] == ["m1", "m2"]
        started = time.monotonic()
        live_event = await sync_to_async(emit)(world.conv, data={"text": "live"})
        (frame,) = await reader.frames(1)
        assert time.monotonic() - started < 1
        assert (frame["id"], frame["event"], data(frame)["data"]) == (str(live_event.pk), "message", {"text": "live"})
        await reader.close()

    run(scenario)


def test_async_stream_sends_an_event_once_and_only_its_conversations(world):
    async def scenario():
        response = await open_async(world.anna, f"conversation={world.conv.pk}")
        reader = Reader(response)
        assert await reader.frames(1) == [{"retry": "3000"}]
        event = await sync_to_async(emit)(world.conv, data={"text": "once"})
        live.publish([f"c:{world.conv.pk}"], {"id": event.pk, "conversation": world.conv.pk, "kind": "message"})
        await sync_to_async(emit)(world.other, data={"text": "not hers"})
        marker = await sync_to_async(emit)(world.conv, data={"text": "marker"})
        frames = await reader.frames(2)
        assert [f["id"] for f in frames] == [str(event.pk), str(marker.pk)]
        await reader.close()

    run(scenario)


def test_async_stream_refuses_another_users_conversation(world):
    async def scenario():
        assert (await open_async(world.anna, f"conversation={world.other.pk}")).status_code == 404
        assert (await open_async(None, f"conversation={world.conv.pk}")).status_code == 403

    run(scenario)


def test_async_stream_is_revoked_on_an_access_event(world):
    async def scenario():
        response = await open_async(world.anna, f"conversation={world.conv.pk}")
        reader = Reader(response)
        await reader.frames(1)
        await sync_to_async(Conversation.objects.filter(pk=world.conv.pk).update)(client=None)
        started = time.monotonic()
        await sync_to_async(emit)(world.conv, kind="access", data={"user": world.anna.pk})
        frames = await reader.frames(2, timeout=0.4)  # well before the periodic re-check (0.5 s) could
        assert time.monotonic() - started < 0.4
        assert frames == [{"event": "revoked", "data": json.dumps(
            {"conversation": world.conv.pk, "chat": "reception"}, separators=(",", ":"))}]
        assert reader.ended

    run(scenario)


def test_async_stream_is_revoked_by_the_periodic_check(world):
    async def scenario():
        response = await open_async(world.anna, f"conversation={world.conv.pk}")
        reader = Reader(response)
        await reader.frames(1)
        await sync_to_async(get_user_model().objects.filter(pk=world.anna.pk).update)(is_active=False)
        frames = await reader.frames(2, timeout=3)
        assert [f["event"] for f in frames] == ["revoked"] and reader.ended

    run(scenario)


def test_async_stream_heartbeat_marks_the_user_online(world, monkeypatch):
    monkeypatch.setattr(stream, "HEARTBEAT", 0.2)

    async def scenario():
        response = await open_async(world.anna, f"conversation={world.conv.pk}")
        reader = Reader(response)
        await reader.frames(1)
        await sync_to_async(cache.delete)(f"cabinet:chat:online:{world.anna.pk}")
        frames = await reader.frames(1, timeout=2)
        assert frames == [{"comment": ": ping"}]
        assert await sync_to_async(live.is_online)(world.anna.pk)
        await reader.close()

    run(scenario)


def test_async_inbox_streams_the_visible_conversations_of_its_chat(world):
    async def scenario():
        staff = await sync_to_async(get_user_model().objects.create_user)("olga", password="pw-olga-123", is_staff=True)
        inbox = Reader(await open_async(staff, "chat=reception"))
        mine = Reader(await open_async(world.anna, "chat=reception"))
        assert await inbox.frames(1) == [{"retry": "3000"}]
        assert await mine.frames(1) == [{"retry": "3000"}]
        first = await sync_to_async(emit)(world.conv, data={"text": "anna's"})
        second = await sync_to_async(emit)(world.other, data={"text": "boris's"})
        third = await sync_to_async(emit)(world.conv, data={"text": "anna's again"})
        frames = await inbox.frames(3)
        assert [(f["id"], data(f)["conversation"]) for f in frames] == [
            (str(first.pk), world.conv.pk), (str(second.pk), world.other.pk), (str(third.pk), world.conv.pk)]
        frames = await mine.frames(2)
        assert [f["id"] for f in frames] == [str(first.pk), str(third.pk)]  # never boris's
        # Reconnecting with the first id: the other two, from the database.
        again = Reader(await open_async(staff, "chat=reception", **{"Last-Event-ID": str(first.pk)}))
        frames = await again.frames(3)
        assert [f.get("id") for f in frames] == [None, str(second.pk), str(third.pk)]
        for reader in (inbox, mine, again):
            await reader.close()

    run(scenario)


# --- the hub (engine.chat.live) -------------------------------------------------------------------


def test_hub_delivers_to_sync_and_async_subscribers_once_and_forgets_closed_ones(settings):
    settings.REDIS_URL = ""

    async def scenario():
        sync_sub = live.subscribe(["c:1", "k:reception"])
        async_sub = live.subscribe_async(["c:1"])
        live.publish(["c:1", "k:reception"], {"id": 7, "conversation": 1})
        assert await async_sub.get(1) == {"id": 7, "conversation": 1}
        assert sync_sub.get(1) == {"id": 7, "conversation": 1}
        assert sync_sub.get(0.05) is None  # once, though it listens on both channels
        sync_sub.close()
        async_sub.close()
        assert live.deliver_locally(["c:1", "k:reception"], {"id": 8}) == 0

    run(scenario)


def test_hub_marks_an_overflowing_subscriber_stale(settings, monkeypatch):
    settings.REDIS_URL = ""
    monkeypatch.setattr(live, "QUEUE_SIZE", 2)
    with live.subscribe(["c:9"]) as sub:
        for n in range(3):
            live.publish(["c:9"], {"id": n, "conversation": 9})
        assert [sub.get(0.1), sub.get(0.1), sub.get(0.05)] == [{"id": 0, "conversation": 9},
                                                               {"id": 1, "conversation": 9}, None]
        assert sub.take_stale() is True and sub.take_stale() is False


REDIS_URL = os.environ.get("REDIS_URL", "")


@pytest.mark.skipif(not REDIS_URL, reason="needs Redis (REDIS_URL)")
def test_hub_through_redis_survives_losing_the_connection(settings):
    import redis

    settings.REDIS_URL = REDIS_URL
    with live.subscribe(["c:5"]) as sub:
        assert live.listening(5)
        live.publish(["c:5"], {"id": 1, "conversation": 5})
        assert sub.get(2) == {"id": 1, "conversation": 5}  # there and back through Redis
        client = redis.Redis.from_url(REDIS_URL)
        channel = live.redis_channel()
        killed = [info["id"] for info in client.client_list() if info.get("name") == live.bus.listener_name()]
        assert len(killed) == 1, "one listener per process"
        live.bus.connected.clear()
        for client_id in killed:
            client.client_kill_filter(_id=client_id)
        assert sub.get(5) is None  # the wake-up after reconnecting: it may have missed events
        assert sub.take_stale() is True
        assert live.listening(5)
        live.publish(["c:5"], {"id": 2, "conversation": 5})
        assert sub.get(2) == {"id": 2, "conversation": 5}
        assert client.pubsub_numsub(channel)[0][1] >= 1
