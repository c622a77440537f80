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
from django.db.models import Q
from django.utils import timezone

from core.errors import Conflict, InvalidInput, NotAllowed, NotFound
from portal import audit
from portal import services as portal_services
from portal.models import AuditEvent, ItemState, Service
from reviews import notify
from reviews.coverage import coverage, exemptions_for, granted_for
from reviews.gate import CHECK, ITEM, RULES, Finding, Gate, compute_gate, to_justify
from reviews.models import Decision, Exemption, LaunchReview
from reviews.permissions import (
    User,
    can_request,
    can_withdraw,
    decide_refusal,
    exemption_refusal,
)
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


def _unexemptable(gate: Gate) -> list[Finding]:
    return [f for f in gate.findings if not f.exemptable]


def launch_request(
    *,
    service: Service,
    actor: User,
    target_date: date,
    notes: str = "",
    justifications: dict[str, str] | None = None,
    exemption_expires: date | None = None,
) -> LaunchReview:
    """Request a launch. Each gate rule that fails on something no approved item exemption
    covers needs a written justification: it becomes an exemption (with an expiry, approved
    with the launch) naming exactly what the rule fails on now, as it is now. What concerns
    the run itself (no full run, too old) cannot be exempted: run a full validation."""
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
    fixed_only = _unexemptable(gate)
    if fixed_only:
        raise InvalidInput(
            "The gate fails on what no exemption can excuse: "
            + "; ".join(f.reason for f in fixed_only)
            + ". Run a full validation first."
        )
    standing = list(exemptions_for(service, None, now=now))
    open_findings = set(f.subject for f in coverage(gate, standing).uncovered)
    worst = {f.subject: f for f in gate.findings}
    to_exempt = {
        key: [worst[f.subject] for f in findings]
        for key, findings in to_justify(gate, open_findings).items()
    }
    unjustified = [key for key in to_exempt if key not in justifications]
    if unjustified:
        raise InvalidInput(
            "The gate fails on "
            + ", ".join(unjustified)
            + ": write a justification for each failing rule to request an exemption naming "
            "what it fails on."
        )
    expires = _expiry(exemption_expires, now) if to_exempt else None
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
                failing_rules=[rule.key for rule in gate.failing],
            )
            for key, findings in to_exempt.items():
                assert expires is not None
                exemption = _new_exemption(
                    service=service,
                    review=review,
                    rule=key,
                    findings=findings,
                    justification=justifications[key],
                    expires_at=expires,
                    actor=actor,
                )
                audit.record(
                    action=Action.EXEMPTION_REQUESTED,
                    actor=actor,
                    service=service,
                    note=justifications[key],
                    payload=_exemption_payload(exemption),
                )
            notify.launch_event(review, "requested", actor_name=decision.actor_name)
    except IntegrityError:
        raise Conflict("A launch of this service is already waiting for review.") from None
    return review


def _new_exemption(
    *,
    service: Service,
    findings: list[Finding],
    justification: str,
    expires_at: datetime,
    actor: User,
    review: LaunchReview | None = None,
    rule: str = "",
    item_key: str = "",
) -> Exemption:
    granted = granted_for(findings)
    return Exemption.objects.create(
        service=service,
        review=review,
        rule=rule,
        item_key=item_key,
        items=[k.split(":", 1)[1] for k in granted if k.startswith("item:")],
        checks=[k.split(":", 1)[1] for k in granted if k.startswith("check:")],
        granted=granted,
        justification=justification,
        expires_at=expires_at,
        requested_by=actor if actor.is_authenticated else None,  # type: ignore[misc]
    )


def _exemption_payload(exemption: Exemption, **extra: Any) -> dict[str, Any]:
    return {
        "exemption": exemption.pk,
        "review": exemption.review_id,
        "rule": exemption.rule,
        "item": exemption.item_key,
        "granted": exemption.granted,
        "expires_at": exemption.expires_at.isoformat(),
        "status": exemption.status,
        **extra,
    }


def _locked(review: LaunchReview) -> LaunchReview:
    locked = (
        LaunchReview.objects.select_for_update().select_related("service__team").get(pk=review.pk)
    )
    if locked.status != LaunchReview.Status.REQUESTED:
        raise Conflict(f"This launch is already {locked.get_status_display().lower()}.")
    return locked


