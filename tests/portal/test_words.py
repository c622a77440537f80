"""Labels read as words: machine values never reach a page with underscores or abbreviations."""

from __future__ import annotations

import pytest
from django.template import Context, Template

from checks.models import ValidationRun
from portal.templatetags.words import words


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("in_progress", "in progress"),
        ("na", "not applicable"),
        ("skip", "skipped"),
        ("item_done", "item done"),
        ("ready", "ready"),
        (None, ""),
    ],
)
def test_words_turns_stored_values_into_words(value, shown) -> None:
    assert words(value) == shown


def test_the_readiness_badge_says_in_progress(db) -> None:
    html = Template("{% load words %}{{ s|words|capfirst }}").render(Context({"s": "in_progress"}))
    assert html == "In progress"


def test_a_run_says_who_started_it(service, lead) -> None:
    run = ValidationRun.objects.create(service=service, triggered_by=lead)
    assert run.trigger_label == "Started by lead"
    rerun = ValidationRun.objects.create(
        service=service, triggered_by=lead, trigger=ValidationRun.Trigger.RERUN
    )
    assert rerun.trigger_label == "Re-run of a check by lead"
    scheduled = ValidationRun.objects.create(service=service, trigger="schedule")
    assert scheduled.trigger_label == "Schedule"


def test_the_service_page_shows_the_state_as_words(client, service, lead) -> None:
    client.force_login(lead)
    page = client.get(f"/services/{service.slug}/").content.decode()
    assert "In progress" in page and "Inprogress" not in page
    listing = client.get("/services/").content.decode()
    assert "In progress" in listing and "Inprogress" not in listing


def test_dashboard_tables_head_their_columns_with_words() -> None:
    from django.template.loader import render_to_string

    from dashboards.tables import Table

    table = Table("alerts", "Recent alerts", ["starts_at", "status"], [("2026-12-03", "firing")])
    html = render_to_string("dashboards/inc/table.html", {"table": table})
    assert '<th title="starts_at">Starts at</th>' in html
