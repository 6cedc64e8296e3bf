"""Every change to a chat, and every read of it: the one place pages, the API and streams call.

Each write is one transaction: the permission is checked inside it (on the locked conversation), the
change and its ``ChatEvent`` are written together, and the event is published after commit
(``engine.chat.events``). Refusals are ``engine.chat.errors`` (404 invisible, 403 not allowed, 400
invalid, 409 closed or changed). Reads take a constant number of queries whatever the number of rows.
"""
from __future__ import annotations

import datetime as dt
import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Case, Count, F, IntegerField, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.urls import get_script_prefix
from django.utils import timezone
from django.utils.translation import gettext as _
from guardian.shortcuts import assign_perm, remove_perm

from .. import writes
from ..access import AccessDenied, NotFound
from ..fieldtypes import FieldType
from ..spec import USER
from . import events, notify, render
from .errors import Closed, Conflict, Invalid, NotAllowed, NotVisible, from_domain
from .files import check_files
from .models import Attachment, Conversation, Message, Participant

MAX_TEXT = render.MAX_LENGTH
MAX_PAGE = 200
SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")
VIEW_PERMISSION = "engine.view_conversation"


def _policy(access):
    return access.policy.built.chat


# --- payloads ------------------------------------------------------------------------------------

def user_name(user):
    """How a person is named in a conversation."""
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


def _iso(value):
    return value.astimezone(dt.UTC).isoformat() if value else None


def file_url(attachment_id):
    """The scoped download URL of an attachment (``engine.chat.download``)."""
    return f"{get_script_prefix()}chat/files/{attachment_id}/"


def message_payload(message):
    """A message as plain data for pages, the API and streams (deleted: no text, no files)."""
    deleted = message.deleted_at is not None
    author = message.author
    attachments = [] if deleted else [
        {"id": a.pk, "name": a.name, "size": a.size, "type": a.content_type, "is_image": a.is_image,
         "url": file_url(a.pk)} for a in message.attachments.all()]
    return {
        "id": message.pk, "conversation": message.conversation_id,
        "author": {"id": author.pk, "name": user_name(author)} if author is not None else None,
        "side": message.side, "text": "" if deleted else message.text,
        "html": "" if deleted else str(render.html(message.text)),
        "created": _iso(message.created_at), "edited": _iso(message.edited_at), "deleted": deleted,
        "attachments": attachments,
    }


def state_payload(access, conv):
    """The ``state`` event's data: whether the conversation is closed, its row's state, its operator."""
    policy = _policy(access)
    state = policy.ticket_state(conv)[1] if conv.type == "ticket" else None
    operator = conv.operator if conv.operator_id else None
    return {"closed": policy.is_closed(conv, state), "state": state,
            "operator": {"id": operator.pk, "name": user_name(operator)} if operator is not None else None}


# --- helpers -------------------------------------------------------------------------------------

def _locked(access, conv):
    """The conversation re-read and locked for the rest of the transaction (still marked visible)."""
    locked = Conversation.objects.select_for_update().filter(pk=conv.pk).first()
    if locked is None:
        raise NotVisible()
    return _policy(access).checked(access, locked)


def _require(access, conv, right):
    """Raise unless the user has ``right`` in the visible ``conv`` (``Closed`` when closing is why)."""
    policy = _policy(access)
    rights = policy.rights(access, conv)
    if right in rights:
        return rights
    if right in ("post", "edit_own") and policy.is_closed(conv):
        raise Closed()
    raise NotAllowed()


@dataclass
class _Change:
    """What a change works on: the conversation (locked, re-read), its chat, and the person it names."""

    conv: Conversation
    chat: object  # the conversation's ChatSpec
    target: object = None  # the account named by the change (hand over, add or remove a member)


@contextmanager
def _changing(access, conv, right=None, *, target=None):
    """One change to the visible ``conv``: visibility checked (``NotVisible``), the ``target`` account
    resolved (``Invalid``), then a transaction with the conversation locked and ``right`` required on the
    locked row (``NotAllowed`` or ``Closed``). The body's writes are part of that transaction."""
    policy = _policy(access)
    conv = policy.ensure_visible(access, conv)
    chat = policy.chat(conv.chat)
    found = _target_user(target) if target is not None else None
    with transaction.atomic():
        conv = _locked(access, conv)
        if right is not None:
            _require(access, conv, right)
        yield _Change(conv, chat, found)


