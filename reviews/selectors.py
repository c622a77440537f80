"""Read operations of launch reviews: the CI gate answer, lists and the review page."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from portal.models import Service
from portal.selectors import service_readiness
from reviews.coverage import coverage, exemptions_for
from reviews.gate import Finding, Gate, GateRule, compute_gate, named, to_justify
from reviews.models import Decision, Exemption, LaunchReview
from reviews.snapshot import build_snapshot, changes_since


@dataclass(frozen=True)
class LaunchStatus:
    approved: bool
    review: LaunchReview | None
    reasons: list[str]
    gate: Gate
    # What an exemption covers now (finding, exemption) and what nothing covers.
    exempted: list[tuple[Finding, Exemption]] = field(default_factory=list)
    blocked: list[Finding] = field(default_factory=list)


def latest_review(service: Service) -> LaunchReview | None:
    return LaunchReview.objects.filter(service=service).order_by("-id").first()


def launch_status(service: Service, *, now: datetime | None = None) -> LaunchStatus:
    """May ``service`` ship? Only when its latest review is approved and everything the gate
    finds now is covered, subject by subject, by an unexpired exemption approved with that
    review or an approved item exemption. Nothing about the run itself is ever covered."""
    now = now or timezone.now()
    gate = compute_gate(service, now=now)
    review = latest_review(service)
    reasons: list[str] = []
    if review is None:
        reasons.append("no launch has been requested")
    elif review.status != LaunchReview.Status.APPROVED:
        reasons.append(f"the latest launch review #{review.pk} is {review.status}")
    exemptions = list(exemptions_for(service, review, now=now))
    cover = coverage(gate, exemptions)
    by_subject = {finding.subject: exemption for finding, exemption in cover.covered}
    for rule in gate.failing:
        open_findings = [f for f in rule.findings if f.subject not in by_subject]
        if open_findings:
            reasons.append(f"gate {rule.key} fails: {rule.reason}")
            continue
        first = min(by_subject[f.subject].expires_at for f in rule.findings)
        reasons.append(
            f"gate {rule.key} fails ({rule.reason}) but every finding is exempted by name "
            f"(first expiry {timezone.localtime(first):%Y-%m-%d}): "
            + named(f"{f.key} (#{by_subject[f.subject].pk})" for f in rule.findings)
        )
    approved = review is not None and review.status == LaunchReview.Status.APPROVED and cover.holds
    if approved:
        reasons.insert(0, f"launch review #{review.pk} is approved")  # type: ignore[union-attr]
    return LaunchStatus(
        approved=approved,
        review=review,
        reasons=reasons,
        gate=gate,
        exempted=[(f, e) for f, e in cover.covered],
        blocked=cover.uncovered,
    )


@dataclass(frozen=True)
class RuleToJustify:
    rule: GateRule
    findings: list[Finding]  # what an exemption requested with a new launch would name
    exemptable: bool


def rules_to_justify(service: Service, gate: Gate) -> list[RuleToJustify]:
    """The failing rules a new launch request must justify: their findings that no approved
    item exemption already covers. A rule failing on the run itself cannot be justified."""
    standing = list(exemptions_for(service, None, now=gate.computed_at or timezone.now()))
    open_subjects = {f.subject for f in coverage(gate, standing).uncovered}
    wanted = to_justify(gate, open_subjects)
    return [
        RuleToJustify(rule, wanted[rule.key], all(f.exemptable for f in wanted[rule.key]))
        for rule in gate.failing
        if rule.key in wanted
    ]


def exemption_dict(e: Exemption) -> dict[str, Any]:
    return {
        "id": e.pk,
        "rule": e.rule,
        "item": e.item_key or None,
        "items": list(e.items),
        "checks": list(e.checks),
        "granted": dict(e.granted),
        "justification": e.justification,
        "expires_at": e.expires_at.isoformat(),
        "status": e.status,
        "approved": e.status == Exemption.Status.APPROVED,
    }


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
        "exemptions": [exemption_dict(e) for e in review.exemptions.all()],
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
        "item_exemptions": list(
            Exemption.objects.filter(
                service=review.service,
                review__isnull=True,
                status=Exemption.Status.APPROVED,
                expires_at__gt=timezone.now(),
            )
        ),
    }


def exemption_list(*, status: str = "") -> QuerySet[Exemption]:
    """Item exemptions (the ones reviewers decide on their own), newest first."""
    qs = Exemption.objects.filter(review__isnull=True).select_related(
        "service__team", "requested_by", "decided_by"
    )
    return (qs.filter(status=status) if status else qs).order_by("-id")


def item_exemptions(service: Service, item_key: str) -> list[Exemption]:
    """An item's exemptions, newest first: the row shows the one waiting or in force."""
    return list(
        Exemption.objects.filter(service=service, item_key=item_key, review__isnull=True)
        .select_related("requested_by", "decided_by")
        .order_by("-id")[:5]
    )


def catalog_readiness(service: Service) -> dict[str, Any]:
    """Preflight's verdict on a service, for a card in the software catalog (the API's
    answer for an entity ref): may it launch, why not, and how far its checklist is."""
    status = launch_status(service)
    readiness = service_readiness(service)
    return {
        "entity_ref": service.catalog_ref,
        "service": service.slug,
        "name": service.name,
        "team": service.team.slug,
        "verdict": "ready" if status.approved else "not_ready",
        "approved": status.approved,
        "reasons": status.reasons,
        "checklist": {
            "state": readiness.state,
            "complete": readiness.complete,
            "total": readiness.total,
            "percent": readiness.pct_all,
            "blocking_complete": readiness.blocking_complete,
            "blocking_total": readiness.blocking_total,
            "failing": readiness.failing,
            "stale": readiness.stale,
        },
        "in_catalog": service.catalog_removed_at is None,
        "url": settings.PREFLIGHT_BASE_URL.rstrip("/")
        + reverse("portal:service-detail", args=[service.slug]),
    }
