"""404 and 500 outside /api/: the error format for clients that do not ask for HTML, the usual
pages for browsers, with security headers and X-Request-ID on both. And the cache counters are
exported before the first lookup."""

from __future__ import annotations

import pytest
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.test import Client, override_settings
from django.urls import path

from app import urls as app_urls

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@login_not_required
def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("deliberate failure for the 500 handler")


# This module doubles as a URLconf: the portal's routes and handlers, plus one that fails.
urlpatterns = [path("test-boom", boom), *app_urls.urlpatterns]
handler404 = app_urls.handler404
handler500 = app_urls.handler500


def _headers_present(response) -> None:
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Request-ID"]


@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
def test_an_unknown_route_is_json_for_non_browsers(db, accept) -> None:
    extra = {"HTTP_ACCEPT": accept} if accept else {}
    response = Client().get("/no-such-page", HTTP_X_REQUEST_ID="probe-1", **extra)
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    assert response.json() == {
        "error": {
            "code": "not_found",
            "message": "Nothing here: /no-such-page",
            "details": {"path": "/no-such-page"},
        }
    }
    _headers_present(response)
    assert response["X-Request-ID"] == "probe-1"


def test_an_unknown_route_is_a_page_for_browsers(db) -> None:
    response = Client().get("/no-such-page", HTTP_ACCEPT=BROWSER)
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")
    assert b"Not Found" in response.content
    _headers_present(response)


def test_a_missing_object_in_a_page_view_is_negotiated_too(lead) -> None:
    client = Client()
    client.force_login(lead)
    assert client.get("/services/nope/").json()["error"]["code"] == "not_found"
    assert client.get("/services/nope/", HTTP_ACCEPT=BROWSER)["Content-Type"].startswith(
        "text/html"
    )


@override_settings(ROOT_URLCONF=__name__)
def test_a_server_error_is_json_for_non_browsers_and_a_page_for_browsers(db) -> None:
    client = Client(raise_request_exception=False)
    response = client.get("/test-boom")
    assert response.status_code == 500
    assert response.json()["error"] == {
        "code": "internal_error",
        "message": "Something went wrong on our side.",
        "details": None,
    }
    assert "deliberate" not in response.content.decode()
    _headers_present(response)
    page = client.get("/test-boom", HTTP_ACCEPT=BROWSER)
    assert page.status_code == 500 and page["Content-Type"].startswith("text/html")
    _headers_present(page)


def test_cache_counters_are_exported_before_the_first_lookup(db) -> None:
    text = Client().get("/metrics").content.decode()
    assert 'preflight_cache_hits_total{cache="dashboards"}' in text
    assert 'preflight_cache_misses_total{cache="dashboards"}' in text