def _store_on_commit(attachment, item):
    """Name ``attachment``'s file now and write its bytes when the transaction commits: a post rolled back
    (by its own failure or by the caller's transaction) leaves no file behind. Registered before the
    post's event, so the file is in storage before any client hears of it."""
    field = attachment.file.field
    attachment.file.name = field.generate_filename(attachment, item.storage_name())
    name, data = attachment.file.name, item.data

    def write():
        saved = field.storage.save(name, ContentFile(data))
        if saved != name:  # storage picked another name (one existed): point the row at it
            Attachment.objects.filter(pk=attachment.pk).update(file=saved)

    transaction.on_commit(write, robust=True)  # a failed write is logged; the download then answers 404


def _participant(conv, user, side):
    me, _ = Participant.objects.get_or_create(conversation=conv, user=user, defaults={"side": side})
    return me


def _check_text(text, *, has_files):
    if not isinstance(text, str):
        raise Invalid(fields={"text": [{"message": _("Text is required."), "code": "required"}]})
    if len(text) > MAX_TEXT:
        raise Invalid(fields={"text": [{"message": _("At most %(n)d characters.") % {"n": MAX_TEXT},
                                        "code": "max_length"}]})
    if not text.strip() and not has_files:
        raise Invalid(fields={"text": [{"message": _("Write a message or attach a file."), "code": "required"}]})
    return text


def _check_message(chat, text, files):
    files = list(files or ())
    _check_text(text or "", has_files=bool(files))
    return check_files(chat, files)


def _target_user(user):
    """The account ``user`` (an account or its id); ``Invalid`` when there is none."""
    User = get_user_model()
    if isinstance(user, User):
        return user
    try:
        found = User._default_manager.filter(pk=int(user), is_active=True).first()
    except (TypeError, ValueError):
        found = None
    if found is None:
        raise Invalid(fields={"user": [{"message": _("Unknown user."), "code": "unknown"}]})
    return found


def _roles_of(access, user):
    return access.policy.roles_of(user) if user.is_authenticated else frozenset()


def _side_of(access, chat, user):
    roles = _roles_of(access, user)
    if chat.type == "group":
        return "moderator" if (user.is_superuser or set(chat.moderators) & roles) else "member"
    return "staff" if (user.is_superuser or set(chat.staff) & roles) else "client"


# --- starting conversations ----------------------------------------------------------------------

def start(access, chat, *, text="", files=(), values=None, source="api"):
    """Start a conversation of ``chat`` (with a first message when ``text`` or ``files`` are given).

    direct: the client's own conversation (got or created); ticket: a new row of the chat's entity made
    from ``values`` through ``engine.writes.create``, then its conversation; group: a moderator creates a
    channel, ``values={"slug": ..., "title": ...}``.
    """
    policy = _policy(access)
    spec = policy.chat(chat)
    if not policy.can_start(access, chat):
        if spec in policy.chats_for(access):
            raise NotAllowed()
        raise NotVisible()
    checked = _check_message(spec, text, files) if (text or files) else []
    first = bool(text or checked)
    try:
        with transaction.atomic():
            if spec.type == "direct":
                conv, _ = Conversation.objects.get_or_create(
                    chat=spec.name, type=Conversation.DIRECT, client=access.user,
                    defaults={"title": user_name(access.user)[:200]})
                _participant(conv, access.user, Participant.CLIENT)
            elif spec.type == "ticket":
                row = writes.create(access, spec.entity, _ticket_values(access, spec, values or {}), source=source)
                conv = _ticket_conversation(access, spec, row)
            else:
                conv = _new_channel(spec, values or {})
                _participant(conv, access.user, Participant.MODERATOR)
            policy.checked(access, conv)
            if first:
                conv = _locked(access, conv)
                _require(access, conv, "post")
                _post(access, conv, spec, text or "", checked)
    except (writes.DomainError, ValidationError) as exc:
        raise from_domain(exc) from None
    except AccessDenied as exc:
        raise NotAllowed(str(exc)) from None
    return conv


