"""Checked expressions: what they read, and how they run in SQL and in Python."""
from __future__ import annotations

import ast
import datetime as dt
import zoneinfo
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.utils import timezone

from ..spec import USER
from . import types as T
from .check import Checker
from .parse import ExprError, parse
from .run import Evaluator, Many, pk_of, truthy
from .sql import Compiler


@dataclass
class Env:
    """What an expression reads besides the row: the user and their roles, the clock, the built models."""

    user: object = None
    roles: frozenset = frozenset()
    now: dt.datetime = None
    today: dt.date = None
    access: object = None
    built: object = None
    tz: dt.tzinfo = None
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if self.built is None and self.access is not None:
            self.built = self.access.policy.built
        if self.tz is None:
            name = self.built.spec.timezone if self.built is not None else None
            self.tz = zoneinfo.ZoneInfo(name) if name else timezone.get_default_timezone()
        self.now = self.now or timezone.now()
        self.today = self.today or timezone.localtime(self.now, self.tz).date()

    @property
    def user_id(self):
        user = self.user
        return user.pk if user is not None and getattr(user, "is_authenticated", False) else None

    def model(self, entity):
        if entity == USER:
            return get_user_model()
        return self.built.models[entity]

    def ordering(self, entity):
        spec = self.built.spec.entity(entity) if self.built is not None else None
        return tuple(spec.ordering) if spec is not None else ()

    def user_value(self, path):
        """The values of ``user.<entity>...`` for this user (one query per path, remembered)."""
        key = ("user", path.steps)
        if key not in self._cache:
            if self.user_id is None:
                self._cache[key] = Many()
            else:
                profile = path.steps[0]
                rows = self.model(profile.entity)._default_manager.filter(**{profile.back: self.user_id})
                lookup = "__".join(s.name for s in path.steps[1:]) or "pk"
                self._cache[key] = Many(rows.order_by("pk").values_list(lookup, flat=True))
        return self._cache[key]

    def aggregate(self, agg, evaluator):
        """An aggregate over rows reached from the user, computed in the database."""
        compiler = Compiler(evaluator.checked, self, row=evaluator.frames[0])
        return compiler.aggregate_now(agg)


def env_for(access, now=None):
    """The ``Env`` of ``access``'s user (anonymous: no user, no roles)."""
    user = access.user if access.user.is_authenticated else None
    return Env(user=user, roles=frozenset(access.roles), now=now, access=access)


class Expr:
    """A parsed, type-checked expression over rows of ``entity``."""

    def __init__(self, text, node, source, entity, kind):
        self.text = text
        self.node = node
        self.source = source
        self.entity = entity
        self.kind = kind
        self.type = node.c_type
        deps = set(node.c_deps)
        for child in ast.walk(node):
            deps |= getattr(child, "c_deps", frozenset())
        self.uses_old = "old" in deps
        self.uses_user = bool(deps & {"user", "profile"})
        self.uses_now = "now" in deps
        self.sql_able = not self.uses_old
        self.paths = frozenset(_paths(node))
        self.row_local = not (deps & {"old", "user", "profile", "now", "agg", "frame"}) and all(
            "." not in p for p in self.paths) and not any(
            getattr(c, "c_path", None) is not None and c.c_path.steps and c.c_path.steps[0].many
            for c in ast.walk(node))

    def __repr__(self):
        return f"<Expr {self.text!r}: {self.type}>"

    def q(self, env):
        """A ``Q`` over the entity's model: the rows where the condition holds (to-many through EXISTS)."""
        if not self.sql_able:
            raise ValueError(f"{self.text!r} reads 'old', which only Python evaluation has")
        return Compiler(self, env).q(self.node)

    def orm(self, env):
        """An ORM expression of the value, for ``.annotate()`` (aggregates as correlated subqueries)."""
        if not self.sql_able:
            raise ValueError(f"{self.text!r} reads 'old', which only Python evaluation has")
        return Compiler(self, env).value(self.node)

    def evaluate(self, env, row, old=None):
        """The value on plain values: ``row`` (and ``old``) are dicts keyed like ``paths``."""
        value = Evaluator(self, env, row if row is not None else {}, old).run(self.node)
        if self.type.name == "bool" and self.kind == "bool":
            return truthy(value)
        if isinstance(value, Many):
            return value[0] if value else None
        return value

    def read(self, env, model, pk):
        """The plain values of ``paths`` for row ``pk`` (one query, plus one per to-many relation)."""
        return read_values(model, pk, self.paths)

    def values_of(self, obj):
        """The plain values of ``paths`` for a model instance, saved or not: its own fields as they are now,
        followed refs and related rows as stored."""
        return instance_values(obj, self.paths)

    def holds(self, env, model, pk):
        """Whether the condition holds for the stored row ``pk``, decided in SQL."""
        return model._default_manager.filter(pk=pk).filter(self.q(env)).exists()


