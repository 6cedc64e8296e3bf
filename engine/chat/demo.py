"""Demo conversations (``chats:`` in a solution's ``data/*.yaml``): checked with the demo data, loaded by ``demo``.

```yaml
chats:
  reception:                        # a direct chat: one conversation per client
    - client: anna
      messages:
        - {from: anna, text: Can I check out late on Friday?, at: $now-3h}
        - {from: reception, text: Of course, until 14:00., at: $now-2h}
  claims:                           # a ticket chat: the conversation of one row of its entity
    - row: {subject: Breakfast arrived cold}
      messages: [{from: anna, text: ...}]
  discussions:                      # a group chat: one of its channels, members who join it
    - channel: lobby
      members: [anna, boris]
      messages: [{from: boris, text: Hello everyone!}]
```
Every message is posted by its author through ``engine.chat.service`` (the same permission checks as any
post), so a file that names someone who may not write there is refused by the check, located, before
anything is written. ``at`` (``$now-3h``) back-dates a message for a demo that reads naturally.
"""
from __future__ import annotations

from ..loader import path_text
from ..validate import suggest

CHAT_KEYS = {"direct": ("client", "messages"), "ticket": ("row", "messages"),
             "group": ("channel", "members", "messages")}
REQUIRED = {"direct": "client", "ticket": "row", "group": "channel"}
MESSAGE_KEYS = ("from", "text", "at")
MAX_TEXT = 4000


# --- check ------------------------------------------------------------------------------------

def check_chats(checker, data):
    """Check the ``chats:`` section of a data file with ``checker`` (an ``engine.demodata.DataChecker``),
    reporting located problems; keep what fits in ``checker.data.chats``."""
    if not checker.expect(data, dict, ("chats",), "a mapping of chat name to a list of conversations"):
        return
    spec = checker.spec
    for name, conversations in data.items():
        path = ("chats", name)
        chat = spec.chat(name)
        if chat is None:
            known = [c.name for c in spec.chats]
            checker.add("E104", f"'{path_text(path)}' names no chat of the solution{suggest(name, known)}",
                        path, f"chats: {', '.join(known)}", key=True)
            continue
        if not checker.expect(conversations, list, path, "a list of conversations"):
            continue
        good = [item for i, item in enumerate(conversations) if _check_conversation(checker, chat, item, (*path, i))]
        if good:
            checker.data.chats.append((name, good))


def _check_conversation(checker, chat, item, path):
    keys = CHAT_KEYS[chat.type]
    if not checker.expect(item, dict, path, f"a mapping with {', '.join(keys)}"):
        return False
    ok = True
    for key in item:
        if key not in keys:
            checker.add("E101", f"'{path_text((*path, key))}' is not a key of a {chat.type} chat's conversation"
                        f"{suggest(key, keys)}", (*path, key), f"allowed keys here: {', '.join(keys)}", key=True)
            ok = False
    required = REQUIRED[chat.type]
    if required not in item:
        checker.add("E102", f"'{path_text(path)}' needs '{required}'", path, f"add '{required}:'")
        return False
    client = None
    if chat.type == "direct":
        ok = checker.user_ref(item["client"], (*path, "client"))[1] and ok
        client = item["client"]
        if ok and not _holds(checker, client, chat.clients):
            checker.add("E104", f"'{path_text((*path, 'client'))}': user {client!r} holds none of the client roles "
                        f"of chat '{chat.name}'", (*path, "client"), f"client roles: {', '.join(chat.clients)}")
            ok = False
    elif chat.type == "ticket":
        ok = checker.lookup(chat.entity, item["row"], (*path, "row")) is not None and ok
    else:
        channels = [c.name for c in chat.channels]
        if item["channel"] not in channels:
            checker.add("E104", f"'{path_text((*path, 'channel'))}' names no channel of chat '{chat.name}'"
                        f"{suggest(str(item['channel']), channels)}", (*path, "channel"),
                        f"channels: {', '.join(channels) or 'none'}")
            ok = False
        members = item.get("members", [])
        if checker.expect(members, list, (*path, "members"), "a list of usernames"):
            for i, member in enumerate(members):
                mpath = (*path, "members", i)
                if not checker.user_ref(member, mpath)[1]:
                    ok = False
                elif not _holds(checker, member, chat.members):
                    checker.add("E104", f"'{path_text(mpath)}': user {member!r} holds none of the member roles of "
                                f"chat '{chat.name}'", mpath, f"member roles: {', '.join(chat.members) or 'none'}")
                    ok = False
            if members and chat.join == "invite" and not any(_holds(checker, u.username, chat.moderators)
                                                             for u in checker.data.users):
                checker.add("E104", f"'{path_text((*path, 'members'))}': an invite-only channel's members are added "
                            "by a moderator, and no demo user holds a moderator role", (*path, "members"),
                            f"add a user with a role of {', '.join(chat.moderators) or 'none'}")
                ok = False
        else:
            ok = False
    messages = item.get("messages", [])
    if not checker.expect(messages, list, (*path, "messages"), "a list of {from: ..., text: ...}"):
        return False
    last = None
    for i, message in enumerate(messages):
        found = _check_message(checker, chat, message, (*path, "messages", i), client, last)
        ok = found is not False and ok
        last = found if found not in (None, False) else last
    return ok


