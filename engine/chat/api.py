"""The chat's REST API under ``/api/chat/``: chats, conversations, messages, and what operators and moderators do.

Every view reads the built version's chat policy (``built.chat``) and writes through ``engine.chat.service``;
it decides nothing about access itself. A conversation the caller may not see is a 404, an action they may
not take on one they see a 403, as on the pages and the stream. ``ChatError`` becomes the API's error shape
(``{field: [{message, code}]}``, or ``detail``) in ``ChatView.handle_exception``.
"""
from __future__ import annotations

import json

from django.contrib.auth import get_user_model
from django.urls import include, path
from django.utils.translation import get_language
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.reverse import reverse

from ..access import NotFound, access_for
from ..api.pagination import Pagination
from . import service
from .card import client_card
from .errors import ChatError

TAG = "chat"
MAX_ID = 2**63 - 1  # the largest id a bigint column stores: a larger one names nothing (404 or 400, never 500)
MAX_LIMIT = 100
MAX_FILES = 10


# --- errors -----------------------------------------------------------------------------------

class ChatApiError(exceptions.APIException):
    """A ``ChatError`` as DRF sees it: its own status, detail and code, or its field errors."""

    def __init__(self, status_code, detail, code):
        self.status_code = status_code
        super().__init__(detail, code)


def api_error(exc):
    """The DRF exception of ``exc`` (a ``ChatError``): field errors keep their names and codes."""
    fields = getattr(exc, "fields", None) or {}
    code = getattr(exc, "code", None) or getattr(exc, "default_code", "error")
    if fields:
        detail = {name: [exceptions.ErrorDetail(*_message(item, code)) for item in found]
                  for name, found in fields.items()}
        return ChatApiError(exc.status_code, detail, code)
    return ChatApiError(exc.status_code, str(getattr(exc, "detail", "") or exc), code)


def _message(item, code):
    if isinstance(item, dict):
        return str(item.get("message", "")), item.get("code", code)
    return str(item), getattr(item, "code", code)


def refuse(param, message, code="invalid"):
    """A 400 naming the parameter ``param``."""
    return exceptions.ValidationError({param: [exceptions.ErrorDetail(message, code=code)]})


def whole_number(data, name, *, required=False, minimum=0, maximum=MAX_ID):
    """Read ``data[name]`` as a whole number within bounds; None when absent and not required; else a 400."""
    value = data.get(name) if hasattr(data, "get") else None
    if value in (None, ""):
        if required:
            raise refuse(name, "This field is required.", "required")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise refuse(name, "A whole number is required.")
    try:
        number = int(value)
    except ValueError:
        raise refuse(name, "A whole number is required.") from None
    if not minimum <= number <= maximum:
        raise refuse(name, f"Ensure this value is between {minimum} and {maximum}.", "out_of_range")
    return number


def body(request):
    """The request's data as a mapping (a JSON list or scalar is a 400)."""
    data = request.data
    if not hasattr(data, "get"):
        raise exceptions.ValidationError({"non_field_errors": ["Send an object."]})
    return data


def text_of(data):
    text = data.get("text", "")
    if not isinstance(text, str):
        raise refuse("text", "Not a valid string.")
    return text


def files_of(request):
    files = request.FILES.getlist("files") if hasattr(request, "FILES") else []
    if len(files) > MAX_FILES:
        raise refuse("files", f"Send at most {MAX_FILES} files with one message.", "too_many")
    return files


# --- serializers (what the schema shows; the views return the service's own shapes) -------------

class PersonSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class ChatSerializer(serializers.Serializer):
    """A chat of the solution the caller may use."""

    name = serializers.CharField()
    type = serializers.ChoiceField(["direct", "ticket", "group"])
    label = serializers.CharField()
    can_start = serializers.BooleanField(help_text="Whether the caller may open a conversation of it "
                                         "(POST /api/chat/conversations/).")
    unread = serializers.IntegerField(help_text="Conversations with messages the caller has not read.")
    conversations = serializers.URLField()


