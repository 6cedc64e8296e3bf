"""Field types of the DSL: which options each accepts, how defaults are read, how they store.

Types are an enum checked when a solution compiles, so a wrong option or default is reported
with its place in the YAML instead of failing on the first request.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum

COMMON_OPTIONS = frozenset({"type", "label", "help", "required", "unique", "index", "default", "renamed_from"})
# A value from an expression (engine/rules): computed on every read, or a default when a row is made.
EXPR_OPTIONS = ("computed", "default_expr")
PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()\-.]{3,30}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class TypeInfo:
    options: frozenset
    storage: str  # varchar, text, integer, decimal, boolean, date, datetime, time, json, fk, m2m, file
    default_max_length: int | None = None
    can_be_unique: bool = True
    can_index: bool = True
    is_relation: bool = False


def _info(storage, *options, **kw):
    return TypeInfo(COMMON_OPTIONS | frozenset(options), storage, **kw)


class FieldType(StrEnum):
    """A DSL field type."""

    STRING = "string"
    TEXT = "text"
    MARKDOWN = "markdown"
    INTEGER = "integer"
    DECIMAL = "decimal"
    MONEY = "money"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    TIME = "time"
    CHOICE = "choice"
    EMAIL = "email"
    PHONE = "phone"
    URL = "url"
    IMAGE = "image"
    FILE = "file"
    JSON = "json"
    REF = "ref"
    REFS = "refs"

    @property
    def info(self) -> TypeInfo:
        return TYPE_INFO[self]

    @property
    def is_textual(self):
        return self.info.storage in ("varchar", "text")

    @property
    def is_numeric(self):
        return self in (FieldType.INTEGER, FieldType.DECIMAL, FieldType.MONEY)


TYPE_INFO = {
    FieldType.STRING: _info("varchar", *EXPR_OPTIONS, "sequence", "min_length", "max_length", "translate",
                            default_max_length=255),
    FieldType.TEXT: _info("text", *EXPR_OPTIONS, "min_length", "max_length", "translate", can_be_unique=False,
                          can_index=False),
    FieldType.MARKDOWN: _info("text", *EXPR_OPTIONS, "min_length", "max_length", "translate", can_be_unique=False,
                              can_index=False),
    FieldType.INTEGER: _info("integer", *EXPR_OPTIONS, "min", "max"),
    FieldType.DECIMAL: _info("decimal", *EXPR_OPTIONS, "min", "max", "max_digits", "decimal_places"),
    FieldType.MONEY: _info("decimal", *EXPR_OPTIONS, "min", "max", "max_digits", "decimal_places", "currency"),
    FieldType.BOOLEAN: _info("boolean", *EXPR_OPTIONS, can_be_unique=False),
    FieldType.DATE: _info("date", *EXPR_OPTIONS),
    FieldType.DATETIME: _info("datetime", *EXPR_OPTIONS),
    FieldType.TIME: _info("time", *EXPR_OPTIONS),
    FieldType.CHOICE: _info("varchar", *EXPR_OPTIONS, "choices"),
    FieldType.EMAIL: _info("varchar", *EXPR_OPTIONS, "max_length", default_max_length=254),
    FieldType.PHONE: _info("varchar", *EXPR_OPTIONS, "max_length", default_max_length=32),
    FieldType.URL: _info("varchar", *EXPR_OPTIONS, "max_length", default_max_length=500),
    FieldType.IMAGE: _info("file", can_be_unique=False, default_max_length=255),
    FieldType.FILE: _info("file", can_be_unique=False, default_max_length=255),
    FieldType.JSON: _info("json", can_be_unique=False, can_index=False),
    FieldType.REF: _info("fk", "default_expr", "to", "on_delete", "limit_choices", is_relation=True),
    FieldType.REFS: TypeInfo(frozenset({"type", "label", "help", "required", "to", "renamed_from", "limit_choices"}),
                             "m2m",
                             can_be_unique=False, can_index=False, is_relation=True),
}

DECIMAL_DEFAULTS = {FieldType.DECIMAL: (12, 2), FieldType.MONEY: (14, 2)}


class BadDefault(ValueError):
    """A default value does not fit its field."""


def parse_value(ftype, value, choices=()):
    """Convert a YAML value to the Python value a field of ``ftype`` stores; raise ``BadDefault``."""
    if value is None:
        return None
    parser = _PARSERS.get(ftype)
    if parser is None:
        raise BadDefault(f"a {ftype.value} field cannot have a default")
    result = parser(value)
    if ftype is FieldType.CHOICE and result not in choices:
        raise BadDefault(f"{value!r} is not one of the choices ({', '.join(choices)})")
    return result


def _text(value):
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise BadDefault(f"{value!r} is not a text")
    return str(value)


def _integer(value):
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadDefault(f"{value!r} is not a whole number")
    return value


def _decimal(value):
    if isinstance(value, bool):
        raise BadDefault(f"{value!r} is not a number")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise BadDefault(f"{value!r} is not a number") from None


def _boolean(value):
    if not isinstance(value, bool):
        raise BadDefault(f"{value!r} is not true or false")
    return value


def _temporal(kind, parse):
    def parser(value):
        if not isinstance(value, str):
            raise BadDefault(f"{value!r} is not a {kind} in ISO form")
        if value == "now" and kind != "date" or value == "today" and kind == "date":
            return value
        try:
            return parse(value)
        except ValueError:
            raise BadDefault(f"{value!r} is not a {kind} in ISO form (e.g. {_EXAMPLES[kind]})") from None
    return parser


_EXAMPLES = {"date": "2026-01-31", "datetime": "2026-01-31T18:30:00", "time": "18:30"}


def _pattern(kind, rx):
    def parser(value):
        text = _text(value)
        if not rx.match(text):
            raise BadDefault(f"{value!r} is not a valid {kind}")
        return text
    return parser


_PARSERS = {
    FieldType.STRING: _text,
    FieldType.TEXT: _text,
    FieldType.MARKDOWN: _text,
    FieldType.CHOICE: _text,
    FieldType.URL: _text,
    FieldType.EMAIL: _pattern("email address", EMAIL_RE),
    FieldType.PHONE: _pattern("phone number", PHONE_RE),
    FieldType.INTEGER: _integer,
    FieldType.DECIMAL: _decimal,
    FieldType.MONEY: _decimal,
    FieldType.BOOLEAN: _boolean,
    FieldType.DATE: _temporal("date", dt.date.fromisoformat),
    FieldType.DATETIME: _temporal("datetime", dt.datetime.fromisoformat),
    FieldType.TIME: _temporal("time", dt.time.fromisoformat),
    FieldType.JSON: lambda value: value,
}
