"""Signed checkpoints of the audit chain's head, published outside the database.

A checkpoint says "the chain had ``seq`` rows and its last hash was ``hash`` at ``at``", signed
(HMAC-SHA256) with the newest audit key. Each one also carries the signature of the one before
it (``prev``), so the checkpoints form a chain of their own: one removed, edited, reordered or
replayed out of place is seen. They are published on demand (``manage.py audit_checkpoint``)
and periodically (beat: ``portal.tasks.publish_audit_checkpoint``) to two places, so that
someone who can rewrite the database cannot also rewrite the evidence:

- the log stream: one JSON log line (logger ``preflight.audit``) whose ``checkpoint`` field is
  the checkpoint (ship the logs to a store the database's writers cannot change);
- an append-only file, ``PREFLIGHT_AUDIT_CHECKPOINT_PATH`` (one JSON line per checkpoint):
  point it at write-once storage in production (README, "Sign-off history").

A checkpoint is published only if the rows since the previous one verify and the chain still
reaches the previous head; it never moves backwards unless an operator says why (``rollback``,
e.g. after restoring a backup), and that reason is signed with it.

:func:`verify` is what ``manage.py verify_audit`` runs: the chain is intact, the checkpoints are
genuine and continuous, and the chain still reaches every checkpoint since the last rollback —
the last one included, so rows cut off the end (or all rows) are found.
"""

from __future__ import annotations

import contextlib
import fcntl
import hmac
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.utils import timezone

from portal import audit
from portal.models import AuditEvent

CHECKPOINT_TYPE = "preflight.audit.checkpoint"
_FIELDS = ("seq", "hash", "at", "key_id", "prev", "rollback")
_TAIL_BYTES = 64 * 1024
logger = logging.getLogger("preflight.audit")


class CheckpointError(Exception):
    """The chain or the checkpoints cannot be vouched for: nothing is published."""


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    at: str  # ISO 8601, UTC
    key_id: str
    prev: str  # the previous checkpoint's signature; "" for the first
    rollback: str = ""  # why the head moved back on purpose (a restored backup), else ""
    sig: str = ""

    def body(self) -> bytes:
        doc = {"type": CHECKPOINT_TYPE, **{name: getattr(self, name) for name in _FIELDS}}
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    def signed_by(self, key: audit.AuditKey) -> Checkpoint:
        unsigned = Checkpoint(**{**asdict(self), "key_id": key.id, "sig": ""})
        return Checkpoint(**{**asdict(unsigned), "sig": key.mac(unsigned.body())})

    def signature_ok(self) -> bool:
        key = audit.key_by_id(self.key_id)
        unsigned = Checkpoint(**{**asdict(self), "sig": ""})
        return key is not None and hmac.compare_digest(key.mac(unsigned.body()), self.sig)

    def to_json(self) -> str:
        return json.dumps({"type": CHECKPOINT_TYPE, **asdict(self)}, sort_keys=True)

    @classmethod
    def from_doc(cls, doc: Any) -> Checkpoint:
        if not isinstance(doc, dict) or doc.get("type") != CHECKPOINT_TYPE:
            raise ValueError("not a checkpoint")
        try:
            cp = cls(**{name: doc[name] for name in (*_FIELDS, "sig")})
        except KeyError as exc:
            raise ValueError(f"a checkpoint without {exc.args[0]!r}") from None
        if not isinstance(cp.seq, int) or cp.seq < 0:
            raise ValueError("a checkpoint's seq must be a whole number")
        if not all(isinstance(getattr(cp, n), str) for n in (*_FIELDS[1:], "sig")):
            raise ValueError("a checkpoint's fields must be strings")
        return cp


@dataclass(frozen=True)
class Source:
    """Where checkpoints are read from: the checkpoint file (every line must be one) or an
    export of the JSON log stream (other lines are skipped)."""

    path: Path
    logs: bool = False


