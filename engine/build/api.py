"""Build one version's REST API from the specs: a viewset, serializers and filters per entity.

What a caller sees and may write comes from the access policy; the classes made for a given set
of visible and editable fields are cached on the built version, so a request builds nothing.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping

import django_filters
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import BigIntegerField, ForeignKey, Prefetch
from django.http import QueryDict
from django.urls import include, path
from django.utils.text import format_lazy
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.settings import api_settings

from ..api import content as content_api
from ..api.filters import FilterSet
from ..api.views import ApiRoot, DocsView, EntityViewSet, ObtainToken, SchemaView, TokenDetail, Tokens
from ..chat import api as chat_api
from ..fieldtypes import FieldType
from ..rules import api as rules_api
from ..spec import USER
from ..writes import state_error, state_fields, transition, transitions_of
from .models import translated

RANGE = ["exact", "gt", "gte", "lt", "lte", "in"]
LOOKUPS = {
    FieldType.INTEGER: RANGE, FieldType.DECIMAL: RANGE, FieldType.MONEY: RANGE, FieldType.DATE: RANGE,
    FieldType.DATETIME: RANGE, FieldType.TIME: RANGE, FieldType.STRING: ["exact", "in"],
    FieldType.CHOICE: ["exact", "in"], FieldType.EMAIL: ["exact", "in"], FieldType.PHONE: ["exact"],
    FieldType.URL: ["exact"], FieldType.BOOLEAN: ["exact"], FieldType.REF: ["exact", "in", "isnull"],
}
BIGINT = {"min_value": -(2**63), "max_value": 2**63 - 1}
FORM_KEYS = {"csrfmiddlewaretoken"}  # sent by HTML forms (the browsable API) beside the fields
NOT_ORDERABLE = {FieldType.REFS, FieldType.JSON, FieldType.TEXT, FieldType.MARKDOWN, FieldType.IMAGE, FieldType.FILE}


class ScopedSerializer(serializers.ModelSerializer):
    """A ModelSerializer whose writable relations accept only rows the caller may see."""

    expansions = {}  # ref name -> nested serializer class, applied to the output only
    checks_input = True  # False for a transition's fields to fill, which its own rule allows

    def to_internal_value(self, data):
        """Validate ``data``, refusing keys the caller may not write (read-only, hidden or unknown)."""
        access = self.context.get("access")
        errors = {}
        if access is not None and isinstance(data, Mapping) and self.checks_input:
            keys = [key for key in data if not (key in FORM_KEYS and isinstance(data, QueryDict))]
            action = "create" if self.instance is None else "update"
            entity = self.Meta.model.spec.name
            keys = {content_api.policy_name(self.Meta.model.spec, key): None for key in keys}  # name_translations
            errors = {key: [serializers.ErrorDetail(e.message, code=e.code) for e in found]
                      for key, found in access.input_errors(entity, keys, action).items()}
            states = state_fields(access.policy.built.spec, entity).keys() & set(access.visible_fields(entity))
            for key in states & set(keys):
                errors[key] = [serializers.ErrorDetail(str(m), code=m.code) for m in state_error(key).fields[key]]
        try:
            value = super().to_internal_value(data)
        except ValidationError as exc:
            if not isinstance(exc.detail, dict):
                raise
            raise ValidationError({**exc.detail, **errors}) from None
        if errors:
            raise ValidationError(errors)
        return value

    def validate(self, attrs):
        attrs = super().validate(attrs)
        self.check_unique(attrs)
        return attrs

    def check_unique(self, attrs):
        """Check unique fields and constraints on the row as it would be saved, forced values included.

        DRF's own validators skip a constraint with a field the client does not send (a value the
        role's ``set`` forces), which left the database to answer with an IntegrityError.
        """
        access = self.context.get("access")
        if access is None:
            return
        model = self.Meta.model
        many = {f.name for f in model._meta.many_to_many}
        values = {name: value for name, value in attrs.items() if name not in many}
        if self.instance is None:
            values.update(access.resolved_forced(model.spec.name))
            candidate = model(**values)
        else:
            candidate = copy.copy(self.instance)
            for name, value in values.items():
                setattr(candidate, name, value)
        try:
            candidate.validate_unique()
            candidate.validate_constraints()
        except DjangoValidationError as exc:
            raise ValidationError(unique_errors(exc, model, access, set(attrs))) from None

    def to_representation(self, instance):
        data = super().to_representation(instance)
        for name, nested in self.expansions.items():
            # The ref was prefetched with the caller's scope: a row they may not see reads as None.
            target = getattr(instance, name, None)
            data[name] = None if target is None else nested(target, context=self.context).data
        return data

    def get_fields(self):
        fields = super().get_fields()
        access = self.context.get("access")
        if access is None:
            return fields
        for name, field in fields.items():
            related = getattr(field, "child_relation", field)
            if related.read_only or getattr(related, "queryset", None) is None:
                continue
            instance = self.instance if isinstance(self.instance, self.Meta.model) else None
            related.queryset = access.ref_choices(  # the pages' rule too
                self.Meta.model.spec.name, name, access.current_choices(instance, name))
        return fields


def unique_errors(exc, model, access, sent):
    """Map Django's unique errors to ``{field: [error]}`` with code ``unique``, on a field the client sent.

    A conflict over several fields goes to the first of them the client sent (else ``non_field_errors``);
    the message names only fields the caller may see.
    """
    spec = model.spec
    visible = set(access.visible_fields(spec.name))
    errors = {}
    for key, found in exc.error_dict.items():
        for error in found:
            fields = tuple((error.params or {}).get("unique_check") or ((key,) if key != NON_FIELD_ERRORS else ()))
            target = next((f for f in fields if f in sent), None) or (
                key if key in sent else api_settings.NON_FIELD_ERRORS_KEY)
            if error.code not in ("unique", "unique_together"):  # another constraint: its own words
                if error.code == "rule" and key != NON_FIELD_ERRORS:
                    target = key  # an entity rule names the field its message belongs to
                message = error.messages[0]
                if target == api_settings.NON_FIELD_ERRORS_KEY and key != NON_FIELD_ERRORS:
                    message = f"{key}: {message}"  # a field the client did not send: name it
                errors.setdefault(target, []).append(serializers.ErrorDetail(message, code=error.code))
                continue
            shown = [str(model._meta.get_field(f).verbose_name) for f in fields if f in visible]
            message = (f"A {model._meta.verbose_name} with this {' and '.join(shown)} already exists." if shown
                       else f"This {model._meta.verbose_name} already exists.")
            errors.setdefault(target, []).append(serializers.ErrorDetail(message, code="unique"))
    return errors


class EntityApi:
    """The API pieces of one entity in one built version."""

    def __init__(self, built, spec):
        self.built = built
        self.spec = spec
        self.model = built.models[spec.name]
        self.states = frozenset(state_fields(built.spec, spec.name))
        self.cache = {}

    def describe(self, name):
        """The field's label (and help) in the language of the request, for the schema."""
        f = self.spec.field(name)
        lang = self.built.spec.default_language
        if not f.help.texts:
            return translated(f.label, lang)
        return format_lazy("{}. {}", translated(f.label, lang), translated(f.help, lang))

    def serializer(self, visible, editable, expand=(), purpose=""):
        """The serializer class for these visible/editable fields and expansions (made once).

        An expansion changes only what a row renders as: the ref stays a writable id on input, so
        ``?expand=`` never changes what a create, update or transition accepts.
        """
        key = ("serializer", tuple(visible), tuple(editable), expand, purpose)
        if key not in self.cache:
            if purpose == "Transition":
                self.cache[key] = type(f"{self.spec.class_name}{purpose}Serializer", (ScopedSerializer,), {
                    "checks_input": False,
                    "Meta": type("Meta", (), {"model": self.model, "fields": list(editable),
                                              "extra_kwargs": {n: {"help_text": self.describe(n)} for n in editable}}),
                })
                return self.cache[key]
            nested = {name: self.built.api.entity(target).serializer(target_visible, ())
                      for name, target, target_visible in expand}
            meta = type("Meta", (), {
                "model": self.model,
                "fields": ["id", *visible],
                # The workflow's state changes only through transitions (POST /<id>/<transition>/).
                "read_only_fields": [n for n in visible if n not in editable or n in self.states],
                "extra_kwargs": {n: {"help_text": self.describe(n), **self.optional(n)} for n in visible},
            })
            name = f"{self.spec.class_name}{purpose}Serializer"
            computed = rules_api.serializer_fields(self.spec, visible, self.describe)  # read-only, typed
            computed.update(content_api.serializer_fields(self.built.spec, self.spec, visible, editable,
                                                          self.describe))  # each language, name_translations
            meta.fields = list(dict.fromkeys([*meta.fields, *computed]))
            meta.extra_kwargs = {n: kw for n, kw in meta.extra_kwargs.items() if n not in computed}
            meta.read_only_fields = [n for n in meta.read_only_fields if n not in computed]
            self.cache[key] = type(name, (ScopedSerializer,), {"Meta": meta, "expansions": nested, **computed})
        return self.cache[key]

    def optional(self, name):
        """A field with a ``default_expr`` may be left out: the write path fills it."""
        f = self.spec.field(name)
        return {"required": False} if f is not None and f.default_expr is not None else {}

    def full_serializer(self):
        """Every field, as the schema shows the entity (each caller gets the subset their role allows)."""
        names = self.spec.field_names
        return self.serializer(names, names)

    def filterset(self, visible):
        """A FilterSet over the visible fields: exact, ranges and 'in'; refs by id, never by lookup."""
        key = ("filterset", tuple(visible))
        if key not in self.cache:
            fields = {f.name: LOOKUPS[f.type] for f in self.spec.fields
                      if f.name in visible and f.type in LOOKUPS and f.stored}
            meta = type("Meta", (), {
                "model": self.model,
                "fields": fields,
                # A ref filters by id: no check that the id exists, so ids out of scope cannot be probed.
                # Whole numbers are bounded to what the database stores (a bigger one is a 400, not a 500).
                "filter_overrides": {
                    ForeignKey: {"filter_class": django_filters.NumberFilter, "extra": lambda f: BIGINT},
                    BigIntegerField: {"filter_class": django_filters.NumberFilter, "extra": lambda f: BIGINT},
                },
            })
            computed = rules_api.filters(self.spec, visible)  # over the annotated values
            self.cache[key] = type(f"{self.spec.class_name}FilterSet", (FilterSet,), {"Meta": meta, **computed})
        return self.cache[key]

    def orderable(self, visible):
        return [f.name for f in self.spec.fields if f.name in visible and f.type not in NOT_ORDERABLE]

    def parse_expand(self, text, access):
        """Read ``?expand=a,b``: refs to entities the caller may view; else a 400 naming the field."""
        found = []
        visible = access.visible_fields(self.spec.name)
        names = dict.fromkeys(filter(None, (part.strip() for part in text.split(","))))  # 'a,a' is 'a'
        for name in names:
            f = self.spec.field(name)
            if f is None or name not in visible or f.type is not FieldType.REF or f.to == USER \
                    or not access.can(f.to, "view"):
                raise ValidationError({"expand": [f"'{name}' cannot be expanded; expandable: "
                                                  f"{', '.join(self.expandable(access)) or 'none'}"]})
            target_visible = tuple(n for n in access.visible_fields(f.to)
                                   if self.built.spec.entity(f.to).field(n).type is not FieldType.REFS)
            found.append((name, f.to, target_visible))
        return tuple(found)

    def expandable(self, access):
        visible = access.visible_fields(self.spec.name)
        return [f.name for f in self.spec.fields if f.name in visible and f.type is FieldType.REF
                and f.to != USER and access.can(f.to, "view")]

    def optimize(self, queryset, access, expand):
        """Prefetch many refs and expanded refs (scoped), so queries do not grow with the rows."""
        visible = set(access.visible_fields(self.spec.name))
        many = [f.name for f in self.spec.fields if f.type is FieldType.REFS and f.name in visible]
        expanded = [Prefetch(name, queryset=access.queryset(target, "view")) for name, target, _ in expand]
        return queryset.prefetch_related(*many, *expanded)

    def viewset(self):
        """The viewset class of this entity, with one POST action per workflow transition."""
        attrs = {"built": self.built, "entity_name": self.spec.name, "api": self}
        for name in transitions_of(self.built.spec, self.spec.name):
            attrs[f"transition_{name}"] = _transition_action(name, self)
        tag = str(self.spec.plural.get(self.built.spec.default_language))
        schema = {action: extend_schema(tags=[tag]) for action in
                  ("list", "retrieve", "create", "update", "partial_update", "destroy")}
        cls = type(f"{self.spec.class_name}ViewSet", (EntityViewSet,), attrs)
        return extend_schema_view(**schema)(cls)