def unexempted_failures(review: LaunchReview, gate: Gate, *, now: datetime) -> list[str]:
    """What the gate finds that none of the review's exemptions (approved with it or still
    waiting to be) nor an approved item exemption covers, one line each."""
    exemptions = list(exemptions_for(review.service, review, now=now, pending=True))
    return [f.reason for f in coverage(gate, exemptions).uncovered]


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
            "The gate no longer holds and no exemption covers it: "
            + "; ".join(blocked[:10])
            + (f" (and {len(blocked) - 10} more)" if len(blocked) > 10 else "")
            + ". Reject the launch or wait for the team to fix it."
        )
    decision = _decide(review, Decision.Kind.APPROVE, actor, note.strip(), gate)
    approvals = review.decisions.filter(kind=Decision.Kind.APPROVE).count()
    final = approvals >= review.required_approvals
    if final:
        review.status = LaunchReview.Status.APPROVED
        review.decided_at = now
        review.save(update_fields=["status", "decided_at"])
        for exemption in review.exemptions.filter(
            status=Exemption.Status.REQUESTED, expires_at__gt=now
        ):
            exemption.status = Exemption.Status.APPROVED
            exemption.approved_at = now
            exemption.decided_by = actor  # type: ignore[assignment]
            exemption.save(update_fields=["status", "approved_at", "decided_by"])
            audit.record(
                action=Action.EXEMPTION_APPROVED,
                actor=actor,
                service=review.service,
                note=exemption.justification,
                payload=_exemption_payload(exemption),
            )
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
    review.exemptions.filter(status=Exemption.Status.REQUESTED).update(
        status=Exemption.Status.REJECTED
    )
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
    review.exemptions.filter(status=Exemption.Status.REQUESTED).update(
        status=Exemption.Status.WITHDRAWN
    )
    decision = _decide(review, Decision.Kind.WITHDRAW, actor, reason.strip())
    _audit(Action.LAUNCH_WITHDRAWN, actor, review, decision)
    return review


@transaction.atomic
def invalidate_approvals(*, service: Service, failed_run_id: int | None = None) -> int:
    """Invalidate every approved launch of ``service`` whose gate no longer holds: anything
    the gate finds now — an item reopened, failing or stale, a check failing, skipped or
    never run, an old run or drill — that none of the review's exemptions (approved with it,
    unexpired) nor an approved item exemption covers, subject by subject. An exemption that
    expired covers nothing any more. Each invalidation writes its decision with the reason,
    an audit event and a notification. ``failed_run_id`` names the run that set this off, in
    the reason. Returns how many approvals were invalidated."""
    approved = list(
        LaunchReview.objects.select_for_update()
        .select_related("service")
        .filter(service=service, status=LaunchReview.Status.APPROVED)
    )
    if not approved:
        return 0
    now = timezone.now()
    gate = compute_gate(service, now=now)
    count = 0
    for review in approved:
        exemptions = list(exemptions_for(service, review, now=now))
        uncovered = coverage(gate, exemptions).uncovered
        if not uncovered:
            continue
        reason = _regression_reason(review, uncovered, now=now, failed_run_id=failed_run_id)
        review.status = LaunchReview.Status.INVALIDATED
        review.save(update_fields=["status"])
        decision = _decide(review, Decision.Kind.INVALIDATE, None, reason, gate)
        _audit(
            Action.APPROVAL_INVALIDATED,
            None,
            review,
            decision,
            findings=[f.as_dict() for f in uncovered],
        )
        notify.launch_event(review, "invalidated", actor_name="preflight-system", reason=reason)
        count += 1
    return count


def _regression_reason(
    review: LaunchReview, uncovered: list[Finding], *, now: datetime, failed_run_id: int | None
) -> str:
    expired = {
        subject: exemption
        for exemption in Exemption.objects.filter(
            service=review.service, status=Exemption.Status.APPROVED, expires_at__lte=now
        ).filter(Q(review=review) | Q(review__isnull=True))
        for subject in exemption.granted
    }
    lines = []
    for finding in uncovered[:10]:
        line = finding.reason
        if finding.subject in expired:
            line += (
                f" (exemption #{expired[finding.subject].pk} expired on "
                f"{timezone.localtime(expired[finding.subject].expires_at):%Y-%m-%d %H:%M})"
            )
        lines.append(line)
    if len(uncovered) > 10:
        lines.append(f"and {len(uncovered) - 10} more")
    head = "the gate no longer holds"
    if failed_run_id is not None:
        head += f" after validation run #{failed_run_id}"
    return f"{head}, and no exemption covers: " + "; ".join(lines)


def recheck_approvals() -> int:
    """Re-evaluate every approved launch (beat, every few minutes): what time alone undoes —
    an exemption expiring, a run or drill growing old — invalidates approvals too, with the
    reason, the audit event and the notification, without waiting for the next change."""
    count = 0
    service_ids = (
        LaunchReview.objects.filter(status=LaunchReview.Status.APPROVED)
        .values_list("service_id", flat=True)
        .distinct()
    )
    for service in Service.objects.filter(pk__in=list(service_ids)):
        count += invalidate_approvals(service=service)
    return count


# --- item exemptions ----------------------------------------------------------------------


