"""The chat's live stream: Server-Sent Events of one conversation, or of every visible conversation of a chat.

``GET /chat/stream/?conversation=<id>`` (a thread) or ``?chat=<name>`` (an inbox). Permission is checked
when the stream opens: a conversation the user may not see, or a chat they may not use, is a 404 (as on
every other surface). The stream subscribes to the live hub first, then catches up from ``ChatEvent`` rows
with an id above ``Last-Event-ID`` (the header EventSource sends when it reconnects, or ``?last=`` on the
first connect), so nothing committed in between is missed; an event met twice is sent once.

Frames: ``retry: <ms>`` first; then per event ``id: <ChatEvent id>``, ``event: <kind>`` (message, edit,
delete, read, state, access) and ``data: <the event's JSON>``; a comment line every 15 s (heartbeat,
which also tells ``live.is_online`` the user is connected). Visibility is checked again on every
``access`` event and every ``CABINET_CHAT_RECHECK`` seconds (default 10), with the user and their roles
read afresh; when it is gone (or the user was deactivated or logged out) the stream sends
``event: revoked`` and ends (EventSource then reconnects and gets the 404, which stops it). An inbox that
merely loses one conversation sends ``event: hidden`` with ``{"conversation": id}`` and goes on. Each
check also sweeps the event table for anything the pub/sub path did not bring (Redis briefly away).

Two modes, chosen by the server: under ASGI (uvicorn) the stream is an async generator, idle on the event
loop between events, its database work in worker threads; under WSGI (``runserver`` of ``make demo``,
pytest-django's ``live_server``) it is a sync generator that holds its thread, so it ends after
``CABINET_CHAT_STREAM_LIFETIME`` seconds (default 25) and the browser reconnects with its Last-Event-ID.
"""
from __future__ import annotations

import asyncio
import copy
import json
import random
import time
from importlib import import_module

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.handlers.asgi import ASGIRequest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import close_old_connections, connections
from django.db.models import Exists, Value
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from ..access import access_for
from ..registry import registry
from . import live
from .models import ChatEvent

HEARTBEAT = 15.0  # seconds between comment lines (proxies keep the connection; presence is refreshed)
CATCH_UP_BATCH = 200  # events read from the database per query when catching up
RETRY_MS_ASGI, RETRY_MS_WSGI = 3000, 1000  # how soon EventSource reconnects after the stream ends
LISTEN_WAIT = 2.0  # seconds a new stream waits for the Redis listener (else the periodic sweep covers it)


def recheck_interval():
    return float(getattr(settings, "CABINET_CHAT_RECHECK", 10))


def wsgi_lifetime():
    return float(getattr(settings, "CABINET_CHAT_STREAM_LIFETIME", 25))


def frame(payload, event=None):
    """One SSE frame of ``payload``: its id (when it has one), its kind as the event name, its JSON."""
    lines = []
    if payload.get("id") is not None:
        lines.append(f"id: {payload['id']}")
    lines.append(f"event: {event or payload.get('kind') or 'message'}")
    lines.append("data: " + json.dumps(payload, cls=DjangoJSONEncoder, separators=(",", ":")))
    return "\n".join(lines) + "\n\n"


def envelope(event_id, conversation_id, chat, kind, stored):
    """The published form of a stored event (``engine.chat.events`` stores either the whole envelope or
    its ``data``)."""
    if isinstance(stored, dict) and "data" in stored and "kind" in stored:
        stored = stored["data"]
    return {"id": event_id, "conversation": conversation_id, "chat": chat, "kind": kind, "data": stored}


def _int(value):
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


class Revoked(Exception):
    """The user may no longer see what the stream shows."""


