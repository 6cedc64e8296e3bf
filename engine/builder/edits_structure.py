"""The builder's structured edits of roles, pages and menus, workflows, branding and languages."""
from __future__ import annotations

import re

from ruamel.yaml.comments import CommentedMap

from ..spec import ACTIONS
from .edits import _write_options, op
from .validation import Args
from .yamledit import delete_key, to_yaml

PAGE_KINDS = ["list", "detail", "form", "dashboard", "info", "calendar", "chat", "inbox", "record"]
ENTITY_KINDS = ("list", "detail", "form", "calendar", "record")
MENUS = ["main", "section", "user", "none"]
ICON = r"[a-z0-9][a-z0-9-]{0,39}"
COLOUR = r"#[0-9a-fA-F]{6}"
LANGUAGE = r"[a-z]{2}(-[a-z]{2})?"


def _names(ctx, section):
    return list(ctx.ws.items(section))


def _transitions_of(ctx, entity):
    found = []
    for _, (_, flow) in ctx.ws.items("workflows").items():
        if isinstance(flow, dict) and flow.get("entity") == entity:
            found += [str(t) for t in (flow.get("transitions") or {})]
    return found


# --- roles ----------------------------------------------------------------------------------

@op("add_role")
def add_role(ctx, edit):
    args = Args(edit, required=("name", "label"), optional=("staff",))
    name = args.name("name", "role")
    if name and ctx.ws.get(("roles", name)) is not None:
        args.fail("name", f"there is already a role '{name}'")
    label = ctx.label(args, "label")
    staff = args.boolean("staff") if args.given("staff") and args.get("staff") is not None else None
    args.check()
    file = ctx.ws.file_for("roles")
    node = CommentedMap()
    node["label"] = to_yaml(label)
    if staff:
        node["staff"] = True
    node["entities"] = CommentedMap()
    ctx.ws.section(file, "roles")[name] = node
    ctx.ws.touch(file)


@op("set_rights")
def set_rights(ctx, edit):
    args = Args(edit, required=("role", "entity"), optional=("actions", "scope", "view", "edit"))
    role = ctx.ws.get(("roles", args.get("role"))) if isinstance(args.get("role"), str) else None
    if not isinstance(role, dict):
        args.fail("role", f"there is no role '{args.get('role')}'")
    entity = ctx.entity(args)
    fields = list((entity or {}).get("fields") or {})
    remove = args.get("scope") is None
    if not remove:
        allowed = [*ACTIONS, *_transitions_of(ctx, args.get("entity"))]
        actions = args.names("actions", allowed, "action", allow_all=True) if args.given("actions") \
            else args.fail("actions", "is required")
        scope = _scope(ctx, args, fields)
        view = args.names("view", fields, "field") if args.get("view") is not None else None
        editable = args.names("edit", fields, "field") if args.get("edit") is not None else None
    args.check()
    file = ctx.ws.touch_path(("roles", args.get("role")))
    if not isinstance(role.get("entities"), dict):
        role["entities"] = CommentedMap()
    grants = role["entities"]
    name = args.get("entity")
    if remove:
        if name in grants:
            delete_key(grants, name)
        return
    grant = grants.get(name)
    if not isinstance(grant, dict):
        grant = grants[name] = CommentedMap()
        others = [g for g in grants.values() if isinstance(g, dict) and g is not grant]
        if others and others[0].fa.flow_style():
            grant.fa.set_flow_style()
    grant["actions"] = to_yaml(actions)
    grant["scope"] = to_yaml(scope)
    fields_node = {k: v for k, v in (("view", view), ("edit", editable)) if v is not None}
    if fields_node:
        existing = grant.get("fields")
        if isinstance(existing, dict):
            _write_options(existing, {"view": view, "edit": editable})
        else:
            grant["fields"] = to_yaml(fields_node)
    elif "fields" in grant:
        delete_key(grant, "fields")
    ctx.ws.touch(file)


def _scope(ctx, args, fields):
    """'all', 'own', an expression text (kept as written; the draft's check parses it), or a mapping of
    field path to a value, a list of values ("is one of") or $user."""
    value = args.get("scope")
    if value in ("all", "own"):
        return value
    if isinstance(value, str):
        if not value.strip() or len(value) > 2000 or "\n" in value or "\r" in value or "\x00" in value:
            return args.fail("scope", "an expression scope must be one line of at most 2000 characters")
        return value
    if not isinstance(value, dict) or not value:
        return args.fail("scope", "must be 'all', 'own', an expression or a mapping {path: value}")
    for path, item in value.items():
        parts = str(path).split(".")
        if not all(p and p.isidentifier() and p.islower() for p in parts) or parts[0] not in fields:
            return args.fail("scope", f"'{path}' is not a path of fields starting from this entity")
        items = item if isinstance(item, list) else [item]
        if isinstance(item, list) and not item:
            return args.fail("scope", f"the list of values of '{path}' is empty")
        for one in items:
            if isinstance(one, (dict, list)) or (isinstance(one, str) and ("\n" in one or len(one) > 200)) \
                    or (isinstance(one, float) and one != one):
                return args.fail("scope", f"the value of '{path}' must be a value, a list of values or $user")
    return dict(value)


