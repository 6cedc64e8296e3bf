"""Evaluate a checked expression on plain values with simpleeval's evaluator and its bounds.

The row is a dict (nested dicts for refs that are followed, lists of dicts for to-many relations, keyed by
the ORM names the expression's ``paths`` list). Null semantics follow SQL as the compiled filter does:
a comparison with a null operand is false (``== null`` and ``!= null`` test for null), arithmetic with
null is null, and a comparison with a to-many path holds when it holds for any related row.
"""
from __future__ import annotations

import ast
import datetime as dt
import operator
from decimal import ROUND_HALF_UP, Decimal, DivisionByZero, InvalidOperation

from django.utils import timezone
from simpleeval import MAX_STRING_LENGTH, IterableTooLong, SimpleEval, safe_add

_COMPARE = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
            ">=": operator.ge}


class Many(list):
    """The values of a to-many path (or of the user's profile rows): comparisons hold for any of them."""


def pk_of(value):
    """A ref's id, whether given as a nested dict, a model instance or the id itself."""
    if isinstance(value, dict):
        return value.get("id")
    return getattr(value, "pk", value)


def truthy(value):
    return value is True


class Evaluator(SimpleEval):
    """simpleeval's node walker and limits, with the language's names, paths, null rules and functions."""

    def __init__(self, expr, env, row, old=None):
        super().__init__(operators={}, functions={}, names={})
        self.nodes[ast.List] = self.nodes[ast.Tuple] = self._eval_literal
        self.expr = expr.text
        self.checked = expr
        self.env = env
        self.frames = [row]
        self.old = old

    def run(self, node):
        return self._eval(node)

    # --- leaves ------------------------------------------------------------------------------------

    def _eval_constant(self, node):
        return node.c_value

    _eval_literal = _eval_constant

    def _eval_name(self, node):
        if hasattr(node, "c_value"):
            return node.c_value
        if node.id == "now":
            return self.env.now
        if node.id == "today":
            return self.env.today
        return self.path(node.c_path)

    def _eval_attribute(self, node):
        if node.c_type.name == "roles":
            return frozenset(self.env.roles)
        return self.path(node.c_path)

    def path(self, path):
        if path.root == "user":
            return self.env.user_value(path) if path.steps else self.env.user_id
        value = self.old if path.root == "old" else self.frames[path.frame]
        for step in path.steps:
            value = _step(value, step, path)
        return value

    # --- operators ---------------------------------------------------------------------------------

    def _eval_boolop(self, node):
        if isinstance(node.op, ast.And):
            return all(truthy(self._eval(v)) for v in node.values)
        return any(truthy(self._eval(v)) for v in node.values)

    def _eval_unaryop(self, node):
        value = self._eval(node.operand)
        if isinstance(node.op, ast.Not):
            return not truthy(value)
        return _map(value, lambda v: None if v is None else -v)

    def _eval_binop(self, node):
        left, right = self._eval(node.left), self._eval(node.right)
        symbol = type(node.op)
        kinds = (node.left.c_type.name, node.right.c_type.name)
        if isinstance(left, Many):
            return Many(_arith(symbol, x, right, kinds) for x in left)
        if isinstance(right, Many):
            return Many(_arith(symbol, left, x, kinds) for x in right)
        return _arith(symbol, left, right, kinds)

    def _eval_compare(self, node):
        op = node.c_op
        if node.c_null is not None:
            value = self._eval(node.c_null)
            values = value if isinstance(value, Many) else [value]
            return any((pk_of(v) is None or node.c_blank and v == "") == (op == "==") for v in values)
        left, right = self._eval(node.left), self._eval(node.comparators[0])
        if op in ("in", "not in"):
            values = left if isinstance(left, Many) else [left]
            return any(_within(op, v, right) for v in values)
        if isinstance(left, Many):
            return any(_compare(op, x, right) for x in left)
        if isinstance(right, Many):
            return any(_compare(op, left, x) for x in right)
        return _compare(op, left, right)

    def _eval_ifexp(self, node):
        return self._eval(node.body) if truthy(self._eval(node.test)) else self._eval(node.orelse)

    # --- functions ---------------------------------------------------------------------------------

    def _eval_call(self, node):
        if node.c_fn in ("count", "sum", "min", "max", "first"):
            return self.aggregate(node.c_agg)
        args = [self._eval(a) for a in node.args]
        return getattr(self, f"fn_{node.c_fn}")(*args)

    @staticmethod
    def fn_len(text):
        return None if text is None else len(text)

    @staticmethod
    def fn_lower(text):
        return None if text is None else text.lower()

    @staticmethod
    def fn_upper(text):
        return None if text is None else text.upper()

    @staticmethod
    def fn_abs(number):
        return None if number is None else abs(number)

    @staticmethod
    def fn_round(number, places=None):
        if number is None:
            return None
        exponent = Decimal(1).scaleb(-(places or 0))
        rounded = Decimal(number).quantize(exponent, rounding=ROUND_HALF_UP)
        return int(rounded) if places is None else rounded

    @staticmethod
    def fn_coalesce(*values):
        return next((v for v in values if v is not None), None)

    def fn_date(self, moment):
        return None if moment is None else timezone.localtime(moment, self.env.tz).date()

    def fn_has_role(self, name):
        return name in self.env.roles

    def aggregate(self, agg):
        if agg.path.root == "user":
            return self.env.aggregate(agg, self)
        rows = self.path(agg.path)
        if rows is None:
            rows = Many()
        chosen = []
        for related in rows:
            if agg.cond is not None:
                self.frames.append(related)
                try:
                    if not truthy(self._eval(agg.cond)):
                        continue
                finally:
                    self.frames.pop()
            chosen.append(related)
        if agg.kind == "count":
            return len(chosen)
        if agg.kind == "first":
            ordered = _ordered(chosen, self.env.ordering(agg.entity))
            return pk_of(ordered[0]) if ordered else None
        values = [v for v in (_step(r, agg.field, agg.path) for r in chosen) if v is not None]
        if agg.kind == "sum":
            return sum(values, 0)
        if not values:
            return None
        return min(values) if agg.kind == "min" else max(values)


