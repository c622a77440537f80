"""Celery entry points of launch reviews: notification delivery, retried with exponential
backoff (and jitter) on errors a retry can fix, and the periodic re-check of approvals."""

from __future__ import annotations

import smtplib
from typing import Any

import httpx
from celery import shared_task

from reviews import notify, services

MAX_RETRIES = 6  # with backoff 2, 4, 8, ... s (capped): about two minutes in all


@shared_task(
    name="reviews.tasks.send_notification_email",
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=MAX_RETRIES,
)
def send_notification_email(subject: str, body: str, to: list[str]) -> int:
    return notify.send_email(subject, body, to)


@shared_task(
    name="reviews.tasks.deliver_webhook",
    autoretry_for=(notify.WebhookFailed, httpx.TransportError),
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=MAX_RETRIES,
)
def deliver_webhook(webhook_id: int, payload: dict[str, Any]) -> str:
    return notify.deliver_webhook(webhook_id, payload)


@shared_task(name="reviews.tasks.recheck_approvals")
def recheck_approvals() -> int:
    """Beat: invalidate approved launches that time alone undid (an exemption expired)."""
    return services.recheck_approvals()
