"""Campaign pages: the list, one campaign (progress over time per team, services not there
yet and what each lacks, reminders sent) and its exports (CSV through core.csvsafe, JSON)."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from campaigns import figures, selectors
from campaigns.models import Campaign
from core import csvsafe
from core.downloads import attachment


@require_GET
def campaign_list(request: HttpRequest) -> HttpResponse:
    today = timezone.localdate()
    rows = []
    for campaign in selectors.campaign_list():
        standing = selectors.standing(campaign)
        rows.append(selectors.campaign_summary(campaign, standing, today))
    return render(request, "campaigns/list.html", {"campaigns": rows})


@require_GET
def campaign_detail(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = get_object_or_404(selectors.campaign_list(), slug=slug)
    today = timezone.localdate()
    standing = selectors.standing(campaign)
    points = selectors.history(campaign, selectors.sample_points(campaign))
    context: dict[str, Any] = {
        "campaign": campaign,
        "summary": selectors.campaign_summary(campaign, standing, today),
        "teams": selectors.by_team(standing),
        "behind": [s for s in standing if not s.there],
        "there": [s for s in standing if s.there],
        "figure": (
            figures.progress_over_time(points, campaign.starts_on, campaign.due_on)
            if points
            else None
        ),
        "reminders": campaign.reminders.select_related("team")[:50],
        "days_left": (campaign.due_on - today).days,
    }
    return render(request, "campaigns/detail.html", context)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime | date) else value


@require_GET
def campaign_export(request: HttpRequest, slug: str, table: str, fmt: str) -> HttpResponse:
    campaign = get_object_or_404(Campaign, slug=slug)
    if table == "progress":
        columns = selectors.PROGRESS_COLUMNS
        rows = selectors.progress_rows(
            selectors.history(campaign, selectors.sample_points(campaign))
        )
    elif table == "services":
        columns = selectors.SERVICE_COLUMNS
        rows = selectors.service_rows(selectors.standing(campaign))
    else:
        raise Http404("Export progress or services")
    plain = [[_plain(v) for v in row] for row in rows]

    def as_json() -> str:
        doc = {
            "campaign": selectors.campaign_summary(
                campaign, selectors.standing(campaign), timezone.localdate()
            ),
            "table": table,
            "columns": columns,
            "rows": [dict(zip(columns, row, strict=True)) for row in plain],
        }
        return json.dumps(doc, indent=1)

    return attachment(
        fmt,
        f"campaign-{slug}-{table}",
        csv=lambda: csvsafe.to_csv(columns, plain),
        json=as_json,
    )
