"""Scoped downloads of file and image fields: ``/files/<entity>/<pk>/<field>/`` and, for images,
``/files/<entity>/<pk>/<field>/thumb/<size>/``.

A file is served only to a user who may view its row and see its field (the access policy: one query
for the row), else 404, exactly as for a file that does not exist; ``/media/`` serves nothing. Images
of a safe type show inline, everything else downloads; every answer carries ``nosniff`` and a sandboxing
Content-Security-Policy, so an uploaded file cannot run script in the cabinet's origin. Thumbnails are
made with Pillow on first use and kept under ``MEDIA_ROOT/thumbs`` (named after the stored file, so a
replaced image gets new ones), served through the same check.

Pages link to these with ``file_url``/``thumb_url`` or the ``cabinet_files`` template tags.
"""
from __future__ import annotations

import hashlib
import mimetypes
from io import BytesIO

from django.core.files.base import ContentFile
from django.http import FileResponse, Http404
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_safe

from ..access import access_for
from ..fieldtypes import FieldType

THUMB_SIZES = (96, 240, 480)  # the longest side, in pixels; others are 404 (no thumbnail flood)
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})  # never SVG: it can script
FILE_TYPES = (FieldType.FILE, FieldType.IMAGE)
# Types a browser would run as a page if it ever showed them: sent as plain bytes to download.
ACTIVE_TYPES = frozenset({"text/html", "image/svg+xml", "application/xhtml+xml", "text/xml", "application/xml",
                          "text/javascript", "application/javascript", "application/x-shockwave-flash"})


def _holds_file(obj, field, types=FILE_TYPES):
    spec = getattr(obj._meta.model, "spec", None)
    f = spec.field(field) if spec is not None else None
    return f is not None and f.type in types and bool(getattr(obj, field, None))


def file_url(obj, field):
    """The scoped URL of ``obj``'s file in ``field`` (a field name), or "" when it holds none."""
    if not _holds_file(obj, field):
        return ""
    try:
        return reverse("file", args=[obj._meta.model.spec.name, obj.pk, field])
    except NoReverseMatch:  # no cabinet URLs in this context (the root URLconf before a version is published)
        return ""


def thumb_url(obj, field, size=THUMB_SIZES[1]):
    """The scoped URL of a thumbnail of ``obj``'s image in ``field`` (``size`` one of ``THUMB_SIZES``)."""
    if not _holds_file(obj, field, (FieldType.IMAGE,)) or size not in THUMB_SIZES:
        return ""
    try:
        return reverse("file-thumb", args=[obj._meta.model.spec.name, obj.pk, field, size])
    except NoReverseMatch:
        return ""


def _stored(request, built, entity, pk, field):
    """The stored file of ``field`` of row ``pk`` if the user may see it, else 404."""
    access = access_for(request, built)
    if not access.user.is_authenticated:
        raise Http404
    spec = built.spec.entity(entity)
    f = spec.field(field) if spec is not None else None
    if f is None or f.type not in FILE_TYPES or field not in access.visible_fields(entity):
        raise Http404
    obj = access.get(entity, pk, "view")
    value = getattr(obj, field)
    if not value:
        raise Http404
    return f, value


def _secure(response):
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'; img-src 'self'"
    response["Cache-Control"] = "private, max-age=3600"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


@require_safe
def download(request, entity, pk, field, built):
    """Serve the file, inline for a safe image type, else as an attachment."""
    f, value = _stored(request, built, entity, pk, field)
    name = value.name.rsplit("/", 1)[-1]
    kind = mimetypes.guess_type(name)[0]
    if kind is None or kind in ACTIVE_TYPES:
        kind = "application/octet-stream"
    inline = f.type is FieldType.IMAGE and kind in INLINE_TYPES
    try:
        handle = value.open("rb")
    except OSError:
        raise Http404 from None
    return _secure(FileResponse(handle, as_attachment=not inline, filename=name, content_type=kind))


@require_safe
def thumbnail(request, entity, pk, field, size, built):
    """Serve a WebP thumbnail of an image field, made on first use."""
    f, value = _stored(request, built, entity, pk, field)
    if f.type is not FieldType.IMAGE or size not in THUMB_SIZES:
        raise Http404
    digest = hashlib.sha256(value.name.encode()).hexdigest()[:16]
    name = f"thumbs/{entity}/{field}/{pk}-{size}-{digest}.webp"
    storage = value.storage
    if not storage.exists(name):
        data = _make_thumbnail(value, size)
        if data is None:
            raise Http404
        name = storage.save(name, ContentFile(data))
    return _secure(FileResponse(storage.open(name, "rb"), content_type="image/webp"))


def _make_thumbnail(value, size):
    """The WebP bytes of ``value`` scaled to fit ``size`` x ``size``, or None when it is not a readable image."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with value.open("rb") as handle, Image.open(handle) as image:
            image = ImageOps.exif_transpose(image)
            image.thumbnail((size, size))
            if image.mode not in ("RGB", "RGBA"):
                image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
            out = BytesIO()
            image.save(out, "WEBP", quality=80)
            return out.getvalue()
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError, ValueError):
        return None
