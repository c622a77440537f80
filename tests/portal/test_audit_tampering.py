"""The 18 ways to tamper with the sign-off history, each detected by ``manage.py verify_audit``.

The attacker can write the database (raw SQL, past the ORM's append-only guard) and, in the
last cases, the checkpoint file too; they do not hold the audit key. Each case starts from the
same chain of 30 events with a signed checkpoint of its head published, tampers, and expects
``verify_audit`` to exit non-zero with the reason below.

 1. A hashed column edited with raw SQL (each one in turn: note, action, times, names, ...)
 2. service_id changed (the service history page filters on it; it was not hashed before)
 3. actor_id changed (an event attributed to someone else, or passed off as the system's)
 4. A row deleted in the middle
 5. Two rows swapped
 6. Rows renumbered (seq) into another order
 7. A row's prev_hash edited (alone)
 8. The last row deleted
 9. The last 25 rows deleted
10. All rows deleted
11. A row edited and the rest of the chain recomputed (without the key)
12. A row deleted and the rest of the chain recomputed (without the key)
13. A forged row appended with a valid unkeyed hash
14. A forged row inserted in the middle, the rows after it renumbered and re-linked
15. A row appended under a retired (older) key after rows sealed with the newer key
16. The chain truncated and an old checkpoint replayed at the end of the checkpoint file
17. The chain truncated and a checkpoint forged for the shorter head (a bad signature)
18. The checkpoint file edited: a checkpoint removed from the middle, or its last line cut

``test_the_docstring_enumerates_every_case`` keeps this list and the CASES registry equal and
counts them: 18 of 18.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from portal import audit, checkpoints
from portal.models import AuditEvent, Service

KEY = "security.cors_allowlist"
EVENTS = 30

Case = Callable[[list[AuditEvent], Path], str]
LISTED = {int(n): t for n, t in re.findall(r"^\s*(\d+)\. (.+)$", __doc__ or "", flags=re.M)}
CASES: list[tuple[int, str, Case]] = []


def case(number: int) -> Callable[[Case], Case]:
    """Register a tampering case under its number in the module docstring."""

    def register(fn: Case) -> Case:
        CASES.append((number, LISTED[number], fn))
        return fn

    return register


def _build_chain(service: Service, lead: Any) -> list[AuditEvent]:
    for n in range(EVENTS - 1):
        audit.record(
            action=AuditEvent.Action.NOT_APPLICABLE if n % 2 else AuditEvent.Action.REOPEN,
            actor=lead if n % 3 else None,
            service=service,
            item_key=KEY,
            from_state="open",
            to_state="na",
            note=f"reason {n}",
            evidence_url=f"https://wiki.example.com/{n}",
            payload={"n": n},
        )
    assert checkpoints.publish() is not None
    events = list(AuditEvent.objects.order_by("seq"))
    assert len(events) == EVENTS
    return events


@pytest.fixture
def chain(service, lead) -> list[AuditEvent]:
    """service_created + 29 more events, by the lead and by the system; a checkpoint of the
    head (event 30) is published."""
    return _build_chain(service, lead)


def _table() -> str:
    return AuditEvent._meta.db_table


def _sql(query: str, params: list[Any] | None = None) -> None:
    with connection.cursor() as cur:
        cur.execute(query, params or [])


def _unkeyed(event: AuditEvent, prev: str) -> str:
    """What an attacker without the key computes: the chain's formula with SHA-256."""
    return hashlib.sha256(audit.event_content(event) + prev.encode()).hexdigest()


def _reseal_from(seq: int, *, forge: bool = False) -> None:
    """Re-link and re-seal every row from ``seq`` on: with the real key (setting up), or as an
    attacker would (``forge``: the unkeyed formula)."""
    rows = list(AuditEvent.objects.filter(seq__gte=seq).order_by("seq"))
    before = AuditEvent.objects.filter(seq__lt=seq).order_by("-seq").first()
    prev = before.hash if before else audit.GENESIS
    key = audit.signing_key()
    for row in rows:
        _sql(
            f"UPDATE {_table()} SET prev_hash = %s, hash = %s WHERE id = %s",
            [f"p{row.pk}", f"h{row.pk}", row.pk],
        )  # unique columns: park first
    for row in rows:
        row.key_id = row.key_id if forge else key.id
        digest = _unkeyed(row, prev) if forge else audit.event_hash(row, prev, key)
        _sql(
            f"UPDATE {_table()} SET prev_hash = %s, hash = %s, key_id = %s WHERE id = %s",
            [prev, digest, row.key_id, row.pk],
        )
        prev = digest