# --- pages and menus ------------------------------------------------------------------------

PAGE_ARGS = ("kind", "title", "roles", "entity", "menu", "parent", "icon", "columns", "fields", "content")


def _page_values(ctx, args, current=None):
    """Check a page's arguments; return {key: value or None (remove)}."""
    current = current or {}
    clean = {}
    kind = args.choice("kind", PAGE_KINDS) if args.given("kind") else current.get("kind")
    for key in PAGE_ARGS:
        if key == "kind" or not args.given(key):
            continue
        value = args.get(key)
        if value is None:
            clean[key] = None
        elif key == "title":
            clean[key] = ctx.label(args, key)
        elif key == "content":
            clean[key] = ctx.label(args, key, multiline=True)
        elif key == "roles":
            clean[key] = args.names(key, _names(ctx, "roles"), "role")
        elif key == "entity":
            clean[key] = value if ctx.entity(args) is not None else None
        elif key == "menu":
            clean[key] = args.choice(key, MENUS)
        elif key == "parent":
            clean[key] = args.choice(key, [p for p in _names(ctx, "pages") if p != args.get("page")])
        elif key == "icon":
            clean[key] = args.text(key, 40, ICON, "must be an icon name such as 'bell'")
    entity_name = clean.get("entity", current.get("entity")) if "entity" in clean or current else args.get("entity")
    fields = list((ctx.ws.get(("entities", entity_name)) or {}).get("fields") or {}) if entity_name else []
    for key in ("columns", "fields"):
        if args.given(key) and args.get(key) is not None:
            clean[key] = args.names(key, fields, "field")
    if kind in ENTITY_KINDS and not entity_name:
        args.fail("entity", f"a {kind} page needs an entity")
    if kind == "info" and clean.get("entity"):
        args.fail("entity", "an info page shows no entity")
    return kind, clean


@op("add_page")
def add_page(ctx, edit):
    args = Args(edit, required=("name", "kind", "title"), optional=PAGE_ARGS[3:] + ("roles",))
    name = args.name("name", "page")
    if name and ctx.ws.get(("pages", name)) is not None:
        args.fail("name", f"there is already a page '{name}'")
    if not args.given("roles"):
        args.fail("roles", "name the roles that see the page")
    kind, clean = _page_values(ctx, args)
    args.check()
    file = ctx.ws.file_for("pages")
    node = CommentedMap()
    node["kind"] = kind
    for key in PAGE_ARGS[1:]:
        if clean.get(key) is not None:
            node[key] = to_yaml(clean[key])
    ctx.ws.section(file, "pages")[name] = node
    ctx.ws.touch(file)


@op("update_page")
def update_page(ctx, edit):
    args = Args(edit, required=("page",), optional=PAGE_ARGS)
    page = ctx.ws.get(("pages", args.get("page"))) if isinstance(args.get("page"), str) else None
    if not isinstance(page, dict):
        args.fail("page", f"there is no page '{args.get('page')}'")
    kind, clean = _page_values(ctx, args, page if isinstance(page, dict) else None)
    if clean.get("title", 0) is None:
        args.fail("title", "a page needs a title")
    args.check()
    if args.given("kind"):
        page["kind"] = kind
    _write_options(page, clean)
    ctx.ws.touch_path(("pages", args.get("page")))


@op("remove_page")
def remove_page(ctx, edit):
    args = Args(edit, required=("page",))
    name = args.get("page")
    if not isinstance(ctx.ws.get(("pages", name)) if isinstance(name, str) else None, dict):
        args.fail("page", f"there is no page '{name}'")
    else:
        uses = _page_uses(ctx, name)
        if uses:
            args.fail("page", f"is still used by {', '.join(uses)}; change those first")
    args.check()
    file = ctx.ws.touch_path(("pages", name))
    delete_key(ctx.ws.doc(file)["pages"], name)


def _page_uses(ctx, name):
    uses = []
    home = (ctx.ws.get(("solution", "home")) or {})
    uses += [f"solution.home.{role}" for role, page in home.items() if page == name] if isinstance(home, dict) else []
    uses += [f"roles.{r}.home" for r, node in ctx.ws.merged("roles").items()
             if isinstance(node, dict) and node.get("home") == name]
    for page_name, page in ctx.ws.merged("pages").items():
        if not isinstance(page, dict) or page_name == name:
            continue
        if page.get("parent") == name:
            uses.append(f"pages.{page_name}.parent")
        if any(isinstance(c, dict) and c.get("page") == name for c in page.get("cards") or []):
            uses.append(f"pages.{page_name}.cards")
    return uses


