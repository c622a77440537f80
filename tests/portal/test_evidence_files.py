"""Evidence as a file or a text, not only a link: size limit, type sniffed from the bytes,
stored outside the web root under a random name, downloaded only by signed-in users as an
attachment; a refused upload leaves neither a row nor a file; the audit chain records it."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from portal import audit, evidence_files
from portal.models import AuditEvent, EvidenceFile, ItemState
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

KEY = "security.secrets_env"  # evidence required
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40
PDF = b"%PDF-1.7\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


@pytest.fixture(autouse=True)
def evidence_dir(settings, tmp_path):
    settings.PREFLIGHT_EVIDENCE_DIR = tmp_path / "evidence"
    settings.PREFLIGHT_EVIDENCE_MAX_BYTES = 64 * 1024
    return settings.PREFLIGHT_EVIDENCE_DIR


def _client(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def _post(client: Client, *, action: str = "done", htmx: bool = False, **data):
    url = reverse("portal:item-update", args=["orders", KEY])
    extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    return client.post(url, {"action": action, "version": 0, **data}, **extra)


def _stored(evidence_dir) -> list:
    return sorted(evidence_dir.glob("*")) if evidence_dir.exists() else []


def test_a_pdf_is_stored_under_a_random_name_and_audited(service, lead, evidence_dir) -> None:
    upload = SimpleUploadedFile("../../etc/Scan report.pdf", PDF, content_type="text/html")
    response = _post(_client(lead), evidence_file=upload, note="scan attached")
    assert response.status_code == 302
    state = ItemState.objects.select_related("evidence_file").get(service=service, item_key=KEY)
    assert state.state == "done"
    row = state.evidence_file
    assert (row.name, row.content_type, row.size) == (
        "Scan report.pdf",
        "application/pdf",
        len(PDF),
    )
    (path,) = _stored(evidence_dir)
    assert path.name == row.stored_name and len(path.name) == 32 and path.read_bytes() == PDF
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    event = AuditEvent.objects.filter(item_key=KEY).last()
    assert event.payload["evidence_file"] == {
        "id": row.pk,
        "name": "Scan report.pdf",
        "content_type": "application/pdf",
        "size": len(PDF),
        "sha256": hashlib.sha256(PDF).hexdigest(),
    }
    count, broken = audit.verify_chain()
    assert broken is None and count == AuditEvent.objects.count()


def test_text_evidence_satisfies_an_item_that_requires_evidence(service, lead) -> None:
    text = "$ trufflehog git . --only-verified\n0 results <script>x</script>"
    assert _post(_client(lead), evidence_text=text).status_code == 302
    state = ItemState.objects.get(service=service, item_key=KEY)
    assert (state.state, state.evidence_text) == ("done", text.strip())
    assert AuditEvent.objects.filter(item_key=KEY).last().payload["evidence_text"] == text
    page = _client(lead).get(reverse("portal:service-detail", args=["orders"])).content.decode()
    assert "0 results &lt;script&gt;x&lt;/script&gt;" in page and "<script>x" not in page


def test_a_file_over_the_limit_is_refused_and_nothing_is_written(
    service, lead, evidence_dir
) -> None:
    events = AuditEvent.objects.count()
    big = SimpleUploadedFile("big.pdf", PDF + b"0" * 70_000, content_type="application/pdf")
    response = _post(_client(lead), evidence_file=big, htmx=True)
    assert response.status_code == 413
    assert "the limit is 64 KiB" in response.content.decode()
    assert ItemState.objects.get(service=service, item_key=KEY).state == "open"
    assert (EvidenceFile.objects.count(), AuditEvent.objects.count()) == (0, events)
    assert _stored(evidence_dir) == []


@pytest.mark.parametrize(
    ("name", "data", "sniffed"),
    [
        ("report.pdf", b"<!DOCTYPE html><script>alert(1)</script>", "text/html"),
        ("diagram.png", b'<svg xmlns="http://www.w3.org/2000/svg" onload="x()"/>', "text/html"),
        ("notes.txt", b"\xef\xbb\xbf  <html><body>hi</body></html>", "text/html"),
        ("tool.pdf", b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 32, "application/octet-stream"),
        ("archive.pdf", b"PK\x03\x04" + b"\x00" * 30, "application/zip"),
    ],
)
def test_the_type_is_sniffed_from_the_bytes_whatever_the_name_and_header_say(
    service, lead, evidence_dir, name, data, sniffed
) -> None:
    upload = SimpleUploadedFile(name, data, content_type="application/pdf")
    response = _post(_client(lead), evidence_file=upload)
    assert response.status_code == 415
    assert f"content is {sniffed}" in response.content.decode()
    assert EvidenceFile.objects.count() == 0 and _stored(evidence_dir) == []
    assert ItemState.objects.get(service=service, item_key=KEY).state == "open"


def test_sniffing_recognises_the_allowed_types() -> None:
    assert evidence_files.sniff(PNG) == "image/png"
    assert evidence_files.sniff(b"\xff\xd8\xff\xe0JFIF") == "image/jpeg"
    assert evidence_files.sniff(b"GIF89a....") == "image/gif"
    assert evidence_files.sniff(b'{"coverage": 91.2}') == "application/json"
    assert evidence_files.sniff(b"{not json") == "text/plain"
    assert evidence_files.sniff("pytest: 412 passed — ok".encode()) == "text/plain"
    assert evidence_files.sniff(b"\xff\xfe\x00t\x00e") == "application/octet-stream"


def test_a_refused_change_after_the_file_was_stored_removes_it(service, lead, evidence_dir) -> None:
    client = _client(lead)
    assert _post(client, evidence_text="first").status_code == 302  # version 0 -> 1
    upload = SimpleUploadedFile("late.png", PNG, content_type="image/png")
    response = _post(client, action="na", note="stale tab", evidence_file=upload)  # version 0
    assert response.status_code == 409
    assert EvidenceFile.objects.count() == 0 and _stored(evidence_dir) == []


def test_only_the_owning_team_attaches_evidence(service, outsider, evidence_dir) -> None:
    upload = SimpleUploadedFile("x.png", PNG, content_type="image/png")
    assert _post(_client(outsider), evidence_file=upload).status_code == 403
    assert EvidenceFile.objects.count() == 0 and _stored(evidence_dir) == []


def test_reopening_with_evidence_is_refused(service, lead, evidence_dir) -> None:
    upload = SimpleUploadedFile("x.png", PNG, content_type="image/png")
    response = _post(_client(lead), action="reopen", evidence_file=upload)
    assert response.status_code == 400 and _stored(evidence_dir) == []


def test_signed_in_users_download_it_as_an_attachment_never_inline(service, lead, outsider) -> None:
    upload = SimpleUploadedFile("shot.png", PNG, content_type="text/html")
    _post(_client(lead), evidence_file=upload)
    row = EvidenceFile.objects.get()
    url = reverse("portal:evidence-file", args=[row.pk])
    response = _client(outsider).get(url)  # every signed-in user may read
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PNG
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"] == 'attachment; filename="shot.png"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    anonymous = Client().get(url)
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    history = _client(outsider).get(reverse("portal:history")).content.decode()
    assert f'href="{url}"' in history


def test_a_file_gone_from_disk_is_a_clear_404(service, lead, evidence_dir) -> None:
    _post(_client(lead), evidence_file=SimpleUploadedFile("a.png", PNG))
    row = EvidenceFile.objects.get()
    evidence_files.path_of(row.stored_name).unlink()
    url = reverse("portal:evidence-file", args=[row.pk])
    assert _client(lead).get(url).status_code == 404


def test_an_upload_may_exceed_the_request_cap_up_to_the_file_limit(service, lead, settings) -> None:
    settings.PREFLIGHT_MAX_REQUEST_BYTES = 16 * 1024
    data = PDF + b"%" * 30_000  # over the request cap, under the file limit
    response = _post(_client(lead), evidence_file=SimpleUploadedFile("big.pdf", data))
    assert response.status_code == 302
    other = _client(lead).post(reverse("portal:history"), {"x": "y" * 30_000})
    assert other.status_code == 413  # every other route keeps the request cap


@pytest.mark.parametrize(
    ("name", "cleaned"),
    [
        ("C:\\Users\\lead\\scan.pdf", "scan.pdf"),
        ("../../etc/passwd", "passwd"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),  # a right-to-left override is dropped
        ("line\r\nbreak.txt", "linebreak.txt"),
        ("...", "evidence"),
        ("x" * 300 + ".pdf", "x" * 200),
    ],
)
def test_the_download_name_is_the_last_path_part_without_control_characters(name, cleaned) -> None:
    assert evidence_files.clean_name(name) == cleaned


def test_an_empty_file_is_refused(service, lead, evidence_dir) -> None:
    response = _post(_client(lead), evidence_file=SimpleUploadedFile("e.txt", b""))
    assert response.status_code == 400 and b"is empty" in response.content
    assert _stored(evidence_dir) == []
