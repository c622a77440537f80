"""Launch reviews: a request to launch a service, the reviewers' decisions (each with the
readiness snapshot frozen at that moment), gate exemptions, team webhooks and facts from CI."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from core.immutable import ImmutableError, ImmutableModel, ImmutableQuerySet
from portal.models import Service, Team


class LaunchReview(models.Model):
    """A request to launch one service.

    State machine::

        requested ──(required approvals reached)──► approved ──(regression)──► invalidated
           ├──(a reviewer rejects, with a reason)──► rejected
           └──(the requester withdraws)──────────► withdrawn

    At most one review per service is ``requested`` at a time (a "launch in flight").
    ``required_approvals`` is fixed when the request is made, so changing the setting later
    does not move the goalposts of a review under way.
    """

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        WITHDRAWN = "withdrawn", "Withdrawn"
        INVALIDATED = "invalidated", "Invalidated"

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="launch_reviews")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.REQUESTED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="launch_requests"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    target_date = models.DateField()
    notes = models.TextField(blank=True)
    required_approvals = models.PositiveSmallIntegerField(default=1)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["service", "-id"]), models.Index(fields=["status"])]
        constraints = [
            models.UniqueConstraint(
                fields=["service"],
                condition=models.Q(status="requested"),
                name="review_one_in_flight_per_service",
            )
        ]

    def __str__(self) -> str:
        return f"launch #{self.pk} of {self.service} ({self.status})"


class FrozenError(ImmutableError):
    """Raised on any attempt to change or remove a decision (and its snapshot)."""


class DecisionQuerySet(ImmutableQuerySet["Decision"]):
    error = FrozenError
    message = "decisions and their snapshots are immutable"


class Decision(ImmutableModel):
    """One step of a review's history with the readiness snapshot frozen at that moment.
    Immutable: there is no update path (save of an existing row and QuerySet.update raise)."""

    class Kind(models.TextChoices):
        REQUEST = "request", "Requested"
        APPROVE = "approve", "Approved"
        REJECT = "reject", "Rejected"
        WITHDRAW = "withdraw", "Withdrawn"
        INVALIDATE = "invalidate", "Invalidated"

    review = models.ForeignKey(LaunchReview, on_delete=models.CASCADE, related_name="decisions")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True
    )
    actor_name = models.CharField(max_length=150)
    reason = models.TextField(blank=True)
    snapshot = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    objects: ClassVar[models.Manager[Decision]] = DecisionQuerySet.as_manager()
    immutable_error = FrozenError
    immutable_message = DecisionQuerySet.message

    class Meta:
        ordering = ["id"]
        constraints = [
            # Separation of duties, counted once: a reviewer approves a review at most once.
            models.UniqueConstraint(
                fields=["review", "actor"],
                condition=models.Q(kind="approve"),
                name="decision_one_approval_per_reviewer",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} of launch #{self.review_id} by {self.actor_name}"


class Exemption(models.Model):
    """A written justification, with an expiry, for launching (or ticking an item) while the
    gate finds something wrong. It names what it excuses — items and check keys — and how
    each was when it was granted (``granted``: ``{"item:KEY": "open", "check:KEY": "skip"}``);
    it covers a subject only in that status or a better one (reviews.gate.SEVERITY), so any
    other regression, or a worse one, is not covered.

    Two kinds:

    - a launch's exemption (``review`` set, ``rule`` the gate rule it was requested for):
      approved with the launch when the review reaches its approvals;
    - an item's exemption (``item_key`` set, no review): requested from the checklist row of
      an item whose verifying check fails, approved by one reviewer of another team; the
      approval marks the item done over exactly those failing checks until ``expires_at``.

    It counts only while approved and until ``expires_at``.
    """

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        WITHDRAWN = "withdrawn", "Withdrawn"

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="exemptions")
    review = models.ForeignKey(
        LaunchReview, on_delete=models.CASCADE, related_name="exemptions", null=True, blank=True
    )
    rule = models.CharField(max_length=40, blank=True)
    item_key = models.CharField(max_length=150, blank=True)
    items = models.JSONField(default=list, blank=True)
    checks = models.JSONField(default=list, blank=True)
    granted = models.JSONField(default=dict, blank=True)
    justification = models.TextField()
    expires_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.REQUESTED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="exemptions_requested",
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="exemptions_decided",
    )
    decision_note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    approved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["rule", "id"]
        constraints = [
            models.UniqueConstraint(fields=["review", "rule"], name="exemption_unique_rule"),
            models.UniqueConstraint(
                fields=["service", "item_key"],
                condition=models.Q(status="requested", review__isnull=True),
                name="exemption_one_request_per_item",
            ),
        ]
        indexes = [models.Index(fields=["service", "status", "expires_at"])]

    def __str__(self) -> str:
        if self.review_id:
            return f"exemption #{self.pk} of {self.rule} for launch #{self.review_id}"
        return f"exemption #{self.pk} of {self.item_key}"

    @property
    def subjects(self) -> list[str]:
        """What it names, as ``kind:key``, items first."""
        return [f"item:{k}" for k in self.items] + [f"check:{k}" for k in self.checks]


def validate_webhook_url(url: str) -> None:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("A webhook URL must be an http:// or https:// URL with a host.")


class TeamWebhook(models.Model):
    """An outgoing webhook (Slack incoming-webhook format) that a team's notifications go
    to. Delivered through the guarded HTTP client, so the URL must also be allowlisted."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500, validators=[validate_webhook_url])
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["team", "id"]

    def __str__(self) -> str:
        return f"webhook of {self.team}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        validate_webhook_url(self.url)
        super().save(*args, **kwargs)


class FactReport(models.Model):
    """Facts pushed by CI for one service (coverage, scans, dependency audit) and the
    verdicts drawn from them on the Testing & Quality Gates items."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="fact_reports")
    created_at = models.DateTimeField(auto_now_add=True)
    commit = models.CharField(max_length=100, blank=True)
    ci_url = models.URLField(max_length=500, blank=True)
    facts = models.JSONField()
    verdicts = models.JSONField(default=dict)
    token_name = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["service", "created_at", "id"])]

    def __str__(self) -> str:
        return f"facts #{self.pk} for {self.service}"
