"""Checks of the chat page kinds: a ``chat`` page shows one known chat, an ``inbox`` gathers known chats,
no other kind takes either key, and every role a page lists can use its chats.

A page that passed ``cabinet check`` and answered 404 is what these prevent (GUIDE, section 8).
Called from ``engine.checks.Checker.run`` as ``check_chat_pages(self)``.
"""
from __future__ import annotations

from ..loader import path_text
from ..validate import suggest

CHAT_KINDS = ("chat", "inbox")


def check_chat_pages(checker):
    """Report the chat problems of every page of ``checker.spec``."""
    chats = {c.name: c for c in checker.spec.chats}
    raw_pages = (checker.doc.data or {}).get("pages") or {}
    for page in checker.spec.pages:
        raw = raw_pages.get(page.name) or {}
        path = ("pages", page.name)
        if page.kind not in CHAT_KINDS:
            for key in ("chat", "chats"):
                if key in raw:
                    checker.add("E391", f"'{path_text((*path, key))}' is only for chat and inbox pages, and "
                                f"'{page.name}' is {an(page.kind)} page", (*path, key),
                                "remove the key, or make the page 'kind: chat' or 'kind: inbox'", key=True)
            continue
        named = _named_chats(checker, page, raw, chats, path)
        if page.roles:
            for i, role in enumerate(page.roles):
                if role not in checker.roles:
                    continue  # E203 already
                useless = [c.name for c in named if role not in users_of(checker.spec, c, page.kind)]
                if useless:
                    what = "answer in" if page.kind == "inbox" else "use"
                    checker.add("E392", f"'{path_text((*path, 'roles', i))}': role '{role}' cannot {what} chat "
                                f"{', '.join(repr(n) for n in useless)}", (*path, "roles", i),
                                _role_hint(page.kind))


def _named_chats(checker, page, raw, chats, path):
    """The known chats a chat or inbox page names, reporting a missing, misplaced or unknown one (E390)."""
    right, wrong = ("chat", "chats") if page.kind == "chat" else ("chats", "chat")
    if wrong in raw:
        hint = ("a chat page shows one chat: 'chat: <name>'" if page.kind == "chat"
                else "an inbox gathers chats: 'chats: [<name>, ...]'")
        checker.add("E390", f"'{path_text((*path, wrong))}': {an(page.kind)} page takes '{right}', not '{wrong}'",
                    (*path, wrong), hint, key=True)
        return []
    if not page.chats:
        checker.add("E390", f"'{path_text(path)}' is {'a chat page' if page.kind == 'chat' else 'an inbox'} and "
                    f"needs '{right}'", path, f"name {'the chat' if page.kind == 'chat' else 'the chats'} of "
                    f"'chats:' it shows (known: {', '.join(sorted(chats)) or 'none'})", key=True)
        return []
    found = []
    for i, name in enumerate(page.chats):
        where = (*path, "chat") if page.kind == "chat" else (*path, "chats", i)
        if name in chats:
            found.append(chats[name])
        else:
            checker.add("E390", f"'{path_text(where)}' refers to unknown chat '{name}'{suggest(name, chats)}",
                        where, f"known chats: {', '.join(sorted(chats)) or 'none'}")
    return found


def an(word):
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"


def users_of(spec, chat, kind):
    """The roles that can use ``chat`` on a page of ``kind``: clients and members on a chat page (and staff,
    who see the same conversations), staff and moderators in an inbox."""
    staff = set(chat.staff) | set(chat.moderators)
    if kind == "inbox":
        return staff
    if chat.type == "ticket":
        return staff | {r.name for r in spec.roles if r.grant(chat.entity)}
    return staff | set(chat.clients) | set(chat.members)


def _role_hint(kind):
    if kind == "inbox":
        return "list the role in the chat's 'staff' (or 'moderators'), or remove it from the page's roles"
    return ("list the role in the chat's 'clients', 'members' or 'staff' (a ticket chat: grant it the "
            "chat's entity), or remove it from the page's roles")
