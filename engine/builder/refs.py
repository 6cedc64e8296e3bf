"""Follow a rename or removal of a field or entity through every list that names it.

Roles' field lists and scopes, pages' columns, fields, filters and sections, cards, related lists,
the entity's title, search, ordering, indexes and rules, workflows' state field: each is changed in
place (keeping its style). Expression texts are left as written; the draft's check shows them.
"""
from __future__ import annotations

from .yamledit import delete_key, rename_key


def _seq_replace(seq, old, new):
    """Replace (``new``) or drop (``new`` None) ``old`` in a list, also in its '-old' ordering form."""
    if not isinstance(seq, list):
        return False
    changed = False
    for i in range(len(seq) - 1, -1, -1):
        item = seq[i]
        if not isinstance(item, str):
            continue
        sign = "-" if item.startswith("-") else ""
        if item[len(sign):] == old:
            if new is None:
                del seq[i]
            else:
                seq[i] = sign + new
            changed = True
    return changed


def _key_replace(mapping, old, new):
    if not isinstance(mapping, dict) or old not in mapping:
        return False
    if new is None:
        delete_key(mapping, old)
    else:
        rename_key(mapping, old, new)
    return True


def _value_replace(mapping, key, old, new):
    if not isinstance(mapping, dict) or mapping.get(key) != old:
        return False
    if new is None:
        delete_key(mapping, key)
    else:
        mapping[key] = new
    return True


