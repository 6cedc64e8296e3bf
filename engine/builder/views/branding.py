"""Builder views: branding (colours, logo, font, corner radius) with a live preview, and languages.

The preview is a small cabinet page drawn with the cabinet's own stylesheet in a frame; ``branding.js``
sets its custom properties as the admin types. Without JavaScript 'Preview' shows the typed values
without saving them.
"""
from __future__ import annotations

import re

from csp.decorators import csp_replace
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_POST

from .common import builder_view, render_builder
from .editing import apply_edit, see_other, shown, url
from .roles import language

KEYS = ("primary", "accent", "logo", "font", "radius")
DEFAULTS = {"primary": "#0b6e4f", "accent": "#f4a259", "font": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif",
            "radius": "10px", "logo": ""}
# What the preview accepts from its query string (the same shapes set_branding checks); anything else is ignored.
SAFE = {"primary": r"#[0-9a-fA-F]{6}", "accent": r"#[0-9a-fA-F]{6}", "font": r"[A-Za-z0-9 ,'\-]{1,200}",
        "radius": r"[0-9]{1,3}(px|rem|em)", "logo": r"/[A-Za-z0-9._~/\-]{0,300}"}


def safe_branding(values):
    """Keep the values the preview may put in a stylesheet or an image address."""
    return {k: v for k, v in values.items() if k in SAFE and isinstance(v, str) and re.fullmatch(SAFE[k], v)}


def branding_context(request, view, values=None, errors=None, lang_values=None, lang_errors=None):
    spec = view.spec
    current = dict(spec.branding) if spec else {}
    values = values if values is not None else {k: current.get(k, "") for k in KEYS}
    shown_values = {**DEFAULTS, **safe_branding({k: v for k, v in values.items() if v})}
    languages = lang_values or {"languages": ", ".join(spec.languages) if spec else "",
                                "default_language": spec.default_language if spec else ""}
    codes = [c.strip() for c in languages["languages"].split(",") if c.strip()]
    lang = language(request, spec) if spec else "en"
    return {
        "section": "branding", "draft": view.draft, "view": view, "spec": spec, "values": values,
        "errors": errors or {}, "preview": shown_values, "defaults": DEFAULTS,
        "preview_query": "&".join(f"{k}={v}" for k, v in shown_values.items()),
        "solution_label": spec.label.get(lang, spec.default_language) if spec else "",
        "lang_values": languages, "lang_errors": lang_errors or {},
        "default_choices": list(dict.fromkeys([*codes, *(spec.languages if spec else ())])),
        "problems": view.problems_at(("solution",)) if spec else [],
    }


@builder_view
def branding(request, draft_id=None):
    """Show (and, in a draft, change) the colours, logo, font and radius, with a live preview."""
    view = shown(draft_id)
    if request.method != "POST" or view.draft is None or view.spec is None:
        return render_builder(request, "builder/branding.html", branding_context(request, view))
    values = {k: request.POST.get(k, "").strip() for k in KEYS}
    if request.POST.get("do") == "preview":
        return render_builder(request, "builder/branding.html", branding_context(request, view, values))
    errors = apply_edit(request, view.draft, {"op": "set_branding", **{k: (v or None) for k, v in values.items()}})
    if errors is None:
        return see_other(url("branding", view.draft), request, "Branding saved.")
    return render_builder(request, "builder/branding.html", branding_context(request, view, values, errors),
                          status=400)


@builder_view
@require_POST
def languages(request, draft_id):
    """Change the solution's languages and its default language."""
    view = shown(draft_id)
    if view.spec is None:
        return see_other(url("branding", view.draft))
    values = {"languages": request.POST.get("languages", ""),
              "default_language": request.POST.get("default_language", "").strip()}
    codes = [c.strip() for c in values["languages"].split(",") if c.strip()]
    errors = apply_edit(request, view.draft, {"op": "set_languages", "languages": codes,
                                              "default_language": values["default_language"]})
    if errors is None:
        return see_other(url("branding", view.draft), request, "Languages saved.")
    context = branding_context(request, view, lang_values=values, lang_errors=errors)
    return render_builder(request, "builder/branding.html", context, status=400)


@builder_view
@xframe_options_sameorigin
@csp_replace({"frame-ancestors": ["'self'"]})
def branding_preview(request):
    """A sample cabinet page in the cabinet's stylesheet with the branding from the query string."""
    values = {**DEFAULTS, **safe_branding({k: request.GET.get(k, "") for k in KEYS})}
    view = shown(None)
    spec = view.spec
    lang = language(request, spec) if spec else "en"
    return render_builder(request, "builder/branding_preview.html", {
        "branding": values, "solution_label": spec.label.get(lang, spec.default_language) if spec else "Cabinet"})
