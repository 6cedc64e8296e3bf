"""Chat pages: ``kind: chat`` (a client's or member's conversations of one chat) and ``kind: inbox`` (staff:
the open conversations of several chats, one of them, and the client card beside it).

These views decide nothing themselves: what a user sees comes from the chat policy (``built.chat``) and every
change goes through ``engine.chat.service``, whose refusals become pages (404, 403, 409) or form errors.
Without JavaScript every form posts and redirects; ``chat.js`` adds the live stream, posting with fetch, local
times, read receipts and live unread badges. A phone shows the list and the thread as separate screens
(``p/<page>/`` and ``p/<page>/c/<id>/``); a desktop shows list | thread | card side by side.
"""
from __future__ import annotations

import datetime as dt
import json
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db.models import F, Max
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .. import writes
from ..chat import service
from ..chat.errors import ChatError
from ..chat.models import ChatEvent, Participant
from ..rules.runtime import initial_values
from . import params
from .base import CabinetView, html5_widget, label, render
from .forms import CabinetModelForm, FormView

CHAT_KINDS = ("chat", "inbox")
THREAD_SIZE = 50  # messages per screen; older ones behind a link
LIST_SIZE = 50  # conversations per screen
STATES = {"waiting": gettext_lazy("Waiting for an answer"), "open": gettext_lazy("Open"),
          "unread": gettext_lazy("Unread"), "closed": gettext_lazy("Closed"), "all": gettext_lazy("All")}
OPERATORS = {"mine": gettext_lazy("Mine"), "unassigned": gettext_lazy("Unassigned"), "all": gettext_lazy("Anyone's")}
ACTIONS = {  # POST p/<page>/c/<id>/<action>/ -> what is said after it
    "read": "", "take": gettext_lazy("You took this conversation."),
    "hand_over": gettext_lazy("Handed over."), "close": gettext_lazy("Closed."),
    "reopen": gettext_lazy("Reopened."), "join": gettext_lazy("You joined."), "leave": gettext_lazy("You left."),
    "remove_member": gettext_lazy("Removed from the conversation."),
}
WITH_USER = ("hand_over", "remove_member")


def wants_json(request):
    return "application/json" in request.headers.get("Accept", "")


def int_param(value):
    """A positive id from a query or form value, else None (never an error: ids come from our own links)."""
    value = str(value or "")
    return int(value) if value.isascii() and value.isdigit() and len(value) < 19 else None


def person(user):
    return (user.get_full_name() or user.get_username()) if user else "—"


def error_texts(error):
    """The messages of a ``ChatError`` (its ``fields``, else its ``detail``) as plain texts."""
    found = [item.get("message", "") if isinstance(item, dict) else str(item)
             for items in (getattr(error, "fields", None) or {}).values() for item in items]
    return found or [str(error.detail)]


