"""The audit chain becomes keyed (HMAC-SHA256 with PREFLIGHT_AUDIT_KEYS) and numbered (seq).

Existing rows were chained with unkeyed SHA-256 (format 1). This migration first verifies that
chain as it stands — a broken one is not vouched for: the migration stops, unless
PREFLIGHT_AUDIT_RESEAL_BROKEN=1 says to seal the history as it is — then numbers the rows in
id order and re-seals each one under the newest key (format 2, portal.audit), in place. From
then on the key, not the table, is what an edit would need. Reversible: going back re-chains
the rows with the unkeyed formula of format 1.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC
from typing import Any

from django.db import migrations, models

GENESIS = "0" * 64
BATCH = 2000


def _v1_hash(row: Any, prev: str) -> str:
    """Format 1, frozen here: SHA-256 over sorted-key JSON of the content, then prev_hash."""
    doc = {
        "created_at": row.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_id": row.actor_id,
        "actor_name": row.actor_name,
        "action": row.action,
        "service": row.service_slug,
        "team": row.team_slug,
        "item": row.item_key,
        "from": row.from_state,
        "to": row.to_state,
        "note": row.note,
        "evidence": row.evidence_url,
        "payload": row.payload,
    }
    content = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(content.encode() + prev.encode()).hexdigest()


def _rows(apps: Any) -> Any:
    return apps.get_model("portal", "AuditEvent").objects.order_by("id").iterator(chunk_size=BATCH)


def reseal(apps: Any, schema_editor: Any) -> None:
    from portal import audit  # the current formula (format 2) and the configured key

    model = apps.get_model("portal", "AuditEvent")
    prev_v1 = GENESIS
    for row in _rows(apps):
        if row.prev_hash != prev_v1 or _v1_hash(row, prev_v1) != row.hash:
            if os.environ.get("PREFLIGHT_AUDIT_RESEAL_BROKEN") != "1":
                raise RuntimeError(
                    f"audit chain BROKEN at event #{row.pk} before re-sealing it under the key: "
                    "restore a good backup, or set PREFLIGHT_AUDIT_RESEAL_BROKEN=1 to seal the "
                    "history as it stands (README, 'Sign-off history')"
                )
            break
        prev_v1 = row.hash
    key = audit.signing_key()
    prev, batch = GENESIS, []
    for seq, row in enumerate(_rows(apps), start=1):
        row.seq, row.key_id, row.prev_hash = seq, key.id, prev
        row.hash = prev = audit.event_hash(row, prev, key)
        batch.append(row)
        if len(batch) == BATCH:
            model.objects.bulk_update(batch, ["seq", "key_id", "prev_hash", "hash"])
            batch = []
    if batch:
        model.objects.bulk_update(batch, ["seq", "key_id", "prev_hash", "hash"])


def unseal(apps: Any, schema_editor: Any) -> None:
    model = apps.get_model("portal", "AuditEvent")
    prev, batch = GENESIS, []
    for row in _rows(apps):
        row.prev_hash = prev
        row.hash = prev = _v1_hash(row, prev)
        batch.append(row)
        if len(batch) == BATCH:
            model.objects.bulk_update(batch, ["prev_hash", "hash"])
            batch = []
    if batch:
        model.objects.bulk_update(batch, ["prev_hash", "hash"])


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0002_audit_actions"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="seq",
            field=models.PositiveBigIntegerField(null=True),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="key_id",
            field=models.CharField(default="", max_length=32),
            preserve_default=False,
        ),
        migrations.RunPython(reseal, unseal, elidable=False),
        migrations.AlterField(
            model_name="auditevent",
            name="seq",
            field=models.PositiveBigIntegerField(unique=True),
        ),
    ]
