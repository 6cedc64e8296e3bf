"""Numbers from a pattern (``R-{year}-{seq:05}``): checked at compile time, taken under a row lock.

The counter is a row of ``engine.models.Sequence`` per entity, field and period; taking a number locks
that row in the transaction that creates the numbered row, so two creates never get the same number
and a create that rolls back hands its number back.
"""
from __future__ import annotations

import datetime as dt
import re
import string

PARTS = ("year", "month", "day")  # date parts, in the solution's time zone
SEQ = "seq"
_FORMATTER = string.Formatter()


class PatternError(ValueError):
    """A numbering pattern that cannot be used; the message says why."""


def parse(pattern):
    """Return the pattern's pieces ``[(literal, name, format spec)]``; raise ``PatternError``."""
    try:
        pieces = list(_FORMATTER.parse(pattern))
    except ValueError as exc:
        raise PatternError(f"{exc} (write '{{{{' and '}}}}' for literal braces)") from None
    names = []
    for _, name, spec, conversion in pieces:
        if name is None:
            continue
        if name not in (*PARTS, SEQ):
            raise PatternError(f"unknown part '{{{name}}}'; known: {{seq}}, {{year}}, {{month}}, {{day}}")
        if conversion:
            raise PatternError(f"'{{{name}!{conversion}}}' converts its value; write '{{{name}:<format>}}'")
        if "{" in spec:
            raise PatternError(f"'{{{name}:{spec}}}' nests a part in its format")
        if any(int(number) > 99 for number in re.findall(r"[0-9]+", spec)):
            raise PatternError(f"'{{{name}:{spec}}}' asks for a width of 100 characters or more")
        try:
            format(1, spec)
        except ValueError:
            raise PatternError(f"'{{{name}:{spec}}}' has a format a number does not take, e.g. write "
                               f"'{{{name}:05}}'") from None
        names.append(name)
    if names.count(SEQ) != 1:
        raise PatternError("a pattern needs exactly one '{seq}' (the running number)")
    return pieces


def render(pieces, day, seq=None):
    """The text of the pattern for ``day`` and number ``seq``; with ``seq`` None, the counter's key:
    the text with '{seq}' in place of the number, the same for every row of one period."""
    out = []
    for literal, name, spec, _ in pieces:
        out.append(literal)
        if name == SEQ:
            out.append("{seq}" if seq is None else format(seq, spec))
        elif name is not None:
            out.append(format(getattr(day, name), spec))
    return "".join(out)


def min_length(pieces):
    """The shortest text the pattern gives (a four-digit year, the number 1)."""
    return len(render(pieces, dt.date(2000, 1, 1), 1))


def take(entity, field, pattern, day):
    """Take the next number of ``pattern`` for ``day`` and return the text; call inside the transaction
    that stores it. The counter row is made if missing (a conflicting insert is ignored), then locked."""
    from ..models import Sequence

    pieces = parse(pattern)
    key = render(pieces, day)
    Sequence.objects.bulk_create([Sequence(entity=entity, field=field, key=key)], ignore_conflicts=True)
    counter = Sequence.objects.select_for_update().get(entity=entity, field=field, key=key)
    counter.value += 1
    counter.save(update_fields=["value"])
    return render(pieces, day, counter.value)
