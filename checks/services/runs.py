"""Validation runs as domain operations: request, dispatch, execute, sweep, re-run.

Views, tasks and commands call these. The engine (checks.engine) does the checking; this
module persists what it reports and feeds the checklist."""

from __future__ import annotations

import logging
import threading
import time
import tomllib
import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Count, F, Q, Value
from django.db.models.functions import Coalesce
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
from core.broker import enqueue, held_messages
from core.errors import DomainError, InvalidInput, NotAllowed, NotFound
from portal import services as portal_services
from portal.models import Service
from portal.permissions import can_edit_service

log = logging.getLogger(__name__)

# A run that found its host at the cap (PREFLIGHT_RUNS_PER_HOST) is sent again this much later.
HOST_CAP_RETRY_S = 5


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
    profile = StagingProfile.objects.filter(service=service).first()
    if profile is None:
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
            target_host=target_host(profile.toml),
        )
        transaction.on_commit(lambda: dispatch(run.pk))
    return run


def target_host(toml: str) -> str:
    """host:port of a profile's base URL ("" when it has none): what the per-host cap counts."""
    try:
        url = tomllib.loads(toml).get("service", {}).get("base_url", "")
        parts = urlsplit(str(url))
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except (tomllib.TOMLDecodeError, ValueError, AttributeError):
        return ""
    return f"{parts.hostname}:{port}"[:300] if parts.hostname else ""


def dispatch(run_id: int) -> bool:
    """Hand the run to the broker. If the broker is down the run stays queued and the
    sweeper tries again; the request that created it has already succeeded. The task is
    named, not imported: checks.tasks imports this module."""
    ValidationRun.objects.filter(pk=run_id).update(
        dispatched_at=timezone.now(), dispatch_attempts=F("dispatch_attempts") + 1
    )
    sent = enqueue("checks.tasks.execute_run", run_id)
    if sent:
        ValidationRun.objects.filter(pk=run_id).update(enqueued_at=timezone.now())
    return sent


def _lease() -> timedelta:
    return timedelta(seconds=settings.PREFLIGHT_RUN_LEASE_S)


def claim(run_id: int) -> tuple[ValidationRun, str] | None:
    """Make this execution the run's only owner: one conditional UPDATE takes a queued run,
    or a running one whose lease expired (its worker is gone). Exactly one of two concurrent
    executions wins; the other gets None and leaves (its message is acknowledged). A run at
    the per-host cap is not claimed either (the caller sends it again later)."""
    now = timezone.now()
    token = uuid.uuid4().hex
    free = Q(status=ValidationRun.Status.QUEUED) | Q(
        Q(status=ValidationRun.Status.RUNNING),
        Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - _lease()),
    )
    moved = ValidationRun.objects.filter(free, pk=run_id).update(
        status=ValidationRun.Status.RUNNING,
        started_at=Coalesce(F("started_at"), Value(now)),
        claim_token=token,
        claimed_at=now,
        heartbeat_at=now,
        executions=F("executions") + 1,
    )
    if not moved:
        return None
    run = ValidationRun.objects.select_related("service", "service__template").get(pk=run_id)
    return run, token


def _over_host_cap(run: ValidationRun) -> bool:
    """More live runs against this run's host than PREFLIGHT_RUNS_PER_HOST, this one among
    the latest claimed: it steps back (checked after claiming, so two claims racing both see
    each other; the earlier claims keep going)."""
    cap = settings.PREFLIGHT_RUNS_PER_HOST
    if not cap or not run.target_host:
        return False
    live = ValidationRun.objects.filter(
        target_host=run.target_host,
        status=ValidationRun.Status.RUNNING,
        heartbeat_at__gte=timezone.now() - _lease(),
    ).order_by("claimed_at", "pk")
    first = list(live.values_list("pk", flat=True)[:cap])
    return run.pk not in first


def _step_back(run: ValidationRun, token: str) -> None:
    """Give a claimed run back to the queue (the per-host cap): it never started a check."""
    ValidationRun.objects.filter(pk=run.pk, claim_token=token).update(
        status=ValidationRun.Status.QUEUED,
        claim_token="",
        heartbeat_at=None,
        executions=F("executions") - 1,
        started_at=None if not run.results.exists() else F("started_at"),
    )


