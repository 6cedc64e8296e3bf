"""Type-check a parsed expression against the solution spec and annotate its nodes.

Every node gets ``c_type`` (a ``Type``), ``c_many`` (the value is a set: a to-many path or the user's
profile rows) and ``c_deps`` (what it reads: row, old, user, now, profile, agg, frame). Paths get
``c_path``, literals ``c_value``, calls ``c_fn`` (and ``c_agg`` for aggregates). The first problem
raises ``ExprError`` at the offending token.
"""
from __future__ import annotations

import ast
import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal

from ..fieldtypes import FieldType
from ..spec import USER
from ..validate import suggest
from . import types as T
from .parse import MAX_DIGITS, MAX_TEXT, UNITS, ExprError

NAMES = ("row", "old", "user", "now", "today")
CONSTANTS = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}
AGGREGATES = ("count", "sum", "min", "max", "first")
FUNCTIONS = AGGREGATES + ("len", "lower", "upper", "abs", "round", "coalesce", "date", "has_role")
MAX_LIST = 100
MAX_INT = 2**63 - 1
_NUMBER = re.compile(r"\d+(\.\d*)?([eE][+-]?\d+)?")
_OPS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
        ast.In: "in", ast.NotIn: "not in"}
_ARITH = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Mod: "%"}


@dataclass(frozen=True)
class Step:
    """One step of a path: a column, a ref (to one row) or a to-many relation."""

    name: str  # the ORM name: a field, 'id', or a reverse name such as 'booking_by_excursion'
    entity: str | None  # the entity it leads to (None for a column)
    many: bool = False
    back: str | None = None  # many steps: the name on the target's model that leads back (its filter key)
    field: object = None  # the FieldSpec of a column or ref


@dataclass(frozen=True)
class Path:
    """A path read by an expression: from the row of ``frame`` (0 = the row, k = the related row of the k-th
    enclosing aggregate), from ``old`` or from the user."""

    root: str  # 'row', 'old' or 'user'
    frame: int
    entity: str  # the entity the path starts from ('user' for the user)
    steps: tuple

    @property
    def dotted(self):
        return ".".join(s.name for s in self.steps)

    @property
    def lookup(self):
        return "__".join(s.name for s in self.steps)

    @property
    def many_at(self):
        """The index of the first to-many step, or None."""
        return next((i for i, s in enumerate(self.steps) if s.many), None)


@dataclass(frozen=True)
class Agg:
    """An aggregate ``kind(path[, cond])``: ``path`` ends with the to-many step (``field`` is then read on the
    related rows); ``cond`` is checked on the related rows (frame ``frame``)."""

    kind: str
    path: Path
    field: Step | None
    cond: ast.AST | None
    frame: int
    entity: str
    ordering: tuple = ()  # first(): the related entity's ordering


@dataclass
class Scope:
    entity: str | None  # the entity bare names belong to
    frame: int


