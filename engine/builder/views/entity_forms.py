"""Forms of the Entities section: an entity, a field, a rename. Each turns what was typed into an edit's
arguments (see ``engine.builder.edits``) and shows the edit's refusals beside the fields they concern.

Labels are one input per language of the solution (``label_en``, ``label_ru``); choices are one line each,
``value | label in the first language | label in the second ...``.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import forms

from ...fieldtypes import FieldType

ON_DELETE = [("", "Default (protect if required, else set empty)"),
             ("cascade", "cascade: delete the row too"),
             ("protect", "protect: refuse to delete the target"),
             ("restrict", "restrict: like protect, in the database"),
             ("set_null", "set_null: leave the field empty")]
TEXT_TYPES = "string text markdown email phone url"
NUMBER_TYPES = "integer decimal money"
# Which options apply to which types: shown always (no JavaScript needed), hidden by builder.js otherwise.
APPLIES = {"max_length": TEXT_TYPES, "translate": "string text markdown",
           "min": NUMBER_TYPES, "max": NUMBER_TYPES, "choices": "choice",
           "to": "ref refs", "on_delete": "ref",
           "unique": " ".join(t.value for t in FieldType if t.info.can_be_unique),
           "default": " ".join(t.value for t in FieldType
                               if t not in (FieldType.IMAGE, FieldType.FILE, FieldType.REFS))}


def language_keys(prefix, languages):
    return [(lang, f"{prefix}_{lang}") for lang in languages]


class BuilderForm(forms.Form):
    """A form that knows the solution's languages and maps an edit's refusals onto its fields."""

    def __init__(self, *args, languages=("en",), default_language=None, **kwargs):
        self.languages = tuple(languages) or ("en",)
        self.default_language = default_language if default_language in self.languages else self.languages[0]
        super().__init__(*args, **kwargs)

    def add_language_fields(self, prefix, title, required=False, help_text=""):
        """One input per language; with ``required``, the default language's text must be given."""
        for lang, key in language_keys(prefix, self.languages):
            self.fields[key] = forms.CharField(label=f"{title} ({lang})", max_length=200, help_text=help_text,
                                               required=required and lang == self.default_language)

    def texts(self, prefix):
        """The per-language inputs ``prefix_<lang>`` as ``{lang: text}`` (empty ones left out)."""
        return {lang: self.cleaned_data[key].strip() for lang, key in language_keys(prefix, self.languages)
                if self.cleaned_data.get(key, "").strip()}

    def refuse(self, error):
        """Put an edit's refusals (``EditError.fields``) beside the fields they name, the rest on top."""
        fields = getattr(error, "fields", None) or {}
        for name, items in fields.items():
            key = self.field_for(str(name))
            for message in items:
                self.add_error(key, str(message))
        if not fields:
            self.add_error(None, error.message)

    def field_for(self, name):
        head, _, lang = name.partition(".")
        if head in self.fields:
            return head
        for candidate in (f"{head}_{lang}", f"{head}_{self.default_language}"):
            if candidate in self.fields:
                return candidate
        return None


