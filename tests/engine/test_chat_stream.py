"""The chat's live stream (engine.chat.stream): SSE frames, catch-up by Last-Event-ID, permission when it
opens, revocation (an access event, the periodic re-check), heartbeat and presence; and the hub it reads
(engine.chat.live) in one process and through Redis."""
import asyncio
import json
import os
import threading
import time
from types import SimpleNamespace
from unittest import mock

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.sessions.backends.db import SessionStore
from django.core.cache import cache
from django.db import connection
from django.test import AsyncClient, Client
from django.test.utils import CaptureQueriesContext

from engine.chat import live, service, stream
from engine.chat.models import ChatEvent
from engine.registry import registry
from tests.chat_fixtures import reception_yaml


@pytest.fixture
def world(publish_yaml, settings):
    settings.CABINET_CHAT_STREAM_LIFETIME = 2
    settings.CABINET_CHAT_RECHECK = 0.5
    publish_yaml(reception_yaml())
    users = get_user_model().objects
    anna = users.create_user("anna", password="pw-anna-123")
    boris = users.create_user("boris", password="pw-boris-123")
    olga = users.create_user("olga", password="pw-olga-123")
    Group.objects.get(name="guest").user_set.add(anna, boris)
    Group.objects.get(name="reception").user_set.add(olga)
    conv = service.start(access_of(anna), "reception")
    other = service.start(access_of(boris), "reception")
    return SimpleNamespace(anna=anna, boris=boris, olga=olga, conv=conv, other=other)


def access_of(user):
    return registry.active.policy.for_user(get_user_model().objects.get(pk=user.pk))


def emit(conv, author, text):
    """Post ``text`` as ``author`` through the chat service; return the message's event."""
    message = service.post(access_of(author), conv, text)
    return ChatEvent.objects.get(message=message, kind=ChatEvent.MESSAGE)


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
    """Read SSE frames off a streaming response's async iterator; a timeout leaves the stream open."""

    def __init__(self, response):
        self.content = response.streaming_content
        self.buffer = ""
        self.ended = False
        self.pending = None

    async def _next(self):
        return await anext(self.content)

    async def frames(self, count, timeout=5.0):
        found = []
        deadline = time.monotonic() + timeout
        while len(found) < count:
            if "\n\n" in self.buffer:
                block, self.buffer = self.buffer.split("\n\n", 1)
                found.extend(parse(block + "\n\n"))
                continue
            if self.pending is None:
                self.pending = asyncio.ensure_future(self._next())
            done, _ = await asyncio.wait({self.pending}, timeout=max(deadline - time.monotonic(), 0))
            if not done:
                raise TimeoutError(f"{len(found)} of {count} frames after {timeout} s: {found}")
            task, self.pending = self.pending, None
            try:
                self.buffer += task.result().decode()
            except StopAsyncIteration:
                self.ended = True
                break
        return found

    async def close(self):
        if self.pending is not None:
            self.pending.cancel()
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
    first = emit(world.conv, world.anna, "before")
    emit(world.other, world.boris, "not hers")
    response = client.get(f"/chat/stream/?conversation={world.conv.pk}&last=0")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream; charset=utf-8"
    assert response["X-Accel-Buffering"] == "no"
    assert "no-cache" in response["Cache-Control"]
    timer = threading.Timer(0.3, lambda: emit(world.conv, world.olga, "live"))
    timer.start()
    started = time.monotonic()
    frames = parse(b"".join(response.streaming_content).decode())
    timer.join()
    assert 1.5 < time.monotonic() - started < 4  # CABINET_CHAT_STREAM_LIFETIME = 2
    second = ChatEvent.objects.filter(kind="message").order_by("-id").first()
    assert [frame.get("retry") or (frame["id"], frame["event"], data(frame)) for frame in frames] == [
        "1000",
        (str(first.pk), "message", first.payload),
        (str(second.pk), "message", second.payload),
    ]
    assert data(frames[2])["data"]["text"] == "live" and data(frames[2])["conversation"] == world.conv.pk


