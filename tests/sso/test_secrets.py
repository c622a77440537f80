"""The client secret (and the catalog's token) pass through the one scrubbing boundary: never
in a log line, never in a page, never in an error report, whoever echoes them."""

from __future__ import annotations

import base64
import io
import logging
from urllib.parse import quote_plus

from django.test import Client
from django.views.debug import SafeExceptionReporterFilter

from catalogsync.secrets import register_secrets as register_catalog_secrets
from checks.engine.scrub import ScrubFilter
from tests.support.oidc_provider import CLIENT_ID, CLIENT_SECRET, sign_in


def console_lines(*messages: str) -> str:
    """Messages as the portal's own console handler (settings.LOGGING) writes them."""
    handler = next(
        h
        for h in logging.getLogger().handlers
        if any(isinstance(f, ScrubFilter) for f in h.filters)
    )
    stream = io.StringIO()
    original, handler.stream = handler.stream, stream  # type: ignore[attr-defined]
    try:
        for message in messages:
            handler.handle(logging.makeLogRecord({"msg": message, "levelno": 30, "name": "t"}))
    finally:
        handler.stream = original  # type: ignore[attr-defined]
    return stream.getvalue()


def test_the_client_secret_is_masked_in_every_log_line(forged) -> None:
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    out = console_lines(
        f"token request with client_secret={CLIENT_SECRET}",
        f"form body client_secret={quote_plus(CLIENT_SECRET)}",
        f"Authorization: Basic {basic}",
    )
    assert CLIENT_SECRET not in out and quote_plus(CLIENT_SECRET) not in out
    assert basic.rstrip("=") not in out
    assert out.count("***") >= 3


def test_a_provider_echoing_the_secret_in_its_error_shows_it_nowhere(forged, caplog) -> None:
    forged.token_error = {"error": CLIENT_SECRET, "error_description": CLIENT_SECRET}
    caplog.set_level(logging.INFO)
    answer = sign_in(Client(), "dave").response
    assert answer.status_code == 403
    page = answer.content.decode()
    assert "token endpoint answered 400" in page
    assert CLIENT_SECRET not in page
    assert CLIENT_SECRET not in caplog.text


def test_error_reports_hide_the_secrets(settings) -> None:
    settings.PREFLIGHT_CATALOG_TOKEN = "catalog-token-for-tests"
    register_catalog_secrets()
    shown = SafeExceptionReporterFilter().get_safe_settings()
    assert shown["OIDC_RP_CLIENT_SECRET"] != CLIENT_SECRET and "*" in shown["OIDC_RP_CLIENT_SECRET"]
    assert "*" in shown["PREFLIGHT_CATALOG_TOKEN"]
    settings.PREFLIGHT_CATALOG_TOKEN = ""
    register_catalog_secrets()
