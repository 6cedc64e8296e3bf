"""Checks of the ``chats:`` section: every key takes effect for the chat's type, or `cabinet check` says why
not (located ``cabinet.E38x`` problems; unknown names use the shared E201/E202/E203/E205)."""
from __future__ import annotations

from ..fieldtypes import FieldType
from ..loader import path_text
from ..spec import USER
from ..validate import suggest
from ..workflows.timer_checks import raw_value

COMMON = ("type", "label", "edit_window", "attachments")
KEYS = {
    "direct": ("clients", "staff", "card"),
    "ticket": ("entity", "about", "staff", "close", "reopen", "closed", "card"),
    "group": ("members", "moderators", "join", "channels"),
}
NEEDED = {"direct": (("clients",), ("staff",)), "ticket": (("entity",), ("staff",)),
          "group": (("members", "moderators"),)}
ROLE_KEYS = ("clients", "staff", "members", "moderators")


def check_chats(checker):
    """Add the located problems of every chat to ``checker`` (``engine.checks.Checker``)."""
    for chat in checker.spec.chats:
        path = ("chats", chat.name)
        raw = raw_value(checker.doc, path)
        raw = raw if isinstance(raw, dict) else {}
        applies = set(COMMON) | set(KEYS[chat.type])
        for key in raw:
            if key not in applies:
                checker.add("E380", f"'{path_text((*path, key))}' does not apply to a {chat.type} chat", (*path, key),
                            f"keys of a {chat.type} chat: {', '.join(COMMON[1:] + KEYS[chat.type])}", key=True)
        for needs in NEEDED[chat.type]:
            if not any(raw.get(k) for k in needs):
                checker.add("E381", f"{chat.type} chat '{chat.name}' needs '{' or '.join(needs)}'", path,
                            _needs_hint(chat.type, needs), key=True)
        if "label" in raw:
            checker.check_labels(chat.label, (*path, "label"))
        for key in ROLE_KEYS:
            if key in applies:
                names = getattr(chat, key)
                for i, role in enumerate(names):
                    checker.known("E203", "role", role, checker.roles, (*path, key, i) if isinstance(
                        raw.get(key), list) else (*path, key))
        if chat.type == "direct":
            for i, role in enumerate(chat.staff):
                if role in chat.clients:
                    checker.add("E388", f"role '{role}' is both a client and staff of chat '{chat.name}'",
                                (*path, "staff", i) if isinstance(raw.get("staff"), list) else (*path, "staff"),
                                "a person answers or asks in a direct chat: list the role under one key")
        if chat.type == "ticket" and "entity" in raw:
            _check_ticket(checker, chat, path, raw)
        if chat.type == "group":
            for channel in chat.channels:
                for part in ("title", "description"):
                    checker.check_labels(getattr(channel, part), (*path, "channels", channel.name, part))
        if chat.card is not None and "card" in applies:
            _check_card(checker, chat, (*path, "card"))


def _needs_hint(kind, needs):
    return {"direct": "list the roles of the clients ('clients') and of those who answer them ('staff')",
            "ticket": "name the entity whose rows are the tickets ('entity') and the roles who answer ('staff')",
            "group": "list the roles that see the channels ('members') or moderate them ('moderators')"}[kind]