def test_sync_stream_refuses_what_the_user_may_not_see(world):
    client = Client()
    assert client.get(f"/chat/stream/?conversation={world.conv.pk}").status_code == 403  # anonymous
    client.force_login(world.anna)
    assert client.get(f"/chat/stream/?conversation={world.other.pk}").status_code == 404  # boris's
    assert client.get("/chat/stream/?conversation=999999").status_code == 404
    assert client.get("/chat/stream/?conversation=abc").status_code == 404
    assert client.get("/chat/stream/?chat=nosuchchat").status_code == 404
    assert client.get("/chat/stream/").status_code == 400
    assert client.post(f"/chat/stream/?conversation={world.conv.pk}").status_code == 405


# --- the async mode (ASGI: uvicorn) ---------------------------------------------------------------


def test_async_stream_catches_up_from_last_event_id_then_delivers_live(world):
    async def scenario():
        events = [await sync_to_async(emit)(world.conv, world.anna, f"m{n}") for n in range(3)]
        response = await open_async(world.anna, f"conversation={world.conv.pk}&last=0",
                                    **{"Last-Event-ID": str(events[0].pk)})  # the header wins over ?last=
        assert response.status_code == 200
        reader = Reader(response)
        frames = await reader.frames(3)
        assert frames[0] == {"retry": "3000"}
        assert [(f["id"], data(f)["data"]["text"]) for f in frames[1:]] == [
            (str(events[1].pk), "m1"), (str(events[2].pk), "m2")]
        started = time.monotonic()
        answer = await sync_to_async(emit)(world.conv, world.olga, "live")
        (frame,) = await reader.frames(1)
        assert time.monotonic() - started < 1
        assert (frame["id"], frame["event"], data(frame)) == (str(answer.pk), "message", answer.payload)
        await reader.close()

    run(scenario)


def test_async_stream_sends_an_event_once_and_only_its_conversations(world):
    async def scenario():
        reader = Reader(await open_async(world.anna, f"conversation={world.conv.pk}"))
        assert await reader.frames(1) == [{"retry": "3000"}]
        event = await sync_to_async(emit)(world.conv, world.olga, "once")
        live.publish([f"c:{world.conv.pk}"], event.payload)  # delivered twice by the hub: sent once
        await sync_to_async(emit)(world.other, world.olga, "not hers")
        marker = await sync_to_async(emit)(world.conv, world.olga, "marker")
        frames = await reader.frames(2)
        assert [f["id"] for f in frames] == [str(event.pk), str(marker.pk)]
        await reader.close()

    run(scenario)


def test_async_stream_refuses_another_users_conversation(world):
    async def scenario():
        assert (await open_async(world.anna, f"conversation={world.other.pk}")).status_code == 404
        assert (await open_async(world.boris, f"conversation={world.conv.pk}")).status_code == 404
        assert (await open_async(None, f"conversation={world.conv.pk}")).status_code == 403
        assert (await open_async(world.olga, f"conversation={world.conv.pk}")).status_code == 200

    run(scenario)


def test_async_stream_of_a_removed_member_is_revoked_at_once(world, settings):
    settings.CABINET_CHAT_RECHECK = 30  # only the access event can close it within the test
    service.add_member(access_of(world.olga), world.conv, world.boris)

    async def scenario():
        reader = Reader(await open_async(world.boris, f"conversation={world.conv.pk}"))
        assert await reader.frames(1) == [{"retry": "3000"}]
        await sync_to_async(emit)(world.conv, world.anna, "boris may read this")
        (frame,) = await reader.frames(1)
        assert data(frame)["data"]["text"] == "boris may read this"
        started = time.monotonic()
        await sync_to_async(lambda: service.remove_member(access_of(world.olga), world.conv, world.boris))()
        frames = await reader.frames(2)
        assert time.monotonic() - started < 1
        assert frames == [{"event": "revoked", "data": json.dumps(
            {"conversation": world.conv.pk, "chat": "reception"}, separators=(",", ":"))}]
        assert reader.ended
        # What follows is not his: reconnecting is a 404 (EventSource stops there).
        assert (await open_async(world.boris, f"conversation={world.conv.pk}")).status_code == 404

    run(scenario)