def compile_expr(text, *, spec, entity, kind="bool", allow_old=False, allow_row=True, aggregates=True,
                 expect=None):
    """Parse and check ``text`` over rows of ``entity``; raise ``ExprError`` at the first problem.

    ``kind`` "bool" wants a condition, "value" any value (of type ``expect`` when given, a ``Type``).
    """
    node, source = parse(text)
    checker = Checker(source, spec, entity, allow_old, allow_row, aggregates)
    try:
        checker.visit(node)
    except RecursionError:
        raise ExprError("E306", "the expression is nested too deeply", 0) from None
    if kind == "bool" and node.c_type.name not in ("bool", "null"):
        raise ExprError("E304", f"expected a condition (true or false), got {node.c_type}", source.offset(node),
                        "compare it, e.g. status == 'draft'")
    if kind == "bool" and node.c_many:
        raise ExprError("E305", "a to-many path is not a condition", source.offset(node))
    if kind == "value" and node.c_many and not _profile(node):
        raise ExprError("E305", "a to-many path is not one value", source.offset(node),
                        "aggregate it: count(...), sum(...), min(...), max(...), first(...)")
    if expect is not None and not _assignable(node.c_type, expect):
        raise ExprError("E304", f"expected {expect}, got {node.c_type}", source.offset(node))
    return Expr(text, node, source, entity, kind)


def _profile(node):
    path = getattr(node, "c_path", None)
    return path is not None and path.root == "user" and sum(s.many for s in path.steps) == 1


def _assignable(got, want):
    if got.name == "null":
        return True
    if want.name == "ref":
        return got.name == "ref" and got.entity == want.entity or got.name == "int"
    if want.numeric:
        return got.numeric and not (want.name == "int" and got.name != "int")
    if want.name == "string" and want.choices:
        return got.name == "string"
    return got.name == want.name


def _paths(root):
    """Dotted paths the expression reads from the row (and ``old``), with what aggregates read below them."""
    found = set()

    def visit(node, prefixes):
        agg = getattr(node, "c_agg", None)
        if agg is not None:
            base = _agg_base(agg, prefixes)
            if base is not None:
                found.add(base)
                if agg.field is not None:
                    found.add(f"{base}.{agg.field.name}")
            if agg.kind == "first" and base is not None:
                found.update(f"{base}.{name.lstrip('-')}" for name in _ordering_of(agg))
            if agg.cond is not None:
                visit(agg.cond, {**prefixes, agg.frame: base})
            return
        path = getattr(node, "c_path", None)
        if path is not None and path.root in ("row", "old") and path.steps:
            base = prefixes.get(path.frame, "") if path.frame else ""
            if base is not None:
                found.add(f"{base}.{path.dotted}" if base else path.dotted)
            return
        for child in ast.iter_child_nodes(node):
            visit(child, prefixes)

    visit(root, {})
    return found


def _agg_base(agg, prefixes):
    if agg.path.root == "user":
        return None
    base = prefixes.get(agg.path.frame, "") if agg.path.frame else ""
    if base is None:
        return None
    return f"{base}.{agg.path.dotted}" if base else agg.path.dotted


