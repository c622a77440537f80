from __future__ import annotations

import hashlib
import hmac
import io
import itertools
import json

import pytest
from django.contrib.admin.sites import site
from django.contrib.auth.models import AnonymousUser
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import RequestFactory

from portal import audit, services
from portal.models import AppendOnlyError, AuditEvent

KEY = "security.cors_allowlist"


@pytest.fixture
def chain(service, lead) -> list[AuditEvent]:
    """service_created + three ticks/reopens = four chained events."""
    for action, version in (("na", 0), ("reopen", 1), ("na", 2)):
        services.item_transition(
            service=service,
            item_key=KEY,
            action=action,
            actor=lead,
            seen_version=version,
            note="reason",
        )
    events = list(AuditEvent.objects.order_by("id"))
    assert len(events) == 4
    return events


def _table() -> str:
    return AuditEvent._meta.db_table


def test_every_event_links_to_the_previous_one(chain) -> None:
    assert chain[0].prev_hash == audit.GENESIS
    assert [e.seq for e in chain] == [1, 2, 3, 4]
    for before, after in itertools.pairwise(chain):
        assert after.prev_hash == before.hash
    assert audit.verify_chain() == (4, None)


def test_rows_are_sealed_with_the_key_not_a_plain_hash(chain, settings) -> None:
    event = chain[1]
    key = audit.signing_key()
    assert event.key_id == key.id and key.id not in settings.PREFLIGHT_AUDIT_KEYS[0]
    expected = hmac.new(
        settings.PREFLIGHT_AUDIT_KEYS[0].encode(),
        audit.event_content(event) + event.prev_hash.encode(),
        hashlib.sha256,
    ).hexdigest()
    assert event.hash == expected
    # Every column a page shows or filters on is in the sealed content.
    content = json.loads(audit.event_content(event))
    assert content["service_id"] == event.service_id and content["actor_id"] == event.actor_id
    assert content["seq"] == 2 and content["key"] == key.id


def test_the_key_is_nowhere_in_the_database(chain, settings) -> None:
    dump = io.StringIO()
    call_command("dumpdata", "portal.auditevent", stdout=dump)
    assert settings.PREFLIGHT_AUDIT_KEYS[0] not in dump.getvalue()


def test_verify_audit_passes_on_an_intact_chain_with_a_checkpoint(chain, capsys) -> None:
    call_command("audit_checkpoint")
    assert "checkpoint published: event number 4" in capsys.readouterr().out
    call_command("verify_audit")
    out = capsys.readouterr().out
    assert "4 events verified" in out and "reaches the last of 1 checkpoints" in out


def test_without_a_checkpoint_verify_audit_fails_unless_told(chain, capsys) -> None:
    with pytest.raises(CommandError, match="no checkpoint found"):
        call_command("verify_audit")
    call_command("verify_audit", "--no-checkpoint")
    assert "4 events verified; no checkpoint to compare with" in capsys.readouterr().out


def test_an_empty_chain_verifies_without_a_checkpoint(db, capsys) -> None:
    call_command("verify_audit")
    assert "0 events verified" in capsys.readouterr().out


def test_an_anonymous_actor_is_refused_rather_than_passed_off_as_the_system(db) -> None:
    with pytest.raises(ValueError, match="signed-in actor"):
        audit.record(action=AuditEvent.Action.REOPEN, actor=AnonymousUser())
    assert not AuditEvent.objects.exists()


def test_a_row_edited_with_raw_sql_breaks_the_chain_at_that_row(chain) -> None:
    with connection.cursor() as cur:
        cur.execute(f"UPDATE {_table()} SET note = %s WHERE id = %s", ["forged", chain[2].pk])
    with pytest.raises(CommandError, match=rf"event #{chain[2].pk}: its content"):
        call_command("verify_audit")


def test_a_deleted_row_breaks_the_chain_at_the_next_row(chain) -> None:
    with connection.cursor() as cur:
        cur.execute(f"DELETE FROM {_table()} WHERE id = %s", [chain[1].pk])
    with pytest.raises(CommandError, match=rf"event #{chain[2].pk}: it is number 3 but follows"):
        call_command("verify_audit")


def test_two_swapped_rows_break_the_chain(chain) -> None:
    # Swap the whole content of rows 2 and 3 (ids stay): the order of history changed.
    a, b = chain[1], chain[2]
    cols = ["note", "action", "from_state", "to_state", "prev_hash", "hash", "created_at"]
    cols += ["seq"]
    with connection.cursor() as cur:
        for tmp, row in ((1, a), (2, b)):  # unique columns: park both rows first
            cur.execute(
                f"UPDATE {_table()} SET prev_hash = %s, hash = %s, seq = %s WHERE id = %s",
                [f"p{tmp}", f"h{tmp}", 1000 + tmp, row.pk],
            )
        for src, dst in ((b, a), (a, b)):
            sets = ", ".join(f"{c} = %s" for c in cols)
            values = [getattr(src, c) for c in cols]
            cur.execute(f"UPDATE {_table()} SET {sets} WHERE id = %s", [*values, dst.pk])
    _checked, broken = audit.verify_chain()
    # Walked in seq order, the row now numbered 2 (id b) comes first and fails its seal.
    assert broken is not None and broken.event_id == b.pk
    with pytest.raises(CommandError, match=rf"#{b.pk}"):
        call_command("verify_audit")


def test_the_orm_has_no_update_or_delete_path(chain) -> None:
    event = chain[0]
    event.note = "changed"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(note="x")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    assert audit.verify_chain()[1] is None


def test_the_admin_offers_no_add_change_or_delete(chain, admin_user) -> None:
    request = RequestFactory().get("/admin/")
    request.user = admin_user
    model_admin = site._registry[AuditEvent]
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, chain[0])
    assert not model_admin.has_delete_permission(request, chain[0])
