"""Workflow transitions fired from a page's buttons (a full post or an htmx request), through the write path.

A page can be stale (a double click, a second tab, another user acting first): the write path then
refuses the transition. The refusal is answered with its own status (409 for a row no longer in a
``from`` state or a guard that says no, 403 for a transition the user may not do) and a message, and
the page shows the row as it is now, never a 500.
"""
from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _

from .. import writes
from ..access import AccessDenied
from ..display import row_title
from ..workflows.runtime import available
from ..workflows.runtime import refusal as guard_message
from ..writes import DomainError, GuardRefused, StateConflict, transitions_of
from .base import html5_widget, label, render
from .detail import DetailPage
from .forms import CabinetModelForm


class TransitionView(DetailPage):
    def get(self, request, page, pk, transition):
        """The confirmation form of a transition with fields to fill (the others are posted by their button)."""
        spec, wf, t = self.transition_or_404(page, transition)
        if not t.fields:
            raise Http404
        obj, answer = self.row(spec, pk, transition, wf, t)
        if answer is not None:
            return answer
        if getattr(obj, wf.field) not in t.sources:
            return self.refused(spec, pk, t, StateConflict())
        if transition not in available(self.access, spec.entity, obj):
            return self.refused(spec, pk, t, GuardRefused(guard_message(self.built, t)))
        return self.fill(spec, obj, t, self.form_class(spec, t)(instance=obj))

    def post(self, request, page, pk, transition):
        spec, wf, t = self.transition_or_404(page, transition)
        obj, answer = self.row(spec, pk, transition, wf, t)
        if answer is not None:
            return answer
        data, form = {}, None
        if t.fields:
            form = self.form_class(spec, t)(request.POST, instance=obj)
            if not form.is_valid():
                return self.fill(spec, obj, t, form, status=400)
            data = form.write_data()
        try:
            writes.transition(self.access, spec.entity, obj, transition, data, source="page")
        except writes.RuleViolation as invalid:
            if form is None:
                return self.refused(spec, pk, t, invalid)
            form.refuse(invalid)
            return self.fill(spec, obj, t, form, status=400)
        except (DomainError, AccessDenied) as refused:
            return self.refused(spec, pk, t, refused)
        if getattr(request, "htmx", False):
            # An inline button: the list reloads its rows in place (it listens for 'cabinet-changed').
            response = HttpResponse(status=204)
            response["HX-Trigger"] = "cabinet-changed"
            return response
        messages.success(request, _("Done."))
        return redirect("page-row", page, pk)

    def transition_or_404(self, page, transition):
        spec = self.page_or_404(page)
        found = transitions_of(self.built.spec, spec.entity) if spec.entity else {}
        if transition not in found:
            raise Http404
        return (spec, *found[transition])

    def row(self, page, pk, transition, wf, t):
        """(the row to move, None), or (None, the answer) when the user may not move it."""
        try:
            return self.access.get(page.entity, pk, transition), None
        except AccessDenied as denied:
            # Rights can depend on the state: a row that left the transition's states is a stale page.
            row = self.access.get(page.entity, pk, "view")
            stale = writes.allowed(self.access, page.entity, transition) and getattr(row, wf.field) not in t.sources
            return None, self.refused(page, pk, t, StateConflict() if stale else denied)

    def form_class(self, page, t):
        """The form of the fields ``t`` fills; its ``required`` ones must be given, refs offer rows in reach."""
        form_class = forms.modelform_factory(self.built.model(page.entity), form=CabinetModelForm,
                                             fields=list(t.fields), formfield_callback=html5_widget)
        for name, field in form_class.base_fields.items():
            field.required = field.required or name in t.required
            if getattr(field, "queryset", None) is not None:
                field.queryset = self.access.ref_choices(page.entity, name)
        return form_class

    def fill(self, page, obj, t, form, status=200):
        entity = self.built.spec.entity(page.entity)
        name = label(t.label, self.built)
        title = row_title(obj, entity, self.access.visible_fields(entity.name), self.built.spec.currency,
                          self.refs())
        question = label(t.confirm, self.built) if t.confirm and not isinstance(t.confirm, bool) else ""
        context = self.context(page, entity=entity, obj=obj, form=form, title=f"{name}: {title}", action=name,
                               question=question, back_url=reverse("page-row", args=[page.name, obj.pk]))
        return render(self.request, self.built, "transition.html", context, status=status)

    def refused(self, page, pk, t, refusal):
        """Say why the transition did not happen and show the row as it is now, with the refusal's status."""
        if isinstance(refusal, StateConflict):
            text = _("“%(action)s” was not done: this row has changed in the meantime. It is shown as it is now.")
        elif isinstance(refusal, (GuardRefused, DomainError)):
            text = _("“%(action)s” was not done: %(reason)s")
        else:
            text = _("“%(action)s” was not done: you may not do it on this row.")
        text %= {"action": label(t.label, self.built), "reason": getattr(refusal, "message", "")}
        status = getattr(refusal, "status_code", 409)
        if getattr(self.request, "htmx", False):
            # The list reloads its rows; the message replaces the page's messages (htmx swaps a 409, see base.html).
            html = render_to_string("default/cabinet/_messages.html",
                                    {"messages": [{"tags": "error", "text": text}]}, self.request)
            response = HttpResponse(html, status=status)
            response["HX-Trigger"] = "cabinet-changed"
            response["HX-Retarget"] = "#messages"
            response["HX-Reswap"] = "innerHTML"
            return response
        messages.error(self.request, text)
        return self.detail(page, pk, status=status)
