"""Views: the htmx fragment and the no-JS path of every action, and the permission matrix."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from portal.models import AuditEvent, ItemState
from tests.conftest import PASSWORD

KEY = "security.cors_allowlist"
EVIDENCE = "https://wiki.example.com/cors"
HTMX = {"HTTP_HX_REQUEST": "true"}


def _client(user) -> Client:
    client = Client()
    if user is not None:
        assert client.login(username=user.username, password=PASSWORD)
    return client


def _url(slug: str = "orders", key: str = KEY) -> str:
    return reverse("portal:item-update", args=[slug, key])


def _post(client: Client, action: str, *, version: int = 0, htmx: bool = False, **data: str):
    payload = {"action": action, "version": str(version), **data}
    return client.post(_url(), payload, **(HTMX if htmx else {}))


def test_the_checklist_page_lists_39_items_in_7_sections(service, lead) -> None:
    response = _client(lead).get(reverse("portal:service-detail", args=["orders"]))
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('class="checklist-section"') == 7
    assert html.count('<li class="item') == 39
    assert "Mark done" in html


@pytest.mark.parametrize(
    ("action", "data", "state"),
    [
        ("done", {"evidence_url": EVIDENCE}, "done"),
        ("na", {"note": "internal-only service"}, "na"),
    ],
)
def test_the_no_js_form_posts_and_redirects(service, lead, action, data, state) -> None:
    response = _post(_client(lead), action, **data)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portal:service-detail", args=["orders"]))
    assert ItemState.objects.get(service=service, item_key=KEY).state == state


def test_reopen_without_js(service, lead) -> None:
    client = _client(lead)
    _post(client, "na", note="n/a")
    response = _post(client, "reopen", version=1)
    assert response.status_code == 302
    assert ItemState.objects.get(service=service, item_key=KEY).state == "open"


@pytest.mark.parametrize(
    ("action", "data"),
    [("done", {"evidence_url": EVIDENCE}), ("na", {"note": "n/a"})],
)
def test_htmx_returns_the_row_and_out_of_band_progress(service, lead, action, data) -> None:
    response = _post(_client(lead), action, htmx=True, **data)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert html.count('<li class="item') == 1 and f'data-key="{KEY}"' in html
    assert 'id="section-progress-security" class="section-progress" data-pct="14"' in html
    # section progress, readiness and the levels panel (reviews' tag) ride along
    assert 'id="readiness"' in html and html.count('hx-swap-oob="true"') == 3
    assert '<section class="levels-panel" id="levels" hx-swap-oob="true">' in html


def test_htmx_reopen_returns_the_open_row(service, lead) -> None:
    client = _client(lead)
    _post(client, "na", htmx=True, note="n/a")
    response = _post(client, "reopen", version=1, htmx=True)
    assert response.status_code == 200
    assert 'class="item state-open"' in response.content.decode()


def test_a_second_save_of_the_same_version_is_refused_with_a_message(service, lead) -> None:
    client = _client(lead)
    _post(client, "done", evidence_url=EVIDENCE)
    response = _post(client, "na", note="other tab")
    assert response.status_code == 409
    assert "changed this item while you were editing" in response.content.decode()
    htmx = _post(client, "na", htmx=True, note="other tab")
    assert htmx.status_code == 409
    assert 'role="alert"' in htmx.content.decode() and "state-done" in htmx.content.decode()
    assert ItemState.objects.get(service=service, item_key=KEY).state == "done"


@pytest.mark.parametrize(
    ("url", "data", "status", "message"),
    [
        (
            _url("orders", "security.nope"),
            {"action": "done", "version": "0"},
            404,
            "no checklist item",
        ),
        (_url("nope"), {"action": "done", "version": "0"}, 404, ""),
        (_url(), {"action": "na", "version": "0"}, 400, "needs a reason"),
        (_url(), {"action": "done", "version": "0", "evidence_url": "file:///etc"}, 400, "http"),
        (_url(), {"action": "done"}, 400, "Invalid form field(s): version"),
    ],
)
def test_bad_input_gets_a_clear_4xx_and_changes_nothing(
    service, lead, url, data, status, message
) -> None:
    events = AuditEvent.objects.count()
    response = _client(lead).post(url, data)
    assert response.status_code == status
    assert message in response.content.decode()
    assert AuditEvent.objects.count() == events
    assert not ItemState.objects.exclude(state="open").exists()


# The permission matrix: every persona x every action.
READ_PAGES = ["service-list", "service-detail", "service-history", "history"]


def _page(name: str) -> str:
    return reverse(
        f"portal:{name}",
        args=["orders"] if name.startswith("service-") and name != "service-list" else [],
    )


@pytest.mark.parametrize("page", READ_PAGES)
def test_anonymous_users_are_sent_to_sign_in(service, page) -> None:
    response = Client().get(_page(page))
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_anonymous_posts_change_nothing(service) -> None:
    response = _post(Client(), "na", note="x")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert not ItemState.objects.exclude(state="open").exists()


@pytest.mark.parametrize("persona", ["lead", "reviewer", "admin_user", "outsider"])
@pytest.mark.parametrize("page", READ_PAGES)
def test_every_signed_in_user_can_read(service, persona, page, request) -> None:
    response = _client(request.getfixturevalue(persona)).get(_page(page))
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("persona", "allowed"),
    [("lead", True), ("reviewer", False), ("admin_user", False), ("outsider", False)],
)
@pytest.mark.parametrize(
    ("action", "data"),
    [("done", {"evidence_url": EVIDENCE}), ("na", {"note": "n/a"}), ("reopen", {})],
)
def test_only_the_owning_team_changes_items(
    service, persona, allowed, action, data, request
) -> None:
    client = _client(request.getfixturevalue(persona))
    response = _post(client, action, **data)
    if allowed:
        assert response.status_code == 302
        assert AuditEvent.objects.filter(item_key=KEY).count() == 1
    else:
        assert response.status_code == 403
        assert "Only members of the owning team" in response.content.decode()
        assert not AuditEvent.objects.filter(item_key=KEY).exists()


def test_outsiders_see_no_edit_forms(service, outsider) -> None:
    html = _client(outsider).get(_page("service-detail")).content.decode()
    assert "Mark done" not in html and "Read only" in html


def test_the_service_list_filters_with_and_without_htmx(service, lead) -> None:
    client = _client(lead)
    page = client.get(reverse("portal:service-list"), {"q": "orders"})
    assert "Orders API" in page.content.decode() and "<html" in page.content.decode()
    fragment = client.get(reverse("portal:service-list"), {"q": "zzz"}, **HTMX)
    assert "<html" not in fragment.content.decode()
    assert "No service matches" in fragment.content.decode()
    assert (
        "Orders API"
        not in client.get(reverse("portal:service-list"), {"state": "ready"}).content.decode()
    )


def test_history_is_filterable_by_team_user_and_date(service, lead) -> None:
    client = _client(lead)
    _post(client, "na", note="not for us")
    url = reverse("portal:history")
    assert "not for us" in client.get(url, {"team": "payments", "user": "lead"}).content.decode()
    assert "not for us" not in client.get(url, {"user": "someone"}).content.decode()
    assert "not for us" not in client.get(url, {"since": "2999-01-01"}).content.decode()
    assert "not for us" in client.get(url, {"until": "2999-01-01"}).content.decode()


def test_stale_items_are_shown_distinctly(service, lead) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from portal import services

    services.item_transition(
        service=service,
        item_key=KEY,
        action="done",
        actor=lead,
        seen_version=0,
        evidence_url=EVIDENCE,
        now=timezone.now() - timedelta(days=400),
    )
    services.expire_stale_items()
    html = _client(lead).get(_page("service-detail")).content.decode()
    assert 'class="item state-stale"' in html and "expired: verify again" in html


def test_health_answers_without_sign_in(db) -> None:
    assert Client().get("/health").json() == {"status": "ok"}


def test_login_and_logout_pages(lead) -> None:
    client = Client()
    assert client.get("/login/").status_code == 200
    response = client.post("/login/", {"username": "lead", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get(reverse("portal:service-list")).status_code == 200
    client.post("/logout/")
    assert client.get(reverse("portal:service-list")).status_code == 302
