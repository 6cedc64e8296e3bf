"""Checks of what staff work with on pages: row actions, work queues, card lists, charts and icons.

Every key these features read either takes effect or is refused here with a located ``cabinet.E92x/E93x``.
"""
from __future__ import annotations

from ..fieldtypes import FieldType
from ..icons import known as known_icon
from ..icons import names as icon_names
from ..loader import path_text
from ..spec import USER
from ..validate import suggest

TARGET_KINDS = ("form", "detail", "list")
GROUPS = (FieldType.CHOICE, FieldType.REF, FieldType.BOOLEAN)
DATES = (FieldType.DATE, FieldType.DATETIME)
NUMBERS = (FieldType.INTEGER, FieldType.DECIMAL, FieldType.MONEY)
CHART_KEYS = ("group_by", "period", "sum")


def check_work(checker):
    """Add the problems of every page's icons, actions, queue keys, card layout and chart cards."""
    for page in checker.spec.pages:
        path = ("pages", page.name)
        check_icon(checker, page.icon, (*path, "icon"))
        entity = checker.entities.get(page.entity) if page.entity else None
        check_queue(checker, page, entity, path)
        for i, action in enumerate(page.actions):
            check_action(checker, page, entity, action, (*path, "actions", i))
        check_cards_display(checker, page, entity, path)
        for i, card in enumerate(page.cards):
            check_icon(checker, card.icon, (*path, "cards", i, "icon"))
            check_chart(checker, card, (*path, "cards", i))


def check_icon(checker, name, path):
    if name and not known_icon(name):
        checker.add("E920", f"'{path_text(path)}' is '{name}', which is not an icon of the icon set"
                    f"{suggest(name, icon_names())}", path,
                    "use a Lucide icon name (https://lucide.dev/icons), such as 'house', 'calendar' or 'shopping-cart'")


def transitions(checker, entity):
    return checker.transitions.get(entity.name, set()) if entity else set()


def check_queue(checker, page, entity, path):
    """``transitions``, ``bulk`` and ``states`` belong to list pages of an entity with a workflow."""
    for key in ("transitions", "bulk", "states", "actions"):
        if getattr(page, key) and page.kind not in (("list", "detail") if key == "actions" else ("list",)):
            where = "list and detail pages" if key == "actions" else "list pages"
            checker.add("E921", f"'{path_text((*path, key))}': '{key}' is for {where}, not a {page.kind} page",
                        (*path, key), f"remove '{key}' or move it to a list page", key=True)
            return
    if entity is None:
        return
    known = transitions(checker, entity)
    for key in ("transitions", "bulk"):
        for i, name in enumerate(getattr(page, key) or ()):
            checker.known("E925", "transition", name, known, (*path, key, i))
    fields = {t.name: t.fields for wf in checker.spec.workflows if wf.entity == entity.name for t in wf.transitions}
    for i, name in enumerate(page.bulk):
        if fields.get(name):
            checker.add("E931", f"'{path_text((*path, 'bulk', i))}' is '{name}', which asks for "
                        f"{', '.join(fields[name])}; a bulk submit has no form to fill them", (*path, "bulk", i),
                        "leave it to the row buttons (they open its form)")
    if page.states and not any(wf.entity == entity.name for wf in checker.spec.workflows):
        checker.add("E926", f"'{path_text((*path, 'states'))}': entity '{entity.name}' has no workflow, so it "
                    "has no states to show as tabs", (*path, "states"), "remove 'states' or add a workflow", key=True)


def check_action(checker, page, entity, action, path):
    if action.icon:
        check_icon(checker, action.icon, (*path, "icon"))
    if entity is None:
        return
    if action.transition:
        checker.known("E925", "transition", action.transition, transitions(checker, entity), (*path, "transition"))
        for key in ("prefill", "row"):
            if getattr(action, key):
                checker.add("E922", f"'{path_text((*path, key))}' is for actions that open a page, not a transition",
                            (*path, key), f"remove '{key}'", key=True)
        return
    if not checker.known("E204", "page", action.page, checker.pages, (*path, "page")):
        return
    target = checker.spec.page(action.page)
    if target.kind not in TARGET_KINDS or not target.entity or target.entity not in checker.entities:
        checker.add("E922", f"'{path_text((*path, 'page'))}' is '{target.name}', a {target.kind} page; an action "
                    "opens a form, detail or list page of an entity", (*path, "page"))
        return
    other = checker.entities[target.entity]
    if target.kind == "detail":
        check_row_link(checker, entity, action, target, path)
    elif action.row:
        checker.add("E922", f"'{path_text((*path, 'row'))}' is for actions that open a detail page", (*path, "row"),
                    "remove 'row'", key=True)
    for field, value in action.prefill:
        fpath = (*path, "prefill", field)
        if target.kind == "detail":
            checker.add("E922", f"'{path_text(fpath)}': a detail page takes no prefill", fpath, "remove 'prefill'",
                        key=True)
            return
        accepted = accepted_keys(checker, target, other)
        if field not in accepted:
            what = "fields of the form" if target.kind == "form" else "filters of the list"
            checker.add("E923", f"'{path_text(fpath)}': '{target.name}' does not take '{field}'"
                        f"{suggest(field, accepted)}", fpath, f"the {what}: {', '.join(sorted(accepted)) or 'none'}",
                        key=True)
        if value != "id":
            checker.walk(entity, value, fpath)


