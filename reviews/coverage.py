"""Which gate findings an exemption covers.

An exemption covers a finding when it names the finding's subject (``item:KEY`` or
``check:KEY``) and the subject is, now, no worse than when the exemption was granted
(reviews.gate.SEVERITY). Findings about the run itself are never covered. The launch answer,
the approval and the invalidation of approvals all decide with these functions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet

from portal.models import Service
from reviews.gate import SEVERITY, Finding, Gate
from reviews.models import Exemption, LaunchReview


def covers(exemption: Exemption, finding: Finding) -> bool:
    if not finding.exemptable:
        return False
    granted = exemption.granted.get(finding.subject)
    if granted is None:
        return False
    return finding.severity <= SEVERITY[finding.kind].get(granted, 0)


def exemptions_for(
    service: Service, review: LaunchReview | None, *, now: datetime, pending: bool = False
) -> QuerySet[Exemption]:
    """The exemptions that count for ``review`` now: its own (approved; with ``pending``,
    also those still waiting to be approved with it) and the service's approved item
    exemptions, none expired. Exemptions of other launch reviews never count."""
    own = Q(review=review) if review is not None else Q(pk__in=[])
    statuses = [Exemption.Status.APPROVED]
    if pending:
        statuses.append(Exemption.Status.REQUESTED)
    return (
        Exemption.objects.filter(service=service, expires_at__gt=now)
        .filter((own & Q(status__in=statuses)) | Q(review__isnull=True, status="approved"))
        .order_by("expires_at", "id")
    )


@dataclass(frozen=True)
class Coverage:
    """The gate's findings split into those an exemption covers (with the first that does)
    and those nothing covers."""

    covered: list[tuple[Finding, Exemption]]
    uncovered: list[Finding]

    @property
    def holds(self) -> bool:
        return not self.uncovered


def coverage(gate: Gate, exemptions: list[Exemption]) -> Coverage:
    covered: list[tuple[Finding, Exemption]] = []
    uncovered: list[Finding] = []
    for finding in gate.findings:
        by = next((e for e in exemptions if covers(e, finding)), None)
        if by is None:
            uncovered.append(finding)
        else:
            covered.append((finding, by))
    return Coverage(covered=covered, uncovered=uncovered)


def granted_for(findings: list[Finding]) -> dict[str, str]:
    """What an exemption granted now for ``findings`` records: each subject's status."""
    return {f.subject: f.status for f in findings if f.exemptable}
