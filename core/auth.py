"""Machine callers with a shared bearer secret (Prometheus on /metrics, Alertmanager on the
webhook): one comparison, in constant time, so the answer's timing tells nothing about how
much of a guess was right."""

from __future__ import annotations

import hmac

from django.http import HttpRequest


def bearer_matches(request: HttpRequest, secret: str) -> bool:
    """Whether the request's Authorization header is exactly ``Bearer <secret>``."""
    sent = request.headers.get("Authorization", "")
    return hmac.compare_digest(sent.encode(), f"Bearer {secret}".encode())
