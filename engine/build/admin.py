"""Build a Django admin site for one version: every entity registered for staff, behind the policy.

Staff see in the admin exactly what their roles allow elsewhere: the rows of their scope, the
actions of their roles, their visible fields (others are not shown) and editable fields (the rest
read-only); values forced on create are set by the server. Every save and delete goes through
``engine.writes``: the same validation, rules, audit and webhooks as pages and API; the workflow's
state is read-only here (transitions change it), and a refusal is shown on the form or as a message.
"""
from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.widgets import ForeignKeyRawIdWidget
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.http import HttpResponseBadRequest, HttpResponseRedirect
from django.utils.translation import gettext as _

from .. import content, writes
from ..access import access_for
from ..display import Refs
from ..fieldtypes import FieldType
from ..pages.forms import CabinetModelForm

NUL = "\x00"

LIST_TYPES = {FieldType.STRING, FieldType.CHOICE, FieldType.INTEGER, FieldType.DECIMAL, FieldType.MONEY,
              FieldType.BOOLEAN, FieldType.DATE, FieldType.DATETIME, FieldType.TIME, FieldType.EMAIL,
              FieldType.PHONE, FieldType.REF}


class ScopedRawIdWidget(ForeignKeyRawIdWidget):
    """A raw id input that names the chosen row only when the reader may pick it (no titles out of scope)."""

    def __init__(self, rel, admin_site, choices, **kwargs):
        super().__init__(rel, admin_site, **kwargs)
        self.choices_queryset = choices

    def label_and_url_for_value(self, value):
        if value in (None, "") or not self.choices_queryset.filter(pk=value).exists():
            return "", ""
        return super().label_and_url_for_value(value)


class CabinetAdminSite(admin.AdminSite):
    site_header = "Cabinet administration"
    site_title = "Cabinet admin"
    index_title = "Solution data"