def _ticket_values(access, spec, values):
    """``values`` for a new ticket row: refs given as ids resolved among the rows the user may pick."""
    entity = spec.entity
    ep = access.entity(entity)
    result, errors = {}, {}
    for key, value in dict(values).items():
        f = ep.entity.field(key)
        if f is not None and f.type is FieldType.REF and value is not None and value != "":
            pk = getattr(value, "pk", value)
            try:
                found = access.ref_choices(entity, key).filter(pk=int(pk)).first()
            except (TypeError, ValueError):
                found = None
            if found is None:
                errors[key] = [{"message": _("Select a valid choice."), "code": "invalid_choice"}]
                continue
            value = found
        result[key] = value
    forced = {name for name, _value in access.forced(entity)}
    forced |= set(writes.state_fields(access.policy.built.spec, entity))
    for f in ep.entity.fields:
        needed = f.required and f.stored and not f.has_default and not f.sequence and not f.default_expr
        if needed and f.name not in forced and f.name not in errors and result.get(f.name) in (None, ""):
            errors[f.name] = [{"message": _("This field is required."), "code": "required"}]
    if errors:
        raise Invalid(fields=errors)
    return access.clean_input(entity, result, "create")


def _owner_id(spec, row, access):
    """The account a ticket row belongs to: its owner field, else the account of the profile row it refers
    to (``claim.guest`` -> ``guest.user``), else None."""
    entity = access.policy.built.spec.entity(spec.entity)
    owner = entity.field(entity.owner) if entity.owner else None
    if owner is not None and owner.type is FieldType.REF and owner.to == USER:
        return getattr(row, f"{owner.name}_id")
    profiles = dict(access.policy.profiles)  # profile entity -> its unique ref to the user
    for f in entity.fields:
        if f.type is FieldType.REF and f.to in profiles and getattr(row, f"{f.name}_id") is not None:
            model = access.policy.built.model(f.to)
            found = model._base_manager.filter(pk=getattr(row, f"{f.name}_id")).values_list(
                f"{profiles[f.to]}_id", flat=True).first()
            if found is not None:
                return found
    return None


def _ticket_conversation(access, spec, row):
    """The conversation of ticket ``row`` (got or created); its client is the row's owner, else the opener
    when they are on the client side."""
    policy = _policy(access)
    client_id = _owner_id(spec, row, access)
    if client_id is None and not policy.is_staff(access, spec):
        client_id = access.user.pk
    conv, created = Conversation.objects.get_or_create(
        chat=spec.name, type=Conversation.TICKET, row_id=row.pk,
        defaults={"client_id": client_id, "title": str(row)[:200]})
    if created and client_id is not None:
        Participant.objects.get_or_create(conversation=conv, user_id=client_id,
                                          defaults={"side": Participant.CLIENT})
    return conv


def _new_channel(spec, values):
    slug = str(values.get("slug") or "").strip()
    title = str(values.get("title") or "").strip()[:200]
    if not SLUG.match(slug):
        raise Invalid(fields={"slug": [{"message": _("Use lower-case letters, digits, '-' and '_'."),
                                        "code": "invalid"}]})
    if Conversation.objects.filter(chat=spec.name, type=Conversation.GROUP, slug=slug).exists():
        raise Invalid(fields={"slug": [{"message": _("A channel with this name exists."), "code": "unique"}]})
    try:
        with transaction.atomic():
            return Conversation.objects.create(chat=spec.name, type=Conversation.GROUP, slug=slug, title=title or slug)
    except IntegrityError:
        raise Invalid(fields={"slug": [{"message": _("A channel with this name exists."), "code": "unique"}]}) \
            from None


def ticket_for_row(access, chat, row_id):
    """The conversation of the ticket row ``row_id`` (got or created) when the user may view that row."""
    policy = _policy(access)
    spec = policy.chat(chat)
    if spec.type != "ticket" or spec not in policy.chats_for(access):
        raise NotVisible()
    try:
        row = access.get(spec.entity, row_id, "view")
    except (NotFound, AccessDenied):
        raise NotVisible() from None
    with transaction.atomic():
        conv = _ticket_conversation(access, spec, row)
    return policy.ensure_visible(access, conv.pk)


