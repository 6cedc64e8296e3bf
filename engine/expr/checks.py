"""Check-time use of expressions: a problem is located at the offending token inside the YAML scalar."""
from __future__ import annotations

from ..errors import Problem
from ..fieldtypes import FieldType
from ..loader import path_text
from ..spec import ACTIONS, USER
from .core import compile_expr
from .locate import located
from .parse import ExprError
from .scopes import is_expression, mapping_text
from .types import field_type


def expression_problems(doc, path, text, **compile_kwargs):
    """Compile ``text`` (the value at YAML ``path``); return [] or the located problem."""
    try:
        compile_expr(text, **compile_kwargs)
    except ExprError as exc:
        return [problem_of(doc, path, exc)]
    return []


def problem_of(doc, path, exc):
    """The ``Problem`` for ``exc`` raised by the expression at YAML ``path``."""
    loc = doc.loc(path)
    where = located(loc, doc.sources.get(loc.file, ""), exc.offset)
    return Problem(exc.code, f"'{path_text(path)}': {exc.message}", where, exc.hint)


def policy_problems(spec, doc, earlier=()):
    """Located problems of the expressions in role scopes, ``when`` and ``set`` values, dashboard card filters
    and ``limit_choices``. A mapping the older checks in ``earlier`` already reported on is not reported twice."""
    reported = [p.loc.path for p in earlier]

    def seen(path):
        prefix = path_text(path)
        return any(r == prefix or r.startswith((prefix + ".", prefix + "[")) for r in reported)

    problems = []
    for role in spec.roles:
        for grant in role.grants:
            if spec.entity(grant.entity) is not None:
                problems += _grant_problems(spec, doc, role, grant, seen)
    for page in spec.pages:
        for i, card in enumerate(page.cards):
            if card.filter and spec.entity(card.entity or "") is not None:
                problems += _condition_problems(spec, doc, ("pages", page.name, "cards", i, "filter"), card.filter,
                                                card.entity, seen)
    for entity in spec.entities:
        for f in entity.fields:
            if f.limit_choices and f.type in (FieldType.REF, FieldType.REFS):
                problems += _limit_problems(spec, doc, entity, f)
    return problems


def _grant_problems(spec, doc, role, grant, seen):
    entity = spec.entity(grant.entity)
    gpath = ("roles", role.name, "entities", grant.entity)
    problems = []
    if grant.scope not in ("all", "own"):
        problems += _condition_problems(spec, doc, (*gpath, "scope"), grant.scope, entity.name, seen)
    transitions = {t.name for wf in spec.workflows if wf.entity == entity.name for t in wf.transitions}
    actions = set(ACTIONS) | transitions if "all" in grant.actions else set(grant.actions)
    for action, text in grant.when:
        path = (*gpath, "when", action)
        if action in ("list", "view", "create") or action not in actions:
            problems.append(Problem(
                "E308", f"'{path_text(path)}': role '{role.name}' " + (
                    f"cannot make '{action}' depend on the row's state" if action in ("list", "view", "create")
                    else f"has no action '{action}' on '{entity.name}'"),
                doc.loc(path, key=True), "name update, delete or a transition of the role's actions "
                f"({', '.join(sorted(actions - {'list', 'view', 'create'})) or 'none'}); narrow what a role "
                "sees with its scope"))
            continue
        problems += expression_problems(doc, path, text, spec=spec, entity=entity.name)
    for name, value in grant.forced:
        f = entity.field(name)
        path = (*gpath, "set", name)
        if f is not None and is_expression(f, value) and not seen(path):
            problems += expression_problems(doc, path, value, spec=spec, entity=None, kind="value", allow_row=False,
                                            expect=field_type(f))
    return problems


def _condition_problems(spec, doc, path, condition, entity, seen):
    """A condition written as an expression, or as a ``{path: value}`` mapping checked pair by pair."""
    if isinstance(condition, str):
        return expression_problems(doc, path, condition, spec=spec, entity=entity)
    problems = []
    for key, value in condition:
        where = (*path, key)
        if seen(where):
            continue
        try:
            compile_expr(mapping_text([(key, value)], spec, entity), spec=spec, entity=entity)
        except ExprError as exc:
            problems.append(Problem(exc.code, f"'{path_text(where)}': {exc.message}", doc.loc(where, key=True),
                                    exc.hint))
    return problems


def _limit_problems(spec, doc, entity, f):
    path = ("entities", entity.name, "fields", f.name, "limit_choices")
    if f.to == USER:
        return [Problem("E305", f"'{path_text(path)}': limit_choices is for refs to entities; the accounts a user "
                        "ref offers follow the reader's reach", doc.loc(path, key=True),
                        "remove limit_choices, or point the ref at a profile entity")]
    if spec.entity(f.to) is None:
        return []
    return expression_problems(doc, path, f.limit_choices, spec=spec, entity=f.to)
