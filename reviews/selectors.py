"""Read operations of launch reviews: the CI gate answer, lists and the review page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from portal.models import Service
from reviews.gate import Gate, compute_gate
from reviews.models import Decision, LaunchReview
from reviews.snapshot import build_snapshot, changes_since


@dataclass(frozen=True)
class LaunchStatus:
    approved: bool
    review: LaunchReview | None
    reasons: list[str]
    gate: Gate


def latest_review(service: Service) -> LaunchReview | None:
    return LaunchReview.objects.filter(service=service).order_by("-id").first()


def launch_status(service: Service, *, now: datetime | None = None) -> LaunchStatus:
    """May ``service`` ship? Only when its latest review is approved and the gate still holds
    now, or every failing rule has an approved exemption that has not expired."""
    now = now or timezone.now()
    gate = compute_gate(service, now=now)
    review = latest_review(service)
    reasons: list[str] = []
    if review is None:
        reasons.append("no launch has been requested")
    elif review.status != LaunchReview.Status.APPROVED:
        reasons.append(f"the latest launch review #{review.pk} is {review.status}")
    exempt = {}
    if review is not None:
        exempt = {
            e.rule: e
            for e in review.exemptions.filter(approved_at__isnull=False, expires_at__gt=now)
        }
    for rule in gate.rules:
        if rule.passed:
            continue
        if rule.key in exempt:
            reasons.append(
                f"gate {rule.key} fails ({rule.reason}) but is exempted until "
                f"{exempt[rule.key].expires_at:%Y-%m-%d}"
            )
        else:
            reasons.append(f"gate {rule.key} fails: {rule.reason}")
    blocked = [r for r in gate.failing if r.key not in exempt]
    approved = review is not None and review.status == LaunchReview.Status.APPROVED and not blocked
    if approved:
        reasons.insert(0, f"launch review #{review.pk} is approved")  # type: ignore[union-attr]
    return LaunchStatus(approved=approved, review=review, reasons=reasons, gate=gate)


def review_dict(review: LaunchReview) -> dict[str, Any]:
    approvals = [d.actor_name for d in review.decisions.all() if d.kind == Decision.Kind.APPROVE]
    return {
        "id": review.pk,
        "service": review.service.slug,
        "status": review.status,
        "requested_by": review.requested_by.get_username(),
        "requested_at": review.requested_at.isoformat(),
        "target_date": review.target_date.isoformat(),
        "notes": review.notes,
        "required_approvals": review.required_approvals,
        "approvals": approvals,
        "decided_at": review.decided_at.isoformat() if review.decided_at else None,
        "exemptions": [
            {
                "rule": e.rule,
                "justification": e.justification,
                "expires_at": e.expires_at.isoformat(),
                "approved": e.approved_at is not None,
            }
            for e in review.exemptions.all()
        ],
    }


def launch_dict(status: LaunchStatus) -> dict[str, Any]:
    """May it ship, as JSON: the API's launch answer and ``manage.py launch_gate``'s."""
    return {
        "approved": status.approved,
        "review": review_dict(status.review) if status.review else None,
        "reasons": status.reasons,
        "gate": status.gate.as_dict(),
    }


def review_list(*, status: str = "") -> QuerySet[LaunchReview]:
    qs = LaunchReview.objects.select_related("service__team", "requested_by").order_by("-id")
    return qs.filter(status=status) if status else qs


@dataclass
class DecisionView:
    decision: Decision
    changes: list[str]


def review_page(review: LaunchReview) -> dict[str, Any]:
    """The review's decision history, each frozen snapshot compared with the current state."""
    current = build_snapshot(review.service)
    decisions = list(review.decisions.select_related("actor").order_by("id"))
    return {
        "current": current,
        "history": [DecisionView(d, changes_since(d.snapshot, current)) for d in decisions],
        "approvals": sum(1 for d in decisions if d.kind == Decision.Kind.APPROVE),
        "exemptions": list(review.exemptions.all()),
    }