class ChatPage(CabinetView):
    """The chat and inbox screens; ``PageView`` answers ``p/<page>/`` with ``kind_chat`` / ``kind_inbox``."""

    def kind_chat(self, page):
        if self.alone(page):  # a client's one conversation with staff (none yet: the first message starts it)
            return self.screen(page, service.conversations(self.access, page.chats[0]).first())
        return self.screen(page)

    def kind_inbox(self, page):
        return self.screen(page)

    # --- what the screens are made of --------------------------------------------------------

    def chat_of(self, page):
        return self.built.spec.chat(page.chats[0])

    def alone(self, page):
        """Whether the page is one conversation without a list: a direct chat seen by a client."""
        chat = self.chat_of(page)
        return page.kind == "chat" and chat.type == "direct" and not self.built.chat.is_staff(self.access, chat)

    def chat_page(self, name):
        page = self.page_or_404(name)
        if page.kind not in CHAT_KINDS:
            raise Http404
        return page

    def conversation(self, page, pk):
        """The conversation ``pk`` when the user may see it and it belongs to this page's chats, else 404."""
        conv = self.built.chat.get(self.access, pk)
        if conv.chat not in page.chats:
            raise Http404
        return conv

    def screen(self, page, conv=None, status=200, new=None, **extra):
        """Render the page: the list (unless the page is one conversation), the thread of ``conv`` and, in an
        inbox, the client card; ``new`` is a new-ticket or new-channel form to show again with its errors."""
        request, alone = self.request, self.alone(page)
        listing = None if alone else self.listing(page)
        if listing is not None and new is not None:
            listing["new"] = new
        if request.GET.get("fragment") == "list" and listing is not None:
            context = self.context(page, listing=listing, conv=conv)
            context["badges_json"] = json.dumps(context["badges"])
            return render(request, self.built, "_chat_list.html", context)
        thread = self.thread(page, conv) if conv is not None or alone else None
        if request.GET.get("fragment") == "thread" and thread is not None:  # chat.js: the header after a change
            context = self.context(page, listing=listing, thread=thread, conv=conv,
                                   list_url=reverse("page", args=[page.name]))
            return render(request, self.built, "_chat_thread.html", context)
        card = self.card(conv) if page.kind == "inbox" and conv is not None else None
        stream = reverse("chat-stream")  # engine.chat.stream
        streams = [f"{stream}?{urlencode({'conversation': conv.pk})}"] if conv is not None else []
        if page.kind == "inbox" or (conv is None and not alone):
            streams = [f"{stream}?{urlencode({'chat': name})}" for name in page.chats]
        context = self.context(
            page, listing=listing, thread=thread, card=card, conv=conv, alone=alone,
            streams=" ".join(streams), last_event=ChatEvent.objects.aggregate(last=Max("id"))["last"] or 0,
            list_url=reverse("page", args=[page.name]), **extra)
        context["badges_json"] = json.dumps(context["badges"])
        return render(request, self.built, "chat.html", context, status=status)

    def listing(self, page):
        """The conversations of the page's chats the user sees: filters, unread counts, newest or waiting first."""
        access, request, inbox = self.access, self.request, page.kind == "inbox"
        chats = {name: self.built.spec.chat(name) for name in page.chats}
        state = params.choice(request, "state", STATES) or ("open" if inbox else "all")
        operator = params.choice(request, "operator", OPERATORS) or "all"
        chosen = params.choice(request, "chat", chats) if len(chats) > 1 else ""
        qs = service.conversations(access, chosen or (page.chats[0] if len(chats) == 1 else None),
                                   state=state, operator=operator).filter(chat__in=page.chats)
        if not inbox:  # a client's list: the most recent first (an inbox: oldest unanswered first)
            qs = qs.order_by(F("last_message_at").desc(nulls_last=True), "-id")
        paged = Paginator(qs, LIST_SIZE).get_page(request.GET.get("page"))
        rows = list(paged.object_list)
        items = [{
            "conv": conv, "title": self.title_of(conv, chats[conv.chat]),
            "chat": label(chats[conv.chat].label, self.built),
            "unread": getattr(conv, "unread", 0) or 0, "last": getattr(conv, "last_text", "") or "",
            "when": conv.last_message_at, "waiting": conv.waiting_since, "closed": conv.closed or state == "closed",
            "operator": person(conv.operator) if conv.operator_id else "", "type": conv.type,
            "about": self.description_of(conv, chats[conv.chat]),
            "joined": conv.type == "group" and getattr(conv, "my_read_id", None) is not None,
            "url": reverse("chat-conversation", args=[page.name, conv.pk]),
        } for conv in rows]
        first = chats[page.chats[0]]
        kept = {"chat": chosen, "state": params.choice(request, "state", STATES),
                "operator": params.choice(request, "operator", OPERATORS)}
        query = urlencode({k: v for k, v in kept.items() if v}) if inbox else ""
        for item in items:
            item["url"] += f"?{query}" if query else ""
        more = f"{query}&" if query else ""
        return {
            "query": query, "paged": paged,
            "previous_url": f"?{more}page={paged.previous_page_number()}" if paged.has_previous() else None,
            "next_url": f"?{more}page={paged.next_page_number()}" if paged.has_next() else None,
            "items": items, "inbox": inbox, "state": state, "operator": operator, "chat": chosen,
            "states": list(STATES.items()), "operators": list(OPERATORS.items()),
            "chats": [(n, label(c.label, self.built)) for n, c in chats.items()] if len(chats) > 1 else [],
            "type": first.type, "new": None if inbox else self.new_form(page, first),
        }

    def title_of(self, conv, chat):
        if chat.type == "group" and not conv.title:
            channel = next((c for c in chat.channels if c.name == conv.slug), None)
            return label(channel.title, self.built) if channel else conv.slug
        if conv.title:
            return conv.title
        if chat.type == "ticket":
            return _("Ticket #%(number)s") % {"number": conv.row_id}
        return person(conv.client)

    def description_of(self, conv, chat):
        """A declared channel's description (shown in the list until it has messages)."""
        channel = next((c for c in chat.channels if c.name == conv.slug), None) if chat.type == "group" else None
        return label(channel.description, self.built) if channel else ""

    def thread(self, page, conv):
        """The conversation's latest messages (or those before ``?before=``), marked read, with its actions."""
        access, policy = self.access, self.built.chat
        chat = self.chat_of(page) if conv is None else self.built.spec.chat(conv.chat)
        if conv is None:  # a direct chat before its first message
            return {"conv": None, "chat": chat, "items": [], "rights": frozenset({"post"}), "actions": [],
                    "post_url": reverse("chat-start", args=[page.name]), "title": label(page.title, self.built),
                    "attachments": chat.max_size > 0, "closed": False}
        rights = policy.rights(access, conv)
        before = int_param(self.request.GET.get("before"))
        found = sorted(service.messages(access, conv, before=before, limit=THREAD_SIZE), key=lambda m: m.pk)
        if found and before is None and "read" in rights:
            service.mark_read(access, conv)
        others = (Participant.objects.filter(conversation=conv).exclude(user=access.user)
                  .aggregate(upto=Max("last_read_id"))["upto"] or 0)
        items = [self.message_item(service.message_payload(m), rights, chat) for m in found]
        mine_seen = [m["id"] for m in items if m["mine"] and m["id"] <= others]
        for m in items:
            m["seen"] = bool(mine_seen) and m["id"] == mine_seen[-1]
        base = reverse("chat-conversation", args=[page.name, conv.pk])
        closed = policy.is_closed(conv)
        return {
            "conv": conv, "chat": chat, "items": items, "rights": rights, "base": base, "post_url": base,
            "title": label(page.title, self.built) if self.alone(page) else self.title_of(conv, chat),
            "closed": closed, "seen_upto": others,
            "operator": person(conv.operator) if conv.operator_id else "",
            "older_url": f"{base}?{urlencode({'before': found[0].pk})}" if len(found) == THREAD_SIZE else None,
            "newer_url": base if before is not None else None,
            "actions": [(a, ACTION_LABELS[a]) for a in ("take", "close", "reopen", "join", "leave") if a in rights],
            "operators": self.operators(chat) if "hand_over" in rights else [],
            "members": self.members(conv) if "remove_member" in rights else [],
            "attachments": chat.max_size > 0, "edit_window": chat.edit_window * 60,
        }

    def message_item(self, payload, rights, chat):
        """A message as the thread shows it: the service's payload plus what this reader may do with it."""
        created = dt.datetime.fromisoformat(str(payload["created"]).replace("Z", "+00:00"))
        mine = (payload.get("author") or {}).get("id") == self.access.user.pk
        fresh = chat.edit_window > 0 and timezone.now() - created < dt.timedelta(minutes=chat.edit_window)
        deleted = bool(payload.get("deleted"))
        can_edit = mine and not deleted and fresh and "edit_own" in rights
        return {**payload, "when": created, "mine": mine, "can_edit": can_edit,
                "can_delete": not deleted and (can_edit or "moderate" in rights)}

    def operators(self, chat):
        """Who a conversation can be handed over to: active users of the chat's staff roles (one query)."""
        groups = [r.group for r in self.built.spec.roles if r.name in chat.staff]
        users = (get_user_model().objects.filter(groups__name__in=groups, is_active=True)
                 .exclude(pk=self.access.user.pk).distinct().order_by("username")[:100])
        return [(u.pk, person(u)) for u in users]

    def members(self, conv):
        """Who a moderator may remove: a channel's members; in a direct chat or a ticket, the people added
        besides its client and staff."""
        return [(p.user_id, person(p.user), p.side) for p in service.members(self.access, conv)
                if p.user_id != self.access.user.pk and (conv.type == "group" or p.side not in ("client", "staff"))]

    def card(self, conv):
        """The client card (``engine.chat.card``) with each related row's values beside their column names,
        and a link to the client's profile page when the reader has one."""
        from ..chat.card import client_card

        card = client_card(self.access, conv)
        if card is None:
            return None
        for section in card.get("related", ()):
            names = [c["label"] for c in section.get("columns", ())]
            for row in section.get("rows", ()):
                row["cells"] = list(zip(names, row.get("values", ()), strict=False))
        target = self.site.row_page(self.access, card["entity"]) if card.get("id") else None
        card["url"] = reverse("page-row", args=[target.name, card["id"]]) if target else None
        return card

    def new_form(self, page, chat, data=None, files=None):
        """What starts a conversation from the list: a ticket's create form, or a moderator's new channel."""
        if not self.built.chat.can_start(self.access, chat.name) or chat.type == "direct":
            return None
        if chat.type == "group":
            return {"type": "group", "form": ChannelForm(data), "url": reverse("chat-start", args=[page.name])}
        form = self.ticket_form(chat, data, files)
        return {"type": "ticket", "form": form, "url": reverse("chat-start", args=[page.name]),
                "open": data is not None or "about" in self.request.GET, "attachments": chat.max_size > 0}

    def ticket_form(self, chat, data=None, files=None):
        """The ticket entity's create form (its create fields as the role may fill them)."""
        access, entity = self.access, self.built.spec.entity(chat.entity)
        states = frozenset(writes.state_fields(self.built.spec, entity.name))
        names = [n for n in access.editable_fields(entity.name, "create") if n not in states]
        form_class = forms.modelform_factory(self.built.model(entity.name), form=CabinetModelForm, fields=names,
                                             formfield_callback=html5_widget)
        form_class.states = states
        initial = initial_values(access, entity.name) if data is None else {}
        about = int_param(self.request.GET.get("about"))
        if chat.about in names and about is not None:
            initial[chat.about] = about
        form = FormView.scoped(self, form_class(data, files, initial=initial, prefix="row"))
        if data is not None:
            form.force(access.resolved_forced(entity.name))
        return form

    def refused(self, error, page, conv=None, **extra):
        """A service refusal: JSON for fetch, else 404, or the screen again with the reason and the input."""
        if wants_json(self.request):
            return JsonResponse(error.as_dict(), status=error.status_code)
        if error.status_code == 404:
            raise Http404
        if error.status_code != 400:
            messages.error(self.request, str(error.detail))
        return self.screen(page, conv, status=error.status_code, errors=error_texts(error), **extra)


