"""The builder's structured edits of entities and fields, applied to a ``Workspace``.

Every edit checks all of its arguments first (``Args``) and raises ``EditError`` naming each bad one
before anything is written; then it changes the YAML in place. ``run`` applies one edit to a copy of
the sources and returns the new sources, so a refused edit leaves the draft as it was.
"""
from __future__ import annotations

from ruamel.yaml.comments import CommentedMap

from ..fieldtypes import FieldType
from ..loader import load_sources
from .errors import EditError
from .refs import Refs
from .validation import Args
from .yamledit import Workspace, delete_key, is_flow, move_key, rename_key, to_yaml

FIELD_TYPES = [t.value for t in FieldType]
ON_DELETE = ["cascade", "protect", "set_null", "restrict"]
FIELD_OPTIONS = ("type", "to", "on_delete", "required", "unique", "translate", "default", "max_length", "min", "max",
                 "label", "help", "choices")
LENGTH_TYPES = ("string", "text", "markdown", "email", "phone", "url")
OPS = {}


def op(name):
    def register(func):
        OPS[name] = func
        return func
    return register


class Context:
    """What an edit works on: the workspace, the solution's languages and the base version's data."""

    def __init__(self, ws, base_sources=None):
        self.ws = ws
        self.refs = Refs(ws)
        solution = ws.get(("solution",)) or {}
        languages = solution.get("languages") if isinstance(solution, dict) else None
        self.languages = [str(x) for x in languages] if isinstance(languages, list) and languages else ["en"]
        default = solution.get("default_language") if isinstance(solution, dict) else None
        self.default_language = str(default) if default in self.languages else self.languages[0]
        self.base = load_sources(base_sources).data if base_sources else {}

    def label(self, args, key, required=True, multiline=False):
        return args.label(key, self.languages, self.default_language if required else None, required, multiline)

    def entity(self, args, key="entity"):
        """The entity node named by argument ``key`` (a problem recorded when there is none)."""
        name = args.get(key)
        node = self.ws.get(("entities", name)) if isinstance(name, str) else None
        if not isinstance(node, dict):
            return args.fail(key, f"there is no entity '{name}'")
        return node

    def field(self, args, entity, key="field"):
        name = args.get(key)
        fields = entity.get("fields") if isinstance(entity, dict) else None
        if not isinstance(fields, dict) or not isinstance(name, str) or name not in fields:
            return args.fail(key, f"entity '{args.get('entity')}' has no field '{name}'")
        if isinstance(fields[name], str):  # the shorthand 'email: email' becomes a mapping to edit
            fields[name] = to_yaml({"type": fields[name]})
        return fields[name]

    def base_field_names(self, entity_name):
        """The fields the entity had in the version the draft is based on (empty for a new entity)."""
        entity = self.ws.get(("entities", entity_name)) or {}
        base = (self.base.get("entities") or {})
        old = base.get(entity_name) or base.get(entity.get("renamed_from") if isinstance(entity, dict) else None)
        fields = old.get("fields") if isinstance(old, dict) else None
        return set(fields) if isinstance(fields, dict) else set()


def run(sources, edit, base_sources=None):
    """Apply ``edit`` to a copy of ``sources``; return the new sources (``EditError`` when refused)."""
    if not isinstance(edit, dict):
        raise EditError({"op": ["an edit is a mapping with an 'op'"]})
    func = OPS.get(edit.get("op"))
    if func is None:
        raise EditError({"op": [f"'{edit.get('op')}' is not an edit; known: {', '.join(sorted(OPS))}"]})
    ws = Workspace(sources)
    func(Context(ws, base_sources), edit)
    return ws.result()


# --- field options -------------------------------------------------------------------------

