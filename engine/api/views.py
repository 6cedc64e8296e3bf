"""Generic API views: the entity viewset (specialised per entity by ``engine.build.api``), the API
root, token authentication and the schema."""
from __future__ import annotations

from django.contrib.auth import authenticate
from django.utils.translation import get_language
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from knox.models import AuthToken
from rest_framework import exceptions, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ErrorDetail, NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from .. import content, writes
from ..access import access_for
from ..accounts import twofactor
from ..accounts.throttling import ScopedRateThrottle
from ..spec import ACTIONS as ENTITY_ACTIONS
from ..workflows.runtime import available
from .filters import FilterBackend, OrderingFilter, SearchFilter

# viewset action -> policy action
ACTIONS = {"list": "list", "retrieve": "view", "create": "create", "update": "update",
           "partial_update": "update", "destroy": "delete", "history": "view", "transitions": "view"}


class HistorySerializer(serializers.Serializer):
    """One audit record of a row, as the caller may see it."""

    id = serializers.IntegerField()
    at = serializers.DateTimeField()
    action = serializers.ChoiceField(["create", "update", "delete", "transition"])
    transition = serializers.CharField(allow_null=True)
    actor = serializers.CharField(allow_null=True, help_text="The username, or 'system' for timers and imports.")
    source = serializers.CharField(allow_null=True, help_text="api, page, admin, import or system")
    from_state = serializers.CharField(allow_null=True)
    to_state = serializers.CharField(allow_null=True)
    changes = serializers.DictField(child=serializers.ListField(), help_text="{field: [old, new]}; fields the "
                                    "caller may not see are left out.")
    details = serializers.DictField()


class TransitionSerializer(serializers.Serializer):
    """A transition the caller may fire on the row now (roles, state and guard allow it)."""

    name = serializers.CharField()
    label = serializers.CharField()
    to = serializers.CharField(help_text="The state it leads to.")
    fields = serializers.ListField(child=serializers.CharField(), help_text="The fields it takes as its body.")
    required = serializers.ListField(child=serializers.CharField())
    url = serializers.URLField(help_text="POST here to fire it.")


class HistoryPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = HistorySerializer(many=True)


