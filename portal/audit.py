"""The keyed hash chain behind the sign-off history.

Each AuditEvent is *sealed*: ``hash = HMAC-SHA256(key, canonical content + prev_hash)``. The
canonical content holds every column a page or an export relies on: the row's position in the
chain (``seq``), the id of the key that sealed it, the time, the actor's id and name, the
action, the service's id and slug, the team, the item, from/to, note, evidence and payload.
``prev_hash`` is the previous row's hash, so the rows form one chain from ``GENESIS``.

The key comes from the environment (``PREFLIGHT_AUDIT_KEYS``, newest first) and never from the
database: someone who can write the table but does not hold the key cannot produce a row, an
edit or a recomputed chain that verifies. Each row names the key that sealed it (``key_id``,
derived from the key, never the key), so keys rotate without re-sealing: new rows use the
newest key, older keys keep verifying the rows they sealed, and a row may never be sealed with
an older key than the row before it.

What the chain alone cannot show is rows cut off its end (or all of them): the head is
therefore published, signed, outside the database (:mod:`portal.checkpoints`), and
``manage.py verify_audit`` proves the chain still reaches the last published head.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from portal.actors import SYSTEM_ACTOR_NAME
from portal.models import AuditEvent, Service

GENESIS = "0" * 64
FORMAT = 2  # of the canonical content; 1 was unkeyed SHA-256 (see the re-seal migration)
MIN_KEY_CHARS = 32
_APPEND_ATTEMPTS = 5
# PostgreSQL advisory lock that serializes appends to the chain (any constant: the chain's own).
_CHAIN_LOCK = 0x5052_4546  # "PREF"


@dataclass(frozen=True)
class AuditKey:
    """One HMAC key of the chain. ``id`` is derived from the secret (a MAC of a constant), so
    it can be stored and shown without revealing anything about the key."""

    id: str
    secret: bytes = field(repr=False)
    rank: int  # 0 = the newest (the one that seals new rows and checkpoints)
    _base: hmac.HMAC = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Keyed once; each MAC starts from a copy (a walk computes one per row).
        object.__setattr__(self, "_base", hmac.new(self.secret, digestmod=hashlib.sha256))

    def mac(self, message: bytes) -> str:
        h = self._base.copy()
        h.update(message)
        return h.hexdigest()


def key_id_of(secret: bytes) -> str:
    return hmac.new(secret, b"preflight audit key id", hashlib.sha256).hexdigest()[:16]


@lru_cache(maxsize=8)
def _keyring(entries: tuple[str, ...]) -> tuple[AuditKey, ...]:
    if not entries:
        raise ImproperlyConfigured("PREFLIGHT_AUDIT_KEYS is empty: the audit chain needs a key")
    keys = []
    for rank, entry in enumerate(entries):
        if len(entry) < MIN_KEY_CHARS:
            raise ImproperlyConfigured(
                f"PREFLIGHT_AUDIT_KEYS entry {rank + 1} is shorter than {MIN_KEY_CHARS} "
                'characters; generate one with: python -c "import secrets;'
                'print(secrets.token_urlsafe(32))"'
            )
        secret = entry.encode()
        keys.append(AuditKey(id=key_id_of(secret), secret=secret, rank=rank))
    return tuple(keys)


def keyring() -> tuple[AuditKey, ...]:
    """The configured keys, newest first."""
    return _keyring(tuple(settings.PREFLIGHT_AUDIT_KEYS))


def signing_key() -> AuditKey:
    return keyring()[0]


def key_by_id(key_id: str) -> AuditKey | None:
    return next((k for k in keyring() if k.id == key_id), None)


def canonical_content(
    *,
    seq: int,
    key_id: str,
    created_at: datetime,
    actor_id: int | None,
    actor_name: str,
    action: str,
    service_id: int | None,
    service_slug: str,
    team_slug: str,
    item_key: str,
    from_state: str,
    to_state: str,
    note: str,
    evidence_url: str,
    payload: Any,
) -> bytes:
    """The bytes that are sealed: sorted-key JSON, microsecond UTC timestamp."""
    doc = {
        "v": FORMAT,
        "seq": seq,
        "key": key_id,
        "created_at": created_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_id": actor_id,
        "actor_name": actor_name,
        "action": action,
        "service_id": service_id,
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


def chain_hash(content: bytes, prev_hash: str, key: AuditKey) -> str:
    """The chain's formula: HMAC-SHA256 under ``key`` over the content, then the previous
    hash."""
    return key.mac(content + prev_hash.encode())


def event_content(event: AuditEvent) -> bytes:
    return canonical_content(
        seq=event.seq,
        key_id=event.key_id,
        created_at=event.created_at,
        actor_id=event.actor_id,
        actor_name=event.actor_name,
        action=event.action,
        service_id=event.service_id,
        service_slug=event.service_slug,
        team_slug=event.team_slug,
        item_key=event.item_key,
        from_state=event.from_state,
        to_state=event.to_state,
        note=event.note,
        evidence_url=event.evidence_url,
        payload=event.payload,
    )


def event_hash(event: AuditEvent, prev_hash: str, key: AuditKey) -> str:
    return chain_hash(event_content(event), prev_hash, key)


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
    """Append one event to the chain. ``actor=None`` is Preflight itself (the system actor:
    no user id). Call inside the transaction that made the change, so the change and its
    history commit together or not at all."""
    if actor is not None and not actor.is_authenticated:
        # Never let an anonymous request pass for the system.
        raise ValueError("an audit event needs a signed-in actor, or None for the system")
    actor_obj = actor
    key = signing_key()
    for attempt in range(_APPEND_ATTEMPTS):
        try:
            with transaction.atomic():
                _lock_chain()
                last = AuditEvent.objects.select_for_update().order_by("-seq").first()
                prev = last.hash if last else GENESIS
                event = AuditEvent(
                    seq=(last.seq + 1) if last else 1,
                    key_id=key.id,
                    created_at=timezone.now(),
                    actor=actor_obj,  # type: ignore[misc]
                    actor_name=actor_obj.get_username() if actor_obj else SYSTEM_ACTOR_NAME,
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
                event.hash = event_hash(event, prev, key)
                event.save()
                return event
        except IntegrityError:
            # Another writer appended after our read (seq and prev_hash are unique): again.
            if attempt == _APPEND_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _lock_chain() -> None:
    """Serialize appends until the caller's transaction ends. Locking the last row is not
    enough on PostgreSQL: a writer that waited on it re-reads that same row, not the one
    appended meanwhile, and fails on the unique seq/prev_hash; with a fleet's runs finishing
    together every retry could fail alike. SQLite serializes writers by itself."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK])