def _insert(**columns: Any) -> None:
    names = ", ".join(columns)
    marks = ", ".join(["%s"] * len(columns))
    values = [json.dumps(v) if isinstance(v, dict) else v for v in columns.values()]
    _sql(f"INSERT INTO {_table()} ({names}) VALUES ({marks})", values)


def _copy_of(event: AuditEvent, **changes: Any) -> dict[str, Any]:
    columns = {f.attname: getattr(event, f.attname) for f in AuditEvent._meta.concrete_fields}
    columns.pop("id")
    columns.update(changes)
    return columns


def _verify_fails() -> str:
    with pytest.raises(CommandError) as caught:
        call_command("verify_audit")
    return str(caught.value)


# --- the cases ------------------------------------------------------------------------------

HASHED_EDITS: dict[str, Any] = {
    "note": "forged",
    "action": AuditEvent.Action.TICK,
    "actor_name": "someone-else",
    "service_slug": "another-service",
    "team_slug": "another-team",
    "item_key": "other.item",
    "from_state": "done",
    "to_state": "open",
    "evidence_url": "https://evil.example.com/",
    "payload": json.dumps({"n": -1}),
    "created_at": "2020-01-01 00:00:00",
    "key_id": "0" * 16,
}


@case(1)
def edit_each_hashed_column(chain: list[AuditEvent], _: Path) -> str:
    target = chain[10]
    messages = []
    for column, value in HASHED_EDITS.items():
        _sql(f"SAVEPOINT edit_{column}")
        _sql(f"UPDATE {_table()} SET {column} = %s WHERE id = %s", [value, target.pk])
        messages.append(_verify_fails())
        _sql(f"ROLLBACK TO SAVEPOINT edit_{column}")
    assert all(f"event #{target.pk}" in m for m in messages), messages
    return messages[0]


@case(2)
def change_service_id(chain: list[AuditEvent], _: Path) -> str:
    other = Service.objects.create(
        name="Other", slug="other", team=chain[0].service.team, template=chain[0].service.template
    )
    _sql(f"UPDATE {_table()} SET service_id = %s WHERE id = %s", [other.pk, chain[5].pk])
    return _verify_fails()


@case(3)
def change_actor_id(chain: list[AuditEvent], _: Path) -> str:
    human = next(e for e in chain[1:] if e.actor_id is not None)
    _sql(f"UPDATE {_table()} SET actor_id = NULL WHERE id = %s", [human.pk])
    return _verify_fails()


@case(4)
def delete_middle(chain: list[AuditEvent], _: Path) -> str:
    _sql(f"DELETE FROM {_table()} WHERE id = %s", [chain[12].pk])
    return _verify_fails()


@case(5)
def swap_rows(chain: list[AuditEvent], _: Path) -> str:
    a, b = chain[7], chain[8]
    cols = [f.attname for f in AuditEvent._meta.concrete_fields if f.attname != "id"]
    for n, row in enumerate((a, b)):  # unique columns: park both rows first
        _sql(
            f"UPDATE {_table()} SET seq = %s, prev_hash = %s, hash = %s WHERE id = %s",
            [10_000 + n, f"p{n}", f"h{n}", row.pk],
        )
    for src, dst in ((b, a), (a, b)):
        values = [getattr(src, c) for c in cols]
        values = [json.dumps(v) if isinstance(v, dict) else v for v in values]
        sets = ", ".join(f"{c} = %s" for c in cols)
        _sql(f"UPDATE {_table()} SET {sets} WHERE id = %s", [*values, dst.pk])
    return _verify_fails()