def ensure_channels(policy, chat):
    """Create the channels ``chat`` declares (once per version and process; idempotent across processes)."""
    if chat.type != "group" or chat.name in policy.channels_ready or not chat.channels:
        return
    existing = set(Conversation.objects.filter(chat=chat.name, type=Conversation.GROUP)
                   .values_list("slug", flat=True))
    language = policy.spec.default_language
    missing = [Conversation(chat=chat.name, type=Conversation.GROUP, slug=c.name,
                            title=c.title.get(language, language)[:200])
               for c in chat.channels if c.name not in existing]
    if missing:
        Conversation.objects.bulk_create(missing, ignore_conflicts=True)
    policy.channels_ready.add(chat.name)


def channel(access, chat, slug):
    """The visible channel ``slug`` of group ``chat``."""
    policy = _policy(access)
    spec = policy.chat(chat)
    ensure_channels(policy, spec)
    conv = policy.visible(access, chat).filter(type=Conversation.GROUP, slug=str(slug)).first()
    if conv is None:
        raise NotVisible()
    return policy.checked(access, conv)


# --- messages ------------------------------------------------------------------------------------

def post(access, conv, text, files=()):
    """Post a message (``files``: Django ``UploadedFile`` objects) in the visible ``conv``; return it."""
    policy = _policy(access)
    conv = policy.ensure_visible(access, conv)
    spec = policy.chat(conv.chat)
    _require(access, conv, "post")
    checked = _check_message(spec, text, files)
    with _changing(access, conv, "post") as change:
        return _post(access, change.conv, spec, text or "", checked)


def _post(access, conv, spec, text, checked):
    """Write the message, its files (on commit), the conversation's new order, the author's receipt, the
    event and the offline notices (in the caller's transaction, ``conv`` locked)."""
    side = _policy(access).side(access, conv)
    message = Message.objects.create(conversation=conv, author=access.user, side=side, text=text)
    attachments = []
    for item in checked:
        attachment = Attachment(message=message, name=item.name, content_type=item.content_type,
                                size=len(item.data), is_image=item.is_image)
        _store_on_commit(attachment, item)
        attachment.save()
        attachments.append(attachment)
    message._prefetched_objects_cache = {"attachments": attachments}
    message._chat_attachments = attachments
    conv.last_message_at = message.created_at
    conv.last_message_id = message.pk
    fields = ["last_message_at", "last_message_id"]
    if conv.type != Conversation.GROUP:
        if side == Participant.CLIENT:
            conv.waiting_since = conv.waiting_since or message.created_at
        else:
            conv.waiting_since = None
        fields.append("waiting_since")
    conv.save(update_fields=fields)
    me = _participant(conv, access.user, side)
    Participant.objects.filter(pk=me.pk).update(last_read_id=message.pk, last_read_at=message.created_at,
                                                 notified_id=message.pk)
    events.emit(conv, "message", message, message_payload(message))
    notify.after_post(access.policy.built, conv, message)
    return message


def _message(access, message):
    """The message (or message id) in a conversation visible to the user, with that conversation."""
    policy = _policy(access)
    if not isinstance(message, Message):
        try:
            message = Message.objects.select_related("author").filter(pk=int(message)).first()
        except (TypeError, ValueError):
            message = None
        if message is None:
            raise NotVisible()
    conv = policy.ensure_visible(access, message.conversation_id)
    return message, conv


def edit(access, message, text):
    """Change the text of the user's own message within the chat's edit window."""
    message, conv = _message(access, message)
    with _changing(access, conv) as change:
        conv = change.conv
        message = Message.objects.select_for_update(of=("self",)).select_related("author").get(pk=message.pk)
        _own_in_window(access, change.chat, conv, message)
        _require(access, conv, "edit_own")
        _check_text(text, has_files=message.attachments.exists())
        message.text = text
        message.edited_at = timezone.now()
        message.save(update_fields=["text", "edited_at"])
        events.emit(conv, "edit", message, message_payload(message))
    return message


def _own_in_window(access, spec, conv, message):
    if message.deleted_at is not None:
        raise Conflict(_("This message was deleted."), code="deleted")
    if message.author_id != access.user.pk:
        raise NotAllowed(_("Only its author may change a message."))
    if not spec.edit_window or timezone.now() > message.created_at + timedelta(minutes=spec.edit_window):
        raise NotAllowed(_("Messages can be changed only %(n)d minutes after they are sent.")
                         % {"n": spec.edit_window}, code="edit_window")


