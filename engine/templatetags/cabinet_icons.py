"""``{% icon name %}``: an icon of the vendored sprite, decorative (hidden from screen readers)."""
from __future__ import annotations

from django import template
from django.templatetags.static import static
from django.utils.html import format_html

from ..icons import SPRITE, known

register = template.Library()


@register.simple_tag
def icon(name, size=20):
    """An inline ``<svg>`` using the sprite's symbol ``name``; nothing for no name or a name not in the set
    (``cabinet check`` refuses those in YAML)."""
    if not name or not known(name):
        return ""
    return format_html(
        '<svg class="icon" width="{}" height="{}" aria-hidden="true" focusable="false" fill="none" '
        'stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">'
        '<use href="{}#{}"></use></svg>', size, size, static(SPRITE), name)


@register.simple_tag(takes_context=True)
def state_styles(context):
    """A ``<style>`` (with the request's CSP nonce) for the workflow states coloured ``#rrggbb``, or nothing."""
    from ..pages.states import state_css

    spec, request = context.get("solution"), context.get("request")
    css = state_css(spec) if spec is not None else ""
    if not css:
        return ""
    return format_html('<style nonce="{}">{}</style>', getattr(request, "csp_nonce", ""), css)