def _parse_line(line: str, number: int, source: Source) -> Checkpoint | None:
    where = f"{source.path}:{number}"
    try:
        doc = json.loads(line)
    except ValueError:
        if source.logs:
            return None
        raise CheckpointError(f"{where} is not a JSON line: the file was edited or cut") from None
    if source.logs:
        if not isinstance(doc, dict) or not isinstance(doc.get("checkpoint"), str):
            return None
        try:
            doc = json.loads(doc["checkpoint"])
        except ValueError:
            raise CheckpointError(f"{where}: its checkpoint field is not JSON") from None
    try:
        return Checkpoint.from_doc(doc)
    except ValueError as exc:
        raise CheckpointError(f"{where} is not a valid checkpoint ({exc})") from None


def read(source: Source) -> list[Checkpoint]:
    """Every checkpoint of one source, in order; [] when the file does not exist."""
    try:
        text = source.path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    found: list[Checkpoint] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        cp = _parse_line(line, number, source)
        if cp is not None and not (source.logs and found and found[-1].sig == cp.sig):
            found.append(cp)  # a log shipper may repeat a line: once is enough
    if text and not text.endswith("\n") and not source.logs:
        raise CheckpointError(f"{source.path}: the last line is cut short")
    return found


def check_sequence(checkpoints: list[Checkpoint]) -> list[str]:
    """Problems with the checkpoints themselves: a bad signature, a gap or a replay in their
    own chain, a head that moved back without a signed reason, time running backwards."""
    problems = []
    for index, cp in enumerate(checkpoints):
        label = f"checkpoint #{index + 1} (seq {cp.seq}, {cp.at})"
        if not cp.signature_ok():
            known = audit.key_by_id(cp.key_id) is not None
            problems.append(
                f"{label} has a bad signature: it was forged or edited"
                if known
                else f"{label} is signed with key {cp.key_id!r}, which is not configured"
            )
            continue
        if index == 0:
            continue
        before = checkpoints[index - 1]
        if cp.prev != before.sig:
            problems.append(
                f"{label} does not follow the checkpoint before it: checkpoints were removed, "
                "reordered or replayed"
            )
        elif cp.seq < before.seq and not cp.rollback:
            problems.append(
                f"{label} moves the head back from {before.seq} to {cp.seq} with no signed reason"
            )
        elif cp.at < before.at:
            problems.append(f"{label} is older than the checkpoint before it")
    return problems


# --- publishing -----------------------------------------------------------------------------