def _ordering_of(agg):
    return agg.ordering


def read_values(model, pk, paths):
    """Nested plain values of ``paths`` for row ``pk`` of ``model``: dicts for followed refs (with 'id'),
    lists of dicts for to-many relations."""
    plain, many = set(), {}
    for dotted in sorted(paths):
        parts = dotted.split(".")
        current, at = model, None
        for i, part in enumerate(parts):
            if part == "id":
                break
            field = current._meta.get_field(part)
            if field.one_to_many or field.many_to_many:
                at = i
                break
            current = field.related_model
            if current is None:
                break
        if at is None:
            plain.add(dotted)
        else:
            many.setdefault(tuple(parts[: at + 1]), set()).add(".".join(parts[at + 1:]))
    lookups = {"__".join(p.split(".")) for p in plain}
    for parts in many:
        lookups.add("__".join(parts[:-1]) or "pk")
    for dotted in plain:  # a followed ref also keeps its own id
        parts = dotted.split(".")
        lookups.update("__".join(parts[:i]) for i in range(1, len(parts)))
    row = model._default_manager.filter(pk=pk).values(*sorted(lookups)).first()
    if row is None:
        return None
    values = {"id": pk}
    for lookup in sorted(lookups, key=lambda k: k.count("__")):
        if lookup != "pk":
            _put(values, lookup.split("__"), row[lookup])
    for parts, rest in many.items():
        owner = row["__".join(parts[:-1]) or "pk"] if parts[:-1] else pk
        field = _field_at(model, parts)
        related = field.related_model
        back = field.remote_field.name if field.one_to_many else (
            field.related_query_name() if field.many_to_many and not field.auto_created else field.field.name)
        names = sorted({"__".join(r.split(".")) for r in rest if r} | {"pk"})
        rows = [] if owner is None else list(related._default_manager.filter(**{back: pk_of(owner)})
                                             .order_by("pk").values(*names))
        items = []
        for item in rows:
            nested = {"id": item["pk"]}
            for name in names:
                if name != "pk":
                    _put(nested, name.split("__"), item[name])
            items.append(nested)
        _put(values, list(parts), items, many=True)
    return values


def instance_values(obj, paths):
    """Nested plain values of ``paths`` for instance ``obj`` (see ``read_values``), reading its own fields
    from the instance (unsaved changes included) and what lies behind them from the database."""
    values = {"id": obj.pk}
    behind, many = {}, {}
    for dotted in sorted(paths):
        head, _, rest = dotted.partition(".")
        field = obj._meta.get_field(head)
        if field.one_to_many or field.many_to_many:
            many.setdefault(head, set()).add(dotted)
        elif field.is_relation:
            values.setdefault(head, getattr(obj, field.attname))
            if rest:
                behind.setdefault(head, set()).add(rest)
        else:
            values[head] = getattr(obj, head)
    for head, dotted in many.items():
        values[head] = (read_values(type(obj), obj.pk, dotted) or {}).get(head, []) if obj.pk else []
    for head, rests in behind.items():
        pk = values[head]
        related = obj._meta.get_field(head).related_model
        values[head] = (read_values(related, pk, rests) if pk is not None else None) or {"id": None, **{
            r.split(".")[0]: None for r in rests}}
    return values


def _field_at(model, parts):
    for part in parts[:-1]:
        model = model._meta.get_field(part).related_model
    return model._meta.get_field(parts[-1])


def _put(values, parts, value, many=False):
    for part in parts[:-1]:
        current = values.get(part)
        if not isinstance(current, dict):
            current = {"id": current}
            values[part] = current
        values = current
    last = parts[-1]
    if isinstance(values.get(last), dict) and not many:
        values[last]["id"] = value
    else:
        values[last] = value


__all__ = ["Env", "Expr", "ExprError", "T", "compile_expr", "env_for", "pk_of"]
