"""API tokens (shown once, stored as SHA-256) and the Idempotency-Key records of POSTs."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from portal.models import Team


class ApiToken(models.Model):
    """A bearer token for CI. Only its SHA-256 is stored; the token itself is shown once at
    creation. ``team`` (optional) limits the write scopes to that team's services."""

    class Scope(models.TextChoices):
        READ = "read", "Read services, runs, launches and facts"
        FACTS_WRITE = "facts:write", "Push facts from CI"
        RUNS_WRITE = "runs:write", "Start validation runs"

    name = models.CharField(max_length=100, unique=True)
    prefix = models.CharField(max_length=12)
    token_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()


class IdempotencyRecord(models.Model):
    """The first response to a POST with an Idempotency-Key, per token, until it expires.
    ``status == 0`` marks a request still being processed."""

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="idempotency")
    key = models.CharField(max_length=200)
    method_path = models.CharField(max_length=300)
    body_sha256 = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField(default=0)
    response = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["token", "key"], name="idempotency_unique_key")
        ]
        indexes = [models.Index(fields=["expires_at"])]

    def __str__(self) -> str:
        return f"{self.key} ({self.method_path})"
