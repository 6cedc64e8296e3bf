"""Work queues: state tabs with their counts on a list page, and transitions done on many rows at once.

``states: true`` on a list of an entity with a workflow shows a tab per state (and "All") with the number
of rows in each, counted in one aggregate query within the reader's scope and the list's other filters
(search included); ``?<state field>=<state>`` picks a tab. The tabs take the place of a ``filters:``
select on the state field. ``bulk: [accept]`` lets the reader check rows and do ``accept`` on all of them:
each row goes through the write path on its own (rights, state, guard, rules), and the page reports how
many were done and how many refused.
"""
from __future__ import annotations

from django.contrib import messages
from django.db.models import Count
from django.http import Http404
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .. import writes
from ..access import AccessDenied
from ..writes import DomainError, transitions_of, workflows_of
from . import params
from .base import CabinetView, label
from .states import badge_class

BULK_LIMIT = 200  # rows one bulk submit may move (a page shows at most 200)


def tab_field(spec, page):
    """The state field a list page shows as tabs, or None."""
    if page.kind != "list" or not page.states:
        return None
    flows = workflows_of(spec, page.entity)
    return flows[0].field if flows else None


def state_tabs(view, page, qs):
    """(``qs`` narrowed to the chosen tab, the tabs) for a list page with ``states: true``; (qs, []) else.

    Each tab: label, count, url (the current query with that state, back to the first page), current, colour.
    """
    field = tab_field(view.built.spec, page)
    if field is None:
        return qs, []
    wf = workflows_of(view.built.spec, page.entity)[0]
    chosen = params.choice(view.request, field, {s.name for s in wf.states})
    counts = dict(qs.order_by().values_list(field).annotate(n=Count("pk")))

    def url(value):
        query = view.request.GET.copy()
        query.pop("page", None)
        query.pop(field, None)
        if value:
            query[field] = value
        return f"?{query.urlencode()}" if query else "?"

    tabs = [{"label": _("All"), "count": sum(counts.values()), "url": url(""), "current": not chosen,
             "color": None, "value": ""}]
    tabs += [{"label": label(s.label, view.built), "count": counts.get(s.name, 0), "url": url(s.name),
              "current": chosen == s.name, "color": badge_class(s), "value": s.name} for s in wf.states]
    return (qs.filter(**{field: chosen}) if chosen else qs), tabs


def bulk_buttons(view, page):
    """The bulk transitions of a list page the reader may do: [(name, label, danger)]."""
    from .actions import destructive

    found = transitions_of(view.built.spec, page.entity)
    return [{"name": name, "label": label(found[name][1].label, view.built), "danger": destructive(*found[name])}
            for name in page.bulk if name in found and writes.allowed(view.access, page.entity, name)]


class BulkView(CabinetView):
    """``p/<page>/bulk/`` (POST): do one of the page's ``bulk`` transitions on the checked rows."""

    def post(self, request, page):
        spec = self.page_or_404(page)
        name = request.POST.get("transition", "")
        found = transitions_of(self.built.spec, spec.entity) if spec.kind == "list" and spec.entity else {}
        if name not in spec.bulk or name not in found:
            raise Http404
        if not writes.allowed(self.access, spec.entity, name):
            raise AccessDenied(_("You may not do this."))
        ids = self.ids(request.POST.getlist("ids"))
        rows = list(self.access.queryset(spec.entity, name).filter(pk__in=ids)) if ids else []
        done = 0
        for row in rows:
            try:
                writes.transition(self.access, spec.entity, row, name, source="page")
            except (DomainError, AccessDenied):
                continue
            done += 1
        refused = len(ids) - done
        action = label(found[name][1].label, self.built)
        if not ids:
            messages.warning(request, _("Check the rows to do “%(action)s” on.") % {"action": action})
        else:
            text = ngettext("“%(action)s”: %(done)d row done", "“%(action)s”: %(done)d rows done", done) % {
                "action": action, "done": done}
            if refused:
                text += "; " + ngettext("%(refused)d refused (changed meanwhile or not allowed)",
                                        "%(refused)d refused (changed meanwhile or not allowed)", refused) % {
                    "refused": refused}
            (messages.success if not refused else messages.warning)(request, text + ".")
        back = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()) or \
                not back.startswith(f"/p/{spec.name}/"):
            back = f"/p/{spec.name}/"
        return redirect(back)

    @staticmethod
    def ids(values):
        """The distinct row ids posted; anything else is a bad request."""
        ids = set()
        for value in values:
            if not (value.isascii() and value.isdigit()) or not 0 < int(value) < 2**63:
                raise params.BadParameter("ids", _("Row ids are whole numbers."))
            ids.add(int(value))
        if len(ids) > BULK_LIMIT:
            raise params.BadParameter("ids", _("At most %(limit)d rows at once.") % {"limit": BULK_LIMIT})
        return ids