class ConversationSerializer(serializers.Serializer):
    """A conversation the caller may see."""

    id = serializers.IntegerField()
    chat = serializers.CharField()
    type = serializers.ChoiceField(["direct", "ticket", "group"])
    title = serializers.CharField()
    row = serializers.IntegerField(allow_null=True, help_text="ticket: the id of its row in the chat's entity.")
    slug = serializers.CharField(help_text="group: the channel's name.")
    client = PersonSerializer(allow_null=True)
    operator = PersonSerializer(allow_null=True, help_text="The operator who took it.")
    closed = serializers.BooleanField()
    state = serializers.CharField(allow_null=True, help_text="ticket: the state of its row.")
    created = serializers.DateTimeField()
    last_message_at = serializers.DateTimeField(allow_null=True)
    waiting_since = serializers.DateTimeField(allow_null=True, help_text="The first client message staff have "
                                              "not answered yet.")
    unread = serializers.IntegerField(allow_null=True, help_text="Messages the caller has not read.")
    last_text = serializers.CharField(allow_null=True, help_text="The text of the last message.")
    url = serializers.URLField()


class ConversationDetailSerializer(ConversationSerializer):
    side = serializers.CharField(help_text="The caller's side: client, staff, member or moderator.")
    rights = serializers.ListField(child=serializers.CharField(), help_text="What the caller may do here: read, "
                                   "post, edit_own, moderate, take, hand_over, close, reopen, join, leave, "
                                   "add_member, remove_member.")
    messages = serializers.URLField()


class ConversationPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = ConversationSerializer(many=True)


class StartSerializer(serializers.Serializer):
    """Open a conversation: a direct chat's own thread, a new ticket (its row's fields in ``values``), the
    conversation of an existing ticket row (``row``), or a group channel (moderators: ``values`` slug and title)."""

    chat = serializers.CharField()
    text = serializers.CharField(required=False, allow_blank=True, help_text="The first message.")
    files = serializers.ListField(child=serializers.FileField(), required=False)
    values = serializers.DictField(required=False, help_text="ticket: the fields of the new row; group: slug and "
                                   "title. In a multipart body, a JSON object as text.")
    row = serializers.IntegerField(required=False, help_text="ticket: an existing row to open the conversation of.")


class AttachmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(help_text="The name the sender gave (display only).")
    size = serializers.IntegerField()
    type = serializers.CharField(help_text="The content type found in the file's bytes.")
    is_image = serializers.BooleanField()
    url = serializers.CharField(help_text="The download URL; it answers participants only.")


class MessageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    conversation = serializers.IntegerField()
    author = PersonSerializer(allow_null=True)
    side = serializers.CharField()
    text = serializers.CharField()
    html = serializers.CharField(help_text="The text escaped, with line breaks and safe links.")
    created = serializers.DateTimeField()
    edited = serializers.DateTimeField(allow_null=True)
    deleted = serializers.BooleanField(help_text="Deleted: its text and files are gone.")
    attachments = AttachmentSerializer(many=True)


class MessagePageSerializer(serializers.Serializer):
    results = MessageSerializer(many=True)
    older = serializers.URLField(allow_null=True, help_text="The messages before these, when there may be more.")
    newer = serializers.URLField(allow_null=True, help_text="Poll here for messages after these.")


class PostSerializer(serializers.Serializer):
    text = serializers.CharField(required=False, allow_blank=True, max_length=4000)
    files = serializers.ListField(child=serializers.FileField(), required=False)


class EditSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=4000)


class ReadSerializer(serializers.Serializer):
    upto = serializers.IntegerField(required=False, help_text="The last message id read (default: the last one).")


class ReadResultSerializer(serializers.Serializer):
    last_read_id = serializers.IntegerField()


class UserSerializer(serializers.Serializer):
    user = serializers.IntegerField(help_text="The user's id.")


class CardFieldSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    value = serializers.CharField(allow_null=True, help_text="The value as the cabinet displays it.")


