"""Structured logs: a request id on every line, and JSON lines when ``CABINET_LOG_FORMAT=json``."""
from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import re
import uuid

_request_id = contextvars.ContextVar("cabinet_request_id", default="-")
# An id from the client or a proxy is kept when it looks like one (no spaces, no control characters).
SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def current_request_id():
    """The id of the request this thread or task is serving ('-' outside requests)."""
    return _request_id.get()


class RequestIdMiddleware:
    """Give every request an id (``X-Request-ID`` when sent and well-formed), log with it, echo it back."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        sent = request.headers.get("X-Request-ID", "")
        request.request_id = sent if SAFE_ID.match(sent) else uuid.uuid4().hex
        token = _request_id.set(request.request_id)
        try:
            response = self.get_response(request)
        finally:
            _request_id.reset(token)
        response["X-Request-ID"] = request.request_id
        return response


class RequestIdFilter(logging.Filter):
    """Put ``request_id`` on every record (the request's when the record carries one)."""

    def filter(self, record):
        request = getattr(record, "request", None)
        record.request_id = getattr(request, "request_id", None) or _request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, request and traceback."""

    def format(self, record):
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or _request_id.get(),
        }
        request = getattr(record, "request", None)
        if request is not None and hasattr(request, "method"):
            entry["method"] = request.method
            entry["path"] = request.path
        status = getattr(record, "status_code", None)
        if status is not None:
            entry["status"] = status
        if record.exc_info:
            entry["exc_type"] = record.exc_info[0].__name__ if record.exc_info[0] else None
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)