class Checker:
    """Check one expression; ``options`` are ``compile_expr``'s keyword arguments."""

    def __init__(self, source, spec, entity, allow_old, allow_row, aggregates):
        self.source = source
        self.spec = spec
        self.entities = {e.name: e for e in spec.entities}
        self.roles = {r.name for r in spec.roles}
        self.allow_old = allow_old
        self.allow_row = allow_row
        self.aggregates = aggregates
        self.scopes = [Scope(entity, 0)]
        if entity is not None and entity not in self.entities:
            raise ExprError("E302", f"unknown entity '{entity}'", 0)

    def fail(self, code, message, node, hint=""):
        at = node if isinstance(node, int) else self.source.offset(node)
        raise ExprError(code, message, at, hint)

    def attr_at(self, node):
        """The offset of the attribute name of ``node`` (``.x`` in ``a.b.x``)."""
        return self.source.offset(node, end=True) - len(node.attr)

    def visit(self, node):
        method = getattr(self, f"visit_{type(node).__name__}", None)
        if method is None:
            self.fail("E305", f"{_describe(node)} is not part of the expression language", node,
                      "use comparisons, and/or/not, + - * / %, paths, literals and the listed functions")
        method(node)
        return node

    def typed(self, node, t, deps=frozenset(), many=False):
        node.c_type, node.c_deps, node.c_many = t, frozenset(deps), many

    # --- literals ----------------------------------------------------------------------------

    def visit_Constant(self, node):
        value = node.value
        offset = self.source.offset(node)
        if isinstance(value, bool) or value is None:
            self.typed(node, T.NULL if value is None else T.BOOL)
        elif isinstance(value, complex):
            unit = self.source.units.get(offset)
            if unit is None or value.real:
                self.fail("E300", "this is not a number, a text or a duration", node)
            amount = int(value.imag)
            if amount > 10**6:
                self.fail("E307", f"the duration {amount}{unit} is too long", node)
            value = dt.timedelta(**{UNITS[unit]: amount})
            self.typed(node, T.DURATION)
        elif isinstance(value, (int, float)):
            match = _NUMBER.match(self.source.text, offset)
            written = match.group(0) if match else str(value)
            if match and match.group(2) or len(written.replace(".", "")) > MAX_DIGITS:
                self.fail("E307", f"the number {written[:30]} is too large or written with an exponent", node,
                          f"write numbers out, with at most {MAX_DIGITS} digits")
            if isinstance(value, int):
                if value > MAX_INT:
                    self.fail("E307", f"the number {written} does not fit a 64-bit integer", node)
                self.typed(node, T.INT)
            else:
                value = Decimal(written)
                self.typed(node, T.DECIMAL)
        elif isinstance(value, str):
            if len(value) > MAX_TEXT:
                self.fail("E306", f"the text is {len(value)} characters long, more than {MAX_TEXT}", node)
            if "\x00" in value:
                self.fail("E307", "the text holds a NUL character", node)
            self.typed(node, T.STRING)
        else:
            self.fail("E305", f"a {type(value).__name__} literal is not part of the expression language", node)
        node.c_value = value

    def visit_List(self, node):
        if len(node.elts) > MAX_LIST:
            self.fail("E306", f"the list has more than {MAX_LIST} items", node)
        item = None
        for elt in node.elts:
            self.visit(elt)
            if not hasattr(elt, "c_value") or elt.c_type.name in ("null", "duration"):
                self.fail("E305", "list items must be numbers, texts, dates or booleans written out", elt)
            if item is not None and not T.comparable(item, elt.c_type):
                self.fail("E304", f"the list mixes {item} and {elt.c_type}", elt)
            item = item or elt.c_type
        self.typed(node, T.Type("list", item=item or T.NULL))
        node.c_value = [elt.c_value for elt in node.elts]

    visit_Tuple = visit_List

    # --- names and paths -----------------------------------------------------------------------

    def visit_Name(self, node):
        name = node.id
        if name in CONSTANTS:
            node.value = CONSTANTS[name]
            return self.visit_Constant(node)
        if name == "now":
            return self.typed(node, T.DATETIME, {"now"})
        if name == "today":
            return self.typed(node, T.DATE, {"now"})
        if name == "user":
            node.c_path = Path("user", 0, USER, ())
            return self.typed(node, T.Type("ref", entity=USER), {"user"})
        if name in ("row", "old"):
            self.root_allowed(name, node)
            self.fail("E305", f"'{name}' is a whole row; name one of its fields, e.g. {name}.id", node)
        scope = self.scopes[-1]
        entity = self.entities.get(scope.entity)
        if entity is None or (scope.frame == 0 and not self.allow_row):
            self.fail("E301", f"unknown name '{name}'{suggest(name, NAMES)}", node,
                      "here you may use: " + ", ".join(n for n in NAMES if n not in ("row", "old")))
        step = self.step(entity, name, node)
        if step is None:
            known = (*entity.field_names, *NAMES)
            self.fail("E301", f"unknown name '{name}': '{entity.name}' has no field '{name}'{suggest(name, known)}",
                      node, f"fields of {entity.name}: {', '.join(entity.field_names)}")
        self.path(node, Path("row", scope.frame, entity.name, (step,)))

    def visit_Attribute(self, node):
        chain, base = [node], node.value
        while isinstance(base, ast.Attribute):
            chain.append(base)
            base = base.value
        chain.reverse()
        for part in chain:
            if part.attr.startswith("_"):
                self.fail("E305", f"'{part.attr}': names starting with '_' are not allowed", self.attr_at(part))
        at = [self.attr_at(part) for part in chain]
        chain = [part.attr for part in chain]
        if not isinstance(base, ast.Name):
            self.fail("E305", "only names have fields (e.g. stay.guest.user)", node)
        if base.id in ("row", "old"):
            self.root_allowed(base.id, base)
            steps = self.walk(self.scopes[0].entity, chain, at)
            return self.path(node, Path(base.id, 0, self.scopes[0].entity, steps))
        if base.id == "user":
            return self.user_path(node, chain, at)
        if base.id in CONSTANTS or base.id in ("now", "today"):
            self.fail("E305", f"'{base.id}' has no fields", node)
        self.visit_Name(base)
        path = base.c_path
        steps = path.steps + self.walk(path.steps[-1].entity, chain, at, after=path.steps[-1])
        self.path(node, Path(path.root, path.frame, path.entity, steps))

    def root_allowed(self, name, node):
        if name == "old" and not self.allow_old:
            self.fail("E305", "'old' (the row before the change) is not available here", node)
        if name == "row" and not self.allow_row:
            self.fail("E305", "'row' is not available here: this value does not depend on a row", node)
        if self.scopes[0].entity is None:
            self.fail("E305", f"'{name}' is not available here", node)

    def user_path(self, node, chain, at):
        first = chain[0]
        if first == "id" and len(chain) == 1:
            node.c_path = Path("user", 0, USER, ())
            return self.typed(node, T.INT, {"user"})
        if first == "roles" and len(chain) == 1:
            return self.typed(node, T.ROLES, {"user"})
        profile = self.entities.get(first)
        links = [f for f in profile.fields if f.type is FieldType.REF and f.to == USER] if profile else []
        if not links:
            usable = sorted(e.name for e in self.entities.values()
                            if any(f.type is FieldType.REF and f.to == USER for f in e.fields))
            self.fail("E302", f"'user.{first}': '{first}' is not an entity with a reference to the user", at[0],
                      f"use user.id, user.roles or user.<entity> with one of: {', '.join(usable) or 'none'}")
        link = profile.owner or next((f.name for f in links if f.unique), links[0].name)
        step = Step(first, first, many=True, back=link)
        steps = (step,) + self.walk(first, chain[1:], at[1:], after=step) if chain[1:] else (step,)
        self.path(node, Path("user", 0, USER, steps))

    def walk(self, entity_name, chain, offsets, after=None):
        """Resolve field names ``chain`` (at ``offsets``) from ``entity_name``; each but the last must lead to
        rows."""
        steps = []
        for name, node in zip(chain, offsets, strict=True):
            if entity_name is None or (after is not None and after.entity is None):
                self.fail("E302", f"'{name}': '{after.name if after else '?'}' is a value, not a row, so it has "
                          "no fields", node)
            if entity_name == USER:
                if name != "id":
                    self.fail("E302", f"'{name}': a user account has only 'id' here", node,
                              "reach the user's profile through user.<entity>")
                step = Step("id", None, field=None)
            else:
                step = self.step(self.entities[entity_name], name, node)
                if step is None:
                    entity = self.entities[entity_name]
                    self.fail("E302", f"'{name}': entity '{entity_name}' has no field '{name}'"
                              f"{suggest(name, entity.field_names)}", node,
                              f"fields of {entity_name}: {', '.join(entity.field_names)}")
            steps.append(step)
            after, entity_name = step, step.entity
        return tuple(steps)

    def step(self, entity, name, node):
        """The step ``name`` from ``entity``: a field, 'id', or a to-many relation; None if unknown."""
        if name == "id":
            return Step("id", None)
        f = entity.field(name)
        if f is not None:
            if f.type is FieldType.REF:
                return Step(name, f.to, field=f)
            if f.type is FieldType.REFS:
                back = f"cabinet_{entity.name}_{f.name}" if f.to == USER else f"{entity.name}_by_{f.name}"
                return Step(name, f.to, many=True, back=back, field=f)
            return Step(name, None, field=f)
        found = []
        for other in self.entities.values():
            for g in other.fields:
                if g.to != entity.name or g.type not in (FieldType.REF, FieldType.REFS):
                    continue
                if name == f"{other.name}_by_{g.name}" or name == other.name:
                    found.append((other, g))
        if len(found) > 1:
            self.fail("E302", f"'{name}' is ambiguous: {len(found)} fields of '{found[0][0].name}' refer to "
                      f"'{entity.name}'", node,
                      "write " + " or ".join(f"{o.name}_by_{g.name}" for o, g in found))
        if found:
            other, g = found[0]
            return Step(f"{other.name}_by_{g.name}", other.name, many=True, back=g.name, field=g)
        return None

    def path(self, node, path):
        node.c_path = path
        last = path.steps[-1] if path.steps else None
        if last is None:
            t = T.Type("ref", entity=path.entity)
        elif last.name == "id":
            t = T.Type("ref", entity=path.entity if len(path.steps) == 1 else path.steps[-2].entity)
        elif last.entity is not None:
            t = T.Type("ref", entity=last.entity)
        else:
            t = T.field_type(last.field)
        manys = [s for s in path.steps if s.many]
        if len(manys) > (2 if path.root == "user" else 1):
            self.fail("E305", f"'{path.dotted}' passes more than one to-many relation", node,
                      "aggregate it instead, e.g. count(...) or sum(...)")
        deps = {"row" if path.frame == 0 else "frame"} if path.root == "row" else {path.root}
        if path.root == "user":
            deps.add("profile")
        self.typed(node, t, deps, many=bool(manys))

    # --- operators ------------------------------------------------------------------------------

    def visit_BoolOp(self, node):
        for value in node.values:
            self.visit(value)
            self.need_bool(value)
        self.typed(node, T.BOOL, _deps(*node.values))

    def visit_UnaryOp(self, node):
        self.visit(node.operand)
        t = node.operand.c_type
        if isinstance(node.op, ast.Not):
            self.need_bool(node.operand)
            return self.typed(node, T.BOOL, node.operand.c_deps)
        if isinstance(node.op, ast.USub) and (t.numeric or t.name == "duration"):
            return self.typed(node, t, node.operand.c_deps, node.operand.c_many)
        self.fail("E304", f"'{_symbol(node.op)}' does not apply to {t}", node)

    def visit_BinOp(self, node):
        symbol = _ARITH.get(type(node.op))
        if symbol is None:
            self.fail("E305", f"the operator '{_symbol(node.op)}' is not part of the expression language",
                      self.source.after(node.left),
                      "use + - * / %")
        self.visit(node.left)
        self.visit(node.right)
        a, b = node.left.c_type, node.right.c_type
        if node.left.c_many and node.right.c_many:
            self.fail("E305", "both sides read to-many paths", node, "aggregate one of them")
        result = _arith_type(symbol, a, b)
        if result is None:
            self.fail("E304", f"cannot compute {a} {symbol} {b}", node, _ARITH_HINT)
        self.typed(node, result, _deps(node.left, node.right), node.left.c_many or node.right.c_many)

    def visit_Compare(self, node):
        if len(node.ops) > 1:
            self.fail("E305", "chained comparisons are not supported", self.source.after(node.comparators[0]),
                      "join comparisons with 'and': a < b and b < c")
        op = _OPS.get(type(node.ops[0]))
        left, right = self.visit(node.left), self.visit(node.comparators[0])
        if op is None:
            self.fail("E305", f"'{_symbol(node.ops[0])}' is not supported", self.source.after(node.left),
                      "use == null / != null")
        node.c_op = op
        node.c_null = None
        a, b = left.c_type, right.c_type
        if left.c_many and right.c_many:
            self.fail("E305", "both sides read to-many paths or the user's profile rows", node,
                      "compare one of them with a value, or aggregate")
        if op in ("in", "not in"):
            self.check_in(node, left, right)
        elif "null" in (a.name, b.name):
            if op not in ("==", "!="):
                self.fail("E304", f"'{op}' with null is always false", node, "use == null or != null")
            node.c_null = left if b.name == "null" else right  # the operand tested for null
            node.c_blank = node.c_null.c_type.name == "string"  # an empty text is null too (texts store '')
        else:
            if not T.comparable(a, b):
                self.fail("E304", f"cannot compare {a} with {b}", node)
            if op not in ("==", "!=") and not (a.ordered and b.ordered):
                self.fail("E304", f"'{op}' does not apply to {a}", node, "only numbers, texts, dates and times "
                          "are ordered")
            self.check_choice(left, right)
            self.check_choice(right, left)
        self.typed(node, T.BOOL, _deps(left, right))

    def check_in(self, node, left, right):
        a, b = left.c_type, right.c_type
        if left.c_many and b.name != "list":
            self.fail("E305", "a to-many path can be looked for only in a list", left)
        if b.name == "roles":
            if a.name != "string":
                self.fail("E304", f"user.roles holds role names, not {a}", node)
            if isinstance(left, ast.Constant) and left.c_value not in self.roles:
                self.fail("E303", f"unknown role '{left.c_value}'{suggest(left.c_value, self.roles)}", left)
            return
        if b.name == "list":
            item = b.item
            if item.name != "null" and not T.comparable(a, item):
                self.fail("E304", f"cannot look for {a} in a {b}", node)
            for elt in right.elts:
                self.check_choice(elt, left)
            return
        if right.c_many:
            if not T.comparable(a, b):
                self.fail("E304", f"cannot look for {a} among {b} values", node)
            return
        self.fail("E304", f"'in' needs a list, user.roles or a to-many path on its right, not {b}", right)

    def check_choice(self, literal, other):
        """A text compared with a choice field must be one of its choices (a typo would match nothing)."""
        choices = other.c_type.choices
        if choices and isinstance(getattr(literal, "c_value", None), str) and literal.c_value not in choices:
            self.fail("E307", f"'{literal.c_value}' is not one of the choices ({', '.join(choices)})"
                      f"{suggest(literal.c_value, choices)}", literal)

    def visit_IfExp(self, node):
        self.visit(node.test)
        self.need_bool(node.test)
        self.visit(node.body)
        self.visit(node.orelse)
        a, b = node.body.c_type, node.orelse.c_type
        if not T.comparable(a, b) or a.name == "ref" and b.name == "int" or a.name == "int" and b.name == "ref":
            self.fail("E304", f"the two branches give {a} and {b}", node)
        t = b if a.name == "null" else (T.numeric_result(a, b) if a.numeric and b.numeric else a)
        self.typed(node, t, _deps(node.test, node.body, node.orelse), node.body.c_many or node.orelse.c_many)

    def need_bool(self, node):
        if node.c_type.name not in ("bool", "null"):
            self.fail("E304", f"expected a condition (true or false), got {node.c_type}", node)
        if node.c_many:
            self.fail("E305", "a to-many path is not a condition", node, "compare it, or use count(...) > 0")

    # --- calls -----------------------------------------------------------------------------------

    def visit_Call(self, node):
        if not isinstance(node.func, ast.Name):
            self.fail("E305", f"only the listed functions can be called, not {_describe(node.func)}", node)
        name = node.func.id
        if name not in FUNCTIONS:
            self.fail("E303", f"unknown function '{name}'{suggest(name, FUNCTIONS)}", node,
                      f"functions: {', '.join(FUNCTIONS)}")
        if node.keywords:
            self.fail("E303", f"{name}() takes no named arguments", node.keywords[0].value)
        node.c_fn = name
        if name in AGGREGATES:
            return self.aggregate(node, name)
        args = [self.visit(a) for a in node.args]
        getattr(self, f"call_{name}")(node, args)

    def arity(self, node, args, low, high=None):
        high = low if high is None else high
        if not low <= len(args) <= high:
            want = str(low) if low == high else f"{low} to {high}"
            self.fail("E303", f"{node.c_fn}() takes {want} argument{'s' if high != 1 else ''}, not {len(args)}",
                      node)
        for a in args:
            if a.c_many:
                self.fail("E305", f"{node.c_fn}() of a to-many path", a, "aggregate it with count/sum/min/max")

    def call_len(self, node, args):
        self.arity(node, args, 1)
        self.need(args[0], "string")
        self.typed(node, T.INT, args[0].c_deps)

    def call_lower(self, node, args):
        self.arity(node, args, 1)
        self.need(args[0], "string")
        self.typed(node, T.STRING, args[0].c_deps)

    call_upper = call_lower

    def call_abs(self, node, args):
        self.arity(node, args, 1)
        if not (args[0].c_type.numeric or args[0].c_type.name == "null"):
            self.fail("E304", f"abs() needs a number, not {args[0].c_type}", args[0])
        self.typed(node, args[0].c_type, args[0].c_deps)

    def call_round(self, node, args):
        self.arity(node, args, 1, 2)
        if not (args[0].c_type.numeric or args[0].c_type.name == "null"):
            self.fail("E304", f"round() needs a number, not {args[0].c_type}", args[0])
        if len(args) == 2 and not (isinstance(args[1], ast.Constant) and args[1].c_type.name == "int"
                                   and 0 <= args[1].c_value <= 10):
            self.fail("E304", "round()'s second argument is a number of places from 0 to 10", args[1])
        self.typed(node, T.DECIMAL if len(args) == 2 else T.INT, _deps(*args))

    def call_coalesce(self, node, args):
        if len(args) < 2 or len(args) > 10:
            self.fail("E303", "coalesce() takes 2 to 10 arguments", node)
        self.arity(node, args, len(args))
        t = T.NULL
        for a in args:
            if not T.comparable(t, a.c_type):
                self.fail("E304", f"coalesce() mixes {t} and {a.c_type}", a)
            if a.c_type.name != "null":
                t = T.numeric_result(t, a.c_type) if t.numeric and a.c_type.numeric else a.c_type
        self.typed(node, t, _deps(*args))

    def call_date(self, node, args):
        self.arity(node, args, 1)
        self.need(args[0], "datetime")
        self.typed(node, T.DATE, args[0].c_deps)

    def call_has_role(self, node, args):
        self.arity(node, args, 1)
        role = args[0]
        if not (isinstance(role, ast.Constant) and isinstance(role.c_value, str)):
            self.fail("E304", "has_role() takes a role name in quotes, e.g. has_role('manager')", role)
        if role.c_value not in self.roles:
            self.fail("E303", f"unknown role '{role.c_value}'{suggest(role.c_value, self.roles)}", role,
                      f"roles: {', '.join(sorted(self.roles))}")
        self.typed(node, T.BOOL, {"user"})

    def need(self, node, name):
        if node.c_type.name not in (name, "null"):
            self.fail("E304", f"expected {T.Type(name)}, got {node.c_type}", node)

    def aggregate(self, node, kind):
        if not self.aggregates:
            self.fail("E305", f"{kind}() over related rows is not available here", node)
        if len(self.scopes) > 2:
            self.fail("E306", "aggregates are nested too deeply", node)
        if not 1 <= len(node.args) <= 2:
            self.fail("E303", f"{kind}() takes a path and an optional condition", node)
        target = node.args[0]
        if not isinstance(target, (ast.Name, ast.Attribute)):
            self.fail("E304", f"{kind}() needs a path to related rows, e.g. {kind}(booking...)", target)
        self.visit(target)
        path = getattr(target, "c_path", None)
        manys = [i for i, s in enumerate(path.steps if path else ()) if s.many][1 if path and path.root == "user"
                                                                                 else 0:]
        if not manys:
            self.fail("E304", f"{kind}() needs a path to related rows (a to-many relation), e.g. "
                      f"{kind}(booking.seats)", target)
        steps = path.steps[: manys[0] + 1]
        rest = path.steps[manys[0] + 1:]
        related = steps[-1].entity
        value = None
        if kind in ("count", "first"):
            if rest:
                self.fail("E304", f"{kind}() counts rows: end the path at the relation "
                          f"('{'.'.join(s.name for s in steps)}')", target)
        else:
            if len(rest) != 1 or rest[0].entity is not None and rest[0].name != "id":
                self.fail("E304", f"{kind}() needs a field of the related rows, e.g. {kind}("
                          f"{'.'.join(s.name for s in steps)}.<field>)", target)
            value = rest[0]
            t = target.c_type
            if kind == "sum" and not t.numeric:
                self.fail("E304", f"sum() needs a number field, not {t}", target)
            if kind in ("min", "max") and not t.ordered:
                self.fail("E304", f"{kind}() needs a number, text or date field, not {t}", target)
        cond = None
        frame = len(self.scopes)
        if len(node.args) == 2:
            self.scopes.append(Scope(related if related != USER else None, frame))
            try:
                cond = self.visit(node.args[1])
                self.need_bool(cond)
            finally:
                self.scopes.pop()
        inner = cond.c_deps - {"frame"} if cond is not None else frozenset()
        if frame > 1:  # inside another aggregate: may read that one's related row
            inner |= {"frame"}
        ordering = self.entities[related].ordering if related in self.entities else ()
        node.c_agg = Agg(kind, Path(path.root, path.frame, path.entity, steps), value, cond, frame,
                         related, tuple(ordering))
        if kind == "count":
            t = T.INT
        elif kind == "first":
            t = T.Type("ref", entity=related)
        else:
            t = T.field_type(value.field) if value.field is not None else T.INT
        deps = target.c_deps | inner | {"agg"}
        if path.root == "user":
            deps |= {"profile", "user"}
        self.typed(node, t, deps)


