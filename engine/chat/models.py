"""The chat's tables: conversations, their participants, messages, attachments and the event log.

They are engine tables (one set for every solution version), named by the solution's chat (``chat``)
and, for tickets, the id of the row the ticket is (``row_id``, a row of the chat's entity).
"""
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

USER = settings.AUTH_USER_MODEL


class Conversation(models.Model):
    """One conversation of a solution's chat: a client's thread with staff, a ticket, or a group channel."""

    DIRECT, TICKET, GROUP = "direct", "ticket", "group"
    TYPES = [(DIRECT, "direct"), (TICKET, "ticket"), (GROUP, "group")]

    chat = models.CharField(max_length=100, help_text="The chat's name in the solution (chats.<name>).")
    type = models.CharField(max_length=10, choices=TYPES)
    row_id = models.BigIntegerField(null=True, blank=True, help_text="ticket: the id of its row in the chat's entity")
    slug = models.SlugField(max_length=100, blank=True, help_text="group: the channel's name")
    title = models.CharField(max_length=200, blank=True)
    client = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                               help_text="direct: the client; ticket: who opened it from the client side")
    operator = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                 help_text="the operator who took the conversation")
    closed = models.BooleanField(default=False, help_text="direct and group: no new messages")
    created_at = models.DateTimeField(auto_now_add=True)
    last_message_at = models.DateTimeField(null=True, blank=True)
    last_message_id = models.BigIntegerField(default=0)
    waiting_since = models.DateTimeField(
        null=True, blank=True, help_text="the first client message staff have not answered yet (inbox order)")

    class Meta:
        ordering = ["-last_message_at", "-id"]
        indexes = [models.Index(fields=["chat", "waiting_since"]), models.Index(fields=["chat", "last_message_at"])]
        constraints = [
            models.UniqueConstraint(fields=["chat", "client"], condition=models.Q(type="direct"),
                                    name="engine_chat_one_direct_per_client"),
            models.UniqueConstraint(fields=["chat", "row_id"], condition=models.Q(type="ticket"),
                                    name="engine_chat_one_ticket_per_row"),
            models.UniqueConstraint(fields=["chat", "slug"], condition=models.Q(type="group"),
                                    name="engine_chat_one_channel_per_slug"),
        ]

    def __str__(self):
        return f"{self.chat} #{self.pk}"


class Participant(models.Model):
    """A user in a conversation: their side, what they have read, and whether they were removed."""

    CLIENT, STAFF, MEMBER, MODERATOR = "client", "staff", "member", "moderator"
    SIDES = [(CLIENT, "client"), (STAFF, "staff"), (MEMBER, "member"), (MODERATOR, "moderator")]

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="+")
    side = models.CharField(max_length=10, choices=SIDES)
    joined_at = models.DateTimeField(auto_now_add=True)
    removed = models.BooleanField(default=False, help_text="removed by a moderator: sees nothing, may not rejoin")
    last_read_id = models.BigIntegerField(default=0, help_text="the last message id this user has read")
    last_read_at = models.DateTimeField(null=True, blank=True)
    notified_id = models.BigIntegerField(default=0, help_text="the last message id an offline notice was sent for")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["conversation", "user"], name="engine_chat_participant")]
        indexes = [models.Index(fields=["user", "conversation"])]

    def __str__(self):
        return f"{self.user} in {self.conversation}"


class Message(models.Model):
    """One message. Deleting keeps the row (the text is blanked) so the thread and its events stay whole."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    side = models.CharField(max_length=10, help_text="client, staff, member, moderator or system")
    text = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["conversation", "id"])]

    def __str__(self):
        return f"message {self.pk} in {self.conversation_id}"


class Attachment(models.Model):
    """A file sent with a message; served back only through the scoped download view."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to="chat/%Y/%m/", max_length=255)
    name = models.CharField(max_length=255, help_text="the file name the sender gave (shown escaped, never a path)")
    content_type = models.CharField(max_length=100, help_text="the type found in the file's own bytes")
    size = models.PositiveIntegerField()
    is_image = models.BooleanField(default=False)

    def __str__(self):
        return self.name


class ChatEvent(models.Model):
    """Everything that happens in a conversation, in order: what streams deliver and catch up from.

    The id is the Server-Sent Events id: a client that reconnects with ``Last-Event-ID`` gets every later
    event of the conversations it may see, read from this table.
    """

    MESSAGE, EDIT, DELETE, READ, STATE, ACCESS = "message", "edit", "delete", "read", "state", "access"
    KINDS = [(k, k) for k in (MESSAGE, EDIT, DELETE, READ, STATE, ACCESS)]

    id = models.BigAutoField(primary_key=True)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=10, choices=KINDS)
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    payload = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["conversation", "id"])]

    def __str__(self):
        return f"{self.kind} #{self.pk} in {self.conversation_id}"