def _leave_reception(world):
    Group.objects.get(name="reception").user_set.remove(world.olga)


def _deactivate(world):
    get_user_model().objects.filter(pk=world.olga.pk).update(is_active=False)


def _log_out(world):
    from django.contrib.sessions.models import Session

    Session.objects.all().delete()


@pytest.mark.parametrize("revoke", [_leave_reception, _deactivate, _log_out])
def test_async_stream_is_revoked_by_the_periodic_check(world, revoke):
    async def scenario():
        reader = Reader(await open_async(world.olga, f"conversation={world.conv.pk}"))
        assert await reader.frames(1) == [{"retry": "3000"}]
        await sync_to_async(revoke)(world)
        frames = await reader.frames(2, timeout=3)  # CABINET_CHAT_RECHECK = 0.5
        assert [f["event"] for f in frames] == ["revoked"] and reader.ended

    run(scenario)


def test_async_stream_marks_the_user_online_while_open(world, monkeypatch):
    monkeypatch.setattr(stream, "HEARTBEAT", 0.2)
    made = []  # the streams' generators: the test client does not close them when its response is closed,
    original = stream.async_events  # an ASGI server does (``aclosing``), or cancels them when the client goes

    def recording(s):
        made.append(original(s))
        return made[-1]

    monkeypatch.setattr(stream, "async_events", recording)

    async def scenario():
        reader = Reader(await open_async(world.anna, f"conversation={world.conv.pk}"))
        assert await reader.frames(1) == [{"retry": "3000"}]
        assert await sync_to_async(live.is_online)(world.anna.pk)  # marked when the stream opened
        await sync_to_async(cache.delete)(f"cabinet:chat:online:{world.anna.pk}")
        assert not await sync_to_async(live.is_online)(world.anna.pk)
        assert await reader.frames(1, timeout=2) == [{"comment": ": ping"}]
        assert await sync_to_async(live.is_online)(world.anna.pk)
        second = Reader(await open_async(world.anna, "chat=reception"))  # another tab
        assert await second.frames(1) == [{"retry": "3000"}]
        await reader.close()
        await made[0].aclose()
        await asyncio.sleep(0.2)
        assert await sync_to_async(live.is_online)(world.anna.pk)  # the other tab is still open
        await second.close()
        await made[1].aclose()
        for _ in range(50):
            if not await sync_to_async(live.is_online)(world.anna.pk):
                break
            await asyncio.sleep(0.02)
        assert not await sync_to_async(live.is_online)(world.anna.pk)  # gone at once, not after 45 s

    run(scenario)


def test_async_stream_recovers_an_event_the_hub_never_brought(world, settings):
    settings.CABINET_CHAT_RECHECK = 30

    async def scenario():
        reader = Reader(await open_async(world.anna, f"conversation={world.conv.pk}"))
        assert await reader.frames(1) == [{"retry": "3000"}]
        await sync_to_async(emit)(world.conv, world.olga, "the stream is past its catch-up")
        assert len(await reader.frames(1)) == 1

        def lost():  # committed, but its publication lost (Redis was away)
            from engine.chat import events

            with mock.patch.object(live, "publish") as publish:
                event = events.emit(world.conv, "state", data={"closed": False, "state": "", "operator": None})
            assert publish.call_count == 1
            return event

        event = await sync_to_async(lost)()
        with pytest.raises(TimeoutError):
            await reader.frames(1, timeout=0.3)
        live.mark_all_stale()  # what the Redis listener does when it is back
        (frame,) = await reader.frames(1)
        assert (frame["id"], frame["event"], data(frame)) == (str(event.pk), "state", event.payload)
        await reader.close()

    run(scenario)


