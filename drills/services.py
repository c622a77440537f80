"""Drill and alert domain operations: receive alerts, record drills, cancel, sweep.

Views, tasks and the worker-side runtime (drills/runtime.py) call these."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from checks.engine import DestinationRefused, ProfileError, Verdict, build_target
from checks.engine.hooks import DrillBusy, HookFailed, call_hook
from checks.models import StagingProfile, ValidationRun
from checks.secrets import SecretUnreadable
from checks.selectors import outbound_policy
from checks.services.profiles import engine_profile
from core.errors import InvalidInput, NotAllowed
from drills.models import AlertEvent, Drill
from portal import audit
from portal.models import AuditEvent, Service
from portal.permissions import can_edit_service

log = logging.getLogger(__name__)

_STATUS = {"pass": Drill.Status.PASSED, "fail": Drill.Status.FAILED, "error": Drill.Status.ERROR}
_MAX_ALERTS = 1000  # one notification; Alertmanager batches far fewer
_DEFAULT_PORTS = {"redis": 6379, "rediss": 6379, "postgres": 5432, "postgresql": 5432}


# --- alerts ---


def _when(value: Any) -> datetime | None:
    parsed = parse_datetime(value) if isinstance(value, str) else None
    # Alertmanager sends 0001-01-01T00:00:00Z for "not ended"; that is no time at all.
    return parsed if parsed is not None and parsed.year > 1 else None


def _labels(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k)[:200]: str(v)[:1000] for k, v in value.items()}


def alerts_receive(*, payload: Any) -> list[AlertEvent]:
    """Store every alert of one Alertmanager webhook notification (version 4 JSON)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list):
        raise InvalidInput("not an Alertmanager notification: no alerts list")
    alerts = payload["alerts"]
    if len(alerts) > _MAX_ALERTS:
        raise InvalidInput(f"more than {_MAX_ALERTS} alerts in one notification")
    slugs = {_labels(a.get("labels")).get("service", "") for a in alerts if isinstance(a, dict)}
    services = {s.slug: s for s in Service.objects.filter(slug__in=slugs - {""})}
    now = timezone.now()
    rows = []
    for alert in alerts:
        if not isinstance(alert, dict):
            raise InvalidInput("every alert must be an object")
        labels = _labels(alert.get("labels"))
        status = str(alert.get("status") or payload.get("status") or "")
        if status not in AlertEvent.Status.values:
            raise InvalidInput(f"alert status {status!r} is neither firing nor resolved")
        rows.append(
            AlertEvent(
                service=services.get(labels.get("service", "")),
                status=status,
                alertname=labels.get("alertname", "")[:200],
                fingerprint=str(alert.get("fingerprint") or "")[:64],
                labels=labels,
                annotations=_labels(alert.get("annotations")),
                starts_at=_when(alert.get("startsAt")),
                ends_at=_when(alert.get("endsAt")),
                receiver=str(payload.get("receiver") or "")[:200],
                received_at=now,
            )
        )
    return AlertEvent.objects.bulk_create(rows)


def alerts_since(*, matchers: Mapping[str, str], since: datetime) -> list[AlertEvent]:
    """Notifications received since ``since`` whose labels include every matcher."""
    found = AlertEvent.objects.filter(received_at__gte=since).order_by("id")[:_MAX_ALERTS]
    return [a for a in found if all(a.labels.get(k) == v for k, v in matchers.items())]


# --- drill records (called from the worker's drill threads) ---


def drill_begin(
    *, service: Service, run: ValidationRun | None, key: str, restore: list[str]
) -> Drill:
    """Take the service's drill lock by creating a running Drill; DrillBusy if taken by a
    live execution. A lock whose execution is gone (its worker was killed and the run was
    taken over) is taken over: restored first, then released (``_take_over``)."""
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                drill = Drill.objects.create(
                    service=service, run=run, key=key, restore_hooks=list(restore)
                )
                audit.record(
                    action=AuditEvent.Action.DRILL_STARTED,
                    actor=None,
                    service=service,
                    payload={
                        "key": key,
                        "drill": key,
                        "drill_id": drill.pk,
                        "run": run and run.pk,
                    },
                )
        except IntegrityError:
            other = (
                Drill.objects.select_related("run", "service")
                .filter(service=service, status=Drill.Status.RUNNING)
                .first()
            )
            if attempt == 1 and other is not None and _execution_gone(other, run):
                _take_over(other, run)
                continue
            what = f"{other.key} (drill #{other.pk})" if other else "another drill"
            raise DrillBusy(f"{what} is running on {service.slug}: one drill at a time") from None
        return drill
    raise AssertionError("unreachable")  # pragma: no cover


