"""Deliver committed chat events to open streams: within one process, or through Redis between processes.

``publish(channels, payload)`` is called after the transaction that wrote the event commits
(``engine.chat.events``). Streams ``subscribe(channels)`` (sync code: a blocking queue) or
``subscribe_async(channels)`` (a coroutine: an ``asyncio.Queue`` fed through the loop's thread-safe door)
and read what arrives. Channels are ``c:<conversation id>`` (everyone watching that conversation) and
``k:<chat name>`` (inboxes of that chat).

Without ``REDIS_URL`` the hub is this process's own. With it, ``publish`` sends the event once to a Redis
pub/sub channel of this deployment and one listener thread per process hands what it hears to the local
subscribers, so every server process delivers to its own clients. Pub/sub is fire-and-forget: the database
holds the truth, and a subscriber that may have missed something (the listener lost Redis and reconnected,
or its queue overflowed) is marked ``stale`` so its stream catches up from ``ChatEvent`` rows.

Presence (``mark_online`` / ``is_online``) lives in Django's cache: shared between processes with Redis.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import threading
import time
from urllib.parse import urlsplit

import redis
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

log = logging.getLogger("engine.chat")

QUEUE_SIZE = 1000  # events waiting for one stream; past that it is marked stale and catches up from the database
RECONNECT_MIN, RECONNECT_MAX = 0.2, 5.0  # seconds between the listener's attempts to reach Redis again

_lock = threading.Lock()
_subscribers: dict[str, set[Subscription]] = {}


class Subscription:
    """The events of some channels for one sync stream; close it when the stream ends."""

    def __init__(self, channels):
        self.channels = tuple(channels)
        self.queue = queue.Queue(QUEUE_SIZE)
        self.stale = False  # events may have been lost: the reader should catch up from the database

    def deliver(self, payload):
        try:
            self.queue.put_nowait(payload)
        except queue.Full:
            self.stale = True

    def mark_stale(self):
        self.stale = True
        self.deliver(None)  # wake the reader; None means "look at .stale"

    def get(self, timeout):
        """The next payload, or None after ``timeout`` seconds (or when it became stale)."""
        try:
            return self.queue.get(timeout=max(timeout, 0))
        except queue.Empty:
            return None

    def take_stale(self):
        """Whether the reader must catch up from the database (and forget it: it is about to)."""
        stale, self.stale = self.stale, False
        return stale

    def close(self):
        with _lock:
            for channel in self.channels:
                subs = _subscribers.get(channel)
                if subs is not None:
                    subs.discard(self)
                    if not subs:
                        del _subscribers[channel]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class AsyncSubscription(Subscription):
    """The events of some channels for one stream running on an asyncio loop.

    ``deliver`` is called from other threads (the Redis listener, a request thread that committed); it
    crosses into the loop with ``call_soon_threadsafe``.
    """

    def __init__(self, channels, loop):
        self.channels = tuple(channels)
        self.loop = loop
        self.queue = asyncio.Queue(QUEUE_SIZE)
        self.stale = False

    def _put(self, payload):
        try:
            self.queue.put_nowait(payload)
        except asyncio.QueueFull:
            self.stale = True

    def deliver(self, payload):
        try:
            self.loop.call_soon_threadsafe(self._put, payload)
        except RuntimeError:  # the loop is closed: the stream is gone
            self.close()

    async def get(self, timeout):
        """The next payload, or None after ``timeout`` seconds (or when it became stale)."""
        try:
            return await asyncio.wait_for(self.queue.get(), timeout=max(timeout, 0))
        except TimeoutError:
            return None


def _add(sub):
    with _lock:
        for channel in sub.channels:
            _subscribers.setdefault(channel, set()).add(sub)
    if settings.REDIS_URL:
        bus.ensure_listening()
    return sub


def subscribe(channels):
    """A ``Subscription`` (blocking ``get``) to ``channels``, for a sync stream."""
    return _add(Subscription(channels))


def subscribe_async(channels):
    """An ``AsyncSubscription`` (``await get``) to ``channels``; call it on the loop the stream runs on."""
    return _add(AsyncSubscription(channels, asyncio.get_running_loop()))


def listening(timeout=1.0):
    """Wait until this process hears published events (the Redis listener subscribed); whether it does.

    A stream waits for this before it catches up from the database, so an event committed after its
    catch-up query is certain to reach it live.
    """
    return True if not settings.REDIS_URL else bus.connected.wait(timeout)


def deliver_locally(channels, payload):
    """Hand ``payload`` to every subscriber of this process listening on one of ``channels`` (once each)."""
    with _lock:
        targets = {sub for channel in channels for sub in _subscribers.get(channel, ())}
    for sub in targets:
        sub.deliver(payload)
    return len(targets)


def mark_all_stale():
    """Tell every local subscriber that events may have been missed (they catch up from the database)."""
    with _lock:
        targets = {sub for subs in _subscribers.values() for sub in subs}
    for sub in targets:
        sub.mark_stale()


def publish(channels, payload):
    """Deliver ``payload`` (a JSON-able dict with at least ``id`` and ``conversation``) on ``channels``:
    through Redis to every process when ``REDIS_URL`` is set, else to this process's subscribers.

    Never raises for a delivery problem: the event is already committed, and streams catch up from the
    database on their next check or reconnect.
    """
    channels = list(channels)
    if not settings.REDIS_URL:
        deliver_locally(channels, payload)
        return
    try:
        bus.publish(channels, payload)
    except (redis.RedisError, OSError) as exc:  # deliver here; the other processes' streams catch up
        log.warning("chat: could not publish event %s through Redis (%s); delivered in this process only",
                    payload.get("id"), exc)
        deliver_locally(channels, payload)


# --- Redis: one pub/sub channel per deployment, one listener thread per process --------------------


def redis_channel():
    """The Redis pub/sub channel of this deployment: pub/sub ignores Redis database numbers, so the name
    carries the database number of ``REDIS_URL`` and the name of the SQL database (two deployments, or two
    test runs, sharing one Redis server do not hear each other)."""
    db = (urlsplit(settings.REDIS_URL).path or "/0").strip("/") or "0"
    name = os.path.basename(str(settings.DATABASES["default"].get("NAME") or ""))
    return getattr(settings, "CABINET_CHAT_REDIS_CHANNEL", "") or f"cabinet:chat:{db}:{name}"


class RedisBus:
    """Publish through Redis and listen for this deployment's events in one daemon thread per process."""

    def __init__(self):
        self._lock = threading.Lock()
        self._client = None
        self._thread = None
        self._pid = None
        self.connected = threading.Event()  # the listener is subscribed (tests and benchmarks wait for it)

    def client(self):
        if self._client is None or self._pid != os.getpid():
            self._client = redis.Redis.from_url(
                settings.REDIS_URL, socket_connect_timeout=3, socket_timeout=5, health_check_interval=30)
            self._pid = os.getpid()
        return self._client

    def publish(self, channels, payload):
        message = json.dumps({"channels": channels, "payload": payload}, cls=DjangoJSONEncoder)
        self.client().publish(redis_channel(), message)

    def ensure_listening(self):
        """Start the listener thread of this process (again after a fork) unless it runs."""
        thread = self._thread
        if thread is not None and thread.is_alive() and self._pid == os.getpid():
            return
        with self._lock:
            thread = self._thread
            if thread is not None and thread.is_alive() and self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._client = None
            self.connected.clear()
            self._thread = threading.Thread(target=self._listen, name="cabinet-chat-redis", daemon=True)
            self._thread.start()

    @staticmethod
    def listener_name():
        """The listener's connection name in Redis's CLIENT LIST."""
        return f"cabinet-chat-listener-{os.getpid()}"

    def _listen(self):
        channel = redis_channel()
        delay = RECONNECT_MIN
        first = True
        while True:
            pubsub = None
            try:
                client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=3, socket_keepalive=True,
                                              health_check_interval=15, client_name=self.listener_name())
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(channel)
                self.connected.set()
                if not first:
                    log.warning("chat: listening to Redis again; open streams catch up from the database")
                    mark_all_stale()  # whatever was published while we were away is in the database
                first, delay = False, RECONNECT_MIN
                while True:
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self._dispatch(message["data"])
            except redis.RedisError as exc:
                self.connected.clear()
                log.warning("chat: lost Redis (%s); trying again in %.1f s", exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX)
            finally:
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except redis.RedisError:
                        pass

    @staticmethod
    def _dispatch(data):
        try:
            message = json.loads(data)
            deliver_locally(message["channels"], message["payload"])
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("chat: ignored a malformed event from Redis (%s)", exc)