def exemption_request(
    *, service: Service, item_key: str, actor: User, justification: str, expires: date | None
) -> Exemption:
    """Ask a reviewer to let ``item_key`` be done although its verifying checks fail. The
    exemption names the item and exactly the checks failing now; nothing changes on the
    checklist until a reviewer approves it."""
    if not can_request(actor, service):
        raise NotAllowed("Only members of the owning team request an exemption for this service.")
    justification = justification.strip()
    if not justification:
        raise InvalidInput("An exemption needs a reason.")
    now = timezone.now()
    expires_at = _expiry(expires, now)
    state = (
        ItemState.objects.select_related("item")
        .filter(service=service, item_key=item_key, item__template_id=service.template_id)
        .first()
    )
    if state is None or state.item is None:
        raise NotFound(f"{service.slug} has no checklist item {item_key!r}.")
    failing = state.failing_checks
    if not failing:
        raise InvalidInput(
            f"{item_key} has no failing automated check: nothing to exempt (mark it done with "
            "its evidence)."
        )
    # The item is named as failing (its worst), each failing verdict as failed: CI facts
    # under their own name, so the tick can stand over them as over a check.
    findings = [
        Finding(ITEM, item_key, "failing", f"{item_key} is failing"),
        *(Finding(CHECK, key, "fail", f"{key} failed") for key in failing),
    ]
    try:
        with transaction.atomic():
            exemption = _new_exemption(
                service=service,
                item_key=item_key,
                findings=findings,
                justification=justification,
                expires_at=expires_at,
                actor=actor,
            )
            audit.record(
                action=Action.EXEMPTION_REQUESTED,
                actor=actor,
                service=service,
                item_key=item_key,
                note=justification,
                payload=_exemption_payload(exemption),
            )
            notify.exemption_event(exemption, "requested", actor_name=actor.get_username())
    except IntegrityError:
        raise Conflict(f"An exemption for {item_key} is already waiting for a reviewer.") from None
    return exemption


def _locked_exemption(exemption: Exemption) -> Exemption:
    locked = (
        Exemption.objects.select_for_update()
        .select_related("service__team", "service__template")
        .get(pk=exemption.pk)
    )
    if locked.status != Exemption.Status.REQUESTED or locked.review_id is not None:
        raise Conflict(f"This exemption is {locked.get_status_display().lower()}.")
    return locked


@transaction.atomic
def exemption_approve(*, exemption: Exemption, actor: User, note: str = "") -> Exemption:
    """A reviewer of another team approves an item exemption: the item is marked done over
    the failing checks it names, until it expires. Refused when the item now fails a check
    the exemption does not name (the team must ask again, for what fails now)."""
    refusal = exemption_refusal(actor, exemption)
    if refusal:
        raise NotAllowed(refusal)
    exemption = _locked_exemption(exemption)
    now = timezone.now()
    if exemption.expires_at <= now:
        raise Conflict("This exemption expired before anyone approved it: ask again.")
    state = ItemState.objects.select_related("item").get(
        service=exemption.service, item_key=exemption.item_key
    )
    unnamed = [key for key in state.failing_checks if key not in exemption.checks]
    if unnamed:
        raise Conflict(
            f"{exemption.item_key} now also fails {', '.join(unnamed)}, which this exemption "
            "does not name: reject it; the team can ask again for what fails now."
        )
    exemption.status = Exemption.Status.APPROVED
    exemption.approved_at = now
    exemption.decided_by = actor  # type: ignore[assignment]
    exemption.decision_note = note.strip()
    exemption.save(update_fields=["status", "approved_at", "decided_by", "decision_note"])
    audit.record(
        action=Action.EXEMPTION_APPROVED,
        actor=actor,
        service=exemption.service,
        item_key=exemption.item_key,
        note=note.strip() or exemption.justification,
        payload=_exemption_payload(exemption),
    )
    portal_services.item_exempt(
        service=exemption.service,
        item_key=exemption.item_key,
        actor=actor,
        checks=exemption.checks,
        expires_at=exemption.expires_at,
        note=(
            f"Exemption #{exemption.pk} approved by {actor.get_username()} until "
            f"{timezone.localtime(exemption.expires_at):%Y-%m-%d}: {exemption.justification}"
        ),
        payload={"exemption": exemption.pk},
    )
    notify.exemption_event(exemption, "approved", actor_name=actor.get_username())
    return exemption


@transaction.atomic
def exemption_reject(*, exemption: Exemption, actor: User, reason: str) -> Exemption:
    refusal = exemption_refusal(actor, exemption)
    if refusal:
        raise NotAllowed(refusal)
    if not reason.strip():
        raise InvalidInput("A rejection needs a reason.")
    exemption = _locked_exemption(exemption)
    exemption.status = Exemption.Status.REJECTED
    exemption.decided_by = actor  # type: ignore[assignment]
    exemption.decision_note = reason.strip()
    exemption.save(update_fields=["status", "decided_by", "decision_note"])
    audit.record(
        action=Action.EXEMPTION_REJECTED,
        actor=actor,
        service=exemption.service,
        item_key=exemption.item_key,
        note=reason.strip(),
        payload=_exemption_payload(exemption),
    )
    notify.exemption_event(exemption, "rejected", actor_name=actor.get_username(), reason=reason)
    return exemption