def checkpoint_path() -> Path:
    return Path(settings.PREFLIGHT_AUDIT_CHECKPOINT_PATH)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[IO[str]]:
    """The checkpoint file, opened for appending, with an exclusive lock while we read its
    last line and append: two publishers never fork the checkpoints' chain."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+", encoding="utf-8") as fh:
        with contextlib.suppress(OSError):  # storage without locks: beat is the one writer
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        yield fh


def _last(fh: IO[str], source: Source) -> Checkpoint | None:
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    if size == 0:
        return None
    with source.path.open("rb") as raw:
        raw.seek(max(0, size - _TAIL_BYTES))
        tail = raw.read().decode("utf-8", errors="replace")
    if not tail.endswith("\n"):
        raise CheckpointError(f"{source.path}: the last line is cut short")
    lines = [line for line in tail.splitlines() if line.strip()]
    if not lines:
        return None
    return _parse_line(lines[-1], -1, source)


def _row_has(seq: int, digest: str) -> bool:
    if seq == 0:
        return digest == audit.GENESIS
    return AuditEvent.objects.filter(seq=seq, hash=digest).exists()


def publish(*, rollback: str = "", force: bool = False) -> Checkpoint | None:
    """Sign the chain's head and publish it. Returns None when the head has not moved since
    the last checkpoint (unless ``force``). Raises CheckpointError, publishing nothing, when
    the chain does not verify from the last checkpoint on, or is shorter than it (a backup
    restored: say so with ``rollback``)."""
    rollback = rollback.strip()
    source = Source(checkpoint_path())
    with _locked(source.path) as fh:
        last = _last(fh, source)
        if last is not None and not last.signature_ok():
            raise CheckpointError(f"{source.path}: the last checkpoint's signature is bad")
        if last is None or rollback:
            walk = audit.walk_chain()  # the first checkpoint, or a new start: all of it
        else:
            head_seq, head_hash = audit.head()
            if (head_seq, head_hash) == (last.seq, last.hash) and not force:
                return None
            if not _row_has(last.seq, last.hash):
                raise CheckpointError(
                    f"the chain no longer reaches the last checkpoint (seq {last.seq}, "
                    f"{last.at}): rows were removed or rewritten. If a backup was restored, "
                    "publish with a rollback reason."
                )
            walk = audit.walk_chain(start=(last.seq, last.hash))
        if walk.broken is not None:
            raise CheckpointError(
                f"audit chain BROKEN at event #{walk.broken.event_id}: {walk.broken.reason}"
            )
        if last is not None and walk.head_seq < last.seq and not rollback:
            raise CheckpointError("the chain is shorter than the last checkpoint")
        checkpoint = Checkpoint(
            seq=walk.head_seq,
            hash=walk.head_hash,
            at=timezone.now().isoformat(timespec="microseconds"),
            key_id="",
            prev=last.sig if last else "",
            rollback=rollback,
        ).signed_by(audit.signing_key())
        line = checkpoint.to_json()
        # The log stream first: it is the witness that survives a lost or read-only file.
        logger.info(
            "audit checkpoint seq=%d hash=%s",
            checkpoint.seq,
            checkpoint.hash,
            extra={"checkpoint": line},
        )
        fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return checkpoint


def publish_scheduled() -> dict[str, Any]:
    """Beat's entry: publish if the head moved; a chain that cannot be vouched for is logged
    as critical (and nothing is published) instead of failing silently in a queue."""
    try:
        checkpoint = publish()
    except CheckpointError as exc:
        logger.critical("audit checkpoint NOT published: %s", exc)
        return {"published": False, "problem": str(exc)}
    return {"published": checkpoint is not None, "seq": checkpoint.seq if checkpoint else None}


# --- verifying ------------------------------------------------------------------------------


@dataclass
class Report:
    checked: int = 0
    head_seq: int = 0
    checkpoints: int = 0
    last: Checkpoint | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(sources: list[Source], *, require_checkpoint: bool = True) -> Report:
    """The chain is intact, the checkpoints are genuine and continuous, and the chain still
    reaches every checkpoint since the last rollback, the last one above all."""
    report = Report()
    checkpoints: list[Checkpoint] = []
    for source in sources:
        try:
            checkpoints.extend(read(source))
        except CheckpointError as exc:
            report.problems.append(str(exc))
    report.problems.extend(check_sequence(checkpoints))
    since = max((i for i, cp in enumerate(checkpoints) if cp.rollback), default=0)
    binding = checkpoints[since:]
    walk = audit.walk_chain(want=frozenset(cp.seq for cp in binding))
    report.checked, report.head_seq = walk.checked, walk.head_seq
    report.checkpoints = len(checkpoints)
    if walk.broken is not None:
        report.problems.insert(
            0, f"audit chain BROKEN at event #{walk.broken.event_id}: {walk.broken.reason}"
        )
        return report
    if not checkpoints:
        if walk.head_seq and require_checkpoint:
            report.problems.append(
                f"no checkpoint found in {', '.join(str(s.path) for s in sources)}: nothing "
                "proves that rows were not cut off the end (run manage.py audit_checkpoint)"
            )
        return report
    report.last = checkpoints[-1]
    highest = max(binding, key=lambda cp: cp.seq)
    if walk.head_seq < highest.seq:
        report.problems.append(
            f"the chain ends at number {walk.head_seq} but the checkpoint of {highest.at} "
            f"saw number {highest.seq}: {highest.seq - walk.head_seq} event(s) were removed "
            "from its end"
        )
    for cp in binding:
        found = audit.GENESIS if cp.seq == 0 else walk.hashes_at.get(cp.seq)
        if found is not None and found != cp.hash:
            report.problems.append(
                f"event number {cp.seq} no longer has the hash published at {cp.at}: the chain "
                "was rewritten from there"
            )
            break
    return report