def _execution_gone(drill: Drill, run: ValidationRun | None) -> bool:
    """Whether the execution that holds ``drill``'s lock is gone: an earlier execution of the
    run now taking it (the run was taken over), a run that is no longer running or whose
    lease expired, or a drill silent past PREFLIGHT_DRILL_STALE_S."""
    now = timezone.now()
    if now - drill.heartbeat_at > timedelta(seconds=settings.PREFLIGHT_DRILL_STALE_S):
        return True
    owner = drill.run
    if owner is None:
        return False
    if run is not None and owner.pk == run.pk:
        return run.claimed_at is not None and drill.started_at < run.claimed_at
    lease = timedelta(seconds=settings.PREFLIGHT_RUN_LEASE_S)
    return owner.status != ValidationRun.Status.RUNNING or (
        owner.heartbeat_at is None or now - owner.heartbeat_at > lease
    )


def _take_over(drill: Drill, run: ValidationRun | None) -> None:
    """Release a dead execution's drill lock: mark it abandoned, run its restore hooks now
    (what it broke is mended before anything else is broken), record it."""
    now = timezone.now()
    if not Drill.objects.filter(pk=drill.pk, status=Drill.Status.RUNNING).update(
        status=Drill.Status.ABANDONED, finished_at=now
    ):
        return  # the sweeper (or another taker) got there first
    ok, note = _restore(drill)
    note = f"taken over by run #{run and run.pk}'s new execution; {note}"
    _record_restore(
        drill, now, ok, note, note, "its execution was lost; taken over by the run's next one"
    )
    _audit_finished(drill, Drill.Status.ABANDONED, restored=ok, note=note)
    log.warning("drill #%s: %s", drill.pk, note)


def _record_restore(
    drill: Drill, now: datetime, ok: bool, note: str, event: str, summary: str
) -> None:
    """Store one restore attempt of an abandoned drill: its outcome, a timeline entry, and a
    summary when the drill had none."""
    Drill.objects.filter(pk=drill.pk).update(
        restored_at=now if ok else None,
        restore_attempts=drill.restore_attempts + 1,
        restore_note=note,
        summary=drill.summary or summary,
        timeline=[*drill.timeline, {"t": _seconds_since(drill, now), "event": event}],
    )


def drill_progress(*, drill_id: int, timeline: list[dict[str, Any]]) -> None:
    Drill.objects.filter(pk=drill_id, status=Drill.Status.RUNNING).update(
        heartbeat_at=timezone.now(), timeline=timeline
    )


def drill_cancel_requested(*, drill_id: int) -> bool:
    return Drill.objects.filter(pk=drill_id, cancel_requested_at__isnull=False).exists()


def drill_end(*, drill_id: int, verdict: Verdict) -> None:
    drill = Drill.objects.select_related("service").get(pk=drill_id)
    status = _STATUS.get(str(verdict.status), Drill.Status.ERROR)
    if drill.cancel_requested_at is not None and status == Drill.Status.ERROR:
        status = Drill.Status.CANCELLED
    evidence = dict(verdict.evidence)
    # Every drill reports its timeline under "events" (check-catalog.md).
    timeline = evidence.get("events") or drill.timeline
    with transaction.atomic():
        moved = Drill.objects.filter(pk=drill_id, status=Drill.Status.RUNNING).update(
            status=status,
            summary=verdict.summary[:2000],
            evidence=evidence,
            timeline=timeline,
            finished_at=timezone.now(),
            restored_at=timezone.now() if drill.restore_hooks else None,
        )
        if moved:
            _audit_finished(drill, status)