def field_options(ctx, args, ftype, existing=None):
    """Check the optional field arguments; return them as {key: value or None (remove)} in YAML order."""
    info = FieldType(ftype).info if ftype in FIELD_TYPES else None
    clean = {}
    for key in FIELD_OPTIONS:
        if key == "type" or not args.given(key):
            continue
        value = args.get(key)
        if value is None:
            if key == "label":
                args.fail(key, "is required")
            clean[key] = None
            continue
        if info is not None and key not in ("label", "help", "to", "on_delete", "choices") \
                and key not in info.options:
            args.fail(key, f"a {ftype} field takes no '{key}'")
            continue
        clean[key] = _option(ctx, args, key, ftype)
    _relation(ctx, args, ftype, clean, existing)
    if ftype == "choice" and "choices" not in clean and not (existing or {}).get("choices"):
        args.fail("choices", "a choice field needs its choices")
    if ftype and ftype != "choice" and clean.get("choices"):
        args.fail("choices", f"a {ftype} field takes no choices")
    low, high = clean.get("min"), clean.get("max")
    if low is not None and high is not None and args.ok("min", "max") and low > high:
        args.fail("max", "must not be less than min")
    _default(args, ftype, clean, existing)
    return clean


def _option(ctx, args, key, ftype):
    if key in ("required", "unique", "translate"):
        return args.boolean(key)
    if key == "max_length":
        return args.integer(key, 1, 100_000)
    if key in ("min", "max"):
        return args.number(key)
    if key in ("label", "help"):
        return ctx.label(args, key, required=key == "label")
    if key == "on_delete":
        return args.choice(key, ON_DELETE)
    if key == "to":
        target = args.get(key)
        if target != "user" and not isinstance(ctx.ws.get(("entities", target)) if isinstance(target, str)
                                              else None, dict):
            return args.fail(key, f"there is no entity '{target}'")
        return target
    if key == "choices":
        return _choices(ctx, args)
    return args.get(key)  # default: checked with the type below


def _choices(ctx, args):
    value = args.get("choices")
    if not isinstance(value, list) or not value:
        return args.fail("choices", "must be a list of {value, label}")
    clean, seen = [], set()
    for item in value:
        if not isinstance(item, dict) or set(item) - {"value", "label"} or not isinstance(item.get("value"), str):
            return args.fail("choices", "each choice is {value, label}")
        code = item["value"]
        if not code or len(code) > 100 or code != code.strip() or "\n" in code:
            return args.fail("choices", f"'{code}' is not a valid choice value")
        if code in seen:
            return args.fail("choices", f"'{code}' is given twice")
        seen.add(code)
        label = args.label("choices", ctx.languages, ctx.default_language, value=item.get("label"))
        if label is None:
            return None
        clean.append({"value": code, "label": label})
    return clean


def _relation(ctx, args, ftype, clean, existing):
    has_to = clean.get("to") or (existing or {}).get("to") and "to" not in clean
    if ftype in ("ref", "refs") and not has_to and args.ok("to"):
        args.fail("to", f"a {ftype} field needs the entity it refers to")
    if ftype and ftype not in ("ref", "refs") and clean.get("to"):
        args.fail("to", f"a {ftype} field refers to nothing")
    if ftype and ftype != "ref" and clean.get("on_delete"):
        args.fail("on_delete", "only a ref field has on_delete")


def _default(args, ftype, clean, existing):
    if clean.get("default") is None:
        return
    value = clean["default"]
    if isinstance(value, (dict, list)):
        args.fail("default", "must be a single value")
    elif ftype == "boolean" and not isinstance(value, bool):
        args.fail("default", "must be true or false")
    elif ftype == "integer" and (isinstance(value, bool) or not isinstance(value, int)):
        args.fail("default", "must be a whole number")
    elif ftype in ("decimal", "money") and (isinstance(value, bool) or not isinstance(value, (int, float, str))):
        args.fail("default", "must be a number")
    elif ftype == "choice":
        choices = clean.get("choices") or (existing or {}).get("choices") or []
        if value not in [c.get("value") for c in choices if isinstance(c, dict)]:
            args.fail("default", "must be one of the choices")
    elif ftype in ("ref", "refs"):
        args.fail("default", "a reference has no default")
    elif isinstance(value, str) and ("\n" in value or len(value) > 1000):
        args.fail("default", "must be a short single-line text")


