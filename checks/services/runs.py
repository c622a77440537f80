"""Validation runs as domain operations: request, dispatch, execute, sweep, re-run.

Views, tasks and commands call these. The engine (checks.engine) does the checking; this
module persists what it reports and feeds the checklist."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from checks.catalog import REGISTRY
from checks.engine import (
    Outcome,
    ProfileError,
    UnknownCheck,
    UnknownStep,
    build_target,
    run_checks,
    select_specs,
)
from checks.models import CheckResult, StagingProfile, ValidationRun
from checks.secrets import SecretUnreadable
from checks.selectors import outbound_policy
from checks.services.profiles import engine_profile
from checks.signals import run_finished, target_built
from core.broker import enqueue
from core.errors import DomainError, InvalidInput, NotAllowed, NotFound
from portal import services as portal_services
from portal.models import Service
from portal.permissions import can_edit_service

log = logging.getLogger(__name__)


def run_request(
    *,
    service: Service,
    actor: Any,
    steps: list[str] | None = None,
    keys: list[str] | None = None,
    trigger: str = ValidationRun.Trigger.MANUAL,
    parent: ValidationRun | None = None,
) -> ValidationRun:
    """Record a run and enqueue it once the transaction commits. ``actor=None`` is the
    scheduler."""
    if actor is not None and not can_edit_service(actor, service):
        raise NotAllowed("Only members of the owning team start validations.")
    if not StagingProfile.objects.filter(service=service).exists():
        raise InvalidInput(
            "This service has no staging profile yet: configure it before running checks."
        )
    try:
        specs = select_specs(REGISTRY, only=keys or None, steps=steps or None)
    except (UnknownCheck, UnknownStep) as exc:
        raise InvalidInput(str(exc)) from None
    if not specs:
        raise InvalidInput("No check matches this selection.")
    with transaction.atomic():
        run = ValidationRun.objects.create(
            service=service,
            trigger=trigger,
            triggered_by=actor if actor is not None and actor.is_authenticated else None,
            parent=parent,
            steps=sorted(steps or []),
            keys=[spec.key for spec in specs],
            complete_selection=not steps and not keys,
        )
        transaction.on_commit(lambda: dispatch(run.pk))
    return run


def dispatch(run_id: int) -> bool:
    """Hand the run to the broker. If the broker is down the run stays queued and the
    sweeper tries again; the request that created it has already succeeded. The task is
    named, not imported: checks.tasks imports this module."""
    ValidationRun.objects.filter(pk=run_id).update(
        dispatched_at=timezone.now(), dispatch_attempts=F("dispatch_attempts") + 1
    )
    return enqueue("checks.tasks.execute_run", run_id)


def _claim(run_id: int) -> ValidationRun | None:
    """queued -> running. A re-delivered message for a running run resumes it; a finished
    run (or a missing one) is left alone."""
    now = timezone.now()
    ValidationRun.objects.filter(pk=run_id, status=ValidationRun.Status.QUEUED).update(
        status=ValidationRun.Status.RUNNING, started_at=now
    )
    run = ValidationRun.objects.select_related("service", "service__template").filter(pk=run_id)
    found = run.first()
    if found is None or found.status != ValidationRun.Status.RUNNING:
        return None
    return found


COUNTERS = {
    "pass": "pass_count",
    "fail": "fail_count",
    "error": "error_count",
    "skip": "skip_count",
}


def _counted(status: str, evidence: Any) -> dict[str, Any]:
    """The run's counters one result moves (``ValidationRun.counts``)."""
    moves: dict[str, Any] = {COUNTERS[status]: F(COUNTERS[status]) + 1}
    if status == "skip" and isinstance(evidence, dict) and evidence.get("setting"):
        moves["unconfigured_count"] = F("unconfigured_count") + 1
    return moves


def _store(run: ValidationRun, outcome: Outcome) -> None:
    status = str(outcome.status)
    try:
        with transaction.atomic():
            CheckResult.objects.create(
                run=run,
                key=outcome.key,
                status=status,
                summary=outcome.summary[:2000],
                evidence=outcome.evidence,
                duration_ms=outcome.duration_ms,
            )
            ValidationRun.objects.filter(pk=run.pk).update(**_counted(status, outcome.evidence))
    except IntegrityError:
        log.info("run %s already has a result for %s (re-delivery)", run.pk, outcome.key)


