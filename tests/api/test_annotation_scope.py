"""Annotation writes stay with the creator's team (issue 13, item 6): another team's user is
refused with 403 forbidden (reading stays open to every reader, so there is nothing a 404 would
hide), the creator's teammate and an admin may change and delete. Real users, personal tokens
from the API login, the real database."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.test import Client

from api.models import Annotation
from portal.models import Membership, Team
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

NOTES = "/api/v1/annotations"
NOTES_SCOPE = "annotations:write"


def _token(client: Client, username: str) -> dict[str, str]:
    response = client.post(
        "/api/v1/auth/login",
        json.dumps({"username": username, "password": PASSWORD}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    return {"HTTP_AUTHORIZATION": f"Bearer {response.json()['access_token']}"}


def _create(client: Client, auth: dict[str, str], name: str = "deployed v1") -> int:
    response = client.post(
        NOTES,
        json.dumps({"name": name, "tags": ["orders"]}),
        content_type="application/json",
        **auth,
    )
    assert response.status_code == 201, response.content
    return int(response.json()["id"])


def _patch(client: Client, note: int, auth: dict[str, str], name: str):
    return client.patch(
        f"{NOTES}/{note}", json.dumps({"name": name}), content_type="application/json", **auth
    )


def _refused(response) -> None:
    assert response.status_code == 403, response.content
    error = response.json()["error"]
    assert error["code"] == "forbidden" and "creator's team" in error["message"]
    assert set(error) == {"code", "message", "details"}


@pytest.fixture
def teammate(team: Team) -> User:
    user = User.objects.create_user(username="teammate", password=PASSWORD)
    Membership.objects.create(user=user, team=team, role=Membership.Role.MEMBER)
    return user


def test_another_teams_user_is_refused_and_nothing_changes(client, lead, outsider) -> None:
    note = _create(client, _token(client, "lead"))
    theirs = _token(client, "outsider")
    _refused(_patch(client, note, theirs, "hijacked"))
    _refused(client.delete(f"{NOTES}/{note}", **theirs))
    kept = Annotation.objects.get(pk=note)
    assert kept.name == "deployed v1"
    # Reading stays open to every reader.
    assert client.get(f"{NOTES}/{note}", **theirs).status_code == 200


def test_the_creators_teammate_may_change_and_delete(client, lead, teammate) -> None:
    note = _create(client, _token(client, "lead"))
    mate = _token(client, "teammate")
    changed = _patch(client, note, mate, "deployed v1 (rolled back)")
    assert changed.status_code == 200, changed.content
    assert changed.json()["name"] == "deployed v1 (rolled back)"
    assert client.delete(f"{NOTES}/{note}", **mate).status_code == 204
    assert not Annotation.objects.filter(pk=note).exists()


def test_an_admin_may_change_and_delete_any(client, outsider, admin_user) -> None:
    note = _create(client, _token(client, "outsider"))
    admin = _token(client, "admin")
    assert _patch(client, note, admin, "renamed by an admin").status_code == 200
    assert client.delete(f"{NOTES}/{note}", **admin).status_code == 204


def test_a_user_without_a_team_changes_only_their_own(client, lead) -> None:
    User.objects.create_user(username="loner", password=PASSWORD)
    loner = _token(client, "loner")
    own = _create(client, loner, "mine")
    assert _patch(client, own, loner, "still mine").status_code == 200
    _refused(_patch(client, _create(client, _token(client, "lead")), loner, "not mine"))


def test_team_bound_ci_tokens_write_for_their_team(
    client, api_token, lead, outsider, team, other_team
) -> None:
    payments_ci = {"HTTP_AUTHORIZATION": f"Bearer {api_token(NOTES_SCOPE, name='p', team=team)}"}
    search_ci = {
        "HTTP_AUTHORIZATION": f"Bearer {api_token(NOTES_SCOPE, name='s', team=other_team)}"
    }
    by_ci = _create(client, payments_ci)
    # The team's people may change what their team's CI posted; another team's may not,
    # nor may another team's CI token change what a payments lead posted.
    assert _patch(client, by_ci, _token(client, "lead"), "edited by the lead").status_code == 200
    _refused(_patch(client, by_ci, _token(client, "outsider"), "x"))
    _refused(_patch(client, _create(client, _token(client, "lead")), search_ci, "x"))
    # An admin-made token bound to no team writes for every team, as it does for runs and facts.
    org_ci = {"HTTP_AUTHORIZATION": f"Bearer {api_token(NOTES_SCOPE, name='org')}"}
    assert client.delete(f"{NOTES}/{by_ci}", **org_ci).status_code == 204