def _arith_type(symbol, a, b):
    names = {a.name, b.name}
    if "null" in names:
        other = b if a.name == "null" else a
        return other if other.name != "null" and (other.numeric or other.name in ("string", "date", "datetime",
                                                                               "duration")) else None
    if a.numeric and b.numeric:
        return T.DECIMAL if symbol == "/" and not names & {"money"} else T.numeric_result(a, b)
    if symbol == "+" and a.name == b.name == "string":
        return T.STRING
    if symbol in "+-":
        if a.name in ("date", "datetime") and b.name == "duration":
            return a
        if a.name == "date" and b.name == "int":
            return T.DATE
        if a.name == b.name == "duration":
            return T.DURATION
        if symbol == "+" and b.name in ("date", "datetime") and a.name == "duration":
            return b
    return None


_ARITH_HINT = ("numbers take + - * / %, texts +, dates + or - a number of days or a duration (1d, 2h), datetimes "
               "+ or - a duration")


def _deps(*nodes):
    found = set()
    for node in nodes:
        found |= node.c_deps
    return frozenset(found)


def _symbol(op):
    return {ast.Pow: "**", ast.FloorDiv: "//", ast.Is: "is", ast.IsNot: "is not", ast.UAdd: "+",
            ast.Invert: "~", ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.LShift: "<<",
            ast.RShift: ">>", ast.MatMult: "@"}.get(type(op), type(op).__name__)


def _describe(node):
    return {"Lambda": "a lambda", "Subscript": "indexing ([...])", "Dict": "a mapping", "Set": "a set",
            "ListComp": "a comprehension", "GeneratorExp": "a comprehension", "DictComp": "a comprehension",
            "SetComp": "a comprehension", "NamedExpr": "':='", "JoinedStr": "an f-string", "Await": "await",
            "Starred": "'*'", "Slice": "a slice", "Yield": "yield"}.get(type(node).__name__,
                                                                          type(node).__name__)