class EntityForm(BuilderForm):
    """Add an entity: its name, and its label and plural in each language."""

    name = forms.CharField(max_length=63, help_text="Lower-case letters, digits and _; e.g. excursion.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_language_fields("label", "Label", required=True)
        self.add_language_fields("plural", "Plural", required=True)

    def edit(self):
        return {"op": "add_entity", "name": self.cleaned_data["name"].strip(), "label": self.texts("label"),
                "plural": self.texts("plural")}


class RenameForm(BuilderForm):
    new_name = forms.CharField(label="New name", max_length=63,
                               help_text="Lower-case letters, digits and _. The stored values follow the field.")


def number(text, whole=False):
    """Read a number typed in a form: an int when whole, else an int or a float; raise ValidationError."""
    try:
        value = Decimal(text.strip().replace(",", "."))
    except InvalidOperation:
        raise forms.ValidationError("Enter a number.") from None
    if not value.is_finite():
        raise forms.ValidationError("Enter a number.")
    if value == value.to_integral_value():
        return int(value)
    if whole:
        raise forms.ValidationError("Enter a whole number.")
    return float(value)


def typed_default(ftype, text):
    """Read a default typed as text into the value the YAML should hold for a field of ``ftype``."""
    if ftype is FieldType.INTEGER:
        return number(text, whole=True)
    if ftype in (FieldType.DECIMAL, FieldType.MONEY):
        return number(text)
    if ftype is FieldType.BOOLEAN:
        lowered = text.strip().lower()
        if lowered in ("true", "yes", "1", "on"):
            return True
        if lowered in ("false", "no", "0", "off"):
            return False
        raise forms.ValidationError("Enter true or false.")
    return text


def parse_choices(text, languages):
    """Read choice lines ``value | label (lang 1) | label (lang 2)`` into ``[{value, label}]``."""
    found = []
    for no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")]
        if not parts[0]:
            raise forms.ValidationError(f"Line {no} has no value before the first '|'.")
        if len(parts) - 1 > len(languages):
            raise forms.ValidationError(f"Line {no} has more labels than the solution has languages.")
        label = {lang: part for lang, part in zip(languages, parts[1:], strict=False) if part}
        found.append({"value": parts[0], "label": label} if label else {"value": parts[0]})
    return found


def choices_text(choices, languages):
    """Write choices back as the lines ``parse_choices`` reads."""
    lines = []
    for c in choices or ():
        if not isinstance(c, dict):
            lines.append(str(c))
            continue
        label = c.get("label") or {}
        texts = [label] if isinstance(label, str) else [label.get(lang, "") for lang in languages]
        lines.append(" | ".join([str(c.get("value", "")), *texts]).rstrip(" |"))
    return "\n".join(lines)


class FieldForm(BuilderForm):
    """Add or change a field: type, labels and help per language, constraints, choices, reference target.

    ``current`` (the field's options as written) makes it an edit form: the name and type stay, and only
    what changed is sent (an emptied option is sent as None, which removes it).
    """

    name = forms.CharField(max_length=63, help_text="Lower-case letters, digits and _; e.g. allergies.")
    type = forms.ChoiceField(choices=[(t.value, t.value) for t in FieldType], initial="string")
    required = forms.BooleanField(required=False, help_text="A row cannot be saved without it.")
    unique = forms.BooleanField(required=False, help_text="No two rows may hold the same value.")
    translate = forms.BooleanField(required=False, label="Translated",
                                   help_text="A value per language of the solution; readers see theirs.")
    default = forms.CharField(required=False, max_length=500, help_text="The value a new row starts with.")
    max_length = forms.IntegerField(required=False, min_value=1, max_value=100000, label="Max length")
    min = forms.CharField(required=False, max_length=40, label="Minimum")
    max = forms.CharField(required=False, max_length=40, label="Maximum")
    choices = forms.CharField(required=False, label="Values and labels", widget=forms.Textarea(attrs={"rows": 4}))
    to = forms.ChoiceField(required=False, label="Refers to")
    on_delete = forms.ChoiceField(required=False, choices=ON_DELETE, label="When the target is deleted")

    def __init__(self, *args, targets=(), current=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.current = current
        self.add_language_fields("label", "Label", required=True)
        self.add_language_fields("help", "Help", help_text="Shown under the input.")
        self.fields["to"].choices = [("", "—"), *((t, t) for t in targets)]
        self.fields["choices"].help_text = ("One per line: value | " +
                                            " | ".join(f"label ({lang})" for lang in self.languages))
        self.order_fields(["name", "type", *(k for _, k in language_keys("label", self.languages))])
        if current is not None:
            del self.fields["name"], self.fields["type"]
        for key, types in APPLIES.items():
            self.fields[key].applies = types  # the template marks the input's box; builder.js hides the rest

    def clean(self):
        data = super().clean()
        ftype = FieldType(data.get("type") or (self.current or {}).get("type", "string"))
        self.ftype = ftype
        for key in ("min", "max"):
            if data.get(key, "").strip():
                try:
                    data[key] = number(data[key], whole=ftype is FieldType.INTEGER)
                except forms.ValidationError as error:
                    self.add_error(key, error)
        if data.get("default", "").strip():
            try:
                data["default"] = typed_default(ftype, data["default"])
            except forms.ValidationError as error:
                self.add_error("default", error)
        if data.get("choices", "").strip():
            try:
                data["choices"] = parse_choices(data["choices"], self.languages)
            except forms.ValidationError as error:
                self.add_error("choices", error)
        for key, types in APPLIES.items():
            if self.given(key) and ftype.value not in types.split():
                self.add_error(key, f"A {ftype.value} field does not take this option.")
        if ftype in (FieldType.REF, FieldType.REFS) and not data.get("to") and self.current is None:
            self.add_error("to", "Choose the entity this field refers to.")
        return data

    def given(self, key):
        value = self.cleaned_data.get(key)
        return value not in (None, "", False, [])

    def options(self):
        """Every option typed, as the edit's arguments (labels and help as ``{lang: text}``)."""
        found = {"label": self.texts("label"), "help": self.texts("help")}
        for key in ("required", "unique", "translate", "default", "max_length", "min", "max", "choices", "to",
                    "on_delete"):
            found[key] = self.cleaned_data.get(key) if self.given(key) else None
        return found

    def edit(self, entity):
        """The add_field edit, or the update_field edit of what changed."""
        options = self.options()
        if self.current is None:
            args = {k: v for k, v in options.items() if v not in (None, {}, False)}
            return {"op": "add_field", "entity": entity, "name": self.cleaned_data["name"].strip(),
                    "type": self.ftype.value, **args}
        before = initial_options(self.current, self.languages, self.default_language)
        changed = {}
        for key, value in options.items():
            old = before.get(key)
            if key in ("label", "help"):
                if value != old:
                    changed[key] = value or None
            elif value != old and not (value is None and old in (None, False, "")):
                changed[key] = value
        return {"op": "update_field", "entity": entity, "field": self.current["name"], **changed}


def initial_options(raw, languages, default_language=None):
    """A field's options as written in the YAML, shaped like ``FieldForm.options`` (a label written as one
    text counts as the default language's)."""
    def texts(value):
        if isinstance(value, str):
            return {default_language or languages[0]: value}
        return {k: str(v) for k, v in (value or {}).items()}

    found = {"label": texts(raw.get("label")), "help": texts(raw.get("help"))}
    for key in ("required", "unique", "translate", "default", "max_length", "min", "max", "choices", "to",
                "on_delete"):
        found[key] = raw.get(key)
    return found


def initial_data(raw, languages, default_language=None):
    """The edit form's initial values for a field written as ``raw``."""
    options = initial_options(raw, languages, default_language)
    data = {key: options[key] for key in ("required", "unique", "translate", "max_length", "to", "on_delete")}
    for key in ("min", "max", "default"):
        value = options[key]
        data[key] = "" if value is None else ("true" if value is True else "false" if value is False else str(value))
    data["choices"] = choices_text(options["choices"], languages)
    for prefix in ("label", "help"):
        for lang, key in language_keys(prefix, languages):
            data[key] = options[prefix].get(lang, "")
    return data


ASCENDING = [("", "ascending (A→Z, 1→9, oldest first)"), ("-", "descending (Z→A, 9→1, newest first)")]


class EntitySettingsForm(BuilderForm):
    """Change an entity's settings: label and plural per language, the field that titles a row, the fields
    searched, and the order rows are listed in (a field and a direction per step).

    ``current`` is the entity as written; ``edit`` sends only what changed.
    """

    title = forms.ChoiceField(required=False, label="Title field",
                              help_text="Names a row wherever it is shown or chosen (e.g. in a reference).")
    search = forms.MultipleChoiceField(required=False, label="Search in", widget=forms.CheckboxSelectMultiple,
                                       help_text="The fields a search box looks in.")

    def __init__(self, *args, fields=(), current=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.current = current or {}
        self.field_names = [name for name, _ in fields]
        names = list(fields)
        self.add_language_fields("label", "Label", required=True)
        self.add_language_fields("plural", "Plural", required=True)
        self.fields["title"].choices = [("", "— none (rows are shown by number)"), *names]
        self.fields["search"].choices = names
        ordering = self.current_ordering()
        self.steps = max(3, len(ordering) + 1)
        # Names the YAML already sorts by stay choosable, so an unchanged form round-trips.
        known = names + [(n, n) for n in (item.lstrip("-") for item in ordering) if n not in self.field_names]
        for step in range(1, self.steps + 1):
            self.fields[f"order_{step}"] = forms.ChoiceField(
                required=False, label="Sort by" if step == 1 else "then by", choices=[("", "—"), *known])
            self.fields[f"order_{step}_dir"] = forms.ChoiceField(required=False, label="Direction",
                                                                 choices=ASCENDING)
        self.initial.update(self.initial_data())

    def current_ordering(self):
        value = self.current.get("ordering")
        return [str(v) for v in value] if isinstance(value, list) else []

    def current_texts(self, key):
        value = self.current.get(key)
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items() if v not in (None, "")}
        return {self.default_language: str(value)} if value not in (None, "") else {}

    def current_search(self):
        value = self.current.get("search")
        return [str(v) for v in value] if isinstance(value, list) else []

    def initial_data(self):
        data = {"title": self.current.get("title") or "", "search": self.current_search()}
        for prefix in ("label", "plural"):
            texts = self.current_texts(prefix)
            for lang, key in language_keys(prefix, self.languages):
                data[key] = texts.get(lang, "")
        for step, item in enumerate(self.current_ordering(), start=1):
            data[f"order_{step}"] = item.lstrip("-")
            data[f"order_{step}_dir"] = "-" if item.startswith("-") else ""
        return data

    def field_for(self, name):
        return "order_1" if name == "ordering" else super().field_for(name)

    def order_fields_list(self):
        """The ordering steps as (field, direction) bound-field pairs, for the template."""
        return [(self[f"order_{s}"], self[f"order_{s}_dir"]) for s in range(1, self.steps + 1)]

    def clean(self):
        data = super().clean()
        ordering, seen = [], set()
        for step in range(1, self.steps + 1):
            name = data.get(f"order_{step}")
            if not name:
                continue
            if name in seen:
                self.add_error(f"order_{step}", f"Rows are already sorted by {name}; choose each field once.")
                continue
            seen.add(name)
            ordering.append((data.get(f"order_{step}_dir") or "") + name)
        data["ordering"] = ordering
        return data

    def edit(self, entity):
        """The update_entity edit of what changed, or None when nothing did."""
        changed = {}
        for key in ("label", "plural"):
            texts = self.texts(key)
            if texts != self.current_texts(key):
                changed[key] = texts
        title = self.cleaned_data.get("title") or None
        if title != (self.current.get("title") or None):
            changed["title"] = title
        search, before = self.cleaned_data.get("search") or [], self.current_search()
        if set(search) != set(before):
            # Keep the written order of what stays, add the new fields in their order on the entity.
            kept = [n for n in before if n in search]
            changed["search"] = kept + [n for n in search if n not in kept] or None
        ordering = self.cleaned_data["ordering"]
        if ordering != self.current_ordering():
            changed["ordering"] = ordering or None
        return {"op": "update_entity", "entity": entity, **changed} if changed else None


class EntityRenameForm(BuilderForm):
    new_name = forms.CharField(label="New name", max_length=63,
                               help_text="Lower-case letters, digits and _. The table and its rows follow the entity.")
