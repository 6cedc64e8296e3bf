"""The inputs of a form page: the YAML's limits on each input, ref choices as the reader may pick them
(named, one query, a single required choice shown as fixed text), and values prefilled from the URL.

``?service=5`` on ``/p/<form>/new/`` fills the service when the form would accept 5 from this user
(in their scope and the field's limits); any other value or name is ignored, never an error.
"""
from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from ..fieldtypes import FieldType
from .base import html5_widget
from .choices import empty_label, ref_choice_list
from .files import file_url

NUMBERS = (FieldType.INTEGER, FieldType.DECIMAL, FieldType.MONEY)


def formfield(field, **kwargs):
    """The form field of model field ``field``: the phone's native pickers and the YAML's limits
    (``min``/``max`` instead of the column's range, ``min_length``; ``maxlength``/``step``/``required``
    come with Django's own fields)."""
    spec = getattr(field.model, "spec", None)
    f = spec.field(field.name) if spec is not None else None
    if f is not None and f.type in NUMBERS:
        for key, value in (("min_value", f.min_value), ("max_value", f.max_value)):
            if value is not None:
                kwargs[key] = value
    if f is not None and f.type.is_textual and f.type is not FieldType.CHOICE and not f.choices:
        for key, value in (("min_length", f.min_length), ("max_length", f.max_length)):
            if value:
                kwargs[key] = value
    if f is not None and f.type in (FieldType.FILE, FieldType.IMAGE):
        kwargs["widget"] = ScopedFileInput(attrs={"accept": "image/*"} if f.type is FieldType.IMAGE else None)
    result = html5_widget(field, **kwargs)
    if result is not None and isinstance(result.widget, forms.Textarea):
        result.widget.attrs["rows"] = 4  # a phone screen, not a desktop editor; it grows as one types
    if f is not None and f.type in NUMBERS and result is not None:
        # The column's own range (64-bit integers) is still validated; the input shows only the YAML's.
        for attr, value in (("min", f.min_value), ("max", f.max_value)):
            if value is None:
                result.widget.attrs.pop(attr, None)
    return result


class _Stored:
    """A stored file as the file input shows it: its name, linked to the scoped download."""

    def __init__(self, value):
        self.url = file_url(value.instance, value.field.name)
        self.name = value.name.rsplit("/", 1)[-1]

    def __str__(self):
        return self.name


class ScopedFileInput(forms.ClearableFileInput):
    """A file input whose "currently" link goes through the scoped download, not ``/media/``."""

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        if self.is_initial(value) and hasattr(value, "instance"):
            context["widget"]["value"] = _Stored(value)
        return context


def offer_choices(form, access, built, shared=None):
    """Narrow every ref input of ``form`` to the reader's choices, named; fix a required ref with one choice.

    ``shared`` ({field: current ids of all the rows}, filled with the choices) lets many forms of one entity
    (child rows) share one read of the choices: queries stay constant in the number of rows.
    """
    entity = form._meta.model.spec.name
    for name, field in form.fields.items():
        if getattr(field, "queryset", None) is None:
            continue
        if shared is not None and name in shared:
            found = shared[name]
            if not isinstance(found, tuple) or len(found) != 2 or not isinstance(found[1], list):
                current = found
                found = shared[name] = (access.ref_choices(entity, name, current),
                                        ref_choice_list(access, built, entity, name, current))
            field.queryset, choices = found
        else:
            current = access.current_choices(form.instance, name)
            field.queryset = access.ref_choices(entity, name, current)  # the API's rule too
            choices = ref_choice_list(access, built, entity, name, current)
        many = isinstance(field, forms.ModelMultipleChoiceField)
        if not many and field.required and len(choices) == 1:
            pk, text = choices[0]
            field.widget = forms.HiddenInput()
            field.fixed_label = text  # the template shows it as text beside the hidden input
            form.initial[name] = pk
            continue
        field.choices = choices if many else [("", empty_label()), *choices]


def prefill(form, params):
    """Initial values from ``params`` (the GET query) for the fields that would accept them; the rest ignored."""
    found = {}
    for name, field in form.fields.items():
        if name not in params or isinstance(field, forms.FileField):
            continue
        raw = field.widget.value_from_datadict(params, {}, form.add_prefix(name))
        if raw in (None, "", [], ()):
            continue
        try:
            value = field.clean(raw)
        except (ValidationError, ValueError, TypeError, OverflowError):
            continue  # a value the form would refuse is not offered
        found[name] = value.pk if hasattr(value, "pk") else value
    form.initial.update(found)
    return found
