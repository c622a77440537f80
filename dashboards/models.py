"""The dashboards' one summary table. Everything else is read from the portal's and the
validation runs' own records."""

from __future__ import annotations

from django.db import models

from portal.models import Service


class CheckStatus(models.Model):
    """Where one service stands on one check key: its latest result and its latest pass.

    Answering "which checks fail across services right now" or "whose drills are overdue"
    from the results table alone means finding the newest of ~a million rows per service and
    key on every page view. This table holds that answer, one row per service x key, and is
    kept current by :mod:`dashboards.summary` as results are written (and rebuilt from the
    results by ``manage.py rebuild_dashboard_summary``)."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="check_statuses")
    key = models.CharField(max_length=100)
    status = models.CharField(max_length=5)
    result_id = models.BigIntegerField()
    run_id = models.BigIntegerField()
    last_at = models.DateTimeField()
    last_pass_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["service", "key"], name="checkstatus_unique_key")
        ]
        indexes = [
            models.Index(fields=["status", "key"]),
            models.Index(fields=["key", "last_pass_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.service_id} {self.key}: {self.status}"


class LevelStanding(models.Model):
    """A service's level and score on one checklist it carries, as the portfolio lists it
    (reviews.levels.LevelSummary), kept so that a page view after a change recomputes only
    the services that changed.

    A row is dropped when something it was computed from changes (item states, the service's
    tier, lifecycle or template, its exemptions: receivers in apps.py) and recomputed on the
    next read; ``valid_until`` is the first moment time alone could change it (a done item
    expiring, an exemption running out, a requirement's effective date), after which a read
    recomputes it too (dashboards.selectors.levels)."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="level_standings")
    template_key = models.CharField(max_length=100)
    position = models.PositiveSmallIntegerField(default=0)  # the service's own template first
    required = models.CharField(max_length=50, blank=True)
    rank = models.PositiveSmallIntegerField()
    level_key = models.CharField(max_length=50, blank=True)
    level_name = models.CharField(max_length=100)
    next_level = models.CharField(max_length=50, blank=True)
    score = models.FloatField()
    missing = models.PositiveIntegerField()
    meets_required = models.BooleanField()
    computed_at = models.DateTimeField()
    valid_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["service", "template_key"], name="levelstanding_unique_template"
            )
        ]

    def __str__(self) -> str:
        return f"{self.service_id} {self.template_key}: {self.level_name} {self.score}"
