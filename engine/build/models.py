"""Build real Django model classes from entity specs.

Models are built into an ``Apps`` registry of their own (one per built version, or per
migration state), so a new version is built beside the one serving requests; the registry
swaps them into Django's app registry in one step (see ``engine.registry``).
"""
from __future__ import annotations

import copy
import datetime as dt
import hashlib

from django.apps import AppConfig
from django.apps.registry import Apps
from django.contrib.auth import get_user_model
from django.core import validators
from django.core.exceptions import ValidationError
from django.db import connection, models
from django.db.models import F, Func, Value
from django.db.models.functions import Coalesce, Now
from django.db.models.lookups import IsNull
from django.utils import timezone
from django.utils.functional import lazy
from django.utils.translation import get_language

from ..content import translation_fields
from ..display import display
from ..fieldtypes import PHONE_RE, FieldType, parse_value
from ..spec import USER

APP_LABEL = "cabinet"
ON_DELETE = {"cascade": models.CASCADE, "protect": models.PROTECT, "set_null": models.SET_NULL,
             "restrict": models.RESTRICT}


def _label_text(label, default_language):
    return label.get(get_language(), default_language)


_lazy_label = lazy(_label_text, str)  # made once: lazy() builds a class per call


def translated(label, default_language):
    """Return a lazy string that renders ``label`` in the language active when it is shown."""
    return _lazy_label(label, default_language)


class URLField(models.URLField):
    """A URL field whose form field assumes https for bare domains (Django 6's default)."""

    def formfield(self, **kwargs):
        return super().formfield(**{"assume_scheme": "https", **kwargs})


class DateTimeField(models.DateTimeField):
    """A datetime stored and compared in UTC, whatever offset it arrived with.

    PostgreSQL refuses offsets beyond ±15:59 that Python accepts (``+21:39``); converting first makes
    any valid instant storable and any out-of-range one a validation error, not a database error.
    """

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            try:
                return value.astimezone(dt.UTC)
            except OverflowError:
                raise ValidationError(f"{value.isoformat()} is out of range.", code="invalid") from None
        return value


class Constant:
    """A callable default that hands out a fresh copy of a JSON value."""

    def __init__(self, value):
        self.value = value

    def __call__(self):
        return copy.deepcopy(self.value)

    def __eq__(self, other):
        return isinstance(other, Constant) and other.value == self.value

    def __hash__(self):
        return hash(repr(self.value))


def nullable(f):
    """Whether the column of ``f`` accepts NULL: optional fields, except texts that are not unique."""
    if f.required or f.type is FieldType.REFS:
        return False
    if f.type.is_textual and not f.unique:
        return False  # blank texts store '' as Django does
    return True


def default_of(f):
    """The Django default for ``f`` (a value or a callable), or NOT_PROVIDED."""
    if not f.has_default or f.default is None:
        return models.NOT_PROVIDED
    if f.type is FieldType.JSON:
        return Constant(f.default)
    value = parse_value(f.type, f.default, f.choice_values)
    if value == "now":
        return timezone.now
    if value == "today":
        return timezone.localdate
    return value


class CurrentDate(Func):
    """SQL's ``CURRENT_DATE`` (PostgreSQL and SQLite alike), usable as a column default."""

    template = "CURRENT_DATE"
    arity = 0
    output_field = models.DateField()
    allowed_default = True


class CurrentTime(Func):
    """SQL's ``CURRENT_TIME``, usable as a column default (``Now()`` would store a datetime on SQLite)."""

    template = "CURRENT_TIME"
    arity = 0
    output_field = models.TimeField()
    allowed_default = True


def db_default_of(f):
    """The database default of ``f``'s column (Django's ``db_default``), or NOT_PROVIDED.

    Columns carry their defaults in the database so that a process still serving the previous
    version, whose models do not know a new column, can insert while a publish lands: a new boolean,
    a required field with a default and an optional text (stored NOT NULL as '') all get one. A
    required field without a default has none: no value would be right.
    """
    if f.type in (FieldType.REF, FieldType.REFS):
        return models.NOT_PROVIDED
    if f.has_default and f.default is not None:
        if f.type is FieldType.JSON:
            return Constant(f.default)()  # Django renders it as the JSON literal of the column
        value = parse_value(f.type, f.default, f.choice_values)
        if value == "now":
            return CurrentTime() if f.type is FieldType.TIME else Now()
        if value == "today":
            return CurrentDate()
        return value
    if f.type is FieldType.BOOLEAN:
        return False
    if f.type.is_textual and not nullable(f) and not f.unique:
        return ""
    return models.NOT_PROVIDED


