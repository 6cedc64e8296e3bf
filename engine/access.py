"""Access: one policy built from the role specs, used by every consumer (admin, pages, API, exports).

Rows are decided in SQL: a role's scope is an expression (``engine.expr``) compiled to a ``Q`` (to-many
paths through ``EXISTS``), several roles OR their scopes, a role's ``when`` conditions narrow the rows
of an action by their state, and django-guardian's object grants join the same query. Fields are
decided per role (visible, editable, forced on create). A row out of scope is a 404, an action not
allowed a 403, so ids cannot be probed.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from functools import cached_property

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404
from guardian.conf import settings as guardian_settings
from guardian.models import GroupObjectPermission, UserObjectPermission

from .expr import compile_expr, env_for
from .expr.run import pk_of
from .expr.scopes import condition_text, is_expression
from .expr.types import field_type
from .fieldtypes import FieldType
from .spec import ACTIONS, USER

# Which Django (and guardian) permission an action maps to; a transition needs 'change'.
ACTION_CODENAMES = {"list": "view", "view": "view", "create": "add", "update": "change", "delete": "delete"}


class AccessDenied(PermissionDenied):
    """An action the user's roles do not allow (HTTP 403)."""

    status_code = 403
    default_detail = "You may not do this."
    default_code = "permission_denied"


class NotFound(Http404):
    """A row outside the user's scope, answered as if it did not exist (HTTP 404)."""

    status_code = 404
    default_detail = "Not found."
    default_code = "not_found"


@dataclass(frozen=True)
class Rule:
    """One role's grant on one entity, compiled."""

    role: str
    actions: frozenset
    scope: object  # "all", "own" or an Expr
    view: frozenset | None  # None: every field
    edit: frozenset | None
    forced: tuple = ()  # (field, value or Expr)
    when: tuple = ()  # (action, Expr): the action only on rows in that state

    def condition(self, action):
        return next((expr for name, expr in self.when if name == action), None)


@dataclass
class EntityPolicy:
    """The rules of every role for one entity."""

    entity: object  # EntitySpec
    model: type
    rules: dict[str, Rule] = field(default_factory=dict)  # role name -> rule


def _actions(grant, transitions):
    if "all" in grant.actions:
        return frozenset(ACTIONS) | transitions
    return frozenset(grant.actions)


