"""Translated fields in the REST API.

A translated field ``name`` reads in the request's language (``?lang=``, ``Accept-Language``, else the
solution's default; an empty translation falls back to the default language's value) and writes that
language's value. ``name_translations`` reads every language as ``{"en": ..., "ru": ...}`` and writes
any of them. Both follow the field policy of ``name``: visible with it, writable with it.
"""
from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import get_language
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import SkipField

from .. import content

SUFFIX = "_translations"


def policy_name(entity, key):
    """The field whose rights input ``key`` needs: ``name`` for ``name_translations``, else ``key``."""
    if key.endswith(SUFFIX):
        f = entity.field(key[: -len(SUFFIX)])
        if f is not None and f.translations:
            return f.name
    return key


def _check(model, attr, value):
    """Validate ``value`` for the column ``attr`` of ``model`` with its own validators; return the errors."""
    if not isinstance(value, str):
        return ["Not a valid string."]
    if "\x00" in value:  # PostgreSQL stores no NUL character in a text
        return ["Null characters are not allowed."]
    try:
        model._meta.get_field(attr).run_validators(value)
    except DjangoValidationError as exc:
        return list(exc.messages)
    return []


class TranslatedText(serializers.CharField):
    """The value in the request's language: read with a fallback, written to that language's column."""

    def __init__(self, spec_field, default_language, **kwargs):
        self.spec_field, self.default_language = spec_field, default_language
        super().__init__(source="*", allow_blank=True, required=False, trim_whitespace=False, **kwargs)

    def to_representation(self, instance):
        return content.text(instance, self.spec_field)

    def run_validation(self, data=serializers.empty):
        value = super().run_validation(data)  # type, length
        columns = content.columns(self.spec_field, self.default_language)
        attr = columns.get(get_language(), self.spec_field.name)
        errors = _check(self.parent.Meta.model, attr, value)
        if errors:
            raise serializers.ValidationError(errors)
        return {attr: value}


class Translations(serializers.Field):
    """Every language's value: ``{"en": "Tea", "ru": "Чай"}``; a write may give any of them."""

    def __init__(self, spec_field, default_language, **kwargs):
        self.spec_field, self.default_language = spec_field, default_language
        super().__init__(source="*", required=False, **kwargs)

    def to_representation(self, instance):
        return content.translations(instance, self.spec_field, self.default_language)

    def to_internal_value(self, data):
        if not isinstance(data, Mapping):
            raise serializers.ValidationError("Send an object of language: text.", code="invalid")
        columns = content.columns(self.spec_field, self.default_language)
        errors, values = {}, {}
        for language, text in data.items():
            if language not in columns:
                errors[language] = [f"Not a language of this solution; its languages: {', '.join(columns)}."]
                continue
            found = _check(self.parent.Meta.model, columns[language], text)
            if found:
                errors[language] = found
            else:
                values[columns[language]] = text
        if errors:
            raise serializers.ValidationError(errors)
        if not values:
            raise SkipField
        return values


def _schema(languages):
    return {"type": "object", "properties": {lang: {"type": "string"} for lang in languages},
            "additionalProperties": False}


def serializer_fields(spec, entity, visible, editable, describe):
    """{name: field} of the translated fields of ``entity`` among ``visible``: each one in the request's
    language and its ``<name>_translations``, read-only unless ``editable``."""
    found = {}
    for name in visible:
        f = entity.field(name)
        if f is None or not f.translations:
            continue
        read_only = name not in editable
        languages = list(content.columns(f, spec.default_language))
        found[name] = TranslatedText(f, spec.default_language, read_only=read_only, help_text=describe(name),
                                     max_length=f.storage_length)
        cls = extend_schema_field(_schema(languages))(type("Translations", (Translations,), {}))
        found[f"{name}{SUFFIX}"] = cls(f, spec.default_language, read_only=read_only,
                                       help_text=f"{name} in every language ({', '.join(languages)}).")
    return found
