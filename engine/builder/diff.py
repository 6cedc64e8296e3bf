"""Compare two versions: side-by-side rows per file, and the changes in words a business admin reads."""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field

EQUAL, CHANGED, ADDED, REMOVED = "equal", "changed", "added", "removed"


@dataclass
class Row:
    """One line of a side-by-side diff (a side is None where it has no line)."""

    left_no: int | None
    left: str | None
    right_no: int | None
    right: str | None
    kind: str


@dataclass
class FileDiff:
    path: str
    status: str  # equal, changed, added, removed
    rows: list = field(default_factory=list)

    @property
    def changed(self):
        return self.status != EQUAL


def files(a, b):
    """Side-by-side diffs of every file in ``a`` or ``b`` (``{path: text}``), in path order."""
    found = []
    for path in sorted(set(a) | set(b)):
        left, right = a.get(path), b.get(path)
        status = ADDED if left is None else REMOVED if right is None else EQUAL if left == right else CHANGED
        found.append(FileDiff(path, status, _rows((left or "").splitlines(), (right or "").splitlines())))
    return found


def _rows(left, right):
    rows = []
    matcher = difflib.SequenceMatcher(a=left, b=right, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            rows += [Row(i + 1, left[i], j + 1, right[j], EQUAL) for i, j in zip(range(i1, i2), range(j1, j2),
                                                                                  strict=True)]
            continue
        for k in range(max(i2 - i1, j2 - j1)):
            i, j = i1 + k, j1 + k
            has_left, has_right = i < i2, j < j2
            kind = CHANGED if has_left and has_right else REMOVED if has_left else ADDED
            rows.append(Row(i + 1 if has_left else None, left[i] if has_left else None,
                            j + 1 if has_right else None, right[j] if has_right else None, kind))
    return rows


# --- in words -------------------------------------------------------------------------------

def _by_name(items):
    return {item.name: item for item in items}


def words(old, new):
    """The changes from spec ``old`` to spec ``new`` as plain sentences."""
    sentences = []
    sentences += _entities(old, new)
    sentences += _roles(old, new)
    sentences += _pages(old, new)
    sentences += _workflows(old, new)
    sentences += _solution(old, new)
    return sentences


def _entities(old, new):
    out = []
    before, after = _by_name(old.entities), _by_name(new.entities)
    for name, entity in after.items():
        source = before.get(name) or (before.get(entity.renamed_from) if entity.renamed_from else None)
        if source is None:
            out.append(f"Entity '{entity.label}' ({name}) added")
            continue
        if source.name != name:
            out.append(f"Entity '{entity.label}' renamed from {source.name} to {name}")
        if source.label != entity.label or source.plural != entity.plural:
            out.append(f"Entity {name} relabelled '{entity.label}'")
        out += _fields(name, source, entity)
    for name, entity in before.items():
        if name not in after and not any(e.renamed_from == name for e in after.values()):
            out.append(f"Entity '{entity.label}' ({name}) removed")
    return out


def _fields(name, old, new):
    out = []
    before, after = _by_name(old.fields), _by_name(new.fields)
    for fname, f in after.items():
        source = before.get(fname) or (before.get(f.renamed_from) if f.renamed_from else None)
        where = f"{name}.{fname}"
        if source is None:
            out.append(f"Field '{f.label}' ({where}) added")
            continue
        if source.name != fname:
            out.append(f"Field '{f.label}' renamed from {name}.{source.name} to {where}")
        if source.type is not f.type:
            out.append(f"Field {where} changes type from {source.type.value} to {f.type.value}")
        if source.required != f.required:
            out.append(f"Field {where} is now {'required' if f.required else 'optional'}")
        if source.label != f.label:
            out.append(f"Field {where} relabelled '{f.label}'")
        if source.choices != f.choices:
            out.append(f"Field {where} has new choices: {', '.join(c.value for c in f.choices)}")
    for fname, f in before.items():
        if fname not in after and not any(x.renamed_from == fname for x in after.values()):
            out.append(f"Field '{f.label}' ({name}.{fname}) removed")
    if [f for f in old.field_names if f in after] != [f for f in new.field_names if f in before]:
        out.append(f"Fields of {name} reordered")
    return out


def _roles(old, new):
    out = []
    before, after = _by_name(old.roles), _by_name(new.roles)
    for name, role in after.items():
        if name not in before:
            out.append(f"Role '{role.label}' ({name}) added")
            continue
        grants_old = {g.entity: g for g in before[name].grants}
        for grant in role.grants:
            previous = grants_old.pop(grant.entity, None)
            out += _grant(name, grant, previous)
        out += [f"Role '{name}' no longer has any right on {entity}" for entity in grants_old]
    out += [f"Role '{role.label}' ({name}) removed" for name, role in before.items() if name not in after]
    return out


def _grant(role, grant, previous):
    entity = grant.entity
    if previous is None:
        return [f"Role '{role}' may now {', '.join(grant.actions)} {entity}"]
    out = []
    added = [a for a in grant.actions if a not in previous.actions]
    dropped = [a for a in previous.actions if a not in grant.actions]
    if added:
        out.append(f"Role '{role}' may now {', '.join(added)} {entity}")
    if dropped:
        out.append(f"Role '{role}' may no longer {', '.join(dropped)} {entity}")
    if grant.scope != previous.scope:
        out.append(f"Role '{role}' sees other rows of {entity} (scope changed)")
    for kind, now, then in (("see", grant.view_fields, previous.view_fields),
                            ("edit", grant.edit_fields, previous.edit_fields)):
        if now == then:
            continue
        now_set, then_set = set(now or ()), set(then or ())
        for f in sorted(now_set - then_set) if now is not None and then is not None else []:
            out.append(f"Role '{role}' may now {kind} {entity}.{f}")
        for f in sorted(then_set - now_set) if now is not None and then is not None else []:
            out.append(f"Role '{role}' may no longer {kind} {entity}.{f}")
        if now is None or then is None:
            out.append(f"Role '{role}' may now {kind} {'every field' if now is None else 'only some fields'} "
                       f"of {entity}")
    return out


def _pages(old, new):
    out = []
    before, after = _by_name(old.pages), _by_name(new.pages)
    for name, page in after.items():
        previous = before.get(name)
        if previous is None:
            out.append(f"Page '{page.title}' ({name}) added")
            continue
        if (previous.order, previous.menu, previous.parent) != (page.order, page.menu, page.parent):
            out.append(f"Page '{name}' moved in the menu")
        if previous.title != page.title:
            out.append(f"Page '{name}' retitled '{page.title}'")
        if previous.roles != page.roles:
            out.append(f"Page '{name}' is shown to {', '.join(page.roles or ()) or 'no role'}")
        if (previous.columns, previous.fields, previous.filters) != (page.columns, page.fields, page.filters):
            out.append(f"Page '{name}' shows other fields")
    out += [f"Page '{page.title}' ({name}) removed" for name, page in before.items() if name not in after]
    return out


def _workflows(old, new):
    out = []
    before, after = _by_name(old.workflows), _by_name(new.workflows)
    for name, flow in after.items():
        previous = before.get(name)
        if previous is None:
            out.append(f"Workflow {name} added")
            continue
        states_old, states_new = _by_name(previous.states), _by_name(flow.states)
        out += [f"Workflow {name} has a new state '{states_new[s].label}' ({s})" for s in states_new
                if s not in states_old]
        out += [f"Workflow {name} no longer has the state {s}" for s in states_old if s not in states_new]
        moves_old, moves_new = _by_name(previous.transitions), _by_name(flow.transitions)
        for t, move in moves_new.items():
            if t not in moves_old:
                out.append(f"Workflow {name} has a new transition '{move.label}' ({t})")
            elif moves_old[t] != move:
                out.append(f"Workflow {name}: transition {t} changed")
        out += [f"Workflow {name} no longer has the transition {t}" for t in moves_old if t not in moves_new]
    out += [f"Workflow {name} removed" for name in before if name not in after]
    return out


def _solution(old, new):
    out = []
    if old.branding != new.branding:
        then, now = dict(old.branding), dict(new.branding)
        changes = [f"{k} {now[k]}" if k in now else f"{k} removed" for k in sorted(set(then) | set(now))
                   if then.get(k) != now.get(k)]
        out.append(f"Branding changed: {', '.join(changes)}")
    if (old.languages, old.default_language) != (new.languages, new.default_language):
        out.append(f"Languages are now {', '.join(new.languages)} (default {new.default_language})")
    if old.label != new.label:
        out.append(f"The solution is now called '{new.label}'")
    return out
