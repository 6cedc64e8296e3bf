"""Compile a checked expression to Django ORM filters (``Q``) and expressions.

What does not read the row (``now + 1h``, ``user.id``, ``has_role('x')``) is computed once in Python and
passed as a parameter. A comparison that reads a to-many path becomes a correlated ``EXISTS`` over the
related rows, and an aggregate a correlated subquery, so a row is never repeated by a join. Each
comparison also requires its operands to be non-null, which gives SQL the two-valued logic of the
Python evaluator (``not (x > 1)`` holds for a null ``x`` in both).
"""
from __future__ import annotations

import ast
import datetime as dt
import itertools

from django.contrib.auth import get_user_model
from django.db import connection, models
from django.db.models import Case, Exists, F, Func, Max, Min, OuterRef, Q, Subquery, Sum, Value, When
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import Abs, Cast, Coalesce, Length, Lower, NullIf, Round, TruncDate, Upper
from django.db.models.lookups import Exact, GreaterThan, GreaterThanOrEqual, In, IsNull, LessThan, LessThanOrEqual

from ..spec import USER
from .run import Evaluator, Many, pk_of, truthy

_LOOKUPS = {"==": Exact, "<": LessThan, "<=": LessThanOrEqual, ">": GreaterThan, ">=": GreaterThanOrEqual}
_NUMBER = models.DecimalField(max_digits=40, decimal_places=10)
_OUTPUT = {"bool": models.BooleanField, "int": models.BigIntegerField, "string": models.TextField,
           "date": models.DateField, "datetime": models.DateTimeField, "time": models.TimeField,
           "duration": models.DurationField, "ref": models.BigIntegerField, "json": models.JSONField}
_frames = itertools.count(1000)
TRUE = Q(pk__isnull=False)
FALSE = Q(pk__in=[])
NO_ROW = {"row", "old", "frame", "agg", "profile"}


def output_field(t):
    if t.numeric:
        return _NUMBER.clone()
    return _OUTPUT.get(t.name, models.TextField)()


