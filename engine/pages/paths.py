"""Fields along paths (``stay.guest.full_name``, ``excursion.starts_at``) for columns, fields and filters.

A path is resolved once from the page's entity through refs (``resolve``): each hop is a ref to
another entity, the last step any field of the entity reached. At check time a path that names an
unknown field, goes through a field that is not a ref, or reaches a field one of the page's roles may
not see is refused with a located error (``check_page_paths``). At runtime (``Columns``) the reader's
policy applies at every hop: a column whose fields the reader may not see is left out, and a cell
whose row along the path is out of the reader's scope shows blank. The page selects the related rows
with its own query (``select_related``) and reads which of them are viewable with one query per hop
entity, so query counts stay constant in the number of rows.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, OuterRef

from ..display import Refs, cell, row_title
from ..fieldtypes import FieldType
from ..loader import path_text
from ..spec import USER


class PathError(Exception):
    """A path that cannot be followed: ``code``, ``message``, ``hint`` and the index of the bad step."""

    def __init__(self, code, message, hint="", step=0):
        super().__init__(message)
        self.code, self.message, self.hint, self.step = code, message, hint, step


@dataclass(frozen=True)
class Path:
    """A resolved path: the ref hops ((entity, ref field spec), ...) and the final field of ``owner``."""

    text: str
    hops: tuple  # ((entity name, FieldSpec of a ref), ...)
    field: object  # FieldSpec of the last step
    owner: str  # the entity the last step belongs to

    @property
    def lookup(self):
        """The ORM lookup of the value (``stay__guest__full_name``)."""
        return "__".join([*(f.name for _, f in self.hops), self.field.name])

    @property
    def related(self):
        """What ``select_related`` needs to read the value with the row ("" for a field of the row itself)."""
        names = [f.name for _, f in self.hops]
        if self.field.type is FieldType.REF:  # its row is shown (a title, an account's name)
            names.append(self.field.name)
        return "__".join(names)

    @property
    def entities(self):
        """Every (entity, field name) the path reads, hops first, for the field policy."""
        return (*((e, f.name) for e, f in self.hops), (self.owner, self.field.name))

    @property
    def is_plain(self):
        return not self.hops


def resolve(spec, entity, text):
    """Resolve ``text`` from ``entity`` (a name); raise ``PathError`` when a step cannot be followed."""
    parts = text.split(".")
    current, hops = spec.entity(entity), []
    for i, part in enumerate(parts):
        f = current.field(part)
        if f is None:
            names = ", ".join(current.field_names)
            raise PathError("E202", f"'{text}': entity '{current.name}' has no field '{part}'",
                            f"fields of '{current.name}': {names}", i)
        if i == len(parts) - 1:
            return Path(text, tuple(hops), f, current.name)
        if f.type is not FieldType.REF or f.to == USER:
            raise PathError("E900", f"'{text}': '{current.name}.{part}' is a {f.type.value} field; a path goes "
                            "on only through a ref to another entity", "end the path at this field", i)
        hops.append((current.name, f))
        current = spec.entity(f.to)
    raise PathError("E900", f"'{text}' is an empty path")  # unreachable: split gives one part at least


def role_sees(role, entity, name):
    """Whether ``role`` (a RoleSpec) may view ``entity`` rows and see their field ``name``."""
    grant = role.grant(entity)
    if grant is None or not ({"view", "all"} & set(grant.actions)):
        return False
    return grant.view_fields is None or name in grant.view_fields


# --- check time ---------------------------------------------------------------------------------

PATH_PARTS = ("columns", "filters")


def check_path(checker, entity, text, path, roles=(), what="column"):
    """Resolve ``text`` from ``entity`` at YAML ``path``; report problems; return the Path or None."""
    try:
        resolved = resolve(checker.spec, entity, text)
    except PathError as error:
        checker.add(error.code, f"'{path_text(path)}': {error.message}", path, error.hint)
        return None
    if resolved.hops and resolved.field.type is FieldType.REFS:
        checker.add("E902", f"'{path_text(path)}': '{text}' ends in a many-ref along a path", path,
                    "show the many-ref on the page of its own entity")
        return None
    for role in roles:
        for hop_entity, name in resolved.entities:
            if not role_sees(role, hop_entity, name):
                checker.add("E901", f"'{path_text(path)}': role '{role.name}' may not see '{hop_entity}.{name}', "
                            f"which the {what} '{text}' reads", path,
                            f"let the role view '{hop_entity}' and its field '{name}', or remove the role "
                            "from the page")
                break
    return resolved


def check_page_paths(checker, page, entity, path):
    """Check the columns, filters, section fields and related columns of ``page`` that are paths."""
    roles = [checker.spec.role(r) for r in page.roles or () if checker.spec.role(r) is not None]
    for part in PATH_PARTS:
        for i, text in enumerate(getattr(page, part)):
            if "." in text:
                check_path(checker, entity.name, text, (*path, part, i), roles, part[:-1])
    for i, section in enumerate(page.sections):
        for j, text in enumerate(section.fields):
            if "." in text:
                check_path(checker, entity.name, text, (*path, "sections", i, "fields", j), roles, "field")


# --- runtime ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Column:
    """A column (or detail field) a reader sees: its name in the YAML, its path and its heading."""

    name: str
    path: Path
    title: str


def heading(spec, path, label):
    """The heading of a column: the last field's label, or the last ref's when the path ends at the title of
    the row it reaches (``guest.full_name`` reads "Guest")."""
    if path.hops and spec.entity(path.owner).title == path.field.name:
        return label(path.hops[-1][1].label)
    return label(path.field.label)


def steps(path):
    """(lookup, entity) of every row the path reaches: each hop, and the row a final ref points at."""
    refs = [f for _, f in path.hops]
    if path.field.type is FieldType.REF and path.field.to != USER:
        refs.append(path.field)
    return [("__".join(r.name for r in refs[:i + 1]), f.to) for i, f in enumerate(refs)]


class Columns:
    """The columns of a page as one reader sees them, and how their rows are read and shown.

    ``names`` are fields or paths of ``entity``; the ones naming a field the reader may not see at some
    hop (or that do not resolve: a page of an older check) are left out. ``select`` makes the page's one
    query read the related rows and, for each row along a path of an entity the reader sees only in part,
    whether the reader may view it (an ``EXISTS`` over that entity's scope). ``load`` then reads the
    computed values of rows reached along paths and the many-refs' rows (one query per entity), and
    ``cells`` shows a row.
    """

    def __init__(self, access, spec, entity, names, label, refs, many=False, limit=None):
        self.access, self.spec, self.refs = access, spec, refs
        self.columns = []
        for name in names:
            try:
                path = resolve(spec, entity, name)
            except PathError:
                continue
            if not self.sees(path) or (path.field.type is FieldType.REFS and (path.hops or not many)):
                continue
            self.columns.append(Column(name, path, heading(spec, path, label)))
        if limit is not None:
            self.columns = self.columns[:limit]
        self.flags = {}  # lookup of a row along a path -> the annotation saying whether the reader may view it
        for column in self.columns:
            for lookup, target in steps(column.path):
                if lookup not in self.flags and access.queryset(target, "view").query.where:
                    self.flags[lookup] = ("cabinet_seen_" + lookup.replace("__", "_via_"), target)

    def sees(self, path):
        access = self.access
        return all(name in access.visible_fields(entity) for entity, name in path.entities) and all(
            access.can(f.to, "view") for _, f in path.hops) and (
            path.field.type is not FieldType.REF or path.field.to == USER or access.can(path.field.to, "view"))

    def __iter__(self):
        return iter(self.columns)

    def __len__(self):
        return len(self.columns)

    def select(self, queryset):
        """``queryset`` with the related rows the columns show, whether the reader may view them, and the
        many-refs prefetched."""
        related = sorted({c.path.related for c in self.columns if c.path.related})
        many = [c.path.field.name for c in self.columns if c.path.is_plain and c.path.field.type is FieldType.REFS]
        queryset = queryset.select_related(*related) if related else queryset
        if self.flags:
            queryset = queryset.annotate(**{flag: Exists(self.access.queryset(target, "view").filter(
                pk=OuterRef(lookup))) for lookup, (flag, target) in self.flags.items()})
        return queryset.prefetch_related(*many) if many else queryset

    def load(self, rows):
        """Read the computed values of the rows reached along paths and the viewable rows of the many-refs
        shown (one query per entity); return self."""
        computed = {}
        for column in self.columns:
            field = column.path.field
            if column.path.hops and not field.stored:
                objs = [o for o in (self.target(row, column) for row in rows) if o is not None]
                computed.setdefault(column.path.owner, {}).setdefault(field.name, []).extend(objs)
        for entity, by_name in computed.items():
            self._computed(entity, by_name)
        self.refs.load(rows, [c.path.field for c in self.columns if c.path.field.type is FieldType.REFS])
        return self

    def _computed(self, entity, by_name):
        """Put the computed values of rows reached along paths on them (one query for the entity)."""
        objs = [o for found in by_name.values() for o in found]
        names = sorted(by_name)
        model = self.access.entity(entity).model
        values = {row[0]: row[1:] for row in model._default_manager.filter(
            pk__in={o.pk for o in objs}).values_list("pk", *names)}
        for o in objs:
            for name, value in zip(names, values.get(o.pk, (None,) * len(names)), strict=True):
                o.__dict__[name] = value

    def seen(self, row, lookup):
        """Whether the reader may view the row at ``lookup`` from ``row`` (read by the page's query)."""
        flag = self.flags.get(lookup)
        return flag is None or bool(getattr(row, flag[0], False))

    def target(self, row, column):
        """The row ``column`` reads its last field from, or None when a row along the path is unset or out
        of the reader's scope."""
        obj, names = row, []
        for _entity, f in column.path.hops:
            names.append(f.name)
            if getattr(obj, f"{f.name}_id") is None or not self.seen(row, "__".join(names)):
                return None
            obj = getattr(obj, f.name)
        return obj

    def value(self, row, column, currency, show):
        """What ``column`` shows for ``row`` through ``show`` (``display.cell`` or ``display.display``)."""
        target = self.target(row, column)
        if target is None:
            return ""
        f = column.path.field
        if f.type is FieldType.REF and f.to != USER:
            lookup = column.path.related
            if getattr(target, f"{f.name}_id") is None or not self.seen(row, lookup):
                return ""
            other = self.spec.entity(f.to)
            return row_title(getattr(target, f.name), other, self.access.visible_fields(f.to), currency,
                             Refs(self.access, self.spec, currency, nested=True))
        return show(target, f, currency, self.refs)

    def cells(self, row, currency, show=cell):
        """The cells of ``row``: ``show`` (``display.cell`` unless given) of each column ("" where the path is
        out of scope)."""
        return [self.value(row, column, currency, show) for column in self.columns]