def delete(access, message):
    """Delete a message: its author within the edit window, or a moderator at any time. The row stays
    (text blanked, files removed) so the thread and its events stay whole."""
    message, conv = _message(access, message)
    policy = _policy(access)
    with _changing(access, conv) as change:
        conv = change.conv
        message = Message.objects.select_for_update(of=("self",)).select_related("author").get(pk=message.pk)
        if "moderate" not in policy.rights(access, conv):
            _own_in_window(access, change.chat, conv, message)
            _require(access, conv, "edit_own")
        elif message.deleted_at is not None:
            raise Conflict(_("This message was deleted."), code="deleted")
        files = [a.file.name for a in message.attachments.all()]
        message.attachments.all().delete()
        message.text = ""
        message.deleted_at = timezone.now()
        message.deleted_by = access.user
        message.save(update_fields=["text", "deleted_at", "deleted_by"])
        message._prefetched_objects_cache = {"attachments": []}
        events.emit(conv, "delete", message, message_payload(message))
        storage = Attachment._meta.get_field("file").storage
        transaction.on_commit(lambda: [storage.delete(name) for name in files], robust=True)
    return message


def mark_read(access, conv, upto=None):
    """Record that the user has read ``conv`` up to message ``upto`` (default: the last); return the id
    read up to. A group channel the user has not joined keeps no receipt."""
    policy = _policy(access)
    conv = policy.ensure_visible(access, conv)
    try:
        upto = conv.last_message_id if upto is None else min(int(upto), conv.last_message_id)
    except (TypeError, ValueError):
        raise Invalid(fields={"upto": [{"message": _("A message id is required."), "code": "invalid"}]}) from None
    with transaction.atomic():
        if conv.type == Conversation.GROUP:
            me = Participant.objects.filter(conversation=conv, user=access.user).first()
            if me is None:
                return 0
        else:
            me = _participant(conv, access.user, policy.side(access, conv))
        if me.removed:
            raise NotVisible()
        if upto <= me.last_read_id:
            return me.last_read_id
        Participant.objects.filter(pk=me.pk).update(last_read_id=upto, last_read_at=timezone.now())
        events.emit(conv, "read", data={"user": access.user.pk, "upto": upto})
    return upto


def messages(access, conv, *, before=None, after=None, limit=50):
    """Messages of the visible ``conv``, oldest first: the last ``limit``, or those before/after an id.

    Constant in queries: the messages with their authors, then their attachments.
    """
    conv = _policy(access).ensure_visible(access, conv)
    try:
        limit = max(1, min(int(limit), MAX_PAGE))
        before = None if before in (None, "") else int(before)
        after = None if after in (None, "") else int(after)
    except (TypeError, ValueError):
        raise Invalid(_("before, after and limit are message ids and a count.")) from None
    rows = Message.objects.filter(conversation=conv).select_related("author").prefetch_related("attachments")
    if after is not None:
        return list(rows.filter(pk__gt=after).order_by("pk")[:limit])
    if before is not None:
        rows = rows.filter(pk__lt=before)
    return list(reversed(rows.order_by("-pk")[:limit]))


# --- lists and counters --------------------------------------------------------------------------

def _with_unread(access, queryset):
    """``queryset`` annotated with ``unread``: others' messages after the user's read receipt. Without a
    receipt, staff count what the client still waits for an answer to (a conversation a colleague answered
    is not news), and a group channel not joined counts none."""
    user_id = access.user.pk
    policy = _policy(access)
    mine = Participant.objects.filter(conversation=OuterRef("pk"), user_id=user_id)
    others = Message.objects.filter(conversation=OuterRef("pk"), deleted_at__isnull=True).exclude(author_id=user_id)
    after_receipt = _count(others.filter(pk__gt=OuterRef("my_read")))
    waiting = _count(others.filter(created_at__gte=OuterRef("waiting_since")))
    staff_chats = [c.name for c in policy.spec.chats if c.type != "group" and policy.is_staff(access, c)]
    return queryset.annotate(
        my_read_id=Subquery(mine.values("last_read_id")[:1]),
        my_read=Coalesce(F("my_read_id"), Value(0)),
    ).annotate(unread=Case(
        When(type=Conversation.GROUP, my_read_id__isnull=True, then=Value(0)),
        When(chat__in=staff_chats, my_read_id__isnull=True, then=waiting),
        default=after_receipt,
        output_field=IntegerField(),
    ))


