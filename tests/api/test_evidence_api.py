"""Evidence through the API: an item shows its text and file (name, type, size, SHA-256 and
the download URL), a read token downloads the file as an attachment of its sniffed type, and
the items of every checklist a service carries are listed, each naming its checklist."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from portal import evidence_files, services
from portal.models import ItemState, Service
from portal.templates_io import load_template_file
from tests.portal.test_more_checklists import KEYS, RETENTION

pytestmark = pytest.mark.django_db

KEY = "security.secrets_env"
PDF = b"%PDF-1.7\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


@pytest.fixture(autouse=True)
def evidence_dir(settings, tmp_path):
    settings.PREFLIGHT_EVIDENCE_DIR = tmp_path / "evidence"
    return settings.PREFLIGHT_EVIDENCE_DIR


def _attach(service, lead) -> ItemState:
    state = ItemState.objects.get(service=service, item_key=KEY)
    return services.item_transition(
        service=service, item_key=KEY, action="done", actor=lead, seen_version=state.version,
        evidence_text="Rotated on 2026-11-30; see the scan.",
        evidence_file=SimpleUploadedFile("Key scan.pdf", PDF, content_type="text/html"),
    )  # fmt: skip


def _item(client, token: str, key: str) -> dict:
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    items = client.get("/api/v1/services/orders", **auth).json()["items"]
    (item,) = [i for i in items if i["key"] == key]
    return item


def test_an_item_shows_its_evidence_and_a_read_token_downloads_the_file(
    client, service, lead, api_token
) -> None:
    _attach(service, lead)
    token = api_token("read")
    item = _item(client, token, KEY)
    assert item["checklist"] == "fastapi-mongo"
    assert item["evidence_text"] == "Rotated on 2026-11-30; see the scan."
    found = item["evidence_file"]
    assert {k: found[k] for k in ("name", "content_type", "size", "sha256")} == {
        "name": "Key scan.pdf",
        "content_type": "application/pdf",
        "size": len(PDF),
        "sha256": hashlib.sha256(PDF).hexdigest(),
    }
    response = client.get(found["url"], HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    # No token: refused in the API's error format, the bytes never sent.
    refused = client.get(found["url"])
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthenticated"


def test_a_file_no_longer_stored_or_unknown_is_404_in_the_error_format(
    client, service, lead, api_token
) -> None:
    state = _attach(service, lead)
    assert state.evidence_file is not None
    auth = {"HTTP_AUTHORIZATION": f"Bearer {api_token('read')}"}
    evidence_files.path_of(state.evidence_file.stored_name).unlink()
    gone = client.get(f"/api/v1/evidence/{state.evidence_file.pk}", **auth)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"
    unknown = client.get("/api/v1/evidence/999999", **auth)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"


def test_the_items_of_every_checklist_are_listed_each_naming_its_own(
    client, service, api_token
) -> None:
    services.template_import(data=load_template_file(RETENTION))  # tier 1 in production
    Service.objects.filter(pk=service.pk).update(lifecycle=Service.Lifecycle.PRODUCTION)
    service.refresh_from_db()
    services.sync_checklists(service)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {api_token('read')}"}
    items = client.get("/api/v1/services/orders", **auth).json()["items"]
    assert [i["checklist"] for i in items[:39]] == ["fastapi-mongo"] * 39  # its own first
    assert {i["key"] for i in items if i["checklist"] == "data-retention"} == set(KEYS)