ACTION_LABELS = {"take": gettext_lazy("Take"), "close": gettext_lazy("Close"), "reopen": gettext_lazy("Reopen"),
                 "join": gettext_lazy("Join"), "leave": gettext_lazy("Leave")}


class ChannelForm(forms.Form):
    title = forms.CharField(label=gettext_lazy("Title"), max_length=200)
    slug = forms.SlugField(label=gettext_lazy("Short name (for the address)"), max_length=100)


class ConversationView(ChatPage):
    """``p/<page>/c/<id>/``: GET the conversation; POST a message (``text`` and ``files``)."""

    def get(self, request, page, conv):
        page = self.chat_page(page)
        return self.screen(page, self.conversation(page, conv))

    def post(self, request, page, conv):
        page = self.chat_page(page)
        conv = self.conversation(page, conv)
        text = request.POST.get("text", "")
        try:
            message = service.post(self.access, conv, text, files=request.FILES.getlist("files"))
        except ChatError as error:
            return self.refused(error, page, conv, typed=text)
        if wants_json(request):
            return JsonResponse(service.message_payload(message), status=201)
        return redirect(f"{reverse('chat-conversation', args=[page.name, conv.pk])}#m-{message.pk}")


class ConversationActionView(ChatPage):
    """``p/<page>/c/<id>/<action>/`` (POST): read, take, hand_over, close, reopen, join, leave, remove_member."""

    def post(self, request, page, conv, action):
        if action not in ACTIONS:
            raise Http404
        page = self.chat_page(page)
        conv = self.conversation(page, conv)
        access = self.access
        try:
            if action == "read":
                service.mark_read(access, conv, upto=int_param(request.POST.get("upto")))
            elif action in WITH_USER:
                user = get_user_model().objects.filter(pk=int_param(request.POST.get("user")) or 0).first()
                if user is None:
                    raise Http404
                getattr(service, action)(access, conv, user)
            else:
                getattr(service, action)(access, conv)
        except ChatError as error:
            return self.refused(error, page, conv)
        if wants_json(request):
            return HttpResponse(status=204)
        if ACTIONS[action]:
            messages.success(request, str(ACTIONS[action]))
        if action == "leave":
            return redirect("page", page.name)
        return redirect("chat-conversation", page.name, conv.pk)