def _count(messages):
    """The number of ``messages`` (a correlated subquery) as an integer expression, 0 for none."""
    rows = messages.order_by().values("conversation").annotate(n=Count("pk")).values("n")[:1]
    return Coalesce(Subquery(rows, output_field=IntegerField()), Value(0))


def _closed_q(policy, chats):
    """Closed conversations of ``chats``: the flag, and for tickets the row's state among the closed ones."""
    condition = Q(closed=True)
    for chat in chats:
        if chat.type != "ticket":
            continue
        field, states = policy.state_field(chat), policy.closed_states(chat)
        if field and states:
            rows = policy.built.model(chat.entity)._base_manager.filter(**{f"{field}__in": states}).values("pk")
            condition |= Q(chat=chat.name, row_id__in=rows)
    return condition


STATES = ("all", "open", "closed", "waiting", "unread")


def conversations(access, chat=None, *, state=None, operator=None):
    """The visible conversations (of ``chat``), oldest unanswered first, annotated with ``unread`` and
    ``last_text``. ``state``: all, open, closed, waiting (a client waits for an answer), unread;
    ``operator``: all, mine, unassigned or a user id. One query."""
    policy = _policy(access)
    chats = [policy.chat(chat)] if chat is not None else list(policy.spec.chats)
    for spec in chats:
        ensure_channels(policy, spec)
    rows = _with_unread(access, policy.visible(access, chat)).select_related("client", "operator")
    last = Message.objects.filter(conversation=OuterRef("pk"), deleted_at__isnull=True).order_by("-pk")
    rows = rows.annotate(last_text=Subquery(last.values("text")[:1]))
    state = state or "all"
    if state not in STATES:
        raise Invalid(fields={"state": [{"message": _("One of: %(s)s.") % {"s": ", ".join(STATES)},
                                         "code": "invalid_choice"}]})
    if state in ("open", "waiting"):
        rows = rows.exclude(_closed_q(policy, chats))
    if state == "closed":
        rows = rows.filter(_closed_q(policy, chats))
    if state == "waiting":
        rows = rows.filter(waiting_since__isnull=False)
    if state == "unread":
        rows = rows.filter(unread__gt=0)
    rows = _by_operator(access, rows, operator)
    return rows.order_by(F("waiting_since").asc(nulls_last=True), F("last_message_at").desc(nulls_last=True),
                         "-pk")


def _by_operator(access, rows, operator):
    if operator in (None, "", "all"):
        return rows
    if operator == "mine":
        return rows.filter(operator_id=access.user.pk)
    if operator == "unassigned":
        return rows.filter(operator__isnull=True)
    try:
        return rows.filter(operator_id=int(operator))
    except (TypeError, ValueError):
        raise Invalid(fields={"operator": [{"message": _("all, mine, unassigned or a user id."),
                                            "code": "invalid_choice"}]}) from None


def unread(access):
    """{chat name: conversations with unread messages} for the chats the user uses: one query."""
    policy = _policy(access)
    counts = {chat.name: 0 for chat in policy.chats_for(access)}
    if not counts:
        return counts
    rows = (_with_unread(access, policy.visible(access)).filter(unread__gt=0).order_by()
            .values("chat").annotate(n=Count("pk")).values_list("chat", "n"))
    counts.update(dict(rows))
    return counts


# --- operators, states and members ---------------------------------------------------------------

def take(access, conv):
    """The operator takes ``conv``: it is theirs to answer until handed over."""
    with _changing(access, conv, "take") as change:
        return _set_operator(access, change.conv, access.user)


def hand_over(access, conv, user):
    """Hand ``conv`` over to ``user``, who must answer in its chat (hold a staff role of it)."""
    with _changing(access, conv, "hand_over", target=user) as change:
        if _side_of(access, change.chat, change.target) != Participant.STAFF:
            raise Invalid(fields={"user": [{"message": _("This person does not answer in this chat."),
                                            "code": "not_staff"}]})
        return _set_operator(access, change.conv, change.target)


