"""The client secret joins the one scrubbing boundary (checks/engine/scrub.py): a scrubber that
lives as long as the process, so every log handler's filter masks the secret (and its encoded
spellings) in every record, whatever logged it."""

from __future__ import annotations

from django.conf import settings

from checks.engine.scrub import Scrubber

_scrubber: Scrubber | None = None


def register_secrets() -> Scrubber:
    """Called at ready(); again from tests that change the settings."""
    global _scrubber
    _scrubber = Scrubber([settings.OIDC_RP_CLIENT_SECRET])
    return _scrubber


def scrub(text: str) -> str:
    return _scrubber.text(text) if _scrubber is not None else text
