"""The campaigns panel on the service page: the campaigns whose scope holds the service,
their target and due date, and whether the service is there. Loaded by the panel itself, so
the portal's view needs to know nothing about campaigns."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils import timezone

from campaigns.selectors import campaigns_of, standing
from portal.models import Service

register = template.Library()


@register.inclusion_tag("campaigns/inc/service_campaigns.html")
def service_campaigns(service: Service) -> dict[str, Any]:
    today = timezone.localdate()
    rows = []
    for campaign in campaigns_of(service, today=today):
        mine = next(iter(standing(campaign, only=service)), None)
        rows.append(
            {
                "campaign": campaign,
                "state": campaign.calendar_state(today),
                "there": mine is not None and mine.there,
                "lacks": list(mine.lacks) if mine else [],
            }
        )
    return {"service": service, "rows": rows}
