"""Builder views: pages and menus — each role's menus as they will appear, reordering, and the pages list.

Reordering works without JavaScript (an up and a down button per item, each a small POST form);
``menu.js`` adds dragging and keyboard moves and posts the whole order at once.
"""
from __future__ import annotations

from django.http import Http404, JsonResponse
from django.views.decorators.http import require_POST

from ...pages.site import ENTITY_ACTION
from .common import builder_view, render_builder
from .editing import apply_edit, see_other, shown, url
from .roles import language

PLACES = (("main", "Main menu (left)"), ("user", "User menu (top right)"))


def role_sees(spec, role, page):
    """Whether a holder of ``role`` (and no other) finds ``page`` in its menus: the cabinet's own rule."""
    if page.public:
        return True
    if page.roles is not None and role.name not in page.roles:
        return False
    if page.entity:
        grant = role.grant(page.entity)
        action = ENTITY_ACTION.get(page.kind, "view")
        return grant is not None and ("all" in grant.actions or action in grant.actions)
    return True


def menu_pages(spec, place, parent=None, role=None):
    """The pages of one menu in the order the cabinet shows them (for ``role``, or every page)."""
    found = [p for p in spec.pages if p.menu == place and (place != "section" or p.parent == parent)
             and (role is None or role_sees(spec, role, p))]
    return sorted(found, key=lambda p: (p.order, p.name))


def role_menus(spec, role, lang):
    """``role``'s main menu (each item with its section menu) and user menu."""
    def item(p):
        return {"page": p, "title": p.title.get(lang, spec.default_language),
                "children": [item(c) for c in menu_pages(spec, "section", p.name, role)]}
    return {place: [item(p) for p in menu_pages(spec, place, None, role)] for place, _ in PLACES}


def reordered(spec, role, place, parent, names):
    """Every page of the menu in order, ``role``'s pages moved to the order ``names`` gives them.

    The other roles' pages keep their places, so one role's reordering does not shuffle another's menu.
    """
    everyone = menu_pages(spec, place, parent)
    mine = [p.name for p in menu_pages(spec, place, parent, role)]
    if sorted(names) != sorted(mine):
        return None
    slots = iter(names)
    return [next(slots) if p.name in mine else p.name for p in everyone]


@builder_view
def pages(request, draft_id=None):
    """Show each role's menus as they will appear, and every page with its placement."""
    view = shown(draft_id)
    context = {"section": "pages", "draft": view.draft, "view": view, "spec": view.spec}
    if view.spec is None:
        return render_builder(request, "builder/pages.html", context)
    spec = view.spec
    lang = language(request, spec)
    role = spec.role(request.GET.get("role", "")) or (spec.roles[0] if spec.roles else None)
    context.update(
        lang=lang, role=role, roles=[(r, r.label.get(lang, spec.default_language)) for r in spec.roles],
        menus=[(place, label, role_menus(spec, role, lang)[place]) for place, label in PLACES] if role else [],
        all_pages=[{"page": p, "title": p.title.get(lang, spec.default_language),
                    "problems": view.problems_at(("pages", p.name)),
                    "seen": role is not None and role_sees(spec, role, p)} for p in spec.pages],
    )
    return render_builder(request, "builder/pages.html", context)


@builder_view
@require_POST
def menu_order(request, draft_id):
    """Reorder one menu of one role: a page one place up or down (``move``), or the whole order (``pages``)."""
    view = shown(draft_id)
    spec = view.spec
    role = spec.role(request.POST.get("role", "")) if spec else None
    if role is None:
        raise Http404("No such role.")
    place = request.POST.get("place", "main")
    parent = request.POST.get("parent") or None
    mine = [p.name for p in menu_pages(spec, place if place in ("main", "section", "user") else "main", parent, role)]
    if "move" in request.POST:
        name, _, direction = request.POST["move"].partition(":")
        if name in mine:
            i = mine.index(name)
            j = i - 1 if direction == "up" else i + 1
            if 0 <= j < len(mine):
                mine[i], mine[j] = mine[j], mine[i]
        names = mine
    else:
        names = [n for n in request.POST.get("pages", "").split(",") if n]
    order = reordered(spec, role, place, parent, names)
    back = url("pages", view.draft) + f"?role={role.name}"
    wants_json = "application/json" in request.headers.get("Accept", "")
    if order is None:
        errors = {"pages": ["The menu changed meanwhile; reload the page and try again."]}
    else:
        errors = apply_edit(request, view.draft, {"op": "order_menu", "pages": order})
    if wants_json:
        return JsonResponse({"ok": not errors, "errors": errors or {}}, status=400 if errors else 200)
    if errors:
        context = {"section": "pages", "draft": view.draft, "view": view, "spec": spec, "errors": errors,
                   "back": back}
        return render_builder(request, "builder/menu_error.html", context, status=400)
    return see_other(back, request, "Menu order saved.")