class PolicyAdmin(admin.ModelAdmin):
    """A ModelAdmin that asks the access policy for rows, actions and fields."""

    built = None
    entity_name = None
    form = CabinetModelForm

    def get_form(self, request, obj=None, change=False, **kwargs):
        """The admin form: forced values join a new row before validation (unique indexes), a posted
        state is refused, and a refusal of the write path (``changeform_view``) shows on the form."""
        request._cabinet_obj = obj  # the ref inputs keep the row's current values among their choices
        form_class = super().get_form(request, obj, change=change, **kwargs)
        access = self.access(request)
        states = frozenset(writes.state_fields(self.built.spec, self.entity_name))

        class PolicyForm(form_class):
            def full_clean(self):
                if self.is_bound and not change:
                    self.force(access.resolved_forced(self._meta.model.spec.name))
                super().full_clean()
                refusal = getattr(request, "_cabinet_refusal", None)
                if self.is_bound and refusal is not None:
                    self.refuse(refusal)

        PolicyForm.states = states
        return PolicyForm

    def access(self, request):
        return access_for(request, self.built)

    def get_queryset(self, request):
        qs = self.access(request).queryset(self.entity_name, "list")
        ordering = self.get_ordering(request)
        return qs.order_by(*ordering) if ordering else qs

    def has_module_permission(self, request):
        return bool(self.access(request).allowed_actions(self.entity_name)) or self.access(request).can(
            self.entity_name, "view")

    def has_view_permission(self, request, obj=None):
        return self._allowed(request, "view", obj) or self._allowed(request, "update", obj)

    def has_add_permission(self, request):
        return self.access(request).can(self.entity_name, "create")

    def has_change_permission(self, request, obj=None):
        return self._allowed(request, "update", obj)

    def has_delete_permission(self, request, obj=None):
        return self._allowed(request, "delete", obj)

    def _allowed(self, request, action, obj):
        access = self.access(request)
        if not access.can(self.entity_name, action):
            return False
        return obj is None or access.queryset(self.entity_name, action).filter(pk=obj.pk).exists()

    def get_readonly_fields(self, request, obj=None):
        access = self.access(request)
        editable = set(access.editable_fields(self.entity_name, "create" if obj is None else "update"))
        editable -= set(writes.state_fields(self.built.spec, self.entity_name))  # transitions change the state
        names = [name for name in access.visible_fields(self.entity_name) if name not in editable]
        names = content.form_names(self.built.spec.entity(self.entity_name), names)  # their languages too
        return names + [self.ref_readonly[name] for name in names if name in self.ref_readonly]

    def get_list_filter(self, request):
        visible = set(self.access(request).visible_fields(self.entity_name))
        return [name for name in self.list_filter if name in visible]

    def get_search_fields(self, request):
        visible = set(self.access(request).visible_fields(self.entity_name))
        entity = self.built.spec.entity(self.entity_name)
        return content.search_names(entity, [name for name in entity.search if name in visible])

    def lookup_allowed(self, lookup, value, request=None):
        """Allow only the lookups of the list filters the user sees.

        Django allows any lookup on the model's own fields; here that would let staff probe hidden fields
        (``?secret__startswith=a``) and send values no column can hold (``?guest=99999999999999999999``).
        A refused lookup is answered by the changelist as 'invalid lookup', never a 500.
        """
        name, _sep, rest = lookup.partition("__")
        if request is None or name not in self.get_list_filter(request) or rest not in ("", "exact", "isnull"):
            return False
        return super().lookup_allowed(lookup, value, request)

    def changelist_view(self, request, extra_context=None):
        """The changelist; a NUL byte in any parameter is a 400 (PostgreSQL refuses NUL in strings)."""
        if any(NUL in key or NUL in value for key, values in request.GET.lists() for value in values):
            return HttpResponseBadRequest("A query parameter contains a NUL character.")
        try:
            return super().changelist_view(request, extra_context)
        except writes.DomainError as refusal:  # a bulk action the write path refused: nothing was changed
            messages.error(request, _("Nothing was changed: %(reason)s") % {"reason": refusal.message})
            return HttpResponseRedirect(request.get_full_path())

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        """The add and change forms; a write that collides with one saved meanwhile is a message, not a 500.

        The form checks unique fields and indexes first; only a concurrent save can get past that, and
        Django's own atomic block has rolled it back by the time the error arrives here.
        """
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except writes.RuleViolation as refusal:
            # Rolled back; the same post is shown again with the refusal on its fields (see get_form).
            request._cabinet_refusal = refusal
            return super().changeform_view(request, object_id, form_url, extra_context)
        except writes.DomainError as refusal:
            text = refusal.message if refusal.code != "conflict" else _(
                "A row with these values already exists; it was saved in the meantime.")
            messages.error(request, text)
            return HttpResponseRedirect(request.get_full_path())
        except IntegrityError:
            messages.error(request, _("A row with these values already exists; it was saved in the meantime."))
            return HttpResponseRedirect(request.get_full_path())

    def delete_view(self, request, object_id, extra_context=None):
        """The delete confirmation; a delete the write path refuses is a message on the row's page."""
        try:
            return super().delete_view(request, object_id, extra_context)
        except writes.DomainError as refusal:
            messages.error(request, _("Not deleted: %(reason)s") % {"reason": refusal.message})
            return HttpResponseRedirect(request.get_full_path())

    def get_list_display(self, request):
        visible = set(self.access(request).visible_fields(self.entity_name))
        columns = [name for name in self.list_display if name in visible] or ["__str__"]
        return [self.ref_columns.get(name, name) for name in columns]

    def get_object(self, request, object_id, from_field=None):
        """The row, told how its refs show to this reader (read-only refs on the change form)."""
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            obj.cabinet_refs = Refs(self.access(request), self.built.spec, self.built.spec.currency)
        return obj

    def get_changelist_instance(self, request):
        """The changelist, its rows told (one query per referenced entity) which refs the reader may see."""
        changelist = super().get_changelist_instance(request)
        spec = self.built.spec
        refs = Refs(self.access(request), spec, spec.currency).load(
            changelist.result_list, [spec.entity(self.entity_name).field(name) for name in self.ref_columns])
        for row in changelist.result_list:
            row.cabinet_refs = refs
        return changelist

    def get_fields(self, request, obj=None):
        """The visible fields; a read-only ref shows as its title only when the reader may view that row."""
        readonly = set(self.get_readonly_fields(request, obj))
        visible = self.access(request).visible_fields(self.entity_name)
        return [self.ref_readonly.get(name, name) if name in readonly else name
                for name in content.form_names(self.built.spec.entity(self.entity_name), visible)]  # each language

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        """Ref inputs accept the rows the policy lets this reader pick (``Access.ref_choices``, as pages and API)."""
        access = self.access(request)
        current = access.current_choices(getattr(request, "_cabinet_obj", None), db_field.name)
        choices = access.ref_choices(self.entity_name, db_field.name, current)
        kwargs["queryset"] = choices
        if db_field.name in self.raw_id_fields:
            kwargs["widget"] = ScopedRawIdWidget(db_field.remote_field, self.admin_site, choices,
                                                 using=kwargs.get("using"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        access = self.access(request)
        current = access.current_choices(getattr(request, "_cabinet_obj", None), db_field.name)
        kwargs["queryset"] = access.ref_choices(self.entity_name, db_field.name, current)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        """Write through ``engine.writes``; the admin keeps working with ``obj``, now the stored row."""
        access, data = self.access(request), form.write_data()
        if change:
            writes.update(access, self.entity_name, obj, data, source="admin")
            return
        created = writes.create(access, self.entity_name, data, source="admin")
        for f in obj._meta.concrete_fields:
            setattr(obj, f.attname, getattr(created, f.attname))
        obj._state.adding, obj._state.db = False, created._state.db

    def save_related(self, request, form, formsets, change):
        """Many refs were written with the row (``save_model``); only inline formsets remain."""
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request, obj):
        writes.delete(self.access(request), self.entity_name, obj, source="admin")

    def delete_queryset(self, request, queryset):
        """'Delete selected' deletes only the selected rows the user may delete (the list scope can be wider),
        each through the write path, all or none."""
        access = self.access(request)
        deletable = queryset.filter(pk__in=access.queryset(self.entity_name, "delete").values("pk"))
        with transaction.atomic():
            for obj in deletable:
                writes.delete(access, self.entity_name, obj, source="admin")


def model_admin_for(built, entity):
    """Return a ``PolicyAdmin`` class for ``entity``: list columns, filters, search and lookups."""
    shown = [f for f in entity.fields if f.type in LIST_TYPES]
    if entity.title:
        shown.sort(key=lambda f: f.name != entity.title)
    refs = [f.name for f in entity.fields if f.type is FieldType.REF]
    columns = [f.name for f in shown[:6]]
    ref_columns, ref_readonly, methods = {}, {}, {}
    for f in entity.fields:
        if f.type not in (FieldType.REF, FieldType.REFS):
            continue
        if f.name in columns:
            ref_columns[f.name] = _ref_column(f)
        ref_readonly[f.name] = f"{f.name}_as_seen"
        methods[f"{f.name}_as_seen"] = _ref_readonly(f)
    attrs = {
        **methods,
        "ref_columns": ref_columns,
        "ref_readonly": ref_readonly,
        "built": built,
        "entity_name": entity.name,
        "list_display": columns or ["__str__"],
        "list_filter": [f.name for f in entity.fields if f.type in (FieldType.CHOICE, FieldType.BOOLEAN) and f.stored],
        "search_fields": list(entity.search),
        "raw_id_fields": refs,
        "list_select_related": [name for name in refs if name in columns],
        "list_per_page": 50,
        "show_full_result_count": False,
    }
    return type(f"{entity.class_name}Admin", (PolicyAdmin,), attrs)


def _ref_column(f):
    """A changelist column showing ref ``f`` as its title when the reader may view the row, else blank."""
    @admin.display(description=f.name.replace("_", " "), ordering=f.name)
    def column(obj):
        return obj.cabinet_refs.title(obj, f)

    return column


def _ref_readonly(f):
    """A read-only form field showing ref ``f`` (or many refs) of a row as the reader may see it."""
    @admin.display(description=f.name.replace("_", " "))
    def shown(self, obj):
        refs = getattr(obj, "cabinet_refs", None)
        if refs is None:
            return ""
        return refs.many(obj, f) if f.type is FieldType.REFS else refs.title(obj, f)

    return shown


def build_admin_site(built):
    """Return a new admin site with the user and group admins and one admin per entity."""
    site = CabinetAdminSite(name="admin")
    user_model = get_user_model()
    for model in (user_model, Group):
        if model in admin.site._registry:
            site.register(model, type(admin.site._registry[model]))
    for entity in built.spec.entities:
        site.register(built.models[entity.name], model_admin_for(built, entity))
    return site