def _audit_finished(drill: Drill, status: str, **extra: Any) -> None:
    audit.record(
        action=AuditEvent.Action.DRILL_FINISHED,
        actor=None,
        service=drill.service,
        to_state=status,
        payload={"key": drill.key, "drill": drill.key, "drill_id": drill.pk, **extra},
    )


def drill_cancel(*, drill: Drill, actor: Any) -> Drill:
    """Ask a running drill to stop; it restores and ends at its next step (within ~1 s)."""
    if not can_edit_service(actor, drill.service):
        raise NotAllowed("Only members of the owning team cancel its drills.")
    if drill.finished:
        raise InvalidInput(f"drill #{drill.pk} already finished ({drill.status}).")
    Drill.objects.filter(pk=drill.pk, cancel_requested_at__isnull=True).update(
        cancel_requested_at=timezone.now(), cancelled_by=actor
    )
    drill.refresh_from_db()
    return drill


# --- the sweeper ---


def portal_endpoints() -> list[tuple[str, int]]:
    """(host, port) of the portal's own broker and database: drills never touch them."""
    found: list[tuple[str, int]] = []
    for url in (settings.CELERY_BROKER_URL,):
        parts = urlsplit(url)
        if parts.hostname:
            found.append((parts.hostname, parts.port or _DEFAULT_PORTS.get(parts.scheme, 0)))
    for db in settings.DATABASES.values():
        if db.get("HOST"):
            found.append((str(db["HOST"]), int(db.get("PORT") or 5432)))
    return found


def _restore(drill: Drill) -> tuple[bool, str]:
    """Run a drill's restore hooks from the portal, as the worker would have."""
    if not drill.restore_hooks:
        return True, "nothing to restore"
    try:
        profile = engine_profile(StagingProfile.objects.get(service=drill.service))
        target = build_target(profile, outbound_policy())
        for name in drill.restore_hooks:
            call_hook(target, name, forbidden=portal_endpoints())
    except (StagingProfile.DoesNotExist, ProfileError, SecretUnreadable) as exc:
        return False, f"profile unusable: {exc}"
    except (HookFailed, DestinationRefused, httpx.HTTPError) as exc:
        return False, target.scrubber.text(f"{type(exc).__name__}: {exc}")  # stored, shown
    return True, f"ran {', '.join(drill.restore_hooks)}"


def sweep_drills(*, now: datetime | None = None) -> dict[str, int]:
    """Restore and release drills whose worker stopped reporting (heartbeat too old), and
    retry restores that failed last time."""
    now = now or timezone.now()
    stale_before = now - timedelta(seconds=settings.PREFLIGHT_DRILL_STALE_S)
    counts = {"abandoned": 0, "restored": 0, "restore_failed": 0}
    for drill_id in Drill.objects.filter(
        status=Drill.Status.RUNNING, heartbeat_at__lt=stale_before
    ).values_list("pk", flat=True):
        # Claim first: the status change releases the lock and stops a second sweeper.
        if Drill.objects.filter(pk=drill_id, status=Drill.Status.RUNNING).update(
            status=Drill.Status.ABANDONED, finished_at=now
        ):
            counts["abandoned"] += 1
    pending = Drill.objects.select_related("service").filter(
        status=Drill.Status.ABANDONED,
        restored_at__isnull=True,
        restore_attempts__lt=settings.PREFLIGHT_DRILL_RESTORE_ATTEMPTS,
    )
    for drill in pending:
        ok, note = _restore(drill)
        _record_restore(
            drill,
            now,
            ok,
            note,
            f"sweeper: {note}",
            "worker lost mid-drill; the sweeper ran the restore hooks",
        )
        counts["restored" if ok else "restore_failed"] += 1
        if ok or drill.restore_attempts + 1 >= settings.PREFLIGHT_DRILL_RESTORE_ATTEMPTS:
            _audit_finished(drill, Drill.Status.ABANDONED, restored=ok, note=note)
        if not ok:
            log.warning("drill #%s: restore failed: %s", drill.pk, note)
    return counts


def _seconds_since(drill: Drill, now: datetime) -> float:
    return round((now - drill.started_at).total_seconds(), 3)