def head() -> tuple[int, str]:
    """(seq, hash) of the chain's last row; (0, GENESIS) for an empty chain."""
    last = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
    return (last[0], last[1]) if last else (0, GENESIS)


@dataclass(frozen=True)
class ChainBreak:
    event_id: int
    reason: str


@dataclass
class ChainWalk:
    """What one walk of the chain found: rows read, the head reached, the first break, and
    the hashes at the sequence numbers asked for (the checkpoints to compare)."""

    checked: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    broken: ChainBreak | None = None
    hashes_at: dict[int, str] = field(default_factory=dict)


_SEALED = (
    "seq",
    "key_id",
    "created_at",
    "actor_id",
    "actor_name",
    "action",
    "service_id",
    "service_slug",
    "team_slug",
    "item_key",
    "from_state",
    "to_state",
    "note",
    "evidence_url",
    "payload",
)


@dataclass(frozen=True)
class _Row:
    pk: int
    prev_hash: str
    hash: str
    sealed: dict[str, Any]  # canonical_content's arguments

    @property
    def seq(self) -> int:
        return int(self.sealed["seq"])

    @property
    def key_id(self) -> str:
        return str(self.sealed["key_id"])


def _rows(after_seq: int) -> Iterator[_Row]:
    # Plain tuples, not model instances: a walk reads every row of the table.
    rows = (
        AuditEvent.objects.filter(seq__gt=after_seq)
        .order_by("seq")
        .values_list("id", "prev_hash", "hash", *_SEALED)
        .iterator(chunk_size=2000)
    )
    for pk, prev_hash, digest, *sealed in rows:
        yield _Row(pk, prev_hash, digest, dict(zip(_SEALED, sealed, strict=True)))


def walk_chain(
    *, want: frozenset[int] = frozenset(), start: tuple[int, str] = (0, GENESIS)
) -> ChainWalk:
    """Walk the chain in ``seq`` order from ``start`` (a (seq, hash) known to be good), checking
    every row: it follows the previous one (seq + 1, prev_hash, a higher id), it is sealed by a
    configured key no older than the previous row's, and its hash is the MAC of its content.
    Stops at the first break."""
    keys = {k.id: k for k in keyring()}
    walk = ChainWalk(head_seq=start[0], head_hash=start[1])
    prev_rank, prev_id = len(keys), 0
    for event in _rows(start[0]):
        walk.checked += 1
        reason = ""
        key = keys.get(event.key_id)
        if event.pk <= prev_id:
            # Pages list events by id: ids must rise with the chain's numbers.
            reason = "its id is lower than the previous row's: rows were swapped or reordered"
        elif event.seq != walk.head_seq + 1:
            reason = (
                f"it is number {event.seq} but follows number {walk.head_seq}: "
                "rows were removed, inserted or renumbered"
            )
        elif event.prev_hash != walk.head_hash:
            reason = (
                "its prev_hash does not match the previous row: a row was removed, "
                "inserted or reordered"
            )
        elif key is None:
            reason = f"it is sealed with key {event.key_id!r}, which is not configured"
        elif key.rank > prev_rank:
            reason = (
                f"it is sealed with key {key.id}, older than the key of the row before it: "
                "a retired key was used to write it"
            )
        elif not hmac.compare_digest(
            chain_hash(canonical_content(**event.sealed), event.prev_hash, key), event.hash
        ):
            reason = (
                "its content does not match its seal: the row was edited, or written "
                "without the key"
            )
        if reason:
            walk.broken = ChainBreak(event.pk, reason)
            return walk
        assert key is not None
        prev_rank, prev_id = key.rank, event.pk
        walk.head_seq, walk.head_hash = event.seq, event.hash
        if event.seq in want:
            walk.hashes_at[event.seq] = event.hash
    return walk


def verify_chain() -> tuple[int, ChainBreak | None]:
    """Walk the whole chain. Returns (events checked, first break or None)."""
    walk = walk_chain()
    return walk.checked, walk.broken