@op("order_menu")
def order_menu(ctx, edit):
    args = Args(edit, required=("pages",))
    names = args.names("pages", _names(ctx, "pages"), "page")
    args.check()
    for position, name in enumerate(names, start=1):
        page = ctx.ws.get(("pages", name))
        if page.get("order") != position:
            if "order" in page:
                page["order"] = position
            else:
                after = [k for k in ("icon", "parent", "menu", "roles", "title") if k in page]
                page.insert(list(page).index(after[0]) + 1 if after else len(page), "order", position)
            ctx.ws.touch_path(("pages", name))


# --- workflows ------------------------------------------------------------------------------

def _workflow(ctx, args):
    flow = ctx.ws.get(("workflows", args.get("workflow"))) if isinstance(args.get("workflow"), str) else None
    if not isinstance(flow, dict):
        return args.fail("workflow", f"there is no workflow '{args.get('workflow')}'")
    return flow


def _state_field(ctx, flow):
    """The choice field holding the workflow's state (None when it is not a mapping)."""
    node = ctx.ws.get(("entities", flow.get("entity"), "fields", flow.get("field")))
    return node if isinstance(node, dict) else None


@op("add_state")
def add_state(ctx, edit):
    args = Args(edit, required=("workflow", "state", "label"))
    flow = _workflow(ctx, args)
    state = args.name("state", "state")
    if flow is not None and state in (flow.get("states") or {}):
        args.fail("state", f"workflow '{args.get('workflow')}' already has a state '{state}'")
    label = ctx.label(args, "label")
    args.check()
    flow["states"][state] = to_yaml({"label": label})
    ctx.ws.touch_path(("workflows", args.get("workflow")))
    field = _state_field(ctx, flow)
    if field is not None and isinstance(field.get("choices"), list) \
            and state not in [c.get("value") for c in field["choices"] if isinstance(c, dict)]:
        field["choices"].append(to_yaml({"value": state, "label": label}))
        ctx.ws.touch_path(("entities", flow.get("entity")))


@op("remove_state")
def remove_state(ctx, edit):
    args = Args(edit, required=("workflow", "state"))
    flow = _workflow(ctx, args)
    state = args.get("state")
    if flow is not None:
        if state not in (flow.get("states") or {}):
            args.fail("state", f"workflow '{args.get('workflow')}' has no state '{state}'")
        elif flow.get("initial") == state:
            args.fail("state", "is the initial state")
        else:
            uses = [f"transitions.{n}" for n, t in (flow.get("transitions") or {}).items() if isinstance(t, dict)
                    and (t.get("to") == state or state in (t.get("from") if isinstance(t.get("from"), list)
                                                           else [t.get("from")]))]
            uses += [f"timers.{n}" for n, t in (flow.get("timers") or {}).items() if isinstance(t, dict)
                     and state in (t.get("in") or [])]
            if uses:
                args.fail("state", f"is used by {', '.join(uses)}; remove those first")
    args.check()
    delete_key(flow["states"], state)
    ctx.ws.touch_path(("workflows", args.get("workflow")))
    field = _state_field(ctx, flow)
    if field is not None and isinstance(field.get("choices"), list):
        for i in range(len(field["choices"]) - 1, -1, -1):
            if isinstance(field["choices"][i], dict) and field["choices"][i].get("value") == state:
                del field["choices"][i]
                ctx.ws.touch_path(("entities", flow.get("entity")))


TRANSITION_ARGS = ("from", "to", "roles", "label", "confirm")


def _transition_values(ctx, args, flow):
    states = list((flow or {}).get("states") or {})
    clean = {}
    if args.given("from"):
        value = args.get("from")
        clean["from"] = args.choice("from", states) if isinstance(value, str) else args.names("from", states, "state")
    if args.given("to"):
        clean["to"] = args.choice("to", states)
    if args.given("roles"):
        clean["roles"] = args.names("roles", _names(ctx, "roles"), "role") if args.get("roles") is not None else None
    if args.given("label"):
        clean["label"] = ctx.label(args, "label") if args.get("label") is not None else None
    if args.given("confirm"):
        value = args.get("confirm")
        clean["confirm"] = value if isinstance(value, bool) or value is None else ctx.label(args, "confirm")
    return clean


