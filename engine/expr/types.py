"""The small type system of expressions: what a value is, so mistakes are found at check time."""
from __future__ import annotations

from dataclasses import dataclass

from ..fieldtypes import FieldType

NUMERIC = frozenset({"int", "decimal", "money"})
ORDERED = NUMERIC | {"string", "date", "datetime", "time", "duration"}

_FIELD_TYPES = {
    FieldType.INTEGER: "int", FieldType.DECIMAL: "decimal", FieldType.MONEY: "money",
    FieldType.BOOLEAN: "bool", FieldType.DATE: "date", FieldType.DATETIME: "datetime", FieldType.TIME: "time",
    FieldType.JSON: "json", FieldType.REF: "ref", FieldType.REFS: "ref",
}


@dataclass(frozen=True)
class Type:
    """A value's type: ``name`` (bool, int, decimal, money, string, date, datetime, time, duration, ref, json,
    null, list, roles), the entity of a ref, the choices of a choice field."""

    name: str
    entity: str | None = None  # refs: the target entity ('user' for accounts)
    choices: tuple = ()  # choice fields: the values a literal must be one of
    item: Type | None = None  # lists: the type of their items

    def __str__(self):
        if self.name == "ref":
            return f"ref to {self.entity}"
        if self.name == "list" and self.item:
            return f"list of {self.item}"
        return {"int": "integer", "bool": "boolean", "string": "text"}.get(self.name, self.name)

    @property
    def numeric(self):
        return self.name in NUMERIC

    @property
    def ordered(self):
        return self.name in ORDERED


BOOL = Type("bool")
INT = Type("int")
DECIMAL = Type("decimal")
STRING = Type("string")
DATE = Type("date")
DATETIME = Type("datetime")
DURATION = Type("duration")
NULL = Type("null")
ROLES = Type("roles")


def field_type(f):
    """The expression type of field spec ``f``."""
    name = _FIELD_TYPES.get(f.type, "string")
    if name == "ref":
        return Type("ref", entity=f.to)
    return Type(name, choices=f.choice_values if f.type is FieldType.CHOICE else ())


def numeric_result(a, b):
    """The type of ``a (+|-|*) b`` for two numbers: money wins, then decimal."""
    for name in ("money", "decimal"):
        if name in (a.name, b.name):
            return Type(name)
    return INT


def comparable(a, b):
    """Whether values of types ``a`` and ``b`` may be compared (null compares with anything)."""
    if "null" in (a.name, b.name):
        return True
    if a.numeric and b.numeric:
        return True
    if a.name == "ref" and b.name == "ref":
        return a.entity == b.entity
    if {a.name, b.name} == {"ref", "int"}:  # a ref compared with an id
        return True
    return a.name == b.name
