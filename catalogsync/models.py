"""Records of the catalog import: each sync, what it changed and refused, and which catalog
entity is which team or service."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from portal.models import Service, Team


class CatalogSync(models.Model):
    """One import of one source.

    States: ``running`` → ``succeeded`` (entities applied; some may have been refused, each
    with its reason) | ``failed`` (the source could not be read as a whole: nothing was
    written, ``error`` says why). A dry run is never stored."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    source = models.CharField(max_length=500)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    trigger = models.CharField(max_length=20, default="command")  # command, schedule, page
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    entities_read = models.PositiveIntegerField(default=0)
    # created, updated, moved, removed, restored, unchanged, refused, ignored
    counts = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["source", "-id"])]

    def __str__(self) -> str:
        return f"sync #{self.pk} of {self.source} ({self.status})"

    @property
    def changed(self) -> int:
        return sum(
            self.counts.get(k, 0) for k in ("created", "updated", "moved", "removed", "restored")
        )


class SyncChange(models.Model):
    class Action(models.TextChoices):
        CREATED = "created", "Created"
        LINKED = "linked", "Linked to an existing record"
        UPDATED = "updated", "Updated"
        MOVED = "moved", "Moved to another team"
        REMOVED = "removed", "Removed from the catalog (marked, kept)"
        RESTORED = "restored", "Back in the catalog"

    sync = models.ForeignKey(CatalogSync, on_delete=models.CASCADE, related_name="changes")
    entity_ref = models.CharField(max_length=255)
    action = models.CharField(max_length=10, choices=Action.choices)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.action} {self.entity_ref}"


class SyncRefusal(models.Model):
    sync = models.ForeignKey(CatalogSync, on_delete=models.CASCADE, related_name="refusals")
    where = models.CharField(max_length=500)
    entity_ref = models.CharField(max_length=255, blank=True)
    reason = models.TextField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.entity_ref or self.where}: {self.reason}"


class CatalogEntity(models.Model):
    """A Group or Component entity Preflight imported, and the team or service it is. The
    ``source`` that last read it decides removal: an entity that source no longer has is
    marked removed (``removed_at``), never deleted."""

    ref = models.CharField(max_length=255, unique=True)
    kind = models.CharField(max_length=20)
    source = models.CharField(max_length=500)
    team = models.ForeignKey(
        Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="catalog_entities"
    )
    service = models.ForeignKey(
        Service, on_delete=models.SET_NULL, null=True, blank=True, related_name="catalog_entities"
    )
    first_sync = models.ForeignKey(
        CatalogSync, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "catalog entities"
        indexes = [models.Index(fields=["source", "removed_at"])]

    def __str__(self) -> str:
        return self.ref
