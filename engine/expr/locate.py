"""Place a character of an expression in its YAML file, for plain, quoted and block scalars alike."""
from __future__ import annotations

from ..errors import Loc

_ESCAPE_WIDTH = {"x": 4, "u": 6, "U": 10}


def located(loc, source, offset):
    """The ``Loc`` of character ``offset`` of the scalar that starts at ``loc`` in ``source`` (its file's
    text); the scalar's own place when the file is unknown."""
    if not source or not loc.line:
        return loc
    lines = source.split("\n")
    if loc.line > len(lines):
        return loc
    start = sum(len(line) + 1 for line in lines[: loc.line - 1]) + loc.column - 1
    positions = _positions(source, start, offset + 1)
    if not positions:
        return loc
    pos = positions[offset] if offset < len(positions) else positions[-1] + 1
    line = source.count("\n", 0, pos) + 1
    column = pos - (source.rfind("\n", 0, pos) + 1) + 1
    return Loc(loc.file, line, column, loc.path)


def _positions(source, start, wanted):
    """Source indices of the first ``wanted`` characters of the scalar's value."""
    first = source[start:start + 1]
    if first in ("|", ">"):
        return _block(source, start, wanted)
    return _flow(source, start, wanted, first if first in ("'", '"') else "")


def _flow(source, start, wanted, quote):
    found = []
    i = start + (1 if quote else 0)
    while i < len(source) and len(found) < wanted:
        ch = source[i]
        if quote == "'" and ch == "'":
            if source[i + 1:i + 2] != "'":
                break
            found.append(i)
            i += 2
        elif quote == '"' and ch == '"':
            break
        elif quote == '"' and ch == "\\":
            nxt = source[i + 1:i + 2]
            if nxt == "\n":
                i = _skip_blank(source, i + 2)
                continue
            found.append(i)
            i += _ESCAPE_WIDTH.get(nxt, 2)
        elif ch == "\n":
            while found and source[found[-1]] in " \t" and found[-1] > source.rfind("\n", 0, i):
                found.pop()
            i, blanks = _next_line(source, i)
            found.extend([i - 1] * max(1, blanks))
        else:
            found.append(i)
            i += 1
    return found


def _next_line(source, i):
    """From a line break at ``i``: the index of the next non-blank content and the number of blank lines."""
    blanks = 0
    j = i + 1
    while True:
        k = _skip_blank(source, j)
        if source[k:k + 1] == "\n":
            blanks += 1
            j = k + 1
        else:
            return k, blanks


def _skip_blank(source, i):
    while i < len(source) and source[i] in " \t":
        i += 1
    return i


def _block(source, start, wanted):
    folded = source[start] == ">"
    header_end = source.find("\n", start)
    if header_end < 0:
        return []
    digits = [c for c in source[start:header_end].split("#")[0] if c.isdigit()]
    lines, pos = [], header_end + 1
    while pos <= len(source):
        end = source.find("\n", pos)
        end = len(source) if end < 0 else end
        lines.append((pos, end))
        pos = end + 1
    indent = None
    found = []
    previous_blank = True
    for line_start, line_end in lines:
        text = source[line_start:line_end]
        if not text.strip():
            if not (folded and not previous_blank):  # folded: text, break, blank line give one '\n'
                found.append(line_end)
            previous_blank = True
            continue
        width = len(text) - len(text.lstrip(" "))
        if indent is None:
            indent = int(digits[0]) if digits else width
        if width < indent:
            break
        found.extend(range(line_start + indent, line_end))
        found.append(line_end)
        previous_blank = False
        if len(found) >= wanted:
            break
    return found
