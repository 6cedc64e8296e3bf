"""Deliver committed chat events to open streams: within one process, or through Redis between processes.

``publish(channels, payload)`` is called after the transaction that wrote the event commits
(``engine.chat.events``). Streams ``subscribe(channels)`` and read what arrives. Channels are
``c:<conversation id>`` (everyone watching that conversation) and ``k:<chat name>`` (inboxes of that chat).

This module is the single place that knows how events travel. (Skeleton by the integrator: one process only;
the live stream extends it with Redis pub/sub, presence and the asyncio side.)
"""
from __future__ import annotations

import queue
import threading

_lock = threading.Lock()
_subscribers: dict[str, set[Subscription]] = {}


class Subscription:
    """The events of some channels for one stream; close it when the stream ends."""

    def __init__(self, channels):
        self.channels = tuple(channels)
        self.queue = queue.Queue()

    def deliver(self, payload):
        self.queue.put(payload)

    def get(self, timeout):
        """The next payload, or None after ``timeout`` seconds."""
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self):
        with _lock:
            for channel in self.channels:
                _subscribers.get(channel, set()).discard(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def subscribe(channels):
    sub = Subscription(channels)
    with _lock:
        for channel in sub.channels:
            _subscribers.setdefault(channel, set()).add(sub)
    return sub


def publish(channels, payload):
    """Hand ``payload`` (a JSON-able dict with at least ``id`` and ``conversation``) to every subscriber."""
    with _lock:
        targets = {sub for channel in channels for sub in _subscribers.get(channel, ())}
    for sub in targets:
        sub.deliver(payload)


# --- presence: who has a stream open (for offline notices) --------------------------------------

ONLINE_TTL = 45  # seconds; an open stream refreshes it with every heartbeat


def mark_online(user_id, ttl=ONLINE_TTL):
    from django.core.cache import cache

    cache.set(f"cabinet:chat:online:{user_id}", 1, ttl)


def is_online(user_id):
    from django.core.cache import cache

    return bool(cache.get(f"cabinet:chat:online:{user_id}"))
