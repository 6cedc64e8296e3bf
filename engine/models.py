"""The engine's own tables: applied versions of the solution, webhook deliveries, the audit trail."""
import hashlib
import json

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


def digest_sources(sources):
    """A stable digest of ``{path: text}``."""
    return hashlib.sha256(json.dumps(sources, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class SolutionVersion(models.Model):
    """One applied and published version of the solution's definitions.

    Versions are numbered 1, 2, 3... and never edited; the highest number is the one every process
    serves. Rolling back publishes an older version's sources again as a new number.
    """

    number = models.PositiveIntegerField(unique=True)
    solution = models.CharField(max_length=100)
    sources = models.JSONField(help_text="The YAML files of this version: {relative path: text}.")
    digest = models.CharField(max_length=64)
    note = models.TextField(blank=True)
    origin = models.CharField(max_length=255, blank=True, help_text="Folder or tool the version came from.")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    engine_version = models.CharField(max_length=40, blank=True, default="",
                                      help_text="Version of the engine (and its DSL) that published this version.")

    class Meta:
        ordering = ["-number"]
        get_latest_by = "number"

    def __str__(self):
        return f"{self.solution} v{self.number}"


class WebhookDelivery(models.Model):
    """One webhook call to make: written in the same transaction as the change it reports (an outbox),
    so a call is never lost when the broker is down; Celery delivers and retries it."""

    PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
    STATUSES = [(PENDING, "pending"), (DELIVERED, "delivered"), (FAILED, "failed")]

    webhook = models.CharField(max_length=100)
    event = models.CharField(max_length=100)
    entity = models.CharField(max_length=100)
    object_id = models.BigIntegerField()
    url = models.URLField(max_length=2000)
    secret_env = models.CharField(max_length=100, blank=True)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=STATUSES, default=PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self):
        return f"{self.webhook} {self.event} {self.entity}#{self.object_id} ({self.status})"


class UserPreference(models.Model):
    """A user's own settings and contact details beyond Django's user: phone, notification channels."""

    CHANNELS = [("email", "Email"), ("sms", "SMS"), ("messenger", "Messenger"), ("push", "Push")]

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="cabinet_preference")
    channels = models.JSONField(default=list, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    # The language the user chose (a code of the solution's languages); applied at login (engine/language.py).
    language = models.CharField(max_length=12, blank=True)

    def __str__(self):
        return f"preferences of {self.user}"


class IntroSeen(models.Model):
    """A user saw (or skipped) a first-visit intro; ``intro`` names it: ``role:<name>`` or ``solution``."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    intro = models.CharField(max_length=100)
    seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "intro"], name="engine_intro_seen_once")]

    def __str__(self):
        return f"{self.user} saw {self.intro}"


class AuditRecord(models.Model):
    """One write to a row of the solution: who, when, what changed; written in the write's transaction."""

    entity = models.CharField(max_length=100)
    object_id = models.BigIntegerField()
    action = models.CharField(max_length=20, help_text="create, update, delete or transition")
    transition = models.CharField(max_length=100, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+", help_text="Empty: the engine itself (timers, imports).")
    actor_label = models.CharField(max_length=150, blank=True)
    source = models.CharField(max_length=20, blank=True, help_text="api, page, admin, import or system")
    at = models.DateTimeField(default=timezone.now)
    from_state = models.CharField(max_length=100, blank=True)
    to_state = models.CharField(max_length=100, blank=True)
    changes = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder,
                               help_text="{field: [old, new]} of the fields the write changed.")
    details = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["entity", "object_id", "at"])]

    def __str__(self):
        return f"{self.action} {self.entity}#{self.object_id} by {self.actor_label or 'system'}"


class Outbox(models.Model):
    """Something to send because of a write (a notification), stored with the write; ``key`` makes it once."""

    PENDING, DONE, FAILED = "pending", "done", "failed"
    STATUSES = [(PENDING, "pending"), (DONE, "done"), (FAILED, "failed")]

    kind = models.CharField(max_length=30, help_text="notify, ...")
    entity = models.CharField(max_length=100)
    object_id = models.BigIntegerField(null=True, blank=True)
    payload = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    key = models.CharField(max_length=255, unique=True, help_text="Idempotency key: one row per event.")
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=10, choices=STATUSES, default=PENDING)
    attempts = models.PositiveIntegerField(default=0)
    dispatched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self):
        return f"{self.kind} {self.entity}#{self.object_id} ({self.status})"


class Timer(models.Model):
    """One due firing of a workflow timer for one row (engine/workflows/timers.py).

    A row has at most one pending timer per workflow timer (a partial unique constraint). ``key`` names the
    row, the timer and the moment it is due: a timer that fired is never made pending again for the same
    moment, so it fires once however often the row is saved; a new moment (the date moved, the row entered
    the state again) is a new firing. A firing that fails is retried from ``next_attempt_at`` with backoff.
    """

    PENDING, DONE, CANCELLED, FAILED = "pending", "done", "cancelled", "failed"
    STATUSES = [(PENDING, "pending"), (DONE, "done"), (CANCELLED, "cancelled"), (FAILED, "failed")]

    entity = models.CharField(max_length=100)
    object_id = models.BigIntegerField()
    workflow = models.CharField(max_length=100)
    timer = models.CharField(max_length=100)
    due_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=STATUSES, default=PENDING)
    key = models.CharField(max_length=255, unique=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    fired_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [models.Index(fields=["status", "due_at"]), models.Index(fields=["entity", "object_id"])]
        constraints = [models.UniqueConstraint(fields=["entity", "object_id", "workflow", "timer"],
                                               condition=models.Q(status="pending"), name="engine_timer_one_pending")]

    def __str__(self):
        return f"{self.workflow}.{self.timer} of {self.entity}#{self.object_id} at {self.due_at:%Y-%m-%d %H:%M} " \
               f"({self.status})"


class Sequence(models.Model):
    """The last number handed out for one numbering pattern (``R-{year}-{seq:05}``) of an entity's field.

    ``key`` is the pattern with its date parts filled in, so a yearly pattern starts again at 1 each
    year. A number is taken with the row locked (``select_for_update``) in the transaction that creates
    the numbered row: concurrent creates wait for each other, and a rolled-back create gives its number back.
    """

    entity = models.CharField(max_length=100)
    field = models.CharField(max_length=100)
    key = models.CharField(max_length=255)
    value = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["entity", "field", "key"], name="engine_sequence_key")]

    def __str__(self):
        return f"{self.entity}.{self.field} {self.key}: {self.value}"


from .builder.models import BuilderLog, Draft  # noqa: E402  (the builder's tables)
from .chat.models import Attachment, ChatEvent, Conversation, Message, Participant  # noqa: E402  (the chat's tables)

__all__ = ["Attachment", "AuditRecord", "BuilderLog", "ChatEvent", "Conversation", "Draft", "IntroSeen",
           "Message", "Outbox", "Participant", "Sequence",
           "SolutionVersion", "Timer", "UserPreference", "WebhookDelivery"]