def _write_options(node, clean, before="label"):
    """Set or remove each option in place; new keys go before key ``before`` (a field's label stays
    last, an entity's fields stay below its settings)."""
    for key, value in clean.items():
        if value is None:
            if key in node:
                delete_key(node, key)
            continue
        if key in node:
            node[key] = to_yaml(value)
        else:
            position = list(node).index(before) if before in node and key not in ("help", "choices") else len(node)
            node.insert(position, key, to_yaml(value))


# --- fields ---------------------------------------------------------------------------------

@op("add_field")
def add_field(ctx, edit):
    args = Args(edit, required=("entity", "name", "type", "label"), optional=FIELD_OPTIONS)
    entity = ctx.entity(args)
    name = args.name("name", "field")
    if entity is not None and name and name in (entity.get("fields") or {}):
        args.fail("name", f"entity '{args.get('entity')}' already has a field '{name}'")
    ftype = args.choice("type", FIELD_TYPES)
    clean = field_options(ctx, args, ftype)
    args.check()
    if not isinstance(entity.get("fields"), dict):
        entity["fields"] = CommentedMap()
    fields = entity["fields"]
    node = to_yaml({"type": ftype, **{k: v for k, v in clean.items() if v is not None}})
    siblings = [v for v in fields.values() if isinstance(v, dict)]
    if (siblings and sum(map(is_flow, siblings)) * 2 < len(siblings)) or clean.get("choices"):
        node.fa.set_block_style()  # as most of its neighbours are written
    fields[name] = node
    ctx.ws.touch_path(("entities", args.get("entity")))


@op("update_field")
def update_field(ctx, edit):
    args = Args(edit, required=("entity", "field"), optional=FIELD_OPTIONS)
    entity = ctx.entity(args)
    node = ctx.field(args, entity) if entity is not None else None
    ftype = args.choice("type", FIELD_TYPES) if args.given("type") else (node or {}).get("type")
    clean = field_options(ctx, args, ftype, existing=node)
    args.check()
    if args.given("type"):
        node["type"] = ftype
    _write_options(node, clean)
    ctx.ws.touch_path(("entities", args.get("entity")))


@op("rename_field")
def rename_field(ctx, edit):
    args = Args(edit, required=("entity", "field", "new_name"))
    entity = ctx.entity(args)
    node = ctx.field(args, entity) if entity is not None else None
    new = args.name("new_name", "field")
    if node is not None and new and new in entity["fields"]:
        args.fail("new_name", f"entity '{args.get('entity')}' already has a field '{new}'")
    args.check()
    old, entity_name = args.get("field"), args.get("entity")
    rename_key(entity["fields"], old, new)
    origin = node.get("renamed_from") or (old if old in ctx.base_field_names(entity_name) else None)
    if origin == new or origin is None:
        if "renamed_from" in node:
            delete_key(node, "renamed_from")
    elif node.get("renamed_from") != origin:
        node.insert(1 if "type" in node else 0, "renamed_from", origin)
    ctx.refs.field(entity_name, old, new)
    ctx.ws.touch_path(("entities", entity_name))


@op("remove_field")
def remove_field(ctx, edit):
    args = Args(edit, required=("entity", "field"))
    entity = ctx.entity(args)
    node = ctx.field(args, entity) if entity is not None else None
    if node is not None:
        for name, (_, flow) in ctx.ws.items("workflows").items():
            if isinstance(flow, dict) and flow.get("entity") == args.get("entity") \
                    and flow.get("field") == args.get("field"):
                args.fail("field", f"is the state field of workflow '{name}'; remove the workflow first")
    args.check()
    ctx.ws.touch_path(("entities", args.get("entity")))
    delete_key(entity["fields"], args.get("field"))
    ctx.refs.field(args.get("entity"), args.get("field"), None)