class Policy:
    """The access rules of one built version."""

    def __init__(self, built):
        self.built = built
        spec = built.spec
        transitions = {}
        for wf in spec.workflows:
            transitions.setdefault(wf.entity, set()).update(t.name for t in wf.transitions)
        self.entities = {e.name: EntityPolicy(e, built.models[e.name]) for e in spec.entities}
        self._expressions = {}
        self.group_roles = {}
        for role in spec.roles:
            self.group_roles.setdefault(role.group, []).append(role.name)
            for grant in role.grants:
                entity = spec.entity(grant.entity)
                self.entities[grant.entity].rules[role.name] = Rule(
                    role=role.name, actions=_actions(grant, frozenset(transitions.get(grant.entity, ()))),
                    scope=grant.scope if grant.scope in ("all", "own") else self.expression(
                        condition_text(grant.scope, spec, grant.entity), grant.entity),
                    view=None if grant.view_fields is None else frozenset(grant.view_fields),
                    edit=None if grant.edit_fields is None else frozenset(grant.edit_fields),
                    forced=tuple((name, self.forced_value(entity.field(name), value)) for name, value in grant.forced),
                    when=tuple((action, self.expression(text, grant.entity)) for action, text in grant.when),
                )
        # ref fields whose choices a condition over the target limits: (entity, field) -> Expr
        self.limits = {(e.name, f.name): self.expression(f.limit_choices, f.to)
                       for e in spec.entities for f in e.fields if f.limit_choices}
        self.staff_groups = {role.name: role.group for role in spec.roles if role.staff}
        # Profile entities link one row to one account (a unique ref to the user): whoever may see the
        # row may pick its account in a user ref (an employee picks colleagues of their company).
        self.profiles = tuple(
            (e.name, f.name) for e in spec.entities for f in e.fields
            if f.type is FieldType.REF and f.to == USER and f.unique)
        self._permissions = {}

    def expression(self, text, entity, **options):
        """The compiled expression ``text`` over ``entity`` (compiled once per version; checked before)."""
        key = (text, entity, tuple(sorted(options.items())))
        if key not in self._expressions:
            self._expressions[key] = compile_expr(text, spec=self.built.spec, entity=entity, **options)
        return self._expressions[key]

    def forced_value(self, f, value):
        """A ``set:`` value: the value itself, or an expression over the user and the clock."""
        if not is_expression(f, value):
            return value
        return self.expression(value, None, kind="value", allow_row=False, expect=field_type(f))

    def permission_id(self, model, action):
        """The id of the Django permission ``<action>_<model>`` (looked up once per process)."""
        key = (model._meta.model_name, action)
        if key not in self._permissions:
            ct = ContentType.objects.get_for_model(model)
            self._permissions[key] = Permission.objects.filter(
                content_type=ct, codename=f"{action}_{model._meta.model_name}").values_list("id", flat=True).first()
        return self._permissions[key]

    def roles_of(self, user):
        """The role names a user holds (through groups named like the roles' ``group``)."""
        if user is None or not user.is_authenticated:
            return frozenset()
        return self.groups_of(user)[1]

    def groups_of(self, user):
        """(group ids, role names) of ``user``: remembered on the user object and in the shared cache
        (dropped whenever the user's groups or any group change)."""
        cached = getattr(user, "_cabinet_groups", None)
        if cached is not None and cached[0] is self:
            return cached[1]
        key = f"cabinet:groups:{user.pk}"
        found = cache.get_many([MEMBERSHIP_GENERATION, key])  # one round trip
        generation = found.get(MEMBERSHIP_GENERATION)
        stored = found.get(key)
        if generation is not None and stored is not None and stored[0] == generation:
            groups = stored[1]
        else:
            if generation is None:
                cache.add(MEMBERSHIP_GENERATION, uuid.uuid4().hex, None)
                generation = cache.get(MEMBERSHIP_GENERATION)
            groups = list(user.groups.values_list("id", "name"))
            cache.set(key, (generation, groups), GRANTS_TTL)
        result = (tuple(pk for pk, _ in groups),
                  frozenset(r for _, name in groups for r in self.group_roles.get(name, ())))
        user._cabinet_groups = (self, result)
        return result

    def for_user(self, user):
        """Return the ``Access`` of ``user`` (anonymous when None)."""
        return Access(self, user or AnonymousUser())