def _check_message(checker, chat, message, path, client, last):
    """Check one message; return its ``at`` (as written), None without one, or False when it is wrong."""
    from ..demodata import RELATIVE

    if not checker.expect(message, dict, path, "{from: username, text: ..., at: $now-2h}"):
        return False
    ok = True
    for key in message:
        if key not in MESSAGE_KEYS:
            checker.add("E101", f"'{path_text((*path, key))}' is not a key of a demo message"
                        f"{suggest(key, MESSAGE_KEYS)}", (*path, key),
                        f"allowed keys here: {', '.join(MESSAGE_KEYS)}", key=True)
            ok = False
    for key in ("from", "text"):
        if key not in message:
            checker.add("E102", f"'{path_text(path)}' needs '{key}'", path, f"add '{key}:'")
            ok = False
    if "from" in message:
        ok = _check_writer(checker, chat, message["from"], (*path, "from"), client) and ok
    text = message.get("text")
    if "text" in message and checker.expect(text, str, (*path, "text"), "write the message as text"):
        if not text.strip() or len(text) > MAX_TEXT or "\x00" in text:
            checker.add("E221", f"'{path_text((*path, 'text'))}' must be a text of 1 to {MAX_TEXT} characters "
                        "without NUL", (*path, "text"))
            ok = False
    elif "text" in message:
        ok = False
    at = message.get("at")
    if at is not None:
        if not isinstance(at, str) or not RELATIVE.match(at) or not at.startswith("$now"):
            checker.add("E221", f"'{path_text((*path, 'at'))}' is {at!r}, not a moment relative to now",
                        (*path, "at"), "write $now, $now-3h or $now-2d")
            return False
        if last is not None and _offset(at) < _offset(last):
            checker.add("E105", f"'{path_text((*path, 'at'))}' ({at}) is earlier than the message before it ({last})",
                        (*path, "at"), "list the messages in the order they were written")
            return False
    return (at if at is not None else None) if ok else False


def _check_writer(checker, chat, username, path, client):
    """Report ``username`` unless it is a demo user who may write in ``chat`` (the client of a direct chat's
    conversation, or a staff, member or moderator role of it)."""
    if not checker.user_ref(username, path)[1]:
        return False
    if chat.type == "direct":
        roles, may = chat.staff, username == client or _holds(checker, username, chat.staff)
    elif chat.type == "ticket":
        granted = tuple(r.name for r in checker.spec.roles if r.grant(chat.entity) is not None)
        roles, may = granted, _holds(checker, username, granted)
    else:
        roles = (*chat.members, *chat.moderators)
        may = _holds(checker, username, roles)
    if may:
        return True
    who = "the conversation's client or " if chat.type == "direct" else ""
    checker.add("E104", f"'{path_text(path)}': user {username!r} may not write in chat '{chat.name}'", path,
                f"writers: {who}users with a role of {', '.join(roles) or 'none'}")
    return False


def _holds(checker, username, roles):
    user = next((u for u in checker.data.users if u.username == username), None)
    return user is not None and (user.superuser or bool(set(user.roles) & set(roles)))


