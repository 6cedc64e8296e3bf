"""Checks of the form page keys: ``submit`` and ``lines`` belong to form pages, and each ``lines`` entry names
child rows that refer to the page's entity through ``via`` with fields a person can type.

Called from ``engine.checks.Checker.run`` as ``check_form_pages(self)``.
"""
from __future__ import annotations

from ..fieldtypes import FieldType
from ..loader import path_text

FORM_ONLY = ("submit", "lines")


def check_form_pages(checker):
    """Report the problems of ``submit`` and ``lines`` on every page of ``checker.spec``."""
    raw_pages = (checker.doc.data or {}).get("pages") or {}
    for page in checker.spec.pages:
        raw = raw_pages.get(page.name) or {}
        path = ("pages", page.name)
        if page.kind != "form":
            for key in FORM_ONLY:
                if key in raw:
                    checker.add("E960", f"'{path_text((*path, key))}' is only for form pages, and '{page.name}' "
                                f"is a {page.kind} page", (*path, key), "remove the key, or make the page 'kind: form'",
                                key=True)
            continue
        seen = {}
        for i, line in enumerate(page.lines):
            lpath = (*path, "lines", i)
            _check_line(checker, page, line, lpath)
            key = (line.entity, line.via)
            if key in seen:
                checker.add("E964", f"'{path_text(lpath)}' repeats the child rows of 'lines[{seen[key]}]' "
                            f"({line.entity} via {line.via})", lpath, "list each kind of child row once")
            seen.setdefault(key, i)


def _check_line(checker, page, line, lpath):
    if line.min > line.max:
        checker.add("E963", f"'{path_text((*lpath, 'min'))}' is {line.min}, more than 'max' ({line.max})",
                    (*lpath, "min"), "make 'min' at most 'max'")
    if not checker.known("E201", "entity", line.entity, checker.entities, (*lpath, "entity")):
        return
    child = checker.entities[line.entity]
    via = checker.field_of(child, line.via, (*lpath, "via"))
    if via is not None and (via.type is not FieldType.REF or via.to != page.entity):
        checker.add("E961", f"'{path_text((*lpath, 'via'))}': '{line.entity}.{line.via}' is not a ref to "
                    f"'{page.entity}', the page's entity", (*lpath, "via"),
                    f"name the field of '{line.entity}' that refers to '{page.entity}'")
    states = {wf.field for wf in checker.spec.workflows if wf.entity == line.entity}
    for j, name in enumerate(line.fields):
        f = checker.field_of(child, name, (*lpath, "fields", j))
        if f is None:
            continue
        reason = (f"it is 'via', set to the {page.entity} itself" if name == line.via
                  else "it is computed" if not f.stored
                  else "it is numbered by the engine" if f.sequence is not None
                  else "a workflow's transitions set it" if name in states
                  else "many refs are not edited in child rows" if f.type is FieldType.REFS else None)
        if reason:
            checker.add("E962", f"'{path_text((*lpath, 'fields', j))}': '{name}' cannot be typed in a child row: "
                        f"{reason}", (*lpath, "fields", j), "leave it out of 'fields'")
