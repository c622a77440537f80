"""Signed checkpoints of the audit chain (portal.checkpoints), key rotation, the beat task and
the migration that re-seals an existing unkeyed chain under the key."""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings as live_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from app.jsonlog import JsonFormatter
from portal import audit, checkpoints, tasks
from portal.models import AuditEvent

KEY = "security.cors_allowlist"


def _events(n: int, **extra: object) -> None:
    for i in range(n):
        audit.record(action=AuditEvent.Action.REOPEN, actor=None, note=f"event {i}", **extra)  # type: ignore[arg-type]


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_checkpoint_goes_to_the_file_and_the_json_log_stream(db, checkpoint_file, caplog):
    _events(3)
    with caplog.at_level(logging.INFO, logger="preflight.audit"):
        checkpoint = checkpoints.publish()
    assert checkpoint is not None and checkpoint.seq == 3
    assert checkpoint.hash == AuditEvent.objects.get(seq=3).hash
    (line,) = _lines(checkpoint_file)
    assert line["seq"] == 3 and line["key_id"] == audit.signing_key().id and line["sig"]
    (record,) = [r for r in caplog.records if r.name == "preflight.audit"]
    logged = json.loads(JsonFormatter().format(record))  # what the log stream carries
    assert json.loads(logged["checkpoint"]) == line
    assert checkpoint.signature_ok()
    # Evidence, not chatter: logged whatever LOG_LEVEL the root logger has.
    assert logging.getLogger("preflight.audit").level == logging.INFO


def test_the_head_is_published_once_unless_forced(db, checkpoint_file):
    _events(2)
    assert checkpoints.publish() is not None
    assert checkpoints.publish() is None
    assert checkpoints.publish(force=True) is not None
    first, second = _lines(checkpoint_file)
    assert second["prev"] == first["sig"]  # the checkpoints form a chain of their own


def test_verify_audit_can_take_the_checkpoints_from_an_export_of_the_logs(
    db, checkpoint_file, caplog, tmp_path, capsys
):
    with caplog.at_level(logging.INFO):
        _events(2)
        checkpoints.publish()
        _events(1)
        checkpoints.publish()
        logging.getLogger("django.request").warning("unrelated line")
    export = tmp_path / "logs.jsonl"
    formatter = JsonFormatter()
    lines = [formatter.format(r) for r in caplog.records] + ["a line of text, not JSON"]
    export.write_text("\n".join(lines) + "\n")
    checkpoint_file.unlink()  # the file is gone: the log stream still proves the head
    call_command("verify_audit", "--logs", str(export))
    assert "reaches the last of 2 checkpoints (event number 3" in capsys.readouterr().out
    AuditEvent.objects.filter(seq=3)._raw_delete(AuditEvent.objects.db)
    with pytest.raises(CommandError, match="1 event\\(s\\) were removed from its end"):
        call_command("verify_audit", "--logs", str(export))


def test_nothing_is_published_for_a_broken_chain(db, checkpoint_file, caplog):
    _events(3)
    checkpoints.publish()
    _events(2)
    with connection.cursor() as cur:
        cur.execute(f"UPDATE {AuditEvent._meta.db_table} SET note = 'forged' WHERE seq = 4")
    with pytest.raises(CommandError, match="no checkpoint published: audit chain BROKEN"):
        call_command("audit_checkpoint")
    with caplog.at_level(logging.CRITICAL, logger="preflight.audit"):
        outcome = tasks.publish_audit_checkpoint()  # what beat runs, as a plain function
    assert outcome["published"] is False and "BROKEN" in outcome["problem"]
    assert any("NOT published" in r.getMessage() for r in caplog.records)
    assert len(_lines(checkpoint_file)) == 1


def test_a_restored_backup_needs_a_signed_rollback_reason(db, checkpoint_file, capsys):
    _events(5)
    checkpoints.publish()
    # A backup taken at event 3 is restored: events 4 and 5 are lost.
    AuditEvent.objects.filter(seq__gt=3)._raw_delete(AuditEvent.objects.db)
    with pytest.raises(CommandError, match="removed from its end"):
        call_command("verify_audit")
    with pytest.raises(CommandError, match="no longer reaches the last checkpoint"):
        call_command("audit_checkpoint")
    call_command("audit_checkpoint", "--rollback", "restored the backup of 2026-01-31")
    assert _lines(checkpoint_file)[-1]["rollback"] == "restored the backup of 2026-01-31"
    call_command("verify_audit")
    assert "event number 3" in capsys.readouterr().out
    _events(1)  # and life goes on from there
    call_command("audit_checkpoint")
    call_command("verify_audit")


