"""The hash chain behind the sign-off history.

Each AuditEvent stores ``hash = SHA-256(canonical content + prev_hash)``. Editing a row
changes its content hash; deleting or reordering rows breaks the ``prev_hash`` links. Both are
found by :func:`verify_chain`, which names the first row where the chain breaks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from portal.models import AuditEvent, Service

GENESIS = "0" * 64
_APPEND_ATTEMPTS = 5


def canonical_content(
    *,
    created_at: datetime,
    actor_id: int | None,
    actor_name: str,
    action: str,
    service_slug: str,
    team_slug: str,
    item_key: str,
    from_state: str,
    to_state: str,
    note: str,
    evidence_url: str,
    payload: Any,
) -> bytes:
    """The bytes that are hashed: sorted-key JSON, microsecond UTC timestamp."""
    doc = {
        "created_at": created_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_id": actor_id,
        "actor_name": actor_name,
        "action": action,
        "service": service_slug,
        "team": team_slug,
        "item": item_key,
        "from": from_state,
        "to": to_state,
        "note": note,
        "evidence": evidence_url,
        "payload": payload,
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(content: bytes, prev_hash: str) -> str:
    """The chain's formula: SHA-256 over the canonical content, then the previous hash."""
    return hashlib.sha256(content + prev_hash.encode()).hexdigest()


def event_hash(event: AuditEvent, prev_hash: str) -> str:
    content = canonical_content(
        created_at=event.created_at,
        actor_id=event.actor_id,
        actor_name=event.actor_name,
        action=event.action,
        service_slug=event.service_slug,
        team_slug=event.team_slug,
        item_key=event.item_key,
        from_state=event.from_state,
        to_state=event.to_state,
        note=event.note,
        evidence_url=event.evidence_url,
        payload=event.payload,
    )
    return chain_hash(content, prev_hash)


def record(
    *,
    action: str,
    actor: AbstractBaseUser | AnonymousUser | None,
    service: Service | None = None,
    item_key: str = "",
    from_state: str = "",
    to_state: str = "",
    note: str = "",
    evidence_url: str = "",
    payload: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the chain. Call inside the transaction that made the change, so
    the change and its history commit together or not at all."""
    actor_obj = actor if actor is not None and actor.is_authenticated else None
    for attempt in range(_APPEND_ATTEMPTS):
        try:
            with transaction.atomic():
                last = AuditEvent.objects.select_for_update().order_by("-id").first()
                prev = last.hash if last else GENESIS
                event = AuditEvent(
                    created_at=timezone.now(),
                    actor=actor_obj,  # type: ignore[misc]
                    actor_name=actor_obj.get_username() if actor_obj else "preflight-system",
                    action=action,
                    service=service,
                    service_slug=service.slug if service else "",
                    team_slug=service.team.slug if service else "",
                    item_key=item_key,
                    from_state=from_state,
                    to_state=to_state,
                    note=note,
                    evidence_url=evidence_url,
                    payload=payload or {},
                    prev_hash=prev,
                )
                event.hash = event_hash(event, prev)
                event.save()
                return event
        except IntegrityError:
            # Another writer appended after our read (prev_hash is unique): read again.
            if attempt == _APPEND_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class ChainBreak:
    event_id: int
    reason: str


def _events() -> Iterator[AuditEvent]:
    return AuditEvent.objects.order_by("id").iterator(chunk_size=2000)


def verify_chain() -> tuple[int, ChainBreak | None]:
    """Walk the chain in id order. Returns (events checked, first break or None)."""
    prev = GENESIS
    checked = 0
    for event in _events():
        checked += 1
        if event.prev_hash != prev:
            return checked, ChainBreak(
                event.pk,
                "its prev_hash does not match the previous row: a row was removed or reordered",
            )
        if event_hash(event, prev) != event.hash:
            return checked, ChainBreak(
                event.pk, "its content does not match its hash: the row was edited"
            )
        prev = event.hash
    return checked, None
