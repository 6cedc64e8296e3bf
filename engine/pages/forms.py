"""Form pages: create or edit a row with the entity's rules, offering only rows in scope.

The form validates what the user typed; the write itself goes through ``engine.writes``, whose
refusals come back as the form's own errors (or a message, for a row that changed meanwhile).
"""
from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import NON_FIELD_ERRORS, FieldDoesNotExist, ValidationError
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from .. import content, writes
from ..display import row_title
from ..rules.runtime import initial_values
from .base import CabinetView, label, render
from .form_fields import formfield, offer_choices, prefill
from .form_token import FIELD as TOKEN_FIELD
from .form_token import Claim, new_token
from .lines import LineRefused, line_sets, refusal_text


class CabinetModelForm(forms.ModelForm):
    """A model form whose row also carries values the server forces (a role's ``set``).

    Django validates uniqueness only over the fields a form shows; a unique index that includes a
    forced field (one favourite per customer and product) would then pass the form and fail in the
    database. Forced fields are validated with the row, and their errors shown on the form.
    """

    forced = frozenset()
    states = frozenset()  # the workflow's state fields: never on the form, and a posted value is refused

    def force(self, values):
        """Set ``values`` ({field: model value}) on the row before validation."""
        for name, value in values.items():
            setattr(self.instance, name, value)
        self.forced = frozenset(values)

    def _get_validation_exclusions(self):
        return super()._get_validation_exclusions() - self.forced

    def clean(self):
        cleaned = super().clean()
        for name in self.states:
            posted = self.data.get(name) if hasattr(self.data, "get") else None
            if posted is not None and str(posted) != str(getattr(self.instance, name, "")):
                error = writes.state_error(name)
                self.add_error(None, ValidationError(str(error.fields[name][0]), code=error.code))
        return cleaned

    def write_data(self):
        """The values to write: the form's fields as validation put them on the row (defaults kept for
        fields a browser does not post), many refs as chosen."""
        many = {f.name for f in self.instance._meta.many_to_many}
        return {name: self.cleaned_data[name] if name in many else getattr(self.instance, name)
                for name in self.fields if name in self.cleaned_data}

    def refuse(self, error):
        """Show a domain error of the write on the form: on its fields when shown, else on the form."""
        for name, found in error.fields.items():
            for message in found:
                # Only a required field the form cannot show is named (as in the API): a rule's own message
                # about a field the reader may not see is shown as written.
                named = name not in self.fields and message.code == "required"
                text = f"{self._label_of(name)}: {message}" if named else str(message)
                self.add_error(name if name in self.fields else None, ValidationError(text, code=message.code))
        if error.general or not error.fields:
            self.add_error(None, ValidationError(error.message, code=error.code))

    def _label_of(self, name):
        """The label of a model field the form does not show, to name it in a form-wide error."""
        try:
            return str(self.instance._meta.get_field(name).verbose_name)
        except FieldDoesNotExist:  # a name that is no model field: show it as it is
            return name

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
        states = frozenset(writes.state_fields(self.built.spec, entity.name))
        editable = [n for n in access.editable_fields(entity.name, action) if n not in states]
        names = [n for n in (page.fields if page.kind == "form" and page.fields else editable) if n in editable]
        if not names:
            raise Http404
        form_class = forms.modelform_factory(self.built.model(entity.name), form=CabinetModelForm,
                                             fields=content.form_names(entity, names),  # each language
                                             formfield_callback=formfield)
        form_class.states = states
        return page, entity, obj, form_class, action

    def scoped(self, form):
        spec = form._meta.model.spec
        offer_choices(form, self.access, self.access.policy.built)
        for name, field in form.fields.items():
            if form.instance.pk is None and getattr(spec.field(name), "default_expr", None) is not None:
                field.required = False  # left empty, the write path fills it from the expression
        return form

    def get(self, request, page, pk=None):
        spec, entity, obj, form_class, action = self.setup_form(page, pk)
        initial = initial_values(self.access, entity.name) if obj is None else {}  # `default_expr` values
        form = self.scoped(form_class(instance=obj, initial=initial))
        if obj is None:
            prefill(form, request.GET)
        return self.show(spec, entity, obj, form, lines=line_sets(self, spec, obj))

    def post(self, request, page, pk=None):
        spec, entity, obj, form_class, action = self.setup_form(page, pk)
        claim = Claim(request)
        if not claim.fresh:  # the same form sent again: nothing more is written
            messages.info(request, _("This form was already sent; it was saved once."))
            if claim.row is None:
                return redirect(request.get_full_path())
            return redirect(*self.row_target(spec, entity, claim.row))
        row = None
        try:
            row = self.save(request, spec, entity, obj, form_class, action)
        finally:
            if isinstance(row, HttpResponse) or row is None:
                claim.release()
        if isinstance(row, HttpResponse):
            return row
        claim.done(row.pk)
        messages.success(request, _("Saved."))
        return redirect(*self.row_target(spec, entity, row.pk))

    def save(self, request, spec, entity, obj, form_class, action):
        """Validate and write the row and its child rows in one transaction; return the row, or the
        response showing why nothing was saved."""
        form = self.scoped(form_class(request.POST, request.FILES, instance=obj))
        lines = line_sets(self, spec, obj, request.POST, request.FILES)
        if action == "create":
            form.force(self.access.resolved_forced(entity.name))
        valid = form.is_valid()
        if not all([valid, *(line_set.is_valid() for line_set in lines)]):
            return self.show(spec, entity, obj, form, status=400, lines=lines)
        try:
            with transaction.atomic():
                if action == "create":
                    row = writes.create(self.access, entity.name, form.write_data(), source="page")
                else:
                    row = writes.update(self.access, entity.name, obj, form.write_data(), source="page")
                for line_set in lines:
                    line_set.save(row)
                return row
        except LineRefused:
            form.add_error(None, refusal_text())
            return self.show(spec, entity, obj, form, status=400, lines=lines)
        except writes.StateConflict as conflict:
            if conflict.code == "conflict":  # the database refused a row saved meanwhile with the same values
                form.add_error(None, _("A row with these values already exists; it was saved in the meantime."))
                return self.show(spec, entity, obj, form, status=400, lines=lines)
            messages.error(request, _("This was not saved: %(reason)s") % {"reason": conflict.message})
            return self.show(spec, entity, obj, form, status=409, lines=lines)
        except writes.DomainError as refusal:
            form.refuse(refusal)
            return self.show(spec, entity, obj, form, status=400, lines=lines)

    def row_target(self, spec, entity, pk):
        target = self.site.row_page(self.access, entity.name)
        return "page-row", target.name if target else spec.name, pk

    def show(self, page, entity, obj, form, status=200, lines=()):
        title = row_title(obj, entity, self.access.visible_fields(entity.name), self.built.spec.currency,
                          self.refs()) if obj else label(page.title, self.built)
        submit = label(page.submit, self.built) if page.submit.texts else _("Save")
        context = self.context(page, entity=entity, obj=obj, form=form, title=title, submit_label=submit,
                               form_token=new_token(), form_token_field=TOKEN_FIELD,
                               line_sets=lines, invalid=form.is_bound and (bool(form.errors) or any(
                                   ls.errors or any(sl["form"] is not None and sl["form"].errors for sl in ls.slots)
                                   for ls in lines)))
        return render(self.request, self.built, "form.html", context, status=status)
