"""The installable app (PWA): web app manifest, service worker, offline page and icons."""
from __future__ import annotations

import io
import json

from django.http import Http404, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.urls import reverse
from django.utils.translation import get_language
from django.views.decorators.cache import cache_control

from .base import render


def manifest(request, built):
    spec = built.spec
    branding = dict(spec.branding)
    name = spec.label.get(get_language(), spec.default_language)
    data = {
        "name": name, "short_name": name[:12], "start_url": "/", "scope": "/", "display": "standalone",
        "lang": get_language(), "theme_color": branding.get("primary", "#0b6e4f"),
        "background_color": "#ffffff",
        "icons": [{"src": reverse("icon", args=[size]), "sizes": f"{size}x{size}", "type": "image/png",
                   "purpose": "any maskable"} for size in (192, 512)],
    }
    return JsonResponse(data, content_type="application/manifest+json")


@cache_control(no_cache=True)
def service_worker(request, built):
    """The service worker: caches the app shell, shows the offline page when the network is gone."""
    shell = [reverse("offline"), static("cabinet/cabinet.css"), static("cabinet/vendor/htmx-2.0.11.min.js"),
             reverse("manifest")]
    body = render_to_string("default/cabinet/sw.js", {"shell": json.dumps(shell), "version": built.number})
    response = HttpResponse(body, content_type="application/javascript")
    response["Service-Worker-Allowed"] = "/"
    return response


def offline(request, built):
    spec = built.spec
    context = {"solution_label": spec.label.get(get_language(), spec.default_language),
               "branding": dict(spec.branding)}
    return render(request, built, "offline.html", context)


@cache_control(max_age=86400, public=True)
def icon(request, built, size):
    """A square app icon in the brand colour with the solution's initial (Pillow)."""
    from PIL import Image, ImageDraw, ImageFont

    if size not in (192, 512, 180, 32):
        raise Http404
    spec = built.spec
    image = Image.new("RGB", (size, size), dict(spec.branding).get("primary", "#0b6e4f"))
    letter = (spec.label.get(spec.default_language) or spec.name)[:1].upper()
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=int(size * 0.55))
    draw.text((size / 2, size / 2), letter, fill="#ffffff", font=font, anchor="mm")
    out = io.BytesIO()
    image.save(out, "PNG")
    return HttpResponse(out.getvalue(), content_type="image/png")
