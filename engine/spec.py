"""Immutable, typed specs of a solution: the only thing the build and migrate stages read.

Specs are made from schema-valid data by ``make_solution_spec``; every spec keeps the place in
the YAML it came from (``loc``, ignored when specs are compared) so later checks can point at it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .errors import Loc
from .fieldtypes import DECIMAL_DEFAULTS, FieldType

ACTIONS = ("list", "view", "create", "update", "delete")
USER = "user"  # the reserved target name of a reference to the user model


def humanize(name):
    """Turn 'full_name' into 'Full name'."""
    text = name.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


@dataclass(frozen=True)
class Label:
    """A text in several languages; ``None`` as the language means any."""

    texts: tuple[tuple[str | None, str], ...] = ()

    @classmethod
    def of(cls, value, fallback=""):
        if value is None:
            return cls(((None, fallback),)) if fallback else cls()
        if isinstance(value, str):
            return cls(((None, value),))
        return cls(tuple(sorted(value.items())))

    def get(self, language=None, default_language=None):
        """Return the text in ``language``, else the default language, else any."""
        table = dict(self.texts)
        for key in (language, default_language, None):
            if key in table:
                return table[key]
        return next(iter(table.values()), "")

    @property
    def languages(self):
        return {lang for lang, _ in self.texts if lang}

    def __str__(self):
        return self.get()


@dataclass(frozen=True)
class Choice:
    value: str
    label: Label


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: FieldType
    label: Label
    help: Label = Label()
    required: bool = False
    unique: bool = False
    index: bool = False
    default: Any = None
    has_default: bool = False
    min_value: Any = None
    max_value: Any = None
    min_length: int | None = None
    max_length: int | None = None
    max_digits: int | None = None
    decimal_places: int | None = None
    choices: tuple[Choice, ...] = ()
    to: str | None = None
    on_delete: str | None = None
    currency: str | None = None
    renamed_from: str | None = None
    # Rules layer (engine/rules): expressions over the row, a numbering pattern.
    computed: str | None = None  # virtual: computed in every query, never stored
    sequence: str | None = None  # stored: a number from the pattern, given when the row is created
    default_expr: str | None = None  # the value a new row gets when none is given
    loc: Loc = dataclasses.field(default=Loc(), compare=False)
    raw_options: frozenset = dataclasses.field(default=frozenset(), compare=False)
    # EXPR: a condition over the target's rows that limits what a ref offers (Access.ref_choices)
    limit_choices: str | None = None
    # A value per solution language: the field's column holds the default language's, and each other
    # language of ``translations`` has a column of its own (engine/content.py names them).
    translate: bool = False
    translations: tuple[str, ...] = ()
    translation_of: str | None = None  # set on the column of one language of a translated field
    language: str | None = None  # the language a translated field's column (or a language column) holds

    @property
    def stored(self):
        """Whether the field has a column (or a table): every field but a computed one."""
        return self.computed is None

    @property
    def column(self):
        """The database column name (refs get Django's '_id' suffix)."""
        return f"{self.name}_id" if self.type is FieldType.REF else self.name

    @property
    def indexed(self):
        """Whether the column gets an index: when asked, and always for refs (as Django does for foreign
        keys), whose joins, scopes and cascading deletes would otherwise scan the table."""
        return self.index or (self.type is FieldType.REF and not self.unique)

    @property
    def choice_values(self):
        return tuple(c.value for c in self.choices)

    @property
    def storage_length(self):
        """The varchar length this field stores with, or None."""
        if self.type is FieldType.CHOICE:
            longest = max((len(v) for v in self.choice_values), default=1)
            return max(32, longest)
        if self.type.info.storage in ("varchar", "file"):
            return self.max_length or self.type.info.default_max_length
        return None


@dataclass(frozen=True)
class IndexSpec:
    fields: tuple[str, ...]
    unique: bool = False
    name: str | None = None
    nulls_distinct: bool = True  # False: a unique index treats empty (NULL) values as equal
    loc: Loc = dataclasses.field(default=Loc(), compare=False)


@dataclass(frozen=True)
class RuleSpec:
    """A condition every row of an entity must meet (engine/rules), with the message shown when not."""

    name: str
    when: str  # the expression that must hold
    message: Label
    field: str | None = None  # where the message shows; None: on the whole row
    on: tuple[str, ...] = ("create", "update")
    loc: Loc = dataclasses.field(default=Loc(), compare=False)


@dataclass(frozen=True)
class EntitySpec:
    name: str
    label: Label
    plural: Label
    fields: tuple[FieldSpec, ...]
    description: Label = Label()
    title: str | None = None
    search: tuple[str, ...] = ()
    ordering: tuple[str, ...] = ()
    owner: str | None = None
    indexes: tuple[IndexSpec, ...] = ()
    renamed_from: str | None = None
    triggers: tuple[tuple[str, tuple[ActionSpec, ...]], ...] = ()  # (create|update|delete, actions)
    rules: tuple[RuleSpec, ...] = ()
    loc: Loc = dataclasses.field(default=Loc(), compare=False)

    @property
    def table(self):
        return f"cabinet_{self.name}"

    @property
    def class_name(self):
        return "".join(part.capitalize() for part in self.name.split("_"))

    def field(self, name):
        for f in self.fields:
            if f.name == name:
                return f
        return None

    @property
    def field_names(self):
        return tuple(f.name for f in self.fields)


@dataclass(frozen=True)
class GrantSpec:
    """What one role may do with one entity."""

    entity: str
    actions: tuple[str, ...]
    scope: Any  # "all", "own", a tuple of (path, value) pairs, or an expression (text)
    view_fields: tuple[str, ...] | None  # None: all
    edit_fields: tuple[str, ...] | None  # None: all
    forced: tuple[tuple[str, Any], ...] = ()
    loc: Loc = dataclasses.field(default=Loc(), compare=False)
    when: tuple[tuple[str, str], ...] = ()  # (action, condition): rights that depend on the row's state


@dataclass(frozen=True)
class IntroStep:
    """One step of a first-visit introduction: a title and a (markdown) text, per language."""

    title: Label
    text: Label = Label()


def make_intro(data):
    return tuple(IntroStep(Label.of(step["title"]), Label.of(step.get("text"))) for step in data or ())


@dataclass(frozen=True)
class RoleSpec:
    name: str
    label: Label
    group: str
    staff: bool = False
    home: str | None = None
    grants: tuple[GrantSpec, ...] = ()
    two_factor: bool = False  # holders log in with a TOTP code too (cabinet, admin, API tokens)
    intro: tuple[IntroStep, ...] = ()  # shown once to each holder on their first visit
    loc: Loc = dataclasses.field(default=Loc(), compare=False)

    def grant(self, entity):
        return next((g for g in self.grants if g.entity == entity), None)


@dataclass(frozen=True)
class CardSpec:
    kind: str
    title: Label = Label()
    entity: str | None = None
    page: str | None = None
    field: str | None = None
    filter: Any = ()  # a tuple of (field, value) pairs, or an expression (text)
    limit: int = 5
    text: Label = Label()
    icon: str | None = None
    group_by: str | None = None  # chart: a choice, state or ref field, or a date field with ``period``
    period: str | None = None
    sum: str | None = None  # chart: the number field summed (else rows are counted)
    chart: str = "bar"
    loc: Loc = dataclasses.field(default=Loc(), compare=False)


@dataclass(frozen=True)
class RowActionSpec:
    """One action of a row on a list or detail page: open ``page`` (a form prefilled from the row, the row's
    detail page or a list), or fire ``transition``."""

    page: str | None = None
    transition: str | None = None
    label: Label = Label()
    icon: str | None = None
    prefill: tuple[tuple[str, str], ...] = ()  # (field of the target, 'id' or a field path of the row)
    row: str | None = None  # the ref (path) of the row that leads to the target page's row
    loc: Loc = dataclasses.field(default=Loc(), compare=False)


@dataclass(frozen=True)
class CardLayoutSpec:
    """The fields a card list (``display: cards``) shows in each card, and its primary action."""

    image: str | None = None
    title: str | None = None
    price: str | None = None
    badge: str | None = None
    description: str | None = None
    action: Any = None  # the name (page or transition) or index of an entry of the page's ``actions``


@dataclass(frozen=True)
class SectionSpec:
    title: Label
    fields: tuple[str, ...]


@dataclass(frozen=True)
class RelatedSpec:
    entity: str
    via: str
    title: Label
    columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class LineSpec:
    """Child rows edited in a form page with their parent: rows of ``entity`` whose ref ``via`` is the parent."""

    entity: str
    via: str
    fields: tuple[str, ...] = ()
    title: Label = Label()
    min: int = 0
    max: int = 20
    extra: int = 2  # empty rows offered without JavaScript


@dataclass(frozen=True)
class PageSpec:
    name: str
    kind: str
    title: Label
    entity: str | None = None
    roles: tuple[str, ...] | None = None
    public: bool = False
    menu: str = "main"
    parent: str | None = None
    icon: str | None = None
    order: int = 0
    columns: tuple[str, ...] = ()
    filters: tuple[str, ...] = ()
    search: bool = True
    page_size: int = 20
    date_field: str | None = None
    fields: tuple[str, ...] = ()
    sections: tuple[SectionSpec, ...] = ()
    related: tuple[RelatedSpec, ...] = ()
    content: Label = Label()
    cards: tuple[CardSpec, ...] = ()
    chats: tuple[str, ...] = ()  # chat: its one chat; inbox: the chats it gathers
    submit: Label = Label()  # form pages: the submit button's label
    lines: tuple[LineSpec, ...] = ()  # form pages: child rows saved with the row
    where: str | None = None  # list: a fixed condition (an expression) on the rows shown
    export: tuple[str, ...] = ()  # list: the export formats offered (csv, xlsx)
    actions: tuple[RowActionSpec, ...] = ()
    transitions: tuple[str, ...] | None = None  # list: the inline transitions (None: every one the reader may do)
    bulk: tuple[str, ...] = ()
    states: bool = False
    display: str = "table"
    card: CardLayoutSpec | None = None
    loc: Loc = dataclasses.field(default=Loc(), compare=False)


# --- workflows: guards, fields to fill, actions (engine/workflows) ---

ACTION_KINDS = ("set", "increment", "decrement", "create", "webhook", "notify")


@dataclass(frozen=True)
class ActionSpec:
    """One action: ``kind`` and its arguments; expressions are kept as text and compiled per version.

    ``values`` holds (field or path, expression) pairs of ``set`` and ``create``; ``field`` and ``by`` the
    number an ``increment``/``decrement`` changes; ``kinds`` every action key written (one is valid)."""

    kind: str
    kinds: tuple[str, ...] = ()
    when: str | None = None
    values: tuple[tuple[str, str], ...] = ()
    field: str | None = None
    by: str = "1"
    entity: str | None = None
    webhook: str | None = None
    to: str | None = None
    message: Label = Label()
    path: tuple = dataclasses.field(default=(), compare=False)  # the YAML path, to locate problems
    loc: Loc = dataclasses.field(default=Loc(), compare=False)


@dataclass(frozen=True)
class GuardSpec:
    """A transition's condition; ``message`` says why it was refused."""

    when: str
    message: Label = Label()
    path: tuple = dataclasses.field(default=(), compare=False)
    loc: Loc = dataclasses.field(default=Loc(), compare=False)


@dataclass(frozen=True)
class TransitionSpec:
    name: str
    label: Label
    sources: tuple[str, ...]
    target: str
    roles: tuple[str, ...] = ()
    guard: GuardSpec | None = None
    confirm: Any = False
    actions: tuple[ActionSpec, ...] = ()
    fields: tuple[str, ...] = ()  # filled on the way: 'fields', then the 'required' ones not listed there
    required: tuple[str, ...] = ()  # must be given
    loc: Loc = dataclasses.field(default=Loc(), compare=False)


@dataclass(frozen=True)
class StateSpec:
    name: str
    label: Label
    final: bool = False
    color: str | None = None
    on_enter: tuple[ActionSpec, ...] = ()
    on_leave: tuple[ActionSpec, ...] = ()


# --- timers (engine/workflows/timers.py) ---
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
ENTERED = "entered"  # a timer's `from`: the moment the row entered one of the timer's states


@dataclass(frozen=True)
class TimerSpec:
    """A transition or actions due some time after (or before) a date of the row, or after it entered
    one of ``states``. ``offset`` is in seconds, negative for ``before``; ``anchor`` is a field name, a
    dotted path along refs, or ``entered``; ``states`` defaults to the sources of the ``do`` transition."""

    name: str
    offset: int
    anchor: str
    states: tuple[str, ...] = ()
    do: str | None = None
    actions: tuple = ()  # ActionSpecs, run on the row as the system
    raw_options: frozenset = frozenset()
    loc: Loc = dataclasses.field(default=Loc(), compare=False)


def make_timer(doc, path, name, data, transitions):
    when = data.get("after") or data.get("before") or "0s"
    seconds = int(when[:-1]) * DURATION_UNITS[when[-1]]
    return TimerSpec(
        name=name, offset=-seconds if "before" in data and "after" not in data else seconds, anchor=data["from"],
        states=_tuple(data.get("in")) or (transitions[data["do"]].sources if data.get("do") in transitions else ()),
        do=data.get("do"), actions=make_actions(doc, (*path, "timers", name, "actions"), data.get("actions")),
        raw_options=frozenset(data), loc=doc.loc((*path, "timers", name), key=True),
    )
# --- end timers ---


@dataclass(frozen=True)
class WorkflowSpec:
    name: str
    entity: str
    field: str
    states: tuple[StateSpec, ...]
    initial: str
    transitions: tuple[TransitionSpec, ...]
    loc: Loc = dataclasses.field(default=Loc(), compare=False)
    timers: tuple[TimerSpec, ...] = ()


@dataclass(frozen=True)
class WebhookSpec:
    name: str
    entity: str
    events: tuple[str, ...]
    url: str
    secret_env: str | None = None
    loc: Loc = dataclasses.field(default=Loc(), compare=False)


# --- chats (engine/chat) ---

CHAT_TYPES = ("direct", "ticket", "group")
ATTACHMENT_KINDS = ("image", "pdf", "text", "office")  # engine/chat/files.py knows each kind's types


@dataclass(frozen=True)
class CardRelatedSpec:
    """Rows related to the client shown on the client card (current stay, recent orders)."""

    entity: str
    via: str  # the path from a row of ``entity`` to the client's profile row, e.g. 'stay.guest'
    title: Label
    columns: tuple[str, ...] = ()
    filter: str | None = None  # an expression over ``entity`` (engine/expr)
    order: tuple[str, ...] = ()  # e.g. ('-ordered_at',)
    limit: int = 5
    loc: Loc = dataclasses.field(default=Loc(), compare=False)


@dataclass(frozen=True)
class ClientCardSpec:
    """What staff see of the client beside a conversation, through their own field policy."""

    entity: str  # the client's profile entity: it has a unique ref to the user
    fields: tuple[str, ...] = ()
    related: tuple[CardRelatedSpec, ...] = ()
    loc: Loc = dataclasses.field(default=Loc(), compare=False)


@dataclass(frozen=True)
class ChannelSpec:
    """A group channel the solution declares (created when the version is published)."""

    name: str
    title: Label
    description: Label = Label()


@dataclass(frozen=True)
class ChatSpec:
    """One chat of the solution: direct (client and staff), ticket (about one row) or group (channels)."""

    name: str
    type: str  # one of CHAT_TYPES
    label: Label
    clients: tuple[str, ...] = ()  # direct: roles whose users have their own conversation
    staff: tuple[str, ...] = ()  # direct, ticket: roles whose operators answer (any of them; take, hand over)
    members: tuple[str, ...] = ()  # group: roles that see the channels and join them
    moderators: tuple[str, ...] = ()  # group: roles that add and remove members and messages
    join: str = "open"  # group: 'open' (members join themselves) or 'invite' (moderators add them)
    channels: tuple[ChannelSpec, ...] = ()  # group
    entity: str | None = None  # ticket: the entity whose rows are the tickets (number, states, scope)
    about: str | None = None  # ticket: the entity's ref field naming what the ticket is about
    close: str | None = None  # ticket: the workflow transition that closes it
    reopen: str | None = None  # ticket: the workflow transition that reopens it
    closed_states: tuple[str, ...] = ()  # ticket: states in which no one posts
    edit_window: int = 15  # minutes in which authors edit or delete their messages; 0: never
    max_size: int = 0  # attachments: the largest file in bytes; 0: no attachments
    attachment_kinds: tuple[str, ...] = ()  # attachments: kinds of ATTACHMENT_KINDS
    card: ClientCardSpec | None = None
    loc: Loc = dataclasses.field(default=Loc(), compare=False)


@dataclass(frozen=True)
class SolutionSpec:
    name: str
    label: Label
    languages: tuple[str, ...]
    default_language: str
    entities: tuple[EntitySpec, ...] = ()
    roles: tuple[RoleSpec, ...] = ()
    pages: tuple[PageSpec, ...] = ()
    workflows: tuple[WorkflowSpec, ...] = ()
    webhooks: tuple[WebhookSpec, ...] = ()
    chats: tuple[ChatSpec, ...] = ()
    theme: str = "default"
    currency: str = "EUR"
    timezone: str | None = None
    branding: tuple[tuple[str, str], ...] = ()
    home: tuple[tuple[str, str], ...] = ()
    description: Label = Label()
    welcome: Label = Label()  # the login page's welcome text
    intro: tuple[IntroStep, ...] = ()  # the first-visit intro of users whose roles have none
    loc: Loc = dataclasses.field(default=Loc(), compare=False)

    def entity(self, name):
        return next((e for e in self.entities if e.name == name), None)

    def role(self, name):
        return next((r for r in self.roles if r.name == name), None)

    def page(self, name):
        return next((p for p in self.pages if p.name == name), None)

    def chat(self, name):
        return next((c for c in self.chats if c.name == name), None)


# --- construction from validated data ---------------------------------------------------------

def _tuple(value):
    if value is None:
        return ()
    return tuple(value) if isinstance(value, list) else (value,)


def make_field(doc, entity, name, data, extra_languages=(), default_language=None):
    path = ("entities", entity, "fields", name)
    ftype = FieldType(data["type"])
    digits = DECIMAL_DEFAULTS.get(ftype, (None, None))
    choices = tuple(
        Choice(str(c["value"]), Label.of(c.get("label"), str(c["value"]))) if isinstance(c, dict)
        else Choice(str(c), Label.of(None, humanize(str(c))))
        for c in data.get("choices", ())
    )
    required = data.get("required", False)
    sequence = data.get("sequence")
    on_delete = data.get("on_delete") or (("protect" if required else "set_null") if ftype is FieldType.REF else None)
    return FieldSpec(
        name=name, type=ftype, label=Label.of(data.get("label"), humanize(name)), help=Label.of(data.get("help")),
        required=required, unique=data.get("unique", False) or sequence is not None, index=data.get("index", False),
        default=data.get("default"), has_default="default" in data,
        min_value=data.get("min"), max_value=data.get("max"),
        min_length=data.get("min_length"), max_length=data.get("max_length"),
        max_digits=data.get("max_digits", digits[0]), decimal_places=data.get("decimal_places", digits[1]),
        choices=choices, to=data.get("to"), on_delete=on_delete, currency=data.get("currency"),
        renamed_from=data.get("renamed_from"), computed=data.get("computed"), sequence=sequence,
        default_expr=data.get("default_expr"), loc=doc.loc(path, key=True), raw_options=frozenset(data),
        limit_choices=data.get("limit_choices"), translate=data.get("translate", False),
        translations=tuple(extra_languages) if data.get("translate") else (),
        language=default_language if data.get("translate") else None,
    )


def make_entity(doc, name, data, extra_languages=(), default_language=None):
    path = ("entities", name)
    fields = tuple(make_field(doc, name, fname, fdata, extra_languages, default_language)
                   for fname, fdata in data["fields"].items())
    label = Label.of(data.get("label"), humanize(name))
    return EntitySpec(
        name=name, label=label, plural=Label.of(data.get("plural")) if data.get("plural") else label,
        description=Label.of(data.get("description")), fields=fields, title=data.get("title"),
        search=_tuple(data.get("search")), ordering=_tuple(data.get("ordering")), owner=data.get("owner"),
        indexes=tuple(
            IndexSpec(tuple(ix["fields"]), ix.get("unique", False), ix.get("name"),
                      ix.get("nulls_distinct", True), doc.loc((*path, "indexes", i)))
            for i, ix in enumerate(data.get("indexes", ()))
        ),
        renamed_from=data.get("renamed_from"),
        triggers=tuple((event, make_actions(doc, (*path, "triggers", event), actions))
                       for event, actions in (data.get("triggers") or {}).items()),
        rules=tuple(
            RuleSpec(name=r.get("name", f"rule_{i + 1}"), when=r["when"], message=Label.of(r["message"]),
                     field=r.get("field"), on=tuple(r.get("on", ("create", "update"))),
                     loc=doc.loc((*path, "rules", i)))
            for i, r in enumerate(data.get("rules", ()))
        ),
        loc=doc.loc(path, key=True),
    )


def _field_list(value):
    return None if value in (None, "all") else (() if value == "none" else tuple(value))


def make_role(doc, name, data):
    grants = []
    for entity, g in (data.get("entities") or {}).items():
        scope = g.get("scope", "own")
        if isinstance(scope, dict):
            scope = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in scope.items())
        actions = g.get("actions", ["list", "view"])
        fields = g.get("fields") or {}
        grants.append(GrantSpec(
            entity=entity, actions=("all",) if actions == "all" else tuple(actions), scope=scope,
            view_fields=_field_list(fields.get("view")),
            edit_fields=_field_list(fields.get("edit", fields.get("view"))),
            forced=tuple((k, v) for k, v in (g.get("set") or {}).items()),
            loc=doc.loc(("roles", name, "entities", entity), key=True),
            when=tuple((g.get("when") or {}).items()),
        ))
    return RoleSpec(name=name, label=Label.of(data.get("label"), humanize(name)), group=data.get("group", name),
                    staff=data.get("staff", False), home=data.get("home"), grants=tuple(grants),
                    two_factor=data.get("two_factor", False), intro=make_intro(data.get("intro")),
                    loc=doc.loc(("roles", name), key=True))


