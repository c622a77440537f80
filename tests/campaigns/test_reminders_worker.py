"""The reminder beat task run by a real Celery worker process on real Redis: it finds the
campaign that started, records the reminder and hands the message to the notification path,
whose webhook task the same worker delivers to a real HTTP receiver on loopback."""

from __future__ import annotations

import time

import pytest

from campaigns.models import CampaignReminder
from core.broker import enqueue
from portal.models import AuditEvent
from reviews.models import TeamWebhook
from tests.campaigns.test_campaigns import _campaign


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_worker_runs_the_reminders_and_delivers_them(
    service, reviewer, receiver, worker
) -> None:
    TeamWebhook.objects.create(team=service.team, url=receiver.url)
    campaign = _campaign(reviewer)
    assert enqueue("campaigns.tasks.send_reminders")
    deadline = time.monotonic() + 40
    while not receiver.received and time.monotonic() < deadline:
        time.sleep(0.2)
    (payload,) = receiver.received
    assert payload["blocks"][0]["text"]["text"] == f"Campaign {campaign.name}: started"
    assert f"/campaigns/{campaign.slug}/" in payload["blocks"][2]["elements"][0]["text"]
    reminder = CampaignReminder.objects.get()
    assert (reminder.kind, reminder.team, reminder.behind) == ("start", service.team, 1)
    event = AuditEvent.objects.get(action="campaign_reminded")
    assert event.actor is None and event.payload["campaign"] == campaign.slug
    # The beat task again: nothing new to send.
    assert enqueue("campaigns.tasks.send_reminders")
    time.sleep(2)
    assert len(receiver.received) == 1 and CampaignReminder.objects.count() == 1
