"""Form pages: create or edit a row with the entity's rules, offering only rows in scope."""
from __future__ import annotations

from django import forms
from django.contrib import messages
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from .. import webhooks
from ..display import row_title
from .base import CabinetView, html5_widget, label, render


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
        form_class = forms.modelform_factory(self.built.model(entity.name), fields=names,
                                             formfield_callback=html5_widget)
        return page, entity, obj, form_class, action

    def scoped(self, form):
        for field in form.fields.values():
            queryset = getattr(field, "queryset", None)
            spec = getattr(getattr(queryset, "model", None), "spec", None)
            if spec is not None:
                field.queryset = self.access.queryset(spec.name, "view")
        return form

    def get(self, request, page, pk=None):
        spec, entity, obj, form_class, action = self.setup_form(page, pk)
        return self.show(spec, entity, obj, self.scoped(form_class(instance=obj)))

    def post(self, request, page, pk=None):
        spec, entity, obj, form_class, action = self.setup_form(page, pk)
        form = self.scoped(form_class(request.POST, request.FILES, instance=obj))
        if not form.is_valid():
            return self.show(spec, entity, obj, form, status=400)
        with transaction.atomic():
            row = form.save(commit=False)
            if action == "create":
                for name, value in self.access.resolved_forced(entity.name).items():
                    setattr(row, name, value)
            row.save()
            form.save_m2m()
            webhooks.emit(self.built, entity.name, action, row)
        messages.success(request, _("Saved."))
        target = self.site.row_page(self.access, entity.name)
        return redirect("page-row", target.name if target else spec.name, row.pk)

    def show(self, page, entity, obj, form, status=200):
        title = row_title(obj, entity, self.access.visible_fields(entity.name)) if obj else label(page.title,
                                                                                                   self.built)
        context = self.context(page, entity=entity, obj=obj, form=form, title=title)
        return render(self.request, self.built, "form.html", context, status=status)
