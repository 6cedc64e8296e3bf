"""Compile-time checks of rules, computed fields, numbering patterns and expression defaults.

Expressions are checked by ``engine.expr`` (their problems point at the offending token); the checks
here are about how the pieces fit: names, options that contradict each other, computed fields in
places that need a stored column, and cycles between computed fields.
"""
from __future__ import annotations

from ..expr import compile_expr
from ..expr.checks import expression_problems
from ..expr.types import field_type
from ..loader import path_text
from . import sequences

# Options a computed field cannot have: its value comes from the expression alone.
NOT_WITH_COMPUTED = ("required", "unique", "index", "default", "min", "max", "sequence", "default_expr")


def check_rules(checker):
    """Add the problems of every entity's rules, computed fields, sequences and defaults to ``checker``."""
    computed = {}
    for entity in checker.spec.entities:
        computed.update(EntityRules(checker, entity).run() or {})
    check_cross_cycles(checker, computed)
    check_uses(checker)


def resolve(spec, entity, dotted):
    """The (entity, field) an expression path ends at, following refs and reverse refs; None if it leaves
    the solution's entities (a ref to the user)."""
    *steps, last = dotted.split(".")
    for step in steps:
        f = entity.field(step)
        if f is not None and f.to:
            entity = spec.entity(f.to)
        else:  # a reverse step: '<entity>_by_<field>' (or the entity's name when it has one ref back)
            name, _, via = step.rpartition("_by_")
            entity = spec.entity(name) if name else spec.entity(step)
        if entity is None:
            return None
    return entity.name, last


def check_cross_cycles(checker, computed):
    """Computed fields of several entities that read each other in a circle (through refs and aggregates)
    would never finish being computed: E332, at the first field of the circle. Circles inside one entity
    are reported by ``EntityRules.check_cycles``."""
    reads = {node: {resolve(checker.spec, checker.spec.entity(node[0]), p) for p in expr.paths} & set(computed)
             for node, expr in computed.items()}
    reported = set()

    def visit(node, trail):
        for other in sorted(reads[node]):
            if other in trail:
                cycle = [*trail[trail.index(other):], other]
                if len({e for e, _ in cycle}) > 1 and frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    entity, name = cycle[0]
                    checker.add("E332", "computed fields read each other in a circle: "
                                + " -> ".join(f"{e}.{f}" for e, f in cycle),
                                ("entities", entity, "fields", name, "computed"),
                                "compute one of them from stored fields only")
            elif len(trail) < 50:
                visit(other, [*trail, other])

    for node in sorted(reads):
        visit(node, [node])


class EntityRules:
    def __init__(self, checker, entity):
        self.checker = checker
        self.spec = checker.spec
        self.entity = entity
        self.path = ("entities", entity.name)

    def add(self, code, message, path, hint="", key=False):
        self.checker.add(code, message, path, hint, key=key)

    def expression(self, path, text, **kwargs):
        """Report the problems of an expression; return its ``Expr``, or None when it has problems."""
        problems = expression_problems(self.checker.doc, path, text, spec=self.spec, entity=self.entity.name,
                                       **kwargs)
        self.checker.problems.extend(problems)
        if problems:
            return None
        return compile_expr(text, spec=self.spec, entity=self.entity.name, **kwargs)

    def run(self):
        if not (self.entity.rules or any(f.computed or f.sequence or f.default_expr for f in self.entity.fields)):
            return
        self.check_rules()
        computed = {}
        for f in self.entity.fields:
            fpath = (*self.path, "fields", f.name)
            if f.computed is not None:
                expr = self.check_computed(f, fpath)
                if expr is not None:
                    computed[f.name] = expr
            if f.sequence is not None:
                self.check_sequence(f, fpath)
            if f.default_expr is not None:
                self.check_default(f, fpath)
        self.check_cycles(computed)
        return {(self.entity.name, name): expr for name, expr in computed.items()}

    def check_rules(self):
        seen = set()
        for i, rule in enumerate(self.entity.rules):
            rpath = (*self.path, "rules", i)
            if rule.name in seen:
                self.add("E330", f"'{path_text(rpath)}' is named '{rule.name}' like an earlier rule of "
                         f"'{self.entity.name}'", (*rpath, "name"), "give each rule its own name")
            seen.add(rule.name)
            if rule.field:
                f = self.checker.field_of(self.entity, rule.field, (*rpath, "field"))
                if f and not f.stored:
                    self.add("E333", f"'{path_text(rpath)}.field' is the computed field '{f.name}', which no one "
                             "edits, so a message there could not be acted on", (*rpath, "field"),
                             "show the message on a field the rule's condition reads")
            self.checker.check_labels(rule.message, (*rpath, "message"))
            self.expression((*rpath, "when"), rule.when, kind="bool", allow_old=True)

    def check_computed(self, f, fpath):
        for option in NOT_WITH_COMPUTED:
            if option in f.raw_options:
                self.add("E331", f"'{path_text(fpath)}' is computed, so it cannot also have '{option}'",
                         (*fpath, option), "remove the option: the value comes from the expression", key=True)
        expr = self.expression((*fpath, "computed"), f.computed, kind="value", expect=field_type(f))
        if expr is not None and expr.uses_user:
            self.add("E334", f"'{path_text(fpath)}.computed' reads the user, but a computed value is the same "
                     "for every reader", (*fpath, "computed"), "compute it from the row; limit rows by the user "
                     "in a role's scope instead")
            return None
        return expr

    def check_sequence(self, f, fpath):
        for option in ("default", "default_expr", "computed"):
            if option in f.raw_options:
                self.add("E336", f"'{path_text(fpath)}' is numbered by its sequence, so it cannot also have "
                         f"'{option}'", (*fpath, option), "remove the option", key=True)
        try:
            pieces = sequences.parse(f.sequence)
        except sequences.PatternError as exc:
            self.add("E335", f"'{path_text(fpath)}.sequence' {f.sequence!r}: {exc}", (*fpath, "sequence"),
                     'write e.g. "R-{year}-{seq:05}"')
            return
        shortest = sequences.min_length(pieces)
        if f.storage_length is not None and shortest > f.storage_length:
            self.add("E336", f"'{path_text(fpath)}.sequence' gives numbers of at least {shortest} characters, but "
                     f"the field holds {f.storage_length}", (*fpath, "sequence"), "raise max_length")

    def check_default(self, f, fpath):
        for option in ("default", "computed"):
            if option in f.raw_options:
                self.add("E337", f"'{path_text(fpath)}' has both 'default_expr' and '{option}'",
                         (*fpath, "default_expr"), "keep one way of giving the value", key=True)
        self.expression((*fpath, "default_expr"), f.default_expr, kind="value", allow_row=False,
                        expect=field_type(f))

    def check_cycles(self, computed):
        reads = {name: {p.split(".")[0] for p in expr.paths} & set(computed) for name, expr in computed.items()}
        reported = set()

        def visit(name, trail):
            for other in sorted(reads[name]):
                if other in trail:
                    cycle = [*trail[trail.index(other):], other]
                    if frozenset(cycle) not in reported:
                        reported.add(frozenset(cycle))
                        self.add("E332", f"computed fields of '{self.entity.name}' read each other: "
                                 f"{' -> '.join(cycle)}", (*self.path, "fields", cycle[0], "computed"),
                                 "compute one of them from stored fields only")
                else:
                    visit(other, [*trail, other])

        for name in sorted(reads):
            visit(name, [name])