def execute(run_id: int) -> ValidationRun | None:
    """Run a queued (or resume a running) validation and record every result as it lands."""
    run = _claim(run_id)
    if run is None:
        return None
    done = set(run.results.values_list("key", flat=True))
    specs = [REGISTRY[key] for key in run.keys if key in REGISTRY and key not in done]
    try:
        profile = engine_profile(StagingProfile.objects.get(service=run.service))
    except (StagingProfile.DoesNotExist, ProfileError, SecretUnreadable) as exc:
        return _finish(run, message=f"profile unusable: {exc}", status=ValidationRun.Status.ERROR)
    if specs:
        target = build_target(profile, outbound_policy())
        target_built.send(sender=ValidationRun, run=run, target=target)
        try:
            run_checks(target, specs, on_result=lambda outcome: _store(run, outcome))
        finally:
            target.close()  # e.g. removes the run's repository clone
    return _finish(run)


def _finish(run: ValidationRun, *, message: str = "", status: str | None = None) -> ValidationRun:
    statuses = dict(run.results.values_list("key", "status"))
    summaries = dict(run.results.values_list("key", "summary"))
    if status is None:
        values = set(statuses.values())
        if "fail" in values:
            status = ValidationRun.Status.FAILED
        elif "error" in values:
            status = ValidationRun.Status.ERROR
        else:
            status = ValidationRun.Status.PASSED
    with transaction.atomic():
        moved = ValidationRun.objects.filter(pk=run.pk, status=ValidationRun.Status.RUNNING).update(
            status=status, finished_at=timezone.now(), message=message
        )
        if moved and statuses:
            portal_services.items_from_checks(
                service=run.service,
                results=statuses,
                evidence_url=settings.PREFLIGHT_BASE_URL.rstrip("/")
                + reverse("checks:run-detail", args=[run.pk]),
                run_label=f"Validation run #{run.pk}",
                summaries=summaries,
            )
    run.refresh_from_db()
    if moved:
        run_finished.send(sender=ValidationRun, run=run)
    return run


def sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Mark runs stuck past the deadline as error; re-dispatch queued runs that never
    started (their message was lost or never sent); give up after too many attempts."""
    now = now or timezone.now()
    stuck = ValidationRun.objects.filter(
        status=ValidationRun.Status.RUNNING,
        started_at__lt=now - timedelta(seconds=settings.PREFLIGHT_RUN_DEADLINE_S),
    ).update(
        status=ValidationRun.Status.ERROR,
        finished_at=now,
        message="stuck: no progress before the deadline (worker lost?)",
    )
    retry_before = now - timedelta(seconds=settings.PREFLIGHT_DISPATCH_RETRY_S)
    waiting = ValidationRun.objects.filter(status=ValidationRun.Status.QUEUED).filter(
        Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=retry_before)
    )
    given_up = waiting.filter(
        dispatch_attempts__gte=settings.PREFLIGHT_DISPATCH_MAX_ATTEMPTS
    ).update(
        status=ValidationRun.Status.ERROR,
        finished_at=now,
        message="never started: the broker did not accept it",
    )
    redispatched = 0
    for run_id in waiting.values_list("pk", flat=True):
        dispatch(run_id)
        redispatched += 1
    return {"stuck": stuck, "given_up": given_up, "redispatched": redispatched}


def rerun_check(*, run: ValidationRun, key: str, actor: Any) -> ValidationRun:
    if not run.results.filter(key=key).exists():
        raise NotFound(f"run #{run.pk} has no result for {key!r}")
    return run_request(
        service=run.service,
        actor=actor,
        keys=[key],
        trigger=ValidationRun.Trigger.RERUN,
        parent=run,
    )


def start_scheduled_run(service_id: int) -> int | None:
    """The nightly (or per-profile cron) run of a service, as the scheduler."""
    service = Service.objects.filter(pk=service_id).first()
    if service is None:
        return None
    try:
        run = run_request(service=service, actor=None, trigger=ValidationRun.Trigger.SCHEDULE)
    except DomainError:
        return None  # no profile (yet): nothing to run
    return run.pk
