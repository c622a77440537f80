"""The client secret joins the one scrubbing boundary (checks/engine/scrub.py): a scrubber that
lives as long as the process, so every log handler's filter masks the secret (and its encoded
spellings) in every record, whatever logged it."""

from __future__ import annotations

from urllib.parse import quote_plus

from django.conf import settings

from checks.engine.scrub import Scrubber

_scrubber: Scrubber | None = None


def register_secrets() -> Scrubber:
    """Called at ready(); again from tests that change the settings."""
    global _scrubber
    secret, client_id = settings.OIDC_RP_CLIENT_SECRET, settings.OIDC_RP_CLIENT_ID
    # The Basic credential is base64 of "id:secret" (both form-encoded): scrubbed as a whole
    # too, since base64 of the pair does not contain base64 of the secret.
    pairs = [f"{client_id}:{secret}", f"{quote_plus(client_id)}:{quote_plus(secret)}"]
    _scrubber = Scrubber([secret, *pairs] if secret else [])
    return _scrubber


def scrub(text: str) -> str:
    return _scrubber.text(text) if _scrubber is not None else text
