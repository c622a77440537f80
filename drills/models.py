"""Drill records (one per drill check a worker ran) and the alerts Alertmanager posted."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from checks.models import ValidationRun
from portal.models import Service


class AlertEvent(models.Model):
    """One alert out of one Alertmanager notification. An alert that fires and later
    resolves appears twice (``firing``, then ``resolved``); every notification is kept."""

    class Status(models.TextChoices):
        FIRING = "firing", "Firing"
        RESOLVED = "resolved", "Resolved"

    service = models.ForeignKey(
        Service, on_delete=models.SET_NULL, null=True, blank=True, related_name="alert_events"
    )
    status = models.CharField(max_length=10, choices=Status.choices)
    alertname = models.CharField(max_length=200, blank=True)
    fingerprint = models.CharField(max_length=64, blank=True)
    labels = models.JSONField(default=dict)
    annotations = models.JSONField(default=dict, blank=True)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    receiver = models.CharField(max_length=200, blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["service", "-received_at"]),
            models.Index(fields=["received_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.alertname or 'alert'} {self.status} at {self.received_at:%Y-%m-%d %H:%M:%S}"


class Drill(models.Model):
    """One drill (a load, chaos, alert or rollout check) against one service's staging.

    State machine::

        running ──(the check returns; restore hooks ran in its finally)──► passed | failed | error
           ├──(cancel requested from the UI; noticed at the drill's next step)──► cancelled
           └──(no heartbeat for PREFLIGHT_DRILL_STALE_S: worker lost; the sweeper
               runs the restore hooks)──► abandoned

    At most one drill runs per service: the conditional unique constraint is the lock, and
    the sweeper is its expiry.
    """

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"
        ERROR = "error", "Error"
        CANCELLED = "cancelled", "Cancelled"
        ABANDONED = "abandoned", "Abandoned (worker lost; restored by the sweeper)"

    FINISHED = (Status.PASSED, Status.FAILED, Status.ERROR, Status.CANCELLED, Status.ABANDONED)

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="drills")
    run = models.ForeignKey(
        ValidationRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="drills"
    )
    key = models.CharField(max_length=100)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    summary = models.TextField(blank=True)
    timeline = models.JSONField(default=list, blank=True)
    evidence = models.JSONField(default=dict, blank=True)
    restore_hooks = models.JSONField(default=list, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    heartbeat_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    restored_at = models.DateTimeField(null=True, blank=True)
    restore_attempts = models.PositiveSmallIntegerField(default=0)
    restore_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["service"],
                condition=Q(status="running"),
                name="drill_one_running_per_service",
            )
        ]
        indexes = [
            models.Index(fields=["service", "-id"]),
            models.Index(fields=["status", "heartbeat_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.key} on {self.service} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in self.FINISHED