class Stream:
    """The state of one open stream: whose, of what, and which events it has sent.

    Sync methods; the ones that read the database are run in a worker thread by the async mode.
    """

    def __init__(self, built, user_id, session_key, *, conversation=None, chat=None, floor=0):
        self.built = built
        self.user_id = user_id
        self.session_key = session_key
        self.conversation = conversation  # a Conversation (thread mode) or None (inbox mode)
        self.chat = conversation.chat if conversation is not None else chat
        self.floor = floor  # every event with an id at or below it was sent (or is not ours to send)
        self.last = floor  # the highest id sent
        self.seen = set()  # ids above ``floor`` already sent
        self.next_floor = floor  # where ``floor`` goes at the next check
        self.visible, self.hidden = set(), set()  # inbox: conversation ids known to be visible / not
        self.access = None

    @property
    def channels(self):
        return [f"c:{self.conversation.pk}"] if self.conversation is not None else [f"k:{self.chat}"]

    # --- permission ---------------------------------------------------------------------------

    def authorize(self, access):
        """Check (again) that ``access`` may watch this stream; raise ``Revoked`` when not."""
        policy = access.policy.built.chat
        if self.conversation is not None:
            try:
                policy.get(access, self.conversation.pk)
            except Http404:
                raise Revoked from None
        else:
            if self.chat not in {spec.name for spec in policy.chats_for(access)}:
                raise Revoked
            self.sort_known(access)
        self.access = access

    def sort_known(self, access):
        """Inbox: the conversations met so far sorted again into visible and hidden (one query, if any)."""
        if self.visible or self.hidden:
            known = self.visible | self.hidden
            chat_policy = access.policy.built.chat
            self.visible = set(chat_policy.visible(access, self.chat).filter(pk__in=known)
                               .values_list("pk", flat=True))
            self.hidden = known - self.visible

    def fresh_access(self):
        """The user's access read again from the database: roles, grants, and whether they may log in."""
        user = get_user_model().objects.filter(pk=self.user_id, is_active=True).first()
        if user is None:
            raise Revoked
        if self.session_key is not None:
            store = import_module(settings.SESSION_ENGINE).SessionStore
            if not store().exists(self.session_key):
                raise Revoked  # logged out (or the session was flushed)
        built = registry.ensure_current() or self.built
        self.built = built
        return built.policy.for_user(user)

    def is_visible(self, conversation_id):
        """Inbox: whether the user sees ``conversation_id`` (asked of the database once, then remembered)."""
        if conversation_id in self.visible:
            return True
        if conversation_id in self.hidden:
            return False
        if self.access.policy.built.chat.visible(self.access, self.chat).filter(pk=conversation_id).exists():
            self.visible.add(conversation_id)
            return True
        self.hidden.add(conversation_id)
        return False

    # --- events -------------------------------------------------------------------------------

    def catch_up(self):
        """Frames of the visible events above ``floor`` not sent yet, read from the database. An ``access``
        event among them means the permission is checked afresh first."""
        rows = self.stored_events()
        if any(self.concerns_me(envelope(*row)) for row in rows):
            self.authorize(self.fresh_access())  # Revoked when this stream may no longer be open
            if self.conversation is None:
                rows = self.stored_events()  # read again with the user's current access
        frames = []
        for row in rows:
            if self.conversation is None:
                self.visible.add(row[1])
                self.hidden.discard(row[1])
            frames.extend(self.send(envelope(*row)))
        return frames

    def stored_events(self):
        """(id, conversation, chat, kind, payload) of the stored events above ``floor`` this stream shows."""
        events = ChatEvent.objects.order_by("id")
        if self.conversation is not None:
            events = events.filter(conversation_id=self.conversation.pk)
        else:
            events = events.filter(conversation__in=self.access.policy.built.chat.visible(self.access, self.chat))
        rows, after = [], self.floor
        while True:
            batch = list(events.filter(id__gt=after).values_list(
                "id", "conversation_id", "conversation__chat", "kind", "payload")[:CATCH_UP_BATCH])
            rows += batch
            if len(batch) < CATCH_UP_BATCH:
                return rows
            after = batch[-1][0]

    def concerns_me(self, payload):
        """Whether ``payload`` is an ``access`` event that may change what this user sees (one about
        another user, such as adding someone to a conversation, does not)."""
        if payload.get("kind") != ChatEvent.ACCESS:
            return False
        user = (payload.get("data") or {}).get("user")
        return user is None or user == self.user_id

    def needs_database(self, payload):
        """Whether handling ``payload`` reads the database (then the async mode runs it in a thread)."""
        if self.concerns_me(payload):
            return True
        return self.conversation is None and payload.get("conversation") not in self.visible

    def handle(self, payload):
        """Frames for one live event (none when already sent or not visible); raise ``Revoked``."""
        event_id = payload.get("id")
        if event_id is not None and (event_id in self.seen or event_id <= self.floor):
            return []
        conversation_id = payload.get("conversation")
        if self.conversation is not None:
            if conversation_id != self.conversation.pk:
                return []
            if self.concerns_me(payload):
                self.authorize(self.fresh_access())
            return self.send(payload)
        if self.concerns_me(payload):
            self.authorize(self.fresh_access())
            self.visible.discard(conversation_id)
            self.hidden.discard(conversation_id)
            if not self.is_visible(conversation_id):
                return [frame({"conversation": conversation_id}, event="hidden")]
        elif not self.is_visible(conversation_id):
            return []
        return self.send(payload)

    def send(self, payload):
        event_id = payload.get("id")
        if event_id is not None:
            if event_id in self.seen or event_id <= self.floor:
                return []
            self.seen.add(event_id)
            self.last = max(self.last, event_id)
        return [frame(payload)]

    def recheck(self):
        """The periodic check: permission read afresh, then a sweep of the events the hub did not bring
        (when there are any: ``still_allowed`` says so in the same query)."""
        frames = self.catch_up() if self.still_allowed() else []
        # Ids come from a sequence but transactions commit in their own order: an id may show up after a
        # higher one. Raise the floor only to where the previous check stood, so late ones are still swept.
        floor = self.next_floor
        self.seen = {i for i in self.seen if i > floor}
        self.floor, self.next_floor = floor, self.last
        return frames

    def still_allowed(self):
        """Whether the user is still active, logged in and sees what the stream shows (raise ``Revoked``
        when not), and whether events above ``floor`` were stored that this stream has not sent: one query
        (a thread), two for an inbox that knows conversations. Roles and grants come through their
        generation-checked caches; a new version or a changed superuser flag takes the full path."""
        built = registry.ensure_current() or self.built
        previous = self.access.user
        if built is not self.built:
            self.authorize(self.fresh_access())
            return True
        user = copy.copy(previous)
        user.__dict__.pop("_cabinet_groups", None)  # the roles remembered on the object: ask the cache again
        access = built.policy.for_user(user)
        policy = built.chat
        if self.conversation is not None:
            sees = Exists(policy.visible(access).filter(pk=self.conversation.pk))
            events = ChatEvent.objects.filter(conversation_id=self.conversation.pk)
        else:
            if self.chat not in {spec.name for spec in policy.chats_for(access)}:
                raise Revoked
            sees = Value(True)
            events = ChatEvent.objects.filter(conversation__in=policy.visible(access, self.chat))
        extra = {"missed": Exists(events.filter(id__gt=self.floor).exclude(id__in=self.seen))}
        session_in_table = settings.SESSION_ENGINE == "django.contrib.sessions.backends.db"
        if self.session_key is not None and session_in_table:
            from django.contrib.sessions.models import Session

            extra["logged_in"] = Exists(Session.objects.filter(session_key=self.session_key))
        row = (get_user_model()._default_manager.filter(pk=self.user_id, is_active=True)
               .annotate(sees=sees, **extra).values("is_superuser", "sees", *extra).first())
        if row is None or not row["sees"] or not row.get("logged_in", True):
            raise Revoked
        if row["is_superuser"] != previous.is_superuser:
            self.authorize(self.fresh_access())
            return True
        if self.session_key is not None and not session_in_table:
            if not import_module(settings.SESSION_ENGINE).SessionStore().exists(self.session_key):
                raise Revoked
        if self.conversation is None:
            self.sort_known(access)
        self.access = access
        return row["missed"]

    def heartbeat(self):
        live.mark_online(self.user_id)

    def periodic(self, check, beat):
        """Frames of the periodic work that is due: the re-check (``check``) and the heartbeat (``beat``)."""
        frames = self.recheck() if check else []
        if beat:
            self.heartbeat()
            frames.append(": ping\n\n")
        return frames

    def opened(self):
        live.stream_opened(self.user_id)

    def closed(self):
        live.stream_closed(self.user_id)

    def revoked_frame(self):
        return frame({"conversation": self.conversation.pk if self.conversation is not None else None,
                      "chat": self.chat}, event="revoked")