class _Heartbeat:
    """Renews the run's lease every quarter of PREFLIGHT_RUN_LEASE_S from a thread of its
    own (a drill can hold one check for minutes). ``lost`` turns true when the run is no
    longer this execution's (the sweeper gave it up at the deadline)."""

    def __init__(self, run_id: int, token: str) -> None:
        self.run_id, self.token = run_id, token
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease:{run_id}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _beat(self) -> None:
        every = max(settings.PREFLIGHT_RUN_LEASE_S / 4, 0.2)
        mine = ValidationRun.objects.filter(
            pk=self.run_id, claim_token=self.token, status=ValidationRun.Status.RUNNING
        )
        try:
            while not self._stop.wait(every):
                try:
                    if mine.update(heartbeat_at=timezone.now()):
                        continue
                    if ValidationRun.objects.filter(pk=self.run_id).exists():
                        self.lost = True
                        log.warning("run %s: no longer this execution's", self.run_id)
                        return
                except DatabaseError as exc:
                    # A dead heartbeat would let another execution take over a live run:
                    # keep beating through a database hiccup, on a fresh connection.
                    log.warning("run %s: heartbeat failed, retrying: %s", self.run_id, exc)
                    connection.close()
        finally:
            connection.close()  # this thread's own connection


COUNTERS = {
    "pass": "pass_count",
    "fail": "fail_count",
    "error": "error_count",
    "skip": "skip_count",
}


class _Results:
    """Stores a run's results. A run someone may be watching (started by a person) stores
    each result as it lands; a scheduled one writes them in batches (one bulk insert and one
    counter update at most every FLUSH_S), since a fleet's nightly sweep writes tens of
    thousands. The counters are recounted from the rows, so a batch can never count twice."""

    FLUSH_S = 1.0

    def __init__(self, run: ValidationRun, token: str) -> None:
        self.run, self.token = run, token
        self.batched = run.trigger == ValidationRun.Trigger.SCHEDULE
        self._pending: list[CheckResult] = []
        self._flushed = time.monotonic()

    def add(self, outcome: Outcome) -> None:
        self._pending.append(
            CheckResult(
                run=self.run,
                key=outcome.key,
                status=str(outcome.status),
                summary=outcome.summary[:2000],
                evidence=outcome.evidence,
                duration_ms=outcome.duration_ms,
            )
        )
        if not self.batched or time.monotonic() - self._flushed >= self.FLUSH_S:
            self.flush()

    def flush(self) -> None:
        self._flushed = time.monotonic()
        if not self._pending:
            return
        rows, self._pending = self._pending, []
        try:
            with transaction.atomic():
                # A result already there (a resumed run racing a late one) is kept once.
                CheckResult.objects.bulk_create(rows, ignore_conflicts=True)
                counts = _recount(self.run.pk)
                if not ValidationRun.objects.filter(pk=self.run.pk, claim_token=self.token).update(
                    **counts
                ):
                    raise _NotOwned
        except _NotOwned:
            # Another execution took the run over: what this one found is not kept.
            log.warning("run %s: results of a replaced execution dropped", self.run.pk)


class _NotOwned(Exception):
    """The run is no longer this execution's (rolls its last writes back)."""


def still_owned(run_id: int, token: str) -> bool:
    """Whether the execution holding ``token`` still owns the run (drills stop otherwise)."""
    return ValidationRun.objects.filter(
        pk=run_id, claim_token=token, status=ValidationRun.Status.RUNNING
    ).exists()


def _store(run: ValidationRun, outcome: Outcome) -> None:
    """Store one result now and recount the run (a result already stored is kept once)."""
    results = _Results(run, run.claim_token)
    results.batched = False
    results.add(outcome)


def _recount(run_id: int) -> dict[str, Any]:
    """The run's counters (``ValidationRun.counts``) from its result rows, in one query."""
    results = CheckResult.objects.filter(run_id=run_id)
    totals = results.aggregate(
        **{field: Count("pk", filter=Q(status=status)) for status, field in COUNTERS.items()},
        unconfigured_count=Count("pk", filter=Q(status="skip", evidence__has_key="setting")),
    )
    return {field: totals[field] or 0 for field in totals}


def execute(run_id: int) -> ValidationRun | None:
    """Claim the run and execute it (or resume it: a run whose worker was lost), recording
    results as they land. None when another execution owns it or it is finished."""
    claimed = claim(run_id)
    if claimed is None:
        log.info("run %s: not claimed (finished, or another execution owns it)", run_id)
        return None
    run, token = claimed
    if _over_host_cap(run):
        _step_back(run, token)
        dispatch_later(run.pk)
        return None
    with _Heartbeat(run.pk, token) as heartbeat:
        done = set(run.results.values_list("key", flat=True))
        specs = [REGISTRY[key] for key in run.keys if key in REGISTRY and key not in done]
        try:
            profile = engine_profile(StagingProfile.objects.get(service=run.service))
        except (StagingProfile.DoesNotExist, ProfileError, SecretUnreadable) as exc:
            return _finish(
                run, token, message=f"profile unusable: {exc}", status=ValidationRun.Status.ERROR
            )
        if specs:
            target = build_target(profile, outbound_policy())
            target_built.send(sender=ValidationRun, run=run, target=target)
            results = _Results(run, token)
            try:
                run_checks(target, specs, on_result=results.add)
            finally:
                results.flush()
                target.close()  # e.g. removes the run's repository clone
        if heartbeat.lost:
            run.refresh_from_db()
            return run
        return _finish(run, token)