@case(6)
def renumber(chain: list[AuditEvent], _: Path) -> str:
    a, b = chain[3], chain[20]
    _sql(f"UPDATE {_table()} SET seq = %s WHERE id = %s", [99_999, a.pk])
    _sql(f"UPDATE {_table()} SET seq = %s WHERE id = %s", [a.seq, b.pk])
    _sql(f"UPDATE {_table()} SET seq = %s WHERE id = %s", [b.seq, a.pk])
    return _verify_fails()


@case(7)
def edit_prev_hash(chain: list[AuditEvent], _: Path) -> str:
    _sql(f"UPDATE {_table()} SET prev_hash = %s WHERE id = %s", ["f" * 64, chain[15].pk])
    return _verify_fails()


@case(8)
def delete_last(chain: list[AuditEvent], _: Path) -> str:
    _sql(f"DELETE FROM {_table()} WHERE id = %s", [chain[-1].pk])
    message = _verify_fails()
    assert "1 event(s) were removed from its end" in message
    return message


@case(9)
def delete_last_25(chain: list[AuditEvent], _: Path) -> str:
    _sql(f"DELETE FROM {_table()} WHERE seq > %s", [EVENTS - 25])
    message = _verify_fails()
    assert "25 event(s) were removed from its end" in message
    return message


@case(10)
def delete_all(chain: list[AuditEvent], _: Path) -> str:
    _sql(f"DELETE FROM {_table()}")
    message = _verify_fails()
    assert "30 event(s) were removed" in message
    return message


@case(11)
def edit_and_recompute(chain: list[AuditEvent], _: Path) -> str:
    _sql(f"UPDATE {_table()} SET note = %s WHERE id = %s", ["forged", chain[9].pk])
    _reseal_from(chain[9].seq, forge=True)
    return _verify_fails()


@case(12)
def delete_and_recompute(chain: list[AuditEvent], _: Path) -> str:
    _sql(f"DELETE FROM {_table()} WHERE id = %s", [chain[9].pk])
    # Renumber past the gap (in two steps: seq is unique, checked row by row).
    _sql(f"UPDATE {_table()} SET seq = seq + 100000 WHERE seq > %s", [chain[9].seq])
    _sql(f"UPDATE {_table()} SET seq = seq - 100001 WHERE seq >= 100000")
    _reseal_from(chain[9].seq, forge=True)
    return _verify_fails()


@case(13)
def append_forged(chain: list[AuditEvent], _: Path) -> str:
    last = chain[-1]
    forged = AuditEvent(**_copy_of(last, seq=last.seq + 1, note="approved", prev_hash=last.hash))
    forged.hash = _unkeyed(forged, last.hash)
    _insert(**_copy_of(forged))
    return _verify_fails()


@case(14)
def insert_middle(chain: list[AuditEvent], _: Path) -> str:
    at = chain[14]
    _sql(f"UPDATE {_table()} SET seq = seq + 100000 WHERE seq >= %s", [at.seq])
    _sql(f"UPDATE {_table()} SET seq = seq - 100000 + 1 WHERE seq >= 100000")
    _insert(**_copy_of(at, seq=at.seq, note="inserted", prev_hash="x" * 64, hash="y" * 64))
    _reseal_from(at.seq, forge=True)
    return _verify_fails()


@case(15)
def append_with_retired_key(chain: list[AuditEvent], _: Path) -> str:
    # The chain so far is sealed with the key now listed second (rotated out); a newer key
    # seals one more row; then a row sealed with the old key (leaked, say) is appended.
    old = list(settings.PREFLIGHT_AUDIT_KEYS)
    settings.PREFLIGHT_AUDIT_KEYS = [secrets.token_urlsafe(32), *old]
    try:
        audit.record(action=AuditEvent.Action.REOPEN, actor=None, note="after rotation")
        last = AuditEvent.objects.order_by("-seq").first()
        assert last is not None
        retired = audit.keyring()[1]
        forged = AuditEvent(
            **_copy_of(last, seq=last.seq + 1, key_id=retired.id, prev_hash=last.hash)
        )
        forged.hash = audit.event_hash(forged, last.hash, retired)
        _insert(**_copy_of(forged))
        message = _verify_fails()
        assert "older than the key of the row before it" in message
        return message
    finally:
        settings.PREFLIGHT_AUDIT_KEYS = old


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


