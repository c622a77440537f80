"""Write operations of launch reviews: request (with exemptions), approve, reject, withdraw,
invalidate. Each writes its decision with a frozen snapshot and its audit event in one
transaction, and schedules notifications for after the commit."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import Conflict, InvalidInput, NotAllowed
from portal import audit
from portal.models import AuditEvent, Service
from reviews import notify
from reviews.gate import RULES, Gate, compute_gate
from reviews.models import Decision, Exemption, LaunchReview
from reviews.permissions import User, can_request, can_withdraw, decide_refusal
from reviews.snapshot import build_snapshot

Action = AuditEvent.Action


def required_approvals(service: Service) -> int:
    if service.tier == Service.Tier.TIER_1:
        return int(settings.PREFLIGHT_APPROVALS_TIER1)
    return int(settings.PREFLIGHT_APPROVALS_OTHER)


def snapshot_digest(snapshot: dict[str, Any]) -> str:
    """SHA-256 of the snapshot, written into the audit chain so the frozen JSON is
    tamper-evident too."""
    canonical = json.dumps(snapshot, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _decide(
    review: LaunchReview, kind: str, actor: User | None, reason: str, gate: Gate | None = None
) -> Decision:
    person = actor if actor is not None and actor.is_authenticated else None
    return Decision.objects.create(
        review=review,
        kind=kind,
        actor=person,  # type: ignore[misc]
        actor_name=person.get_username() if person else "preflight-system",
        reason=reason,
        snapshot=build_snapshot(review.service, gate=gate),
    )


def _audit(action: str, actor: User | None, review: LaunchReview, decision: Decision, **extra: Any):
    return audit.record(
        action=action,
        actor=actor,
        service=review.service,
        note=decision.reason,
        payload={
            "review": review.pk,
            "status": review.status,
            "snapshot_sha256": snapshot_digest(decision.snapshot),
            **extra,
        },
    )


def _expiry(day: date | None, now: datetime) -> datetime:
    max_days = int(settings.PREFLIGHT_EXEMPTION_MAX_DAYS)
    if day is None:
        raise InvalidInput("Exemptions need an expiry date.")
    expires = timezone.make_aware(datetime.combine(day, time.max))
    if expires <= now:
        raise InvalidInput("An exemption's expiry date must be in the future.")
    if expires > now + timedelta(days=max_days + 1):
        raise InvalidInput(f"An exemption may last at most {max_days} days.")
    return expires


def launch_request(
    *,
    service: Service,
    actor: User,
    target_date: date,
    notes: str = "",
    justifications: dict[str, str] | None = None,
    exemption_expires: date | None = None,
) -> LaunchReview:
    """Request a launch. With a failing gate rule the request needs a written justification
    for each failing rule (an exemption, with an expiry, approved with the launch)."""
    if not can_request(actor, service):
        raise NotAllowed("Only members of the owning team request a launch of this service.")
    now = timezone.now()
    if target_date < now.date():
        raise InvalidInput("The target date is in the past.")
    justifications = {k: v.strip() for k, v in (justifications or {}).items() if v.strip()}
    unknown = sorted(set(justifications) - set(RULES))
    if unknown:
        raise InvalidInput(f"Unknown gate rule(s): {', '.join(unknown)}.")
    gate = compute_gate(service, now=now)
    failing = [rule.key for rule in gate.failing]
    unjustified = [key for key in failing if key not in justifications]
    if unjustified:
        raise InvalidInput(
            "The gate fails on "
            + ", ".join(unjustified)
            + ": write a justification for each failing rule to request an exemption."
        )
    expires = _expiry(exemption_expires, now) if failing else None
    try:
        with transaction.atomic():
            review = LaunchReview.objects.create(
                service=service,
                requested_by=actor,  # type: ignore[misc]
                target_date=target_date,
                notes=notes.strip(),
                required_approvals=required_approvals(service),
            )
            decision = _decide(review, Decision.Kind.REQUEST, actor, notes.strip(), gate)
            _audit(
                Action.LAUNCH_REQUESTED,
                actor,
                review,
                decision,
                target_date=target_date.isoformat(),
                gate_passed=gate.passed,
                failing_rules=failing,
            )
            for key in failing:
                assert expires is not None
                Exemption.objects.create(
                    review=review, rule=key, justification=justifications[key], expires_at=expires
                )
                audit.record(
                    action=Action.EXEMPTION_REQUESTED,
                    actor=actor,
                    service=service,
                    note=justifications[key],
                    payload={"review": review.pk, "rule": key, "expires_at": expires.isoformat()},
                )
            notify.launch_event(review, "requested", actor_name=decision.actor_name)
    except IntegrityError:
        raise Conflict("A launch of this service is already waiting for review.") from None
    return review


def _locked(review: LaunchReview) -> LaunchReview:
    locked = (
        LaunchReview.objects.select_for_update().select_related("service__team").get(pk=review.pk)
    )
    if locked.status != LaunchReview.Status.REQUESTED:
        raise Conflict(f"This launch is already {locked.get_status_display().lower()}.")
    return locked


def unexempted_failures(review: LaunchReview, gate: Gate, *, now: datetime) -> list[str]:
    exempt = set(review.exemptions.filter(expires_at__gt=now).values_list("rule", flat=True))
    return [rule.key for rule in gate.failing if rule.key not in exempt]


@transaction.atomic
def launch_approve(*, review: LaunchReview, actor: User, note: str = "") -> LaunchReview:
    refusal = decide_refusal(actor, review)
    if refusal:
        raise NotAllowed(refusal)
    review = _locked(review)
    if review.decisions.filter(kind=Decision.Kind.APPROVE, actor_id=actor.pk).exists():
        raise Conflict("You have already approved this launch.")
    now = timezone.now()
    gate = compute_gate(review.service, now=now)
    blocked = unexempted_failures(review, gate, now=now)
    if blocked:
        raise Conflict(
            "The gate no longer holds on " + ", ".join(blocked) + " and no exemption covers it: "
            "reject the launch or wait for the team to fix it."
        )
    decision = _decide(review, Decision.Kind.APPROVE, actor, note.strip(), gate)
    approvals = review.decisions.filter(kind=Decision.Kind.APPROVE).count()
    final = approvals >= review.required_approvals
    if final:
        review.status = LaunchReview.Status.APPROVED
        review.decided_at = now
        review.save(update_fields=["status", "decided_at"])
        review.exemptions.update(approved_at=now)
    _audit(
        Action.LAUNCH_APPROVED,
        actor,
        review,
        decision,
        approvals=approvals,
        required=review.required_approvals,
    )
    if final:
        notify.launch_event(review, "approved", actor_name=decision.actor_name)
    return review


@transaction.atomic
def launch_reject(*, review: LaunchReview, actor: User, reason: str) -> LaunchReview:
    refusal = decide_refusal(actor, review)
    if refusal:
        raise NotAllowed(refusal)
    if not reason.strip():
        raise InvalidInput("A rejection needs a reason.")
    review = _locked(review)
    review.status = LaunchReview.Status.REJECTED
    review.decided_at = timezone.now()
    review.save(update_fields=["status", "decided_at"])
    decision = _decide(review, Decision.Kind.REJECT, actor, reason.strip())
    _audit(Action.LAUNCH_REJECTED, actor, review, decision)
    notify.launch_event(review, "rejected", actor_name=decision.actor_name, reason=reason.strip())
    return review


@transaction.atomic
def launch_withdraw(*, review: LaunchReview, actor: User, reason: str = "") -> LaunchReview:
    if not can_withdraw(actor, review):
        raise NotAllowed("Only the person who requested this launch withdraws it.")
    review = _locked(review)
    review.status = LaunchReview.Status.WITHDRAWN
    review.decided_at = timezone.now()
    review.save(update_fields=["status", "decided_at"])
    decision = _decide(review, Decision.Kind.WITHDRAW, actor, reason.strip())
    _audit(Action.LAUNCH_WITHDRAWN, actor, review, decision)
    return review


REGRESSION_RULES = ("blocking_items", "no_failing_items")


@transaction.atomic
def invalidate_approvals(*, service: Service, failed_run_id: int | None = None) -> int:
    """Invalidate every approved launch of ``service`` that a regression undoes: a failed
    run (``failed_run_id``), or a blocking item no longer done or an item failing that no
    approved, unexpired exemption of that review covers."""
    approved = LaunchReview.objects.select_for_update().filter(
        service=service, status=LaunchReview.Status.APPROVED
    )
    if not approved.exists():
        return 0
    now = timezone.now()
    regressed = {
        rule.key: rule.reason
        for rule in compute_gate(service, now=now).failing
        if rule.key in REGRESSION_RULES
    }
    count = 0
    for review in approved:
        if failed_run_id is not None:
            reason = f"validation run #{failed_run_id} failed after the approval"
        else:
            exempt = set(
                review.exemptions.filter(approved_at__isnull=False, expires_at__gt=now).values_list(
                    "rule", flat=True
                )
            )
            reason = "; ".join(why for key, why in regressed.items() if key not in exempt)
        if not reason:
            continue
        review.status = LaunchReview.Status.INVALIDATED
        review.save(update_fields=["status"])
        decision = _decide(review, Decision.Kind.INVALIDATE, None, reason)
        _audit(Action.APPROVAL_INVALIDATED, None, review, decision)
        notify.launch_event(review, "invalidated", actor_name="preflight-system", reason=reason)
        count += 1
    return count
