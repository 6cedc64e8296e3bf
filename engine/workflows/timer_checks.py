"""Checks of workflow timers: every key of a timer takes effect, or `cabinet check` says why not."""
from __future__ import annotations

from ..fieldtypes import FieldType
from ..loader import path_text
from ..spec import ENTERED, USER
from ..validate import suggest

TEMPORAL = (FieldType.DATE, FieldType.DATETIME)


def anchor_steps(spec, entity, anchor):
    """The fields along ``anchor`` (``starts_at``, ``excursion.starts_at``) from ``entity``: refs, then a
    date or datetime field. Raise ``ValueError`` with the reason when the path does not lead to one."""
    steps, current = [], entity
    names = anchor.split(".")
    for i, name in enumerate(names):
        f = current.field(name)
        if f is None:
            raise ValueError(f"'{current.name}' has no field '{name}'{suggest(name, current.field_names)}")
        steps.append(f)
        if i == len(names) - 1:
            if f.type not in TEMPORAL:
                raise ValueError(f"'{current.name}.{name}' is a {f.type.value} field, not a date or datetime")
        elif f.type is not FieldType.REF or f.to == USER:
            raise ValueError(f"'{current.name}.{name}' is not a reference to another entity, so the path "
                             f"cannot go on to '{names[i + 1]}'")
        else:
            current = spec.entity(f.to)
            if current is None:
                raise ValueError(f"'{f.to}' is not an entity")
    return steps


def check_timers(checker):
    """Add the located problems of the ``timers:`` of every workflow to ``checker`` (engine.checks)."""
    spec, add = checker.spec, checker.add
    for wf in spec.workflows:
        entity = spec.entity(wf.entity)
        if entity is None:
            continue  # reported with the workflow
        states = [s.name for s in wf.states]
        transitions = {t.name: t for t in wf.transitions}
        for timer in wf.timers:
            path = ("workflows", wf.name, "timers", timer.name)
            given = timer.raw_options
            if len(given & {"after", "before"}) != 1:
                add("E370", f"timer '{timer.name}' needs exactly one of 'after' and 'before'", path,
                    "write 'after: 2h' (from the date on) or 'before: 1d' (counting back from it)", key=True)
            if len(given & {"do", "actions"}) != 1:
                add("E370", f"timer '{timer.name}' needs exactly one of 'do' (a transition) and 'actions'", path,
                    "write 'do: <transition>' or 'actions: [...]'", key=True)
            if timer.anchor == ENTERED:
                if "before" in given:
                    add("E372", f"timer '{timer.name}' counts back from entering a state, which has not happened "
                        "yet", (*path, "before"), "use 'after:' with 'from: entered', or count back from a date field")
            else:
                try:
                    anchor_steps(spec, entity, timer.anchor)
                except ValueError as exc:
                    add("E371", f"'{path_text((*path, 'from'))}': {exc}", (*path, "from"),
                        "name a date or datetime field of the row, a path to one along refs (excursion.starts_at), "
                        "or 'entered'")
            in_path = (*path, "in")
            many = isinstance(raw_value(checker.doc, in_path), list)
            for i, state in enumerate(timer.states if "in" in given else ()):
                checker.known("E205", "state", state, states, (*in_path, i) if many else in_path)
            if "do" in given:
                t = transitions.get(timer.do)
                if t is None:
                    add("E373", f"timer '{timer.name}' does '{timer.do}', which is not a transition of workflow "
                        f"'{wf.name}'{suggest(timer.do, transitions)}", (*path, "do"),
                        f"transitions: {', '.join(transitions) or 'none'}")
                else:
                    needed = getattr(t, "required", ())  # fields a person fills on the way (workflows' `required`)
                    if needed:
                        add("E377", f"timer '{timer.name}' does '{t.name}', which needs {', '.join(needed)} filled "
                            "in, and a timer has no one to ask", (*path, "do"),
                            "make those fields optional on the transition, or fire another transition")
                    stray = [s for s in timer.states if s in states and s not in t.sources]
                    if stray:
                        add("E374", f"timer '{timer.name}' runs in {', '.join(stray)}, but '{t.name}' starts only "
                            f"from {', '.join(t.sources)}", in_path if "in" in given else (*path, "do"),
                            f"limit 'in' to states '{t.name}' starts from")
            if "actions" in given and "in" not in given:
                add("E375", f"timer '{timer.name}' with actions needs 'in': the states in which it runs", path,
                    f"add e.g. 'in: [{states[0]}]'", key=True)


def raw_value(doc, path):
    """The raw YAML value at ``path`` of the document, or None."""
    node = doc.data
    for step in path:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return None
    return node