def check_uses(checker):
    """Report computed and numbered fields in places that need a stored or editable value."""
    spec = checker.spec
    data = checker.doc.data if isinstance(checker.doc.data, dict) else {}

    def unstored(entity_name, name):
        entity = spec.entity(entity_name)
        f = entity.field(name) if entity else None
        return f if f is not None and not f.stored else None

    def given(entity_name, name):
        entity = spec.entity(entity_name)
        f = entity.field(name) if entity else None
        return f if f is not None and (not f.stored or f.sequence is not None) else None

    for entity in spec.entities:
        path = ("entities", entity.name)
        for i, name in enumerate(entity.ordering):
            if unstored(entity.name, name.lstrip("-")):
                checker.add("E333", f"'{path_text(path)}.ordering' sorts by the computed field "
                            f"'{name.lstrip('-')}'", (*path, "ordering", i),
                            "order by stored fields; lists and the API can still sort by it")
        for i, ix in enumerate(entity.indexes):
            for j, name in enumerate(ix.fields):
                if unstored(entity.name, name):
                    checker.add("E333", f"'{path_text(path)}.indexes[{i}]' names the computed field '{name}', "
                                "which has no column", (*path, "indexes", i, "fields", j), "index stored fields")
        if entity.title and unstored(entity.name, entity.title):
            checker.add("E333", f"'{path_text(path)}.title' is the computed field '{entity.title}'",
                        (*path, "title"), "use a stored field as the title (a numbered one is fine)")
        if entity.owner and unstored(entity.name, entity.owner):
            checker.add("E333", f"'{path_text(path)}.owner' is a computed field", (*path, "owner"))
    for wf in spec.workflows:
        if given(wf.entity, wf.field):
            checker.add("E333", f"workflow '{wf.name}' drives '{wf.entity}.{wf.field}', a computed or numbered field",
                        ("workflows", wf.name, "field"), "drive a stored choice field")
    for name, role in (data.get("roles") or {}).items():
        for entity_name, grant in ((role or {}).get("entities") or {}).items():
            gpath = ("roles", name, "entities", entity_name)
            grant = grant or {}
            edit = (grant.get("fields") or {}).get("edit")
            for i, field_name in enumerate(edit if isinstance(edit, list) else ()):
                if given(entity_name, field_name):
                    checker.add("E333", f"'{path_text((*gpath, 'fields', 'edit'))}' lists '{field_name}', which "
                                "the engine fills (computed or numbered)", (*gpath, "fields", "edit", i),
                                "list it under 'view' only")
            for field_name in grant.get("set") or {}:
                if given(entity_name, field_name):
                    checker.add("E333", f"'{path_text((*gpath, 'set'))}' sets '{field_name}', which the engine "
                                "fills (computed or numbered)", (*gpath, "set", field_name),
                                "remove it from 'set'", key=True)
