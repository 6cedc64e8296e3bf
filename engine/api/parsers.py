"""Request body parsers with limits: every body the API reads (JSON, form, multipart) is bounded in size,
nesting and number of fields, and a body past a limit is a 400 in the API's error shape, never a 500.

Python's JSON decoder recurses once per nesting level, so a body of 100,000 ``[`` would exhaust the
stack; the depth is measured by a flat scan before anything is decoded.
"""
from __future__ import annotations

import io
import re

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from rest_framework import parsers
from rest_framework.exceptions import ParseError

# Strings (whose brackets do not count) or a bracket; anything else is skipped by the regex engine.
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')
_OPEN = frozenset(b"[{")


def max_depth():
    """How deeply a JSON body may nest objects and arrays (``CABINET_API_MAX_DEPTH``)."""
    return getattr(settings, "CABINET_API_MAX_DEPTH", 32)


def max_body():
    """The largest JSON or form body in bytes: Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (2.5 MB by default)."""
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2_621_440


def max_upload():
    """The largest multipart body in bytes, files included (``CABINET_API_MAX_UPLOAD``, 20 MB by default)."""
    return getattr(settings, "CABINET_API_MAX_UPLOAD", 20 * 1024 * 1024)


class TooLarge(ParseError):
    default_detail = "The request body is too large."
    default_code = "too_large"


class TooDeep(ParseError):
    default_detail = "The request body nests too deeply."
    default_code = "too_deep"


class TooManyFields(ParseError):
    default_detail = "The request body has too many fields."
    default_code = "too_many_fields"


def read_limited(stream, limit):
    """Read the whole body, refusing one longer than ``limit`` bytes without reading past it."""
    if stream is None:
        return b""
    body = stream.read(limit + 1)
    if len(body) > limit:
        raise TooLarge(f"The request body is larger than {limit} bytes.")
    return body


def check_depth(body, limit):
    """Raise ``TooDeep`` when the JSON text ``body`` nests objects or arrays more than ``limit`` levels."""
    depth = 0
    for match in _TOKENS.finditer(body):
        char = match.group()
        if len(char) != 1:
            continue  # a string
        if char[0] in _OPEN:
            depth += 1
            if depth > limit:
                raise TooDeep(f"The request body nests more than {limit} levels deep.")
        else:
            depth -= 1


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, with a size and a nesting limit."""

    def parse(self, stream, media_type=None, parser_context=None):
        body = read_limited(stream, max_body())
        check_depth(body, max_depth())
        return super().parse(io.BytesIO(body), media_type, parser_context)


class FormParser(parsers.FormParser):
    """DRF's form parser, with a size limit and Django's field-count limit answered as a 400."""

    def parse(self, stream, media_type=None, parser_context=None):
        body = read_limited(stream, max_body())
        try:
            return super().parse(io.BytesIO(body), media_type, parser_context)
        except TooManyFieldsSent as exc:
            raise TooManyFields(str(exc)) from None


class MultiPartParser(parsers.MultiPartParser):
    """DRF's multipart parser, with a total size limit and Django's upload limits answered as 400s."""

    def parse(self, stream, media_type=None, parser_context=None):
        meta = parser_context["request"].META
        try:
            length = int(meta.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise ParseError("Invalid Content-Length.") from None
        if length > max_upload():
            raise TooLarge(f"The request body is larger than {max_upload()} bytes.")
        try:
            return super().parse(stream, media_type, parser_context)
        except RequestDataTooBig as exc:
            raise TooLarge(str(exc)) from None
        except (TooManyFieldsSent, TooManyFilesSent) as exc:
            raise TooManyFields(str(exc)) from None


PARSERS = [JSONParser, FormParser, MultiPartParser]