class EntityViewSet(viewsets.ModelViewSet):
    """CRUD on one entity, everything decided by the access policy of the built version."""

    built = None
    entity_name = None
    api = None  # engine.build.api.EntityApi
    filter_backends = [FilterBackend, SearchFilter, OrderingFilter]
    lookup_value_regex = r"[0-9]+"

    @property
    def access(self):
        return access_for(self.request, self.built)

    @property
    def policy_action(self):
        action = self.action or ""
        return action.removeprefix("transition_") if action.startswith("transition_") else ACTIONS.get(action, action)

    @property
    def fake(self):
        """True while drf-spectacular inspects the view to write the schema."""
        return getattr(self, "swagger_fake_view", False)

    @property
    def everything(self):
        """True when the schema is written without a caller (e.g. from the command line): show every field."""
        if not self.fake:
            return False
        request = getattr(self, "request", None)
        return request is None or not request.user.is_authenticated

    def check_permissions(self, request):
        super().check_permissions(request)
        if self.fake and not self.everything:
            # Writing a caller's schema: an operation is listed only if the caller may run it on some row.
            action, transition = self.policy_action, (self.action or "").startswith("transition_")
            allowed = (writes.allowed(self.access, self.entity_name, action) if transition
                       else self.access.can(self.entity_name, action))
            if not allowed:
                raise exceptions.PermissionDenied()
        if self.action in ("list", "create") and not self.access.can(self.entity_name, self.policy_action):
            # DRF's own exception: the browsable API probes this to decide which forms to show.
            raise exceptions.PermissionDenied(f"You may not {self.policy_action} {self.entity_name}.")

    def expand(self):
        if self.fake:
            return ()
        if not hasattr(self, "_expand"):
            self._expand = self.api.parse_expand(self.request.query_params.get("expand", ""), self.access)
        return self._expand

    def get_queryset(self):
        if self.fake:
            return self.api.model._default_manager.none()
        queryset = self.access.queryset(self.entity_name, self.policy_action)
        return self.api.optimize(queryset, self.access, self.expand())

    def get_object(self):
        obj = self.access.get(self.entity_name, self.kwargs["pk"], self.policy_action,
                              refine=lambda qs: self.api.optimize(qs, self.access, self.expand()))
        self.check_object_permissions(self.request, obj)
        return obj

    def get_serializer_class(self):
        if self.everything:
            return self.api.full_serializer()
        access = self.access
        visible = access.visible_fields(self.entity_name)
        if self.action == "create":
            editable = access.editable_fields(self.entity_name, "create")
            # Its own name in the schema when a create writes other fields than an update.
            purpose = "" if editable == access.editable_fields(self.entity_name, "update") else "Create"
            return self.api.serializer(visible, editable, self.expand(), purpose)
        return self.api.serializer(visible, access.editable_fields(self.entity_name, "update"), self.expand())

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if not self.fake:
            context["access"] = self.access
        return context

    def visible(self):
        return self.api.spec.field_names if self.everything else self.access.visible_fields(self.entity_name)

    @property
    def filterset_class(self):
        return self.api.filterset(self.visible())

    @property
    def search_fields(self):
        visible = self.visible()
        return content.search_names(self.api.spec, [name for name in self.api.spec.search if name in visible])

    @property
    def ordering_fields(self):
        return ["id", *self.api.orderable(self.visible())]

    # Every write goes through ``engine.writes``; its domain errors become 400/409 in ``errors.exception_handler``.

    def perform_create(self, serializer):
        serializer.instance = writes.create(self.access, self.entity_name, dict(serializer.validated_data),
                                            source="api")

    def perform_update(self, serializer):
        writes.update(self.access, self.entity_name, serializer.instance, dict(serializer.validated_data),
                      source="api")

    def perform_destroy(self, instance):
        writes.delete(self.access, self.entity_name, instance, source="api")

    @extend_schema(responses=TransitionSerializer(many=True), filters=False)
    @action(detail=True, methods=["get"], url_path="transitions", filter_backends=[], pagination_class=None)
    def transitions(self, request, pk=None):
        """The transitions the caller may fire on this row now: exactly those whose roles, state and guard
        allow it, with the fields each takes."""
        obj = self.get_object()
        language = self.built.spec.default_language
        return Response(TransitionSerializer([
            {"name": name, "label": t.label.get(get_language(), language), "to": t.target, "fields": list(t.fields),
             "required": list(t.required),
             "url": reverse(f"api:{self.entity_name}-{name}", args=[obj.pk], request=request)}
            for name, t in available(self.access, self.entity_name, obj).items()], many=True).data)

    @extend_schema(responses=HistoryPageSerializer, filters=False)
    @action(detail=True, methods=["get"], url_path="history", filter_backends=[])
    def history(self, request, pk=None):
        """The row's audit trail, oldest first: who changed what and when, transitions with their states.

        Changes to fields the caller may not see are left out.
        """
        obj = self.get_object()
        page = self.paginate_queryset(writes.history(self.access, self.entity_name, obj.pk))
        return self.get_paginated_response(
            HistorySerializer([writes.redact(self.access, self.entity_name, item) for item in page], many=True).data)


class ApiRoot(APIView):
    """The entities this user may use, with their URLs, and the auth and schema endpoints."""

    built = None

    @extend_schema(responses=OpenApiTypes.OBJECT, tags=["api"])
    def get(self, request, format=None):  # noqa: A002  (DRF's signature)
        access = access_for(request, self.built)
        entities = {
            e.name: reverse(f"api:{e.name}-list", request=request, format=format)
            for e in self.built.spec.entities if access.allowed_actions(e.name)
        }
        return Response({
            "entities": entities,
            "auth": {"token": reverse("api:token", request=request), "tokens": reverse("api:tokens", request=request)},
            "schema": reverse("api:schema", request=request),
            "docs": reverse("api:docs", request=request),
        })


class LoginSerializer(serializers.Serializer):
    # As long as Django's own login form allows (the user model's username, 4,096 for a password).
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False, max_length=4096)
    otp = serializers.CharField(required=False, max_length=12,
                                help_text="The code of the user's authenticator app, for roles that require "
                                          "two-factor login.")


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(read_only=True)
    expiry = serializers.DateTimeField(read_only=True, allow_null=True)


class TokenInfoSerializer(serializers.Serializer):
    token_key = serializers.CharField(read_only=True, help_text="The first characters of the token.")
    created = serializers.DateTimeField(read_only=True)
    expiry = serializers.DateTimeField(read_only=True, allow_null=True)


