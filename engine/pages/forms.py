"""Form pages: create or edit a row with the entity's rules, offering only rows in scope."""
from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from .. import webhooks
from ..display import row_title
from .base import CabinetView, html5_widget, label, render


class CabinetModelForm(forms.ModelForm):
    """A model form whose row also carries values the server forces (a role's ``set``).

    Django validates uniqueness only over the fields a form shows; a unique index that includes a
    forced field (one favourite per customer and product) would then pass the form and fail in the
    database. Forced fields are validated with the row, and their errors shown on the form.
    """

    forced = frozenset()

    def force(self, values):
        """Set ``values`` ({field: model value}) on the row before validation."""
        for name, value in values.items():
            setattr(self.instance, name, value)
        self.forced = frozenset(values)

    def _get_validation_exclusions(self):
        return super()._get_validation_exclusions() - self.forced

    def _update_errors(self, errors):
        # An error on a field the form does not show (a forced one) belongs to the form as a whole.
        if hasattr(errors, "error_dict"):
            regrouped = {}
            for name, items in errors.error_dict.items():
                regrouped.setdefault(name if name in self.fields else NON_FIELD_ERRORS, []).extend(items)
            errors = ValidationError(regrouped)
        super()._update_errors(errors)


class FormView(CabinetView):
    """Create (``p/<page>/new/``) or edit (``p/<page>/<pk>/edit/``) a row of the page's entity."""

    def setup_form(self, page_name, pk):
        page = self.page_or_404(page_name)
        if not page.entity:
            raise Http404
        entity, access = self.entity(page), self.access
        action = "update" if pk else "create"
        obj = access.get(entity.name, pk, "update") if pk else None
        if obj is None:
            access.require(entity.name, "create")
        editable = access.editable_fields(entity.name, action)
        names = [n for n in (page.fields if page.kind == "form" and page.fields else editable) if n in editable]
        if not names:
            raise Http404
        form_class = forms.modelform_factory(self.built.model(entity.name), form=CabinetModelForm, fields=names,
                                             formfield_callback=html5_widget)
        return page, entity, obj, form_class, action

    def scoped(self, form):
        entity = form._meta.model.spec.name
        for name, field in form.fields.items():
            if getattr(field, "queryset", None) is not None:
                field.queryset = self.access.ref_choices(entity, name)  # the API's rule too
        return form

    def get(self, request, page, pk=None):
        spec, entity, obj, form_class, action = self.setup_form(page, pk)
        return self.show(spec, entity, obj, self.scoped(form_class(instance=obj)))

    def post(self, request, page, pk=None):
        spec, entity, obj, form_class, action = self.setup_form(page, pk)
        form = self.scoped(form_class(request.POST, request.FILES, instance=obj))
        if action == "create":
            form.force(self.access.resolved_forced(entity.name))
        if not form.is_valid():
            return self.show(spec, entity, obj, form, status=400)
        try:
            with transaction.atomic():  # a savepoint: the request's transaction survives a refused insert
                row = form.save()
                webhooks.emit(self.built, entity.name, action, row)
        except IntegrityError:
            # Another request stored the same unique values between validation and this write.
            form.add_error(None, _("A row with these values already exists; it was saved in the meantime."))
            return self.show(spec, entity, obj, form, status=400)
        messages.success(request, _("Saved."))
        target = self.site.row_page(self.access, entity.name)
        return redirect("page-row", target.name if target else spec.name, row.pk)

    def show(self, page, entity, obj, form, status=200):
        title = row_title(obj, entity, self.access.visible_fields(entity.name), self.built.spec.currency,
                          self.refs()) if obj else label(page.title, self.built)
        context = self.context(page, entity=entity, obj=obj, form=form, title=title)
        return render(self.request, self.built, "form.html", context, status=status)
