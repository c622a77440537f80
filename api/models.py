"""API tokens (shown once, stored as SHA-256), the Idempotency-Key records of POSTs, and
annotations (deploy markers and notes posted by CI)."""

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
        ANNOTATIONS_WRITE = "annotations:write", "Create, change and delete annotations"

    name = models.CharField(max_length=100, unique=True)
    prefix = models.CharField(max_length=12)
    token_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    # Set on personal tokens issued by POST /api/v1/auth/login: they act for this user, die
    # with the account, and stop working when it is deactivated.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="personal_api_tokens",
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


class Annotation(models.Model):
    """A deploy marker or note ("deployed v1.2"), tagged with service slugs, for dashboards.

    Listed by keyset on (created_at, id): ``created_at`` keeps microseconds on every supported
    database, and ``id`` breaks ties, so a cursor walk is stable under inserts and deletes."""

    name = models.CharField(max_length=200)
    tags = models.JSONField(default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_by_token = models.ForeignKey(
        ApiToken, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["created_at", "id"], name="annotation_keyset")]

    def __str__(self) -> str:
        return self.name