@op("add_transition")
def add_transition(ctx, edit):
    args = Args(edit, required=("workflow", "name", "from", "to", "roles"), optional=("label", "confirm"))
    flow = _workflow(ctx, args)
    name = args.name("name", "transition")
    if flow is not None and name in (flow.get("transitions") or {}):
        args.fail("name", f"workflow '{args.get('workflow')}' already has a transition '{name}'")
    if name in ACTIONS:
        args.fail("name", f"'{name}' is a basic action")
    clean = _transition_values(ctx, args, flow)
    args.check()
    if not isinstance(flow.get("transitions"), dict):
        flow["transitions"] = CommentedMap()
    node = to_yaml({k: clean[k] for k in TRANSITION_ARGS if clean.get(k) is not None})
    flow["transitions"][name] = node
    ctx.ws.touch_path(("workflows", args.get("workflow")))


@op("update_transition")
def update_transition(ctx, edit):
    args = Args(edit, required=("workflow", "name"), optional=TRANSITION_ARGS)
    flow = _workflow(ctx, args)
    node = (flow.get("transitions") or {}).get(args.get("name")) if flow is not None else None
    if flow is not None and not isinstance(node, dict):
        args.fail("name", f"workflow '{args.get('workflow')}' has no transition '{args.get('name')}'")
    clean = _transition_values(ctx, args, flow)
    for key in ("from", "to"):
        if key in clean and clean[key] is None and args.ok(key):
            args.fail(key, "is required")
    args.check()
    _write_options(node, clean)
    ctx.ws.touch_path(("workflows", args.get("workflow")))


@op("remove_transition")
def remove_transition(ctx, edit):
    args = Args(edit, required=("workflow", "name"))
    flow = _workflow(ctx, args)
    name = args.get("name")
    if flow is not None:
        if name not in (flow.get("transitions") or {}):
            args.fail("name", f"workflow '{args.get('workflow')}' has no transition '{name}'")
        uses = [f"timers.{t}" for t, node in (flow.get("timers") or {}).items()
                if isinstance(node, dict) and node.get("do") == name]
        uses += [f"chats.{c}.{key}" for c, node in ctx.ws.merged("chats").items() if isinstance(node, dict)
                 and node.get("entity") == flow.get("entity") for key in ("close", "reopen") if node.get(key) == name]
        if uses:
            args.fail("name", f"is used by {', '.join(uses)}; change those first")
    args.check()
    delete_key(flow["transitions"], name)
    ctx.ws.touch_path(("workflows", args.get("workflow")))
    for _, (file, role) in ctx.ws.items("roles").items():
        grant = ((role or {}).get("entities") or {}).get(flow.get("entity"))
        actions = grant.get("actions") if isinstance(grant, dict) else None
        if isinstance(actions, list) and name in actions:
            actions.remove(name)
            ctx.ws.touch(file)


# --- branding and languages -----------------------------------------------------------------

@op("set_branding")
def set_branding(ctx, edit):
    keys = ("primary", "accent", "font", "radius", "logo")
    args = Args(edit, optional=keys)
    checks = {
        "primary": (20, COLOUR, "must be a colour such as '#0b6e4f'"),
        "accent": (20, COLOUR, "must be a colour such as '#f4a259'"),
        "font": (200, r"[A-Za-z0-9 ,'\-]+", "must be font names separated by commas"),
        "radius": (10, r"[0-9]{1,3}(px|rem|em)", "must be a length such as '8px'"),
        "logo": (500, r"(https://|/)[A-Za-z0-9._~:/?#@!$&'()*+,;=%\-]*", "must be an https:// address or a /path"),
    }
    clean = {key: (None if args.get(key) is None else args.text(key, *checks[key])) for key in keys if args.given(key)}
    args.check()
    file, solution = ctx.ws.locate(("solution",))
    if solution is None:
        file = ctx.ws.file_for("solution")
        solution = ctx.ws.doc(file)["solution"]
    if not isinstance(solution.get("branding"), dict):
        solution["branding"] = CommentedMap()
    _write_options(solution["branding"], clean)
    if not solution["branding"]:
        delete_key(solution, "branding")
    ctx.ws.touch(file)


@op("set_languages")
def set_languages(ctx, edit):
    args = Args(edit, required=("languages", "default_language"))
    languages = args.get("languages")
    if not isinstance(languages, list) or not languages or not all(isinstance(x, str) for x in languages):
        args.fail("languages", "must be a list of language codes such as ['en', 'ru']")
    else:
        for code in languages:
            if not re.fullmatch(LANGUAGE, code):
                args.fail("languages", f"'{code}' is not a language code such as 'en'")
                break
        if len(set(languages)) != len(languages):
            args.fail("languages", "names a language twice")
    if args.ok("languages") and args.get("default_language") not in languages:
        args.fail("default_language", "must be one of the languages")
    args.check()
    file, solution = ctx.ws.locate(("solution",))
    solution["languages"] = to_yaml(list(languages))
    solution["default_language"] = args.get("default_language")
    ctx.ws.touch(file)
