"""The catalog's bearer token joins the one scrubbing boundary (checks/engine/scrub.py), as the
single sign-on client secret does (sso/secrets.py): masked in every log line and in every
error a sync stores."""

from __future__ import annotations

from django.conf import settings

from checks.engine.scrub import Scrubber

_scrubber: Scrubber | None = None


def register_secrets() -> Scrubber:
    """Called at ready(); again from tests that change the settings."""
    global _scrubber
    _scrubber = Scrubber([settings.PREFLIGHT_CATALOG_TOKEN])
    return _scrubber


def scrub(text: str) -> str:
    return _scrubber.text(text) if _scrubber is not None else text
