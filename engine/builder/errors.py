"""The builder's refusals, shaped like DRF exceptions so a view can answer them as a 4xx.

Each carries ``status_code``, ``default_code``, a ``message`` for people and ``fields``
({argument or field: [message]}) naming what to fix. Nothing was changed when one is raised.
"""
from __future__ import annotations


class BuilderError(Exception):
    """A builder action was refused; nothing was changed."""

    status_code = 400
    default_code = "invalid"
    default_message = "The request was refused."

    def __init__(self, message=None, fields=None, code=None):
        self.message = message or self.default_message
        self.fields = {key: list(value) for key, value in (fields or {}).items()}
        self.code = code or self.default_code
        super().__init__(self.message)

    @property
    def detail(self):
        """The DRF-style payload: ``{field: [{message, code}]}`` plus the overall message."""
        body = {key: [{"message": m, "code": self.code} for m in messages] for key, messages in self.fields.items()}
        body["detail"] = self.message
        return body


class EditError(BuilderError):
    """An edit's arguments are wrong; ``fields`` names each bad argument."""

    default_code = "invalid_edit"
    default_message = "The edit was not applied."

    def __init__(self, fields, message=None):
        super().__init__(message or self._summary(fields), fields)

    @staticmethod
    def _summary(fields):
        first = next(iter(fields.items()), None)
        if first is None:
            return EditError.default_message
        return f"{EditError.default_message} {first[0]}: {first[1][0]}"


class DraftNotOpen(BuilderError):
    """The draft was already published or discarded."""

    status_code = 409
    default_code = "draft_not_open"
    default_message = "This draft is no longer open."


class NotFound(BuilderError):
    """A version, file or draft that does not exist."""

    status_code = 404
    default_code = "not_found"
    default_message = "Not found."


class StaleDraft(BuilderError):
    """A newer version was published since the draft was started: rebase it first."""

    status_code = 409
    default_code = "stale_draft"

    def __init__(self, draft_base, current):
        who = getattr(current.created_by, "username", None) or current.origin or "someone"
        when = current.created_at.strftime("%Y-%m-%d %H:%M") if current.created_at else "an unknown time"
        started = f"version {draft_base}" if draft_base else "no published version"
        super().__init__(f"Version {current.number} was published by {who} at {when} since this draft was started "
                         f"from {started}; rebase it first.")
        self.base = draft_base
        self.current = current.number


class DraftHasErrors(BuilderError):
    """The draft does not compile; its problems say why."""

    default_code = "draft_has_errors"

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__(f"The draft has {len(self.problems)} error(s); fix them before planning or publishing.",
                         {"sources": [str(p) for p in self.problems]})


class PlanChanged(BuilderError):
    """The plan differs from the one the admin confirmed (the data or the draft changed)."""

    status_code = 409
    default_code = "plan_changed"

    def __init__(self, shown, now):
        super().__init__(f"The plan changed since it was shown (shown {shown or 'none'}, now {now}); "
                         "nothing was changed. Look at the new plan and confirm it.", {"digest": ["the plan changed"]})
        self.shown, self.now = shown, now


class ConfirmationNeeded(BuilderError):
    """A destructive step was not confirmed; ``steps`` are the unconfirmed ones."""

    status_code = 409
    default_code = "confirmation_needed"

    def __init__(self, steps):
        self.steps = list(steps)
        super().__init__("Confirm every destructive step before publishing: "
                         + "; ".join(s.confirm for s in self.steps),
                         {"confirmed": [s.confirm for s in self.steps]})


class Blocked(BuilderError):
    """A step no confirmation can lift (e.g. a new required field with rows to fill)."""

    status_code = 409
    default_code = "blocked"

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("The plan cannot run: " + "; ".join(p.message for p in self.problems),
                         {"plan": [f"{p.id}: {p.message}" + (f" ({p.hint})" if p.hint else "") for p in self.problems]})


class ImportFailed(BuilderError):
    """A solution folder could not be read as a draft."""

    default_code = "import_failed"