def make_page(doc, name, data):
    path = ("pages", name)
    return PageSpec(
        name=name, kind=data["kind"], title=Label.of(data.get("title"), humanize(name)), entity=data.get("entity"),
        roles=tuple(data["roles"]) if "roles" in data else None, public=data.get("public", False),
        menu=data.get("menu", "main"), parent=data.get("parent"), icon=data.get("icon"), order=data.get("order", 0),
        columns=_tuple(data.get("columns")), filters=_tuple(data.get("filters")), search=data.get("search", True),
        page_size=data.get("page_size", 20), date_field=data.get("date_field"), fields=_tuple(data.get("fields")),
        sections=tuple(SectionSpec(Label.of(s.get("title")), tuple(s["fields"])) for s in data.get("sections", ())),
        related=tuple(RelatedSpec(r["entity"], r["via"], Label.of(r.get("title"), humanize(r["entity"])),
                                  _tuple(r.get("columns"))) for r in data.get("related", ())),
        content=Label.of(data.get("content")),
        chats=(data["chat"],) if "chat" in data else _tuple(data.get("chats")),
        submit=Label.of(data.get("submit")),
        lines=tuple(LineSpec(entity=item["entity"], via=item["via"], fields=_tuple(item.get("fields")),
                             title=Label.of(item.get("title"), humanize(item["entity"])), min=item.get("min", 0),
                             max=item.get("max", 20), extra=item.get("extra", 2)) for item in data.get("lines", ())),
        where=data.get("where"), export=_tuple(data.get("export")),
        cards=tuple(
            CardSpec(kind=c["kind"], title=Label.of(c.get("title")), entity=c.get("entity"), page=c.get("page"),
                     field=c.get("field"), filter=_card_filter(c.get("filter")), limit=c.get("limit", 5),
                     text=Label.of(c.get("text")), icon=c.get("icon"), group_by=c.get("group_by"),
                     period=c.get("period"), sum=c.get("sum"), chart=c.get("chart", "bar"),
                     loc=doc.loc((*path, "cards", i)))
            for i, c in enumerate(data.get("cards", ()))
        ),
        actions=tuple(
            RowActionSpec(page=a.get("page"), transition=a.get("transition"), label=Label.of(a.get("label")),
                          icon=a.get("icon"), prefill=tuple((a.get("prefill") or {}).items()), row=a.get("row"),
                          loc=doc.loc((*path, "actions", i)))
            for i, a in enumerate(data.get("actions", ()))
        ),
        transitions=tuple(data["transitions"]) if "transitions" in data else None, bulk=_tuple(data.get("bulk")),
        states=data.get("states", False), display=data.get("display", "table"),
        card=CardLayoutSpec(**data["card"]) if "card" in data else None,
        loc=doc.loc(path, key=True),
    )