def accepted_keys(checker, target, entity):
    """The fields a form page fills (every field when it lists none), or a list page's filters and state tabs."""
    if target.kind == "form":
        return set(target.fields or entity.field_names)
    keys = set(target.filters)
    if target.states:
        keys |= {wf.field for wf in checker.spec.workflows if wf.entity == entity.name}
    return keys


def check_row_link(checker, entity, action, target, path):
    """A detail page of another entity is reached through a ref of the row: ``row``, or the only such ref."""
    if action.row:
        f = checker.walk(entity, action.row, (*path, "row"))
        if f is not None and (f.type is not FieldType.REF or f.to != target.entity):
            checker.add("E924", f"'{path_text((*path, 'row'))}' is '{action.row}', which does not lead to a "
                        f"{target.entity}", (*path, "row"), f"name a ref (path) to '{target.entity}'")
        return
    if target.entity == entity.name:
        return
    refs = [f.name for f in entity.fields if f.type is FieldType.REF and f.to == target.entity and f.to != USER]
    if len(refs) != 1:
        checker.add("E924", f"'{path_text((*path, 'page'))}': which {target.entity} of the {entity.name} does "
                    f"'{target.name}' show? {'Several refs lead there' if refs else 'No ref leads there'}",
                    (*path, "page"), f"add 'row: <ref>'{' (one of ' + ', '.join(refs) + ')' if refs else ''}")


def check_cards_display(checker, page, entity, path):
    if page.display == "cards" and page.kind != "list":
        checker.add("E927", f"'{path_text((*path, 'display'))}': only list pages show cards", (*path, "display"),
                    "remove 'display'", key=True)
    if page.card is None:
        if page.display == "cards":
            checker.add("E927", f"'{path_text(path)}' shows cards but has no 'card'", path,
                        "add 'card: {title: <field>, ...}' naming the fields each card shows", key=True)
        return
    if page.display != "cards":
        checker.add("E927", f"'{path_text((*path, 'card'))}' is read only with 'display: cards'", (*path, "card"),
                    "add 'display: cards' or remove 'card'", key=True)
    if entity is None:
        return
    for key in ("image", "title", "price", "badge", "description"):
        name = getattr(page.card, key)
        if name:
            f = checker.field_of(entity, name, (*path, "card", key))
            want = {"image": (FieldType.IMAGE,), "price": NUMBERS}.get(key)
            if f and want and f.type not in want:
                checker.add("E216", f"'{path_text((*path, 'card', key))}' is '{name}', a {f.type.value} field",
                            (*path, "card", key), f"name {'an image' if key == 'image' else 'a number'} field")
    if page.card.action is not None and card_action(page) is None:
        names = [a.page or a.transition for a in page.actions]
        checker.add("E928", f"'{path_text((*path, 'card', 'action'))}' is {page.card.action!r}, which is not an "
                    "entry of the page's 'actions'", (*path, "card", "action"),
                    f"name one of: {', '.join(names) or 'none (add actions first)'}, or give its index")


def card_action(page):
    """The ``actions`` entry a card list's ``card.action`` names (its page or transition, or its index)."""
    wanted = page.card.action if page.card else None
    if isinstance(wanted, int):
        return page.actions[wanted] if wanted < len(page.actions) else None
    return next((a for a in page.actions if wanted in (a.page, a.transition)), None)


def check_chart(checker, card, path):
    if card.kind != "chart":
        for key in (*CHART_KEYS, "chart"):
            if getattr(card, key) not in (None, "bar"):
                checker.add("E930", f"'{path_text((*path, key))}' is for chart cards, not a {card.kind} card",
                            (*path, key), f"remove '{key}' or make it 'kind: chart'", key=True)
        return
    if not card.entity or not card.group_by:
        checker.add("E929", f"'{path_text(path)}' is a chart card and needs 'entity' and 'group_by'", path,
                    "e.g. 'entity: service_order, group_by: status' or 'group_by: ordered_at, period: day'")
        return
    entity = checker.entities.get(card.entity)
    if entity is None:
        return
    f = checker.field_of(entity, card.group_by, (*path, "group_by"))
    if f and f.type in DATES and not card.period:
        checker.add("E929", f"'{path_text((*path, 'group_by'))}' is a date; a chart groups dates by a 'period'",
                    (*path, "group_by"), "add 'period: day', 'week' or 'month'")
    elif f and f.type not in DATES and card.period:
        checker.add("E929", f"'{path_text((*path, 'period'))}': '{card.group_by}' is not a date field",
                    (*path, "period"), "remove 'period', or group by a date or datetime field", key=True)
    elif f and f.type not in (*GROUPS, *DATES):
        checker.add("E929", f"'{path_text((*path, 'group_by'))}' is '{card.group_by}', a {f.type.value} field",
                    (*path, "group_by"), "group by a choice, ref or boolean field, or a date field with a period")
    if card.sum:
        s = checker.field_of(entity, card.sum, (*path, "sum"))
        if s and (s.type not in NUMBERS or not s.stored):
            checker.add("E929", f"'{path_text((*path, 'sum'))}' is '{card.sum}', which is not a stored number field",
                        (*path, "sum"), "sum an integer, decimal or money field, or count the rows")