def dispatch_later(run_id: int) -> None:
    """Send a run that stepped back (the per-host cap) again after a short pause."""
    ValidationRun.objects.filter(pk=run_id).update(dispatched_at=timezone.now())
    enqueue("checks.tasks.execute_run", run_id, countdown=HOST_CAP_RETRY_S)


def _finish(
    run: ValidationRun, token: str | None = None, *, message: str = "", status: str | None = None
) -> ValidationRun:
    """running -> passed | failed | error, by the execution holding ``token`` (None: whoever
    holds the run), feeding the checklist items; a run someone else finished is left alone."""
    if token is None:
        token = run.claim_token
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
        moved = ValidationRun.objects.filter(
            pk=run.pk, status=ValidationRun.Status.RUNNING, claim_token=token
        ).update(status=status, finished_at=timezone.now(), message=message)
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
    """Keep every run moving, and exactly once:

    - a run still going past PREFLIGHT_RUN_DEADLINE_S is marked error ("stuck");
    - a running run whose lease expired lost its worker: it is sent again and the next
      execution takes it over and resumes it ("resumed"), up to PREFLIGHT_RUN_MAX_EXECUTIONS
      executions ("lost");
    - a queued run whose message never reached the broker is sent again after
      PREFLIGHT_DISPATCH_RETRY_S, and given up after PREFLIGHT_DISPATCH_MAX_ATTEMPTS refusals
      ("redispatched", "given_up");
    - a queued run the broker accepted is left alone while its message is still there (a
      backlog is no reason to give up or to send it twice), and sent again when the message
      vanished ("redispatched"). When the broker cannot be read, nothing is sent twice."""
    now = now or timezone.now()
    counts = {"stuck": 0, "resumed": 0, "lost": 0, "given_up": 0, "redispatched": 0}
    running = ValidationRun.objects.filter(status=ValidationRun.Status.RUNNING)
    counts["stuck"] = running.filter(
        started_at__lt=now - timedelta(seconds=settings.PREFLIGHT_RUN_DEADLINE_S)
    ).update(
        status=ValidationRun.Status.ERROR,
        finished_at=now,
        claim_token="",
        message="stuck: no progress before the deadline (worker lost?)",
    )
    expired = running.filter(Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - _lease()))
    counts["lost"] = expired.filter(executions__gte=settings.PREFLIGHT_RUN_MAX_EXECUTIONS).update(
        status=ValidationRun.Status.ERROR,
        finished_at=now,
        claim_token="",
        message=f"worker lost {settings.PREFLIGHT_RUN_MAX_EXECUTIONS} times: given up",
    )
    retry_before = now - timedelta(seconds=settings.PREFLIGHT_DISPATCH_RETRY_S)
    queued = ValidationRun.objects.filter(status=ValidationRun.Status.QUEUED)
    refused = queued.filter(enqueued_at__isnull=True).filter(
        Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=retry_before)
    )
    counts["given_up"] = refused.filter(
        dispatch_attempts__gte=settings.PREFLIGHT_DISPATCH_MAX_ATTEMPTS
    ).update(
        status=ValidationRun.Status.ERROR,
        finished_at=now,
        message="never started: the broker did not accept it",
    )
    for run_id in refused.values_list("pk", flat=True):
        counts["redispatched"] += dispatch(run_id)
    # Runs the broker took: sent again only when it no longer holds their message. A run
    # whose worker is gone is sent again unless a message for it is already waiting.
    expired_ids = set(
        expired.filter(
            Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=now - _lease())
        ).values_list("pk", flat=True)
    )
    vanished = set(
        queued.filter(enqueued_at__isnull=False, dispatched_at__lt=retry_before).values_list(
            "pk", flat=True
        )
    )
    if not (expired_ids or vanished):
        return counts
    held = held_messages("checks.tasks.execute_run", run_queues())
    if held is None:
        return counts
    for run_id in sorted(expired_ids | vanished):
        if (run_id,) in held.queued or (run_id in vanished and (run_id,) in held.taken):
            continue  # waiting behind a backlog, or in a live worker's hands: it will run
        if dispatch(run_id):
            counts["resumed" if run_id in expired_ids else "redispatched"] += 1
    return counts


def run_queues() -> list[str]:
    """The queues execute_run messages go to (routed, or the default queue)."""
    route = settings.CELERY_TASK_ROUTES.get("checks.tasks.execute_run", {})
    return [route.get("queue", settings.CELERY_TASK_DEFAULT_QUEUE)]


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
