"""Notifications: email (Django's email backend) to the team and the reviewers, and outgoing
webhooks in Slack's incoming-webhook format to each of the team's URLs.

Nothing here sends during the request that caused it: the messages are enqueued as Celery
tasks once the transaction commits, and the tasks retry with exponential backoff. Webhooks
go through the guarded HTTP client (the outbound allowlist applies to them too)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Task
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.urls import reverse

from checks.engine import DestinationRefused, shared_client
from checks.models import ValidationRun
from checks.selectors import outbound_policy
from core.broker import enqueue
from portal.models import Service
from portal.permissions import REVIEWERS_GROUP
from reviews.models import Exemption, LaunchReview, TeamWebhook

log = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_S = 5.0


class WebhookFailed(Exception):
    """The receiver answered with a status worth retrying (5xx, 429)."""


def _absolute(path: str) -> str:
    return settings.PREFLIGHT_BASE_URL.rstrip("/") + path


def recipients(service: Service) -> list[str]:
    """The owning team's members and every reviewer, once each, with an email address."""
    users = get_user_model().objects.filter(
        Q(membership__team_id=service.team_id) | Q(groups__name=REVIEWERS_GROUP),
        is_active=True,
    )
    return sorted({email for email in users.values_list("email", flat=True) if email})


def slack_payload(title: str, text: str, url: str) -> dict[str, Any]:
    return {
        "text": f"{title}: {text} {url}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": text[:2900]}},
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"<{url}|Open in Preflight>"}],
            },
        ],
    }


def _enqueue(task: Task | str, *args: Any) -> None:
    """A notification that cannot be enqueued is logged (by enqueue), never fails the
    operation that caused it."""
    enqueue(task, *args)


def fan_out(service: Service, title: str, text: str, url: str) -> None:
    """Enqueue the email (the team and the reviewers) and every active webhook of the team
    after the commit."""
    fan_out_team(service.team_id, title, text, url, to=lambda: recipients(service))


def team_recipients(team_id: int) -> list[str]:
    """The team's members (its leads), once each, with an email address."""
    users = get_user_model().objects.filter(membership__team_id=team_id, is_active=True)
    return sorted({email for email in users.values_list("email", flat=True) if email})


def fan_out_team(
    team_id: int,
    title: str,
    text: str,
    url: str,
    *,
    to: Callable[[], list[str]] | None = None,
) -> None:
    """Enqueue an email to ``to()`` (default: the team's members) and the message to every
    active webhook of the team, after the commit. The tasks are named, not imported:
    reviews.tasks imports this module."""

    def enqueue() -> None:
        emails = to() if to is not None else team_recipients(team_id)
        if emails:
            _enqueue(
                "reviews.tasks.send_notification_email",
                f"[Preflight] {title}",
                f"{text}\n\n{url}",
                emails,
            )
        payload = slack_payload(title, text, url)
        for hook_id in TeamWebhook.objects.filter(team_id=team_id, active=True).values_list(
            "pk", flat=True
        ):
            _enqueue("reviews.tasks.deliver_webhook", hook_id, payload)

    transaction.on_commit(enqueue)


def launch_event(review: LaunchReview, event: str, *, actor_name: str, reason: str = "") -> None:
    service = review.service
    title = f"Launch of {service.name} {event}"
    text = f"Launch #{review.pk} of *{service.name}* (target {review.target_date}) {event}"
    text += f" by {actor_name}." if event != "invalidated" else "."
    if reason:
        text += f"\nReason: {reason}"
    fan_out(service, title, text, _absolute(reverse("reviews:review-detail", args=[review.pk])))


def exemption_event(exemption: Exemption, event: str, *, actor_name: str, reason: str = "") -> None:
    service = exemption.service
    what = exemption.item_key or exemption.rule
    title = f"Exemption for {service.name} {event}"
    text = (
        f"Exemption #{exemption.pk} of *{service.name}* ({what}: "
        f"{', '.join(exemption.checks) or 'no check'}) {event} by {actor_name}."
    )
    if reason:
        text += f"\nReason: {reason}"
    fan_out(
        service, title, text, _absolute(reverse("reviews:exemption-detail", args=[exemption.pk]))
    )


def run_failed(run: ValidationRun) -> None:
    service = run.service
    title = f"Scheduled validation of {service.name} {run.status}"
    failed = list(run.results.filter(status__in=("fail", "error")).values_list("key", flat=True))
    text = f"Scheduled run #{run.pk} of *{service.name}* {run.status}"
    text += f": {', '.join(failed[:10])}" if failed else f". {run.message}".rstrip(". ") + "."
    fan_out(service, title, text, _absolute(reverse("checks:run-detail", args=[run.pk])))


def send_email(subject: str, body: str, to: list[str]) -> int:
    return send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, to)


def deliver_webhook(webhook_id: int, payload: dict[str, Any]) -> str:
    """POST one payload. Raises WebhookFailed (or an httpx transport error) when a retry may
    help; a refused destination or a 4xx answer will not get better by retrying."""
    hook = TeamWebhook.objects.filter(pk=webhook_id, active=True).first()
    if hook is None:
        return "gone"
    client = shared_client(outbound_policy(), timeout=WEBHOOK_TIMEOUT_S, max_body_bytes=65536)
    try:
        response = client.post(hook.url, json=payload)
    except DestinationRefused as exc:
        log.warning("webhook %s not sent: %s", webhook_id, exc)
        return "refused"
    if response.status_code == 429 or response.status_code >= 500:
        raise WebhookFailed(f"webhook {webhook_id} answered {response.status_code}")
    if response.is_redirect or 300 <= response.status_code < 400:
        # Redirects are never followed (a webhook URL must be the receiver itself): the
        # message did not arrive, and sending it again to the same URL will not change that.
        log.warning("webhook %s answered a redirect: %s", webhook_id, response.status_code)
        return f"not delivered: redirect {response.status_code} not followed"
    if response.status_code >= 400:
        log.warning("webhook %s rejected the message: %s", webhook_id, response.status_code)
        return f"rejected {response.status_code}"
    return "delivered"