@op("move_field")
def move_field(ctx, edit):
    args = Args(edit, required=("entity", "field"), optional=("to_index",))
    entity = ctx.entity(args)
    node = ctx.field(args, entity) if entity is not None else None
    count = len(entity["fields"]) if node is not None else 1
    index = args.integer("to_index", 0, count - 1) if args.given("to_index") else args.fail("to_index", "is required")
    args.check()
    move_key(entity["fields"], args.get("field"), index)
    ctx.ws.touch_path(("entities", args.get("entity")))


# --- entities -------------------------------------------------------------------------------

@op("add_entity")
def add_entity(ctx, edit):
    args = Args(edit, required=("name", "label", "plural"))
    name = args.name("name", "entity")
    if name and ctx.ws.get(("entities", name)) is not None:
        args.fail("name", f"there is already an entity '{name}'")
    label, plural = ctx.label(args, "label"), ctx.label(args, "plural")
    args.check()
    file = ctx.ws.file_for("entities")
    node = CommentedMap()
    node["label"], node["plural"] = to_yaml(label), to_yaml(plural)
    node["title"] = "name"
    node["fields"] = CommentedMap()
    node["fields"]["name"] = to_yaml({"type": "string", "max_length": 200, "required": True,
                                      "label": {ctx.default_language: "Name"}})
    ctx.ws.section(file, "entities")[name] = node
    ctx.ws.touch(file)


@op("update_entity")
def update_entity(ctx, edit):
    args = Args(edit, required=("entity",), optional=("label", "plural", "title", "search", "ordering"))
    entity = ctx.entity(args)
    fields = list((entity or {}).get("fields") or {})
    clean = {}
    for key in ("label", "plural"):
        if args.given(key):
            clean[key] = ctx.label(args, key)
    if args.given("title"):
        clean["title"] = None if args.get("title") is None else args.choice("title", fields)
    if args.given("search"):
        clean["search"] = None if args.get("search") is None else args.names("search", fields, "field")
    if args.given("ordering"):
        clean["ordering"] = None if args.get("ordering") is None else _ordering(args, fields)
    args.check()
    _write_options(entity, clean, before="fields")
    ctx.ws.touch_path(("entities", args.get("entity")))


def _ordering(args, fields):
    value = args.get("ordering")
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return args.fail("ordering", "must be a list of field names, each with '-' for descending")
    for item in value:
        if item.lstrip("-") not in fields or item.startswith("--"):
            return args.fail("ordering", f"'{item}' is not a field (with '-' for descending)")
    return value


@op("rename_entity")
def rename_entity(ctx, edit):
    args = Args(edit, required=("entity", "new_name"))
    entity = ctx.entity(args)
    new = args.name("new_name", "entity")
    if new and ctx.ws.get(("entities", new)) is not None:
        args.fail("new_name", f"there is already an entity '{new}'")
    args.check()
    old = args.get("entity")
    file, _ = ctx.ws.locate(("entities", old))
    rename_key(ctx.ws.doc(file)["entities"], old, new)
    base = ctx.base.get("entities") or {}
    origin = entity.get("renamed_from") or (old if old in base else None)
    if origin == new or origin is None:
        if "renamed_from" in entity:
            delete_key(entity, "renamed_from")
    elif entity.get("renamed_from") != origin:
        entity.insert(0, "renamed_from", origin)
    ctx.ws.touch(file)
    ctx.refs.entity(old, new)


@op("remove_entity")
def remove_entity(ctx, edit):
    args = Args(edit, required=("entity",))
    entity = ctx.entity(args)
    if entity is not None:
        uses = ctx.refs.entity_uses(args.get("entity"))
        if uses:
            args.fail("entity", f"is still used by {', '.join(uses)}; change or remove those first")
    args.check()
    file = ctx.ws.touch_path(("entities", args.get("entity")))
    delete_key(ctx.ws.doc(file)["entities"], args.get("entity"))
    ctx.refs.grants(args.get("entity"), None)


from . import edits_structure  # noqa: E402,F401  (registers the roles, pages, workflows and branding edits)
