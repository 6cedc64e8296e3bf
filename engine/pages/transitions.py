"""Workflow transitions fired from a page's buttons (a full post or an htmx request).

A page can be stale (a double click, a second tab, another user acting first): the workflow then
refuses the transition. The refusal is answered with its own status (409 for a row no longer in a
``from`` state) and a message, and the page shows the row as it is now, never a 500.
"""
from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from rest_framework.exceptions import APIException

from ..access import AccessDenied
from ..workflow import InvalidState, fire, transitions_of
from .base import label
from .detail import DetailPage


class TransitionView(DetailPage):
    def post(self, request, page, pk, transition):
        spec = self.page_or_404(page)
        if not spec.entity or transition not in transitions_of(self.built.spec, spec.entity):
            raise Http404
        obj = self.access.get(spec.entity, pk, transition)
        try:
            fire(self.access, spec.entity, obj, transition)
        except (APIException, AccessDenied) as refusal:  # every refusal of the workflow (DRF-style exceptions)
            return self.refused(spec, pk, transition, refusal)
        if getattr(request, "htmx", False):
            # An inline button: the list reloads its rows in place (it listens for 'cabinet-changed').
            response = HttpResponse(status=204)
            response["HX-Trigger"] = "cabinet-changed"
            return response
        messages.success(request, _("Done."))
        return redirect("page-row", page, pk)

    def refused(self, page, pk, transition, refusal):
        """Say why the transition did not happen and show the row as it is now, with the refusal's status."""
        _wf, t = transitions_of(self.built.spec, page.entity)[transition]
        if isinstance(refusal, InvalidState):
            text = _("“%(action)s” was not done: this row has changed in the meantime. It is shown as it is now.")
        else:
            text = _("“%(action)s” was not done: you may not do it on this row.")
        text %= {"action": label(t.label, self.built)}
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