def _offset(text):
    """The hours '$now-3h' (or '$now+2d') lies from now."""
    from ..demodata import RELATIVE

    match = RELATIVE.match(text)
    return int(match.group(2) or 0) * (24 if match.group(3) == "d" else 1)


# --- load -------------------------------------------------------------------------------------

def load_chats(built, chats, users):
    """Post the demo conversations of ``chats`` (checked ``DemoData.chats``) through the chat service, each
    message as its author; a chat that already has conversations is left alone. Return {chat: messages}.

    Call inside the demo's transaction: a ``ChatError`` becomes ``DemoDataError`` naming the item, and
    nothing is written."""
    from ..demo import DemoDataError, _lookup, relative_value
    from . import service
    from .errors import ChatError
    from .models import Conversation

    counts = {}
    for name, conversations in chats:
        if Conversation.objects.filter(chat=name).exists():
            continue
        chat = built.spec.chat(name)
        for i, item in enumerate(conversations):
            where = f"chats.{name}[{i}]"
            try:
                conv = _conversation(built, chat, item, users, _lookup)
                if conv is None:
                    continue
                _add_members(built, chat, conv, [users[m] for m in item.get("members", ())], users)
                posted = []
                for j, message in enumerate(item.get("messages", ())):
                    where = f"chats.{name}[{i}].messages[{j}]"
                    conv.refresh_from_db()
                    posted.append((service.post(_access(built, users[message["from"]]), conv, message["text"]),
                                   message.get("at")))
            except ChatError as exc:
                raise DemoDataError(f"{where}: {_chat_error(exc)}") from exc
            _backdate(conv, posted, relative_value)
            counts[name] = counts.get(name, 0) + len(posted)
    return counts


def _add_members(built, chat, conv, members, users):
    """Members join an open channel themselves; a moderator adds them to an invite-only one."""
    from . import service

    if chat.join == "open":
        for member in members:
            service.join(_access(built, member), conv)
        return
    if members:
        moderator = next(u for u in users.values() if u.is_superuser or set(chat.moderators) & set(
            _access(built, u).roles))
        for member in members:
            service.add_member(_access(built, moderator), conv, member)


def _access(built, user):
    return built.policy.for_user(user)


def _conversation(built, chat, item, users, lookup):
    from . import service

    if chat.type == "direct":
        return service.start(_access(built, users[item["client"]]), chat.name)
    if chat.type == "ticket":
        row = lookup(built, chat.entity, item["row"])
        first = (item.get("messages") or [{}])[0].get("from")
        opener = users[first] if first else next(iter(users.values()))
        return service.ticket_for_row(_access(built, opener), chat.name, row.pk)
    people = item.get("members") or [m["from"] for m in item.get("messages", ())]
    if not people:
        return None  # nothing to write in it: the channel is made on first use
    return service.channel(_access(built, users[people[0]]), chat.name, item["channel"])


def _backdate(conv, posted, relative_value):
    """Give the posted messages their ``at`` moments, and the conversation the times that follow from them."""
    from .models import Conversation, Message

    moments = {}
    for message, at in posted:
        if at is not None:
            moments[message.pk] = relative_value(at)
            Message.objects.filter(pk=message.pk).update(created_at=moments[message.pk])
    if not moments:
        return
    conv = Conversation.objects.get(pk=conv.pk)
    last = max((m for m, _ in posted), key=lambda m: m.pk)
    changes = {"last_message_at": moments.get(last.pk, conv.last_message_at)}
    if conv.waiting_since is not None:
        # The first client message after the last staff answer: the moment the inbox counts from.
        waiting = [m for m, _ in posted if m.side == "client"]
        answered = max((m.pk for m, _ in posted if m.side == "staff"), default=0)
        waiting = [m for m in waiting if m.pk > answered]
        if waiting and waiting[0].pk in moments:
            changes["waiting_since"] = moments[waiting[0].pk]
    Conversation.objects.filter(pk=conv.pk).update(**changes)


def _chat_error(exc):
    fields = getattr(exc, "fields", None) or {}
    found = [f"{k}: {' '.join(m['message'] if isinstance(m, dict) else str(m) for m in v)}" for k, v in fields.items()]
    return "; ".join(found) or str(getattr(exc, "detail", "") or exc)