class CardCellSerializer(serializers.Serializer):
    name = serializers.CharField()
    value = serializers.CharField(allow_null=True)


class CardColumnSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()


class CardRowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    values = serializers.ListField(child=serializers.CharField(allow_null=True))
    cells = CardCellSerializer(many=True)


class CardSectionSerializer(serializers.Serializer):
    entity = serializers.CharField()
    title = serializers.CharField()
    columns = CardColumnSerializer(many=True)
    rows = CardRowSerializer(many=True)


class CardSerializer(serializers.Serializer):
    """The client card: the client's profile fields and related rows, each as the reader's field policy shows."""

    entity = serializers.CharField(help_text="The client's profile entity.")
    id = serializers.IntegerField(allow_null=True, help_text="The profile row (null when the client has none).")
    title = serializers.CharField()
    user = PersonSerializer(allow_null=True)
    fields = CardFieldSerializer(many=True)
    related = CardSectionSerializer(many=True)


class MemberSerializer(PersonSerializer):
    side = serializers.CharField(help_text="client, staff, member or moderator")


def person(user):
    if user is None:
        return None
    return {"id": user.pk, "name": user.get_full_name() or user.get_username()}


# --- views ------------------------------------------------------------------------------------

class ChatView(GenericAPIView):
    """The base of the chat's views: the caller's access, the conversation by id, errors in the API's shape."""

    built = None
    pagination_class = None  # only the conversations list pages (Conversations); messages go by id

    @property
    def access(self):
        return access_for(self.request, self.built)

    @property
    def chat(self):
        return self.built.chat

    def handle_exception(self, exc):
        if isinstance(exc, ChatError):
            exc = api_error(exc)
        return super().handle_exception(exc)

    def conversation(self, pk):
        if pk > MAX_ID:
            raise NotFound()
        return self.chat.get(self.access, pk)

    def conversation_data(self, conv, detail=False, states=None):
        """The caller's view of ``conv``; with ``detail``, their side and rights too. ``states``: the ticket
        rows' states of a list (``ticket_states``); a single conversation reads its own."""
        request = self.request
        if states is not None:
            state = states.get(conv.pk)
            closed = self.chat.is_closed(conv, state) if conv.type == "ticket" else conv.closed
        else:
            found = service.state_payload(self.access, conv)
            state, closed = found["state"], found["closed"]
        data = {
            "id": conv.pk, "chat": conv.chat, "type": conv.type, "title": conv.title, "row": conv.row_id,
            "slug": conv.slug, "client": person(conv.client), "operator": person(conv.operator),
            "closed": closed, "state": state, "created": conv.created_at,
            "last_message_at": conv.last_message_at, "waiting_since": conv.waiting_since,
            "unread": getattr(conv, "unread", None), "last_text": getattr(conv, "last_text", None),
            "url": reverse("api:chat-conversation", args=[conv.pk], request=request),
        }
        if detail:
            data["side"] = self.chat.side(self.access, conv)
            data["rights"] = sorted(self.chat.rights(self.access, conv))
            data["messages"] = reverse("api:chat-messages", args=[conv.pk], request=request)
        return ConversationDetailSerializer(data).data if detail else ConversationSerializer(data).data

    def ticket_states(self, convs):
        """{conversation id: its ticket row's state} for a page of conversations: one query per ticket chat."""
        by_chat, found = {}, {}
        for conv in convs:
            if conv.type == "ticket" and conv.row_id is not None:
                by_chat.setdefault(conv.chat, []).append(conv)
        for name, items in by_chat.items():
            spec = self.chat.chat(name)
            field = self.chat.state_field(spec)
            if field is None:
                continue
            rows = self.built.model(spec.entity)._base_manager.filter(pk__in=[c.row_id for c in items])
            states = dict(rows.values_list("pk", field))
            found.update({c.pk: states.get(c.row_id) for c in items})
        return found

    def detail_response(self, conv, code=status.HTTP_200_OK):
        conv = self.conversation(conv.pk)  # re-read: what the change left, as the caller now sees it
        return Response(self.conversation_data(conv, detail=True), status=code)


