"""The levels panel on the service page: the service's level and score on each of its
templates, the level its tier requires for a launch, what the next level still needs and
what is upcoming. Loaded by the panel itself (exemptions are reviews'), so the portal's view
needs to know nothing about levels."""

from __future__ import annotations

from typing import Any

from django import template

from portal.models import Service
from reviews.levels import service_levels

register = template.Library()


@register.inclusion_tag("reviews/inc/levels_panel.html")
def levels_panel(service: Service, oob: bool = False) -> dict[str, Any]:
    """``oob``: the panel rides along a checklist row's htmx answer and replaces itself."""
    return {"service": service, "levels": service_levels(service), "oob": oob}
