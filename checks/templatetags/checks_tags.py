"""The service page's validation panel: recent runs, the steps to run and the profile link,
as one inclusion tag, so the portal (which the checks app builds on) knows nothing of runs."""

from __future__ import annotations

from typing import Any

from django import template

from checks import selectors
from portal.models import Service

register = template.Library()


@register.inclusion_tag("checks/inc/validation_panel.html", takes_context=True)
def validation_panel(context: template.Context, service: Service) -> dict[str, Any]:
    return {
        "service": service,
        "can_edit": context.get("can_edit", False),
        "csrf_token": context.get("csrf_token"),
        "runs": selectors.recent_runs(service),
        "steps": selectors.available_steps(),
        "has_profile": selectors.profile_of(service) is not None,
    }
