"""Workflow transitions fired from a page's buttons (a full post or an htmx request), through the write path.

A page can be stale (a double click, a second tab, another user acting first): the write path then
refuses the transition. The refusal is answered with its own status (409 for a row no longer in a
``from`` state or a guard that says no, 403 for a transition the user may not do) and a message, and
the page shows the row as it is now, never a 500.
"""
from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from .. import writes
from ..access import AccessDenied
from ..writes import DomainError, GuardRefused, StateConflict, transitions_of
from .base import label
from .detail import DetailPage


class TransitionView(DetailPage):
    def post(self, request, page, pk, transition):
        spec = self.page_or_404(page)
        found = transitions_of(self.built.spec, spec.entity) if spec.entity else {}
        if transition not in found:
            raise Http404
        wf, t = found[transition]
        try:
            obj = self.access.get(spec.entity, pk, transition)
        except AccessDenied as refusal:
            # Rights can depend on the state: a row that left the transition's states is a stale page.
            row = self.access.get(spec.entity, pk, "view")
            stale = writes.allowed(self.access, spec.entity, transition) and getattr(row, wf.field) not in t.sources
            return self.refused(spec, pk, t, StateConflict() if stale else refusal)
        try:
            writes.transition(self.access, spec.entity, obj, transition, source="page")
        except (DomainError, AccessDenied) as refusal:
            return self.refused(spec, pk, t, refusal)
        if getattr(request, "htmx", False):
            # An inline button: the list reloads its rows in place (it listens for 'cabinet-changed').
            response = HttpResponse(status=204)
            response["HX-Trigger"] = "cabinet-changed"
            return response
        messages.success(request, _("Done."))
        return redirect("page-row", page, pk)

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
