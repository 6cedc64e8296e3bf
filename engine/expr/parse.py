"""Read expression text into a Python ``ast`` tree (through simpleeval's parser), with hard size limits.

The language is a small Python-like one: ``$user`` is ``user``, a number glued to a unit (``2h``, ``1d``)
is a duration. Both are rewritten without moving any character (``$`` becomes a space, the unit an
imaginary ``j`` whose unit is remembered), so every node's column is its place in the text as written.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from simpleeval import SimpleEval

MAX_LENGTH = 4000  # characters of one expression
MAX_DEPTH = 40  # nesting of the tree (brackets, operators, calls)
MAX_NODES = 600
MAX_TEXT = 1000  # characters of a text literal
MAX_DIGITS = 24  # digits of a number literal

UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_SCAN = re.compile(r"""('(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")|(?<![\w.])(\d+)([smhdw])(?!\w)|(\$)""")


class ExprError(Exception):
    """An expression that cannot be used: ``code`` (cabinet id), ``message``, ``offset`` (0-based character
    index in the text where the offending token starts) and an optional ``hint``."""

    def __init__(self, code, message, offset=0, hint=""):
        super().__init__(message)
        self.code = code
        self.message = message
        self.offset = max(0, offset)
        self.hint = hint

    def __str__(self):
        return f"{self.message} (at character {self.offset + 1})"


@dataclass
class Source:
    """The text as written, the text handed to the parser, and the units of its durations."""

    text: str
    wrapped: str = ""
    units: dict = field(default_factory=dict)  # offset of a duration in ``text`` -> unit letter
    starts: list = field(default_factory=list)  # offset in ``wrapped`` where each line starts

    def offset(self, node, end=False):
        """The 0-based character offset in ``text`` where ``node`` starts (or ends): ast columns count UTF-8
        bytes of the wrapped text."""
        line = getattr(node, "end_lineno" if end else "lineno", 1) - 1
        start = self.starts[line]
        raw = self.wrapped[start:].split("\n", 1)[0].encode()[: getattr(node, "end_col_offset" if end else
                                                                            "col_offset", 0)]
        return max(0, start + len(raw.decode(errors="ignore")) - 1)

    def after(self, node):
        """The offset of the first token after ``node`` (an operator between two operands)."""
        at = self.offset(node, end=True)
        while at < len(self.text) and self.text[at] in " \t\n()":
            at += 1
        return at


def parse(text):
    """Parse ``text`` into (ast expression node, Source); raise ``ExprError`` for anything unreadable."""
    if not isinstance(text, str):
        raise ExprError("E300", f"an expression must be text, not {type(text).__name__}")
    if not text.strip():
        raise ExprError("E300", "the expression is empty")
    if len(text) > MAX_LENGTH:
        raise ExprError("E306", f"the expression is {len(text)} characters long, more than {MAX_LENGTH}",
                        MAX_LENGTH, "split it, e.g. into a computed field")
    if "\x00" in text:
        raise ExprError("E300", "the expression holds a NUL character", text.index("\x00"))
    _check_brackets(text)
    source = Source(text)
    chars = list(text)
    for match in _SCAN.finditer(text):
        if match.group(2):
            source.units[match.start(2)] = match.group(3)
            chars[match.start(3)] = "j"
        elif match.group(4):
            chars[match.start(4)] = " "
    source.wrapped = "(" + "".join(chars).replace("\r", " ") + "\n)"
    source.starts = [0] + [i + 1 for i, ch in enumerate(source.wrapped) if ch == "\n"]
    try:
        statement = SimpleEval.parse(source.wrapped)
    except SyntaxError as exc:
        raise ExprError("E300", f"cannot read the expression: {exc.msg}", _syntax_offset(source, exc),
                        "check brackets, quotes and operators") from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise ExprError("E306", f"the expression cannot be read: {type(exc).__name__}", 0) from None
    if not isinstance(statement, ast.Expr):
        raise ExprError("E300", "cannot read the expression: only an expression is allowed here", 0)
    _check_size(statement.value, source)
    return statement.value, source


def _syntax_offset(source, exc):
    line = (exc.lineno or 1) - 1
    if line >= len(source.starts):
        return len(source.text)
    return min(len(source.text), max(0, source.starts[line] + (exc.offset or 1) - 2))


def _check_brackets(text):
    """Refuse deep bracket nesting before the parser sees it (it would recurse that deep)."""
    depth = 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
            if depth > MAX_DEPTH:
                raise ExprError("E306", f"brackets are nested more than {MAX_DEPTH} deep", i,
                                "simplify the expression")
        elif ch in ")]}":
            depth -= 1


def _check_size(root, source):
    """Refuse trees nested too deeply or too large, without recursion (the checker recurses)."""
    stack, count = [(root, 1)], 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if depth > MAX_DEPTH or count > MAX_NODES:
            what = f"nested more than {MAX_DEPTH} deep" if depth > MAX_DEPTH else f"more than {MAX_NODES} parts"
            raise ExprError("E306", f"the expression is {what}", source.offset(node), "simplify the expression")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
