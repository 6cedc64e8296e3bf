"""Offline notices: a new message tells the other side through the notification channels when they are
not connected, once per unread streak (not again until they have read).

The notice is an ``engine.writes.outbox("notify", ...)`` row written in the post's transaction, so it is
sent exactly when the message is stored; the outbox dispatcher delivers it through the user's channels.
Presence (``engine.chat.live.is_online``) is refreshed by every open stream's heartbeat.
"""
from __future__ import annotations

from django.db.models import F, Q

from ..writes import outbox
from . import live
from .models import Participant
from .render import preview

EVENT = "chat_message"


def recipients(conv, message):
    """The participants a new ``message`` is news for: everyone else in a group; in a direct chat or a ticket
    the client side and the operator who took it (a conversation no one took waits in the inbox)."""
    people = Participant.objects.filter(conversation=conv, removed=False).exclude(user_id=message.author_id)
    if conv.type != "group":
        people = people.filter(Q(side__in=("client", "member")) | Q(user_id=conv.operator_id)
                               if conv.operator_id else Q(side__in=("client", "member")))
    return people


def notice_texts(built, conv, message):
    """{language: text} of the notice about ``message``."""
    chat = built.spec.chat(conv.chat)
    author = message.author
    name = (author.get_full_name() or author.get_username()) if author is not None else ""
    body = preview(message.text, 140)
    if not body:
        body = ", ".join(a.name for a in getattr(message, "_chat_attachments", ())) or "…"
    texts = {}
    for language in built.spec.languages:
        label = chat.label.get(language, built.spec.default_language) if chat else conv.chat
        texts[language] = f"{label} — {name}: {body}" if name else f"{label}: {body}"
    return texts


def after_post(built, conv, message):
    """Queue a notice for each offline recipient of ``message`` not yet told since they last read.

    Call it inside the post's transaction. Return the user ids that were notified.
    """
    due = [(pk, user_id) for pk, user_id in
           recipients(conv, message).filter(notified_id__lte=F("last_read_id")).values_list("pk", "user_id")
           if not live.is_online(user_id)]
    if not due:
        return []
    texts = notice_texts(built, conv, message)
    for _pk, user_id in due:
        outbox("notify", "chat", conv.pk,
               {"to": user_id, "event": EVENT, "message": texts, "conversation": conv.pk, "chat": conv.chat},
               f"chat:{conv.pk}:{message.pk}:{user_id}")
    Participant.objects.filter(pk__in=[pk for pk, _ in due]).update(notified_id=message.pk)
    return [user_id for _, user_id in due]
