"""API errors in one shape: ``{field: [{"message": ..., "code": ...}]}``, ``detail`` for the rest."""
from django.core.exceptions import PermissionDenied, RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.db.models.deletion import ProtectedError, RestrictedError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.fields import get_error_detail
from rest_framework.views import exception_handler as drf_exception_handler

from ..writes import DomainError
from .content import policy_name
from .parsers import TooLarge, TooManyFields


def _details(data):
    """Turn DRF's full details into lists of {message, code}, however they nest."""
    if isinstance(data, dict) and set(data) == {"message", "code"}:
        return [data]
    if isinstance(data, dict):
        return {key: _details(value) for key, value in data.items()}
    if isinstance(data, list):
        flat = []
        for item in data:
            value = _details(item)
            flat.extend(value) if isinstance(value, list) else flat.append(value)
        return flat
    return [{"message": str(data), "code": "error"}]


class InUse(exceptions.APIException):
    """A row other rows still refer to (protected references): it cannot be deleted (HTTP 409)."""

    status_code = 409
    default_detail = "Other records still refer to this one."
    default_code = "protected"


class Conflict(exceptions.APIException):
    """A write the database refused because of a concurrent change (HTTP 409); retrying may succeed."""

    status_code = 409
    default_detail = "The data changed while this was being saved; reload and try again."
    default_code = "conflict"


class Refused(exceptions.APIException):
    """A write refused because of the row as it is now: its state, a guard, a concurrent change (HTTP 409)."""

    status_code = 409
    default_detail = "This was refused."
    default_code = "refused"


def domain_error(exc, view):
    """The DRF exception of a write's domain error: 409 with a message, or 400 with field errors.

    Field errors name only fields the caller sees (others join ``non_field_errors``); errors from
    Django's validation of the row keep the API's own wording of unique conflicts.
    """
    if exc.status_code == 409:
        return Refused(exc.message, code=exc.code)
    access, entity = getattr(view, "access", None), getattr(view, "entity_name", None)
    if access is None or entity is None:
        return exceptions.ValidationError({"non_field_errors": [exc.message]}, code=exc.code)
    sent = set(view.request.data) if hasattr(view.request.data, "keys") else set()
    if getattr(view, "api", None) is not None:
        sent |= {policy_name(view.api.spec, key) for key in sent}  # 'name_translations' sends 'name'
    if getattr(exc.source, "error_dict", None):
        from ..build.api import unique_errors

        return exceptions.ValidationError(unique_errors(exc.source, view.api.model, access, sent))
    visible = set(access.visible_fields(entity))
    errors = {}
    for name, messages in exc.fields.items():
        # A required field the caller does not see is named, so the refusal says what is missing (the solution
        # asks for what the caller cannot give); a rule's own message about a hidden field is passed on as
        # written, without naming the field.
        key = name if name in visible else "non_field_errors"
        errors.setdefault(key, []).extend(
            exceptions.ErrorDetail(f"{name}: {m}" if key != name and m.code == "required" else str(m), code=m.code)
            for m in messages)
    if exc.general or not errors:
        errors.setdefault("non_field_errors", []).insert(0, exceptions.ErrorDetail(exc.message, code=exc.code))
    return exceptions.ValidationError(errors)


def _in_use_message(exc):
    blockers = exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects
    kinds = sorted({str(obj._meta.verbose_name_plural) for obj in blockers})
    return f"Other records still refer to this one ({', '.join(kinds)}); delete or change them first."


def exception_handler(exc, context):
    """DRF's handler, with Django validation errors as 400s and every error in the same shape."""
    if isinstance(exc, DomainError):
        exc = domain_error(exc, context.get("view"))
    elif isinstance(exc, DjangoValidationError):
        detail = get_error_detail(exc)
        exc = exceptions.ValidationError(detail if isinstance(detail, dict) else {"non_field_errors": detail})
    elif isinstance(exc, (ProtectedError, RestrictedError)):
        exc = InUse(_in_use_message(exc))
    elif isinstance(exc, RequestDataTooBig):  # Django refuses the body when DRF reads request.body
        exc = TooLarge(str(exc))
    elif isinstance(exc, (TooManyFieldsSent, TooManyFilesSent)):
        exc = TooManyFields(str(exc))
    elif isinstance(exc, IntegrityError):
        exc = Conflict()  # a constraint the checks before the write could not see (a concurrent write)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.APIException):
        details = exc.get_full_details()
        if not isinstance(details, dict) or set(details) == {"message", "code"}:
            details = {"detail": details}
        response.data = _details(details)
    return response
