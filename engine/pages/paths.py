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
        if self.field.type is FieldType.REF and self.field.to != USER:
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


class Columns:
    """The columns of a page as one reader sees them, and how their rows are read and shown.

    ``names`` are fields or paths of ``entity``; the ones naming a field the reader may not see at some
    hop (or that do not resolve: a page of an older check) are left out. ``select`` adds what the query
    needs, ``load`` reads at once which rows along the paths the reader may view (one query per entity)
    and the computed values of rows reached along paths (one query per entity), ``cells`` shows a row.
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

    def sees(self, path):
        access = self.access
        return all(name in access.visible_fields(entity) for entity, name in path.entities) and all(
            access.can(f.to, "view") for _, f in path.hops)

    def __iter__(self):
        return iter(self.columns)

    def __len__(self):
        return len(self.columns)

    @property
    def fields(self):
        """The field specs of the plain columns (the row's own fields)."""
        return [c.path.field for c in self.columns if c.path.is_plain]

    def select(self, queryset):
        """``queryset`` with the related rows the columns show (and many-refs prefetched)."""
        related = sorted({c.path.related for c in self.columns if c.path.related})
        many = [c.path.field.name for c in self.columns if c.path.is_plain and c.path.field.type is FieldType.REFS]
        queryset = queryset.select_related(*related) if related else queryset
        return queryset.prefetch_related(*many) if many else queryset

    def load(self, rows):
        """Read which rows along the paths are viewable and the computed values they show; return self."""
        wanted, computed = {}, {}
        for column in self.columns:
            objs = list(rows)
            for _entity, f in column.path.hops:
                wanted.setdefault(f.to, set()).update(getattr(o, f"{f.name}_id") for o in objs)
                objs = [o for o in (getattr(o, f.name) for o in objs) if o is not None]
            field = column.path.field
            if column.path.hops and not field.stored:
                computed.setdefault(column.path.owner, {}).setdefault(field.name, []).extend(objs)
            if field.type is FieldType.REF:
                self.refs.load(objs, [field])
        for entity, ids in wanted.items():
            self.refs._viewable(entity, ids - {None})
        for entity, by_name in computed.items():
            self._computed(entity, by_name)
        self.refs.load(rows, self.fields)
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

    def target(self, obj, column):
        return self.target_of(obj, column, self.refs)

    @staticmethod
    def target_of(obj, column, refs):
        """The row ``column`` reads its last field from, or None when a row along the path is unset or out
        of the reader's scope (as far as ``refs`` has loaded it)."""
        for _entity, f in column.path.hops:
            pk = getattr(obj, f"{f.name}_id")
            if pk is None or pk not in refs.viewable.get(f.to, ()):
                return None
            obj = getattr(obj, f.name)
        return obj

    def cells(self, obj, currency):
        """The cells of ``obj``: ``display.cell`` of each column ("" where the path is out of scope)."""
        from ..display import cell

        found = []
        for column in self.columns:
            target = self.target(obj, column)
            found.append("" if target is None else cell(target, column.path.field, currency, self.refs))
        return found
