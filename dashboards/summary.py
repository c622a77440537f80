"""Keeps :class:`dashboards.models.CheckStatus` in step with the check results.

Written on every new CheckResult (a post_save receiver connected in apps.py), so the
dashboards read one row per service x key instead of searching the results table."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q

from checks.models import CheckResult, ValidationRun
from dashboards.models import CheckStatus, LevelStanding
from portal.models import Service

PASS = CheckResult.Status.PASS


def on_result_saved(sender: type, instance: CheckResult, created: bool, **kwargs: Any) -> None:
    if created and not kwargs.get("raw"):
        record_result(instance)


def record_result(result: CheckResult) -> None:
    """Fold one new result into the summary. A result older than the one already summarised
    (written out of order) only moves ``last_pass_at``."""
    service_id = ValidationRun.objects.values_list("service_id", flat=True).get(pk=result.run_id)
    at = result.created_at
    passed = result.status == PASS
    newer = {
        "status": result.status,
        "result_id": result.pk,
        "run_id": result.run_id,
        "last_at": at,
    }
    rows = CheckStatus.objects.filter(service_id=service_id, key=result.key)
    if passed:
        newer["last_pass_at"] = at
    if rows.filter(result_id__lt=result.pk).update(**newer):
        return
    try:
        with transaction.atomic():
            CheckStatus.objects.create(service_id=service_id, key=result.key, **newer)
        return
    except IntegrityError:
        pass  # the row exists and is newer than this result
    if passed:
        rows.filter(Q(last_pass_at__isnull=True) | Q(last_pass_at__lt=at)).update(last_pass_at=at)


def summarise(
    results: Iterable[tuple[int, str, str, int, int, datetime]],
) -> dict[tuple[int, str], CheckStatus]:
    """Summary rows from (service_id, key, status, result_id, run_id, created_at) tuples in
    ascending result id order."""
    latest: dict[tuple[int, str], CheckStatus] = {}
    for service_id, key, status, result_id, run_id, at in results:
        row = latest.get((service_id, key))
        if row is None:
            row = latest[(service_id, key)] = CheckStatus(service_id=service_id, key=key)
        row.status, row.result_id, row.run_id, row.last_at = status, result_id, run_id, at
        if status == PASS:
            row.last_pass_at = at
    return latest


@transaction.atomic
def rebuild() -> int:
    """Recompute the whole summary from the results (after a restore, or on first install
    over existing data). Streams the results once."""
    CheckStatus.objects.all().delete()
    stream = (
        CheckResult.objects.order_by("id")
        .values_list("run__service_id", "key", "status", "id", "run_id", "created_at")
        .iterator(chunk_size=20_000)
    )
    rows = summarise(stream)
    CheckStatus.objects.bulk_create(rows.values(), batch_size=2000)
    return len(rows)


# --- level standings (dashboards.selectors.levels.standings) --------------------------------


def drop_standing(sender: type, service: Service, **kwargs: Any) -> None:
    """portal.signals.item_states_changed: the service's standings are out of date."""
    LevelStanding.objects.filter(service_id=service.pk).delete()


def drop_standing_of_service(sender: type, instance: Service, **kwargs: Any) -> None:
    """A service saved (its tier, lifecycle or template may have changed)."""
    if not kwargs.get("raw"):
        LevelStanding.objects.filter(service_id=instance.pk).delete()


def drop_standing_of_exemption(sender: type, instance: Any, **kwargs: Any) -> None:
    """An exemption saved or removed (approved, withdrawn...): it may excuse items."""
    LevelStanding.objects.filter(service_id=instance.service_id).delete()
