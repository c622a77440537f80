"""Acceptance 1 of issue 14: no path leaves a service "may ship" while a blocking item is
open, or a mapped check is failing or skipped, without a named exemption.

Every path we know of that can undo readiness after a launch was approved is listed below
(``REGRESSIONS``); each is applied to an approved launch, and then:

- ``launch_status`` says no and ``manage.py launch_gate`` exits 1;
- an invariant computed here from the raw rows (not with the gate's code) agrees;
- a path that happens through the product (a person, a run, CI, a template, the clock)
  invalidates the approval with a reason naming the regression, an audit event and a
  notification; a path around the product (rows edited in the database) cannot invalidate,
  but still cannot ship.

The ways *into* "may ship" are covered too: a failing item cannot be ticked, a launch cannot
be requested or approved over something no exemption names, an exemption cannot excuse the
run itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from checks.catalog import REGISTRY
from checks.models import CheckResult, ValidationRun
from checks.selectors import drill_keys
from core.errors import Conflict, InvalidInput
from portal import services as portal_services
from portal.models import AuditEvent, ItemState, Service
from portal.services import AutomatedCheckFailing
from portal.templates_io import DEFAULT_TEMPLATE, load_template_file
from reviews import facts, services
from reviews.models import Exemption, LaunchReview
from reviews.selectors import launch_status
from tests.support.launches import make_ready, record_run

pytestmark = pytest.mark.django_db

SOON = date.today() + timedelta(days=10)


@pytest.fixture(autouse=True)
def eager():
    """Notification tasks run as functions, so a notification is an email in the outbox."""
    import reviews.tasks  # noqa: F401
    from app.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def launch_gate(slug: str) -> tuple[int, str]:
    out = StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("launch_gate", slug, stdout=out)
    return int(exited.value.code or 0), out.getvalue()


def invariant_holds(service: Service, *, as_if_approved: bool = False) -> bool:
    """May ship only if every blocking item is complete and unexpired, every check that
    verifies a blocking item last passed, and no check's latest result failed or errored,
    unless an approved, unexpired exemption of the approved review (or of an item) names it.
    Written from the rows, independently of reviews.gate (time windows left out).
    ``as_if_approved``: judge the latest review as if it were still approved."""
    service = Service.objects.get(pk=service.pk)  # its template may have moved on
    review = LaunchReview.objects.filter(service=service).order_by("-id").first()
    if review is None:
        return True
    if review.status != LaunchReview.Status.APPROVED and not as_if_approved:
        return True  # nothing claims it may ship
    now = timezone.now()
    named = set()
    for e in Exemption.objects.filter(service=service, status="approved", expires_at__gt=now):
        if e.review_id in (None, review.pk):
            named |= set(e.granted)
    latest: dict[str, str] = {}
    for key, status in (
        CheckResult.objects.filter(run__service=service, run__status__in=ValidationRun.FINISHED)
        .order_by("id")
        .values_list("key", "status")
    ):
        latest[key] = status
    if any(
        status in ("fail", "error") and f"check:{key}" not in named
        for key, status in latest.items()
    ):
        return False
    for state in ItemState.objects.filter(
        service=service, item__template=service.template, item__blocking=True
    ).select_related("item"):
        complete = state.state in ("done", "na") and not (
            state.state == "done" and state.expires_at and state.expires_at < now
        )
        if not complete and f"item:{state.item_key}" not in named:
            return False
        for key in state.item.verify_keys:
            if latest.get(key) != "pass" and f"check:{key}" not in named:
                return False
    return True


def approve(service: Service, lead, reviewers, **request: object) -> LaunchReview:
    review = services.launch_request(
        service=service, actor=lead, target_date=date.today() + timedelta(days=1), **request
    )
    for reviewer in reviewers:
        services.launch_approve(review=review, actor=reviewer)
    review.refresh_from_db()
    assert review.status == "approved"
    code, out = launch_gate(service.slug)
    assert code == 0, out
    assert invariant_holds(service)
    return review


# --- the regressions ------------------------------------------------------------------------


def reopen_a_blocking_item(service, lead) -> str:
    state = ItemState.objects.get(service=service, item_key="security.cors_allowlist")
    portal_services.item_transition(
        service=service,
        item_key=state.item_key,
        action="reopen",
        actor=lead,
        seen_version=state.version,
    )
    return "security.cors_allowlist"


def a_blocking_item_goes_stale(service, lead) -> str:
    ItemState.objects.filter(service=service, item_key="data.backups_restore_tested").update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    portal_services.expire_stale_items()
    return "data.backups_restore_tested"


def a_verifying_check_fails(service, lead) -> str:
    record_run(service, {"security.cors": "fail"})
    return "security.cors"


def a_verifying_check_is_skipped(service, lead) -> str:
    record_run(service, {"security.tls": ("skip", {"setting": "tls.https_url"})})
    return "security.tls"


def a_verifying_check_errors(service, lead) -> str:
    record_run(service, {"security.headers": "error"})
    return "security.headers"


def a_check_mapped_to_nothing_fails(service, lead) -> str:
    record_run(service, {"auth.otp_flow": "fail"})
    return "auth.otp_flow"


def a_supporting_check_fails(service, lead) -> str:
    record_run(service, {"smoke.health": "fail"})
    return "smoke.health"


def a_new_full_run_skips_what_the_last_one_passed(service, lead) -> str:
    results: dict = {key: "pass" for key in REGISTRY}
    results["db.index_usage"] = ("skip", {"setting": "mongo.uri"})
    record_run(service, results, full=True)
    return "db.index_usage"


def ci_facts_fail_an_item(service, lead) -> str:
    facts.facts_record(service=service, data={"coverage": {"percent": 42}})
    return "testing.coverage"


def a_template_upgrade_adds_a_blocking_item(service, lead) -> str:
    import dataclasses

    from portal.templates_io import ItemData

    data = load_template_file(DEFAULT_TEMPLATE)
    new = ItemData("security.mfa_admins", "Admins use MFA", "Enforce MFA.", True, True, 30)
    first = dataclasses.replace(data.sections[0], items=[*data.sections[0].items, new])
    portal_services.template_import(
        data=dataclasses.replace(data, version=99, sections=[first, *data.sections[1:]])
    )
    return "security.mfa_admins"


# The clock: nothing happens in the product; the re-check (beat) notices.
def the_full_run_grows_old(service, lead) -> str:
    ValidationRun.objects.filter(service=service).update(
        finished_at=timezone.now() - timedelta(days=8)
    )
    CheckResult.objects.filter(run__service=service).update(
        created_at=timezone.now() - timedelta(days=8)
    )
    return "older than 7 days"


def a_drill_grows_old(service, lead) -> str:
    key = drill_keys()[0]
    CheckResult.objects.filter(run__service=service, key=key).update(
        created_at=timezone.now() - timedelta(days=31)
    )
    return key


def a_tick_expires_before_the_daily_task(service, lead) -> str:
    ItemState.objects.filter(service=service, item_key="docker.rollback_documented").update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    return "docker.rollback_documented"


@dataclass(frozen=True)
class Regression:
    apply: Callable[[Service, object], str]
    by: str  # "event": the product reacts at once; "clock": the re-check does
    rows_show_it: bool = True  # the row-level invariant sees it (it ignores time windows)


REGRESSIONS = {
    r.apply.__name__: r
    for r in [
        Regression(reopen_a_blocking_item, "event"),
        Regression(a_blocking_item_goes_stale, "event"),
        Regression(a_verifying_check_fails, "event"),
        Regression(a_verifying_check_is_skipped, "event"),
        Regression(a_verifying_check_errors, "event"),
        Regression(a_check_mapped_to_nothing_fails, "event"),
        Regression(a_supporting_check_fails, "event"),
        Regression(a_new_full_run_skips_what_the_last_one_passed, "event"),
        Regression(ci_facts_fail_an_item, "event"),
        Regression(a_template_upgrade_adds_a_blocking_item, "event"),
        Regression(the_full_run_grows_old, "clock", rows_show_it=False),
        Regression(a_drill_grows_old, "clock", rows_show_it=False),
        Regression(a_tick_expires_before_the_daily_task, "clock"),
    ]
}


@pytest.mark.parametrize("name", list(REGRESSIONS))
def test_every_regression_after_approval_stops_the_ship(
    name, ready_service, lead, search_reviewers, django_capture_on_commit_callbacks
) -> None:
    regression = REGRESSIONS[name]
    review = approve(ready_service, lead, search_reviewers)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        named = regression.apply(ready_service, lead)
    # The independent check sees the regression too (so it is not vacuous below).
    assert invariant_holds(ready_service, as_if_approved=True) is not regression.rows_show_it
    if regression.by == "clock":
        review.refresh_from_db()
        assert review.status == "approved"  # nothing in the product happened...
        assert not launch_status(ready_service).approved  # ...yet the answer is already no
        with django_capture_on_commit_callbacks(execute=True):
            assert services.recheck_approvals() == 1
    review.refresh_from_db()
    assert review.status == "invalidated", name
    decision = review.decisions.last()
    assert decision.kind == "invalidate" and named in decision.reason
    event = AuditEvent.objects.filter(action="approval_invalidated").get()
    assert event.payload["review"] == review.pk and event.note == decision.reason
    assert any("invalidated" in m.subject for m in mail.outbox)
    assert not launch_status(ready_service).approved
    code, out = launch_gate(ready_service.slug)
    assert code == 1 and "may NOT ship" in out
    assert invariant_holds(ready_service)


def test_rows_changed_behind_the_products_back_still_cannot_ship(
    ready_service, lead, search_reviewers
) -> None:
    approve(ready_service, lead, search_reviewers)
    ItemState.objects.filter(service=ready_service, item_key="security.tls_hsts").update(
        state="open"
    )
    assert not launch_status(ready_service).approved
    assert launch_gate(ready_service.slug)[0] == 1
    assert not invariant_holds(ready_service)  # approved in the rows, yet it must not ship


# --- exemptions cover what they name, nothing else -------------------------------------------


@pytest.fixture
def exempted(service, lead, search_reviewers, django_capture_on_commit_callbacks):
    """Approved with exemptions: two blocking items not done, one verifying check skipped."""
    make_ready(service)
    ItemState.objects.filter(
        service=service, item_key__in=["data.backups_restore_tested", "docker.rollback_documented"]
    ).update(state="open", expires_at=None)
    record_run(service, {"security.tls": ("skip", {"setting": "tls.https_url"})})
    with django_capture_on_commit_callbacks(execute=True):
        review = approve(
            service,
            lead,
            search_reviewers,
            justifications={
                "blocking_items": "restore rehearsal booked for the 3rd",
                "verifying_checks": "TLS ends at the load balancer; staging has none",
            },
            exemption_expires=SOON,
        )
    names = set().union(*(e.granted for e in review.exemptions.all()))
    assert names == {
        "item:data.backups_restore_tested",
        "item:docker.rollback_documented",
        "check:security.tls",
    }
    mail.outbox.clear()
    return review


def test_an_exempted_item_changing_within_its_grant_keeps_the_approval(
    exempted, service, lead, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        portal_services.item_transition(
            service=service,
            item_key="docker.rollback_documented",
            action="done",
            actor=lead,
            seen_version=ItemState.objects.get(
                service=service, item_key="docker.rollback_documented"
            ).version,
            evidence_url="https://wiki.example.com/rollback",
        )
        record_run(service, {"security.tls": ("skip", {"setting": "tls.https_url"})})
    exempted.refresh_from_db()
    assert exempted.status == "approved" and launch_status(service).approved


@pytest.mark.parametrize(
    ("regress", "named"),
    [
        (reopen_a_blocking_item, "security.cors_allowlist"),  # a different item
        (a_verifying_check_fails, "security.cors"),  # a different check
        (lambda s, lead: (record_run(s, {"security.tls": "fail"}), "security.tls")[1], "tls"),
    ],
    ids=["another-item-reopens", "another-check-fails", "the-exempted-skip-now-fails"],
)
def test_a_regression_outside_what_was_exempted_invalidates(
    exempted, service, lead, regress, named, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        regress(service, lead)
    exempted.refresh_from_db()
    assert exempted.status == "invalidated"
    assert named in exempted.decisions.last().reason
    assert launch_gate(service.slug)[0] == 1
    assert mail.outbox


def test_an_exemption_expiring_invalidates_with_the_reason(
    exempted, service, django_capture_on_commit_callbacks
) -> None:
    Exemption.objects.filter(review=exempted, rule="verifying_checks").update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert not launch_status(service).approved
    assert launch_gate(service.slug)[0] == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert services.recheck_approvals() == 1
    exempted.refresh_from_db()
    reason = exempted.decisions.last().reason
    assert exempted.status == "invalidated" and "security.tls" in reason and "expired" in reason
    assert AuditEvent.objects.filter(action="approval_invalidated").count() == 1
    assert mail.outbox
    with django_capture_on_commit_callbacks(execute=True):
        assert services.recheck_approvals() == 0  # once


def test_an_item_exemption_covers_its_checks_and_nothing_else(
    ready_service, lead, search_reviewers, django_capture_on_commit_callbacks
) -> None:
    record_run(ready_service, {"security.cors": "fail"})
    exemption = services.exemption_request(
        service=ready_service,
        item_key="security.cors_allowlist",
        actor=lead,
        justification="partner origin until the 1st",
        expires=SOON,
    )
    services.exemption_approve(exemption=exemption, actor=search_reviewers[0])
    review = approve(ready_service, lead, search_reviewers)  # covered: no justification asked
    assert not review.exemptions.exists()
    with django_capture_on_commit_callbacks(execute=True):
        record_run(ready_service, {"security.cors": "fail"})  # the same failure: still covered
    review.refresh_from_db()
    assert review.status == "approved"
    with django_capture_on_commit_callbacks(execute=True):
        record_run(ready_service, {"repo.no_secrets": "fail"})
    review.refresh_from_db()
    assert review.status == "invalidated" and "repo.no_secrets" in review.decisions.last().reason


def test_an_exemption_of_an_earlier_launch_does_not_carry_over(exempted, service, lead) -> None:
    LaunchReview.objects.filter(pk=exempted.pk).update(status="invalidated")
    with pytest.raises(InvalidInput, match="blocking_items, verifying_checks"):
        services.launch_request(service=service, actor=lead, target_date=SOON)


# --- the ways in ------------------------------------------------------------------------------


def test_the_ways_into_may_ship_are_closed(service, lead, search_reviewers) -> None:
    # no run: nothing can be exempted into a launch
    with pytest.raises(InvalidInput, match="no full validation run"):
        services.launch_request(
            service=service,
            actor=lead,
            target_date=SOON,
            justifications={"full_run": "later", "blocking_items": "later"},
            exemption_expires=SOON,
        )
    make_ready(service)
    record_run(service, {"security.cors": "fail"})
    # a failing item cannot be ticked by a person
    state = ItemState.objects.get(service=service, item_key="security.cors_allowlist")
    with pytest.raises(AutomatedCheckFailing):
        portal_services.item_transition(
            service=service,
            item_key=state.item_key,
            action="done",
            actor=lead,
            seen_version=state.version,
            evidence_url="https://wiki.example.com/cors",
        )
    # a launch cannot be requested over it without naming it
    with pytest.raises(InvalidInput, match="no_failing_items"):
        services.launch_request(service=service, actor=lead, target_date=SOON)
    # nor approved when it regressed after the request
    record_run(service, {"security.cors": "pass"})
    review = services.launch_request(service=service, actor=lead, target_date=SOON)
    record_run(service, {"security.headers": "fail"})
    with pytest.raises(Conflict, match=r"security\.headers"):
        services.launch_approve(review=review, actor=search_reviewers[0])
    assert not launch_status(service).approved
    assert launch_gate(service.slug)[0] == 1
