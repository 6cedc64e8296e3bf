"""Record pages (``kind: record``): the signed-in user's own row of an entity, viewed and edited in place.

The row is the one whose owner field (or unique ref to the user) is the user, within the reader's
view scope. It is shown like a detail page; ``?edit=1`` shows its form on the same address, and a
save comes back to it. The form, its validation and the write are the form pages' own (``FormView``),
so a record page edits exactly what the role may edit and nothing else.
"""
from __future__ import annotations

from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import reverse

from .base import CabinetView, LoginRequired, label, render
from .forms import FormView
from .page_checks import record_link


class RecordPage(CabinetView):
    def own_row(self, page):
        """The user's row of the page's entity (None when they have none in their scope)."""
        if not self.request.user.is_authenticated:
            raise LoginRequired
        entity = self.entity(page)
        link = record_link(entity)
        return self.access.queryset(entity.name, "view").filter(**{link: self.request.user}).first()

    def form_view(self):
        """A ``FormView`` sharing this request, to show and save the row's form."""
        view = FormView(built=self.built)
        view.setup(self.request)
        view.access, view.site = self.access, self.site
        return view

    def editable(self, page, row):
        entity = page.entity
        return self.access.can(entity, "update") and self.access.queryset(entity, "update").filter(
            pk=row.pk).exists()

    def kind_record(self, page):
        row = self.own_row(page)
        if row is None:
            create = reverse("page-new", args=[page.name]) if self.access.can(page.entity, "create") else None
            context = self.context(page, create_url=create, empty=label(self.entity(page).label, self.built))
            return render(self.request, self.built, "record_empty.html", context)
        if self.request.GET.get("edit") == "1" and self.editable(page, row):
            return self.form_view().get(self.request, page.name, row.pk)
        return self.detail(page, row.pk, edit_url="?edit=1" if self.editable(page, row) else None)

    def post(self, request, page, pk=None):
        found = self.site.page(page)
        if found is None or found.kind != "record" or pk is not None:
            return self.http_method_not_allowed(request)
        spec = self.page_or_404(page)
        row = self.own_row(spec)
        if row is None or not self.editable(spec, row):
            return HttpResponseNotAllowed(["GET"])
        response = self.form_view().post(request, spec.name, row.pk)
        if response.status_code == 302:  # saved: back to the record, with the form's message
            return redirect("page", spec.name)
        return response