class MessageActionView(ChatPage):
    """``p/<page>/c/<id>/m/<message>/edit/`` and ``.../delete/`` (POST)."""

    def post(self, request, page, conv, message, action):
        if action not in ("edit", "delete"):
            raise Http404
        page = self.chat_page(page)
        conv = self.conversation(page, conv)
        found = conv.messages.filter(pk=message).first()
        if found is None:
            raise Http404
        try:
            if action == "edit":
                found = service.edit(self.access, found, request.POST.get("text", ""))
            else:
                found = service.delete(self.access, found)
        except ChatError as error:
            return self.refused(error, page, conv)
        if wants_json(request):
            return JsonResponse(service.message_payload(found))
        return redirect(f"{reverse('chat-conversation', args=[page.name, conv.pk])}#m-{found.pk}")


class StartView(ChatPage):
    """``p/<page>/start/``: the first message of a direct chat, a new ticket (its row's fields and a first
    message; ``?about=<id>`` fills the ticket's 'about' field), or a moderator's new channel."""

    def get(self, request, page):
        page = self.chat_page(page)
        if page.kind != "chat":
            raise Http404
        return self.screen(page)

    def post(self, request, page):
        page = self.chat_page(page)
        if page.kind != "chat":
            raise Http404
        chat, access = self.chat_of(page), self.access
        text, files = request.POST.get("text", ""), request.FILES.getlist("files")
        form = None
        try:
            if chat.type == "direct":
                conv = service.start(access, chat.name, text=text, files=files)
            else:
                form = (ChannelForm(request.POST) if chat.type == "group"
                        else self.ticket_form(chat, request.POST, request.FILES))
                if not form.is_valid():
                    return self.retry(page, chat, form, text, errors=[])
                values = form.cleaned_data if chat.type == "group" else form.write_data()
                conv = service.start(access, chat.name, text=text, files=files, values=values)
        except ChatError as error:
            if wants_json(request) or error.status_code == 404 or form is None:
                return self.refused(error, page, None, typed=text)
            for name, items in (getattr(error, "fields", None) or {}).items():
                if name in form.fields:
                    for item in items:
                        form.add_error(name, item.get("message", "") if isinstance(item, dict) else str(item))
            return self.retry(page, chat, form, text, status=error.status_code,
                              errors=[e for n, e in _split(error) if n not in form.fields])
        except writes.DomainError as refusal:  # the ticket's row refused by the write path
            form.refuse(refusal)
            return self.retry(page, chat, form, text, errors=[])
        if wants_json(request):
            return JsonResponse({"conversation": conv.pk,
                                 "url": reverse("chat-conversation", args=[page.name, conv.pk])}, status=201)
        return redirect("chat-conversation", page.name, conv.pk)

    def retry(self, page, chat, form, text, errors, status=400):
        """The list again with the new-ticket (or new-channel) form open, its errors and what was typed."""
        new = {"type": chat.type, "form": form, "url": reverse("chat-start", args=[page.name]), "open": True,
               "attachments": chat.max_size > 0}
        return self.screen(page, status=status, new=new, typed=text, errors=errors)


def _split(error):
    for name, items in (getattr(error, "fields", None) or {}).items():
        for item in items:
            yield name, item.get("message", "") if isinstance(item, dict) else str(item)


class TicketRowView(ChatPage):
    """``p/<page>/row/<id>/``: the ticket conversation of a row the user sees (made on first use)."""

    def get(self, request, page, row):
        page = self.chat_page(page)
        chat = next((self.built.spec.chat(n) for n in page.chats if self.built.spec.chat(n).type == "ticket"), None)
        if chat is None:
            raise Http404
        try:
            conv = service.ticket_for_row(self.access, chat.name, row)
        except ChatError as error:
            return self.refused(error, page)
        return redirect("chat-conversation", page.name, conv.pk)
