"""Workflow transitions fired from a page's buttons (a full post or an htmx request)."""
from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from ..workflow import fire, transitions_of
from .base import CabinetView


class TransitionView(CabinetView):
    def post(self, request, page, pk, transition):
        spec = self.page_or_404(page)
        if not spec.entity or transition not in transitions_of(self.built.spec, spec.entity):
            raise Http404
        obj = self.access.get(spec.entity, pk, transition)
        fire(self.access, spec.entity, obj, transition)
        if getattr(request, "htmx", False):
            # An inline button: the list reloads its rows in place (it listens for 'cabinet-changed').
            response = HttpResponse(status=204)
            response["HX-Trigger"] = "cabinet-changed"
            return response
        messages.success(request, _("Done."))
        return redirect("page-row", page, pk)
