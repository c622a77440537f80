"""The service page's drill panel: recent drill verdicts and alerts, as one inclusion tag so
the portal's service view needs no change."""

from __future__ import annotations

from typing import Any

from django import template

from drills import selectors
from portal.models import Service

register = template.Library()


@register.inclusion_tag("drills/inc/service_panel.html")
def drills_panel(service: Service) -> dict[str, Any]:
    return {
        "service": service,
        "drills": selectors.recent_drills(service),
        "alerts": selectors.recent_alerts(service),
    }
