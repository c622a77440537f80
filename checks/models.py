"""Validation runs against a service's staging deployment, their results, and the staging
profile each run is built from."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from portal.models import Service


class ValidationRun(models.Model):
    """One execution of a set of checks against one service.

    State machine::

        queued ──(worker claims it)──► running ──► passed   (no fail, no error)
           │                              │    ├─► failed   (at least one fail)
           │                              │    └─► error    (errors but no fail)
           │                              └─(stuck past the deadline; sweeper)─► error
           └─(never dispatched after N attempts; sweeper)─► error

    A queued run whose message was lost (broker down at request time) is dispatched again by
    the sweeper. Re-delivery of a running run's message resumes it: checks that already have
    a result are not run again, so results are never duplicated.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"
        ERROR = "error", "Error"

    class Trigger(models.TextChoices):
        MANUAL = "manual", "Started by a person"
        SCHEDULE = "schedule", "Schedule"
        RERUN = "rerun", "Re-run of a check"
        API = "api", "API"

    FINISHED = (Status.PASSED, Status.FAILED, Status.ERROR)

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.MANUAL)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    parent = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="reruns"
    )
    steps = models.JSONField(default=list, blank=True)
    keys = models.JSONField(default=list)
    # True when the run was asked for every check (no steps, no keys chosen).
    complete_selection = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    dispatch_attempts = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["service", "-id"]),
            models.Index(fields=["status", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"run #{self.pk} of {self.service} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def full(self) -> bool:
        """Covers every registered check (a full validation), as opposed to a run of some
        steps, of chosen keys, or a re-run of one check."""
        return self.complete_selection and self.trigger != self.Trigger.RERUN


class CheckResult(models.Model):
    class Status(models.TextChoices):
        PASS = "pass", "Pass"
        FAIL = "fail", "Fail"
        ERROR = "error", "Error"
        SKIP = "skip", "Skip"

    run = models.ForeignKey(ValidationRun, on_delete=models.CASCADE, related_name="results")
    key = models.CharField(max_length=100)
    status = models.CharField(max_length=5, choices=Status.choices)
    summary = models.TextField()
    evidence = models.JSONField(default=dict, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            # A re-delivered task message can never record the same check twice.
            models.UniqueConstraint(fields=["run", "key"], name="result_unique_run_key")
        ]
        indexes = [models.Index(fields=["key", "status"])]

    def __str__(self) -> str:
        return f"{self.key}: {self.status}"


class StagingProfile(models.Model):
    """A service's staging profile: the non-secret part as TOML text (docs/profile.md) and
    the secrets (probe password, OTP secret, ...) encrypted at rest (checks.secrets). The
    profile the engine sees is assembled in checks.services.profiles, in the worker, by id."""

    service = models.OneToOneField(Service, on_delete=models.CASCADE, related_name="profile")
    toml = models.TextField()
    secrets = models.JSONField(default=dict, blank=True)  # name -> Fernet token
    schedule_enabled = models.BooleanField(default=True)
    schedule_cron = models.CharField(max_length=100, default="0 2 * * *")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"profile of {self.service}"

    @property
    def secret_names(self) -> list[str]:
        return sorted(self.secrets)
