"""The exemption path on a checklist row: an item whose verifying check fails cannot be
marked done; the row offers to request an exemption (reason, expiry) and shows the one
waiting for a reviewer or in force. Loaded by the row itself, so the portal's views need to
know nothing about exemptions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import template
from django.conf import settings
from django.utils import timezone

from portal.models import ItemState, Service
from reviews.models import Exemption
from reviews.selectors import item_exemptions

register = template.Library()


@register.inclusion_tag("reviews/inc/item_exemption.html", takes_context=True)
def item_exemption(
    context: dict[str, Any], service: Service, state: ItemState, can_edit: bool
) -> dict[str, Any]:
    now = timezone.now()
    exemptions = item_exemptions(service, state.item_key)
    waiting = next((e for e in exemptions if e.status == Exemption.Status.REQUESTED), None)
    in_force = next(
        (
            e
            for e in exemptions
            if e.status == Exemption.Status.APPROVED
            and e.expires_at > now
            and state.state == ItemState.State.DONE
            and state.exempt_checks
        ),
        None,
    )
    max_days = int(settings.PREFLIGHT_EXEMPTION_MAX_DAYS)
    return {
        "service": service,
        "state": state,
        "can_edit": can_edit,
        "waiting": waiting,
        "in_force": in_force,
        "csrf_token": context.get("csrf_token"),
        "expires_default": (now + timedelta(days=min(14, max_days))).date().isoformat(),
        "expires_max": (now + timedelta(days=max_days)).date().isoformat(),
        "max_days": max_days,
    }