def _transition_action(name, api):
    _wf, spec = transitions_of(api.built.spec, api.spec.name)[name]
    fillable = tuple(getattr(spec, "fields", ()) or ())

    def handler(self, request, pk=None):
        obj = self.get_object()
        transition(self.access, self.entity_name, obj, name, transition_input(self, obj, fillable), source="api")
        return Response(self.get_serializer(obj).data)

    handler.__name__ = f"transition_{name}"
    handler.__doc__ = f"Fire the workflow transition '{name}' on one {api.spec.name}."
    # The response is the caller's own view of the row (get_serializer_class), as in the other operations.
    request = api.serializer(fillable, fillable, (), "Transition") if fillable else None
    handler = extend_schema(request=request, tags=[str(api.spec.plural.get(api.built.spec.default_language))])(handler)
    return action(detail=True, methods=["post"], url_path=name, url_name=name)(handler)


def transition_input(view, obj, fillable):
    """The values of the fields a transition fills, validated like any input; any other key is a 400."""
    data = view.request.data
    if not isinstance(data, Mapping):
        raise ValidationError({api_settings.NON_FIELD_ERRORS_KEY: ["Send the fields to fill as an object."]})
    keys = [key for key in data if not (key in FORM_KEYS and isinstance(data, QueryDict))]
    hint = ", ".join(fillable) or "none"
    unknown = {key: [serializers.ErrorDetail(f"This transition does not fill this field; it fills: {hint}.",
                                             code="unknown")] for key in keys if key not in fillable}
    if unknown:
        raise ValidationError(unknown)
    if not keys:
        return {}
    serializer = view.api.serializer(fillable, fillable, (), "Transition")(
        obj, data=data, partial=True, context=view.get_serializer_context())
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class BuiltApi:
    """The API of one built version: per-entity pieces and the URL patterns."""

    def __init__(self, built):
        self.built = built
        self.entities = {e.name: EntityApi(built, e) for e in built.spec.entities}

    def entity(self, name):
        return self.entities[name]

    def urlpatterns(self):
        router = SimpleRouter()
        for name, api in self.entities.items():
            router.register(name, api.viewset(), basename=name)
        patterns = [
            path("", ApiRoot.as_view(built=self.built), name="root"),
            path("auth/token/", ObtainToken.as_view(), name="token"),
            path("auth/tokens/", Tokens.as_view(), name="tokens"),
            path("auth/tokens/<str:token_key>/", TokenDetail.as_view(), name="token-detail"),
            path("schema/", SchemaView.as_view(built=self.built), name="schema"),
            path("docs/", DocsView.as_view(url_name="api:schema"), name="docs"),
            *chat_api.urlpatterns(self.built),
            *router.urls,
        ]
        return [path("api/", include((patterns, "api"), namespace="api"))]
