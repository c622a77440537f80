"""Signals the portal sends so that other apps (launch reviews) can react to readiness
changes without the portal importing them."""

from __future__ import annotations

import logging

from django.db import transaction
from django.dispatch import Signal

from portal.models import Service

log = logging.getLogger(__name__)

# Sent once the transaction that changed one or more item states of ``service`` commits.
item_states_changed = Signal()  # args: service


def send_item_states_changed(service: Service) -> None:
    """Send :data:`item_states_changed` on commit. Receivers run robustly: a broken receiver
    is logged and never undoes (or fails) the change that already committed."""

    def send() -> None:
        for receiver, result in item_states_changed.send_robust(sender=Service, service=service):
            if isinstance(result, Exception):
                log.error("item_states_changed receiver %r failed: %r", receiver, result)

    transaction.on_commit(send)
