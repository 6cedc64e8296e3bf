"""Check-time use of expressions: a problem is located at the offending token inside the YAML scalar."""
from __future__ import annotations

from ..errors import Problem
from ..loader import path_text
from .core import compile_expr
from .locate import located
from .parse import ExprError


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