def test_a_head_moving_back_without_a_reason_is_refused_even_when_signed(db, checkpoint_file):
    _events(4)
    checkpoints.publish()
    first = checkpoints.read(checkpoints.Source(checkpoint_file))[0]
    back = checkpoints.Checkpoint(
        seq=2,
        hash=AuditEvent.objects.get(seq=2).hash,
        at=(datetime.now(UTC) + timedelta(seconds=1)).isoformat(),
        key_id="",
        prev=first.sig,
    ).signed_by(audit.signing_key())
    problems = checkpoints.check_sequence([first, back])
    assert problems == [
        f"checkpoint #2 (seq 2, {back.at}) moves the head back from 4 to 2 with no signed reason"
    ]


def test_keys_rotate_without_resealing(db, checkpoint_file, settings, capsys):
    old_key = settings.PREFLIGHT_AUDIT_KEYS[0]
    _events(2)
    checkpoints.publish()
    settings.PREFLIGHT_AUDIT_KEYS = [secrets.token_urlsafe(32), old_key]  # newest first
    _events(2)
    new_id, old_id = (k.id for k in audit.keyring())
    assert list(AuditEvent.objects.order_by("seq").values_list("key_id", flat=True)) == [
        old_id,
        old_id,
        new_id,
        new_id,
    ]
    checkpoint = checkpoints.publish()
    assert checkpoint is not None and checkpoint.key_id == new_id
    call_command("verify_audit")
    assert "4 events verified" in capsys.readouterr().out
    settings.PREFLIGHT_AUDIT_KEYS = settings.PREFLIGHT_AUDIT_KEYS[:1]  # the old key dropped
    with pytest.raises(CommandError, match=f"sealed with key '{old_id}', which is not configured"):
        call_command("verify_audit")


def test_a_short_key_is_refused(db, settings):
    settings.PREFLIGHT_AUDIT_KEYS = ["too-short"]
    with pytest.raises(ImproperlyConfigured, match="shorter than 32 characters"):
        audit.signing_key()


def test_beat_publishes_checkpoints_on_the_configured_interval(db, checkpoint_file):
    entry = live_settings.CELERY_BEAT_SCHEDULE["audit-checkpoint"]
    assert entry["task"] == tasks.publish_audit_checkpoint.name
    assert entry["schedule"] == float(live_settings.PREFLIGHT_AUDIT_CHECKPOINT_INTERVAL_S)
    _events(1)
    assert tasks.publish_audit_checkpoint() == {"published": True, "seq": 1}
    assert tasks.publish_audit_checkpoint() == {"published": False, "seq": None}


# --- the migration that re-seals an existing chain -------------------------------------------

BEFORE = [("portal", "0002_audit_actions")]
MIGRATION = importlib.import_module("portal.migrations.0003_audit_keyed_chain")


def _unkeyed_v1(row, prev: str) -> str:
    """The formula before the upgrade (format 1), written out again here on purpose."""
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
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode() + prev.encode()).hexdigest()


def _migrate(target) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)
    return executor


def _old_chain(executor: MigrationExecutor, n: int, *, break_at: int = -1) -> None:
    model = executor.loader.project_state(BEFORE).apps.get_model("portal", "AuditEvent")
    prev, start = audit.GENESIS, datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(n):
        row = model(
            created_at=start + timedelta(minutes=i),
            actor_name="lead",
            action="reopen",
            note=f"note {i}",
            payload={"i": i},
            prev_hash=prev,
        )
        row.hash = _unkeyed_v1(row, prev) if i != break_at else "b" * 64
        row.save()
        prev = row.hash


@pytest.mark.django_db(transaction=True)
def test_the_migration_reseals_an_unkeyed_chain_and_refuses_a_broken_one(monkeypatch):
    leaves = None
    try:
        executor = _migrate(BEFORE)
        leaves = executor.loader.graph.leaf_nodes()
        _old_chain(executor, 6)
        _migrate(leaves)
        assert audit.verify_chain() == (6, None)
        rows = list(AuditEvent.objects.order_by("id"))
        assert [r.seq for r in rows] == [1, 2, 3, 4, 5, 6]
        assert {r.key_id for r in rows} == {audit.signing_key().id}
        # Back again: the unkeyed chain of format 1 is restored, and it verifies as such.
        executor = _migrate(BEFORE)
        model = executor.loader.project_state(BEFORE).apps.get_model("portal", "AuditEvent")
        prev = audit.GENESIS
        for row in model.objects.order_by("id"):
            assert row.prev_hash == prev and row.hash == _unkeyed_v1(row, prev)
            prev = row.hash
        model.objects.all().delete()
        # A chain broken before the upgrade is not vouched for...
        _old_chain(executor, 4, break_at=2)
        with pytest.raises(RuntimeError, match="audit chain BROKEN at event"):
            _migrate(leaves)
        # ...unless the operator says to seal it as it stands.
        monkeypatch.setenv("PREFLIGHT_AUDIT_RESEAL_BROKEN", "1")
        _migrate(leaves)
        assert audit.verify_chain() == (4, None)
    finally:
        if leaves is not None:
            monkeypatch.setenv("PREFLIGHT_AUDIT_RESEAL_BROKEN", "1")
            _migrate(leaves)
    assert MIGRATION.GENESIS == audit.GENESIS
