"""The builder's tables: drafts of the solution's definitions and the audit log of publishes.

A draft is a copy of a published version's YAML files that business admins change in the builder;
it is the database's truth for an unpublished change (never the running site). Publishing a draft goes
through the same plan and publish as ``cabinet migrate``; every publish, rollback, import and refusal
is written to ``BuilderLog``.
"""
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

USER = settings.AUTH_USER_MODEL


class Draft(models.Model):
    """An unpublished change of the solution: its YAML files, the version it starts from, its edits."""

    OPEN, PUBLISHED, DISCARDED = "open", "published", "discarded"
    STATUSES = [(OPEN, "open"), (PUBLISHED, "published"), (DISCARDED, "discarded")]

    base = models.PositiveIntegerField(help_text="The published version the draft starts from (0: none yet).")
    sources = models.JSONField(help_text="The draft's YAML files: {relative path: text}.")
    edits = models.JSONField(default=list, blank=True, encoder=DjangoJSONEncoder,
                             help_text="The structured edits made, in order; a rebase replays them.")
    title = models.CharField(max_length=200, blank=True)
    origin = models.CharField(max_length=255, blank=True,
                              help_text="builder, import:<folder> or rollback:v<N>: where the draft came from.")
    status = models.CharField(max_length=10, choices=STATUSES, default=OPEN)
    published_as = models.PositiveIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        permissions = [("use_builder", "Can change the solution's definitions in the builder")]

    def __str__(self):
        return f"draft #{self.pk} on v{self.base} ({self.status})"


class BuilderLog(models.Model):
    """The audit log: one line per publish, rollback, import, discard or refused publish."""

    PUBLISH, ROLLBACK, IMPORT, DISCARD = "publish", "rollback", "import", "discard"
    REFUSED, REBASE = "refused", "rebase"
    ACTIONS = [(a, a) for a in (PUBLISH, ROLLBACK, IMPORT, DISCARD, REFUSED, REBASE)]

    at = models.DateTimeField(auto_now_add=True)
    user = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    user_label = models.CharField(max_length=150, blank=True, help_text="The user's name when it was written.")
    action = models.CharField(max_length=10, choices=ACTIONS)
    draft = models.ForeignKey(Draft, null=True, blank=True, on_delete=models.SET_NULL, related_name="log")
    version = models.PositiveIntegerField(null=True, blank=True, help_text="The version published (or refused).")
    comment = models.TextField(blank=True)
    plan = models.TextField(blank=True, help_text="The plan as shown, when there was one.")
    digest = models.CharField(max_length=12, blank=True)
    details = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self):
        return f"{self.action} v{self.version} by {self.user_label or 'system'}"