class Chats(ChatView):
    """The chats the caller may use, with their unread counts."""

    @extend_schema(responses=ChatSerializer(many=True), tags=[TAG])
    def get(self, request):
        access = self.access
        unread = service.unread(access)
        language, default = get_language(), self.built.spec.default_language
        found = []
        for chat in self.chat.chats_for(access):
            found.append({
                "name": chat.name, "type": chat.type, "label": chat.label.get(language, default),
                "can_start": self.chat.can_start(access, chat.name),
                "unread": unread.get(chat.name, 0),
                "conversations": reverse("api:chat-conversations", request=request) + f"?chat={chat.name}",
            })
        return Response(ChatSerializer(found, many=True).data)


class Conversations(ChatView):
    """The conversations the caller sees, and opening one."""

    pagination_class = Pagination

    @extend_schema(
        parameters=[
            OpenApiParameter("chat", str, description="Only this chat's conversations."),
            OpenApiParameter("state", str, enum=list(service.STATES),
                             description="all (the default), open, closed, waiting (a client waits for an answer) "
                                         "or unread."),
            OpenApiParameter("operator", str, description="all (the default), mine, unassigned, or a user id."),
        ],
        responses=ConversationPageSerializer, tags=[TAG])
    def get(self, request):
        """The conversations the caller may see: oldest unanswered first, then by latest message; filtered
        by chat, state and operator; paginated like every list of the API."""
        params = request.query_params
        options = {}
        for name in ("chat", "state", "operator"):
            value = params.get(name)
            if value:
                if len(value) > 100 or "\x00" in value:
                    raise refuse(name, "Not a valid value.")
                options[name] = value
        if options.get("operator", "").isdigit():  # a user's id: within what the column stores
            whole_number(options, "operator", minimum=1)
        chat = options.pop("chat", None)
        if chat is not None and self.built.spec.chat(chat) is None:
            raise refuse("chat", f"Unknown chat; known: {', '.join(c.name for c in self.built.spec.chats)}.")
        queryset = service.conversations(self.access, chat, **options).select_related("client", "operator")
        page = self.paginate_queryset(queryset)
        states = self.ticket_states(page)
        return self.get_paginated_response([self.conversation_data(conv, states=states) for conv in page])

    @extend_schema(request={"application/json": StartSerializer, "multipart/form-data": StartSerializer},
                   responses={201: ConversationDetailSerializer}, tags=[TAG])
    def post(self, request):
        """Open a conversation: a client's own direct one, a new ticket (its row made from ``values``) or
        the ticket of an existing ``row``, or a moderator's new channel; with a first message if given."""
        data = body(request)
        name = data.get("chat")
        chat = self.built.spec.chat(name) if isinstance(name, str) else None
        if chat is None:
            raise refuse("chat", "This field is required." if not name else "Unknown chat.",
                         "required" if not name else "invalid")
        row = whole_number(data, "row", minimum=1)
        if row is not None:
            conv = service.ticket_for_row(self.access, chat.name, row)
            return self.detail_response(conv, status.HTTP_201_CREATED)
        values = _values(data)
        if chat.type == "ticket" and chat.entity and self.chat.can_start(self.access, chat.name):
            values = self.ticket_values(chat.entity, values or {})
        conv = service.start(self.access, chat.name, text=text_of(data), files=files_of(request), values=values)
        return self.detail_response(conv, status.HTTP_201_CREATED)


    def ticket_values(self, entity, values):
        """``values`` of a new ticket row validated as ``POST /api/<entity>/`` validates them (the same
        serializer: required fields, types, refs among the rows the caller may pick, unique values)."""
        access = self.access
        editable = access.editable_fields(entity, "create")
        purpose = "" if editable == access.editable_fields(entity, "update") else "Create"
        serializer = self.built.api.entity(entity).serializer(access.visible_fields(entity), editable, (), purpose)(
            data=values, context={"access": access, "request": self.request, "view": self})
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)