# --- the two modes ------------------------------------------------------------------------------


class Clock:
    """When a stream's heartbeat and re-check are next due (both modes keep time the same way)."""

    def __init__(self, first_check):
        now = time.monotonic()
        self.next_beat, self.next_check = now + HEARTBEAT, now + first_check

    def wait(self, until=float("inf")):
        """Seconds to wait for an event before something is due (or ``until`` comes)."""
        return min(self.next_beat, self.next_check, until) - time.monotonic()

    def due(self, stale):
        """(check, beat): which periodic work is due now (a stale subscription is checked at once)."""
        now = time.monotonic()
        check, beat = stale or now >= self.next_check, now >= self.next_beat
        if check:
            self.next_check = now + recheck_interval()
        if beat:
            self.next_beat = now + HEARTBEAT
        return check, beat


def _closing(fn):
    """``fn`` with the thread's database connection closed after it (as a request's is): a stream holds no
    connection while it waits."""
    def run(*args):
        try:
            return fn(*args)
        finally:
            close_old_connections()

    return run


def _in_thread(fn):
    """``fn`` as a coroutine run in a worker thread, its connection closed after."""
    return sync_to_async(_closing(fn), thread_sensitive=False)


async def async_events(stream):
    """The stream under ASGI: waits on the event loop; only database work leaves it."""
    sub = live.subscribe_async(stream.channels)
    loop = asyncio.get_running_loop()
    try:
        # The request's own thread opened a connection for the session and the permission check; give it
        # back first: holding it while a worker thread waits for another would let a burst of opening
        # streams take every pooled connection and wait on each other (CABINET_DB_POOL).
        await sync_to_async(connections.close_all)()
        await _in_thread(stream.opened)()
        yield f"retry: {RETRY_MS_ASGI}\n\n".encode()
        if settings.REDIS_URL and not live.bus.connected.is_set():
            await sync_to_async(live.listening, thread_sensitive=False)(LISTEN_WAIT)
        frames = await _in_thread(stream.catch_up)()
        if frames:
            yield "".join(frames).encode()
        # Spread the first checks of streams opened together (a reconnect storm) over half an interval.
        clock = Clock(recheck_interval() * random.uniform(0.5, 1.0))  # noqa: S311
        while True:
            payload = await sub.get(clock.wait())
            frames = []
            if payload is not None:
                if stream.needs_database(payload):
                    frames += await _in_thread(stream.handle)(payload)
                else:
                    frames += stream.handle(payload)
            check, beat = clock.due(sub.take_stale())
            if check or beat:
                frames += await _in_thread(stream.periodic)(check, beat)
            if frames:
                yield "".join(frames).encode()
    except Revoked:
        yield stream.revoked_frame().encode()
    finally:
        sub.close()
        # Not awaited: the generator may be closing because its task was cancelled (client gone).
        loop.run_in_executor(None, _closing(stream.closed))


