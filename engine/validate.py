"""Validate a loaded solution against the JSON Schemas in ``schemas/``.

jsonschema's errors are turned into located problems: an unknown key points at the key, a
wrong value at the value, and every message names the YAML path and suggests the nearest
allowed word.
"""
from __future__ import annotations

import difflib
import json
from functools import cache
from pathlib import Path

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from referencing import Registry, Resource

from .errors import Loc, Problem
from .loader import path_text

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
BASE_URI = "https://cabinet.invalid/schemas/"


def _inline(node, resolver):
    """Replace every ``$ref`` by the schema it names; the schemas are not recursive."""
    if isinstance(node, list):
        return [_inline(item, resolver) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        resolved = resolver.lookup(node["$ref"])
        target = _inline(resolved.contents, resolved.resolver)
        extra = {k: v for k, v in node.items() if k != "$ref"}
        return {**target, **extra} if extra else target
    return {k: (v if k in ("$defs", "enum", "const") else _inline(v, resolver)) for k, v in node.items()}


@cache
def validator():
    """Build the validator for whole solutions from the schema files (once per process).

    References are inlined once, so validating does no reference lookups: that halves the time.
    """
    resources = []
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        resources.append((schema["$id"], Resource.from_contents(schema)))
    registry = Registry().with_resources(resources)
    resolver = registry.resolver(BASE_URI + "document.json")
    root = _inline(registry.contents(BASE_URI + "document.json"), resolver)
    root.pop("$defs", None)
    return Draft202012Validator(root)


def normalize(data):
    """Expand shorthands in place: a field given as a bare type name becomes ``{type: name}``."""
    entities = data.get("entities") if isinstance(data, dict) else None
    if not isinstance(entities, dict):
        return data
    for entity in entities.values():
        fields = entity.get("fields") if isinstance(entity, dict) else None
        if isinstance(fields, dict):
            for name, value in fields.items():
                if isinstance(value, str):
                    fields[name] = {"type": value}
    return data


def suggest(word, choices):
    """Return ' Did you mean 'x'?' for the closest choice, or ''."""
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _expect(error):
    return error.schema.get("x-expect") if isinstance(error.schema, dict) else None


def _type_name(value):
    return {dict: "mapping", list: "list", str: "text", bool: "boolean", int: "number",
            float: "number", type(None): "nothing"}.get(type(value), type(value).__name__)


def _deepest(error):
    """For anyOf errors, descend into the branch that got furthest into the value."""
    while error.validator in ("anyOf", "oneOf") and error.context:
        fitting = [e for e in error.context if e.relative_path or e.validator != "type"]
        if not fitting:
            break
        error = best_match(fitting)
    return error


def _report(doc, error):
    error = _deepest(error)
    path = tuple(error.absolute_path)
    where = path_text(path) or "<top>"
    kind = error.validator
    if "propertyNames" in error.schema_path:
        name = error.instance if isinstance(error.instance, str) else "?"
        doc.problem("E105", f"'{path_text((*path, name))}': '{name}' is not a valid name",
                    (*path, name), _expect(error) or error.message, key=True)
    elif kind == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        for key in sorted(set(error.instance) - set(allowed)):
            hint = f"allowed keys here: {', '.join(allowed)}" if allowed else "remove it"
            doc.problem("E101", f"'{path_text((*path, key))}' is not a known key{suggest(key, allowed)}",
                        (*path, key), hint, key=True)
    elif kind == "required" and not path and "solution" not in error.instance:
        first = min(doc.sources) if doc.sources else ""
        doc.problems.append(Problem("E111", "no file defines the 'solution' section", Loc(first, 1 if first else 0, 1),
                                    "add 'solution: {name: ...}' to one file, e.g. solution.yaml"))
    elif kind == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        for key in missing:
            doc.problem("E102", f"'{where}' needs '{key}'", path, f"add '{key}:' under '{where}'")
    elif kind == "type":
        wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        doc.problem("E103", f"'{where}' is a {_type_name(error.instance)}, expected {' or '.join(wanted)}",
                    path, _expect(error) or "")
    elif kind in ("enum", "const"):
        allowed = error.validator_value if kind == "enum" else [error.validator_value]
        doc.problem("E104", f"'{where}' is {error.instance!r}, not one of: "
                    f"{', '.join(map(str, allowed))}{suggest(error.instance, allowed)}", path)
    elif kind in ("anyOf", "oneOf"):
        doc.problem("E103", f"'{where}' is a {_type_name(error.instance)} that does not fit here",
                    path, f"expected {_expect(error) or 'another form'}")
    elif kind == "pattern":
        doc.problem("E105", f"'{where}' is {error.instance!r}, which is not of the expected form", path,
                    _expect(error) or f"it must match {error.validator_value}")
    else:
        shown = error.message if len(error.message) < 160 else error.message[:157] + "..."
        doc.problem("E105", f"'{where}': {shown}", path, _expect(error) or "")


def validate_document(doc):
    """Check ``doc.data`` against the schemas, adding a located problem for each violation."""
    normalize(doc.data)
    for error in validator().iter_errors(doc.data):
        _report(doc, error)
    return doc
