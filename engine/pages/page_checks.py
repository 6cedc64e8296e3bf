"""Check-time problems of list, detail, calendar and record pages: paths, filters, ``where`` and exports.

Plain field names of a page are checked by ``engine.checks`` (``E202``); the paths, the kinds of filters,
the calendar's date along a path, related lists ``via`` a path, the fixed ``where`` condition, exports
and record pages are checked here, each problem located at its YAML key.
"""
from __future__ import annotations

from ..expr.checks import expression_problems
from ..fieldtypes import FieldType
from ..loader import path_text
from ..spec import USER
from .filters import FILTERABLE
from .paths import PathError, check_path, resolve

DATES = (FieldType.DATE, FieldType.DATETIME)
LIST_ONLY = ("where", "export")


def page_names(page):
    """(field name or path, YAML sub-path) of the page's columns, filters, form fields and section fields."""
    for part in ("columns", "filters", "fields"):
        for i, name in enumerate(getattr(page, part)):
            yield name, (part, i)
    for i, section in enumerate(page.sections):
        for j, name in enumerate(section.fields):
            yield name, ("sections", i, "fields", j)


def record_link(entity):
    """The field linking a row of ``entity`` to its user: the owner field, else a unique ref to the user."""
    if entity.owner:
        return entity.owner
    return next((f.name for f in entity.fields if f.type is FieldType.REF and f.to == USER and f.unique), None)


def check_page_lists(checker, page, entity, path):
    """Add the problems of ``page``'s paths, filters, date field, related lists, ``where`` and exports."""
    spec = checker.spec
    roles = [spec.role(r) for r in page.roles or () if spec.role(r) is not None]
    if page.kind == "record" and not page.entity:
        checker.add("E102", f"'{path_text(path)}' is a record page and needs 'entity'", path)
    for key in LIST_ONLY:
        if getattr(page, key) and page.kind != "list":
            checker.add("E904", f"'{path_text((*path, key))}' is for list pages; this is a {page.kind} page",
                        (*path, key), f"remove '{key}', or make the page 'kind: list'", key=True)
    if entity is not None:
        check_entity_page(checker, page, entity, path, roles)
    for i, rel in enumerate(page.related):
        check_related(checker, entity, rel, (*path, "related", i), roles)


def check_entity_page(checker, page, entity, path, roles):
    for name, where in page_names(page):
        if "." in name and where[0] != "fields":
            check_path(checker, entity.name, name, (*path, *where), roles, "field" if where[0] == "sections"
                       else where[0][:-1])
    for i, name in enumerate(page.filters):
        found = _quiet(checker, entity.name, name)
        if found is not None and found.field.type not in FILTERABLE:
            checker.add("E903", f"'{path_text((*path, 'filters', i))}': '{name}' is a {found.field.type.value} "
                        "field; a list filters on choices, yes/no, refs, numbers and dates",
                        (*path, "filters", i), "search covers text fields: list them in the entity's 'search'")
        elif found is not None and found.field.type is FieldType.REF and found.field.to == USER:
            checker.add("E903", f"'{path_text((*path, 'filters', i))}': '{name}' is a ref to the user; accounts "
                        "are not offered in filters", (*path, "filters", i), "filter on the profile entity's ref")
    if page.date_field:
        dpath = (*path, "date_field")
        found = check_path(checker, entity.name, page.date_field, dpath, roles, "date field")
        if found and found.field.type not in DATES:
            checker.add("E216", f"'{page.date_field}' is a {found.field.type.value} field, not a date", dpath)
        elif found and not found.field.stored and found.hops:
            checker.add("E902", f"'{path_text(dpath)}': '{page.date_field}' is computed; a calendar along a "
                        "path needs a stored date", dpath)
    if page.where:
        checker.problems += expression_problems(checker.doc, (*path, "where"), page.where, spec=checker.spec,
                                                entity=entity.name)
    if page.kind == "record" and record_link(entity) is None:
        checker.add("E905", f"'{path_text((*path, 'entity'))}': entity '{entity.name}' has no owner field and no "
                    "unique ref to the user, so a user has no row of their own", (*path, "entity"),
                    "set the entity's 'owner', or use a list page")


def check_related(checker, entity, rel, rpath, roles):
    if not checker.known("E201", "entity", rel.entity, checker.entities, (*rpath, "entity")):
        return
    via = check_path(checker, rel.entity, rel.via, (*rpath, "via"), roles if "." in rel.via else (), "via")
    if via and entity and (via.field.type is not FieldType.REF or via.field.to != entity.name):
        checker.add("E207", f"'{rel.entity}.{rel.via}' does not refer to '{entity.name}'", (*rpath, "via"))
    for j, name in enumerate(rel.columns):
        check_path(checker, rel.entity, name, (*rpath, "columns", j), roles if "." in name else (), "column")


def _quiet(checker, entity, name):
    """The resolved path ``name`` (already reported when it does not resolve), or None."""
    try:
        return resolve(checker.spec, entity, name)
    except PathError:
        return None
