"""Problems found in a solution, reported like Django system checks.

Every problem has a stable id (``cabinet.E101``), a message naming the YAML path, the place in
the source (file, line, column) and a hint. Ids are listed in ``docs/errors.md`` and never reused.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

ERROR = "error"
WARNING = "warning"

# id -> (level, short title). The title is the table row in docs/errors.md.
CATALOG: dict[str, tuple[str, str]] = {
    # Reading files
    "E001": (ERROR, "YAML syntax error"),
    "E002": (ERROR, "file is not valid UTF-8"),
    "E003": (ERROR, "duplicate key in a mapping"),
    "E004": (ERROR, "file too large"),
    "E005": (ERROR, "YAML too deep, too large after aliases, or recursive"),
    "E006": (ERROR, "mapping key is not a plain string"),
    "E007": (ERROR, "solution folder missing or holds no YAML file"),
    "E008": (ERROR, "number that is not finite"),
    "E009": (ERROR, "YAML tag that gives a value the DSL does not take"),
    "E010": (ERROR, "scalar that cannot be read as its YAML type"),
    # Shape (JSON Schema)
    "E101": (ERROR, "unknown key"),
    "E102": (ERROR, "missing required key"),
    "E103": (ERROR, "value of the wrong type"),
    "E104": (ERROR, "value not among the allowed ones"),
    "E105": (ERROR, "value out of the allowed form or range"),
    # Names
    "E110": (ERROR, "name defined twice"),
    "E111": (ERROR, "'solution' section missing or defined twice"),
    "E120": (ERROR, "reserved name"),
    "E121": (ERROR, "generated name clash"),
    "E122": (ERROR, "generated database name too long"),
    # References and meaning
    "E201": (ERROR, "reference to an unknown entity"),
    "E202": (ERROR, "reference to an unknown field"),
    "E203": (ERROR, "reference to an unknown role"),
    "E204": (ERROR, "reference to an unknown page"),
    "E205": (ERROR, "reference to an unknown workflow state"),
    "E206": (ERROR, "unknown or disallowed action"),
    "E207": (ERROR, "invalid relation path"),
    "E208": (ERROR, "unknown language"),
    "E210": (ERROR, "default value does not fit the field"),
    "E211": (ERROR, "contradictory constraints"),
    "E212": (ERROR, "option not valid for this field type"),
    "E213": (ERROR, "owner field is not a reference to the user"),
    "E214": (ERROR, "cycle of required references"),
    "E215": (ERROR, "renamed_from clashes with a current name"),
    "E216": (ERROR, "field kind not usable here"),
    "E217": (ERROR, "workflow state field does not match its states"),
    "E220": (ERROR, "dashboard card filter value does not fit its field"),
    # Demo data (data/*.yaml)
    "E221": (ERROR, "demo value does not fit its field"),
    "E222": (ERROR, "demo reference matches no row, or several"),
    "E223": (ERROR, "demo data names an unknown user"),
    "E224": (ERROR, "demo row lacks a required field"),
    "E225": (ERROR, "demo rows repeat a unique value"),
    # The write path: demo data reaches workflow states through transitions
    "E320": (ERROR, "demo row writes a workflow's state field"),
    "E321": (ERROR, "demo _transitions names no transition of the entity"),
    "E322": (ERROR, "demo _transitions step does not start from the state reached"),
    "E260": (ERROR, "nulls_distinct on an index that is not unique"),
    "E940": (ERROR, "a translated field's language column clashes with a field"),
    "E941": (ERROR, "a computed or numbered field cannot be translated"),
    # Workflows, actions and triggers (engine/workflows)
    "E350": (ERROR, "action item with no action or several"),
    "E351": (ERROR, "workflow state no row can reach"),
    "E352": (ERROR, "transition that can never fire"),
    "E353": (ERROR, "transition leaving a final state"),
    "E354": (ERROR, "role on a transition lacks it in its grant"),
    "E355": (ERROR, "write of a field the workflow or a computation owns"),
    "E356": (ERROR, "created row lacks a required value"),
    "E357": (ERROR, "action value does not fit the field it writes"),
    "E358": (ERROR, "unknown webhook, or a webhook of another entity"),
    "E359": (ERROR, "notify recipient is not a user"),
    "E360": (ERROR, "delete trigger writes the deleted row"),
    "E361": (ERROR, "create actions that create each other without end"),
    # Rules, computed fields, numbering and defaults (engine/rules)
    "E330": (ERROR, "rule name used twice in one entity"),
    "E331": (ERROR, "computed field with an option it cannot have"),
    "E332": (ERROR, "computed fields that read each other in a cycle"),
    "E333": (ERROR, "computed or numbered field where a stored, editable value is needed"),
    "E334": (ERROR, "computed value that depends on the reader"),
    "E335": (ERROR, "numbering pattern that cannot be used"),
    "E336": (ERROR, "numbered field with an option it cannot have, or too short for its pattern"),
    "E337": (ERROR, "default_expr together with another default"),
    # Expressions (scopes, filters, state-dependent rights, ref choices, guards, rules, computed values)
    "E300": (ERROR, "expression cannot be read"),
    "E301": (ERROR, "unknown name in an expression"),
    "E302": (ERROR, "unknown field or path in an expression"),
    "E303": (ERROR, "unknown function or role, or wrong arguments, in an expression"),
    "E304": (ERROR, "type mismatch in an expression"),
    "E305": (ERROR, "construct not allowed in this expression"),
    "E306": (ERROR, "expression too long, too deep or too large"),
    "E307": (ERROR, "literal that cannot be used in an expression"),
    "E308": (ERROR, "role 'when' names an action the role cannot do"),
    # Workflow timers
    "E370": (ERROR, "timer needs exactly one of after/before and one of do/actions"),
    "E371": (ERROR, "timer counts from something that is not a date"),
    "E372": (ERROR, "timer counts back from entering a state"),
    "E373": (ERROR, "timer does an unknown transition"),
    "E374": (ERROR, "timer runs in a state its transition does not start from"),
    "E375": (ERROR, "timer with actions does not say in which states it runs"),
    "E377": (ERROR, "timer does a transition that needs fields filled in"),
    # Form pages (engine/pages/form_checks.py)
    "E960": (ERROR, "form page key on a page that is not a form"),
    "E961": (ERROR, "child rows whose 'via' is not a ref to the page's entity"),
    "E962": (ERROR, "child row field that cannot be typed"),
    "E963": (ERROR, "child rows with 'min' above 'max'"),
    "E964": (ERROR, "the same child rows listed twice on one form"),
    # Chats (engine/chat)
    "E380": (ERROR, "chat key that does not apply to the chat's type"),
    "E381": (ERROR, "chat lacks a key its type needs"),
    "E382": (ERROR, "ticket 'about' is not a reference to another entity"),
    "E383": (ERROR, "ticket close/reopen is not a transition of the entity, or closed states without a workflow"),
    "E384": (ERROR, "ticket close does not lead to a closed state, or reopen leads to one"),
    "E385": (ERROR, "client card entity is not a profile entity"),
    "E386": (ERROR, "client card related path does not lead to the card's entity"),
    "E387": (ERROR, "ticket staff role has no grant on the ticket entity"),
    "E388": (ERROR, "role both client and staff of a direct chat"),
    # Chat pages (kind: chat, kind: inbox)
    "E390": (ERROR, "chat or inbox page without a known chat"),
    "E391": (ERROR, "chat or chats on a page that is not a chat or inbox"),
    "E392": (ERROR, "page role that cannot use the page's chat"),
    # List, detail, calendar and record pages: paths, filters, where, exports
    "E900": (ERROR, "path goes on through a field that is not a ref"),
    "E901": (ERROR, "page role that may not see a field along a path"),
    "E902": (ERROR, "path ending where a page cannot read it"),
    "E903": (ERROR, "filter on a field of a kind lists cannot filter"),
    "E904": (ERROR, "list-page key on a page that is not a list"),
    "E905": (ERROR, "record page of an entity without an owner"),
    # Work pages: row actions, queues, cards, charts, icons (engine/pages/work_checks.py)
    "E920": (ERROR, "unknown icon name"),
    "E921": (ERROR, "page key not for this page kind"),
    "E922": (ERROR, "row action that cannot open its page"),
    "E923": (ERROR, "prefill key the target page does not take"),
    "E924": (ERROR, "row action that cannot find the related row"),
    "E925": (ERROR, "unknown transition on a page"),
    "E926": (ERROR, "state tabs without a workflow"),
    "E927": (ERROR, "card list without its layout, or a layout without cards"),
    "E928": (ERROR, "card action that names no page action"),
    "E929": (ERROR, "chart card that cannot be drawn"),
    "E930": (ERROR, "chart key on a card that is not a chart"),
    "E931": (ERROR, "bulk transition that asks for fields"),
    "W001": (WARNING, "empty file"),
    "W002": (WARNING, "label missing for a language"),
    "W003": (WARNING, "decimal wider than SQLite keeps"),
    "W016": (WARNING, "role shares its group with a two-factor role"),
    # Deployment (Django system checks of the settings)
    "E270": (ERROR, "production without a shared cache"),
    "W015": (WARNING, "development secret key in use"),
    # Schema evolution (plan and migrate)
    "M001": (ERROR, "dropping a field loses data"),
    "M002": (ERROR, "dropping an entity loses data"),
    "M003": (ERROR, "narrowing a field can lose data"),
    "M004": (ERROR, "new required field needs a default"),
    "M005": (ERROR, "change not supported in place"),
    "M006": (ERROR, "migration failed and was rolled back"),
    "M007": (ERROR, "the plan changed since it was shown"),
    "M008": (ERROR, "a default does not fit its column"),
    "M009": (ERROR, "a type change alters stored values"),
    "M010": (ERROR, "the database cannot build this index"),
    "M011": (ERROR, "the applied version does not compile under this engine"),
    "M020": (ERROR, "stored rows break a new rule's constraint"),
}


@dataclass(frozen=True, order=True)
class Loc:
    """A place in a solution's sources: file, 1-based line and column, and the YAML path."""

    file: str = ""
    line: int = 0
    column: int = 0
    path: str = ""

    def __str__(self):
        if not self.file:
            return "<solution>"
        if not self.line:
            return self.file
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Problem:
    """One problem in a solution: a stable code, a message, where it is and how to fix it."""

    code: str
    message: str
    loc: Loc = field(default_factory=Loc)
    hint: str = ""

    def __post_init__(self):
        if self.code not in CATALOG:
            raise ValueError(f"Unknown problem code {self.code!r}; add it to engine.errors.CATALOG.")

    @property
    def level(self):
        return CATALOG[self.code][0]

    @property
    def is_error(self):
        return self.level == ERROR

    @property
    def id(self):
        return f"cabinet.{self.code}"

    @property
    def shown(self):
        """Return (place, message, hint) escaped for one output line; every formatter uses these."""
        return escape(str(self.loc)), escape(self.message), escape(self.hint)

    def __str__(self):
        place, message, hint = self.shown
        text = f"{place}: {self.id} {message}"
        return f"{text} (hint: {hint})" if hint else text


# Characters that would break a problem line or act on a terminal: C0/C1 controls (newline, ESC,
# DEL, NEL), line and paragraph separators, format characters (bidi overrides, zero-width), lone
# surrogates and unassigned code points. Every text from a user passes through here.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_MAYBE_UNSAFE = re.compile(r"[^\x20-\x7e]")


def _escaped(match):
    char = match.group()
    if unicodedata.category(char) not in _UNSAFE_CATEGORIES:
        return char
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else (f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")


def escape(text):
    """Return ``text`` with every control, separator or invisible character written as an escape."""
    return _MAYBE_UNSAFE.sub(_escaped, text)


class SolutionError(Exception):
    """The solution has errors; ``problems`` lists all of them, sorted by place."""

    def __init__(self, problems):
        self.problems = sort_problems(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def sort_problems(problems):
    """Order problems by file, line, column and code, dropping exact duplicates."""
    return sorted(set(problems), key=lambda p: (p.loc.file, p.loc.line, p.loc.column, p.code, p.message))
