"""Who sees which conversation and what they may do in it, read from the solution's access policy.

A conversation is visible exactly when (one ``Q`` on ``Conversation``, one SQL query for a list):
- direct: the user holds a ``clients`` role and is the conversation's client, or holds a ``staff`` role;
- ticket: the user may view the ticket's row (``Access.queryset(entity, "view")``: the role's row scope and
  guardian grants on the row) and holds a role with a grant on the entity;
- group: the user holds a ``moderators`` role, or a ``members`` role and (join: open, or a participant row),
  and was not removed;
- and, for every type, when a guardian grant ``engine.view_conversation`` on it is held by the user or one
  of their groups (how "add one more participant" works). Superusers see everything.
"""
from __future__ import annotations

from django.db.models import Exists, OuterRef, Q

from ..access import NotFound
from ..writes import allowed, transitions_of
from .errors import NotVisible
from .models import Conversation, Participant

STAFF_SIDES = ("staff", "moderator")


class ChatPolicy:
    """The chat rules of one built version (``built.chat``)."""

    def __init__(self, built):
        self.built = built
        self.spec = built.spec
        self.chats = {c.name: c for c in built.spec.chats}
        self.channels_ready = set()  # group chats whose declared channels exist (engine.chat.service)

    def chat(self, name):
        """The ``ChatSpec`` called ``name``; raise ``NotVisible`` when the solution has none."""
        try:
            return self.chats[name]
        except KeyError:
            raise NotVisible() from None

    # --- roles -----------------------------------------------------------------------------

    def is_staff(self, access, chat):
        """Whether the user answers or moderates in ``chat`` (superusers do)."""
        if access.is_superuser:
            return True
        roles = chat.moderators if chat.type == "group" else chat.staff
        return bool(set(roles) & access.roles)

    def _is_client(self, access, chat):
        return bool(set(chat.clients) & access.roles)

    def _is_member(self, access, chat):
        return bool(set(chat.members) & access.roles)

    def _ticket_reader(self, access, chat):
        """Whether a role of the user has a grant on the ticket entity (or the user a grant on some row)."""
        if chat.entity not in access.policy.entities:
            return False
        return bool(access.rules(chat.entity)) or bool(access.granted_ids(chat.entity, "view"))

    def _granted(self, access):
        """Ids of conversations granted to the user or their groups (``engine.view_conversation``)."""
        if not access.user.is_authenticated:
            return ()
        permission = access.policy.permission_id(Conversation, "view")
        if permission is None:
            return ()
        memo = access.__dict__.setdefault("_chat_granted", {})
        if permission not in memo:
            # The same cached, generation-checked read engine.access does for rows.
            memo[permission] = access.granted_object_ids(permission)
        return memo[permission]

    # --- visibility ------------------------------------------------------------------------

    def chats_for(self, access):
        """The chats the user may use at all: a role in them, or a conversation granted to them."""
        if access.is_superuser:
            return list(self.spec.chats)
        found = [c for c in self.spec.chats if self._chat_q(access, c) is not None]
        granted = self._granted(access)
        if granted and len(found) < len(self.spec.chats):
            names = set(Conversation.objects.filter(pk__in=granted).values_list("chat", flat=True).distinct())
            found = [c for c in self.spec.chats if c in found or c.name in names]
        return found

    def _chat_q(self, access, chat):
        """The conversations of ``chat`` the user's roles make visible, or None for none."""
        mine = Q(chat=chat.name, type=chat.type)  # a chat whose type changed keeps its old threads hidden
        if access.is_superuser:
            return mine
        if not access.user.is_authenticated:
            return None
        if chat.type == "direct":
            if set(chat.staff) & access.roles:
                return mine
            if self._is_client(access, chat):
                return mine & Q(client=access.user)
            return None
        if chat.type == "ticket":
            if not self._ticket_reader(access, chat):
                return None
            rows = access.queryset(chat.entity, "view").order_by().values("pk")
            return mine & Q(row_id__in=rows)
        if set(chat.moderators) & access.roles:
            return mine
        if not self._is_member(access, chat):
            return None
        removed = Participant.objects.filter(conversation=OuterRef("pk"), user=access.user, removed=True)
        if chat.join == "open":
            return mine & ~Exists(removed)
        joined = Participant.objects.filter(conversation=OuterRef("pk"), user=access.user, removed=False)
        return mine & Exists(joined)

    def visible(self, access, chat=None):
        """The conversations the user may see (of ``chat`` when given): one SQL query."""
        chats = [self.chat(chat)] if chat is not None else list(self.spec.chats)
        names = [c.name for c in chats]
        manager = Conversation.objects
        if access.is_superuser:
            return manager.filter(chat__in=names)
        condition = None
        for c in chats:
            q = self._chat_q(access, c)
            if q is not None:
                condition = q if condition is None else condition | q
        granted = self._granted(access)
        if granted:
            extra = Q(pk__in=granted, chat__in=names)
            condition = extra if condition is None else condition | extra
        if condition is None:
            return manager.none()
        return manager.filter(condition)

    def get(self, access, pk, chat=None):
        """The visible conversation ``pk``; raise ``NotVisible`` (an ``engine.access.NotFound``) otherwise."""
        try:
            pk = int(pk)
        except (TypeError, ValueError):
            raise NotVisible() from None
        if not 0 < pk < 2**63:
            raise NotVisible()
        conv = self.visible(access, chat).select_related("client", "operator").filter(pk=pk).first()
        if conv is None:
            raise NotVisible()
        return self.checked(access, conv)

    def checked(self, access, conv):
        """Mark ``conv`` as seen visible to ``access`` (the service trusts the mark instead of asking again)."""
        conv._chat_visible_to = (self.built.number, access.user.pk)
        return conv

    def is_checked(self, access, conv):
        return getattr(conv, "_chat_visible_to", None) == (self.built.number, access.user.pk)

    def ensure_visible(self, access, conv):
        """``conv`` (a conversation or its id) if visible to ``access``; raise ``NotVisible`` otherwise."""
        if isinstance(conv, Conversation) and self.is_checked(access, conv):
            return conv
        try:
            return self.get(access, conv.pk if isinstance(conv, Conversation) else conv)
        except NotFound:
            raise NotVisible() from None

    # --- rights ----------------------------------------------------------------------------

    def side(self, access, conv):
        """The user's side in ``conv``: client, staff, member or moderator."""
        chat = self.chat(conv.chat)
        if chat.type == "group":
            return "moderator" if self.is_staff(access, chat) else "member"
        if chat.type == "direct" and conv.client_id == access.user.pk:
            return "client"
        if self.is_staff(access, chat):
            return "staff"
        return "client"

    def participant(self, access, conv):
        """The user's ``Participant`` row in ``conv`` or None (read once per conversation object)."""
        memo = conv.__dict__.setdefault("_chat_participants", {})
        if access.user.pk not in memo:
            memo[access.user.pk] = Participant.objects.filter(conversation=conv, user_id=access.user.pk).first()
        return memo[access.user.pk]

    def ticket_state(self, conv):
        """(state field, state) of a ticket's row, or (None, None) when its entity has no workflow."""
        chat = self.chat(conv.chat)
        field = self.state_field(chat)
        if field is None:
            return None, None
        model = self.built.model(chat.entity)
        return field, model._base_manager.filter(pk=conv.row_id).values_list(field, flat=True).first()

    def state_field(self, chat):
        """The state field of a ticket chat's workflow (the one holding its close transition), or None."""
        found = transitions_of(self.spec, chat.entity).get(chat.close or chat.reopen or "")
        if found:
            return found[0].field
        flows = [wf for wf in self.spec.workflows if wf.entity == chat.entity]
        return flows[0].field if flows else None

    def closed_states(self, chat):
        """The states of a ticket chat's row in which no one posts: ``closed``, else where ``close`` leads."""
        if chat.closed_states:
            return tuple(chat.closed_states)
        found = transitions_of(self.spec, chat.entity).get(chat.close or "")
        return (found[1].target,) if found else ()

    def is_closed(self, conv, state=None):
        """Whether no one may post in ``conv`` (a ticket: its row's ``state``, read when not given)."""
        chat = self.chat(conv.chat)
        if chat.type == "ticket":
            states = self.closed_states(chat)
            if states:
                if state is None:
                    state = self.ticket_state(conv)[1]
                return conv.closed or state in states
        return conv.closed

    def rights(self, access, conv):
        """What the user may do in the visible ``conv`` (a frozenset of right names)."""
        chat = self.chat(conv.chat)
        staff = self.is_staff(access, chat)
        found = {"read"}
        state = self.ticket_state(conv)[1] if chat.type == "ticket" else None
        closed = self.is_closed(conv, state)
        if chat.type == "group":
            me = self.participant(access, conv)
            joined = me is not None and not me.removed
            if not closed and (staff or joined):
                found.add("post")
            if joined and not staff:
                found.add("leave")
            if (not joined and me is None and chat.join == "open" and self._is_member(access, chat)
                    and not staff):
                found.add("join")
            if staff:
                found |= {"moderate", "add_member", "remove_member", "close" if not closed else "reopen"}
        else:
            if not closed:
                found.add("post")
            if staff:
                found |= {"moderate", "hand_over", "add_member", "remove_member"}
                if conv.operator_id != access.user.pk:
                    found.add("take")
            if chat.type == "ticket":
                found |= self._ticket_rights(access, chat, state)
        if chat.edit_window and "post" in found:
            found.add("edit_own")
        return frozenset(found)

    def _ticket_rights(self, access, chat, state):
        found = set()
        transitions = transitions_of(self.spec, chat.entity)
        for right, name in (("close", chat.close), ("reopen", chat.reopen)):
            if name and name in transitions and state in transitions[name][1].sources \
                    and allowed(access, chat.entity, name):
                found.add(right)
        return found

    def can_start(self, access, chat):
        """Whether the user may start a conversation of ``chat`` (direct: their own; ticket: create a row;
        group: a new channel, moderators only)."""
        spec = self.chats.get(chat)
        if spec is None or not access.user.is_authenticated:
            return False
        if spec.type == "direct":
            return self._is_client(access, spec)
        if spec.type == "ticket":
            return spec.entity in access.policy.entities and access.can(spec.entity, "create")
        return self.is_staff(access, spec)