def _values(data):
    values = data.get("values")
    if values in (None, ""):
        return None
    if isinstance(values, str):  # a multipart body: the object as JSON text
        try:
            values = json.loads(values)
        except ValueError:
            raise refuse("values", "Send an object (as JSON text in a multipart body).") from None
    if not isinstance(values, dict):
        raise refuse("values", "Send an object.")
    return values


class ConversationDetail(ChatView):
    @extend_schema(responses=ConversationDetailSerializer, tags=[TAG])
    def get(self, request, pk):
        """One conversation, with the caller's side and what they may do in it."""
        conv = self.conversation(pk)
        return Response(self.conversation_data(conv, detail=True))


class Messages(ChatView):
    """A conversation's messages, and posting one."""

    @extend_schema(
        parameters=[
            OpenApiParameter("before", int, description="Only messages with a smaller id (older ones)."),
            OpenApiParameter("after", int, description="Only messages with a larger id (newer ones)."),
            OpenApiParameter("limit", int, description=f"At most this many (1 to {MAX_LIMIT}, default 50)."),
        ],
        responses=MessagePageSerializer, tags=[TAG])
    def get(self, request, pk):
        """The latest ``limit`` messages (or those before / after a message id), oldest first."""
        conv = self.conversation(pk)
        params = request.query_params
        before = whole_number(params, "before", minimum=1)
        after = whole_number(params, "after", minimum=0)
        limit = whole_number(params, "limit", minimum=1, maximum=MAX_LIMIT) or 50
        found = service.messages(self.access, conv, before=before, after=after, limit=limit)
        url = reverse("api:chat-messages", args=[conv.pk], request=request)
        older = f"{url}?before={found[0].pk}&limit={limit}" if found and len(found) >= limit and after is None \
            else None
        last = found[-1].pk if found else after
        newer = f"{url}?after={last}&limit={limit}" if last is not None else f"{url}?after=0&limit={limit}"
        return Response({"results": [service.message_payload(m) for m in found], "older": older, "newer": newer})

    @extend_schema(request={"multipart/form-data": PostSerializer, "application/json": PostSerializer},
                   responses={201: MessageSerializer}, tags=[TAG])
    def post(self, request, pk):
        """Post a message: ``text`` and, in a multipart body, ``files`` (within the chat's types and size)."""
        conv = self.conversation(pk)
        data = body(request)
        message = service.post(self.access, conv, text_of(data), files_of(request))
        return Response(service.message_payload(message), status=status.HTTP_201_CREATED)


class MessageDetail(ChatView):
    """Edit or delete one message (authors within the chat's window; moderators delete any)."""

    def message(self, pk):
        if pk > MAX_ID:
            raise NotFound()
        return pk  # the service finds it in a conversation the caller sees, or answers 404

    @extend_schema(request=EditSerializer, responses=MessageSerializer, tags=[TAG])
    def patch(self, request, pk):
        """Change the text of the caller's own message, within the chat's edit window."""
        message = self.message(pk)
        data = body(request)
        if "text" not in data:
            raise refuse("text", "This field is required.", "required")
        return Response(service.message_payload(service.edit(self.access, message, text_of(data))))

    @extend_schema(request=None, responses={200: MessageSerializer}, tags=[TAG],
                   description="The message stays in the thread, its text and files removed; the answer is it as "
                               "it is now.")
    def delete(self, request, pk):
        message = self.message(pk)
        return Response(service.message_payload(service.delete(self.access, message)))


class Read(ChatView):
    @extend_schema(request=ReadSerializer, responses=ReadResultSerializer, tags=[TAG])
    def post(self, request, pk):
        """Mark the conversation read up to a message (default: all of it)."""
        conv = self.conversation(pk)
        upto = whole_number(body(request), "upto", minimum=0)
        return Response({"last_read_id": service.mark_read(self.access, conv, upto)})


