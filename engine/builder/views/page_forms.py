"""Builder views: adding, editing and removing a page (kind, entity, title per language, roles, menu
placement, columns or fields, content)."""
from __future__ import annotations

from django.http import Http404
from django.views.decorators.http import require_POST

from .common import builder_view, render_builder
from .editing import apply_edit, label_values, labels_from, see_other, shown, url
from .roles import language

KINDS = (("list", "List of rows"), ("detail", "One row's details"), ("form", "Form to create a row"),
         ("calendar", "Calendar"), ("dashboard", "Dashboard"), ("info", "Information text"),
         ("record", "The user's own row"))
MENU_CHOICES = (("main", "Main menu"), ("section", "Section menu (under a parent page)"),
                ("user", "User menu"), ("none", "Not in a menu"))
LIST_KINDS = ("list", "calendar")  # pages with columns
FORM_KINDS = ("form", "detail")  # pages with fields


def values_of(page, languages):
    """The form values of an existing page (or the empty form)."""
    if page is None:
        return {"name": "", "kind": "list", "entity": "", "menu": "main", "parent": "", "icon": "",
                "roles": [], "columns": [], "fields": [], "title": dict.fromkeys(languages, ""),
                "content": dict.fromkeys(languages, "")}
    return {"name": page.name, "kind": page.kind, "entity": page.entity or "", "menu": page.menu,
            "parent": page.parent or "", "icon": page.icon or "", "roles": list(page.roles or ()),
            "columns": list(page.columns), "fields": list(page.fields),
            "title": label_values(page.title, languages), "content": label_values(page.content, languages)}


def values_from(post, languages):
    return {"name": post.get("name", "").strip(), "kind": post.get("kind", ""), "entity": post.get("entity", ""),
            "menu": post.get("menu", "main"), "parent": post.get("parent", ""), "icon": post.get("icon", "").strip(),
            "roles": post.getlist("roles"), "columns": post.getlist("columns"), "fields": post.getlist("fields"),
            "title": {lang: post.get(f"title_{lang}", "") for lang in languages},
            "content": {lang: post.get(f"content_{lang}", "") for lang in languages}}


def edit_args(values, spec, languages, adding):
    """The ``add_page``/``update_page`` arguments of the form values (empty optional keys removed)."""
    kind = values["kind"]
    entity = spec.entity(values["entity"]) if values["entity"] else None
    names = set(entity.field_names) if entity else set()
    args = {"kind": kind, "title": {k: v.strip() for k, v in values["title"].items() if v.strip()},
            "roles": values["roles"], "menu": values["menu"]}
    optional = {
        "entity": values["entity"] or None, "parent": values["parent"] or None, "icon": values["icon"] or None,
        "columns": [c for c in values["columns"] if c in names] if kind in LIST_KINDS else None,
        "fields": [f for f in values["fields"] if f in names] if kind in FORM_KINDS else None,
        "content": labels_from({f"content_{k}": v for k, v in values["content"].items()}, "content", languages)
        if kind == "info" else None,
    }
    for key, value in optional.items():
        if value:
            args[key] = value
        elif not adding:
            args[key] = None  # clear what the form left empty
    return args


def form_context(request, view, values, errors, page=None):
    spec = view.spec
    lang = language(request, spec)
    entity = spec.entity(values["entity"]) if values["entity"] else None
    chosen = values["columns"] if values["kind"] in LIST_KINDS else values["fields"]
    fields = []
    if entity is not None:  # the chosen ones first, in their order, then the rest
        order = [n for n in chosen if entity.field(n)] + [n for n in entity.field_names if n not in chosen]
        fields = [(n, entity.field(n).label.get(lang, spec.default_language), n in chosen) for n in order]
    return {
        "section": "pages", "draft": view.draft, "view": view, "spec": spec, "page": page, "values": values,
        "errors": errors, "menus": MENU_CHOICES,
        # a page of a kind this form does not make (a chat) keeps its kind
        "kinds": KINDS if values["kind"] in dict(KINDS) or not values["kind"]
        else (*KINDS, (values["kind"], values["kind"])),
        "entities": [(e.name, e.plural.get(lang, spec.default_language)) for e in spec.entities],
        "roles": [(r.name, r.label.get(lang, spec.default_language), r.name in values["roles"]) for r in spec.roles],
        "parents": [(p.name, p.title.get(lang, spec.default_language)) for p in spec.pages
                    if p.menu == "main" and (page is None or p.name != page.name)],
        "field_choices": fields, "field_key": "columns" if values["kind"] in LIST_KINDS else "fields",
        "titles": [(k, values["title"].get(k, "")) for k in spec.languages],
        "contents": [(k, values["content"].get(k, "")) for k in spec.languages],
        "problems": view.problems_at(("pages", page.name)) if page else [],
    }


@builder_view
def page_add(request, draft_id):
    """Add a page to the draft."""
    view = shown(draft_id)
    if view.spec is None:
        return see_other(url("pages", view.draft))
    languages = view.spec.languages
    if request.method != "POST":
        return render_builder(request, "builder/page_form.html",
                              form_context(request, view, values_of(None, languages), {}))
    values = values_from(request.POST, languages)
    edit = {"op": "add_page", "name": values["name"], **edit_args(values, view.spec, languages, adding=True)}
    errors = apply_edit(request, view.draft, edit)
    if errors is None:
        return see_other(url("pages", view.draft), request, f"Page '{values['name']}' added.")
    return render_builder(request, "builder/page_form.html", form_context(request, view, values, errors), status=400)


@builder_view
def page_edit(request, draft_id, page):
    """Edit a page of the draft: what it shows, who sees it and where its menu item sits."""
    view = shown(draft_id)
    spec_page = view.spec.page(page) if view.spec else None
    if spec_page is None:
        raise Http404("No such page.")
    languages = view.spec.languages
    if request.method != "POST":
        return render_builder(request, "builder/page_form.html",
                              form_context(request, view, values_of(spec_page, languages), {}, spec_page))
    values = values_from(request.POST, languages)
    values["name"] = page
    args = edit_args(values, view.spec, languages, adding=False)
    if spec_page.roles is None and not values["roles"]:
        args.pop("roles")  # a page open to every role stays so unless roles are ticked
    errors = apply_edit(request, view.draft, {"op": "update_page", "page": page, **args})
    if errors is None:
        return see_other(url("pages", view.draft), request, f"Page '{page}' saved.")
    return render_builder(request, "builder/page_form.html",
                          form_context(request, view, values, errors, spec_page), status=400)


@builder_view
@require_POST
def page_remove(request, draft_id, page):
    """Remove a page from the draft (refused while a menu parent, card or home page still names it)."""
    view = shown(draft_id)
    spec_page = view.spec.page(page) if view.spec else None
    if spec_page is None:
        raise Http404("No such page.")
    errors = apply_edit(request, view.draft, {"op": "remove_page", "page": page})
    if errors is None:
        return see_other(url("pages", view.draft), request, f"Page '{page}' removed.")
    languages = view.spec.languages
    context = form_context(request, view, values_of(spec_page, languages), errors, spec_page)
    return render_builder(request, "builder/page_form.html", context, status=400)