def _check_ticket(checker, chat, path, raw):
    entity = checker.entities.get(chat.entity)
    if not checker.known("E201", "entity", chat.entity, checker.entities, (*path, "entity")):
        return
    if chat.about:
        f = checker.field_of(entity, chat.about, (*path, "about"))
        if f is not None and (f.type is not FieldType.REF or f.to == USER):
            checker.add("E382", f"'{path_text((*path, 'about'))}' is the {f.type.value} field '{entity.name}."
                        f"{f.name}', not a reference to another entity", (*path, "about"),
                        "name the ref field that says what the ticket is about (an order, a stay)")
    flows = [wf for wf in checker.spec.workflows if wf.entity == entity.name]
    transitions = {t.name: (wf, t) for wf in flows for t in wf.transitions}
    for key in ("close", "reopen"):
        name = getattr(chat, key)
        if name and name not in transitions:
            checker.add("E383", f"'{path_text((*path, key))}' is '{name}', which is not a transition of a workflow of "
                        f"'{entity.name}'{suggest(name, transitions)}", (*path, key),
                        f"transitions of '{entity.name}': {', '.join(transitions) or 'none (add a workflow)'}")
    states = {s.name for wf in flows for s in wf.states}
    closed_path = (*path, "closed")
    many = isinstance(raw.get("closed"), list)
    if chat.closed_states and not flows:
        checker.add("E383", f"'{path_text(closed_path)}' names states, but '{entity.name}' has no workflow",
                    closed_path, f"add a workflow for '{entity.name}', or remove 'closed'", key=True)
    elif flows:
        for i, state in enumerate(chat.closed_states):
            checker.known("E205", "state", state, states, (*closed_path, i) if many else closed_path)
    closed = set(chat.closed_states)
    if closed:
        found = transitions.get(chat.close or "")
        if found and found[1].target not in closed:
            checker.add("E384", f"'{chat.close}' leads to '{found[1].target}', which is not among the closed states "
                        f"({', '.join(chat.closed_states)})", (*path, "close"),
                        "add the state to 'closed', or close with a transition that leads to a closed state")
        found = transitions.get(chat.reopen or "")
        if found and found[1].target in closed:
            checker.add("E384", f"'{chat.reopen}' leads to '{found[1].target}', a closed state, so it reopens nothing",
                        (*path, "reopen"), "reopen with a transition that leads out of the closed states")
    for i, role in enumerate(chat.staff):
        grant = checker.spec.role(role)
        if grant is not None and not any(g.entity == entity.name for g in grant.grants):
            where = (*path, "staff", i) if isinstance(raw.get("staff"), list) else (*path, "staff")
            checker.add("E387", f"role '{role}' answers chat '{chat.name}' but has no grant on '{entity.name}', "
                        "so it could never see a ticket", where,
                        f"give '{role}' a grant on '{entity.name}' (roles.{role}.entities.{entity.name})")


def _check_card(checker, chat, path):
    card = chat.card
    if not checker.known("E201", "entity", card.entity, checker.entities, (*path, "entity")):
        return
    entity = checker.entities[card.entity]
    if not any(f.type is FieldType.REF and f.to == USER and f.unique for f in entity.fields):
        checker.add("E385", f"card entity '{entity.name}' is not a profile entity: it has no unique reference to "
                    "the user, so a client's row cannot be found", (*path, "entity"),
                    f"add 'user: {{type: ref, to: user, unique: true}}' to '{entity.name}', or show another entity")
    for i, name in enumerate(card.fields):
        checker.field_of(entity, name, (*path, "fields", i))
    for i, rel in enumerate(card.related):
        _check_related(checker, entity, rel, (*path, "related", i))


def _check_related(checker, profile, rel, rpath):
    from ..expr.checks import expression_problems

    if not checker.known("E201", "entity", rel.entity, checker.entities, (*rpath, "entity")):
        return
    other = checker.entities[rel.entity]
    last = checker.walk(other, rel.via, (*rpath, "via"))
    if last is not None and (last.type is not FieldType.REF or last.to != profile.name):
        checker.add("E386", f"'{path_text((*rpath, 'via'))}' ('{rel.entity}.{rel.via}') does not lead to "
                    f"'{profile.name}'", (*rpath, "via"),
                    f"give the path of refs from '{rel.entity}' to the client's '{profile.name}' row, e.g. "
                    f"'{_example_via(checker, other, profile)}'")
    for j, name in enumerate(rel.columns):
        checker.field_of(other, name, (*rpath, "columns", j))
    for j, item in enumerate(rel.order):
        checker.field_of(other, item.lstrip("-"), (*rpath, "order", j))
    if rel.filter:
        checker.problems += expression_problems(checker.doc, (*rpath, "filter"), rel.filter, spec=checker.spec,
                                                entity=rel.entity)


def _example_via(checker, entity, profile):
    for f in entity.fields:
        if f.type is FieldType.REF and f.to == profile.name:
            return f.name
    return f"<ref to {profile.name}>"
