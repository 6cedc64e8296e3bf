"""Row scopes for people: a scope said in words, and the step-by-step path builder behind the scope form.

A path starts at the role's entity and follows its refs (``stay`` -> ``guest`` -> ``user``); it ends at a
ref to the user (compared with the signed-in user, ``$user``) or at a plain field compared with a value.
"""
from __future__ import annotations

import json

from ...fieldtypes import FieldType
from ...spec import USER

USER_VALUE = "$user"
VALUE_TYPES = {FieldType.STRING, FieldType.TEXT, FieldType.INTEGER, FieldType.DECIMAL, FieldType.MONEY,
               FieldType.BOOLEAN, FieldType.DATE, FieldType.CHOICE, FieldType.EMAIL, FieldType.PHONE, FieldType.URL}


def walk(spec, entity, dotted):
    """Follow ``dotted`` from ``entity``: return (fields passed, the entity reached or None).

    Raise ``ValueError`` naming the first step that is not a field of the entity it is taken from.
    """
    fields, current = [], spec.entity(entity)
    for part in [p for p in dotted.split(".") if p] if dotted else []:
        f = current.field(part) if current is not None else None
        if f is None:
            where = current.name if current is not None else (fields[-1].name if fields else entity)
            raise ValueError(f"'{part}' is not a field of {where}")
        fields.append(f)
        current = spec.entity(f.to) if f.type is FieldType.REF and f.to != USER else None
    return fields, current


def ends_at_user(fields):
    return bool(fields) and fields[-1].type is FieldType.REF and fields[-1].to == USER


def step_choices(spec, entity, dotted, language=None):
    """The next steps from the end of ``dotted``: refs to follow, the user ref, or fields to compare."""
    fields, current = walk(spec, entity, dotted)
    if current is None:
        return []
    choices = []
    for f in current.fields:
        if not f.stored:
            continue
        if f.type is FieldType.REF:
            kind = "user" if f.to == USER else "ref"
        elif f.type in VALUE_TYPES:
            kind = "value"
        else:
            continue
        choices.append({"name": f.name, "label": f.label.get(language, spec.default_language), "kind": kind,
                        "to": f.to or ""})
    return choices


def path_words(spec, entity, dotted, language=None):
    """'Stay › Guest › Account' for ``stay.guest.user`` on the service order."""
    try:
        fields, _ = walk(spec, entity, dotted)
    except ValueError:
        return dotted
    return " › ".join(f.label.get(language, spec.default_language) for f in fields)


def value_words(spec, f, value, language=None):
    """A scope value in words: the signed-in user, yes/no, a choice's label, empty, or the value."""
    if isinstance(value, (list, tuple)):
        return " or ".join(value_words(spec, f, v, language) for v in value)
    if value is None:
        return "empty"
    if value == USER_VALUE:
        return "the signed-in user"
    if isinstance(value, str) and value.startswith("$user."):
        target = spec.entity(value.split(".", 1)[1])
        return f"the signed-in user's {target.label.get(language, spec.default_language) if target else value[6:]}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if f is not None and f.choices:
        label = next((c.label.get(language, spec.default_language) for c in f.choices if c.value == str(value)), None)
        if label:
            return f"“{label}”"
    return f"“{value}”"


def condition_words(spec, entity, dotted, value, language=None):
    try:
        fields, _ = walk(spec, entity, dotted)
    except ValueError:
        fields = []
    f = fields[-1] if fields else None
    verb = "is one of" if isinstance(value, (list, tuple)) and len(value) > 1 else "is"
    return f"{path_words(spec, entity, dotted, language)} {verb} {value_words(spec, f, value, language)}"


def scope_words(spec, entity, scope, language=None):
    """Say which rows a scope lets a role reach."""
    if scope == "all":
        return "All rows"
    if scope == "own":
        e = spec.entity(entity)
        owner = e.field(e.owner) if e is not None and e.owner else None
        if owner is None:
            return "Own rows (the entity names no owner field, so none)"
        return f"Own rows: {owner.label.get(language, spec.default_language)} is the signed-in user"
    if isinstance(scope, str):
        return f"Rows where {scope}"
    return "Rows where " + " and ".join(condition_words(spec, entity, p, v, language) for p, v in scope)


def parse_value(f, raw, many=()):
    """Read the value typed (or picked) for a plain field ``f``; raise ``ValueError`` with a message."""
    if f.type is FieldType.BOOLEAN:
        if raw not in ("true", "false"):
            raise ValueError("Pick yes or no.")
        return raw == "true"
    if f.type is FieldType.CHOICE:
        allowed = {c.value for c in f.choices}
        picked = [v for v in many if v]
        if not picked or not set(picked) <= allowed:
            raise ValueError("Pick one or more of the choices.")
        return picked[0] if len(picked) == 1 else picked
    raw = raw.strip()
    if not raw:
        raise ValueError("Type the value to compare with.")
    if f.type is FieldType.INTEGER:
        try:
            return int(raw)
        except ValueError:
            raise ValueError("Type a whole number.") from None
    return raw


def decode_conditions(paths, values):
    """The conditions kept in the form's hidden inputs (paths and JSON values), refusing anything else."""
    pairs = []
    for path, text in zip(paths, values, strict=False):
        try:
            value = json.loads(text)
        except ValueError:
            raise ValueError("A kept condition could not be read; reload the page.") from None
        scalar = (str, int, float, bool, type(None))
        if not (isinstance(value, scalar) or (isinstance(value, list) and all(isinstance(v, scalar) for v in value))):
            raise ValueError("A kept condition could not be read; reload the page.")
        pairs.append((path, value))
    return pairs


def encode_value(value):
    return json.dumps(list(value) if isinstance(value, tuple) else value)


def ref_graph(spec, language=None):
    """Every entity's possible steps, for scope.js to build paths without asking the server."""
    return {e.name: step_choices(spec, e.name, "", language) for e in spec.entities} | {
        "__choices__": {f"{e.name}.{f.name}": [[c.value, c.label.get(language, spec.default_language)]
                                              for c in f.choices]
                        for e in spec.entities for f in e.fields if f.choices},
        "__types__": {f"{e.name}.{f.name}": f.type.value for e in spec.entities for f in e.fields},
    }
