"""Launch reviews as domain operations: request, quorum approval with separation of duties,
reject, withdraw, exemptions, frozen snapshots and invalidation on regression."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import IntegrityError
from django.utils import timezone

from checks.catalog import REGISTRY
from checks.models import ValidationRun
from checks.services import runs
from core.errors import Conflict, InvalidInput, NotAllowed
from portal import services as portal_services
from portal.audit import verify_chain
from portal.models import AuditEvent, ItemState
from reviews import services
from reviews.gate import compute_gate
from reviews.models import Decision, FrozenError, LaunchReview
from reviews.selectors import launch_status, rules_to_justify
from reviews.services import snapshot_digest
from tests.support.launches import record_run

pytestmark = pytest.mark.django_db

TOMORROW = date.today() + timedelta(days=1)


def _request(service, lead, **kwargs):
    return services.launch_request(service=service, actor=lead, target_date=TOMORROW, **kwargs)


def _approved(service, lead, reviewers):
    review = _request(service, lead)
    for reviewer in reviewers:
        services.launch_approve(review=review, actor=reviewer)
    review.refresh_from_db()
    assert review.status == "approved"
    return review


def test_a_tier1_launch_needs_two_approvals_and_freezes_a_snapshot_each_time(
    ready_service, lead, search_reviewers
) -> None:
    review = _request(ready_service, lead, notes="v1.0")
    assert review.status == "requested" and review.required_approvals == 2
    services.launch_approve(review=review, actor=search_reviewers[0], note="looks good")
    review.refresh_from_db()
    assert review.status == "requested"
    services.launch_approve(review=review, actor=search_reviewers[1])
    review.refresh_from_db()
    assert review.status == "approved" and review.decided_at
    kinds = list(review.decisions.values_list("kind", flat=True))
    assert kinds == ["request", "approve", "approve"]
    snapshot = review.decisions.last().snapshot
    assert snapshot["gate"]["passed"] is True
    assert len(snapshot["items"]) == 39 and snapshot["last_run"]["status"] == "passed"
    assert set(snapshot["drills"]) == set(snapshot["gate"]["drill_keys"])
    actions = list(
        AuditEvent.objects.filter(service=ready_service).values_list("action", flat=True)
    )
    assert actions[-3:] == ["launch_requested", "launch_approved", "launch_approved"]
    event = AuditEvent.objects.filter(action="launch_approved").last()
    assert event.payload["snapshot_sha256"] == snapshot_digest(snapshot)
    assert verify_chain()[1] is None
    assert launch_status(ready_service).approved


def test_tier2_needs_one_approval_and_the_count_is_configurable(
    ready_service, lead, search_reviewers, settings
) -> None:
    ready_service.tier = 2
    ready_service.save()
    settings.PREFLIGHT_APPROVALS_OTHER = 1
    _approved(ready_service, lead, search_reviewers[:1])


@pytest.mark.parametrize("who", ["team_reviewer", "lead", "admin_user", "outsider"])
def test_only_reviewers_of_another_team_approve(ready_service, lead, who, request) -> None:
    review = _request(ready_service, lead)
    user = request.getfixturevalue(who)
    with pytest.raises(NotAllowed):
        services.launch_approve(review=review, actor=user)
    with pytest.raises(NotAllowed):
        services.launch_reject(review=review, actor=user, reason="no")


def test_a_reviewer_cannot_decide_a_request_they_made(ready_service, search_reviewers) -> None:
    # A reviewer in the owning team could request; make them a member of payments.
    from portal.models import Membership

    Membership.objects.create(user=search_reviewers[0], team=ready_service.team)
    review = _request(ready_service, search_reviewers[0])
    with pytest.raises(NotAllowed):
        services.launch_approve(review=review, actor=search_reviewers[0])


def test_one_reviewer_approves_once(ready_service, lead, search_reviewers) -> None:
    review = _request(ready_service, lead)
    services.launch_approve(review=review, actor=search_reviewers[0])
    with pytest.raises(Conflict):
        services.launch_approve(review=review, actor=search_reviewers[0])


def test_only_one_launch_in_flight(ready_service, lead) -> None:
    _request(ready_service, lead)
    with pytest.raises(Conflict):
        _request(ready_service, lead)


def test_reject_needs_a_reason_and_ends_the_review(ready_service, lead, search_reviewers) -> None:
    review = _request(ready_service, lead)
    with pytest.raises(InvalidInput):
        services.launch_reject(review=review, actor=search_reviewers[0], reason=" ")
    services.launch_reject(review=review, actor=search_reviewers[0], reason="no rollback plan")
    review.refresh_from_db()
    assert review.status == "rejected"
    with pytest.raises(Conflict):
        services.launch_approve(review=review, actor=search_reviewers[1])
    status = launch_status(ready_service)
    assert not status.approved and "is rejected" in status.reasons[0]


def test_only_the_requester_withdraws(ready_service, lead, team_reviewer) -> None:
    review = _request(ready_service, lead)
    with pytest.raises(NotAllowed):
        services.launch_withdraw(review=review, actor=team_reviewer)
    services.launch_withdraw(review=review, actor=lead, reason="postponed")
    review.refresh_from_db()
    assert review.status == "withdrawn"
    assert AuditEvent.objects.filter(action="launch_withdrawn").count() == 1


def _all_justified(service) -> dict[str, str]:
    """A justification for every rule the request form asks one for (a failing rule whose
    findings another rule names, required_level, asks none)."""
    wanted = rules_to_justify(service, compute_gate(service))
    return {r.rule.key: f"{r.rule.key}: tracked in JIRA-1" for r in wanted}


def _ran_with_skips(service):
    """A full run in which every check passed but the Mongo ones (not configured)."""
    results: dict = {key: "pass" for key in REGISTRY}
    for key in ("db.index_usage", "db.compound_index_sort", "db.ttl_indexes", "db.write_concern"):
        results[key] = ("skip", {"setting": "mongo.uri"})
    return record_run(service, results, full=True)


def test_a_run_is_required_before_anything_can_be_exempted(service, lead) -> None:
    with pytest.raises(InvalidInput, match="no full validation run has finished yet"):
        _request(
            service,
            lead,
            justifications={"full_run": "we will run it later"},
            exemption_expires=date.today() + timedelta(days=10),
        )
    assert not LaunchReview.objects.exists()


def test_a_failing_gate_needs_a_justification_per_failing_rule(service, lead) -> None:
    _ran_with_skips(service)
    with pytest.raises(InvalidInput, match="blocking_items, verifying_checks"):
        _request(service, lead)
    with pytest.raises(InvalidInput, match="verifying_checks"):
        _request(service, lead, justifications={"blocking_items": "tracked in JIRA-1"})
    justified = _all_justified(service)
    with pytest.raises(InvalidInput, match="expiry"):
        _request(service, lead, justifications=justified)
    with pytest.raises(InvalidInput, match="at most 30 days"):
        _request(
            service,
            lead,
            justifications=justified,
            exemption_expires=date.today() + timedelta(days=60),
        )
    review = _request(
        service,
        lead,
        justifications=justified,
        exemption_expires=date.today() + timedelta(days=10),
    )
    assert sorted(review.exemptions.values_list("rule", flat=True)) == sorted(justified)
    assert AuditEvent.objects.filter(action="exemption_requested").count() == len(justified)
    # Each exemption names exactly what its rule failed on, as it was.
    by_rule = {e.rule: e for e in review.exemptions.all()}
    assert by_rule["verifying_checks"].granted == {
        "check:db.index_usage": "skip",
        "check:db.ttl_indexes": "skip",
    }
    blocking = by_rule["blocking_items"]
    assert (
        len(blocking.items)
        == ItemState.objects.filter(service=service, item__blocking=True, state="open").count()
    )
    assert set(blocking.granted.values()) == {"open"} and blocking.checks == []
    assert not launch_status(service).approved


def test_exempted_findings_let_the_ci_gate_pass_until_they_expire(
    service, lead, search_reviewers
) -> None:
    _ran_with_skips(service)
    review = _request(
        service,
        lead,
        justifications=_all_justified(service),
        exemption_expires=date.today() + timedelta(days=10),
    )
    for reviewer in search_reviewers:
        services.launch_approve(review=review, actor=reviewer)
    assert set(review.exemptions.values_list("status", flat=True)) == {"approved"}
    status = launch_status(service)
    assert status.approved, status.reasons
    assert any("exempted by name" in r for r in status.reasons)
    review.exemptions.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert not launch_status(service).approved


def test_a_reviewer_cannot_approve_once_the_gate_fails_without_exemption(
    ready_service, lead, search_reviewers
) -> None:
    review = _request(ready_service, lead)
    ItemState.objects.filter(service=ready_service, item_key="testing.coverage").update(
        state="failing"
    )
    with pytest.raises(Conflict, match=r"testing\.coverage is failing"):
        services.launch_approve(review=review, actor=search_reviewers[0])


def test_decisions_and_snapshots_are_immutable(ready_service, lead) -> None:
    review = _request(ready_service, lead)
    decision = review.decisions.get()
    decision.snapshot = {"forged": True}
    with pytest.raises(FrozenError):
        decision.save()
    with pytest.raises(FrozenError):
        Decision.objects.filter(pk=decision.pk).update(snapshot={})
    with pytest.raises(FrozenError):
        decision.delete()
    with pytest.raises(FrozenError):
        Decision.objects.all().delete()
    decision.refresh_from_db()
    assert decision.snapshot["gate"]["passed"] is True
    # The audit chain carries the snapshot's digest: a forged snapshot no longer matches.
    event = AuditEvent.objects.get(action="launch_requested")
    assert event.payload["snapshot_sha256"] == snapshot_digest(decision.snapshot)


def test_the_same_reviewer_cannot_approve_twice_even_bypassing_the_service(
    ready_service, lead, search_reviewers
) -> None:
    review = _request(ready_service, lead)
    services.launch_approve(review=review, actor=search_reviewers[0])
    with pytest.raises(IntegrityError):
        Decision.objects.create(
            review=review, kind="approve", actor=search_reviewers[0], snapshot={}
        )


@pytest.fixture
def approved(ready_service, lead, search_reviewers, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        review = _approved(ready_service, lead, search_reviewers)
    return review


def test_reopening_a_blocking_item_invalidates_the_approval(
    approved, ready_service, lead, django_capture_on_commit_callbacks, mailoutbox
) -> None:
    state = ItemState.objects.get(service=ready_service, item_key="security.cors_allowlist")
    with django_capture_on_commit_callbacks(execute=True):
        portal_services.item_transition(
            service=ready_service,
            item_key=state.item_key,
            action="reopen",
            actor=lead,
            seen_version=state.version,
        )
    approved.refresh_from_db()
    assert approved.status == "invalidated"
    decision = approved.decisions.last()
    assert decision.kind == "invalidate" and "security.cors_allowlist" in decision.reason
    assert AuditEvent.objects.filter(action="approval_invalidated").count() == 1
    assert not launch_status(ready_service).approved


def test_a_failing_check_after_approval_invalidates_it(
    approved, ready_service, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        portal_services.items_from_checks(
            service=ready_service,
            results={"security.cors": "fail"},
            evidence_url="https://ci.example.com/1",
            run_label="Validation run #9",
        )
    approved.refresh_from_db()
    assert approved.status == "invalidated"
    assert "security.cors_allowlist" in approved.decisions.last().reason


def test_a_failed_run_after_approval_invalidates_it(
    approved, ready_service, django_capture_on_commit_callbacks
) -> None:
    run = ValidationRun.objects.create(
        service=ready_service, status="running", keys=["api.error_format"]
    )
    from checks.models import CheckResult

    CheckResult.objects.create(run=run, key="api.error_format", status="fail", summary="bad")
    with django_capture_on_commit_callbacks(execute=True):
        runs._finish(run)
    approved.refresh_from_db()
    assert approved.status == "invalidated"
    reasons = " ".join(approved.decisions.values_list("reason", flat=True))
    assert f"#{run.pk}" in reasons or "failing" in reasons


def test_an_unrelated_change_does_not_invalidate(
    approved, ready_service, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        portal_services.items_from_checks(
            service=ready_service,
            results={"smoke.health": "pass", "smoke.ping_db": "pass", "smoke.crud_cycle": "pass"},
            evidence_url="https://ci.example.com/2",
            run_label="Validation run #10",
        )
    approved.refresh_from_db()
    assert approved.status == "approved"
    assert LaunchReview.objects.filter(status="invalidated").count() == 0