class Access:
    """What one user may see and do, answered from the policy; cheap to create per request."""

    def __init__(self, policy, user):
        self.policy = policy
        self.user = user

    @cached_property
    def roles(self):
        return self.policy.roles_of(self.user)

    @cached_property
    def env(self):
        """What expressions read besides the row: this user, their roles, the time of this request."""
        return env_for(self)

    @property
    def is_superuser(self):
        return bool(self.user.is_authenticated and self.user.is_superuser)

    def entity(self, name):
        try:
            return self.policy.entities[name]
        except KeyError:
            raise NotFound() from None

    def rules(self, entity, action=None):
        ep = self.entity(entity)
        return [ep.rules[r] for r in sorted(self.roles) if r in ep.rules
                and (action is None or action in ep.rules[r].actions)]

    # --- actions ---------------------------------------------------------------------------

    def can(self, entity, action):
        """Whether any of the user's roles allows ``action`` on ``entity`` (on some rows)."""
        if self.is_superuser:
            return True
        return bool(self.rules(entity, action)) or (action in ("list", "view", "update", "delete")
                                                    and self._has_grants(entity, action))

    def require(self, entity, action):
        if not self.can(entity, action):
            raise AccessDenied(f"You may not {action} {entity}.")

    def allowed_actions(self, entity):
        if self.is_superuser:
            return frozenset(ACTIONS) | self._transitions(entity)
        found = set()
        for rule in self.rules(entity):
            found |= rule.actions
        return frozenset(found)

    def _transitions(self, entity):
        return frozenset(t.name for wf in self.policy.built.spec.workflows if wf.entity == entity
                         for t in wf.transitions)

    # --- rows ------------------------------------------------------------------------------

    def queryset(self, entity, action="list"):
        """The rows of ``entity`` this user may ``action``: one SQL query, whatever the size."""
        ep = self.entity(entity)
        manager = ep.model._default_manager
        if self.is_superuser:
            return manager.all()
        condition = None
        for rule in self.rules(entity, action):
            q = self.scope_q(ep, rule.scope)
            if q is None:
                continue
            state = rule.condition(action)
            if state is not None:  # e.g. update only while a draft: other rows are visible, not editable
                q &= state.q(self.env)
            if not q:  # scope 'all'
                return manager.all()
            condition = q if condition is None else condition | q
        grants = self._grant_q(ep, action)
        if grants is not None:
            condition = grants if condition is None else condition | grants
        if condition is None:
            return manager.none()
        return manager.filter(condition)

    def get(self, entity, pk, action="view", refine=None):
        """The row ``pk`` if the user may ``action`` it; a row out of scope is a 404, not a 403.

        ``refine`` may add select/prefetch to the queryset the row is read with.
        """
        try:
            pk = int(pk)
        except (TypeError, ValueError):
            raise NotFound() from None
        if not 0 < pk < 2**63:  # primary keys are positive 64-bit integers
            raise NotFound()
        if not self.can(entity, action):
            if action != "view" and self.queryset(entity, "view").filter(pk=pk).exists():
                raise AccessDenied(f"You may not {action} this {entity}.")
            raise NotFound()
        queryset = self.queryset(entity, action)
        try:
            return (refine(queryset) if refine else queryset).get(pk=pk)
        except (ValueError, TypeError, ValidationError):
            raise NotFound() from None
        except self.entity(entity).model.DoesNotExist:
            if action != "view" and self.queryset(entity, "view").filter(pk=pk).exists():
                raise AccessDenied(f"You may not {action} this {entity}.") from None
            raise NotFound() from None

    def scope_q(self, ep, scope):
        """Compile a scope to a ``Q`` (empty for 'all'), or None when it can match nothing for this user."""
        if scope == "all":
            return Q()
        if scope == "own":
            if not self.user.is_authenticated:
                return None
            return Q(**{ep.entity.owner: self.user})
        return scope.q(self.env)

    def condition_q(self, entity, condition):
        """A ``Q`` over ``entity``'s rows for a condition: an expression, or a ``{path: value}`` mapping read
        like a scope (card filters)."""
        text = condition_text(condition, self.policy.built.spec, entity)
        return self.policy.expression(text, entity).q(self.env)

    def ref_choices(self, entity, field, current=None):
        """The rows the user may pick for ref (or many-ref) ``field`` of ``entity``: one rule for every form.

        A ref to an entity offers the rows the user may view that meet the field's ``limit_choices``. A ref
        to the user offers the accounts within the user's reach: themselves, the members of their staff
        roles, and the accounts of the profile rows (entities with a unique ref to the user) they may view.
        Never guardian's anonymous account, never everyone; a superuser may pick any real account. The
        row's ``current`` value(s) (ids or rows) are always among the choices, so an unchanged row saves.
        """
        spec = self.entity(entity).entity.field(field)
        if spec is None or spec.type not in (FieldType.REF, FieldType.REFS):
            raise ValueError(f"'{entity}.{field}' is not a ref")
        if (entity, field) in self.policy.profiles:
            return self._unlinked(entity, field, current)
        rows = self._reachable(spec)
        limit = self.policy.limits.get((entity, field))
        if limit is not None:
            # The limit narrows what may be picked anew; what the row holds stays a choice (within reach).
            kept = _ids(current)
            condition = limit.q(self.env)
            rows = rows.filter(condition | Q(pk__in=kept) if kept else condition)
        return rows

    def current_choices(self, obj, field):
        """The ids ``obj`` holds in ref (or many-ref) ``field``: what ``ref_choices`` keeps for that row."""
        if obj is None or getattr(obj, "pk", None) is None:
            return ()
        model_field = obj._meta.get_field(field)
        if model_field.many_to_many:
            return tuple(getattr(obj, field).values_list("pk", flat=True))
        value = getattr(obj, model_field.attname)
        return () if value is None else (value,)

    def _unlinked(self, entity, field, current):
        """The accounts a profile row (a unique ref to the user) may be linked to: the
        members of the non-staff roles with rights on the entity, with no such row yet, that are not staff
        (no staff role's group, no admin flag), plus the row's own account.

        Reception creating a guest picks among guests' accounts without a guest record: never guardian's
        anonymous account, a colleague, or an account another guest row already holds.
        """
        User = get_user_model()
        if not self.user.is_authenticated:
            return User._default_manager.none()
        ep = self.entity(entity)
        # whose profile this is: members of the non-staff roles that have rights on the entity it links to
        # (a guest's own record; a company's employees, which their colleagues see by company)
        owners = {role.group for role in self.policy.built.spec.roles if not role.staff and role.name in ep.rules}
        members = User.groups.through.objects.filter(group__name__in=owners).values("user_id")
        taken = ep.model._base_manager.filter(**{f"{field}__isnull": False}).values(field)
        staff = User.groups.through.objects.filter(
            group__name__in=set(self.policy.staff_groups.values())).values("user_id")
        free = (Q(pk__in=members, is_staff=False, is_superuser=False) & ~Q(pk__in=taken) & ~Q(pk__in=staff)
                & ~Q(**{User.USERNAME_FIELD: guardian_settings.ANONYMOUS_USER_NAME}))
        if self.is_superuser:  # a superuser may link any real account that has no such row yet
            free = ~Q(pk__in=taken) & ~Q(**{User.USERNAME_FIELD: guardian_settings.ANONYMOUS_USER_NAME})
        kept = _ids(current)
        return User._default_manager.filter(free | Q(pk__in=kept) if kept else free)

    def _reachable(self, spec):
        if spec.to != USER:
            return self.queryset(spec.to, "view")
        User = get_user_model()
        accounts = User._default_manager.exclude(**{User.USERNAME_FIELD: guardian_settings.ANONYMOUS_USER_NAME})
        if self.is_superuser:
            return accounts
        if not self.user.is_authenticated:
            return accounts.none()
        condition = Q(pk=self.user.pk)
        groups = [self.policy.staff_groups[role] for role in self.roles if role in self.policy.staff_groups]
        if groups:
            members = User.groups.through.objects.filter(group__name__in=groups).values("user_id")
            condition |= Q(pk__in=members)
        for profile, link in self.policy.profiles:
            if self.can(profile, "view"):
                condition |= Q(pk__in=self.queryset(profile, "view").values(link))
        return accounts.filter(condition)

    # --- object-level grants (django-guardian) ---------------------------------------------

    def granted_ids(self, entity, action):
        """Ids of ``entity`` rows granted to the user (or their groups) for ``action``, one query, cached.

        The ids are read first and the scope then ORs ``pk IN (ids)``: with no grants the page query is
        exactly the scope query, so PostgreSQL keeps its index plan (an OR with a subquery on guardian's
        tables forces a full scan; see bench/access.py).
        """
        if not self.user.is_authenticated or action not in ("list", "view", "update", "delete"):
            return ()
        key = (entity, ACTION_CODENAMES[action])
        local = self.__dict__.setdefault("_granted", {})
        if key not in local:
            permission = self.policy.permission_id(self.entity(entity).model, ACTION_CODENAMES[action])
            local[key] = () if permission is None else self.granted_object_ids(permission)
        return local[key]

    def _read_grants(self, permission):
        """The old name of ``granted_object_ids``."""
        return self.granted_object_ids(permission)

    def granted_object_ids(self, permission):
        """Ids of the objects on which the user or one of their groups holds ``permission`` (a permission
        id), through the shared cache; any grant or revocation of ``permission`` invalidates it."""
        gen_key = grants_generation_key(permission)
        any_key = f"cabinet:grants-any:{permission}"
        data_key = f"cabinet:grants:{permission}:{self.user.pk}:{','.join(map(str, self.group_ids))}"
        found = cache.get_many([gen_key, any_key, data_key])
        generation = found.get(gen_key)
        if generation is None:
            generation = uuid.uuid4().hex
            cache.add(gen_key, generation, None)
            generation = cache.get(gen_key, generation)
        for key in (any_key, data_key):
            stored = found.get(key)
            if stored is not None and stored[0] == generation and (key == data_key or not stored[1]):
                return () if key == any_key else stored[1]
        users = UserObjectPermission.objects.filter(permission_id=permission)
        groups = GroupObjectPermission.objects.filter(permission_id=permission)
        if any_key not in found or found[any_key][0] != generation:
            # Nobody holds this permission on any row (the usual case): no per-user query until someone does.
            exists = users.exists() or groups.exists()
            cache.set(any_key, (generation, exists), GRANTS_TTL)
            if not exists:
                return ()
        users = users.filter(user=self.user)
        groups = groups.filter(group_id__in=self.group_ids)
        rows = users.values_list("object_pk", flat=True).union(groups.values_list("object_pk", flat=True))
        ids = tuple(sorted({int(pk) for pk in rows if str(pk).isdigit()}))
        cache.set(data_key, (generation, ids), GRANTS_TTL)
        return ids

    @property
    def group_ids(self):
        return self.policy.groups_of(self.user)[0] if self.user.is_authenticated else ()

    def _grant_q(self, ep, action):
        ids = self.granted_ids(ep.entity.name, action)
        return Q(pk__in=ids) if ids else None

    def _has_grants(self, entity, action):
        """Whether the user holds any object grant for ``action`` on ``entity``."""
        return bool(self.granted_ids(entity, action))

    # --- fields ----------------------------------------------------------------------------

    def visible_fields(self, entity):
        """Field names the user may see, in the entity's order."""
        return self._fields(entity, "view")

    def editable_fields(self, entity, action="update"):
        """Field names the user may write; values forced on create, computed values and sequence
        numbers (the engine fills them) are never editable."""
        names = self._fields(entity, "edit", action)
        forced = {name for name, _ in self.forced(entity)} if action == "create" else set()
        spec = self.entity(entity).entity
        filled = {f.name for f in spec.fields if not f.stored or f.sequence is not None}
        return tuple(n for n in names if n not in forced and n not in filled)

    def _fields(self, entity, kind, action=None):
        memo = self.__dict__.setdefault("_field_memo", {})
        key = (entity, kind, action)
        if key not in memo:
            memo[key] = self._compute_fields(entity, kind, action)
        return memo[key]

    def _compute_fields(self, entity, kind, action):
        ep = self.entity(entity)
        allnames = ep.entity.field_names
        if self.is_superuser:
            return allnames
        rules = self.rules(entity, action) if action else self.rules(entity)
        chosen = set()
        for rule in rules:
            names = rule.view if kind == "view" else (rule.edit if rule.edit is not None else rule.view)
            if names is None:
                return allnames
            chosen |= names
        if kind == "view" and not rules and self._has_grants(entity, "view"):
            return allnames
        return tuple(n for n in allnames if n in chosen)

    def forced(self, entity):
        """(field, value) pairs set on create, resolved for this user; the first role that forces a field wins."""
        found = {}
        for rule in self.rules(entity, "create"):
            for name, value in rule.forced:
                found.setdefault(name, value)
        return tuple(found.items())

    def resolved_forced(self, entity):
        """Forced values as model values; raise ``AccessDenied`` when one cannot be resolved (no profile)."""
        ep = self.entity(entity)
        result = {}
        for name, value in self.forced(entity):
            if not hasattr(value, "evaluate"):
                result[name] = value
                continue
            resolved = value.evaluate(self.env, {})
            f = ep.entity.field(name)
            if f.type is FieldType.REF and resolved is not None:
                resolved = self._row(f.to, pk_of(resolved))
            if resolved is None and f.type is FieldType.REF:
                raise AccessDenied(f"Your account has no {_profile_name(value)} to attach this {entity} to.")
            result[name] = resolved
        return result

    def _row(self, entity, pk):
        if entity == USER:
            return self.user if self.user.pk == pk else get_user_model()._default_manager.filter(pk=pk).first()
        return self.policy.entities[entity].model._default_manager.filter(pk=pk).first()

    def input_errors(self, entity, keys, action="update"):
        """{key: [ValidationError]} for input keys the user may not write in ``action``.

        A visible field the user may not edit (or that the server sets, or ``id``) is ``read_only``; a
        hidden field is ``unknown`` like a key the entity does not have, so input cannot probe what is
        hidden. Clients learn about typos instead of having their values dropped.
        """
        editable = set(self.editable_fields(entity, action))
        visible = {"id", *self.visible_fields(entity)}
        errors = {}
        for key in keys:
            if key in editable:
                continue
            if key in visible:
                errors[key] = [ValidationError("This field is read-only.", code="read_only")]
            else:
                hint = ", ".join(sorted(editable)) or "none"
                errors[key] = [ValidationError(f"Unknown field; the fields you may write here: {hint}.",
                                               code="unknown")]
        return errors

    def clean_input(self, entity, data, action="update"):
        """Keep only editable fields of ``data``; reject hidden or read-only ones with field errors."""
        errors = self.input_errors(entity, data, action)
        if errors:
            raise ValidationError(errors)
        clean = dict(data)
        if action == "create":
            clean.update(self.resolved_forced(entity))
        return clean