def _step(value, step, path):
    if value is None:
        return None
    if isinstance(value, Many):
        found = Many()
        for item in value:
            got = _step(item, step, path)
            found.extend(got if isinstance(got, Many) else [got])
        return found
    if step.name == "id":
        return pk_of(value)
    if not isinstance(value, dict):
        raise LookupError(f"'{path.dotted}': the values given hold an id where the fields of a row are needed")
    if step.name not in value:
        raise LookupError(f"'{path.dotted}': the values given have no '{step.name}'")
    got = value[step.name]
    if step.many:
        return Many(got or ())
    return got


def _within(op, value, items):
    """``value in items`` (or ``not in``); false when either is null."""
    if pk_of(value) is None or items is None:
        return False
    found = pk_of(value) in {pk_of(v) for v in items}
    return found if op == "in" else not found


def _map(value, fn):
    return Many(fn(v) for v in value) if isinstance(value, Many) else fn(value)


def _compare(op, a, b):
    a, b = pk_of(a), pk_of(b)
    if a is None or b is None:
        return False
    return _COMPARE[op](a, b)


def _arith(symbol, a, b, kinds):
    if a is None or b is None:
        return None
    if symbol is ast.Add and isinstance(a, str):
        try:
            return safe_add(a, b)
        except IterableTooLong:
            raise OverflowError(f"a text longer than {MAX_STRING_LENGTH} characters") from None
    if "date" in kinds and "int" in kinds:  # a date plus or minus whole days
        a, b = (a, dt.timedelta(days=b)) if kinds[0] == "date" else (dt.timedelta(days=a), b)
    if symbol is ast.Add:
        return a + b
    if symbol is ast.Sub:
        return a - b
    if symbol is ast.Mult:
        return a * b
    try:
        if symbol is ast.Div:
            return Decimal(a) / Decimal(b) if b else None
        return int(Decimal(a) % Decimal(b)) if b else None  # the sign of the dividend, as SQL
    except (InvalidOperation, DivisionByZero):
        return None


def _ordered(rows, ordering):
    """``rows`` in the entity's ordering, nulls last, then by id (as the SQL of first())."""
    rows = sorted(rows, key=lambda r: pk_of(r) or 0)
    for name in reversed(ordering):
        field = name.lstrip("-")
        present = [r for r in rows if r.get(field) is not None]
        absent = [r for r in rows if r.get(field) is None]
        present.sort(key=lambda r, f=field: r[f], reverse=name.startswith("-"))
        rows = present + absent
    return rows