class ObtainToken(APIView):
    """POST username and password, get a token for ``Authorization: Token <token>``."""

    authentication_classes = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "login"
    serializer_class = LoginSerializer

    @extend_schema(request=LoginSerializer, responses=TokenSerializer, tags=["auth"], auth=[])
    def post(self, request):
        data = LoginSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        credentials = {k: data.validated_data[k] for k in ("username", "password")}
        # The Django request: django-axes counts failures and flags a lockout on it.
        user = authenticate(request._request, **credentials)
        if user is None or not user.is_active:
            raise ValidationError({"non_field_errors": ["Unable to log in with the given credentials."]},
                                  code="authorization")
        self.check_two_factor(request, user, data.validated_data.get("otp"))
        instance, token = AuthToken.objects.create(user)
        return Response(TokenSerializer({"token": token, "expiry": instance.expiry}).data, status=status.HTTP_200_OK)

    @staticmethod
    def check_two_factor(request, user, code):
        """Refuse a token to a user whose role requires two-factor login unless ``code`` is valid."""
        if not twofactor.requires_two_factor(getattr(request, "solution", None), user):
            return
        if twofactor.confirmed_device(user) is None:
            raise PermissionDenied(f"Two-factor login is required: enrol an authenticator app at "
                                   f"{twofactor.TWO_FACTOR_PATH} first.", code="two_factor_enrolment_required")
        if not code:
            raise ValidationError({"otp": [ErrorDetail("A two-factor code is required for this account.",
                                                       code="required")]})
        if twofactor.check_code(user, code) is None:
            raise ValidationError({"otp": [ErrorDetail("This code is not valid.", code="invalid")]})


class Tokens(APIView):
    """GET the caller's tokens (their first characters); POST to make a new one."""

    serializer_class = TokenInfoSerializer

    @extend_schema(responses=TokenInfoSerializer(many=True), tags=["auth"])
    def get(self, request):
        tokens = AuthToken.objects.filter(user=request.user).order_by("-created")
        return Response(TokenInfoSerializer(tokens, many=True).data)

    @extend_schema(request=None, responses={201: TokenSerializer}, tags=["auth"])
    def post(self, request):
        instance, token = AuthToken.objects.create(request.user)
        return Response(TokenSerializer({"token": token, "expiry": instance.expiry}).data,
                        status=status.HTTP_201_CREATED)


class TokenDetail(APIView):
    """DELETE one of the caller's tokens (by its first characters): it stops working at once."""

    serializer_class = TokenInfoSerializer

    @extend_schema(responses={204: None}, tags=["auth"])
    def delete(self, request, token_key):
        deleted, _ = AuthToken.objects.filter(user=request.user, token_key=token_key).delete()
        if not deleted:
            raise NotFound()
        return Response(status=status.HTTP_204_NO_CONTENT)


class SchemaView(SpectacularAPIView):
    """The caller's OpenAPI schema: the operations, fields and transitions their roles allow.

    Generated once per version, language and set of abilities (two callers with the same roles, and
    the same object grants, share one schema).
    """

    built = None
    serve_public = False  # list only what the caller may do (drf-spectacular asks each view)
    CACHE_SIZE = 256

    def get(self, request, *args, **kwargs):
        self.urlconf = self.built.urlconf
        cache = self.built.__dict__.setdefault("_schema_cache", {})
        key = (request.LANGUAGE_CODE if hasattr(request, "LANGUAGE_CODE") else "", request.build_absolute_uri("/"),
               abilities(access_for(request, self.built)))
        if key not in cache:
            if len(cache) >= self.CACHE_SIZE:
                cache.clear()
            cache[key] = super().get(request, *args, **kwargs).data
        return Response(cache[key])


def abilities(access):
    """What decides a caller's schema: per entity, the actions and transitions allowed and the fields
    visible and writable."""
    found = []
    for entity in access.policy.built.spec.entities:
        name = entity.name
        actions = [a for a in ENTITY_ACTIONS if access.can(name, a)]
        actions += [t for t in writes.transitions_of(access.policy.built.spec, name)
                    if writes.allowed(access, name, t)]
        found.append((name, tuple(actions), access.visible_fields(name), access.editable_fields(name, "create"),
                      access.editable_fields(name, "update")))
    return tuple(found)


class DocsView(SpectacularSwaggerSplitView):
    """Swagger UI from local static files (drf-spectacular-sidecar), no CDN; its start-up script is a
    separate file, so the Content-Security-Policy needs no inline script."""