GRANTS_TTL = 300  # seconds; grants added in bulk (no signals) show within this time, revocations at once


def grants_generation_key(permission_id):
    return f"cabinet:grants-generation:{permission_id}"


def grants_changed(sender, instance, **kwargs):
    """Signal receiver: a guardian grant of this permission was added or removed; cached ids are stale."""
    cache.set(grants_generation_key(instance.permission_id), uuid.uuid4().hex, None)


MEMBERSHIP_GENERATION = "cabinet:groups-generation"


def memberships_changed(sender, instance=None, action="", reverse=False, pk_set=None, **kwargs):
    """Signal receiver: group membership or groups changed; forget the cached memberships."""
    if action and not action.startswith("post_"):
        return
    if action and not reverse and instance is not None:
        cache.delete(f"cabinet:groups:{instance.pk}")  # one user's groups changed
    else:
        cache.set(MEMBERSHIP_GENERATION, uuid.uuid4().hex, None)  # a group, or many users at once


def access_for(request, built):
    """The ``Access`` of the request's user under ``built``, made once per request."""
    cached = getattr(request, "_cabinet_access", None)
    if cached is None or cached.policy is not built.policy or cached.user is not request.user:
        cached = built.policy.for_user(request.user)
        request._cabinet_access = cached
    return cached


def _ids(current):
    """The ids of a ref's current value(s): a row, an id, a list of either, or a related manager."""
    if current is None:
        return []
    if hasattr(current, "all") and not hasattr(current, "pk"):
        current = current.all()
    items = current if isinstance(current, (list, tuple, set, frozenset)) or hasattr(current, "query") else [current]
    return [pk for pk in (pk_of(item) for item in items) if pk is not None]


def _profile_name(expr):
    """The profile entity a forced value comes from (``$user.guest`` -> 'guest'), for the refusal message."""
    path = getattr(expr.node, "c_path", None)
    return path.steps[0].entity if path is not None and path.steps else "profile"
