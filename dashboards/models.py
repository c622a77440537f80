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
