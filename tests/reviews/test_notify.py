"""Notifications: email through Django's backend (locmem in tests) and Slack-format webhooks
to a real HTTP receiver on loopback, retried with backoff. Tasks run eagerly (as functions)
here, and once through a real Celery worker."""

from __future__ import annotations

import time
from datetime import date, timedelta

import pytest

from checks.models import CheckResult, ValidationRun
from checks.services import runs
from reviews import services
from reviews.models import TeamWebhook
from reviews.tasks import deliver_webhook

pytestmark = pytest.mark.django_db


@pytest.fixture
def eager():
    from app.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def _request(service, lead):
    return services.launch_request(
        service=service, actor=lead, target_date=date.today() + timedelta(days=1)
    )


def test_a_launch_request_emails_the_team_and_reviewers_and_posts_slack_blocks(
    ready_service,
    lead,
    search_reviewers,
    receiver,
    eager,
    mailoutbox,
    django_capture_on_commit_callbacks,
) -> None:
    lead.email = "lead@example.com"
    lead.save()
    TeamWebhook.objects.create(team=ready_service.team, url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        review = _request(ready_service, lead)
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert "Launch of Orders API requested" in mail.subject
    assert set(mail.to) == {"lead@example.com", "rev-a@example.com", "rev-b@example.com"}
    assert f"/launches/{review.pk}/" in mail.body
    assert len(receiver.received) == 1
    payload = receiver.received[0]
    assert "Orders API" in payload["text"]
    assert [b["type"] for b in payload["blocks"]] == ["header", "section", "context"]


def test_a_webhook_is_retried_until_the_receiver_accepts(ready_service, receiver, eager) -> None:
    hook = TeamWebhook.objects.create(team=ready_service.team, url=receiver.url)
    receiver.answers = [500, 500]
    deliver_webhook.apply_async(args=[hook.pk, {"text": "hi", "blocks": []}])
    assert receiver.statuses == [500, 500, 200]
    assert len(receiver.received) == 3


def test_a_4xx_or_a_refused_destination_is_not_retried(ready_service, receiver, settings) -> None:
    hook = TeamWebhook.objects.create(team=ready_service.team, url=receiver.url)
    receiver.answers = [404]
    assert deliver_webhook(hook.pk, {"text": "x"}) == "rejected 404"
    settings.PREFLIGHT_OUTBOUND_ALLOWLIST = ["10.0.0.0/8"]
    assert deliver_webhook(hook.pk, {"text": "x"}) == "refused"
    assert receiver.statuses == [404]


def test_a_redirect_is_not_followed_nor_counted_as_delivered(ready_service, receiver) -> None:
    hook = TeamWebhook.objects.create(team=ready_service.team, url=receiver.url)
    receiver.answers = [302]
    assert deliver_webhook(hook.pk, {"text": "x"}) == "not delivered: redirect 302 not followed"
    assert receiver.statuses == [302]


def test_webhook_urls_must_be_http(ready_service) -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        TeamWebhook.objects.create(team=ready_service.team, url="file:///etc/passwd")


def test_a_failing_scheduled_run_notifies_the_team(
    ready_service, receiver, eager, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    TeamWebhook.objects.create(team=ready_service.team, url=receiver.url)
    run = ValidationRun.objects.create(
        service=ready_service, status="running", trigger="schedule", keys=["smoke.health"]
    )
    CheckResult.objects.create(run=run, key="smoke.health", status="fail", summary="down")
    manual = ValidationRun.objects.create(service=ready_service, status="running", keys=["x"])
    CheckResult.objects.create(run=manual, key="x", status="fail", summary="down")
    with django_capture_on_commit_callbacks(execute=True):
        runs._finish(manual)  # a manual run: no notification
    assert receiver.received == []
    with django_capture_on_commit_callbacks(execute=True):
        runs._finish(run)
    assert len(receiver.received) == 1
    assert "Scheduled validation of Orders API failed" in receiver.received[0]["text"]
    assert "smoke.health" in receiver.received[0]["blocks"][1]["text"]["text"]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_retries_with_backoff(service, receiver, worker) -> None:
    from reviews import notify

    hook = TeamWebhook.objects.create(team=service.team, url=receiver.url)
    receiver.answers = [500, 500]
    notify._enqueue(deliver_webhook, hook.pk, {"text": "from the worker", "blocks": []})
    deadline = time.monotonic() + 40
    while len(receiver.statuses) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert receiver.statuses == [500, 500, 200]
