"""Check an edit's arguments before anything is written: names, labels, types, existence.

``Args`` collects every problem per argument and raises one ``EditError`` naming them all, so an edit
either passes whole or changes nothing.
"""
from __future__ import annotations

import keyword
import re

from ..checks import API_PATHS, MODEL_ATTRIBUTES, SQL_RESERVED
from .errors import EditError

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
MAX_NAME = 40  # schemas/common.json
MAX_LABEL = 200
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u2028\u2029]")
MISSING = object()


class Args:
    """An edit's arguments with the problems found in them so far."""

    def __init__(self, edit, required=(), optional=()):
        self.data = edit
        self.errors = {}
        allowed = {"op", *required, *optional}
        for key in edit:
            if key not in allowed:
                self.fail(str(key), f"is not an argument of '{edit.get('op')}' (it takes: "
                          f"{', '.join(sorted(allowed - {'op'}))})")
        for key in required:
            if edit.get(key) in (None, "", [], {}):
                self.fail(key, "is required")

    def fail(self, arg, message):
        self.errors.setdefault(arg, []).append(message)
        return None

    def ok(self, *args):
        """Whether none of ``args`` (or none at all) has a problem yet."""
        return not any(a in self.errors for a in args) if args else not self.errors

    def get(self, key, default=None):
        return self.data.get(key, default)

    def given(self, key):
        return key in self.data

    def check(self):
        """Raise ``EditError`` with every problem found."""
        if self.errors:
            raise EditError(self.errors)

    # --- typed readers: return the clean value, or None after recording a problem -------------

    def name(self, key, what="name", value=MISSING):
        value = self.data.get(key) if value is MISSING else value
        if not isinstance(value, str) or not value:
            return self.fail(key, f"must be a {what} name") if key not in self.errors else None
        problem = name_problem(value, what)
        return self.fail(key, problem) if problem else value

    def names(self, key, allowed=None, what="name", allow_all=False):
        value = self.data.get(key)
        if allow_all and value == "all":
            return "all"
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            return self.fail(key, f"must be a list of {what} names")
        if len(set(value)) != len(value):
            return self.fail(key, "names something twice")
        for item in value:
            if not NAME_RE.match(item):
                return self.fail(key, f"'{item}' is not a valid {what} name")
            if allowed is not None and item not in allowed:
                return self.fail(key, f"'{item}' is not one of: {', '.join(allowed) or '(none)'}")
        return list(value)

    def choice(self, key, options, value=MISSING):
        value = self.data.get(key) if value is MISSING else value
        if value not in options:
            return self.fail(key, f"must be one of: {', '.join(str(o) for o in options)}")
        return value

    def boolean(self, key):
        value = self.data.get(key)
        if not isinstance(value, bool):
            return self.fail(key, "must be true or false")
        return value

    def integer(self, key, low=None, high=None):
        value = self.data.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            return self.fail(key, "must be a whole number")
        if (low is not None and value < low) or (high is not None and value > high):
            return self.fail(key, f"must be between {low} and {high}")
        return value

    def number(self, key):
        value = self.data.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value \
                or value in (float("inf"), float("-inf")):
            return self.fail(key, "must be a number")
        return value

    def text(self, key, limit=MAX_LABEL, pattern=None, message="is not valid", multiline=False):
        value = self.data.get(key)
        if not isinstance(value, str) or not value.strip():
            return self.fail(key, "must be a non-empty text")
        if len(value) > limit:
            return self.fail(key, f"must be at most {limit} characters")
        if CONTROL.search(value) or (not multiline and ("\n" in value or "\r" in value)):
            return self.fail(key, "must not hold control characters or line breaks")
        if pattern is not None and not re.fullmatch(pattern, value):
            return self.fail(key, message)
        return value

    def label(self, key, languages, default_language=None, required=True, multiline=False, value=MISSING):
        """A text per language: ``{lang: text}`` for the solution's languages (empty texts dropped)."""
        value = self.data.get(key) if value is MISSING else value
        if not isinstance(value, dict):
            return self.fail(key, f"must be a text per language ({', '.join(languages)})")
        clean = {}
        for lang, text in value.items():
            if lang not in languages:
                return self.fail(key, f"'{lang}' is not one of the solution's languages ({', '.join(languages)})")
            if text is None or (isinstance(text, str) and not text.strip()):
                continue
            if not isinstance(text, str):
                return self.fail(key, f"the {lang} text must be a text")
            if len(text) > (20000 if multiline else MAX_LABEL):
                return self.fail(key, f"the {lang} text is too long")
            if CONTROL.search(text) or (not multiline and ("\n" in text or "\r" in text)):
                return self.fail(key, f"the {lang} text must not hold control characters or line breaks")
            clean[lang] = text if multiline else text.strip()
        if required and not clean:
            return self.fail(key, "needs a text in at least one language")
        if required and default_language and default_language not in clean:
            return self.fail(key, f"needs a text in the default language ({default_language})")
        return {lang: clean[lang] for lang in languages if lang in clean}


def name_problem(value, what):
    """Why ``value`` cannot name a ``what`` (entity, field, role, page, ...), or None."""
    if not NAME_RE.match(value):
        return f"'{value}' is not a valid {what} name: lower-case letters, digits and '_', starting with a letter"
    if len(value) > MAX_NAME:
        return f"must be at most {MAX_NAME} characters"
    if "__" in value or value.endswith("_"):
        return f"'{value}' may not hold '__' or end with '_'"
    if keyword.iskeyword(value) or keyword.issoftkeyword(value):
        return f"'{value}' is a Python keyword"
    if what in ("entity", "field") and value in SQL_RESERVED:
        return f"'{value}' is an SQL reserved word"
    if what == "field" and (value in MODEL_ATTRIBUTES or value == "id"):
        return f"'{value}' is reserved (an attribute of every row)"
    if what == "entity" and (value == "user" or value in API_PATHS):
        return f"'{value}' is reserved"
    return None
