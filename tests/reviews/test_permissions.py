"""Permission matrix: every launch action and API write for every persona. A refused action
answers 4xx (or, anonymous, the login redirect) and changes nothing: 0 unexpected 2xx."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from django.test import Client

from checks.models import ValidationRun
from reviews import services
from reviews.models import FactReport, LaunchReview
from tests.checks.conftest import profile_for
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

PERSONAS = ["lead", "team_reviewer", "search_reviewer", "admin_user", "outsider", "anonymous"]
TOMORROW = (date.today() + timedelta(days=1)).isoformat()


@pytest.fixture
def people(lead, team_reviewer, search_reviewers, admin_user, outsider):
    return {
        "lead": lead,
        "team_reviewer": team_reviewer,
        "search_reviewer": search_reviewers[0],
        "admin_user": admin_user,
        "outsider": outsider,
        "anonymous": None,
    }


def _client(user) -> Client:
    client = Client()
    if user is not None:
        assert client.login(username=user.username, password=PASSWORD)
    return client


def _refused(response) -> bool:
    if response.status_code == 302:
        return response["Location"].startswith("/login/")
    return 400 <= response.status_code < 500


@pytest.fixture
def in_flight(ready_service, lead):
    return services.launch_request(
        service=ready_service, actor=lead, target_date=date.today() + timedelta(days=1)
    )


ALLOWED = {
    "request": {"lead", "team_reviewer"},
    "approve": {"search_reviewer"},
    "reject": {"search_reviewer"},
    "withdraw": {"lead"},
    "tokens": {"admin_user"},
}


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("action", sorted(ALLOWED))
def test_launch_actions_matrix(ready_service, lead, people, persona, action) -> None:
    client = _client(people[persona])
    review = None
    if action in ("approve", "reject", "withdraw"):
        review = services.launch_request(
            service=ready_service, actor=lead, target_date=date.today() + timedelta(days=1)
        )
    if action == "request":
        response = client.post("/services/orders/launch/", {"target_date": TOMORROW})
        changed = LaunchReview.objects.exists()
    elif action == "tokens":
        response = client.post("/tokens/", {"name": "t", "scopes": ["read"]})
        from api.models import ApiToken

        changed = ApiToken.objects.exists()
    else:
        assert review is not None
        response = client.post(f"/launches/{review.pk}/{action}/", {"reason": "because"})
        changed = review.decisions.count() > 1
    allowed = persona in ALLOWED[action]
    assert changed is allowed, (persona, action, response.status_code)
    if allowed:
        assert response.status_code in (200, 302) and not _refused(response)
    else:
        assert _refused(response), (persona, action, response.status_code)


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_signed_in_persona_reads_launch_pages(ready_service, in_flight, people, persona):
    client = _client(people[persona])
    for url in ("/launches/", f"/launches/{in_flight.pk}/", "/services/orders/launch/"):
        response = client.get(url)
        if persona == "anonymous":
            assert _refused(response)
        else:
            assert response.status_code == 200


TOKENS = ["none", "read", "facts:write", "runs:write"]
API_ALLOWED = {
    "read": {"read"},
    "facts": {"facts:write"},
    "runs": {"runs:write"},
}


@pytest.mark.parametrize("scope", TOKENS)
@pytest.mark.parametrize("action", sorted(API_ALLOWED))
def test_api_scope_matrix(ready_service, api_token, reference_service, scope, action) -> None:
    profile_for(ready_service, reference_service)
    headers = {} if scope == "none" else {"HTTP_AUTHORIZATION": f"Bearer {api_token(scope)}"}
    client = Client()
    before = (FactReport.objects.count(), ValidationRun.objects.count())
    if action == "read":
        response = client.get("/api/v1/services/orders/launch", **headers)
    elif action == "facts":
        body = json.dumps({"coverage": {"percent": 90}})
        response = client.post(
            "/api/v1/services/orders/facts", body, content_type="application/json", **headers
        )
    else:
        response = client.post(
            "/api/v1/services/orders/runs",
            json.dumps({"steps": ["smoke"]}),
            content_type="application/json",
            **headers,
        )
    allowed = scope in API_ALLOWED[action]
    after = (FactReport.objects.count(), ValidationRun.objects.count())
    if allowed:
        assert 200 <= response.status_code < 300, response.content
    else:
        assert response.status_code in (401, 403) and after == before
        assert response.json()["error"]["code"] in ("unauthenticated", "insufficient_scope")


@pytest.mark.parametrize("persona", PERSONAS)
def test_api_writes_need_a_token_even_for_signed_in_people(ready_service, people, persona):
    client = _client(people[persona])
    response = client.post(
        "/api/v1/services/orders/facts",
        json.dumps({"coverage": {"percent": 90}}),
        content_type="application/json",
    )
    assert response.status_code in (401, 403) and FactReport.objects.count() == 0
