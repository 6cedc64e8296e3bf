"""The builder's audit log: one ``BuilderLog`` row per publish, rollback, import, discard, rebase or refusal."""
from __future__ import annotations

from .models import BuilderLog


def user_label(user):
    """The name shown for ``user`` in the log (kept even if the account goes)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return ""
    return (user.get_full_name() or user.get_username())[:150]


def record(action, user=None, draft=None, version=None, comment="", plan=None, details=None):
    """Write one audit row; ``plan`` is a ``PlanView`` (its text and digest are kept) or None."""
    return BuilderLog.objects.create(
        user=user if getattr(user, "is_authenticated", False) else None, user_label=user_label(user),
        action=action, draft=draft if getattr(draft, "pk", None) else None, version=version, comment=comment or "",
        plan=plan.text if plan is not None else "", digest=plan.digest if plan is not None else "",
        details=details or {},
    )


def refused(error, user=None, draft=None, plan=None, version=None):
    """Log a refused publish with the refusal's code and message."""
    return record(BuilderLog.REFUSED, user, draft, version=version, plan=plan,
                  details={"code": error.code, "message": error.message, "fields": error.fields})
