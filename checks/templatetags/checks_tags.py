"""The service page's validation panel (recent runs, the steps to run and the profile link) and
the service list's "Add a service" link, as tags, so the portal (which the checks app builds
on) knows nothing of runs or discovery."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.safestring import SafeString

from checks import evidence as evidence_html
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


@register.inclusion_tag("checks/inc/add_service_link.html", takes_context=True)
def add_service_link(context: template.Context) -> dict[str, Any]:
    """The link to add a service from its staging URL, for members of a team."""
    request = context.get("request")
    user = getattr(request, "user", None)
    return {"show": user is not None and selectors.teams_for_new_service(user).exists()}


@register.filter
def evidence(value: Any) -> SafeString:
    """A result's evidence as readable, escaped HTML (checks/evidence.py)."""
    return evidence_html.render(value)
