"""The stored level standings: written on first read, read back while current, dropped when
item states, the service or its exemptions change, recomputed once time alone may have
changed them (valid_until)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from dashboards.models import LevelStanding
from dashboards.selectors.levels import standings
from portal import services
from portal.models import ItemState, Service
from reviews.levels import LevelSummary, level_summaries
from reviews.models import Exemption
from tests.reviews.test_levels import BRONZE


@pytest.fixture(autouse=True)
def _stored(settings) -> None:
    settings.PREFLIGHT_DASHBOARD_CACHE_S = 30  # the store is used with the cache on


def test_standings_are_stored_on_first_read_and_read_back(
    service, django_capture_on_commit_callbacks, lead
) -> None:
    first = standings(Service.objects.all())
    assert first == level_summaries(Service.objects.all())
    (row,) = LevelStanding.objects.all()
    assert (row.template_key, row.rank, row.required) == ("fastapi-mongo", 0, "gold")
    # A write that bypasses the portal's services is not seen: the row is what is read.
    ItemState.objects.filter(service=service, item_key__in=BRONZE).update(
        state="done", expires_at=timezone.now() + timedelta(days=3)
    )
    assert standings(Service.objects.all())[service.pk][0].rank == 0
    # A change through the portal drops the row; the next read recomputes it.
    state = ItemState.objects.get(service=service, item_key=BRONZE[0])
    with django_capture_on_commit_callbacks(execute=True):
        services.item_transition(
            service=service, item_key=state.item_key, action="reopen", actor=lead,
            seen_version=state.version,
        )  # fmt: skip
    assert not LevelStanding.objects.exists()
    services.item_transition(
        service=service, item_key=state.item_key, action="done", actor=lead,
        seen_version=state.version + 1, evidence_url="https://wiki.example.com/x",
    )  # fmt: skip
    LevelStanding.objects.all().delete()  # (on_commit not run here)
    again = standings(Service.objects.all())[service.pk][0]
    assert again.level_key == "bronze"
    # The first done item to expire bounds the row's validity.
    row = LevelStanding.objects.get()
    soonest = ItemState.objects.filter(service=service, state="done").order_by("expires_at")[0]
    assert row.valid_until == soonest.expires_at


def test_a_row_past_its_validity_is_recomputed(service) -> None:
    standings(Service.objects.all())
    ItemState.objects.filter(service=service, item_key__in=BRONZE).update(
        state="done", expires_at=timezone.now() + timedelta(days=3)
    )
    LevelStanding.objects.update(valid_until=timezone.now() - timedelta(seconds=1))
    assert standings(Service.objects.all())[service.pk][0].level_key == "bronze"


def test_a_service_or_exemption_change_drops_the_row(service, reviewer) -> None:
    standings(Service.objects.all())
    service.tier = 2
    service.save()
    assert not LevelStanding.objects.exists()
    assert standings(Service.objects.all())[service.pk][0].required == "silver"
    Exemption.objects.create(
        service=service, items=[BRONZE[0]], granted={f"item:{BRONZE[0]}": "open"},
        justification="x", expires_at=timezone.now() + timedelta(days=2), status="approved",
    )  # fmt: skip
    assert not LevelStanding.objects.exists()
    (summary,) = standings(Service.objects.all())[service.pk]
    assert isinstance(summary, LevelSummary)
    row = LevelStanding.objects.get()
    assert row.valid_until is not None and row.valid_until <= timezone.now() + timedelta(days=2)