def index_name(entity_name, fields, unique):
    """A stable index name under 30 characters, unique per entity and field list."""
    digest = hashlib.sha1(f"{entity_name}:{','.join(fields)}:{unique}".encode()).hexdigest()[:8]  # noqa: S324
    stem = f"{entity_name[:10]}_{'_'.join(fields)[:8]}".rstrip("_")
    return f"{stem}_{'u' if unique else 'i'}{digest}"


def _common(f, lang):
    kwargs = {
        "verbose_name": translated(f.label, lang),
        "help_text": translated(f.help, lang) if f.help.texts else "",
        "null": nullable(f),
        "blank": not f.required,
        "unique": f.unique,
        "db_index": f.indexed,
        "db_column": f.column if f.type is not FieldType.REF else None,
    }
    default = default_of(f)
    if default is not models.NOT_PROVIDED:
        kwargs["default"] = default
    db_default = db_default_of(f)
    if db_default is not models.NOT_PROVIDED:
        kwargs["db_default"] = db_default
    return kwargs


def _length_validators(f):
    found = []
    if f.min_length:
        found.append(validators.MinLengthValidator(f.min_length))
    if f.max_length and f.type.info.storage == "text":
        found.append(validators.MaxLengthValidator(f.max_length))
    return found


def _range_validators(f):
    found = []
    if f.min_value is not None:
        found.append(validators.MinValueValidator(f.min_value))
    if f.max_value is not None:
        found.append(validators.MaxValueValidator(f.max_value))
    return found


def make_field(entity, f, targets, lang):
    """Build the Django field for field spec ``f`` of ``entity``; ``targets`` maps entity names to specs."""
    kw = _common(f, lang)
    t = f.type
    if t in (FieldType.STRING, FieldType.PHONE):
        extra = [validators.RegexValidator(PHONE_RE, "Enter a valid phone number.")] if t is FieldType.PHONE else []
        return models.CharField(max_length=f.storage_length, validators=_length_validators(f) + extra, **kw)
    if t in (FieldType.TEXT, FieldType.MARKDOWN):
        return models.TextField(validators=_length_validators(f), **kw)
    if t is FieldType.EMAIL:
        return models.EmailField(max_length=f.storage_length, **kw)
    if t is FieldType.URL:
        return URLField(max_length=f.storage_length, **kw)
    if t is FieldType.CHOICE:
        choices = [(c.value, translated(c.label, lang)) for c in f.choices]
        return models.CharField(max_length=f.storage_length, choices=choices, **kw)
    if t is FieldType.INTEGER:
        return models.BigIntegerField(validators=_range_validators(f), **kw)
    if t in (FieldType.DECIMAL, FieldType.MONEY):
        return models.DecimalField(max_digits=f.max_digits, decimal_places=f.decimal_places,
                                   validators=_range_validators(f), **kw)
    if t is FieldType.BOOLEAN:
        kw.setdefault("default", False)
        kw["null"] = False
        return models.BooleanField(**kw)
    simple = {FieldType.DATE: models.DateField, FieldType.DATETIME: DateTimeField,
              FieldType.TIME: models.TimeField, FieldType.JSON: models.JSONField}
    if t in simple:
        return simple[t](**kw)
    if t in (FieldType.IMAGE, FieldType.FILE):
        cls = models.ImageField if t is FieldType.IMAGE else models.FileField
        return cls(upload_to=f"{entity.name}/{f.name}/%Y/%m/", max_length=f.storage_length, **kw)
    # A lazy "app.Model" reference resolves inside this build's own registry, in any order.
    target = get_user_model() if f.to == USER else f"{APP_LABEL}.{targets[f.to].class_name}"
    related = f"cabinet_{entity.name}_{f.name}+" if f.to == USER else f"{entity.name}_by_{f.name}"
    if t is FieldType.REF:
        kw.pop("db_column")
        return models.ForeignKey(target, on_delete=ON_DELETE[f.on_delete], related_name=related,
                                 related_query_name=related.rstrip("+"), **kw)
    for key in ("null", "unique", "db_index", "db_column", "default"):
        kw.pop(key, None)
    return models.ManyToManyField(target, related_name=related, db_table=f"{entity.table}_{f.name}", **kw)


def _str_method(entity):
    title = entity.field(entity.title) if entity.title else None

    def __str__(self):  # the spec comes from the closure: a field may be named like any model attribute
        if title:
            text = display(self, title)  # localized: dates and numbers as the reader writes them
            if text:
                return text
        return f"{self._meta.verbose_name} #{self.pk}"
    return __str__