@case(16)
def truncate_and_replay(chain: list[AuditEvent], path: Path) -> str:
    first = _lines(path)[0]  # the checkpoint at event 30
    audit.record(action=AuditEvent.Action.REOPEN, actor=None, note="31")
    checkpoints.publish()  # a checkpoint at event 31
    _sql(f"DELETE FROM {_table()} WHERE seq > %s", [EVENTS])
    with path.open("a") as fh:
        fh.write(first + "\n")  # replay the checkpoint that matches the truncated chain
    message = _verify_fails()
    assert "replayed" in message
    return message


@case(17)
def forge_checkpoint(chain: list[AuditEvent], path: Path) -> str:
    _sql(f"DELETE FROM {_table()} WHERE seq > %s", [20])
    head = AuditEvent.objects.get(seq=20)
    last = json.loads(_lines(path)[-1])
    forged = checkpoints.Checkpoint(
        seq=20, hash=head.hash, at=last["at"] + "1", key_id=last["key_id"], prev=last["sig"]
    )
    attacker = audit.AuditKey(id=last["key_id"], secret=b"a guess" * 8, rank=0)
    body = forged.body()
    doc = {**json.loads(forged.to_json()), "sig": attacker.mac(body)}
    with path.open("a") as fh:
        fh.write(json.dumps(doc) + "\n")
    message = _verify_fails()
    assert "bad signature" in message
    return message


@case(18)
def edit_checkpoint_file(chain: list[AuditEvent], path: Path) -> str:
    for n in range(2):
        audit.record(action=AuditEvent.Action.REOPEN, actor=None, note=f"more {n}")
        checkpoints.publish()
    lines = _lines(path)
    assert len(lines) == 3
    path.write_text("\n".join([lines[0], lines[2]]) + "\n")  # the middle one removed
    removed = _verify_fails()
    assert "checkpoints were removed" in removed
    path.write_text("\n".join(lines) + "\n" + lines[2][:40])  # a line cut short
    cut = _verify_fails()
    assert "cut" in cut
    return removed


# --- the tests ------------------------------------------------------------------------------


def test_the_untampered_chain_verifies(chain, capsys) -> None:
    call_command("verify_audit")
    out = capsys.readouterr().out
    assert f"{EVENTS} events verified" in out and "event number 30" in out


@pytest.mark.parametrize("number,title,tamper", CASES, ids=[f"{n:02d}" for n, _, _ in CASES])
def test_tampering_is_detected(chain, checkpoint_file, number, title, tamper) -> None:
    message = tamper(chain, checkpoint_file)
    print(f"case {number:2d} ({title}): " + message.replace("\n", " "))
    assert "NOT verified" in message, f"case {number} ({title}) went undetected"


def test_the_docstring_enumerates_every_case() -> None:
    assert sorted(LISTED) == list(range(1, 19))
    assert sorted(n for n, _, _ in CASES) == sorted(LISTED)


def test_tampering_18_of_18_detected(service, lead, settings, tmp_path, capsys) -> None:
    """All the cases again, one after the other on fresh chains (each rolled back), counted."""
    detected, missed = [], []
    for number, title, tamper in sorted(CASES, key=lambda c: c[0]):
        path = tmp_path / f"case-{number}.jsonl"
        settings.PREFLIGHT_AUDIT_CHECKPOINT_PATH = path
        with transaction.atomic():
            events = _build_chain(service, lead)
            try:
                message = tamper(events, path)
            except (AssertionError, pytest.fail.Exception):
                message = ""
            (detected if "NOT verified" in message else missed).append(f"{number}. {title}")
            transaction.set_rollback(True)
    with capsys.disabled():
        print(f"\nTampering: {len(detected)} of {len(LISTED)} detected")
    assert not missed, missed
    assert len(detected) == len(LISTED) == 18
