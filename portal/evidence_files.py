"""Files attached as checklist evidence: checked, stored and found again.

- The size is limited (``PREFLIGHT_EVIDENCE_MAX_BYTES``) and the type is *sniffed* from the
  bytes against ``PREFLIGHT_EVIDENCE_TYPES``; the client's Content-Type and the file's
  extension are never trusted. Markup (HTML, SVG, XML) is never text/plain here.
- The bytes go to ``PREFLIGHT_EVIDENCE_DIR`` (outside the web root, not served by any static
  route) under a random name, created exclusively with mode 0600; the uploader's name is kept
  only in the database, for the download.
- :func:`check` refuses before anything is written; :func:`store` writes the file, and the
  caller removes it with :func:`discard` if its transaction fails, so a refused change leaves
  neither a row nor a file behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.http import FileResponse, Http404

from core.errors import InvalidInput
from portal.models import EvidenceFile

# Binary signatures (the WHATWG MIME sniffing standard's, for the types we accept).
_SIGNATURES: tuple[tuple[str, tuple[bytes, ...]], ...] = (
    ("application/pdf", (b"%PDF-",)),
    ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    ("image/jpeg", (b"\xff\xd8\xff",)),
    ("image/gif", (b"GIF87a", b"GIF89a")),
    ("application/zip", (b"PK\x03\x04",)),
)
# Text that a browser (or a viewer) would treat as a document with active content.
_MARKUP = re.compile(
    rb"^\s*<(?:!doctype\s+html|html|head|body|script|iframe|svg|\?xml|!--|style|a\s|img|div|"
    rb"table|title|meta|object|embed)",
    re.IGNORECASE,
)
_BOMS = (b"\xef\xbb\xbf",)


class EvidenceTooLarge(InvalidInput):
    status = 413


class EvidenceTypeRefused(InvalidInput):
    status = 415


def sniff(data: bytes) -> str:
    """The content type the bytes are, whatever anyone says they are."""
    for content_type, signatures in _SIGNATURES:
        if data.startswith(signatures):
            return content_type
    body = data[3:] if data.startswith(_BOMS) else data
    if _MARKUP.match(body[:1024]):
        return "text/html"
    if b"\x00" in body:
        return "application/octet-stream"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    if text.lstrip()[:1] in ("{", "["):
        try:
            json.loads(text)
        except ValueError:
            return "text/plain"
        return "application/json"
    return "text/plain"


def clean_name(name: str) -> str:
    """The uploader's file name as a download name: its last path part, no control or
    separator characters, at most 200 characters."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(
        ch for ch in unicodedata.normalize("NFC", base) if unicodedata.category(ch)[0] != "C"
    )
    base = base.strip(" .")[:200]
    return base or "evidence"


@dataclass(frozen=True)
class Checked:
    """An upload that passed: its bytes, what they are, and the name to download it by."""

    data: bytes
    name: str
    content_type: str
    sha256: str

    @property
    def size(self) -> int:
        return len(self.data)


def check(upload: UploadedFile) -> Checked:
    """Refuse a file that is too large or not of an allowed type; nothing is written."""
    limit = settings.PREFLIGHT_EVIDENCE_MAX_BYTES
    if upload.size is None or upload.size > limit:
        raise EvidenceTooLarge(
            f"The evidence file is {_size(upload.size or 0)}; the limit is {_size(limit)} "
            "(PREFLIGHT_EVIDENCE_MAX_BYTES). Nothing was saved."
        )
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise EvidenceTooLarge(f"The evidence file is over {_size(limit)}. Nothing was saved.")
    if not data:
        raise InvalidInput("The evidence file is empty. Nothing was saved.")
    content_type = sniff(data)
    allowed = settings.PREFLIGHT_EVIDENCE_TYPES
    if content_type not in allowed:
        raise EvidenceTypeRefused(
            f"The evidence file's content is {content_type}, whatever its name or the browser "
            f"says; allowed: {', '.join(allowed)}. Nothing was saved."
        )
    return Checked(
        data=data,
        name=clean_name(upload.name or ""),
        content_type=content_type,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def directory() -> Path:
    return Path(settings.PREFLIGHT_EVIDENCE_DIR)


def path_of(stored_name: str) -> Path:
    if not re.fullmatch(r"[0-9a-f]{32}", stored_name):
        raise ValueError(f"not a stored evidence name: {stored_name!r}")
    return directory() / stored_name


def store(checked: Checked) -> str:
    """Write the bytes under a new random name (never overwriting) and return the name."""
    folder = directory()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    stored_name = secrets.token_hex(16)
    fd = os.open(folder / stored_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(checked.data)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        discard(stored_name)
        raise
    return stored_name


def discard(stored_name: str) -> None:
    """Remove a stored file whose row was never committed."""
    path_of(stored_name).unlink(missing_ok=True)


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MiB"
    if n >= 1024:
        return f"{n / 1024:.0f} KiB"
    return f"{n} bytes"


def download(row: EvidenceFile) -> FileResponse:
    """The file as a download of the type sniffed at upload, never rendered by a browser: the
    portal's link (signed-in users) and the API's (a read token) answer the same."""
    try:
        handle = path_of(row.stored_name).open("rb")
    except (FileNotFoundError, ValueError):
        raise Http404("The evidence file is no longer stored.") from None
    response = FileResponse(
        handle, as_attachment=True, filename=row.name, content_type=row.content_type
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response