def _action(name, doc, takes_user=False, method="post"):
    """A view running ``service.<name>(access, conv[, user])`` and answering the conversation as it is now."""

    def handler(self, request, pk):
        conv = self.conversation(pk)
        args = (self.user(body(request) if method == "post" else _delete_data(request)),) if takes_user else ()
        getattr(service, name)(self.access, conv, *args)
        return self.detail_response(conv)

    handler.__name__ = method
    handler.__doc__ = doc
    handler = extend_schema(request=UserSerializer if takes_user else None,
                            responses={200: ConversationDetailSerializer}, tags=[TAG],
                            parameters=[OpenApiParameter("user", int, description="The user's id (or in the body).")]
                            if takes_user and method == "delete" else None)(handler)
    return handler


def _delete_data(request):
    data = request.data if hasattr(request.data, "get") and request.data.get("user") is not None else None
    return data or request.query_params


class UserTarget(ChatView):
    def user(self, data):
        pk = whole_number(data, "user", required=True, minimum=1)
        found = get_user_model().objects.filter(pk=pk, is_active=True).first()
        if found is None:
            raise refuse("user", "No such user.", "does_not_exist")
        return found


def action_view(name, doc, takes_user=False):
    return type(f"{name.title().replace('_', '')}View", (UserTarget,), {"post": _action(name, doc, takes_user)})


class Members(UserTarget):
    """Add a member to a group channel (or one more participant to any conversation), or remove one."""

    @extend_schema(responses=MemberSerializer(many=True), tags=[TAG])
    def get(self, request, pk):
        """The conversation's participants (not removed)."""
        conv = self.conversation(pk)
        return Response(MemberSerializer([{"id": p.user_id, "name": person(p.user)["name"], "side": p.side}
                                          for p in service.members(self.access, conv)], many=True).data)

    post = _action("add_member", "Add the user to the conversation (a moderator's or staff's act).", True)
    delete = _action("remove_member", "Remove the user from the conversation: they see nothing of it and "
                     "may not rejoin.", True, method="delete")


class Card(ChatView):
    @extend_schema(responses=CardSerializer, tags=[TAG])
    def get(self, request, pk):
        """The client card beside the conversation (staff): the client's fields and related rows, as the
        caller's field policy shows them."""
        conv = self.conversation(pk)
        card = client_card(self.access, conv)
        if card is None:
            raise exceptions.NotFound("This conversation has no client card.")
        return Response(card)


ACTIONS = {
    "take": ("Take the conversation: the caller becomes its operator.", False),
    "hand_over": ("Hand the conversation over to another operator.", True),
    "close": ("Close the conversation (a ticket: its workflow's close transition).", False),
    "reopen": ("Reopen the conversation (a ticket: its workflow's reopen transition).", False),
    "join": ("Join the group channel.", False),
    "leave": ("Leave the group channel.", False),
}


def urlpatterns(built):
    """The chat's API URL patterns of ``built`` (inside the ``api`` namespace), or none without chats."""
    if not built.spec.chats:
        return []
    conv = "conversations/<int:pk>/"
    patterns = [
        path("chats/", Chats.as_view(built=built), name="chat-chats"),
        path("conversations/", Conversations.as_view(built=built), name="chat-conversations"),
        path(conv, ConversationDetail.as_view(built=built), name="chat-conversation"),
        path(f"{conv}messages/", Messages.as_view(built=built), name="chat-messages"),
        path("messages/<int:pk>/", MessageDetail.as_view(built=built), name="chat-message"),
        path(f"{conv}read/", Read.as_view(built=built), name="chat-read"),
        *(path(f"{conv}{name}/", action_view(name, doc, user).as_view(built=built), name=f"chat-{name}")
          for name, (doc, user) in ACTIONS.items()),
        path(f"{conv}members/", Members.as_view(built=built), name="chat-members"),
        path(f"{conv}card/", Card.as_view(built=built), name="chat-card"),
    ]
    return [path("chat/", include(patterns))]