def _set_operator(access, conv, user):
    conv.operator = user
    conv.save(update_fields=["operator"])
    Participant.objects.update_or_create(conversation=conv, user=user,
                                         defaults={"side": Participant.STAFF, "removed": False})
    events.emit(conv, "state", data=state_payload(access, conv))
    return conv


def close(access, conv, *, source="api"):
    """Close ``conv``: a ticket through its ``close`` transition (its roles decide), a channel by a moderator."""
    return _open_or_close(access, conv, "close", source)


def reopen(access, conv, *, source="api"):
    """Reopen ``conv``: a ticket through its ``reopen`` transition, a channel by a moderator."""
    return _open_or_close(access, conv, "reopen", source)


def _open_or_close(access, conv, right, source):
    try:
        with _changing(access, conv) as change:
            conv, chat = change.conv, change.chat
            if chat.type == "ticket":
                name = chat.close if right == "close" else chat.reopen
                if not name or not writes.allowed(access, chat.entity, name):
                    raise NotAllowed()
                writes.transition(access, chat.entity, conv.row_id, name, source=source)
            elif chat.type == "group":
                _require(access, conv, right)
                conv.closed = right == "close"
                conv.save(update_fields=["closed"])
            else:
                raise NotAllowed()
            events.emit(conv, "state", data=state_payload(access, conv))
    except (writes.DomainError, ValidationError) as exc:
        raise from_domain(exc) from None
    except AccessDenied as exc:
        if isinstance(exc, NotAllowed):
            raise
        raise NotAllowed(str(exc)) from None
    return conv


def join(access, conv):
    """Join an open channel the user's member role lets them see."""
    with _changing(access, conv, "join") as change:
        _participant(change.conv, access.user, Participant.MEMBER)
        events.emit(change.conv, "access", data={"user": access.user.pk, "action": "join"})
    return change.conv


def leave(access, conv):
    """Leave a channel (an open one can be joined again)."""
    with _changing(access, conv, "leave") as change:
        conv = change.conv
        Participant.objects.filter(conversation=conv, user=access.user, removed=False).delete()
        remove_perm(VIEW_PERMISSION, access.user, conv)
        events.emit(conv, "access", data={"user": access.user.pk, "action": "leave"})
    return conv


def add_member(access, conv, user):
    """Add ``user`` to ``conv``: a participant row and a guardian grant to view it (the grant is what makes
    the conversation visible to someone whose roles alone would not)."""
    with _changing(access, conv, "add_member", target=user) as change:
        conv, target = change.conv, change.target
        Participant.objects.update_or_create(conversation=conv, user=target,
                                             defaults={"side": _side_of(access, change.chat, target),
                                                       "removed": False})
        assign_perm(VIEW_PERMISSION, target, conv)
        events.emit(conv, "access", data={"user": target.pk, "action": "add"})
    return conv


def remove_member(access, conv, user):
    """Remove ``user`` from ``conv``: marked removed (a group channel stays closed to them), the grant
    revoked, and an ``access`` event so that their open streams re-check and close."""
    with _changing(access, conv, "remove_member", target=user) as change:
        conv, target = change.conv, change.target
        if target.pk == access.user.pk:
            raise Invalid(fields={"user": [{"message": _("Leave instead of removing yourself."), "code": "self"}]})
        if conv.type != Conversation.GROUP and target.pk == conv.client_id:
            raise Invalid(fields={"user": [{"message": _("The client of a conversation stays in it."),
                                            "code": "client"}]})
        Participant.objects.update_or_create(conversation=conv, user=target,
                                             defaults={"side": _side_of(access, change.chat, target),
                                                       "removed": True})
        remove_perm(VIEW_PERMISSION, target, conv)
        if conv.operator_id == target.pk:
            conv.operator = None
            conv.save(update_fields=["operator"])
        events.emit(conv, "access", data={"user": target.pk, "action": "remove"})
    return conv


def members(access, conv):
    """The participants of the visible ``conv`` (not removed), with their users: one query."""
    conv = _policy(access).ensure_visible(access, conv)
    return list(Participant.objects.filter(conversation=conv, removed=False).select_related("user")
                .order_by("joined_at", "pk"))