def sync_events(stream, lifetime):
    """The stream under WSGI: holds its thread, so it ends after ``lifetime`` seconds (clients reconnect)."""
    sub = live.subscribe(stream.channels)
    try:
        stream.opened()
        yield f"retry: {RETRY_MS_WSGI}\n\n".encode()
        live.listening(LISTEN_WAIT)
        frames = stream.catch_up()
        if frames:
            yield "".join(frames).encode()
        end, clock = time.monotonic() + lifetime, Clock(recheck_interval())
        while time.monotonic() < end:
            payload = sub.get(clock.wait(end))
            frames = stream.handle(payload) if payload is not None else []
            frames += stream.periodic(*clock.due(sub.take_stale()))
            if frames:
                yield "".join(frames).encode()
    except Revoked:
        yield stream.revoked_frame().encode()
    finally:
        sub.close()
        stream.closed()


# --- the view -----------------------------------------------------------------------------------


def open_stream(request, built):
    """The ``Stream`` the request asks for, checked against the user's access (404 when not theirs)."""
    access = access_for(request, built)
    policy = built.chat
    conversation_id, chat = request.GET.get("conversation"), request.GET.get("chat")
    header = request.headers.get("Last-Event-ID")
    last = _int(header if header is not None else request.GET.get("last"))
    if last is None:  # a first connect without ?last=: from now on
        last = ChatEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    session_key = request.session.session_key if hasattr(request, "session") else None
    if conversation_id is not None:
        pk = _int(conversation_id)
        if pk is None:
            raise Http404
        conversation = policy.get(access, pk)  # NotFound (404) when invisible
        stream = Stream(built, request.user.pk, session_key, conversation=conversation, floor=last)
    else:
        if chat not in {spec.name for spec in policy.chats_for(access)}:
            raise Http404
        stream = Stream(built, request.user.pk, session_key, chat=chat, floor=last)
    stream.access = access
    return stream


@never_cache
@require_GET
def view(request, built=None):
    """``GET /chat/stream/?conversation=<id>`` or ``?chat=<name>``: the live events the user may see."""
    if not request.user.is_authenticated:
        return HttpResponse("Log in to follow a chat.", status=403, content_type="text/plain; charset=utf-8")
    if "conversation" not in request.GET and "chat" not in request.GET:
        return HttpResponse("Say which conversation (?conversation=<id>) or chat (?chat=<name>) to follow.",
                            status=400, content_type="text/plain; charset=utf-8")
    built = getattr(request, "solution", None) or built or registry.active
    stream = open_stream(request, built)
    if isinstance(request, ASGIRequest):
        content = async_events(stream)
    else:
        content = sync_events(stream, wsgi_lifetime())
    response = StreamingHttpResponse(content, content_type="text/event-stream; charset=utf-8")
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response
