"""The API returns level and score per service and template: in the list (a line each) and
in a service's detail (with what the next level needs and what is upcoming)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from portal.models import ItemState
from tests.reviews.test_levels import BRONZE

pytestmark = pytest.mark.django_db


def test_services_carry_level_and_score_per_template(client, api_token, service) -> None:
    auth = {"HTTP_AUTHORIZATION": f"Bearer {api_token('read')}"}
    listed = client.get("/api/v1/services", **auth).json()["items"][0]["levels"]
    assert listed == [
        {
            "template": "fastapi-mongo",
            "level": None,
            "level_name": "none",
            "rank": 0,
            "score": 0.0,
            "required_level": "gold",
            "meets_required": False,
            "next_level": "bronze",
            "missing_count": len(BRONZE),
        }
    ]
    now = timezone.now()
    ItemState.objects.filter(service=service, item_key__in=BRONZE).update(
        state="done", expires_at=now + timedelta(days=5)
    )
    (detail,) = client.get("/api/v1/services/orders", **auth).json()["levels"]
    assert detail["level"] == "bronze" and detail["next_level"] == "silver"
    assert detail["levels"] == ["bronze", "silver", "gold"]
    assert 0 < detail["score"] < 100
    assert {m["key"] for m in detail["missing"]} >= {"security.cors_allowlist", "api.error_format"}
    assert all(m["level"] == "silver" for m in detail["missing"])
    assert detail["missing_count"] == len(detail["missing"])
    (again,) = client.get("/api/v1/services", **auth).json()["items"][0]["levels"]
    assert {k: detail[k] for k in again} == again  # the list agrees with the detail
