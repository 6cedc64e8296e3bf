"""Attachments: the type is found from the file's own bytes, never from its name or the browser's word.

A file is accepted when its bytes are one of the kinds the chat allows (``attachments.types``) and it
is no larger than ``attachments.max_size``. It is stored under a random name; the name the sender gave
is kept for display only (its last path segment, without control characters).
"""
from __future__ import annotations

import io
import secrets
import unicodedata
import zipfile
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError

from .errors import Invalid

MAX_FILES = 10  # per message
MAX_NAME = 255
# Pillow format -> (content type, extension). SVG is not an image here: it can carry script.
IMAGE_FORMATS = {"PNG": ("image/png", "png"), "JPEG": ("image/jpeg", "jpg"), "GIF": ("image/gif", "gif"),
                 "WEBP": ("image/webp", "webp")}
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# The first entry that tells an Office Open XML or OpenDocument file from any zip.
ZIP_OFFICE = (
    ("word/", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"),
    ("xl/", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    ("ppt/", "application/vnd.openxmlformats-officedocument.presentationml.presentation", "pptx"),
)
ODF_TYPES = {"application/vnd.oasis.opendocument.text": "odt",
             "application/vnd.oasis.opendocument.spreadsheet": "ods",
             "application/vnd.oasis.opendocument.presentation": "odp"}


@dataclass(frozen=True)
class Checked:
    """An accepted file: its bytes, what they are, and the name to show."""

    data: bytes
    name: str
    kind: str  # image, pdf, text, office
    content_type: str
    extension: str

    @property
    def is_image(self):
        return self.kind == "image"

    def storage_name(self):
        """A random file name that reveals nothing and cannot be guessed."""
        return f"{secrets.token_urlsafe(18)}.{self.extension}"

    def content(self):
        return ContentFile(self.data, name=self.storage_name())


def display_name(name):
    """The sender's file name fit for display: the last path segment, no control or format characters."""
    name = str(name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip().lstrip(".")
    if len(name) > MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: MAX_NAME - len(ext) - 1] + dot + ext) if dot and len(ext) < 16 else name[:MAX_NAME]
    return name or "file"


def sniff(data):
    """(kind, content type, extension) of ``data`` by its bytes, or None when it is none of the known kinds."""
    found = _image(data)
    if found:
        return found
    if data.startswith(b"%PDF-"):
        return "pdf", "application/pdf", "pdf"
    if data.startswith(OLE_MAGIC):
        return "office", "application/vnd.ms-office", "doc"
    if data.startswith(b"PK\x03\x04"):
        return _office_zip(data)
    if b"\x00" not in data:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return "text", "text/plain; charset=utf-8", "txt"
    return None


def _image(data):
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format
            img.verify()  # reads the whole file: a truncated or forged image fails here
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None
    if fmt not in IMAGE_FORMATS:
        return None
    content_type, extension = IMAGE_FORMATS[fmt]
    return "image", content_type, extension


def _office_zip(data):
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            if "mimetype" in names:
                declared = archive.read("mimetype")[:100].decode("ascii", "replace").strip()
                if declared in ODF_TYPES:
                    return "office", declared, ODF_TYPES[declared]
    except (zipfile.BadZipFile, OSError, ValueError, KeyError):
        return None
    if "[Content_Types].xml" in names:
        for prefix, content_type, extension in ZIP_OFFICE:
            if any(n.startswith(prefix) for n in names):
                return "office", content_type, extension
    return None  # any other zip is not an office document


def check_files(chat, files):
    """Read and check uploaded ``files`` (Django ``UploadedFile``s) for ``chat``; return ``Checked`` items.

    Raise ``Invalid({"files": [...]})`` naming each refused file and why.
    """
    files = list(files or ())
    if not files:
        return []
    if not chat.max_size or not chat.attachment_kinds:
        raise Invalid(fields={"files": [{"message": _("This chat takes no attachments."), "code": "no_files"}]})
    if len(files) > MAX_FILES:
        raise Invalid(fields={"files": [{"message": _("At most %(n)d files per message.") % {"n": MAX_FILES},
                                         "code": "too_many"}]})
    accepted, errors = [], []
    for upload in files:
        name = display_name(getattr(upload, "name", ""))
        size = getattr(upload, "size", None)
        if size is not None and size > chat.max_size:
            errors.append(_too_large(name, chat.max_size))
            continue
        data = upload.read(chat.max_size + 1)
        if len(data) > chat.max_size:
            errors.append(_too_large(name, chat.max_size))
            continue
        if not data:
            errors.append({"message": _("'%(name)s' is empty.") % {"name": name}, "code": "empty"})
            continue
        found = sniff(data)
        if found is None or found[0] not in chat.attachment_kinds:
            errors.append({"message": _("'%(name)s' is not a file of an allowed type (%(types)s).")
                           % {"name": name, "types": ", ".join(chat.attachment_kinds)}, "code": "file_type"})
            continue
        kind, content_type, extension = found
        accepted.append(Checked(data, name, kind, content_type, extension))
    if errors:
        raise Invalid(fields={"files": errors})
    return accepted


def _too_large(name, limit):
    return {"message": _("'%(name)s' is larger than %(limit)s.") % {"name": name, "limit": filesizeformat(limit)},
            "code": "file_size"}