def unique_constraint(entity, ix):
    """The unique constraint of index ``ix``; with ``nulls_distinct: false`` empty values count as equal.

    PostgreSQL 15+ says so natively (``NULLS NOT DISTINCT``). SQLite gets a unique index over
    expressions: ``COALESCE(f, '')`` with ``f IS NULL`` beside it, so NULL equals NULL but never a
    stored ''. Other databases get a plain unique constraint; the planner refuses to publish there.
    """
    name = ix.name or index_name(entity.name, ix.fields, True)
    if ix.nulls_distinct:
        return models.UniqueConstraint(fields=list(ix.fields), name=name)
    if connection.features.supports_nulls_distinct_unique_constraints:
        return models.UniqueConstraint(fields=list(ix.fields), name=name, nulls_distinct=False)
    if connection.vendor != "sqlite":
        return models.UniqueConstraint(fields=list(ix.fields), name=name)
    expressions = []
    for field_name in ix.fields:
        f = entity.field(field_name)
        if f is not None and nullable(f):
            expressions += [Coalesce(F(field_name), Value(""), output_field=models.TextField()),
                            IsNull(F(field_name), True)]
        else:
            expressions.append(F(field_name))
    return models.UniqueConstraint(*expressions, name=name)


def make_meta(entity, apps, lang, entities=()):
    indexes = [models.Index(fields=list(ix.fields), name=ix.name or index_name(entity.name, ix.fields, False))
               for ix in entity.indexes if not ix.unique]
    constraints = [unique_constraint(entity, ix) for ix in entity.indexes if ix.unique]
    if entity.rules:  # row-local rules hold in the database too (engine/rules)
        from ..rules.compile import rule_constraints

        constraints += rule_constraints(entity, entities, lang)
    attrs = {
        "app_label": APP_LABEL,
        "apps": apps,
        "db_table": entity.table,
        "verbose_name": translated(entity.label, lang),
        "verbose_name_plural": translated(entity.plural, lang),
        "ordering": list(entity.ordering) or ["id"],
        "indexes": indexes,
        "constraints": constraints,
    }
    return type("Meta", (), attrs)


class _LabelConfig(AppConfig):
    """The ``cabinet`` app of one build's own registry: only a label and the models built into it."""

    def __init__(self, label):  # no module to import: the models are made by ``build_models``
        self.apps = None
        self.models = {}
        self.label = self.name = label
        self.path = ""

    def import_models(self):
        self.models = self.apps.all_models[self.label]


def new_apps():
    """Return an empty model registry that knows the user model, for one build.

    The registry has an app config for the ``cabinet`` label, so ``get_models()`` lists the built
    models and each model finds its reverse relations (``<entity>_by_<field>``) in its own build.
    Without it a model's reverse relations were found only when Django's global registry happened
    to compute them after a swap: a rebuilt version lost them and prefetching ``refs`` failed. The
    user model is registered but has no app config here, so this build never overwrites the user
    model's reverse relations, which belong to the global registry.
    """
    apps = Apps(installed_apps=[_LabelConfig(APP_LABEL)])
    user = get_user_model()
    apps.register_model(user._meta.app_label, user)
    return apps


class BuiltModels:
    """The models of one build and their entities, as expressions of computed fields look them up."""

    def __init__(self, models, entities):
        from ..rules.compile import solution_of

        self.models = models
        self.spec = solution_of(entities)


def computed_attributes(entity, entities):
    """The model attributes of ``entity``'s computed fields: values annotated by the default manager."""
    from ..rules.compile import computed_exprs
    from ..rules.computed import ComputedManager, ComputedValue

    exprs = computed_exprs(entity, entities)
    attrs = {"_computed": tuple(exprs), "objects": ComputedManager()}
    attrs.update({f.name: ComputedValue(f.name) for f, _ in exprs})
    return attrs


class BuildError(Exception):
    """The specs could not be built (a reference the checks should have caught)."""


def build_models(entities, lang="en", apps=None):
    """Build one model class per entity spec into ``apps``; return ``{entity name: model}``."""
    apps = apps or new_apps()
    specs = {e.name: e for e in entities}
    built = {}
    for entity in entities:
        attrs = {
            "__module__": f"engine.build.{APP_LABEL}",
            "Meta": make_meta(entity, apps, lang, entities),
            "__str__": _str_method(entity),
            "spec": entity,
        }
        for f in entity.fields:
            if f.stored:
                attrs[f.name] = make_field(entity, f, specs, lang)
            for column in translation_fields(f):  # the other languages' values (engine/content.py)
                attrs[column.name] = make_field(entity, column, specs, lang)
        if not all(f.stored for f in entity.fields):
            attrs.update(computed_attributes(entity, entities))
        built[entity.name] = type(entity.class_name, (models.Model,), attrs)
    for model in built.values():
        if hasattr(model, "_computed"):  # what computed values read: the models of this same build
            model._computed_built = BuiltModels(built, entities)
    if apps._pending_operations:
        missing = ", ".join(f"{label}.{name}" for label, name in apps._pending_operations)
        raise BuildError(f"references to models that were not built: {missing}")
    return built