class Compiler:
    """Compile one expression for one query; ``row`` (plain values) binds the row in Python instead."""

    def __init__(self, expr, env, row=None):
        self.expr = expr
        self.env = env
        self.depths = {0: 0}
        self.depth = 0
        self.override = {}
        self.bound = row is not None
        self.python = Evaluator(expr, env, row)

    def model(self, entity):
        return get_user_model() if entity == USER else self.env.model(entity)

    def foldable(self, node):
        if id(node) in self.override:
            return False
        blocking = NO_ROW - {"row"} if self.bound else NO_ROW
        return not (node.c_deps & blocking) and not any(id(n) in self.override for n in ast.walk(node))

    def fold(self, node):
        value = self.python.run(node)
        return value[0] if isinstance(value, Many) and value else (None if isinstance(value, Many) else value)

    # --- conditions --------------------------------------------------------------------------------

    def q(self, node):
        """A ``Q`` that holds exactly where the condition is true (never null)."""
        if self.foldable(node):
            return TRUE if truthy(self.python.run(node)) else FALSE
        if isinstance(node, ast.BoolOp):
            parts = [self.q(v) for v in node.values]
            combined = parts[0]
            for part in parts[1:]:
                combined = combined & part if isinstance(node.op, ast.And) else combined | part
            return combined
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return ~self.q(node.operand)
        if isinstance(node, ast.Compare):
            many = self.many_path(node)
            if many is not None:
                return self.exists(node, many)
            return self.compare(node)
        if isinstance(node, ast.IfExp):
            test = self.q(node.test)
            return (test & self.q(node.body)) | (~test & self.q(node.orelse))
        value = self.value(node)
        return Q(Exact(value, True)) & Q(IsNull(value, False))

    def compare(self, node):
        op = node.c_op
        if node.c_null is not None:
            value = self.value(node.c_null)
            empty = Q(IsNull(value, True))
            if node.c_blank:  # texts store '' for "no value"
                empty |= Q(Exact(value, Value("")))
            return empty if op == "==" else ~empty
        left, right = node.left, node.comparators[0]
        if op in ("in", "not in"):
            if self.foldable(right):
                items = [pk_of(v) for v in self.fold_all(right) if v is not None]
                if not items:
                    return FALSE if op == "in" else self.not_null(left)
                lhs = self.value(left)
                found = Q(In(lhs, items))
            else:  # a to-many value on the right: handled as "any related row equals"
                lhs = self.value(left)
                found = Q(Exact(lhs, self.value(right)))
            return found if op == "in" else ~found & Q(IsNull(lhs, False))
        if (self.foldable(left) and self.fold(left) is None) or (self.foldable(right) and self.fold(right) is None):
            return FALSE
        lhs, rhs = self.value(left), self.value(right)
        guard = Q(IsNull(lhs, False)) & Q(IsNull(rhs, False))
        if op == "!=":
            return ~Q(Exact(lhs, rhs)) & guard
        return Q(_LOOKUPS[op](lhs, rhs)) & guard

    def fold_all(self, node):
        value = self.python.run(node)
        return value if isinstance(value, (list, tuple, set, frozenset)) else [value]

    def not_null(self, node):
        return Q(IsNull(self.value(node), False))

    def many_path(self, node):
        """The one node under comparison ``node`` that reads a to-many path (not yet rebased), or None."""
        for child in _walk(node):
            if getattr(child, "c_many", False) and hasattr(child, "c_path") and id(child) not in self.override:
                if child.c_path.root == "row" and self.bound and child.c_path.frame == 0:
                    continue  # the row's values are in Python already
                return child
        return None

    def exists(self, node, target):
        """``EXISTS`` over the rows of the first to-many step of ``target``'s path, the comparison rebased."""
        path = target.c_path
        at = path.many_at
        step = path.steps[at]
        rows = self.related(path, at)
        frame = next(_frames)
        rebased = type(path)("row", frame, step.entity, path.steps[at + 1:])
        self.override[id(target)] = rebased
        self.depth += 1
        self.depths[frame] = self.depth
        try:
            condition = self.q(node)
        finally:
            self.depth -= 1
            del self.override[id(target)]
        return Q(Exists(rows.filter(condition)))

    def related(self, path, at):
        """The rows of step ``at`` (a to-many step) of ``path`` that belong to the row (or the user), as seen
        from one query level below the current one."""
        step = path.steps[at]
        rows = self.model(step.entity)._default_manager.all()
        if path.root == "user":
            user = self.env.user_id
            if at == 0:
                return rows.filter(**{step.back: user}) if user is not None else rows.none()
            profile = path.steps[0]
            owners = self.model(profile.entity)._default_manager.filter(**{profile.back: user})
            middle = "__".join(s.name for s in path.steps[1:at]) or "pk"
            return rows.filter(**{f"{step.back}__in": owners.values(middle)}) if user is not None else rows.none()
        prefix = "__".join(s.name for s in path.steps[:at]) or "pk"
        if self.bound and path.frame == 0:
            value = self.python.path(type(path)(path.root, 0, path.entity, path.steps[:at]))
            return rows.filter(**{step.back: pk_of(value)}) if pk_of(value) is not None else rows.none()
        return rows.filter(**{step.back: self.ref(prefix, path.frame, self.depth + 1)})

    # --- values ------------------------------------------------------------------------------------

    def ref(self, lookup, frame, depth=None):
        """A column of ``frame``'s row as seen from query level ``depth`` (OuterRef for each level up)."""
        levels = (self.depth if depth is None else depth) - self.depths[frame]
        if levels == 0:
            return F(lookup)
        ref = lookup
        for _ in range(levels):
            ref = OuterRef(ref)
        return ref

    def value(self, node):
        """An ORM expression for the value of ``node``."""
        if self.foldable(node):
            value = self.fold(node)
            return Value(pk_of(value), output_field=output_field(node.c_type))
        path = self.override.get(id(node)) or getattr(node, "c_path", None)
        if isinstance(node, (ast.Name, ast.Attribute)) and path is not None:
            if path.root == "user":  # the user's (first) profile row, or a value read from it
                return self.first_profile(path)
            if self.bound and path.frame == 0 and path.root == "row":
                return Value(pk_of(self.python.run(node)), output_field=output_field(node.c_type))
            return self.ref(path.lookup or "pk", path.frame)
        method = getattr(self, f"value_{type(node).__name__}", None)
        return method(node)

    def first_profile(self, path):
        profile = path.steps[0]
        rows = self.model(profile.entity)._default_manager.filter(**{profile.back: self.env.user_id})
        lookup = "__".join(s.name for s in path.steps[1:]) or "pk"
        return Subquery(rows.order_by("pk").values(lookup)[:1])

    def value_BinOp(self, node):
        left, right = self.value(node.left), self.value(node.right)
        a, b = node.left.c_type, node.right.c_type
        out = output_field(node.c_type)
        if node.c_type.name in ("date", "datetime"):
            if "int" in (a.name, b.name):  # whole days: only a constant number of days reaches SQL
                days = node.right if b.name == "int" else node.left
                if not self.foldable(days):
                    raise ValueError("a date plus a number of days read from a row cannot be computed in SQL")
                count = self.fold(days)
                delta = Value(dt.timedelta(days=count or 0), output_field=models.DurationField())
                left, right = (left, delta) if b.name == "int" else (delta, right)
                if count is None:
                    return Value(None, output_field=out)
            combined = _combine(node.op, left, right, models.DateTimeField())
            return Cast(combined, out) if node.c_type.name == "date" else combined
        if a.numeric and b.numeric:
            if isinstance(node.op, ast.Div):
                # SQLite casts a decimal result to NUMERIC, which makes 6.0 the integer 6: divide reals there
                left = (_combine(ast.Mult(), left, Value(1.0), models.FloatField()) if connection.vendor == "sqlite"
                        else Cast(left, _NUMBER.clone()))
                right = NullIf(right, Value(0))
            elif isinstance(node.op, ast.Mod):
                right = NullIf(right, Value(0))
            elif a.name == b.name == "int":  # numeric: a bigint would overflow on PostgreSQL
                left = Cast(left, _NUMBER.clone())
        return _combine(node.op, left, right, out)

    def value_UnaryOp(self, node):
        if isinstance(node.op, ast.Not):
            return self.condition_value(node)
        return _combine(ast.Mult(), self.value(node.operand), Value(-1), output_field(node.c_type))

    def condition_value(self, node):
        return Case(When(self.q(node), then=Value(True)), default=Value(False), output_field=models.BooleanField())

    value_Compare = value_BoolOp = condition_value

    def value_IfExp(self, node):
        return Case(When(self.q(node.test), then=self.value(node.body)), default=self.value(node.orelse),
                    output_field=output_field(node.c_type))

    def value_Call(self, node):
        fn = node.c_fn
        if fn in ("count", "sum", "min", "max", "first"):
            return self.aggregate(node.c_agg, node.c_type)
        args = [self.value(a) for a in node.args]
        out = output_field(node.c_type)
        if fn == "len":
            return Length(args[0])
        if fn == "lower":
            return Lower(args[0])
        if fn == "upper":
            return Upper(args[0])
        if fn == "abs":
            return Abs(args[0], output_field=out)
        if fn == "round":
            places = node.args[1].c_value if len(node.args) == 2 else 0
            return Round(args[0], places, output_field=out)
        if fn == "coalesce":
            return Coalesce(*args, output_field=out)
        if fn == "date":
            return TruncDate(args[0], tzinfo=self.env.tz)
        raise ValueError(f"{fn}() depends only on the user and is computed in Python")

    def aggregate(self, agg, t):
        """A correlated subquery: the aggregate of the related rows that meet the condition."""
        rows = self.aggregate_rows(agg)
        out = output_field(t)
        if agg.kind == "first":
            ordering = [_order(name) for name in self.env.ordering(agg.entity)] + ["pk"]
            return Subquery(rows.order_by(*ordering).values("pk")[:1], output_field=out)
        column = F(agg.field.name if agg.field.name != "id" else "pk") if agg.field else F("pk")
        function = {"count": "COUNT", "sum": "SUM", "min": "MIN", "max": "MAX"}[agg.kind]
        total = Subquery(rows.order_by().annotate(_v=Func(column, function=function, output_field=out))
                         .values("_v")[:1], output_field=out)
        if agg.kind in ("count", "sum"):
            return Coalesce(total, Value(0), output_field=out)
        return total

    def aggregate_now(self, agg):
        """The value of ``agg`` computed in the database now (the row bound in Python)."""
        rows = self.aggregate_rows(agg)
        if agg.kind == "count":
            return rows.count()
        if agg.kind == "first":
            ordering = [_order(name) for name in self.env.ordering(agg.entity)] + ["pk"]
            return rows.order_by(*ordering).values_list("pk", flat=True).first()
        column = agg.field.name if agg.field.name != "id" else "pk"
        function = {"sum": Sum, "min": Min, "max": Max}[agg.kind]
        value = rows.aggregate(_v=function(column))["_v"]
        return (value or 0) if agg.kind == "sum" else value

    def aggregate_rows(self, agg):
        """The related rows of ``agg`` that meet its condition, one query level below the current one."""
        path = agg.path
        rows = self.related(path, len(path.steps) - 1)
        if agg.cond is None:
            return rows
        self.depth += 1
        self.depths[agg.frame] = self.depth
        try:
            return rows.filter(self.q(agg.cond))
        finally:
            self.depth -= 1


def _walk(node):
    """The nodes under ``node``, not entering aggregates (their paths are the aggregate's own business)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if not hasattr(current, "c_agg"):
            stack.extend(ast.iter_child_nodes(current))


def _order(name):
    column = F(name.lstrip("-"))
    return column.desc(nulls_last=True) if name.startswith("-") else column.asc(nulls_last=True)


def _combine(op, left, right, out):
    connector = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Mod: "%%"}[type(op)]
    return CombinedExpression(left, connector, right, output_field=out)
