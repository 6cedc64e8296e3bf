"""The engine's own tables: applied versions of the solution."""
import hashlib
import json

from django.conf import settings
from django.db import models


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

    class Meta:
        ordering = ["-number"]
        get_latest_by = "number"

    def __str__(self):
        return f"{self.solution} v{self.number}"