# --- the periodic re-check's cost ------------------------------------------------------------------

def checked_stream(user, session, **what):
    """A ``Stream`` of ``user`` as ``open_stream`` makes it, caught up and checked once."""
    access = access_of(user)
    built = registry.active
    if "conversation" in what:
        what["conversation"] = built.chat.get(access, what["conversation"].pk)
    opened = stream.Stream(built, user.pk, session.session_key, floor=0, **what)
    opened.access = access
    opened.catch_up()
    opened.recheck()
    return opened


def recheck_queries(opened):
    with CaptureQueriesContext(connection) as queries:
        frames = opened.recheck()
    return len(queries.captured_queries), frames


def test_the_periodic_check_is_one_query_while_nothing_was_missed(world):
    """Measured: the check took 4 queries a thread stream (the user, the session, the conversation, the
    event sweep) and 3-4 an inbox; now one query answers whether the user is active, logged in, still sees
    the conversation and whether an event was stored that the stream did not send, and the sweep runs only
    then. Roles and grants come from their generation-checked caches."""
    session = SessionStore()
    session.create()
    thread = checked_stream(world.anna, session, conversation=world.conv)
    inbox = checked_stream(world.olga, session, chat="reception")
    assert recheck_queries(thread) == (1, [])
    assert recheck_queries(inbox) == (1, [])  # it has met no conversation yet
    event = emit(world.conv, world.olga, "the hub never brought this")  # nobody listens here: missed
    for opened in (thread, inbox):
        count, frames = recheck_queries(opened)
        assert count == 2  # the check, then the sweep that finds it
        assert [parse_one(f)["id"] for f in frames] == [str(event.pk)]
    assert recheck_queries(thread) == (1, [])  # sent once
    assert recheck_queries(inbox) == (2, [])  # + the conversation it met, sorted again
    assert inbox.visible == {world.conv.pk}


@pytest.mark.parametrize("change", ["deactivate", "log_out", "leave_role", "superuser_lost"])
def test_the_one_query_check_still_revokes(world, change):
    session = SessionStore()
    session.create()
    olga = world.olga
    if change == "superuser_lost":
        Group.objects.get(name="reception").user_set.remove(olga)
        get_user_model().objects.filter(pk=olga.pk).update(is_superuser=True)
        olga.refresh_from_db()
    opened = checked_stream(olga, session, conversation=world.conv)
    if change == "deactivate":
        get_user_model().objects.filter(pk=olga.pk).update(is_active=False)
    elif change == "log_out":
        session.delete()
    elif change == "leave_role":
        Group.objects.get(name="reception").user_set.remove(olga)
    else:
        get_user_model().objects.filter(pk=olga.pk).update(is_superuser=False)
    with pytest.raises(stream.Revoked):
        opened.recheck()


def parse_one(text):
    (fields,) = parse(text)
    return fields


def test_async_inbox_streams_the_visible_conversations_of_its_chat(world):
    async def scenario():
        inbox = Reader(await open_async(world.olga, "chat=reception"))
        mine = Reader(await open_async(world.anna, "chat=reception"))
        assert await inbox.frames(1) == [{"retry": "3000"}]
        assert await mine.frames(1) == [{"retry": "3000"}]
        first = await sync_to_async(emit)(world.conv, world.anna, "anna's")
        second = await sync_to_async(emit)(world.other, world.boris, "boris's")
        third = await sync_to_async(emit)(world.conv, world.olga, "to anna")
        frames = await inbox.frames(3)
        assert [(f["id"], data(f)["conversation"]) for f in frames] == [
            (str(first.pk), world.conv.pk), (str(second.pk), world.other.pk), (str(third.pk), world.conv.pk)]
        frames = await mine.frames(2)
        assert [f["id"] for f in frames] == [str(first.pk), str(third.pk)]  # never boris's
        # Reconnecting with the first id: the other two, from the database.
        again = Reader(await open_async(world.olga, "chat=reception", **{"Last-Event-ID": str(first.pk)}))
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
