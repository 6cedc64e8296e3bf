"""The conversation's event log: every change writes its ``ChatEvent`` in its own transaction and is
published to open streams only after that transaction commits.

An event's payload, stored and published alike, is ``{"id", "conversation", "chat", "kind", "data"}``;
its id is the Server-Sent Events id streams catch up from.
"""
from __future__ import annotations

from django.db import transaction

from . import live
from .models import ChatEvent


def channels_of(conv):
    """The live channels an event of ``conv`` goes to: the conversation's and its chat's (inboxes)."""
    return [f"c:{conv.pk}", f"k:{conv.chat}"]


def payload_of(event, conv=None):
    """The payload of a stored ``event`` (older rows without an id in their payload get it here)."""
    body = dict(event.payload or {})
    body["id"] = event.pk
    body.setdefault("conversation", event.conversation_id)
    if conv is not None:
        body.setdefault("chat", conv.chat)
    body.setdefault("kind", event.kind)
    body.setdefault("data", {})
    return body


def emit(conv, kind, message=None, data=None):
    """Write the event ``kind`` of ``conv`` (in the caller's transaction); publish it after commit."""
    body = {"conversation": conv.pk, "chat": conv.chat, "kind": kind, "data": data or {}}
    event = ChatEvent.objects.create(conversation=conv, kind=kind, message=message, payload=body)
    body = {"id": event.pk, **body}
    ChatEvent.objects.filter(pk=event.pk).update(payload=body)
    event.payload = body
    channels = channels_of(conv)
    transaction.on_commit(lambda: live.publish(channels, body), robust=True)
    return event
