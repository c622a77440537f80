"""The launch panel on the service page: latest review and the CI gate verdict, loaded by
the panel itself so the portal's view needs to know nothing about launches."""

from __future__ import annotations

from typing import Any

from django import template

from portal.models import Service
from reviews.selectors import launch_status

register = template.Library()


@register.inclusion_tag("reviews/inc/launch_panel_body.html")
def launch_panel(service: Service) -> dict[str, Any]:
    status = launch_status(service)
    return {"service": service, "status": status, "review": status.review, "gate": status.gate}
