"""No silent override (issue 14, item 4): while a check that verifies an item fails, a person
cannot mark it done or not applicable — not with a link, not with a note, not after a
reopen — only an approved exemption (reason, expiry, a reviewer of another team) lets such a
tick stand, over exactly the checks it names."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from core.errors import Conflict, InvalidInput, NotAllowed
from portal import services as portal_services
from portal.models import AuditEvent, ItemState
from portal.services import AutomatedCheckFailing
from reviews import services
from reviews.models import Exemption
from tests.conftest import PASSWORD
from tests.support.launches import record_run

pytestmark = pytest.mark.django_db

KEY = "security.cors_allowlist"  # blocking, verified by security.cors
EVIDENCE = "https://wiki.example.com/cors"
IN_TEN_DAYS = date.today() + timedelta(days=10)


def _state(service, key: str = KEY) -> ItemState:
    return ItemState.objects.select_related("item").get(service=service, item_key=key)


def _tick(service, lead, action: str = "done", key: str = KEY, **extra: str) -> ItemState:
    return portal_services.item_transition(
        service=service,
        item_key=key,
        action=action,
        actor=lead,
        seen_version=_state(service, key).version,
        evidence_url=extra.get("evidence_url", EVIDENCE),
        note=extra.get("note", "looks fine to me"),
    )


@pytest.fixture
def eager():
    """Notification tasks run as functions (reviews.tasks registers them)."""
    import reviews.tasks  # noqa: F401
    from app.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture
def failing(service):
    record_run(service, {"security.cors": "fail"})
    state = _state(service)
    assert state.state == "failing" and state.failing_checks == ["security.cors"]
    return service


def test_marking_a_failing_automated_item_done_is_refused_and_writes_nothing(failing, lead) -> None:
    before = (_state(failing).version, AuditEvent.objects.count())
    for action in ("done", "na"):
        with pytest.raises(AutomatedCheckFailing, match="needs an approved exemption"):
            _tick(failing, lead, action)
    assert (_state(failing).version, AuditEvent.objects.count()) == before
    assert _state(failing).state == "failing"


def test_a_reopen_does_not_launder_the_failure(failing, lead) -> None:
    assert _tick(failing, lead, "reopen").state == "open"
    with pytest.raises(AutomatedCheckFailing):
        _tick(failing, lead, "done")
    assert _state(failing).state == "open"


def test_the_check_passing_again_lifts_the_refusal(failing, lead) -> None:
    record_run(failing, {"security.cors": "pass"})
    assert _state(failing).state == "done"  # verified by the check itself
    assert _tick(failing, lead, "reopen").state == "open"
    assert _tick(failing, lead, "done").state == "done"


def test_a_supporting_check_failing_leaves_the_tick_to_a_person(service, lead) -> None:
    record_run(service, {"smoke.health": "fail"})  # supports testing.suites_pass
    state = _state(service, "testing.suites_pass")
    assert state.state == "open" and state.check_results["smoke.health"]["status"] == "fail"
    assert state.failing_checks == []
    assert _tick(service, lead, key="testing.suites_pass").state == "done"


def test_failed_ci_facts_refuse_a_manual_tick_too(service, lead) -> None:
    from reviews import facts

    facts.facts_record(service=service, data={"coverage": {"percent": 61}})
    state = _state(service, "testing.coverage")
    assert state.state == "failing" and state.failing_checks == ["ci-facts"]
    with pytest.raises(AutomatedCheckFailing):
        _tick(service, lead, key="testing.coverage")


def test_the_view_answers_409_in_place_and_offers_the_exemption_path(failing, lead) -> None:
    client = Client()
    assert client.login(username="lead", password=PASSWORD)
    url = reverse("portal:item-update", args=[failing.slug, KEY])
    data = {"action": "done", "version": str(_state(failing).version), "evidence_url": EVIDENCE}
    page = client.post(url, data)
    assert page.status_code == 409 and "needs an approved exemption" in page.content.decode()
    row = client.post(url, data, HTTP_HX_REQUEST="true")
    html = row.content.decode()
    assert row.status_code == 409 and 'role="alert"' in html
    assert "Request exemption" in html and 'value="done"' not in html
    assert reverse("reviews:item-exemption", args=[failing.slug, KEY]) in html
    assert _state(failing).state == "failing"


def test_an_exemption_needs_a_reason_an_expiry_and_a_failing_check(failing, lead) -> None:
    with pytest.raises(InvalidInput, match="reason"):
        services.exemption_request(
            service=failing, item_key=KEY, actor=lead, justification=" ", expires=IN_TEN_DAYS
        )
    with pytest.raises(InvalidInput, match="expiry"):
        services.exemption_request(
            service=failing, item_key=KEY, actor=lead, justification="x", expires=None
        )
    with pytest.raises(InvalidInput, match="at most 30 days"):
        services.exemption_request(
            service=failing,
            item_key=KEY,
            actor=lead,
            justification="x",
            expires=date.today() + timedelta(days=90),
        )
    with pytest.raises(InvalidInput, match="nothing to exempt"):
        services.exemption_request(
            service=failing,
            item_key="security.http_headers",
            actor=lead,
            justification="x",
            expires=IN_TEN_DAYS,
        )
    assert not Exemption.objects.exists()


def test_a_reviewer_of_another_team_approves_and_the_tick_stands_over_those_checks_only(
    failing, lead, search_reviewers, team_reviewer, django_capture_on_commit_callbacks, eager
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        exemption = services.exemption_request(
            service=failing,
            item_key=KEY,
            actor=lead,
            justification="the partner portal needs *.example.com until the 1st",
            expires=IN_TEN_DAYS,
        )
    assert exemption.granted == {f"item:{KEY}": "failing", "check:security.cors": "fail"}
    assert any("Exemption" in m.subject for m in mail.outbox)
    with pytest.raises(Conflict, match="already waiting"):
        services.exemption_request(
            service=failing, item_key=KEY, actor=lead, justification="again", expires=IN_TEN_DAYS
        )
    for who in (lead, team_reviewer):
        with pytest.raises(NotAllowed):
            services.exemption_approve(exemption=exemption, actor=who)
    assert _state(failing).state == "failing"

    services.exemption_approve(exemption=exemption, actor=search_reviewers[0], note="ok")
    state = _state(failing)
    assert state.state == "done" and state.exempt_checks == ["security.cors"]
    assert state.expires_at == Exemption.objects.get().expires_at
    assert state.updated_by == search_reviewers[0]
    actions = list(AuditEvent.objects.values_list("action", flat=True))
    assert actions[-3:] == ["exemption_requested", "exemption_approved", "exempted"]

    # The same check failing again leaves the exempted tick alone...
    record_run(failing, {"security.cors": "fail"})
    assert _state(failing).state == "done"
    # ...another verifying check failing does not.
    record_run(failing, {"repo.env_config": "fail"}, full=False)
    assert _state(failing, "security.secrets_env").state == "failing"


def test_an_approval_is_refused_when_the_item_now_fails_a_check_it_does_not_name(
    service, lead, search_reviewers
) -> None:
    record_run(service, {"repo.env_config": "fail"})
    exemption = services.exemption_request(
        service=service,
        item_key="security.secrets_env",
        actor=lead,
        justification="rotating",
        expires=IN_TEN_DAYS,
    )
    record_run(service, {"repo.no_secrets": "fail"})
    with pytest.raises(Conflict, match=r"now also fails repo\.no_secrets"):
        services.exemption_approve(exemption=exemption, actor=search_reviewers[0])
    services.exemption_reject(exemption=exemption, actor=search_reviewers[0], reason="ask again")
    assert Exemption.objects.get().status == "rejected"
    assert _state(service, "security.secrets_env").state == "failing"


def test_the_exemption_pages_decide_with_plain_forms(failing, lead, search_reviewers) -> None:
    client = Client()
    assert client.login(username="lead", password=PASSWORD)
    url = reverse("reviews:item-exemption", args=[failing.slug, KEY])
    assert client.post(url, {"justification": "", "expires": ""}).status_code == 400
    response = client.post(url, {"justification": "partner", "expires": IN_TEN_DAYS.isoformat()})
    assert response.status_code == 302
    exemption = Exemption.objects.get()
    page = client.get(reverse("portal:service-detail", args=[failing.slug])).content.decode()
    assert f"Exemption #{exemption.pk}</a> requested by lead" in page

    reviewer = Client()
    assert reviewer.login(username=search_reviewers[0].username, password=PASSWORD)
    listing = reviewer.get(reverse("reviews:exemption-list")).content.decode()
    assert f"#{exemption.pk}" in listing
    detail = reviewer.get(reverse("reviews:exemption-detail", args=[exemption.pk]))
    assert 'id="approve-exemption"' in detail.content.decode()
    assert (
        client.post(reverse("reviews:exemption-decide", args=[exemption.pk, "approve"])).status_code
        == 403
    )
    decided = reviewer.post(
        reverse("reviews:exemption-decide", args=[exemption.pk, "approve"]), {"reason": "fine"}
    )
    assert decided.status_code == 302
    assert _state(failing).state == "done"
    page = client.get(reverse("portal:service-detail", args=[failing.slug])).content.decode()
    assert f"exemption #{exemption.pk}</a>, approved by rev-a" in page
