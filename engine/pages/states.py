"""State badges: a workflow state shown as a badge coloured by ``states.<s>.color`` wherever it shows.

A colour is a semantic token (neutral, info, success, warning, danger: ``.badge--<token>`` of the theme)
or ``#rrggbb``: such states get a class of their own (``.badge--c<rrggbb>``) defined by a ``<style>``
with the request's CSP nonce (``state_css``), so no inline style attribute is needed.
"""
from __future__ import annotations

from django.utils.html import format_html

from ..display import cell, display
from ..writes import state_fields
from .base import label

TOKENS = ("neutral", "info", "success", "warning", "danger")


def badge_class(state):
    """``badge--<token>`` of a state (neutral when it has no colour)."""
    color = state.color or "neutral"
    return f"badge--c{color[1:].lower()}" if color.startswith("#") else f"badge--{color}"


def state_badge(built, wf, value):
    """The badge of ``value`` (a state of ``wf``); the bare value when it is not one of its states."""
    state = next((s for s in wf.states if s.name == value), None)
    if state is None:
        return value
    return format_html('<span class="badge badge--state {}" data-state="{}">{}</span>', badge_class(state),
                       state.name, label(state.label, built))


class StateCells:
    """Mixin of the page views: ``cell`` displays a field of a row, a workflow state as its badge."""

    def cell(self, entity, obj, f, currency, refs):
        flows = state_fields(self.built.spec, entity.name)
        if f.name in flows:
            return state_badge(self.built, flows[f.name], getattr(obj, f.name))
        return display(obj, f, currency, refs)

    def shows(self):
        """A ``show`` for ``paths.Columns.cells``: a workflow state of the row a column reaches as its badge,
        any other value as ``display.cell``."""
        spec = self.built.spec

        def show(obj, f, currency, refs):
            flows = state_fields(spec, type(obj).spec.name)
            if f.name in flows:
                return state_badge(self.built, flows[f.name], getattr(obj, f.name))
            return cell(obj, f, currency, refs)

        return show


def state_css(spec):
    """CSS for the states coloured ``#rrggbb`` (text in white or black, whichever reads better), or ""."""
    rules = {}
    for wf in spec.workflows:
        for s in wf.states:
            if s.color and s.color.startswith("#"):
                hexa = s.color[1:].lower()
                r, g, b = (int(hexa[i:i + 2], 16) for i in (0, 2, 4))
                ink = "#000" if (r * 299 + g * 587 + b * 114) / 1000 > 140 else "#fff"
                rules[hexa] = (f".badge--c{hexa}{{background:#{hexa};color:{ink}}}"
                               f".chart-bar.badge--c{hexa},.chart-dot.badge--c{hexa}{{fill:#{hexa}}}")
    return "".join(rules.values())