bus = RedisBus()


# --- presence: who has a stream open (for offline notices) --------------------------------------

ONLINE_TTL = 45  # seconds; an open stream refreshes it with every heartbeat (every 15 s)
_open_streams: dict[int, int] = {}  # user id -> streams open in this process


def _online_key(user_id):
    return f"cabinet:chat:online:{user_id}"


def mark_online(user_id, ttl=ONLINE_TTL):
    """Say ``user_id`` has a stream open (for ``ttl`` seconds; heartbeats say it again)."""
    from django.core.cache import cache

    cache.set(_online_key(user_id), 1, ttl)


def stream_opened(user_id):
    """Count a stream of ``user_id`` opened in this process, and mark them online."""
    with _lock:
        _open_streams[user_id] = _open_streams.get(user_id, 0) + 1
    mark_online(user_id)


def stream_closed(user_id):
    """Count a stream of ``user_id`` closed; with none left in this process they are offline at once (a
    stream of theirs in another process says otherwise again at its next heartbeat), so a message that
    arrives after they left is notified rather than waiting out ``ONLINE_TTL``."""
    from django.core.cache import cache

    with _lock:
        left = _open_streams.get(user_id, 0) - 1
        if left > 0:
            _open_streams[user_id] = left
        else:
            _open_streams.pop(user_id, None)
    if left <= 0:
        cache.delete(_online_key(user_id))


def is_online(user_id):
    """Whether ``user_id`` has a chat stream open (in any process sharing the cache)."""
    from django.core.cache import cache

    return bool(cache.get(_online_key(user_id)))