class Refs:
    """Rewrite references in a ``Workspace``; every file changed is marked touched."""

    def __init__(self, ws):
        self.ws = ws

    def each(self, section):
        for name, (file, node) in self.ws.items(section).items():
            if isinstance(node, dict):
                yield name, file, node

    def target_of(self, entity, field):
        """The entity a ref field points to, or None."""
        node = self.ws.get(("entities", entity, "fields", field))
        return node.get("to") if isinstance(node, dict) else None

    def path_rewrite(self, start, path, entity, old, new):
        """``path`` (e.g. 'stay.guest.user' read from entity ``start``) with ``entity.old`` renamed, or None."""
        parts, current, changed = path.split("."), start, False
        for i, part in enumerate(parts):
            if current == entity and part == old:
                if new is None:
                    return ""
                parts[i], changed = new, True
            current = self.target_of(current, parts[i]) if current else None
        return ".".join(parts) if changed else None

    def field(self, entity, old, new):
        """Rename (or with ``new`` None, remove) field ``entity.old`` wherever a list names it."""
        self._in_entity(entity, old, new)
        self._in_roles(entity, old, new)
        self._in_pages(entity, old, new)
        self._in_workflows(entity, old, new)
        self._in_chats(entity, old, new)

    def _in_entity(self, entity, old, new):
        file, node = self.ws.locate(("entities", entity))
        changed = _value_replace(node, "title", old, new) | _value_replace(node, "owner", old, new)
        changed |= _seq_replace(node.get("search"), old, new) | _seq_replace(node.get("ordering"), old, new)
        for index in node.get("indexes") or []:
            changed |= isinstance(index, dict) and _seq_replace(index.get("fields"), old, new)
        for rule in node.get("rules") or []:
            changed |= _value_replace(rule, "field", old, new)
        if changed:
            self.ws.touch(file)

    def _rewrite_paths(self, mapping, start, entity, old, new):
        """Rename keys of a scope or set mapping whose path passes through ``entity.old``."""
        if not isinstance(mapping, dict):
            return False
        changed = False
        for key in list(mapping):
            rewritten = self.path_rewrite(start, str(key), entity, old, new)
            if rewritten == "":
                delete_key(mapping, key)
                changed = True
            elif rewritten:
                rename_key(mapping, key, rewritten)
                changed = True
        return changed

    def _in_roles(self, entity, old, new):
        for _, file, role in self.each("roles"):
            changed = False
            for target, grant in (role.get("entities") or {}).items():
                if not isinstance(grant, dict):
                    continue
                changed |= self._rewrite_paths(grant.get("scope"), target, entity, old, new)
                if target != entity:
                    continue
                fields = grant.get("fields")
                if isinstance(fields, dict):
                    changed |= _seq_replace(fields.get("view"), old, new) | _seq_replace(fields.get("edit"), old, new)
                changed |= _key_replace(grant.get("set"), old, new)
            if changed:
                self.ws.touch(file)

    def _seq_paths(self, seq, start, entity, old, new):
        """Rewrite (or drop) the fields and paths along refs (``stay.guest.full_name``) of a list read from
        entity ``start`` that pass through ``entity.old``."""
        if not isinstance(seq, list) or not start:
            return False
        changed = False
        for i in range(len(seq) - 1, -1, -1):
            item = seq[i]
            if not isinstance(item, str):
                continue
            sign = "-" if item.startswith("-") else ""
            rewritten = self.path_rewrite(start, item[len(sign):], entity, old, new)
            if rewritten == "":
                del seq[i]
            elif rewritten:
                seq[i] = sign + rewritten
            changed |= rewritten is not None
        return changed

    def _value_path(self, mapping, key, start, entity, old, new):
        """``_seq_paths`` for one value (a calendar's ``date_field``, a related list's ``via``)."""
        if not isinstance(mapping, dict) or not isinstance(mapping.get(key), str) or not start:
            return False
        rewritten = self.path_rewrite(start, mapping[key], entity, old, new)
        if rewritten == "":
            delete_key(mapping, key)
        elif rewritten:
            mapping[key] = rewritten
        return rewritten is not None

    def _in_pages(self, entity, old, new):
        for _, file, page in self.each("pages"):
            changed, start = False, page.get("entity")
            for key in ("columns", "filters", "fields"):
                changed |= self._seq_paths(page.get(key), start, entity, old, new)
            changed |= self._value_path(page, "date_field", start, entity, old, new)
            for section in page.get("sections") or []:
                changed |= isinstance(section, dict) and self._seq_paths(section.get("fields"), start, entity, old,
                                                                         new)
            for related in page.get("related") or []:
                if isinstance(related, dict):
                    changed |= self._seq_paths(related.get("columns"), related.get("entity"), entity, old, new)
                    changed |= self._value_path(related, "via", related.get("entity"), entity, old, new)
            for card in page.get("cards") or []:
                if isinstance(card, dict) and card.get("entity") == entity:
                    changed |= _value_replace(card, "field", old, new)
                    filters = card.get("filter")
                    changed |= isinstance(filters, dict) and _key_replace(filters, old, new)
            if changed:
                self.ws.touch(file)

    def _in_workflows(self, entity, old, new):
        for _, file, flow in self.each("workflows"):
            if flow.get("entity") != entity:
                continue
            changed = _value_replace(flow, "field", old, new)
            for transition in (flow.get("transitions") or {}).values():
                if isinstance(transition, dict):
                    changed |= _seq_replace(transition.get("fields"), old, new)
                    changed |= _seq_replace(transition.get("required"), old, new)
            if changed:
                self.ws.touch(file)

    def _in_chats(self, entity, old, new):
        for _, file, chat in self.each("chats"):
            card = chat.get("card")
            if not isinstance(card, dict):
                continue
            changed = card.get("entity") == entity and _seq_replace(card.get("fields"), old, new)
            for related in card.get("related") or []:
                if isinstance(related, dict) and related.get("entity") == entity:
                    changed |= _seq_replace(related.get("columns"), old, new)
                    changed |= _seq_replace(related.get("order"), old, new)
            if changed:
                self.ws.touch(file)

    # --- entities --------------------------------------------------------------------------

    def entity_uses(self, entity):
        """Where other definitions name ``entity``: ['entities.stay.fields.guest', 'pages.guests', ...]."""
        found = []
        for name, _, node in self.each("entities"):
            for fname, f in (node.get("fields") or {}).items():
                if isinstance(f, dict) and f.get("to") == entity and name != entity:
                    found.append(f"entities.{name}.fields.{fname}")
        for section in ("pages", "workflows", "chats", "webhooks"):
            for name, _, node in self.each(section):
                if self._names_entity(node, entity):
                    found.append(f"{section}.{name}")
        for name, _, node in self.each("entities"):
            if name != entity and self._names_entity({k: v for k, v in node.items() if k != "fields"}, entity):
                found.append(f"entities.{name}")
        return found

    def _names_entity(self, node, entity, rename=None):
        """Whether any 'entity:' key under ``node`` names ``entity`` (renaming it to ``rename``)."""
        hit = False
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "entity" and value == entity:
                    hit = True
                    if rename:
                        node[key] = rename
                elif isinstance(value, (dict, list)):
                    hit |= self._names_entity(value, entity, rename)
        elif isinstance(node, list):
            for item in node:
                hit |= self._names_entity(item, entity, rename)
        return hit

    def entity(self, old, new):
        """Rename entity ``old`` to ``new`` in refs, grants, pages, cards, workflows, chats and actions."""
        for _, file, node in self.each("entities"):
            changed = False
            for f in (node.get("fields") or {}).values():
                changed |= _value_replace(f, "to", old, new)
            changed |= self._names_entity({k: v for k, v in node.items() if k != "fields"}, old, new)
            if changed:
                self.ws.touch(file)
        for section in ("pages", "workflows", "chats", "webhooks"):
            for _, file, node in self.each(section):
                if self._names_entity(node, old, new):
                    self.ws.touch(file)
        self.grants(old, new)

    def grants(self, old, new):
        """Rename (or drop, ``new`` None) the entity's entry in every role."""
        for _, file, role in self.each("roles"):
            if _key_replace(role.get("entities"), old, new):
                self.ws.touch(file)
