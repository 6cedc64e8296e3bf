"""Translatable content: fields with ``translate: true`` hold a value per solution language.

Storage is one real column per language: the field's own column holds the default language's value
(so making a field translatable keeps its data), and each other language has a column named
``<field>_<language>`` (``name_ru``; ``pt-br`` gives ``name_pt_br``). The migration planner sees those
columns as fields of their own (``stored_fields``), so adding a language adds columns and removing
one is a refused data loss like any dropped column.

Readers get the value in the active language, falling back to the default language's value when the
translation is empty (``text``). Search covers every language (``search_names``); forms edit each
language (``form_names``).
"""
from __future__ import annotations

import dataclasses

from django.conf.locale import LANG_INFO
from django.db.models import Case, F, When
from django.utils.text import format_lazy
from django.utils.translation import get_language

from .spec import Label


def column_name(name, language):
    """The attribute (and column) of ``language``'s value of field ``name``."""
    return f"{name}_{language.replace('-', '_')}"


def language_name(code):
    """The language's own name ('Русский'), or its code when Django does not know it."""
    info = LANG_INFO.get(code) or LANG_INFO.get(code.split("-")[0]) or {}
    return info.get("name_local", code)


def is_translated(f):
    """Whether ``f`` (a field spec) has columns for other languages."""
    return bool(f.translations)


def columns(f, default_language):
    """{language: attribute} of every language of translated field ``f``, the default language first."""
    found = {default_language: f.name}
    found.update((lang, column_name(f.name, lang)) for lang in f.translations)
    return found


def translation_fields(f):
    """Field specs of the other languages' columns of ``f``: optional, never unique, without defaults."""
    found = []
    for lang in f.translations:
        label = Label(tuple((key, f"{text} ({language_name(lang)})") for key, text in (f.label.texts or
                                                                                    ((None, f.name),))))
        found.append(dataclasses.replace(
            f, name=column_name(f.name, lang), label=label, help=Label(), required=False, unique=False,
            index=False, default=None, has_default=False, sequence=None, computed=None, default_expr=None,
            renamed_from=column_name(f.renamed_from, lang) if f.renamed_from else None, translate=False,
            translations=(), translation_of=f.name, language=lang, raw_options=frozenset()))
    return found


def stored_fields(entity):
    """The fields of ``entity`` as the database holds them: translated fields become one plain field per
    language. What the schema of a version is, for the planner and the models it builds."""
    if not any(f.translations for f in entity.fields):
        return entity
    fields = []
    for f in entity.fields:
        if f.translations:
            fields += [dataclasses.replace(f, translations=()), *translation_fields(f)]
        else:
            fields.append(f)
    return dataclasses.replace(entity, fields=tuple(fields))


def text(obj, f, language=None):
    """The value of translated field ``f`` of ``obj`` in ``language`` (default: the active one), falling
    back to the default language's value when that translation is empty."""
    language = language or get_language()
    if language and language in f.translations:
        value = getattr(obj, column_name(f.name, language), "")
        if value:
            return value
    return getattr(obj, f.name)


def translations(obj, f, default_language):
    """{language: value} of every language of ``f`` on ``obj`` ('' where there is none)."""
    return {lang: getattr(obj, attr) or "" for lang, attr in columns(f, default_language).items()}


def search_names(entity, names):
    """``names`` with the other languages' columns of each translated field after it: search matches a
    text in any language."""
    found = []
    for name in names:
        found.append(name)
        f = entity.field(name)
        if f is not None and f.translations:
            found += [column_name(name, lang) for lang in f.translations]
    return found


def form_names(entity, names):
    """The form fields that edit ``names``: a translated field is edited in every language, its inputs
    side by side (the default language's first). Forms call this with the fields they show."""
    return search_names(entity, names)


def order_key(entity, name, language=None):
    """An ordering expression for field ``name`` in the reader's language (its default column when the
    field is not translated or the reader reads the default language). ``-name`` sorts descending."""
    descending = name.startswith("-")
    bare = name.lstrip("-")
    f = entity.field(bare)
    language = language or get_language()
    if f is None or language not in f.translations:
        return name
    col = column_name(bare, language)
    expr = Case(When(**{col: ""}, then=F(bare)), default=F(col))
    return expr.desc() if descending else expr.asc()


def field_of(entity, name):
    """The field spec of ``name`` in ``entity``, a language column of a translated field included."""
    found = entity.field(name)
    if found is None and any(f.translations for f in entity.fields):
        found = stored_fields(entity).field(name)
    return found


def form_label(model_field):
    """The form label of a translated field's column: its label and the language's own name ('Name
    (Русский)'), so the inputs of each language read as a group; None for other fields."""
    spec = getattr(model_field.model, "spec", None)
    f = field_of(spec, model_field.name) if spec is not None else None
    if f is None or not f.language:
        return None
    if f.translation_of:
        return model_field.verbose_name  # made with the language's name (translation_fields)
    return format_lazy("{} ({})", model_field.verbose_name, language_name(f.language))


def is_translation_column(entity, name):
    """Whether ``name`` is another language's column of a translated field of ``entity``."""
    return any(name in (column_name(f.name, lang) for lang in f.translations) for f in entity.fields)


__all__ = ["column_name", "columns", "field_of", "form_label", "form_names", "is_translated", "is_translation_column",
           "language_name", "order_key", "search_names", "stored_fields", "text", "translation_fields",
           "translations"]