def expr_text(value):
    """The expression text of a YAML value: texts are expressions, other scalars literals."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


def make_action(doc, path, data):
    kinds = tuple(k for k in data if k in ACTION_KINDS)
    kind = kinds[0] if kinds else ""
    arg = data.get(kind)
    common = {"kind": kind, "kinds": kinds, "when": data.get("when"), "path": path, "loc": doc.loc(path)}
    if kind in ("set", "create"):
        values = arg if kind == "set" else (arg.get("values") or {})
        return ActionSpec(**common, values=tuple((k, expr_text(v)) for k, v in values.items()),
                          entity=arg.get("entity") if kind == "create" else None)
    if kind in ("increment", "decrement"):
        return ActionSpec(**common, field=arg["field"], by=expr_text(arg.get("by", 1)))
    if kind == "webhook":
        return ActionSpec(**common, webhook=arg)
    if kind == "notify":
        return ActionSpec(**common, to=arg["to"], message=Label.of(arg["message"]))
    return ActionSpec(**common)


def make_actions(doc, path, items):
    return tuple(make_action(doc, (*path, i), item) for i, item in enumerate(items or ()))


def make_guard(doc, path, data):
    if data is None:
        return None
    if isinstance(data, str):
        return GuardSpec(data, path=(*path, "guard"), loc=doc.loc((*path, "guard")))
    return GuardSpec(data["when"], Label.of(data.get("message")), path=(*path, "guard", "when"),
                     loc=doc.loc((*path, "guard", "when")))


def _card_filter(value):
    return value if isinstance(value, str) else tuple((value or {}).items())


def make_workflow(doc, name, data):
    path = ("workflows", name)
    states = tuple(
        StateSpec(s, Label.of(v.get("label"), humanize(s)), v.get("final", False), v.get("color"),
                  on_enter=make_actions(doc, (*path, "states", s, "on_enter"), v.get("on_enter")),
                  on_leave=make_actions(doc, (*path, "states", s, "on_leave"), v.get("on_leave")))
        for s, v in ((name, value or {}) for name, value in data["states"].items())
    )
    transitions = tuple(
        TransitionSpec(
            name=t, label=Label.of(v.get("label"), humanize(t)), sources=_tuple(v["from"]), target=v["to"],
            roles=_tuple(v.get("roles")), guard=make_guard(doc, (*path, "transitions", t), v.get("guard")),
            confirm=v.get("confirm", False),
            actions=make_actions(doc, (*path, "transitions", t, "actions"), v.get("actions")),
            fields=tuple(dict.fromkeys((*v.get("fields", ()), *v.get("required", ())))),
            required=tuple(v.get("required", ())), loc=doc.loc((*path, "transitions", t), key=True),
        )
        for t, v in data["transitions"].items()
    )
    return WorkflowSpec(name=name, entity=data["entity"], field=data["field"], states=states,
                        initial=data.get("initial", states[0].name), transitions=transitions,
                        loc=doc.loc(path, key=True),
                        timers=tuple(make_timer(doc, path, n, d, {t.name: t for t in transitions})
                                     for n, d in (data.get("timers") or {}).items()))


SIZE_UNITS = {"KB": 1024, "MB": 1024 ** 2}


def parse_size(text):
    """'5MB' or '500KB' (schema-checked) -> bytes."""
    text = str(text).strip().upper()
    return int(text[:-2]) * SIZE_UNITS[text[-2:]]


def make_chat(doc, name, data):
    path = ("chats", name)
    card = data.get("card")
    files = data.get("attachments") or {}
    return ChatSpec(
        name=name, type=data["type"], label=Label.of(data.get("label"), humanize(name)),
        clients=_tuple(data.get("clients")), staff=_tuple(data.get("staff")), members=_tuple(data.get("members")),
        moderators=_tuple(data.get("moderators")), join=data.get("join", "open"),
        channels=tuple(ChannelSpec(n, Label.of(c.get("title"), humanize(n)), Label.of(c.get("description")))
                       for n, c in (data.get("channels") or {}).items()),
        entity=data.get("entity"), about=data.get("about"), close=data.get("close"), reopen=data.get("reopen"),
        closed_states=_tuple(data.get("closed")), edit_window=data.get("edit_window", 15),
        max_size=parse_size(files["max_size"]) if files else 0, attachment_kinds=_tuple(files.get("types")),
        card=None if card is None else ClientCardSpec(
            entity=card["entity"], fields=_tuple(card.get("fields")),
            related=tuple(CardRelatedSpec(
                entity=r["entity"], via=r["via"], title=Label.of(r.get("title"), humanize(r["entity"])),
                columns=_tuple(r.get("columns")), filter=r.get("filter"), order=_tuple(r.get("order")),
                limit=r.get("limit", 5), loc=doc.loc((*path, "card", "related", i)))
                for i, r in enumerate(card.get("related", ()))),
            loc=doc.loc((*path, "card"), key=True)),
        loc=doc.loc(path, key=True),
    )


def make_solution_spec(doc):
    """Build the ``SolutionSpec`` from schema-valid document data."""
    data = doc.data
    sol = data["solution"]
    languages = tuple(sol.get("languages", ["en"]))
    branding = sol.get("branding") or {}
    default_language = sol.get("default_language", languages[0])
    extra_languages = tuple(lang for lang in languages if lang != default_language)  # translated columns
    return SolutionSpec(
        name=sol["name"], label=Label.of(sol.get("label"), humanize(sol["name"])),
        description=Label.of(sol.get("description")), languages=languages,
        welcome=Label.of(sol.get("welcome")), intro=make_intro(sol.get("intro")),
        default_language=default_language, theme=sol.get("theme", "default"),
        currency=sol.get("currency", "EUR"), timezone=sol.get("timezone"),
        branding=tuple(sorted(branding.items())), home=tuple(sorted((sol.get("home") or {}).items())),
        entities=tuple(make_entity(doc, n, d, extra_languages, default_language)
                       for n, d in (data.get("entities") or {}).items()),
        roles=tuple(make_role(doc, n, d) for n, d in (data.get("roles") or {}).items()),
        pages=tuple(make_page(doc, n, d) for n, d in (data.get("pages") or {}).items()),
        workflows=tuple(make_workflow(doc, n, d) for n, d in (data.get("workflows") or {}).items()),
        webhooks=tuple(
            WebhookSpec(n, d["entity"], tuple(d["on"]), d["url"], d.get("secret_env"),
                        doc.loc(("webhooks", n), key=True))
            for n, d in (data.get("webhooks") or {}).items()
        ),
        chats=tuple(make_chat(doc, n, d) for n, d in (data.get("chats") or {}).items()),
        loc=doc.loc(("solution",), key=True),
    )
